package certs

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-lb/weir/userspace/snapshot"
)

// Expiry exports ingress-nginx's nginx_ingress_controller_ssl_expire_time_seconds
// for the live Snapshot: per TLS host, the expiry (NotAfter, seconds since
// 1970) of the certificate served for it, labelled with the Secret's
// namespace and name; the default certificate (--default-ssl-certificate)
// has host "". It implements controller.Publisher. Alert on
// nginx_ingress_controller_ssl_expire_time_seconds < time() + 10*24*3600 for
// certificates expiring within 10 days.
type Expiry struct {
	gauge *prometheus.GaugeVec

	mu sync.Mutex
	// notAfter caches the expiry by Certificate.Digest; last and lastDef
	// are the certificates of the previous Apply (unchanged: nothing to do).
	notAfter map[string]float64
	last     []snapshot.Certificate
	lastDef  *snapshot.Certificate
	// series are the label values set by the previous Apply.
	series map[[3]string]bool
}

// NewExpiry returns an Expiry registered with reg.
func NewExpiry(reg prometheus.Registerer) *Expiry {
	e := &Expiry{
		gauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "nginx_ingress_controller_ssl_expire_time_seconds",
			Help: "Expiry of the certificate served for a host, in seconds since 1970 (host \"\": the default certificate).",
		}, []string{"host", "namespace", "secret_name"}),
		notAfter: map[string]float64{},
	}
	reg.MustRegister(e.gauge)
	return e
}

// Apply sets the gauge to the certificates of s. A certificate whose chain
// does not parse (Build validated it: a Snapshot from elsewhere) is left out
// and reported.
func (e *Expiry) Apply(s *snapshot.Snapshot) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(s.Certificates) == len(e.last) && (len(e.last) == 0 || &s.Certificates[0] == &e.last[0]) &&
		s.DefaultCertificate == e.lastDef && e.last != nil {
		return nil
	}
	// Set the new series, then delete the stale ones: a scrape meanwhile
	// never misses a certificate that stays.
	series := make(map[[3]string]bool, len(e.series))
	seen := make(map[string]float64, len(e.notAfter))
	var firstErr error
	set := func(c *snapshot.Certificate, hosts []string) {
		key := c.Sum()
		t, ok := e.notAfter[key]
		if !ok {
			leaf, err := parseLeaf(c.CertPEM)
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("read expiry of secret %s/%s: %w", c.Secret.Namespace, c.Secret.Name, err)
				}
				return
			}
			t = float64(leaf.NotAfter.Unix())
		}
		seen[key] = t
		for _, h := range hosts {
			e.gauge.WithLabelValues(h, c.Secret.Namespace, c.Secret.Name).Set(t)
			series[[3]string{h, c.Secret.Namespace, c.Secret.Name}] = true
		}
	}
	for i := range s.Certificates {
		set(&s.Certificates[i], s.Certificates[i].Hosts)
	}
	if s.DefaultCertificate != nil {
		set(s.DefaultCertificate, []string{""})
	}
	for lv := range e.series {
		if !series[lv] {
			e.gauge.DeleteLabelValues(lv[:]...)
		}
	}
	e.notAfter, e.series = seen, series
	e.last, e.lastDef = s.Certificates, s.DefaultCertificate
	if e.last == nil {
		e.last = []snapshot.Certificate{}
	}
	return firstErr
}

// parseLeaf parses the first certificate of a PEM chain.
func parseLeaf(chain []byte) (*x509.Certificate, error) {
	for rest := chain; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("no certificate in the chain")
		}
		if block.Type == "CERTIFICATE" {
			return x509.ParseCertificate(block.Bytes)
		}
	}
}

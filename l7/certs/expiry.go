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
// and nginx_ingress_controller_ssl_certificate_info for the live Snapshot:
// per TLS host, the expiry (NotAfter, seconds since 1970) of the certificate
// served for it, and a 1 labelled with the certificate's issuer, serial
// number and key algorithm; both labelled with the Secret's namespace and
// name and ingress-nginx's identifier ("<issuer serialNumber>-<serial>").
// The default certificate (--default-ssl-certificate) has host "". It
// implements controller.Publisher. Alert on
// nginx_ingress_controller_ssl_expire_time_seconds < time() + 10*24*3600 for
// certificates expiring within 10 days.
type Expiry struct {
	gauge *prometheus.GaugeVec
	info  *prometheus.GaugeVec

	mu sync.Mutex
	// leaves caches what the metrics need of a certificate by
	// Certificate.Sum; last and lastDef are the certificates of the
	// previous Apply (unchanged: nothing to do).
	leaves  map[string]leafInfo
	last    []snapshot.Certificate
	lastDef *snapshot.Certificate
	// series are the info label values set by the previous Apply (the
	// expiry's are their first four).
	series map[[8]string]bool
}

// leafInfo is what the metrics show of a certificate: its expiry and the
// info labels after host, namespace and secret_name.
type leafInfo struct {
	notAfter float64
	labels   [5]string // identifier, issuer_organization, issuer_common_name, serial_number, public_key_algorithm
}

// NewExpiry returns an Expiry registered with reg.
func NewExpiry(reg prometheus.Registerer) *Expiry {
	e := &Expiry{
		gauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "nginx_ingress_controller_ssl_expire_time_seconds",
			Help: "Expiry of the certificate served for a host, in seconds since 1970 (host \"\": the default certificate).",
		}, []string{"host", "namespace", "secret_name", "identifier"}),
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "nginx_ingress_controller_ssl_certificate_info",
			Help: "Hold all labels associated to a certificate: 1 per host served and certificate.",
		}, []string{"host", "namespace", "secret_name", "identifier", "issuer_organization", "issuer_common_name", "serial_number", "public_key_algorithm"}),
		leaves: map[string]leafInfo{},
	}
	reg.MustRegister(e.gauge, e.info)
	return e
}

// Apply sets the gauges to the certificates of s. A certificate whose chain
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
	series := make(map[[8]string]bool, len(e.series))
	seen := make(map[string]leafInfo, len(e.leaves))
	var firstErr error
	set := func(c *snapshot.Certificate, hosts []string) {
		key := c.Sum()
		li, ok := e.leaves[key]
		if !ok {
			leaf, err := parseLeaf(c.CertPEM)
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("read expiry of secret %s/%s: %w", c.Secret.Namespace, c.Secret.Name, err)
				}
				return
			}
			li = infoOf(leaf)
		}
		seen[key] = li
		for _, h := range hosts {
			lv := [8]string{h, c.Secret.Namespace, c.Secret.Name}
			copy(lv[3:], li.labels[:])
			e.gauge.WithLabelValues(lv[:4]...).Set(li.notAfter)
			e.info.WithLabelValues(lv[:]...).Set(1)
			series[lv] = true
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
			e.gauge.DeleteLabelValues(lv[:4]...)
			e.info.DeleteLabelValues(lv[:]...)
		}
	}
	e.leaves, e.series = seen, series
	e.last, e.lastDef = s.Certificates, s.DefaultCertificate
	if e.last == nil {
		e.last = []snapshot.Certificate{}
	}
	return firstErr
}

// infoOf reads leaf as ingress-nginx's SetSSLInfo and Identifier do.
func infoOf(leaf *x509.Certificate) leafInfo {
	li := leafInfo{notAfter: float64(leaf.NotAfter.Unix())}
	serial := leaf.SerialNumber.String()
	li.labels[0] = leaf.Issuer.SerialNumber + "-" + serial
	if len(leaf.Issuer.Organization) > 0 {
		li.labels[1] = leaf.Issuer.Organization[0]
	}
	li.labels[2] = leaf.Issuer.CommonName
	li.labels[3] = serial
	li.labels[4] = leaf.PublicKeyAlgorithm.String()
	return li
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

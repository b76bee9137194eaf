package certs

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
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
	// Certificate.Sum, for the certificates of last and lastDef, the
	// certificates of the previous Apply: only those that differ in the
	// next one change series.
	leaves  map[string]leafInfo
	last    []snapshot.Certificate
	lastDef *snapshot.Certificate
	applied bool
	// failed are the certificates served whose chain did not parse, by
	// Secret: every Apply reports one while they are served.
	failed map[snapshot.ObjectRef]error
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
		failed: map[snapshot.ObjectRef]error{},
	}
	reg.MustRegister(e.gauge, e.info)
	return e
}

// Apply sets the gauges to the certificates of s. A certificate whose chain
// does not parse (Build validated it: a Snapshot from elsewhere) is left out
// and reported. Only the certificates that differ from the previous
// Apply's (by Secret, material or hosts) change series, so that one moved
// host among 10 000 certificates costs one certificate's series.
func (e *Expiry) Apply(s *snapshot.Snapshot) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.applied && len(s.Certificates) == len(e.last) && (len(e.last) == 0 || &s.Certificates[0] == &e.last[0]) &&
		s.DefaultCertificate == e.lastDef {
		return nil
	}
	// The certificates that go and those that come: both lists are in
	// Snapshot order (by Secret) when Build made them; otherwise every
	// certificate of one is matched against the other by Secret.
	var gone, come []*snapshot.Certificate
	if sortedBySecret(e.last) && sortedBySecret(s.Certificates) {
		gone, come = diffCerts(e.last, s.Certificates)
	} else {
		for i := range e.last {
			gone = append(gone, &e.last[i])
		}
		for i := range s.Certificates {
			come = append(come, &s.Certificates[i])
		}
	}
	if !sameCert(e.lastDef, s.DefaultCertificate) {
		if e.lastDef != nil {
			gone = append(gone, e.lastDef)
		}
		if s.DefaultCertificate != nil {
			come = append(come, s.DefaultCertificate)
		}
	}
	hostsOf := func(c *snapshot.Certificate) []string {
		if c == s.DefaultCertificate || c == e.lastDef {
			return []string{""}
		}
		return c.Hosts
	}
	for _, c := range gone {
		delete(e.failed, c.Secret)
	}
	// Set the new series, then delete the stale ones: a scrape meanwhile
	// never misses a certificate that stays.
	set := map[[8]string]bool{}
	for _, c := range come {
		key := c.Sum()
		li, ok := e.leaves[key]
		if !ok {
			leaf, err := parseLeaf(c.CertPEM)
			if err != nil {
				e.failed[c.Secret] = fmt.Errorf("read expiry of secret %s/%s: %w", c.Secret.Namespace, c.Secret.Name, err)
				continue
			}
			li = infoOf(leaf)
			e.leaves[key] = li
		}
		for _, h := range hostsOf(c) {
			lv := labelValues(h, c, li)
			e.gauge.WithLabelValues(lv[:4]...).Set(li.notAfter)
			e.info.WithLabelValues(lv[:]...).Set(1)
			set[lv] = true
		}
	}
	for _, c := range gone {
		li, ok := e.leaves[c.Sum()]
		if !ok { // it had no series: its chain did not parse
			continue
		}
		for _, h := range hostsOf(c) {
			if lv := labelValues(h, c, li); !set[lv] {
				e.gauge.DeleteLabelValues(lv[:4]...)
				e.info.DeleteLabelValues(lv[:]...)
			}
		}
	}
	e.last, e.lastDef, e.applied = s.Certificates, s.DefaultCertificate, true
	if len(gone) > 0 {
		e.dropUnused()
	}
	return e.firstFailure()
}

// firstFailure returns the error of the first certificate served (by
// Secret) whose chain did not parse, nil when there is none.
func (e *Expiry) firstFailure() error {
	var first *snapshot.ObjectRef
	for r := range e.failed {
		if first == nil || snapshot.CompareSecrets(r, *first) < 0 {
			first = &r
		}
	}
	if first == nil {
		return nil
	}
	return e.failed[*first]
}

// labelValues are the info series' labels of host served c (the expiry's
// are their first four).
func labelValues(host string, c *snapshot.Certificate, li leafInfo) [8]string {
	lv := [8]string{host, c.Secret.Namespace, c.Secret.Name}
	copy(lv[3:], li.labels[:])
	return lv
}

// dropUnused drops the leaves of certificates no longer served, once they
// are a good part of the cache (a scan of every certificate otherwise).
func (e *Expiry) dropUnused() {
	if len(e.leaves) < 2*(len(e.last)+1)+64 {
		return
	}
	used := make(map[string]leafInfo, len(e.last)+1)
	for i := range e.last {
		if li, ok := e.leaves[e.last[i].Sum()]; ok {
			used[e.last[i].Sum()] = li
		}
	}
	if c := e.lastDef; c != nil {
		if li, ok := e.leaves[c.Sum()]; ok {
			used[c.Sum()] = li
		}
	}
	e.leaves = used
}

// sameCert reports whether a and b (nil: none) are the same Secret, material
// and hosts.
func sameCert(a, b *snapshot.Certificate) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a == b || a.Secret == b.Secret && slices.Equal(a.Hosts, b.Hosts) && a.Sum() == b.Sum()
}

// sortedBySecret reports whether certs are in Snapshot order, strictly.
func sortedBySecret(certs []snapshot.Certificate) bool {
	for i := 1; i < len(certs); i++ {
		if snapshot.CompareSecrets(certs[i-1].Secret, certs[i].Secret) >= 0 {
			return false
		}
	}
	return true
}

// diffCerts returns the certificates of base that next lacks or holds
// differently, and those of next that base lacks or holds differently;
// both lists are in Snapshot order.
func diffCerts(base, next []snapshot.Certificate) (gone, come []*snapshot.Certificate) {
	i, j := 0, 0
	for i < len(base) || j < len(next) {
		c := 0
		switch {
		case i == len(base):
			c = 1
		case j == len(next):
			c = -1
		default:
			c = snapshot.CompareSecrets(base[i].Secret, next[j].Secret)
		}
		switch {
		case c < 0:
			gone = append(gone, &base[i])
			i++
		case c > 0:
			come = append(come, &next[j])
			j++
		default:
			if !sameCert(&base[i], &next[j]) {
				gone, come = append(gone, &base[i]), append(come, &next[j])
			}
			i++
			j++
		}
	}
	return gone, come
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

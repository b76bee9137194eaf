// Package certs terminates TLS for Weir: a Store of the certificates of one
// Snapshot with ingress-nginx's selection by SNI, a Manager that swaps the
// Store atomically on each Snapshot and serves it through a tls.Config
// (TLS 1.2 and 1.3, ALPN h2 and http/1.1), and TicketKeys for session
// resumption with keys that rotate and can be shared by every worker.
package certs

import (
	"crypto/tls"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/weir-lb/weir/userspace/snapshot"
)

// Store is the immutable set of certificates of one Snapshot. A new
// configuration is a new Store, never a mutation; it is safe for concurrent
// use.
type Store struct {
	// exact holds the certificate of each host a Certificate lists
	// (lower-case; wildcard hosts as "*.suffix"), and the default (else
	// the fallback) certificate of each host the Snapshot serves it by
	// name (DefaultCertificateHosts).
	exact    map[string]*tls.Certificate
	certs    []*tls.Certificate          // every Ingress certificate, Snapshot order
	def      *tls.Certificate            // --default-ssl-certificate; nil: none
	fallback *tls.Certificate            // the self-signed certificate
	parsed   map[string]*tls.Certificate // by Certificate.Sum
	// src and srcDef are the Snapshot's Certificates and DefaultCertificate
	// the Store was made from, errs what failed to load from them.
	src      []snapshot.Certificate
	srcDef   *snapshot.Certificate
	srcHosts []string // DefaultCertificateHosts
	errs     []error
	// dupHosts: two certificates list one host (the first serves it).
	dupHosts bool
}

// NewStore parses the certificates of s. fallback is served when nothing
// else matches; it must not be nil. prev is the Store serving until now, or
// nil: certificates whose PEM is unchanged are reused from it rather than
// parsed again. A certificate that does not parse (Build validated it, so
// this is a Snapshot from elsewhere) is left out and reported; the rest is
// usable. When s holds the very Certificates prev was made from (the same
// slice and DefaultCertificate: a Snapshot a worker derived from the previous
// one by a Delta that left certificates alone), prev itself is returned with
// its errors, at no cost.
func NewStore(s *snapshot.Snapshot, fallback *tls.Certificate, prev *Store) (*Store, []error) {
	if prev != nil && s != nil && prev.fallback == fallback && prev.srcDef == s.DefaultCertificate &&
		len(prev.src) == len(s.Certificates) && (len(s.Certificates) == 0 || &prev.src[0] == &s.Certificates[0]) &&
		slices.Equal(prev.srcHosts, s.DefaultCertificateHosts) {
		return prev, prev.errs
	}
	if st, ok := prev.movedHosts(s, fallback); ok {
		return st, nil
	}
	st := &Store{
		exact:    map[string]*tls.Certificate{},
		fallback: fallback,
		parsed:   map[string]*tls.Certificate{},
	}
	var errs []error
	load := func(c *snapshot.Certificate) *tls.Certificate {
		key := c.Sum()
		if cert, ok := st.parsed[key]; ok {
			return cert
		}
		if prev != nil {
			if cert, ok := prev.parsed[key]; ok {
				st.parsed[key] = cert
				return cert
			}
		}
		cert, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM)
		if err != nil {
			errs = append(errs, fmt.Errorf("load certificate %s/%s: %w", c.Secret.Namespace, c.Secret.Name, err))
			return nil
		}
		st.parsed[key] = &cert
		return &cert
	}
	if s != nil {
		st.src, st.srcDef = s.Certificates, s.DefaultCertificate
		for i := range s.Certificates {
			c := &s.Certificates[i]
			cert := load(c)
			if cert == nil {
				continue
			}
			st.certs = append(st.certs, cert)
			st.index(c.Hosts, cert)
		}
		if s.DefaultCertificate != nil {
			st.def = load(s.DefaultCertificate)
		}
		st.srcHosts = s.DefaultCertificateHosts
		st.addDefaultHosts()
	}
	st.errs = errs
	return st, errs
}

// movedHosts returns the Store of s made from prev when s's certificates
// are prev's (the same Secrets, material and order, and default
// certificate) but for the hosts of some: a spec.tls edit among 10 000
// certificates then copies one map and moves their hosts, instead of
// indexing every certificate again. It reports false, for NewStore to
// build the Store whole, for anything else: another certificate or order,
// a certificate that did not load, a host two certificates list.
func (prev *Store) movedHosts(s *snapshot.Snapshot, fallback *tls.Certificate) (*Store, bool) {
	if prev == nil || s == nil || prev.fallback != fallback || len(prev.errs) > 0 || prev.dupHosts ||
		len(prev.src) != len(s.Certificates) || len(prev.certs) != len(s.Certificates) ||
		!sameMaterial(prev.srcDef, s.DefaultCertificate) || !slices.Equal(prev.srcHosts, s.DefaultCertificateHosts) {
		return nil, false
	}
	var moved []int
	for i := range s.Certificates {
		a, b := &prev.src[i], &s.Certificates[i]
		if a.Secret != b.Secret || !sameMaterial(a, b) {
			return nil, false
		}
		if !slices.Equal(a.Hosts, b.Hosts) {
			moved = append(moved, i)
		}
	}
	st := *prev
	st.src, st.srcDef = s.Certificates, s.DefaultCertificate
	st.exact = maps.Clone(prev.exact)
	for _, i := range moved {
		for _, h := range prev.src[i].Hosts {
			h = strings.ToLower(h)
			if st.exact[h] != prev.certs[i] {
				return nil, false
			}
			delete(st.exact, h)
		}
	}
	for _, i := range moved {
		for _, h := range s.Certificates[i].Hosts {
			h = strings.ToLower(h)
			if _, dup := st.exact[h]; dup {
				return nil, false
			}
			st.exact[h] = prev.certs[i]
		}
	}
	return &st, true
}

// addDefaultHosts maps the hosts served the default certificate by name to
// it, or to the fallback without one, as ingress-nginx's certificate.lua
// finds a server given the default certificate by its name before the
// wildcard host above it. A host a certificate lists keeps that one.
func (st *Store) addDefaultHosts() {
	def := st.def
	if def == nil {
		def = st.fallback
	}
	st.index(st.srcHosts, def)
}

// index maps hosts to cert; a host already mapped keeps its certificate
// (dupHosts is set).
func (st *Store) index(hosts []string, cert *tls.Certificate) {
	for _, h := range hosts {
		h = strings.ToLower(h)
		if _, dup := st.exact[h]; !dup {
			st.exact[h] = cert
		} else {
			st.dupHosts = true
		}
	}
}

// sameMaterial reports whether a and b (nil: none) hold the same material,
// by a digest Build computed (a certificate without one is not compared).
func sameMaterial(a, b *snapshot.Certificate) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Digest != "" && a.Digest == b.Digest
}

// Select returns the certificate for a handshake with SNI serverName (any
// case, "" when the client sent none), as ingress-nginx's certificate.lua
// finds one by name: the certificate listing serverName among its hosts
// (the default certificate for a host the Snapshot serves it by name,
// snapshot.DefaultCertificateHosts); else the one listing its wildcard
// ("*.foo.com" for "bar.foo.com"); else the default certificate; else the
// self-signed one. No certificate is
// chosen by its SANs here: the Snapshot lists every host a certificate
// serves (a host's certificate is settled when the Snapshot is built).
func (st *Store) Select(serverName string) *tls.Certificate {
	name := strings.TrimSuffix(strings.ToLower(serverName), ".")
	if name != "" {
		if cert, ok := st.exact[name]; ok {
			return cert
		}
		if dot := strings.IndexByte(name, '.'); dot > 0 {
			if cert, ok := st.exact["*"+name[dot:]]; ok {
				return cert
			}
		}
	}
	if st.def != nil {
		return st.def
	}
	return st.fallback
}

// Len returns the number of Ingress certificates in st, the default one not
// counted.
func (st *Store) Len() int { return len(st.certs) }

package certs

import (
	"crypto/tls"
	"slices"
	"strings"
	"sync"

	"github.com/weir-lb/weir/l7/router"
	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// hostTLS indexes the server-level TLS settings (snapshot.ServerTLS, nil
// for a server without) of one Snapshot's servers by SNI, with nginx's
// server selection among the server_name lines ingress-nginx renders: an
// exact host or alias; then a wildcard alias, written as it is, which
// nginx matches at any depth, the longest first; then a wildcard host,
// which buildServerName writes as a regular expression of one label; then
// the any-host server. Every server is indexed, so that one without
// settings of its own keeps the names it wins from the others'. It is
// immutable.
type hostTLS struct {
	exact     map[string]*snapshot.ServerTLS
	wildcard  map[string]*snapshot.ServerTLS // wildcard hosts, by the suffix after "*."
	wildAlias map[string]*snapshot.ServerTLS // wildcard aliases, by the suffix after "*."
	anyHost   *snapshot.ServerTLS
}

// newHostTLS indexes the Servers of s that have TLS settings a handshake
// depends on; nil when none has.
func newHostTLS(s *snapshot.Snapshot) *hostTLS {
	if !slices.ContainsFunc(s.Servers, func(srv snapshot.Server) bool { return handshakeDependsOn(srv.TLS) }) {
		return nil
	}
	h := &hostTLS{exact: map[string]*snapshot.ServerTLS{}, wildcard: map[string]*snapshot.ServerTLS{},
		wildAlias: map[string]*snapshot.ServerTLS{}}
	for i := range s.Servers {
		srv := &s.Servers[i]
		t := srv.TLS
		if !handshakeDependsOn(t) {
			t = nil
		}
		switch host := strings.ToLower(srv.Host); {
		case host == "":
			h.anyHost = t
		case strings.HasPrefix(host, "*."):
			h.wildcard[host[2:]] = t
		default:
			h.exact[host] = t
		}
	}
	// Aliases after every host: a name that is a host stays its own.
	for i := range s.Servers {
		srv := &s.Servers[i]
		t := srv.TLS
		if !handshakeDependsOn(t) {
			t = nil
		}
		for _, a := range srv.Aliases {
			m, name := h.exact, strings.ToLower(a)
			if suffix, ok := strings.CutPrefix(name, "*."); ok {
				m, name = h.wildAlias, suffix
			}
			if _, dup := m[name]; !dup {
				m[name] = t
			}
		}
	}
	return h
}

// handshakeDependsOn reports whether t changes a handshake: it requests a
// client certificate or sets cipher suites.
func handshakeDependsOn(t *snapshot.ServerTLS) bool {
	return t != nil && (t.Ciphers != nil || RequestsClientCert(t))
}

// RequestsClientCert reports whether the handshakes of a host with t
// request a client certificate: it verifies them (auth-tls-secret usable,
// auth-tls-verify-client not "off").
func RequestsClientCert(t *snapshot.ServerTLS) bool {
	return t != nil && t.ClientAuth != nil && t.ClientAuth.Denied == "" &&
		t.ClientAuth.Settings.VerifyClient != annotations.VerifyOff
}

// lookup returns the settings of the server a handshake with SNI
// serverName selects, nil when it has none.
func (h *hostTLS) lookup(serverName string) *snapshot.ServerTLS {
	if h == nil {
		return nil
	}
	name := strings.TrimSuffix(strings.ToLower(serverName), ".")
	if name != "" {
		if t, ok := h.exact[name]; ok {
			return t
		}
		if t, _, ok := router.NginxWildcard(h.wildAlias, name); ok {
			return t
		}
		if dot := strings.IndexByte(name, '.'); dot > 0 {
			if t, ok := h.wildcard[name[dot+1:]]; ok {
				return t
			}
		}
	}
	return h.anyHost
}

// variants caches the per-host configurations of one tls.Config returned
// by TLSConfig, for one hostTLS and one TLSSettings: a new Snapshot or new
// settings start a new cache, so it never outgrows the live hosts.
type variants struct {
	hosts    *hostTLS
	settings *annotations.TLSSettings
	mu       sync.Mutex
	byTLS    map[*snapshot.ServerTLS]*tls.Config
}

// get returns base adapted to t: a client certificate requested (never
// verified by the handshake: the proxy answers nginx's 400 pages, see
// l7/proxy/clientauth.go) and t's cipher suites.
func (v *variants) get(t *snapshot.ServerTLS, base func() *tls.Config) *tls.Config {
	v.mu.Lock()
	defer v.mu.Unlock()
	if c, ok := v.byTLS[t]; ok {
		return c
	}
	c := base()
	if RequestsClientCert(t) {
		c.ClientAuth = tls.RequestClientCert
	}
	if t.Ciphers != nil {
		c.CipherSuites = t.Ciphers
	}
	v.byTLS[t] = c
	return c
}

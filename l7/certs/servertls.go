package certs

import (
	"crypto/tls"
	"strings"
	"sync"

	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// hostTLS indexes the server-level TLS settings (snapshot.ServerTLS) of one
// Snapshot's hosts by SNI, with nginx's server selection: exact host, then
// wildcard, then the any-host server. It is immutable.
type hostTLS struct {
	exact    map[string]*snapshot.ServerTLS
	wildcard map[string]*snapshot.ServerTLS // by the suffix after "*."
	anyHost  *snapshot.ServerTLS
}

// newHostTLS indexes the Servers of s that have TLS settings a handshake
// depends on; nil when none has.
func newHostTLS(s *snapshot.Snapshot) *hostTLS {
	var h *hostTLS
	for i := range s.Servers {
		srv := &s.Servers[i]
		if !handshakeDependsOn(srv.TLS) {
			continue
		}
		if h == nil {
			h = &hostTLS{exact: map[string]*snapshot.ServerTLS{}, wildcard: map[string]*snapshot.ServerTLS{}}
		}
		switch host := strings.ToLower(srv.Host); {
		case host == "":
			h.anyHost = srv.TLS
		case strings.HasPrefix(host, "*."):
			h.wildcard[host[2:]] = srv.TLS
		default:
			h.exact[host] = srv.TLS
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

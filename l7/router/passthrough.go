package router

import (
	"strings"

	"github.com/weir-lb/weir/userspace/snapshot"
)

// addPassthrough indexes the Server srv of host, compiled as cs, when it has
// ssl-passthrough: its connections go to the route of its "/" path (as
// ingress-nginx, which ignores the other paths of such a host). Only exact
// hosts are indexed: ingress-nginx's TLS proxy compares the SNI with the
// host name as a string, so a wildcard host never matches.
func (r *Router) addPassthrough(host string, srv *snapshot.Server, cs *server) {
	if srv.TLS == nil || !srv.TLS.Passthrough || host == "" || strings.HasPrefix(host, "*.") {
		return
	}
	for i := range cs.paths {
		// A root of upstream-default-backend takes no connection
		// (ingress-nginx: "has no default backend, ignoring SSL
		// Passthrough").
		if rt := cs.paths[i].route; rt.Path == "/" && !rt.Backend.DefaultUpstream {
			if r.passthrough == nil {
				r.passthrough = map[string]*Route{}
			}
			r.passthrough[host] = cs.paths[i].route
			return
		}
	}
}

// Passthrough returns the route whose endpoints receive the TLS connections
// with SNI serverName untouched (ssl-passthrough), or nil.
func (r *Router) Passthrough(serverName string) *Route {
	if r.passthrough == nil {
		return nil
	}
	return r.passthrough[strings.TrimSuffix(strings.ToLower(serverName), ".")]
}

// HasPassthrough reports whether any host of r has ssl-passthrough: when
// not, no connection needs its ClientHello read before the handshake.
func (r *Router) HasPassthrough() bool { return r.passthrough != nil }

package proxy

import (
	"net/http"
	"net/netip"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-lb/weir/l7/router"
	"github.com/weir-lb/weir/userspace/annotations"
)

// sourceRanges enforces the source-range annotations of a route
// (whitelist-source-range, allowlist-source-range, denylist-source-range)
// on the client address (remote_addr: the connection's, or the one the
// real-IP rules of the global settings take from a trusted proxy's
// header), as ingress-nginx does: a client in the deny list, or outside a
// non-empty allow list, gets 403 from Weir. Deny is checked first. A route
// whose list did not parse (SourceRange.Denied) answers 503 to everyone,
// as ingress-nginx answers a location it denies.
//
// The prefixes of each SourceRange are parsed once and cached by pointer
// (a Snapshot is immutable); the cache is dropped whole when it grows past
// maxCachedSourceRanges, so Snapshots that are no longer live are freed.
type sourceRanges struct {
	cache  ptrCache[annotations.SourceRange, *compiledSourceRange]
	denied *prometheus.CounterVec // nil: no metrics
}

const maxCachedSourceRanges = 4096

type compiledSourceRange struct {
	allow, deny []netip.Prefix
}

// newSourceRanges returns the enforcer; reg nil means no metrics.
func newSourceRanges(reg *prometheus.Registry) *sourceRanges {
	s := &sourceRanges{}
	if reg != nil {
		s.denied = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_source_range_denied_total",
			Help: "Requests refused because of a source-range annotation, by Ingress and by list: deny (in denylist-source-range; 403), allow (outside the allow list; 403) or invalid (a list that does not parse denies the route; 503).",
		}, []string{"namespace", "ingress", "list"})
		reg.MustRegister(s.denied)
	}
	return s
}

// reject returns 403 when client may not use route, 503 when route is
// denied to everyone (counting the refusal), and 0 when client may pass.
func (s *sourceRanges) reject(client netip.Addr, route *router.Route) int {
	status, list, _ := s.verdict(client, route)
	if status != 0 {
		s.count(route, list)
	}
	return status
}

// verdict returns the status refusing client on route (0: it may pass)
// and the list that refused it ("deny", "allow", or "invalid" with 503).
// granted is true when a non-empty allow list holds client: nginx's
// access module then returns OK, which satisfy any takes as access
// granted; without an allow list it declines.
func (s *sourceRanges) verdict(client netip.Addr, route *router.Route) (status int, list string, granted bool) {
	sr := route.Backend.Proxy.SourceRange
	switch {
	case sr == nil:
		return 0, "", false
	case sr.Denied() != "":
		return http.StatusServiceUnavailable, "invalid", false
	}
	c := s.compiled(sr)
	if list = c.verdict(client); list != "" {
		return http.StatusForbidden, list, false
	}
	return 0, "", len(c.allow) > 0
}

// count counts a request refused by list of route's source ranges.
func (s *sourceRanges) count(route *router.Route, list string) {
	if s.denied != nil {
		ing := route.Backend.Ingress
		s.denied.WithLabelValues(ing.Namespace, ing.Name, list).Inc()
	}
}

func (s *sourceRanges) compiled(sr *annotations.SourceRange) *compiledSourceRange {
	return s.cache.get(sr, compileSourceRange)
}

// ptrCache holds what was compiled from values of a Snapshot, by pointer
// (a Snapshot is immutable); it is dropped whole when it grows past
// maxCachedSourceRanges, so Snapshots that are no longer live are freed.
type ptrCache[K, V any] struct {
	mu sync.RWMutex
	m  map[*K]V
}

// get returns the value compiled from k, compiling it on the first call.
func (c *ptrCache[K, V]) get(k *K, compile func(*K) V) V {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return v
	}
	v = compile(k)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedSourceRanges {
		c.m = map[*K]V{}
	}
	c.m[k] = v
	c.mu.Unlock()
	return v
}

// compileSourceRange parses the prefixes of sr. They were normalised by the
// annotations package; one that does not parse (never expected) is skipped.
func compileSourceRange(sr *annotations.SourceRange) *compiledSourceRange {
	return &compiledSourceRange{allow: parsePrefixes(sr.Allow), deny: parsePrefixes(sr.Deny)}
}

// parsePrefixes parses prefixes the annotations package normalised; one
// that does not parse (never expected) is skipped.
func parsePrefixes(in []string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range in {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// verdict returns "deny" when a is in the deny list, "allow" when the allow
// list is non-empty and a is outside it, "" when a may pass. An invalid a
// (no client address) is refused by a non-empty list.
func (c *compiledSourceRange) verdict(a netip.Addr) string {
	if len(c.deny) > 0 && (!a.IsValid() || containsAddr(c.deny, a)) {
		return "deny"
	}
	if len(c.allow) > 0 && (!a.IsValid() || !containsAddr(c.allow, a)) {
		return "allow"
	}
	return ""
}

func containsAddr(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

package router

import (
	"slices"
	"sync/atomic"
)

// Upstream is the state of one upstream address that outlives a Router
// swap: Compile hands the same *Upstream to the next Router while the
// address stays in the configuration.
type Upstream struct {
	// Addr is the "ip:port" address, IPv6 in brackets.
	Addr string
	// InFlight counts the requests currently proxied to Addr, over every
	// Router that shares this Upstream.
	InFlight atomic.Int64

	// ewma is the response-time average of the ewma balancer.
	ewma ewma
}

// Selector picks the upstream for the next request: the next one for which
// ok is true. It reports false when it has none. Implementations are safe
// for concurrent use.
type Selector interface {
	Next(ok func(*Upstream) bool) (*Upstream, bool)
}

var _ Selector = (*RoundRobin)(nil)

// RoundRobin selects its upstreams in turn. The zero value has no upstreams.
type RoundRobin struct {
	upstreams []*Upstream
	next      atomic.Uint64
}

// NewRoundRobin returns a RoundRobin over ups, starting with the first.
// ups is not copied and must not be modified afterwards.
func NewRoundRobin(ups []*Upstream) *RoundRobin {
	return &RoundRobin{upstreams: ups}
}

// Next returns the next upstream in turn for which ok is true, passing over
// the others, or false when there is none.
func (rr *RoundRobin) Next(ok func(*Upstream) bool) (*Upstream, bool) {
	n := uint64(len(rr.upstreams))
	if n == 0 {
		return nil, false
	}
	// Each upstream passed over takes its turn, so the others share its
	// load evenly.
	for range n {
		if u := rr.upstreams[(rr.next.Add(1)-1)%n]; ok(u) {
			return u, true
		}
	}
	return nil, false
}

// Pool is the set of upstreams of one backend (namespace, service, port and
// endpoint list); routes with the same backend share one Pool.
type Pool struct {
	key       string
	sel       Selector
	upstreams []*Upstream
	lb        *balancer // nil: round robin (balance.go)
}

// Key identifies the Pool: namespace/service:port=endpoints, then the
// balancing when it is not round robin.
func (p *Pool) Key() string { return p.key }

// Len returns the number of upstreams; 0 means the backend answers 503.
func (p *Pool) Len() int { return len(p.upstreams) }

// Upstreams returns the upstreams of the Pool in endpoint order. The slice
// must not be modified.
func (p *Pool) Upstreams() []*Upstream { return p.upstreams }

// Next selects the upstream for a request, or reports false when the Pool
// has none.
func (p *Pool) Next() (*Upstream, bool) { return p.NextExcept(nil) }

// NextExcept is Next for a request that already tried the upstreams in
// tried (nginx's proxy_next_upstream): it reports false when every upstream
// of the Pool was tried. No upstream is passed over for an earlier failure:
// ingress-nginx's balancers have no passive health check.
func (p *Pool) NextExcept(tried []*Upstream) (*Upstream, bool) {
	if p.lb != nil && p.lb.alg == ewmaPick {
		if len(tried) >= len(p.upstreams) {
			return nil, false
		}
		return p.nextEWMA(tried)
	}
	if len(tried) == 0 {
		// The common case, without a closure to allocate.
		return p.sel.Next(anyUpstream)
	}
	return p.sel.Next(func(u *Upstream) bool { return !slices.Contains(tried, u) })
}

func anyUpstream(*Upstream) bool { return true }

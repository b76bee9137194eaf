package router

import (
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
}

// Selector picks the upstream for the next request. It reports false when
// it has none. Implementations are safe for concurrent use.
type Selector interface {
	Next() (*Upstream, bool)
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

// Next returns the next upstream in turn, or false when there is none.
func (rr *RoundRobin) Next() (*Upstream, bool) {
	n := uint64(len(rr.upstreams))
	if n == 0 {
		return nil, false
	}
	i := rr.next.Add(1) - 1
	return rr.upstreams[i%n], true
}

// Pool is the set of upstreams of one backend (namespace, service, port and
// endpoint list); routes with the same backend share one Pool.
type Pool struct {
	key       string
	sel       Selector
	upstreams []*Upstream
}

// Key identifies the Pool: namespace/service:port=endpoints.
func (p *Pool) Key() string { return p.key }

// Len returns the number of upstreams; 0 means the backend answers 503.
func (p *Pool) Len() int { return len(p.upstreams) }

// Upstreams returns the upstreams of the Pool in endpoint order. The slice
// must not be modified.
func (p *Pool) Upstreams() []*Upstream { return p.upstreams }

// Next selects the upstream for a request, or reports false when the Pool
// has none.
func (p *Pool) Next() (*Upstream, bool) { return p.sel.Next() }

package proxy

import (
	"net/netip"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-lb/weir/l7/connlimit"
	"github.com/weir-lb/weir/l7/router"
	"github.com/weir-lb/weir/userspace/annotations"
)

// connLimits enforces limit-connections as nginx's limit_conn does in
// ingress-nginx: a zone per Ingress (the route's main Ingress, canaries
// included) keyed by the client address after the real-IP rules, clients
// in limit-allowlist not counted. A request is counted from routing until
// it ends (its response written, the client gone, a panic, a WebSocket
// tunnel closed) in a connlimit.Table that every worker of the node shares;
// one past the limit, or whose bucket of the Table is full, gets
// limit-conn-status-code (503).
type connLimits struct {
	once   sync.Once
	table  *connlimit.Table // nil until the first limited request when none was given
	worker int              // this process's worker slot in table

	allow ptrCache[annotations.ConnLimit, []netip.Prefix] // parsed limit-allowlist

	refused *prometheus.CounterVec // nil: no metrics
}

func newConnLimits(table *connlimit.Table, worker int, reg *prometheus.Registry) *connLimits {
	c := &connLimits{table: table, worker: worker}
	if reg != nil {
		c.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_limit_connections_refused_total",
			Help: "Requests refused by limit-connections (with limit-conn-status-code), by Ingress; reason limit (the client's requests in flight reached it) or full (the shared table had no room: it fails closed, as nginx's full zone).",
		}, []string{"namespace", "ingress", "reason"})
		reg.MustRegister(c.refused)
	}
	return c
}

// acquire counts the request from client on route under limitKey (nil:
// the client address; empty: not counted), or counts its refusal and
// returns false: the caller answers it (limit-conn-status-code, through
// custom-http-errors as admit's). The returned Slot is released when the
// request ends.
func (c *connLimits) acquire(client netip.Addr, limitKey []byte, route *router.Route) (connlimit.Slot, bool) {
	cl := route.Backend.Proxy.ConnLimit
	if cl == nil || limitKey == nil && !client.IsValid() || limitKey != nil && len(limitKey) == 0 {
		return connlimit.Slot{}, true // nginx counts no empty key
	}
	client = client.Unmap()
	if client.IsValid() && containsAddr(c.allowlist(cl), client) {
		return connlimit.Slot{}, true
	}
	if limitKey == nil {
		limitKey = client.AsSlice()
	}
	table := c.shared()
	ing := route.Backend.Ingress
	key := table.Key(ing.Namespace+"/"+ing.Name, limitKey)
	slot, ok, err := table.Acquire(key, cl.Connections, c.worker)
	if ok {
		return slot, true
	}
	if c.refused != nil {
		reason := "limit"
		if err != nil {
			reason = "full"
		}
		c.refused.WithLabelValues(ing.Namespace, ing.Name, reason).Inc()
	}
	return connlimit.Slot{}, false
}

// shared returns the Table, made on the first use when none was given; the
// request rates (ratelimit.go) are kept in it too.
func (c *connLimits) shared() *connlimit.Table {
	c.once.Do(func() {
		if c.table == nil {
			c.table = connlimit.NewTable()
		}
	})
	return c.table
}

// allowlist returns the parsed prefixes of cl's allowlist.
func (c *connLimits) allowlist(cl *annotations.ConnLimit) []netip.Prefix {
	if len(cl.Allowlist) == 0 {
		return nil
	}
	return c.allow.get(cl, func(cl *annotations.ConnLimit) []netip.Prefix {
		return compileSourceRange(&annotations.SourceRange{Allow: cl.Allowlist}).allow
	})
}

package proxy

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/weir-lb/weir/l7/connlimit"
)

// connStates are nginx's stub_status figures (ingress-nginx's
// nginx_process_connections, connections_total and requests_total) for the
// client connections of the servers whose ConnState is Proxy.ConnState.
//
// net/http tells when a connection is new, serving a request or idle, not
// when it is reading a request header: nginx's "reading" is always 0, a
// request being read counts as "writing", a new connection with no request
// yet and a keep-alive connection between requests as "waiting". A
// WebSocket tunnel counts as active and writing until it closes.
type connStates struct {
	conns                    sync.Map // net.Conn → http.ConnState
	accepted                 atomic.Int64
	open, writing, waiting   atomic.Int64
	requests                 atomic.Int64
	tunnels                  prometheus.Gauge
	connections, total, reqs *prometheus.Desc
}

func newConnStates(reg prometheus.Registerer, tunnels prometheus.Gauge) *connStates {
	const p = "nginx_ingress_controller_nginx_process_"
	c := &connStates{
		tunnels:     tunnels,
		connections: prometheus.NewDesc(p+"connections", "current number of client connections with state {active, reading, writing, waiting}", []string{"state"}, nil),
		total:       prometheus.NewDesc(p+"connections_total", "total number of connections with state {accepted, handled}", []string{"state"}, nil),
		reqs:        prometheus.NewDesc(p+"requests_total", "total number of client requests", nil, nil),
	}
	reg.MustRegister(c)
	return c
}

func (c *connStates) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.connections
	ch <- c.total
	ch <- c.reqs
}

func (c *connStates) Collect(ch chan<- prometheus.Metric) {
	var tm dto.Metric
	_ = c.tunnels.Write(&tm)
	tunnels := tm.GetGauge().GetValue()
	gauge := func(state string, v float64) {
		ch <- prometheus.MustNewConstMetric(c.connections, prometheus.GaugeValue, v, state)
	}
	gauge("active", float64(c.open.Load())+tunnels)
	gauge("reading", 0)
	gauge("writing", float64(c.writing.Load())+tunnels)
	gauge("waiting", float64(c.waiting.Load()))
	accepted := float64(c.accepted.Load())
	ch <- prometheus.MustNewConstMetric(c.total, prometheus.CounterValue, accepted, "accepted")
	ch <- prometheus.MustNewConstMetric(c.total, prometheus.CounterValue, accepted, "handled")
	ch <- prometheus.MustNewConstMetric(c.reqs, prometheus.CounterValue, float64(c.requests.Load()))
}

// counter returns the gauge of state s among those the figures keep.
func (c *connStates) counter(s http.ConnState) *atomic.Int64 {
	switch s {
	case http.StateActive:
		return &c.writing
	case http.StateNew, http.StateIdle:
		return &c.waiting
	}
	return nil
}

// ConnState is the http.Server ConnState hook that keeps the
// nginx_process_connections figures; a Proxy without a Registry ignores it.
func (p *Proxy) ConnState(conn net.Conn, s http.ConnState) {
	c := p.conns
	if c == nil {
		return
	}
	if s == http.StateNew {
		c.accepted.Add(1)
		c.open.Add(1)
	}
	var prev http.ConnState = -1
	gone := s == http.StateClosed || s == http.StateHijacked
	if slot := connlimit.StateSlot(conn); slot != nil {
		// The connection keeps its state (l7/connlimit's): no map.
		next := int32(s) + 1
		if gone {
			next = 0
		}
		prev = http.ConnState(slot.Swap(next) - 1)
		if gone {
			c.open.Add(-1)
		}
	} else if gone {
		if v, ok := c.conns.LoadAndDelete(conn); ok {
			prev = v.(http.ConnState)
		}
		c.open.Add(-1)
	} else if v, ok := c.conns.Swap(conn, s); ok {
		prev = v.(http.ConnState)
	}
	if g := c.counter(prev); g != nil {
		g.Add(-1)
	}
	if g := c.counter(s); g != nil {
		g.Add(1)
	}
}

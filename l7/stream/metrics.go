package stream

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Error reasons of weir_stream_errors_total.
const (
	reasonConnect       = "connect"        // one endpoint refused or timed out
	reasonNoUpstream    = "no_upstream"    // every endpoint tried failed
	reasonUnavailable   = "unavailable"    // the Service has no ready endpoints
	reasonProxyProtocol = "proxy_protocol" // a missing or broken PROXY header
	reasonIdle          = "idle_timeout"   // proxy-stream-timeout of silence
	reasonSessionsFull  = "sessions_full"  // MaxUDPSessions reached
	reasonAborted       = "aborted"        // a reset or a failed write
)

// metrics are the weir_stream_* series, per protocol and port.
type metrics struct {
	conns  *prometheus.CounterVec
	active *prometheus.GaugeVec
	bytes  *prometheus.CounterVec
	errs   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		conns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_stream_connections_total",
			Help: "TCP connections accepted, and UDP sessions (client addresses) started, on the stream ports, by upstream (protocol-namespace-service-port, as ingress-nginx's proxy_upstream_name).",
		}, []string{"protocol", "port", "upstream"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "weir_stream_active_connections",
			Help: "TCP connections and UDP sessions of the stream ports open now.",
		}, []string{"protocol", "port"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_stream_bytes_total",
			Help: "Bytes forwarded on the stream ports: direction in from the client to the upstream, out from the upstream to the client.",
		}, []string{"protocol", "port", "direction"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_stream_errors_total",
			Help: "Stream errors by reason: connect (an endpoint failed), no_upstream (every endpoint tried failed), unavailable (no ready endpoints), proxy_protocol (a broken PROXY header), idle_timeout, sessions_full (UDP), aborted.",
		}, []string{"protocol", "port", "reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.conns, m.active, m.bytes, m.errs)
	}
	return m
}

func (m *metrics) err(k key, reason string) {
	m.errs.WithLabelValues(k.proto, strconv.Itoa(k.port), reason).Inc()
}

func (m *metrics) addBytes(k key, direction string, n int64) {
	if n > 0 {
		m.bytes.WithLabelValues(k.proto, strconv.Itoa(k.port), direction).Add(float64(n))
	}
}

// opened counts a new connection or session of t on k; the returned
// function counts its end.
func (m *metrics) opened(k key, t *target) func() {
	port := strconv.Itoa(k.port)
	m.conns.WithLabelValues(k.proto, port, t.label()).Inc()
	g := m.active.WithLabelValues(k.proto, port)
	g.Inc()
	return g.Dec
}

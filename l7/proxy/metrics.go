package proxy

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-lb/weir/l7/router"
)

// metrics are named and labelled like ingress-nginx's, so its dashboards
// work, plus Weir's own.
//
// The path label is the matched rule's path and the host label the matched
// server's host ("*.foo.com" for a wildcard, "" for the any-host server and
// the default backend), never the raw request: cardinality stays bounded.
// Methods outside the standard set are counted as "OTHER". The canary label
// of the requests counter is the upstream name ("namespace-service-port") of
// the canary that served the request, "" for the main backend.
type metrics struct {
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	size           *prometheus.HistogramVec
	version        prometheus.Gauge
	upstreamErrors *prometheus.CounterVec
	// tunnelsOpen and tunnelCloses count WebSocket tunnels (websocket.go).
	tunnelsOpen  prometheus.Gauge
	tunnelCloses *prometheus.CounterVec
}

var (
	requestLabels  = []string{"ingress", "namespace", "service", "status", "method", "path", "host", "canary"}
	durationLabels = []string{"ingress", "namespace", "service", "status", "method", "path", "host"}
)

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nginx_ingress_controller_requests",
			Help: "The total number of client requests.",
		}, requestLabels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "nginx_ingress_controller_request_duration_seconds",
			Help:    "The request processing time in seconds: from the first byte read from the client to the last byte sent.",
			Buckets: prometheus.DefBuckets,
		}, durationLabels),
		size: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "nginx_ingress_controller_response_size",
			Help:    "The response body length in bytes.",
			Buckets: prometheus.ExponentialBuckets(10, 10, 7),
		}, durationLabels),
		version: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "weir_config_version_live",
			Help: "The Version of the Snapshot this proxy serves; 0 before the first.",
		}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_upstream_errors_total",
			Help: "Upstream failures by reason: requests that failed at their upstream, and attempts passed to the next upstream (proxy-next-upstream).",
		}, []string{"reason"}),
		tunnelsOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "weir_websocket_tunnels_open",
			Help: "WebSocket tunnels currently established.",
		}),
		tunnelCloses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_websocket_tunnel_closes_total",
			Help: "WebSocket tunnels closed, by reason: client, backend, read_timeout (no traffic either way for proxy-read-timeout) or send_timeout (a write blocked for proxy-send-timeout).",
		}, []string{"reason"}),
	}
	reg.MustRegister(m.requests, m.duration, m.size, m.version, m.upstreamErrors, m.tunnelsOpen, m.tunnelCloses)
	for _, reason := range upstreamErrorReasons {
		m.upstreamErrors.WithLabelValues(reason)
	}
	for _, reason := range tunnelCloseReasons {
		m.tunnelCloses.WithLabelValues(reason)
	}
	return m
}

func (m *metrics) observe(r *http.Request, route *router.Route, canary string, status int, bytes int64, d time.Duration) {
	var ingress, namespace, service, path, host string
	if route != nil {
		ingress = route.Backend.Ingress.Name
		namespace = route.Backend.Ingress.Namespace
		service = route.Backend.Service
		path = route.Path
		host = route.Host
	}
	code := strconv.Itoa(status)
	method := methodLabel(r.Method)
	m.requests.WithLabelValues(ingress, namespace, service, code, method, path, host, canary).Inc()
	m.duration.WithLabelValues(ingress, namespace, service, code, method, path, host).Observe(d.Seconds())
	m.size.WithLabelValues(ingress, namespace, service, code, method, path, host).Observe(float64(bytes))
}

func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "OTHER"
}

package proxy

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-lb/weir/l7/router"
)

// metrics are named, labelled and bucketed like ingress-nginx's socket
// collector (internal/ingress/metric/collectors/socket.go, with its default
// --metrics-per-host), so its dashboards and alerts work, plus Weir's own.
// The controller_namespace, controller_class and controller_pod labels are
// added where /metrics is served (userspace/promcompat), not here.
//
// The path label is the matched rule's path. The host label is nginx's
// $host, as ingress-nginx's monitor.lua sends it: the request's host,
// lower-cased and without its port ("_", the default server's name, when
// the request names none). Only requests for a host the configuration
// defines (a Server's host or alias: router.Router.Defined) are counted,
// so cardinality stays bounded, unless countUndefined is set
// (--metrics-per-undefined-host, or --metrics-per-host=false: the host label
// is then dropped where /metrics is served): ingress-nginx's socket
// collector drops the others, those a wildcard or a host-less rule serves
// included.
// Methods outside the standard set are counted as "OTHER". The canary label
// is the upstream name ("namespace-service-port") of the canary that served
// the request, "" for the main backend.
//
// The upstream timings (connect, header, response) are observed only for a
// request sent to exactly one upstream, as ingress-nginx's monitor.lua reads
// nginx's $upstream_*_time with tonumber, which fails on the list ("0.001,
// 0.002") nginx gives when the request was passed to the next upstream.
type metrics struct {
	// The histograms are Weir's own (histVec), exposed as prometheus'
	// HistogramVec would expose them: the durations counted in
	// nanoseconds, the sizes in bytes. requests is duration's count, as
	// a CounterVec would expose it.
	requests     *countVec
	duration     *histVec
	upResponse   *histVec
	upConnect    *histVec
	upHeader     *histVec
	requestSize  *histVec
	responseSize *histVec
	bytesSent    *histVec

	// children caches the labelled observers by route, canary, status and
	// method; Apply replaces it, so the routes of an old Router are let go.
	children atomic.Pointer[sync.Map]
	// recent holds observers that children gave, each in the slot of its
	// key (recentSlot): a request whose key is there compares its key
	// once, where children's Load hashes the whole key (some 800
	// instructions a request under callgrind). reset empties it.
	recent [recentSlots]atomic.Pointer[observers]
	// defined reports whether a request host, ex's, is one the live
	// configuration defines (from ex's host lookup when that was the live
	// router's); countUndefined counts the requests of the others too.
	defined        func(ex *exchange, host string) bool
	countUndefined bool

	version        prometheus.Gauge
	upstreamErrors *prometheus.CounterVec
	// tunnelsOpen and tunnelCloses count WebSocket tunnels (websocket.go).
	tunnelsOpen  prometheus.Gauge
	tunnelCloses *prometheus.CounterVec
}

// requestLabels are ingress-nginx's requestTags plus "host", in its order.
var requestLabels = []string{"status", "method", "path", "namespace", "ingress", "service", "canary", "host"}

// ingress-nginx's default --time-buckets, --length-buckets and --size-buckets.
var (
	timeBuckets   = prometheus.DefBuckets
	lengthBuckets = prometheus.LinearBuckets(10, 10, 10)
	sizeBuckets   = prometheus.ExponentialBuckets(10, 10, 7)
)

func newMetrics(reg *prometheus.Registry) *metrics {
	hist := func(name, help string, buckets []float64) *histVec {
		scale := 1.0 // bytes
		if strings.HasSuffix(name, "_seconds") {
			scale = 1e9 // nanoseconds
		}
		return newHistVec("nginx_ingress_controller_"+name, help, requestLabels, buckets, scale)
	}
	m := &metrics{
		duration:     hist("request_duration_seconds", "The request processing time in seconds: from the first byte read from the client to the last byte sent.", timeBuckets),
		upResponse:   hist("response_duration_seconds", "The time spent on receiving the response from the upstream server: from the start of the connection (or its reuse) to the last byte of the response.", timeBuckets),
		upConnect:    hist("connect_duration_seconds", "The time spent on establishing a connection with the upstream server (0 for a reused keep-alive connection).", timeBuckets),
		upHeader:     hist("header_duration_seconds", "The time spent on receiving first header from the upstream server: from the start of the connection to the end of the response header.", timeBuckets),
		requestSize:  hist("request_size", "The request length (including request line, header, and request body).", lengthBuckets),
		responseSize: hist("response_size", "The response length (including status line, header, and response body).", lengthBuckets),
		bytesSent:    hist("bytes_sent", "DEPRECATED The number of bytes sent to a client (the same as response_size).", sizeBuckets),
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
			Help: "WebSocket tunnels closed, by reason: client, backend, read_timeout (no traffic either way for proxy-read-timeout) or send_timeout (a write blocked for proxy-send-timeout to the backend, 60 s to the client).",
		}, []string{"reason"}),
	}
	m.bytesSent.sumOf = m.responseSize // both observe $bytes_sent
	m.requests = &countVec{
		desc: prometheus.NewDesc("nginx_ingress_controller_requests", "The total number of client requests.", requestLabels, nil),
		of:   m.duration,
	}
	m.children.Store(new(sync.Map))
	reg.MustRegister(m.requests, m.duration, m.upResponse, m.upConnect, m.upHeader, m.requestSize, m.responseSize, m.bytesSent,
		m.version, m.upstreamErrors, m.tunnelsOpen, m.tunnelCloses)
	for _, reason := range upstreamErrorReasons {
		m.upstreamErrors.WithLabelValues(reason)
	}
	for _, reason := range tunnelCloseReasons {
		m.tunnelCloses.WithLabelValues(reason)
	}
	return m
}

// childKey identifies one set of request label values: the route stands for
// its ingress, namespace, service, path and host.
type childKey struct {
	route  *router.Route
	canary string
	status int
	method string
	host   string
}

// recentSlots is the number of metrics.recent's slots, a power of two.
const recentSlots = 64

// recentSlot is k's slot in metrics.recent: from the route, the status and
// the host's length and ends, which tell most keys apart without a hash of
// their strings (two keys in one slot take turns, each then found in
// children).
func recentSlot(k *childKey) int {
	h := uintptr(unsafe.Pointer(k.route))>>4 ^ uintptr(k.status)*7 ^ uintptr(len(k.host))*13 ^ uintptr(len(k.method))*5 ^ uintptr(len(k.canary))*3
	if n := len(k.host); n > 0 {
		h ^= uintptr(k.host[0])*17 ^ uintptr(k.host[n-1])*29
	}
	return int(h & (recentSlots - 1))
}

// observers are the children of the request families for one childKey.
type observers struct {
	key                                       childKey // whose: its strings the observers' own
	duration, upResponse, upConnect, upHeader *histogram
	requestSize, responseSize, bytesSent      *histogram
}

// reset forgets the cached children: Apply calls it with the new Router, so
// the cache holds only live routes. The series themselves stay.
func (m *metrics) reset() {
	m.children.Store(new(sync.Map))
	for i := range m.recent {
		m.recent[i].Store(nil)
	}
}

// observersFor returns observersOf(k), from its slot in recent when it is
// there, else from observersOf, then kept there.
func (m *metrics) observersFor(k childKey) *observers {
	slot := &m.recent[recentSlot(&k)]
	if o := slot.Load(); o != nil && o.key == k {
		return o
	}
	o := m.observersOf(k)
	slot.Store(o)
	return o
}

func (m *metrics) observersOf(k childKey) *observers {
	cache := m.children.Load()
	if o, ok := cache.Load(k); ok {
		return o.(*observers)
	}
	// The key and the label values outlive the request: strings of the
	// request (its method and host) are copied, so as not to pin the
	// request head's arena chunk (l7/arena).
	k.method = strings.Clone(k.method)
	k.host = strings.Clone(k.host)
	var ingress, namespace, service, path string
	if k.route != nil && !ingressless(k.route) {
		ingress = k.route.Backend.Ingress.Name
		namespace = k.route.Backend.Ingress.Namespace
		service = k.route.Backend.Service
		path = k.route.Path
		if k.route.Default {
			path = "/" // a catch-all Ingress's: the default server's root location
		}
	}
	lv := []string{strconv.Itoa(k.status), k.method, path, namespace, ingress, service, k.canary, k.host}
	o := &observers{
		key:          k,
		duration:     m.duration.WithLabelValues(lv...),
		upResponse:   m.upResponse.WithLabelValues(lv...),
		upConnect:    m.upConnect.WithLabelValues(lv...),
		upHeader:     m.upHeader.WithLabelValues(lv...),
		requestSize:  m.requestSize.WithLabelValues(lv...),
		responseSize: m.responseSize.WithLabelValues(lv...),
		bytesSent:    m.bytesSent.WithLabelValues(lv...),
	}
	actual, _ := cache.LoadOrStore(k, o)
	return actual.(*observers)
}

// observe counts a finished request: reqLen is nginx's $request_length and
// sent its $bytes_sent (nginxRequestLength, bytesSent: the access log's
// figures), d the request time.
func (m *metrics) observe(r *http.Request, ex *exchange, status int, reqLen, sent int64, d time.Duration) {
	host := ex.hostVar
	if host == "" { // not looked up (or its $host is empty: the same again)
		host = router.HostVar(r.Host)
	}
	if !m.countUndefined && (m.defined == nil || !m.defined(ex, host)) {
		return
	}
	o := m.observersFor(childKey{route: ex.route, canary: ex.canary, status: status, method: methodLabel(r.Method), host: host})
	o.duration.observe(int64(d)) // and requests, its count
	o.requestSize.observe(reqLen)
	o.responseSize.observe(sent)
	o.bytesSent.place(sent) // its sum responseSize's
	if t := &ex.timing; len(ex.tried) == 1 && !t.start.IsZero() {
		if t.connect >= 0 {
			o.upConnect.observe(int64(t.connect))
		}
		if t.header >= 0 {
			o.upHeader.observe(int64(t.header))
		}
		if t.response >= 0 {
			o.upResponse.observe(int64(t.response))
		}
	}
}

// upstreamTiming holds nginx's $upstream_connect_time, $upstream_header_time
// and $upstream_response_time for the last attempt of a request, each
// measured from the attempt's start; -1 for what did not happen.
type upstreamTiming struct {
	start                     time.Time
	connect, header, response time.Duration
	// off is start's offset from the exchange's start (begin's ref): with
	// connect, header and response, the attempt's clock readings as
	// offsets, from which a deadline due after one of them needs no read
	// of its own.
	off time.Duration
}

// begin starts the timing of an attempt of the exchange that started at
// ref (readFrom).
func (t *upstreamTiming) begin(ref time.Time) {
	*t = upstreamTiming{connect: -1, header: -1, response: -1}
	t.start, t.off = readFrom(ref)
}

// nowFrom returns the time now as ref plus the monotonic time since ref:
// time.Now's value (but for a step of the wall clock since ref) for one
// read of the clock instead of two (the wall clock's and the monotonic
// one's). ref must hold a monotonic reading, as time.Now's does.
func nowFrom(ref time.Time) time.Time {
	now, _ := readFrom(ref)
	return now
}

// readFrom returns nowFrom(ref) and its offset from ref; with a zero ref,
// time.Now and 0.
func readFrom(ref time.Time) (time.Time, time.Duration) {
	if ref.IsZero() {
		return time.Now(), 0
	}
	d := time.Since(ref)
	return ref.Add(d), d
}

// deadlineFrom returns nowFrom(ref).Add(d), a timeout's deadline, with one
// Time.Add instead of two (some 75 instructions each under callgrind).
func deadlineFrom(ref time.Time, d time.Duration) time.Time {
	if ref.IsZero() {
		return time.Now().Add(d)
	}
	return ref.Add(time.Since(ref) + d)
}

// connected, headerRead and done record the steps of the attempt.
func (t *upstreamTiming) connected(reused bool) {
	if reused {
		t.connect = 0
		return
	}
	t.connect = time.Since(t.start)
}
func (t *upstreamTiming) headerRead() { t.header = time.Since(t.start) }
func (t *upstreamTiming) done() {
	if !t.start.IsZero() && t.response < 0 {
		t.response = time.Since(t.start)
	}
}

// end returns when the attempt's response was read whole (done), with the
// monotonic reading of start, so that the pool needs no clock of its own;
// the time now if done did not run.
func (t *upstreamTiming) end() time.Time {
	if t.start.IsZero() || t.response < 0 {
		return time.Now()
	}
	return t.start.Add(t.response)
}

// requestLength is nginx's $request_length as far as the server lets Weir
// see it: the request line, the header fields as received and the body
// bytes read.
func requestLength(r *http.Request, ex *exchange) int64 {
	n := int64(len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2)
	n += int64(len("Host: ")+len(r.Host)) + 2
	for k, vs := range r.Header {
		for _, v := range vs {
			n += int64(len(k)+2+len(v)) + 2
		}
	}
	return n + 2 + ex.bodyRead.Load()
}

func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "OTHER"
}

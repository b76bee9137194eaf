// Package proxy is Weir's HTTP/1.1 reverse proxy: it routes each request
// with the live router.Router, forwards it to an upstream over a shared
// keepalive pool, applies the nginx meaning of the proxy timeouts per route,
// and reports every request as one access-log line and ingress-nginx named
// Prometheus metrics.
//
// A configuration is applied by compiling a Snapshot into a Router and
// publishing it with one atomic store: a request in flight keeps the Router
// (and so the route and upstream) it started with.
package proxy

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-lb/weir/l7/connlimit"
	"github.com/weir-lb/weir/l7/h1server"
	"github.com/weir-lb/weir/l7/router"
	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// Options configures a Proxy. The zero value is usable: no logs, no access
// log, no metrics, default transport tuning.
type Options struct {
	// Logger receives upstream errors (one record per failed request, with
	// its route) and operational messages. Nil discards them.
	Logger *slog.Logger
	// AccessLog receives one JSON line per request (see accesslog.go for
	// the fields). Writes are serialised. Nil means no access log.
	AccessLog io.Writer
	// Registry is where the Proxy registers its metrics; New panics if the
	// registry already holds metrics of the same names. Nil means no
	// metrics.
	Registry *prometheus.Registry
	// Transport tunes the connection pool to the upstreams.
	Transport TransportOptions
	// HTTPSPort is the port written in the Location of ssl-redirect
	// redirects; 0 and 443 write none. Default 0.
	HTTPSPort int
	// ConnTable counts the requests of limit-connections and keeps the
	// request rates of limit-rps and limit-rpm; the supervisor
	// shares one among its workers (connlimit.OpenTable). Nil means a
	// private Table, made on the first limited request.
	ConnTable *connlimit.Table
	// ConnTableWorker is this process's worker slot in ConnTable. Default
	// 0.
	ConnTableWorker int
	// ClientBodyTimeout is nginx's client_body_timeout: the longest wait
	// between two reads of a request body before the request ends with
	// 408 and its connection closes. Zero means 60s.
	ClientBodyTimeout time.Duration
	// CountUndefinedHosts counts in the request metrics the requests for a
	// host no Ingress defines (router.Router.Defined), labelled with that
	// host: ingress-nginx's --metrics-per-undefined-host, or
	// --metrics-per-host=false, where nothing is left out. Default false:
	// such requests are not counted, as ingress-nginx's default.
	CountUndefinedHosts bool
}

// TransportOptions tunes the keepalive pools of the upstreams. Zero fields
// take their defaults. The HTTP/1 pool's total cap, idle timeout and
// requests per connection are the live configuration's
// upstream-keepalive-* keys.
type TransportOptions struct {
	// MaxIdleConnsPerHost is how many idle keepalive connections are kept
	// per upstream address: by the HTTP/1 pool besides its total cap
	// (default none), by each HTTP/2 client (default 256).
	MaxIdleConnsPerHost int
	// IdleConnTimeout closes an idle HTTP/2 connection. Default 60s.
	IdleConnTimeout time.Duration
	// TCPKeepAlive is the TCP keepalive period of upstream connections.
	// Default 30s; negative disables it.
	TCPKeepAlive time.Duration
}

const (
	defaultMaxIdleConnsPerHost = 256
	defaultIdleConnTimeout     = 60 * time.Second
	defaultTCPKeepAlive        = 30 * time.Second
)

// Proxy is an http.Handler that serves the live configuration. Create it
// with New; it answers 503 until the first Apply.
type Proxy struct {
	httpsPort int // for ssl-redirect Locations; 0: none
	router    atomic.Pointer[router.Router]
	global    atomic.Pointer[globalConfig] // of the live Snapshot; nil before the first Apply (global.go)
	applyMu   sync.Mutex                   // serialises Apply so each Router is compiled from its predecessor
	log       *slog.Logger
	access    *accessLog                                // nil: no access log
	metrics   *metrics                                  // nil: no metrics
	conns     *connStates                               // nil: no metrics; kept by ConnState (connstate.go)
	pool      *connPool                                 // upstream keep-alive connections (forward.go)
	sources   *sourceRanges                             // source-range enforcement (sourcerange.go)
	auth      *authenticator                            // authentication and satisfy (auth.go)
	connLimit *connLimits                               // limit-connections (limitconn.go)
	blocked   *prometheus.CounterVec                    // block-* refusals (block.go); nil: no metrics
	rateLimit *rateLimits                               // limit-rps and limit-rpm (ratelimit.go)
	corsCache ptrCache[annotations.CORS, *compiledCORS] // enable-cors (cors.go)
	mirrors   *mirrors                                  // mirror-target (mirror.go)
	tunnels   tunnelSet                                 // open WebSocket tunnels, for GoAway (shutdown.go)
	kinds     upstreamKinds                             // protocols and TLS settings to upstreams (upstream.go)
	h2        h2Transports                              // HTTP/2 clients of GRPC, GRPCS and H2C (h2.go)
	// clientBody and clientSend are clientBodyTimeout and
	// clientSendTimeout; tests shorten them.
	clientBody, clientSend time.Duration

	clientAuths clientAuths // client certificate verification (clientauth.go)

	// httpsPortText is httpsPortText(httpsPort), for forwarding.
	httpsPortText string

	// noRelayLoop keeps this Proxy's tunnels on goroutine pumps even when
	// the process's relay loop runs (wsloop.go); tests set it.
	noRelayLoop atomic.Bool
}

// New returns a Proxy with no configuration.
func New(opts Options) *Proxy {
	p := &Proxy{log: opts.Logger, httpsPort: opts.HTTPSPort, httpsPortText: httpsPortText(opts.HTTPSPort), clientBody: opts.ClientBodyTimeout, clientSend: clientSendTimeout}
	if p.clientBody <= 0 {
		p.clientBody = defaultClientBodyTimeout
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if opts.AccessLog != nil {
		p.access = &accessLog{w: opts.AccessLog}
	}
	if opts.Registry != nil {
		p.metrics = newMetrics(opts.Registry)
		p.metrics.countUndefined = opts.CountUndefinedHosts
		p.metrics.defined = func(ex *exchange, host string) bool {
			rt := p.router.Load()
			return rt != nil && rt.DefinedAs(ex.host, host)
		}
		p.conns = newConnStates(opts.Registry, p.metrics.tunnelsOpen)
	}
	p.pool = newConnPool(opts.Transport)
	p.h2.maxIdle, p.h2.idleTimeout = opts.Transport.h2Limits()
	p.sources = newSourceRanges(opts.Registry)
	p.auth = newAuthenticator(opts.Registry)
	p.blocked = newBlockedCounter(opts.Registry)
	p.connLimit = newConnLimits(opts.ConnTable, opts.ConnTableWorker, opts.Registry)
	p.rateLimit = newRateLimits(p.connLimit, opts.Registry)
	p.mirrors = newMirrors(p.log, opts.Registry)
	return p
}

// Apply compiles s into a Router and makes it live with one atomic store.
// Requests already in flight finish with the Router they started with. On
// error the live configuration is unchanged.
func (p *Proxy) Apply(s *snapshot.Snapshot) error { return p.ApplyWith(s, nil) }

// ApplyWith is Apply with before (nil: none) called once s compiled and
// before its Router is live: the certificates (certs.Manager.Apply), so that
// a route's redirect never points at a host whose certificate is not yet
// served, and a Snapshot the Router refuses changes neither. before's error
// is returned, joined, and does not stop the Router.
func (p *Proxy) ApplyWith(s *snapshot.Snapshot, before func(*snapshot.Snapshot) error) error {
	p.applyMu.Lock()
	defer p.applyMu.Unlock()
	r, err := router.Compile(s, p.router.Load())
	if err != nil {
		return fmt.Errorf("apply snapshot: %w", err)
	}
	if before != nil {
		err = before(s)
	}
	g := compileGlobal(s.Global)
	g.hsts = s.HSTS
	p.global.Store(g)
	p.pool.setLimits(upstreamKeepalive(s.Global))
	p.router.Store(r)
	if p.metrics != nil {
		p.metrics.reset()
		p.metrics.version.Set(float64(s.Version))
	}
	return err
}

// Version returns the Version of the live Snapshot, 0 before the first
// Apply.
func (p *Proxy) Version() uint64 {
	if r := p.router.Load(); r != nil {
		return r.Version()
	}
	return 0
}

// Live reports whether a first Snapshot has been applied.
func (p *Proxy) Live() bool { return p.router.Load() != nil }

// Close closes the idle upstream connections and writes the access-log
// lines buffered. The Proxy stays usable.
func (p *Proxy) Close() {
	p.pool.closeIdle()
	p.auth.close()
	p.h2.closeIdle()
	if p.access != nil {
		p.access.flush()
	}
}

// ServeHTTP routes r and proxies it to an upstream of its route: 404 without
// a route, 403 for a client refused by the route's source ranges, 503
// without endpoints, 413 for a body over the route's limit.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The exchange and the recorder in one piece of memory, recycled
	// when nothing can touch it any more (finish).
	st := servedPool.Get().(*served)
	ex, rec := &st.ex, &st.rec
	g := p.liveGlobal()
	ex.start = requestStart(w)
	g.dropInvalidHeaders(r.Header) // invalidheaders.go: before anything reads a header
	ex.requestID = requestID(r, !g.Logs.NoRequestID)
	g.forwarding(&ex.fwd, w, r, p.httpsPortText)
	rec.ResponseWriter = w
	if p.access != nil {
		p.access.begin()
	}
	defer p.finish(st, r)
	p.liveGlobal().serverHeader(w.Header()) // servertokens.go: Weir's own responses too
	// add-headers is more_set_headers in ingress-nginx's http{}: every
	// response of every server gets it, those of no location (a host no
	// rule names, a server-level redirect or refusal) too. A proxied
	// response sets it again over the upstream's (responseHeaders).
	g.addHeaders.set(w.Header(), ex, r)

	rt := p.router.Load()
	if rt == nil {
		writeError(rec, http.StatusServiceUnavailable)
		return
	}
	// block-user-agents and block-referers are server-level rules of every
	// server in nginx: before routing. block-cidrs is an access-phase deny,
	// checked below after the redirects, and before a 404 too.
	blocks := &p.liveGlobal().block
	if p.block(rec, blocks.blockedHeader(r)) {
		return
	}
	// A write deadline left by the previous request of this keep-alive
	// connection must not cut this one; forward arms its own per write.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	// Client certificates are checked per server, before any location, as
	// nginx does; then the server-level redirects.
	// The host's server is looked up once for the three.
	hs, name := rt.LookupName(r.Host)
	ex.hostVar, ex.host = router.HostVarOf(r.Host, name), hs
	if p.clientCert(rec, r, rt, hs) {
		// Answered before any location: $proxy_upstream_name is the
		// server's "-" (auth-tls-match-cn's 403 follows the server's
		// set; the 400s come before it, where ingress-nginx's
		// lua_add_variable gives nginx's "-" of a value not found).
		ex.findConfig = true
		return
	}
	if p.hostRedirect(rec, r, hs, &ex.fwd) { // redirect.go
		return
	}
	path := requestPath(r)
	route, ok := hs.Match(path)
	if hs.Healthz(path, route) {
		// ingress-nginx's default server's location /healthz, "return
		// 200" whatever the method: no access log, no metrics (no
		// log_by_lua), no HSTS (no header filter of ingress-nginx's).
		// The http-level client_max_body_size (proxy-body-size) holds
		// in the find-config phase; block-cidrs' deny does not, the
		// rewrite phase's return comes first (nginx 1.22.1: 413 for a
		// body over it, 200 to a client denied).
		ex.healthz = true
		if p.defaultBodyTooLarge(rec, r, ex, g) {
			return
		}
		h := rec.Header()
		h.Set("Content-Type", cmp.Or(g.contentType, "text/html"))
		h.Set("Content-Length", "0")
		rec.WriteHeader(http.StatusOK)
		return
	}
	ex.defaultServer = defaultServerBackend(hs, route) // accesslog.go
	if !ok {
		// Weir's own 404 for a host no rule names, with no default
		// backend: ingress-nginx answers it from the default server's
		// root location, whose header filter adds HSTS on HTTPS, as any
		// location's does (its block-cidrs deny included).
		// Its client_max_body_size is the ConfigMap's proxy-body-size,
		// checked before its block-cidrs deny, as a route's.
		ownHSTS(rec.Header(), r, g.hsts) // redirect.go
		if !p.defaultBodyTooLarge(rec, r, ex, g) && !p.block(rec, blocks.blockedAddrRule(ex.fwd.remote)) {
			writeError(rec, http.StatusNotFound)
		}
		return
	}
	ex.route = route
	ex.noStickyCookie = !hs.StickyCookie()
	// HSTS from here on: ingress-nginx's header filter is the location's,
	// so every answer of a location (a CORS preflight, a denied location,
	// a redirect, a refusal) carries it, the server-level ones above none.
	ownHSTS(rec.Header(), r, g.hsts) // redirect.go
	// A declared body over proxy-body-size is refused as soon as the
	// location is found, as nginx's find-config phase does, before the
	// rewrite phase's CORS preflight and redirects, the limits and the
	// access phase; a chunked one is cut as it is read (limitedBody). A
	// location ingress-nginx denies (nginx.tmpl's "return 503" in place
	// of everything else of the location, its redirects, limits and
	// access rules included) has no client_max_body_size of its own:
	// nginx's 1m applies, then its 503.
	limit := route.Backend.Proxy.BodySizeBytes
	upDenied, accessDenied := upstreamDenial(route.Backend), accessDenial(route.Backend) // upstream.go
	if upDenied || accessDenied {
		limit = nginxBodySize
	} else {
		// The location's more_set_headers (custom-headers, with
		// add-headers again) apply to every response once nginx has
		// found the location, its own 413 and redirect of a path
		// ending in "/" included; a denied location has none.
		p.routeHeaders(rec.Header(), route, ex, r) // respheaders.go
	}
	if limit > 0 && r.ContentLength > limit {
		// Through the location's error_page (custom-http-errors), which
		// a denied location has none of.
		ex.findConfig = true
		if upDenied || accessDenied || !p.interceptOwn(rec, r, http.StatusRequestEntityTooLarge, ex) {
			writeError(rec, http.StatusRequestEntityTooLarge)
		}
		return
	}
	switch {
	case upDenied:
		p.deniedError(rec, r, ex) // customerrors.go
		return
	case accessDenied:
		if !p.accessPhase(rec, r, ex, route) { // its 503, counted (auth.go)
			writeError(rec, http.StatusServiceUnavailable)
		}
		return
	}
	// nginx's automatic redirect of a prefix location ending in "/"
	// (set by its proxy_pass; a denied location, which has none, has no
	// redirect), after client_max_body_size in its find-config phase.
	if route.SlashRedirect && path == route.Path {
		ex.findConfig = true
		p.slashRedirect(rec, r, route) // redirect.go
		return
	}
	// The CORS preflight is answered in nginx's rewrite phase, before the
	// location's redirects (nginx.tmpl's CORS block comes first).
	if p.cors(rec, r, route, ex) {
		return
	}
	if p.locationRedirect(rec, r, route) || p.tlsPolicy(rec, r, hs, &ex.fwd, route) {
		return
	}
	// limit_req and limit_conn run in nginx's preaccess phase, in this
	// order, before allow and deny.
	limitKey := p.liveGlobal().limitKeyOf(ex, r) // limit-conn-zone-variable; nil: the client address
	if !p.rateLimit.admit(ex.fwd.remote, limitKey, route) {
		p.ownError(rec, r, ex, p.liveGlobal().limitReqStatus) // customerrors.go
		return
	}
	slot, ok := p.connLimit.acquire(ex.fwd.remote, limitKey, route)
	if !ok {
		p.ownError(rec, r, ex, p.liveGlobal().limitConnStatus)
		return
	}
	defer slot.Release()
	if rule := blocks.blockedAddrRule(ex.fwd.remote); rule != "" {
		// Its 403 goes to the location's error_page, whose @custom_
		// location refuses it again (blockedErrorPage).
		if !p.interceptOwn(rec, r, http.StatusForbidden, ex) { // customerrors.go
			p.block(rec, rule)
		}
		return
	}
	if p.accessPhase(rec, r, ex, route) { // source ranges and authentication (auth.go)
		return
	}
	ex.timeouts = timeoutsOf(route.Backend)
	pool := rt.PoolOf(route)
	if pool == nil { // upstream-default-backend without a Service
		p.internalDefault(rec, r, ex) // customerrors.go
		return
	}
	if c := route.Pick(r, nil); c != nil {
		pool, ex.canary = c.Pool, c.Name
	}
	if limit > 0 && r.Body != nil && r.Body != http.NoBody {
		r.Body = &limitedBody{rc: r.Body, left: limit, limit: limit}
	}
	// nginx's precontent phase, before its balancer finds an endpoint or
	// none.
	p.mirrors.start(r, route)
	up, ok := p.pickUpstream(rec, r, ex, pool) // balance.go
	if !ok {
		if !p.noEndpoints(rec, r, ex) { // customerrors.go
			writeError(rec, http.StatusServiceUnavailable)
		}
		return
	}
	ex.pool = pool
	ex.use(up)
	defer func() { ex.upstream.InFlight.Add(-1) }()
	r = withExchange(r, ex)
	if isUpgrade(r) {
		p.serveUpgrade(rec, r, ex) // websocket.go
		return
	}
	continueBodiless(rec, r)
	p.forward(rec, r, ex) // forward.go
}

// defaultBodyTooLarge answers 413, and reports it, for a request of the
// default server whose declared body is over the ConfigMap's
// proxy-body-size (its client_max_body_size, in nginx's find-config
// phase).
func (p *Proxy) defaultBodyTooLarge(rec *responseRecorder, r *http.Request, ex *exchange, g *globalConfig) bool {
	if g.defaultBodySize > 0 && r.ContentLength > g.defaultBodySize {
		ex.findConfig = true
		writeError(rec, http.StatusRequestEntityTooLarge)
		return true
	}
	return false
}

// continueBodiless answers "100 Continue" to an HTTP/1.1 request without a
// body that expects it (Expect: 100-continue), as nginx does for every
// request it proxies (ngx_http_read_client_request_body calls
// ngx_http_test_expect before it looks for a body); a request with a body
// gets it from the server when its body is first read. The interim
// response carries no field, as nginx's: those set so far (HSTS) wait for
// the final one.
func continueBodiless(rec *responseRecorder, r *http.Request) {
	if r.ProtoMajor != 1 || r.ProtoMinor == 0 || r.ContentLength != 0 || r.Body != nil && r.Body != http.NoBody {
		return
	}
	if e := r.Header["Expect"]; len(e) == 0 || !strings.EqualFold(e[0], "100-continue") {
		return
	}
	h := rec.Header()
	own := h.Clone()
	clear(h)
	rec.WriteHeader(http.StatusContinue)
	copyHeader(h, own)
}

// starter is l7/h1server's response writer, which may have read the
// clock as the request's first bytes came (h1server's Started).
type starter interface{ Started() time.Time }

// requestStart returns the request's start: its server's reading when
// it made one for it (a clock read fewer), the time now otherwise.
func requestStart(w http.ResponseWriter) time.Time {
	if s, ok := w.(starter); ok {
		if t := s.Started(); !t.IsZero() {
			return t
		}
	}
	return time.Now()
}

// finish logs and counts the request. It runs deferred, also when
// forwarding aborts the response (panic http.ErrAbortHandler), which it
// re-raises after recording.
func (p *Proxy) finish(st *served, r *http.Request) {
	ex, rec := &st.ex, &st.rec
	v := recover()
	status := rec.status
	if ex.status != 0 && status == 0 {
		status = ex.status
	}
	if status == 0 {
		if v != nil {
			status = http.StatusBadGateway
		} else {
			status = http.StatusOK
		}
	}
	observeUpstream(ex) // balance.go
	duration := ex.duration()
	if err, reason := ex.failure(); err != nil {
		p.logUpstreamError(r, ex, status, reason, err)
		if p.metrics != nil {
			p.metrics.upstreamErrors.WithLabelValues(reason).Inc()
		}
	}
	// The metrics first: once a request's access-log line is written, its
	// series count it (tests wait on the line); and the process's request
	// count last of them, so that once it counts a request every series
	// of that request does (TestRefusedMetrics waits on it).
	if p.metrics != nil {
		ex.timing.done()
		if !ex.healthz {
			p.metrics.observe(r, ex, status, nginxRequestLength(r, ex, rec), bytesSent(r, ex, rec, status), duration)
		}
		p.conns.requests.Add(1)
	}
	if p.access != nil {
		g := p.liveGlobal()
		off := ex.healthz || g.DisableAccessLog || g.DisableHTTPAccessLog || g.skipped(r) || !ex.atErrorPage() &&
			(ex.defaultServer && !g.Logs.DefaultBackend || ex.route != nil && ex.route.Backend.Proxy.AccessLogOff)
		p.access.write(r, ex, rec, status, duration, g.logFormat, off) // log-format-upstream (logformat.go)
	}
	if v != nil {
		panic(v)
	}
	if ex.recyclable {
		st.recycle()
	} else {
		ex.dropBuffers()
	}
}

// duration returns the time since the request's start: endRead's
// reading, as nginx's $request_time and $upstream_response_time come
// from the same cached time when the response's last bytes end the
// request, or the clock's.
func (ex *exchange) duration() time.Duration {
	if t := &ex.timing; ex.endRead && t.response >= 0 {
		return t.off + t.response
	}
	return time.Since(ex.start)
}

// dropBuffers returns the exchange's writer, reader, response parse,
// spare upstream request and copy buffer (exchange.bw) to their pools, for
// an exchange that is not recycled; their last user left them reset
// (exchange, upstreamConn.release, forward).
func (ex *exchange) dropBuffers() {
	putBack(&writers, &ex.bw)
	putBack(&readers, &ex.br)
	putBack(&outRequests, &ex.spareOut)
	putBack(&copyBuffers, &ex.copyBuf)
	if ex.fast != nil {
		ex.fast.recycle()
		ex.fast = nil
	}
}

// putBack returns *p, if any, to pool and clears it.
func putBack[T any](pool *sync.Pool, p **T) {
	if *p != nil {
		pool.Put(*p)
		*p = nil
	}
}

// served is the exchange and recorder of a request.
type served struct {
	ex  exchange
	rec responseRecorder
}

var servedPool = sync.Pool{New: func() any { return new(served) }}

// recycle returns st, zeroed, to servedPool. Only a request whose exchange
// nothing else can reach any more is recycled (exchange.recyclable).
func (st *served) recycle() {
	ex := &st.ex
	bw, br, fast, out, buf := ex.bw, ex.br, ex.fast, ex.spareOut, ex.copyBuf
	// Zeroed in place, then the five set: a literal with fields is built
	// in a stack temporary (1 120 bytes zeroed) and copied over (some 200
	// instructions more under callgrind).
	*ex = exchange{}
	ex.bw, ex.br, ex.fast, ex.spareOut, ex.copyBuf = bw, br, fast, out, buf
	st.rec = responseRecorder{}
	servedPool.Put(st)
}

// limitedBody is http.MaxBytesReader without its hint to the
// ResponseWriter; handleError closes the connection itself. Reading past limit bytes
// fails with *http.MaxBytesError.
type limitedBody struct {
	rc    io.ReadCloser
	left  int64
	limit int64
	err   error
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	// Read one byte more than allowed, to tell "exactly at the limit" from
	// "over it".
	if int64(len(p))-1 > b.left {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	if int64(n) <= b.left {
		b.left -= int64(n)
		b.err = err
		return n, err
	}
	n = int(b.left)
	b.left = 0
	b.err = &http.MaxBytesError{Limit: b.limit}
	return n, b.err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// exchange is the state of one proxied request, shared through the request
// context by the handler, the transport wrapper and the error handler.
type exchange struct {
	start     time.Time
	requestID string
	fwd       forwarding       // the client address and forwarded headers (clientaddr.go)
	route     *router.Route    // nil when no route matched
	upstream  *router.Upstream // nil when none was selected; the last one tried
	// hostVar is nginx's $host of the request (router.HostVar of its
	// Host, which nothing changes), kept from its Lookup for the metrics'
	// host label; "" when not looked up.
	hostVar string
	host    router.Host // the lookup's, for the metrics' Defined; zero when not looked up
	// tried are the upstreams the request was sent to, in order, upstream
	// last (more than one when it was passed to the next, nextupstream.go).
	tried    []*router.Upstream
	triedBuf [1]*router.Upstream // tried's array while it has one
	// passed are the attempts passed to the next upstream (tried but the
	// last), in order, for the access log's $upstream_* lists; nil when
	// the first attempt is the last.
	passed []passedAttempt
	// redirect is the exchange of the error page or default-backend
	// Service that answered instead (customerrors.go), whose attempts the
	// access log's $upstream_* lists after these, as nginx's after an
	// internal redirect; nil when none.
	redirect *exchange
	// upstreamBody is the bytes of the last attempt's response body read
	// from an HTTP/1 upstream, framing included ($upstream_response_length),
	// when bodyCounted; bodyConn and bodyMark count them while the body is
	// relayed (countBody).
	upstreamBody int64
	bodyCounted  bool
	bodyConn     *upstreamConn
	bodyMark     int64
	pool         *router.Pool // the pool upstream was selected from
	canary       string       // upstream name of the chosen canary; "" for the main backend
	// sticky is the number of Set-Cookie lines of the response header,
	// leading its others, that are the affinity cookies pickUpstream
	// added (balance.go).
	sticky int
	// noStickyCookie is set when the request's host is one that
	// ingress-nginx's sticky balancer sets no affinity cookie for
	// (router.Host.StickyCookie): the cookie still pins the request.
	noStickyCookie bool
	// intercepted is set on the exchange of a custom error's request
	// (customerrors.go), which is not intercepted again.
	intercepted bool
	// origin is the exchange whose route, without endpoints, this one's
	// default-backend Service serves (customerrors.go's noEndpoints); nil
	// otherwise.
	origin *exchange
	// errorPage is set on the exchange of a custom error page served as
	// nginx's @custom_ location (customerrors.go): a named location
	// without ingress-nginx's header filter, so no HSTS of Weir's.
	errorPage bool
	// findConfig is set when the request is answered in nginx's
	// find-config phase (a declared body over client_max_body_size, the
	// automatic trailing-slash redirect), before its location's rewrite
	// phase: $proxy_upstream_name is the server's "-"
	// (nginx.tmpl's server-level set), not the location's.
	findConfig bool
	// healthz is set when the request is answered by the default
	// server's location /healthz (router.Host.Healthz): neither logged nor
	// observed.
	healthz bool
	// defaultServer is set when the request is answered by the default
	// server's default backend (defaultServerBackend), which is not logged
	// without enable-access-log-for-default-backend.
	defaultServer bool
	// cors and corsOrigin are the CORS headers of a matching request
	// (cors.go); cors is nil otherwise.
	cors       *compiledCORS
	corsOrigin string
	timeouts   timeouts
	// out backs the upstream request while forward sends it; outShared is
	// set when an HTTP/2 client had it, which may keep it: it is then not
	// recycled (upstreamreq.go).
	out       *outRequest
	outShared bool
	// recyclable is set when the request was forwarded on the plain path
	// whose references to the exchange all end with ServeHTTP: a body-less
	// request over HTTP/1 to the upstream, through a context that is a
	// doneNotifier whose clientGone never started; finish then recycles it.
	// hold is set for good once any of that does not hold.
	recyclable, hold bool
	// endRead is set when the request's end is its last attempt's
	// response read whole (upstreamTiming.done's reading), after which
	// nothing that may wait came (exchange): duration needs no read of the
	// clock of its own.
	endRead bool
	// conn backs the upstream connection of the request's first attempt
	// (forward.go): connUsed once taken, later attempts allocate theirs.
	conn     upstreamConn
	connUsed bool
	// bw, br and fast are the upstream request's writer, the response's
	// reader and its parse (readResponse) of the exchange's attempts, each
	// taken from its pool when first needed and kept, reset, when the
	// exchange is recycled (served.recycle): a request whose served came
	// from servedPool takes none of them from their pools again.
	bw   *bufio.Writer
	br   *bufio.Reader
	fast *fastResponse
	// spareOut is the upstream request forward used last, clean, for the
	// next forward (outgoing); copyBuf is copyBody's buffer. Both are
	// kept as bw is.
	spareOut *outRequest
	copyBuf  *[copyBufferSize]byte
	// rewriteVals back the header values rewrite sets (headers.go):
	// rewriteKeys', then X-Original-URI's.
	rewriteVals [len(rewriteKeys) + 1]string
	status      int            // status to record when nothing was written (499)
	timing      upstreamTiming // the last attempt's, for the metrics
	bodyRead    atomic.Int64   // request body bytes read from the client

	mu      sync.Mutex
	err     error  // the first upstream error
	why     string // its reason, a weir_upstream_errors_total label
	bodyErr error  // the error reading the client's request body
}

type exchangeKey struct{}

// valueSetter is a request context that holds one value itself
// (l7/h1server's): no context.WithValue and Request.WithContext copy.
type valueSetter interface {
	SetValue(key, val any) bool
}

// withExchange returns r with ex in its context (exchangeFrom).
func withExchange(r *http.Request, ex *exchange) *http.Request {
	if s, ok := r.Context().(valueSetter); ok && s.SetValue(exchangeKey{}, ex) {
		return r
	}
	return r.WithContext(context.WithValue(r.Context(), exchangeKey{}, ex))
}

// doneNotifier is a request context that runs functions once done without
// context.AfterFunc's allocations (l7/h1server's).
type doneNotifier interface {
	AfterDone(f func(arg any), arg any) uint64
	StopAfterDone(id uint64) bool
}

// afterClientGone is context.AfterFunc(ctx, uc.clientGone), through ctx's
// doneNotifier when it has one (no allocation); stop is then nil and
// n.StopAfterDone(id) stops it.
func afterClientGone(ctx context.Context, uc *upstreamConn) (n doneNotifier, id uint64, stop func() bool) {
	if n, ok := ctx.(doneNotifier); ok {
		return n, n.AfterDone(upstreamClientGone, uc), nil
	}
	return nil, 0, context.AfterFunc(ctx, uc.clientGone)
}

func upstreamClientGone(uc any) { uc.(*upstreamConn).clientGone() }

func exchangeFrom(ctx context.Context) *exchange {
	ex, _ := ctx.Value(exchangeKey{}).(*exchange)
	return ex
}

// use makes up the request's upstream and counts the request in flight on
// it instead of on the previous one.
func (ex *exchange) use(up *router.Upstream) {
	if ex.upstream != nil {
		ex.upstream.InFlight.Add(-1)
	}
	ex.upstream = up
	if ex.tried == nil {
		ex.tried = ex.triedBuf[:0]
	}
	ex.tried = append(ex.tried, up)
	up.InFlight.Add(1)
}

// fail records the first upstream error of the request and its reason.
func (ex *exchange) fail(err error, reason string) {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if ex.err == nil {
		ex.err, ex.why = err, reason
	}
}

func (ex *exchange) setBodyErr(err error) {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if ex.bodyErr == nil {
		ex.bodyErr = err
	}
}

func (ex *exchange) clientBodyErr() error {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	return ex.bodyErr
}

func (ex *exchange) failure() (error, string) {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	return ex.err, ex.why
}

// responseRecorder records the status and body size of a response.
type responseRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	// beforeHeader, when set, may add headers once the final status is
	// known, before they are written (auth.go's cookies).
	beforeHeader func(h http.Header, status int)
	// statusLine is the upstream's status line relayed to the client
	// (relayStatusLine), "" when the server writes its own.
	statusLine string
	// head is the length of a response head written on the hijacked
	// connection (a 101's, websocket.go), which sent counts; 0: none.
	head int64
	// flushed is whether Flush was called: net/http's server has then
	// written the head, without a length of its own (netHTTPHead).
	flushed bool
}

// statusLiner is l7/h1server's response writer, which writes the status
// line it is given.
type statusLiner interface{ SetStatusLine(line string) }

// relayStatusLine has the client's server write resp's status line, code
// and reason as the upstream sent them ("200 Custom Text", "404", "599
// Odd"), as nginx relays them (ngx_http_proxy_process_status_line), for
// the next WriteHeader. Only l7/h1server's writer takes it: HTTP/2 has no
// reason phrase, to the client or from the upstream (whose resp.Status is
// Go's text for the code: the client gets nginx's). The usual "200 OK",
// nginx's own line too, costs a comparison.
func (w *responseRecorder) relayStatusLine(resp *http.Response) {
	if resp.Status == "200 OK" || resp.ProtoMajor != 1 {
		return
	}
	if sl, ok := w.ResponseWriter.(statusLiner); ok {
		sl.SetStatusLine(resp.Status)
		if resp.StatusCode >= 200 {
			w.statusLine = resp.Status
		}
	}
}

// fieldOrderer is l7/h1server's response writer, which writes the fields
// in the order and with the names it is given.
type fieldOrderer interface {
	SetFieldOrder(order []h1server.FieldName)
}

// relayFieldOrder has the client's server write the response's fields in
// order, the upstream's order and spelling, as nginx relays them (Weir's
// own fields after them). Only l7/h1server's writer takes it: HTTP/2
// names are lower case, in any order.
func (w *responseRecorder) relayFieldOrder(order []h1server.FieldName) {
	if len(order) == 0 {
		return
	}
	if fo, ok := w.ResponseWriter.(fieldOrderer); ok {
		fo.SetFieldOrder(order)
	}
}

// listedLengther is l7/h1server's response writer, which writes a
// Content-Length more_set_headers set among the other fields.
type listedLengther interface{ SetListedLength() }

// listedLength tells the client's server that the response's
// Content-Length is a more_set_headers line of nginx's own response (the
// CORS preflight's), which nginx writes after the fields before it
// rather than after Content-Type. Only l7/h1server's writer takes it.
func (w *responseRecorder) listedLength() {
	if ll, ok := w.ResponseWriter.(listedLengther); ok {
		ll.SetListedLength()
	}
}

// absoluteLocationer is l7/h1server's response writer, which writes a
// Location nginx made absolute where nginx's header filter writes it.
type absoluteLocationer interface{ SetAbsoluteLocation() }

// absoluteLocation tells the client's server that the response's Location
// is one nginx would have made absolute itself from a "/" target
// (absolute_redirect), which nginx writes before Transfer-Encoding and
// Connection rather than among the other fields. Only l7/h1server's
// writer takes it: HTTP/2's fields have no such order.
func (w *responseRecorder) absoluteLocation() {
	if al, ok := w.ResponseWriter.(absoluteLocationer); ok {
		al.SetAbsoluteLocation()
	}
}

func (w *responseRecorder) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
		if w.beforeHeader != nil {
			w.beforeHeader(w.Header(), code)
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush sends buffered data to the client.
func (w *responseRecorder) Flush() {
	w.flushed = true
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack takes over the connection for a protocol upgrade (WebSocket); the
// request is recorded as 101.
func (w *responseRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return c, brw, err
}

// Unwrap gives http.ResponseController access to the client connection.
func (w *responseRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// copyBuffers recycles the 32 KiB buffers that copy bodies and tunnels.
const copyBufferSize = 32 << 10

var copyBuffers = sync.Pool{New: func() any { return new([copyBufferSize]byte) }}

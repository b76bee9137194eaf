package proxy

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/weir-lb/weir/userspace/annotations"
)

// A request whose upstream fails before any byte of the response reached
// the client is passed to the next upstream of its pool, with nginx's
// proxy_next_upstream rules (the route's proxy-next-upstream,
// proxy-next-upstream-tries and proxy-next-upstream-timeout):
//
//   - only for the conditions listed: error (connect, send or read
//     failure), timeout, invalid_header, or a response status http_5xx,
//     http_403, http_404, http_429 (that response is then not relayed);
//   - a POST, LOCK or PATCH already sent (the connection was made) is not
//     passed on unless non_idempotent is listed; one that failed to connect
//     is;
//   - never once the request body was read from the client (it cannot be
//     replayed: Weir streams it, nginx would have buffered it), nor once the
//     client went away;
//   - at most tries attempts in all, and not once the timeout has passed
//     since the first attempt (0: no limit). As ingress-nginx's balancer
//     (proxy_next_upstream_tries bounds its set_more_tries), an upstream
//     is tried again once every one was: one failing endpoint is tried
//     tries times. tries 0 is no limit there (retries without end); Weir
//     then tries each upstream once.
//
// No passive health: as ingress-nginx's Lua balancer (balancer_by_lua sets
// each peer itself, so nginx's max_fails and fail_timeout never count), an
// upstream that failed stays in rotation and the next request in its turn
// tries it again.
//
// A request passed on is still one access-log line; its upstream field lists
// the addresses tried, as nginx's $upstream_addr ("a, b"), and a log
// format's $upstream_status, $upstream_response_time and
// $upstream_response_length one value per attempt (passedAttempt). Each attempt
// passed on is logged ("upstream failed, trying the next") and, for the
// error conditions, counted in weir_upstream_errors_total.

// attemptError is the failure of one upstream before any byte of the
// response reached the client.
type attemptError struct {
	err  error
	cond annotations.NextUpstream // the condition it meets
	sent bool                     // the request reached the upstream, at least in part
	// status is the upstream's answer, when its status is the failure (0:
	// none, an error or a timeout).
	status int
}

// passedAttempt is what nginx's $upstream_status, $upstream_response_time,
// $upstream_connect_time and $upstream_header_time keep of an attempt
// passed to the next upstream (its $upstream_response_length is 0: no body
// was read).
type passedAttempt struct {
	status int           // the status answered, else 504 (timeout) or 502, as ngx_http_upstream_next
	time   time.Duration // from the attempt's start to its failure
	// connect and header are from the attempt's start to the connection
	// and to the response header; -1 when not reached ("-").
	connect, header time.Duration
}

// newAttemptError classifies err from an upstream that was sent (at least
// part of) the request, or, unless sent, that could not be connected to.
func newAttemptError(err error, sent bool) *attemptError {
	return &attemptError{err: err, cond: conditionOf(err), sent: sent}
}

// conditionOf returns the proxy_next_upstream condition of an upstream
// error: timeout, error (the connection failed or closed) or
// invalid_header (anything else the upstream sent that is not a response).
func conditionOf(err error) annotations.NextUpstream {
	var ne net.Error
	var de *dialError
	switch {
	case errors.Is(err, errConnectTimeout), errors.Is(err, errSendTimeout), errors.Is(err, errReadTimeout):
		return annotations.NextTimeout
	case errors.Is(err, errHeaderTooLarge):
		return annotations.NextInvalidHeader
	case errors.As(err, &de), errors.As(err, &ne), errors.As(err, new(syscall.Errno)), errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed), errors.Is(err, errClientGone):
		return annotations.NextError
	}
	return annotations.NextInvalidHeader
}

// nextPolicy decides whether a failed attempt of one request is passed to
// the next upstream.
type nextPolicy struct {
	r     *http.Request
	rec   *responseRecorder
	ex    *exchange
	body  *clientBody // nil: no body
	start time.Time   // of the first attempt; zero without a proxy-next-upstream-timeout
}

// newNextPolicy returns the policy of a request about to make its first
// attempt. Only a route with a proxy-next-upstream-timeout reads the clock
// for it: allows reads start for no other.
func newNextPolicy(r *http.Request, rec *responseRecorder, ex *exchange, body *clientBody) nextPolicy {
	n := nextPolicy{r: r, rec: rec, ex: ex, body: body}
	if ex.route.Backend.Proxy.NextUpstreamTimeoutSeconds > 0 {
		n.start = time.Now()
	}
	return n
}

// nonIdempotent reports whether nginx holds a request of method that was
// sent back from the next upstream.
func nonIdempotent(method string) bool {
	return method == http.MethodPost || method == http.MethodPatch || method == "LOCK"
}

// allows reports whether a failure meeting cond, after the request was sent
// or not, is passed to the next upstream.
func (n *nextPolicy) allows(cond annotations.NextUpstream, sent bool) bool {
	cfg := &n.ex.route.Backend.Proxy
	switch {
	case !cfg.NextUpstream.Has(cond):
		return false
	case sent && nonIdempotent(n.r.Method) && !cfg.NextUpstream.Has(annotations.NextNonIdempotent):
		return false
	case n.body != nil && n.body.read, n.rec.status != 0:
		return false // the body cannot be replayed; the response has started
	case n.r.Context().Err() != nil || n.ex.clientBodyErr() != nil:
		return false
	case cfg.NextUpstreamTries > 0 && len(n.ex.tried) >= cfg.NextUpstreamTries:
		return false
	case cfg.NextUpstreamTimeoutSeconds > 0 && time.Since(n.start) >= time.Duration(cfg.NextUpstreamTimeoutSeconds)*time.Second:
		return false
	}
	// proxy-next-upstream-tries 0 is no limit: ingress-nginx's balancer
	// would retry without end; Weir tries each upstream once.
	return cfg.NextUpstreamTries > 0 || len(n.ex.tried) < n.ex.pool.Len()
}

// passOn switches the request whose upstream failed with fail to the next
// upstream and reports true, when the policy allows.
func (p *Proxy) passOn(n *nextPolicy, fail *attemptError) bool {
	ex := n.ex
	failed := ex.upstream
	if !n.allows(fail.cond, fail.sent) {
		return false
	}
	next, ok := p.pickUpstream(n.rec, n.r, ex, ex.pool) // balance.go
	if !ok {
		return false
	}
	_, reason := classify(fail.err)
	if p.metrics != nil && fail.cond&(annotations.NextError|annotations.NextTimeout|annotations.NextInvalidHeader) != 0 {
		p.metrics.upstreamErrors.WithLabelValues(reason).Inc()
	}
	p.log.LogAttrs(n.r.Context(), slog.LevelWarn, "upstream failed, trying the next",
		slog.String("condition", fail.cond.String()),
		slog.String("reason", reason),
		slog.String("host", n.r.Host),
		slog.String("path", n.r.URL.Path),
		slog.String("request_id", ex.requestID),
		slog.String("upstream", failed.Addr),
		slog.String("next", next.Addr),
		slog.Any("error", fail.err))
	ex.timing.done()
	ex.passed = append(ex.passed, passedAttempt{status: fail.upstreamStatus(), time: max(ex.timing.response, 0),
		connect: ex.timing.connect, header: ex.timing.header})
	ex.use(next)
	return true
}

// upstreamStatus is the $upstream_status nginx logs for the failed attempt:
// the status answered, 504 after a timeout, 502 after an error.
func (a *attemptError) upstreamStatus() int {
	switch {
	case a.status != 0:
		return a.status
	case a.cond == annotations.NextTimeout:
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

// Package h1guard checks HTTP/1.1 requests as strictly as nginx before
// net/http reads them. net/http is lax where nginx is strict, and it drops
// the evidence before a Handler runs (a Content-Length beside a chunked
// Transfer-Encoding, a Transfer-Encoding on HTTP/1.0), so the checks wrap
// the client connection instead: each request head is buffered (within
// nginx's large_client_header_buffers), validated and only then passed on
// unchanged, its body framing is followed (Content-Length, or chunked with
// strict chunk lines and trailers) so the next head is found where
// net/http will look for it, and a request that breaks a rule is answered
// with nginx's status and error page and the connection closed.
//
// The rules, and the status of each:
//
//   - a request line longer than one buffer: 414;
//   - a header line longer than one buffer, or a head over all buffers: 400
//     (nginx's "Request Header Or Cookie Too Large");
//   - a malformed request line, a request target that is neither a path
//     nor an absolute URL (such as "*"), a NUL or %00 in the path, a path
//     whose dot segments climb above the root ("/../x", escaped too): 400;
//   - an HTTP major version other than 1: 505;
//   - CONNECT (with a path: its authority form is a malformed target) or
//     TRACE: 405;
//   - obs-fold (a header line that starts with a space or a tab), a
//     malformed header line or a control byte in a value: 400;
//   - an invalid or repeated Content-Length: 400;
//   - Transfer-Encoding repeated, on HTTP/1.0, or beside Content-Length:
//     400; one that is not exactly "chunked": 501;
//   - an invalid or repeated Host, or none on HTTP/1.1: 400;
//   - bad chunked framing: the request's body fails, so the handler
//     answers (the proxy: 400) and the connection closes.
//
// Once a 101 answers a request to upgrade the connection (WebSocket and
// others) the stream is not HTTP/1 any more: it passes unchecked. What the
// client sends before that response is held; an upgrade refused with any
// other status leaves the connection HTTP/1 and checked.
package h1guard

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options configures a Guard.
type Options struct {
	// Limits are the header buffer limits until SetLimits. Zero fields
	// take their defaults (4 buffers of 8192 bytes).
	Limits Limits
	// Logger receives one debug record per rejected request, with the
	// client address. Nil discards them.
	Logger *slog.Logger
	// Registry is where weir_http_requests_rejected_total is registered.
	// Nil means no metric.
	Registry prometheus.Registerer
	// Source, when not nil, gives the limits of each head read, instead of
	// Limits and SetLimits: the live configuration's
	// large-client-header-buffers (proxy.Proxy). Zero values take their
	// defaults. Nil means none.
	Source LimitSource
	// H2C lets a clear-text connection that starts with the HTTP/2 preface
	// pass unchecked, for a server that speaks HTTP/2 with prior knowledge
	// (http.Protocols.SetUnencryptedHTTP2) behind Handler, while Source
	// serves HTTP/2 (TakesH2C). Default false: the preface is read as an
	// HTTP/1 head and refused (400: "PRI * HTTP/2.0" has an asterisk
	// target).
	H2C bool
}

// LimitSource gives the header buffer limits of the live configuration.
type LimitSource interface {
	HeaderLimits() (buffers, size int)
}

// TimeoutSource, when Options.Source implements it too, gives the request
// head timeout of the live configuration (client-header-timeout): zero
// means the server's own.
type TimeoutSource interface {
	HeaderTimeout() time.Duration
}

// Guard wraps client connections with the checks. It is safe for
// concurrent use.
type Guard struct {
	limits  atomic.Pointer[Limits]
	source  LimitSource // nil: limits
	h2c     bool        // Options.H2C (h2c.go)
	log     *slog.Logger
	counter *prometheus.CounterVec // nil: no metric
}

// New returns a Guard.
func New(opts Options) *Guard {
	g := &Guard{log: opts.Logger, source: opts.Source, h2c: opts.H2C}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	g.SetLimits(opts.Limits)
	if opts.Registry != nil {
		g.counter = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_http_requests_rejected_total",
			Help: "HTTP/1.1 requests refused before routing because they broke a framing rule (see README, HTTP/1.1 request limits), by reason.",
		}, []string{"reason"})
		for _, r := range rejects {
			g.counter.WithLabelValues(r.Reason)
		}
		opts.Registry.MustRegister(g.counter)
	}
	return g
}

// SetLimits sets the limits of the heads read from now on (the ConfigMap's
// large-client-header-buffers). Zero fields take their defaults.
func (g *Guard) SetLimits(l Limits) {
	l = l.withDefaults()
	g.limits.Store(&l)
}

// Limits returns the limits in force: those of Options.Source when it is
// set, else those of SetLimits.
func (g *Guard) Limits() Limits {
	if g.source != nil {
		n, size := g.source.HeaderLimits()
		return Limits{Buffers: n, BufferSize: size}.withDefaults()
	}
	return *g.limits.Load()
}

// HeaderTimeout returns the request head timeout in force: that of
// Options.Source when it implements TimeoutSource and sets one, else def
// (the server's configured value).
func (g *Guard) HeaderTimeout(def time.Duration) time.Duration {
	if ts, ok := g.source.(TimeoutSource); ok {
		if d := ts.HeaderTimeout(); d > 0 {
			return d
		}
	}
	return def
}

// Conn wraps a client connection.
func (g *Guard) Conn(c net.Conn) net.Conn { return &conn{Conn: c, g: g} }

// Listener wraps each connection ln accepts.
func (g *Guard) Listener(ln net.Listener) net.Listener { return &listener{Listener: ln, g: g} }

type listener struct {
	net.Listener
	g *Guard
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.g.Conn(c), nil
}

// rejected counts and logs one rejected request of c.
func (g *Guard) rejected(c *conn, rej *Reject) { g.count(c.RemoteAddr().String(), rej) }

// count counts and logs one rejected request of the client at remote.
func (g *Guard) count(remote string, rej *Reject) {
	if g.counter != nil {
		g.counter.WithLabelValues(rej.Reason).Inc()
	}
	if g.log.Enabled(context.Background(), slog.LevelDebug) {
		g.log.Debug("request rejected", "client", remote, "reason", rej.Reason, "status", rej.Status)
	}
}

// page is nginx's error page for rej.
func page(rej *Reject) string {
	if rej.tooLarge {
		code := strconv.Itoa(rej.Status)
		return pageOf(code+" Request Header Or Cookie Too Large", code+" "+pageTitles[rej.Status], "Request Header Or Cookie Too Large")
	}
	if rej.plainHTTP {
		return plainHTTPPage
	}
	return ErrorPage(rej.Status)
}

// response is nginx's answer to rej: its error page, Connection: close.
// For a HEAD request (headOnly) it is the header alone.
func response(rej *Reject, now time.Time, headOnly bool) []byte {
	page := page(rej)
	head := StatusLine(rej.Status) +
		"Date: " + now.UTC().Format(http.TimeFormat) + "\r\n" +
		"Content-Type: text/html\r\n" +
		"Content-Length: " + strconv.Itoa(len(page)) + "\r\n" +
		"Connection: close\r\n\r\n"
	if headOnly {
		return []byte(head)
	}
	return []byte(head + page)
}

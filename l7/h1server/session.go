package h1server

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/weir-lb/weir/l7/h1guard"
)

// session is what a connection needs while it serves requests: the parser,
// the Request, URL and header map the handler gets, the body reader, the
// ResponseWriter and its header map, the request context and the TLS
// state. Reused from request to request, it makes a keep-alive request
// allocation-free; it is about 2.5 KB. A connection holds one while it
// serves and while it waits for its next request on its serving goroutine
// (busy, idle.go); one handed to its waiter gives its session back to
// sessions and takes one (the same or another's) when it wakes up, so an
// idle connection holds none.
type session struct {
	parser h1guard.Parser
	req    http.Request
	url    url.URL
	header http.Header
	body   body
	resp   response
	// headLen is the bytes of the request's head as received
	// (RequestFraming).
	headLen int64

	// The request's context: rctx, with base the zero Request that carries
	// it (requestBase); or, when the connection's context can be done
	// (conn.ctxDone), a context.WithCancel whose cancel is cancelCtx.
	rctx      *reqContext
	base      http.Request
	cancelCtx context.CancelFunc

	tlsState tls.ConnectionState // of a TLS connection (conn.tlsConn)

	// armed is the state of the connection's armed RawConn.Read
	// (armed.go): here, not in the conn, so that a conn takes the
	// 512-byte size class (TestConnSizeClass), and its step function is
	// made once per session rather than once per connection.
	armed armedRun

	// sockWrite is the state of a write under a write deadline put off
	// (sockwrite.go).
	sockWrite socketWrite

	// readable is the function of a wait for readability (idle.go's
	// readableFunc): readableFD, made once per session; nil until the
	// first wait.
	readable func(fd uintptr) bool
}

// sessions holds the sessions of the connections that wait on their
// waiters.
var sessions = sync.Pool{New: func() any {
	return &session{header: make(http.Header), resp: response{header: make(http.Header)}}
}}

// takeSession gives the connection a session, unless it holds one.
func (c *conn) takeSession() {
	if c.session != nil {
		return
	}
	s := sessions.Get().(*session)
	s.body.c, s.resp.c = c, c
	if c.tlsConn != nil {
		s.tlsState = c.tlsConn.ConnectionState()
	}
	c.session = s
}

// putSession gives the connection's session back to sessions, its last
// request forgotten (forget): nothing of it is left but the capacity of its
// maps and slices, and a request context nobody took the Done channel of
// (reset for its next connection, requestBase). A session whose last
// handler left its request body unread is left to the collector instead
// (reusable).
func (c *conn) putSession() {
	s := c.session
	if s == nil {
		return
	}
	if !c.reusable() {
		c.session = nil
		return
	}
	c.forget()
	c.session = nil
	s.body = body{}
	s.resp.c = nil
	// A start taken for a request refused before its handler ran (or
	// left when the Server closed) is not the next connection's
	// (Started).
	s.armed.start = time.Time{}
	s.tlsState = tls.ConnectionState{}
	sessions.Put(s)
}

// reusable reports whether the session may serve another request: the
// last handler got no request body, or had read it to its end when it
// returned. A body it left unread may still be read by a goroutine it left:
// x/net's HTTP/2 client writes a request body upstream on a goroutine of
// its own, and may read it once more after the handler returned (l7/proxy's
// attemptH2), arming the read deadline through the ResponseWriter first
// (l7/proxy's clientBody). Reused, the session would hand that read the
// next request's body, on this connection (the rest of the unread body is
// discarded and the connection kept) or on another one that took the
// session, and its deadline to that request's connection. Left alone, the
// read gets http.ErrBodyReadAfterClose.
func (c *conn) reusable() bool { return !c.body.held }

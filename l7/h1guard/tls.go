package h1guard

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// handshakeTimeout bounds a TLS handshake, as nginx's ssl_handshake_timeout
// (60s).
const handshakeTimeout = 60 * time.Second

// TLSListener returns a listener of TLS connections on ln whose handshake
// is done (each in its own goroutine, so a slow client holds up no other):
// a connection that negotiated HTTP/2 is returned as the *tls.Conn, for
// net/http to serve HTTP/2 on it; any other is guarded. Serve it with an
// http.Server whose ConnContext is ConnContext and whose Handler is
// wrapped in TLSHandler, so its requests keep their Request.TLS.
func (g *Guard) TLSListener(ln net.Listener, cfg *tls.Config) net.Listener {
	return g.tlsListener(ln, cfg, false)
}

// TLSConns is TLSListener without the guard: every connection is
// returned as the *tls.Conn whose handshake is done, for a server that
// checks HTTP/1.1 itself (l7/h1server).
func (g *Guard) TLSConns(ln net.Listener, cfg *tls.Config) net.Listener {
	return g.tlsListener(ln, cfg, true)
}

func (g *Guard) tlsListener(ln net.Listener, cfg *tls.Config, raw bool) net.Listener {
	ctx, cancel := context.WithCancel(context.Background())
	l := &tlsListener{Listener: ln, raw: raw, g: g, cfg: cfg, conns: make(chan net.Conn), done: make(chan struct{}), ctx: ctx, cancel: cancel}
	go l.acceptLoop()
	return l
}

type tlsListener struct {
	net.Listener
	raw   bool // no connection is guarded
	g     *Guard
	cfg   *tls.Config
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	// ctx ends the handshakes under way when the listener closes.
	ctx    context.Context
	cancel context.CancelFunc

	mu  sync.Mutex
	err error // Accept's error, once the accept loop stopped
}

func (l *tlsListener) acceptLoop() {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				// As net/http: back off on an error such as too many open
				// files, and try again.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				select {
				case <-time.After(delay):
					continue
				case <-l.done:
				}
			}
			l.mu.Lock()
			l.err = err
			l.mu.Unlock()
			l.Close()
			return
		}
		delay = 0
		go l.handshake(c)
	}
}

func (l *tlsListener) handshake(c net.Conn) {
	tc := tls.Server(newHelloConn(c), l.cfg) // hello.go
	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := tc.HandshakeContext(l.ctx); err != nil {
		var rh tls.RecordHeaderError
		if errors.As(err, &rh) && rh.Conn != nil && rh.RecordHeader[0] != recordTypeHandshake {
			// Not TLS: nginx reads it as plain HTTP (plainhttp.go).
			stop := context.AfterFunc(l.ctx, func() { _ = c.SetDeadline(time.Now()) })
			l.g.answerPlainHTTP(c, rh.RecordHeader[:])
			stop()
		}
		_ = c.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	var out net.Conn = tc
	if st := tc.ConnectionState(); st.NegotiatedProtocol != "h2" && !l.raw {
		out = &conn{Conn: tc, g: l.g, tls: &st}
	}
	select {
	case l.conns <- out:
	case <-l.done:
		_ = c.Close()
	}
}

func (l *tlsListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.err != nil {
			return nil, l.err
		}
		return nil, net.ErrClosed
	}
}

func (l *tlsListener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		l.cancel()
		err = l.Listener.Close()
	})
	return err
}

type tlsStateKey struct{}

// ConnContext is an http.Server's ConnContext that keeps the TLS state of
// a guarded TLS connection for TLSHandler.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if gc, ok := c.(*conn); ok && gc.tls != nil {
		return context.WithValue(ctx, tlsStateKey{}, gc.tls)
	}
	return ctx
}

// TLSHandler sets Request.TLS, which net/http sets only on a *tls.Conn, on
// the requests of guarded TLS connections, refuses the HTTP/2 requests
// checkHTTP2 refuses (counted and answered as a refused HTTP/1.1 head, but
// for Connection: close, which HTTP/2 has not), then calls h.
func (g *Guard) TLSHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			if st, ok := r.Context().Value(tlsStateKey{}).(*tls.ConnectionState); ok {
				cs := *st
				r.TLS = &cs
			}
		}
		if r.ProtoMajor >= 2 && g.refuseHTTP2(w, r) {
			return
		}
		h.ServeHTTP(w, r)
	})
}

// refuseHTTP2 answers an HTTP/2 request checkHTTP2 refuses (counted and
// answered as a refused HTTP/1.1 head, but for Connection: close, which
// HTTP/2 has not) and reports whether it did.
func (g *Guard) refuseHTTP2(w http.ResponseWriter, r *http.Request) bool {
	if g.Limits().http2TooLarge(r) {
		// nginx ends the connection (ENHANCE_YOUR_CALM) without an
		// answer; the stream's reset is the nearest net/http allows.
		g.count(r.RemoteAddr, rejHeaderLarge)
		panic(http.ErrAbortHandler)
	}
	rej := checkHTTP2(r)
	if rej == nil {
		return false
	}
	g.count(r.RemoteAddr, rej)
	html := page(rej)
	w.Header().Set("Content-Type", "text/html")
	w.Header().Set("Content-Length", strconv.Itoa(len(html)))
	w.WriteHeader(rej.Status)
	if r.Method != http.MethodHead {
		io.WriteString(w, html)
	}
	return true
}

// checkHTTP2 applies to an HTTP/2 request the rules an HTTP/1.1 head is
// checked against where HTTP/2 has them too, as nginx 1.22's ngx_http_v2
// does before a request is served, so that nothing it refuses is written
// to an HTTP/1.1 upstream: a method not of [A-Z_-] gets 400; CONNECT and
// TRACE get 405; a :path that is not a path (OPTIONS *), holds a space or
// a control byte, an escaped NUL or climbs above the root gets 400; so
// does a missing or invalid :authority (ngx_http_validate_host), a Host
// field beside it that names another host (RFC 9113, section 8.3.1; nginx
// refuses any second Host) or more than one, a field nginx allows once
// (uniqueFields) repeated, more than MaxFields fields (cookies aside), and
// a Content-Length that is
// not one number or that the stream contradicts by ending with its
// HEADERS (nginx: "client prematurely closed stream"). HTTP/2's own
// framing, connection-specific fields, and CR, LF, NUL or upper case in a
// field are net/http's: it resets the stream or answers 400 first.
func checkHTTP2(r *http.Request) *Reject {
	if r.Method == "" || !allBytes(r.Method, isMethodByte) {
		return rejRequestLine
	}
	if r.Method == http.MethodConnect || r.Method == http.MethodTrace {
		return rejMethod
	}
	if r.RequestURI == "" || r.RequestURI[0] != '/' || !allBytes(r.RequestURI, isTargetByte) {
		return rejTarget
	}
	if err := checkPath([]byte(r.RequestURI)); err != nil {
		return err.(*Reject)
	}
	if r.Host == "" || !validHost([]byte(r.Host)) {
		return rejHost
	}
	// net/http takes :authority for r.Host and leaves a Host field in
	// the header; without :authority, r.Host is that field.
	if hosts := r.Header["Host"]; len(hosts) > 1 || len(hosts) == 1 && !strings.EqualFold(hosts[0], r.Host) {
		return rejHost
	}
	fields := 0
	for k, vv := range r.Header {
		if len(vv) > 1 && slices.Contains(uniqueFields[:], k) {
			return rejDuplicate // nginx's HTTP/2 module runs the same handlers
		}
		if k != "Cookie" { // nginx's HTTP/2 module keeps cookies apart, uncounted
			fields += len(vv)
		}
	}
	if fields > MaxFields {
		return rejTooMany
	}
	// net/http sets ContentLength from the first Content-Length when the
	// stream has a body, and 0 when it ended with its HEADERS.
	if cl, ok := r.Header["Content-Length"]; ok {
		n, valid := ParseLength(cl[0])
		if len(cl) > 1 || !valid || n != r.ContentLength {
			return rejCL
		}
	}
	return nil
}

// allBytes reports whether every byte of s passes ok.
func allBytes(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

// isTargetByte reports whether c may be in a request target: not a space
// (which ends it in a request line) nor a control byte.
func isTargetByte(c byte) bool { return c != ' ' && !isCTL(c) }

// http2TooLarge reports whether the header list of r, an HTTP/2 request,
// breaks l as nginx applies large_client_header_buffers to HTTP/2: the
// names and values of every field, pseudo-fields included, together
// longer than Buffers*BufferSize ("client sent too large header"), or a
// name or value whose encoded form is longer than BufferSize ("too large
// header field"). net/http gives only the decoded form: a value is taken
// as too long only when even a Huffman code of 5 bits a byte, the
// shortest HPACK has, would be, so nothing nginx accepts is refused.
// Without it Go's HTTP/2 server takes header lists up to MaxHeaderBytes,
// a megabyte by default, and hands them on.
func (l Limits) http2TooLarge(r *http.Request) bool {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	total := len(":method") + len(r.Method) + len(":path") + len(r.RequestURI) +
		len(":scheme") + len(scheme) + len(":authority") + len(r.Host)
	longest := len(r.Host)
	for k, vs := range r.Header {
		for _, v := range vs {
			total += len(k) + len(v)
			if k != "Cookie" { // net/http joins the cookie fields nginx checks one by one
				longest = max(longest, len(k), len(v))
			}
		}
	}
	return total > l.Buffers*l.BufferSize || (longest*5+7)/8 > l.BufferSize
}

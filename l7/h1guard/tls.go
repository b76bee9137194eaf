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

// handshakeTimeout bounds a TLS handshake when the Guard's Source gives no
// client-header-timeout (TimeoutSource): nginx 1.22 reads a handshake under
// client_header_timeout, 60 s by default.
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
	// The live client-header-timeout: nginx 1.22.1 with
	// client_header_timeout 3s closed a silent client and one that sent
	// half a ClientHello after 3 s.
	_ = c.SetDeadline(time.Now().Add(l.g.HeaderTimeout(handshakeTimeout)))
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
// HTTP/2 has not), hands its access-log line to the RefusalLogger, and
// reports whether it did.
func (g *Guard) refuseHTTP2(w http.ResponseWriter, r *http.Request) bool {
	start := time.Now()
	if g.Limits().http2TooLarge(r) {
		// nginx ends the connection (ENHANCE_YOUR_CALM) without an
		// answer; the stream's reset is the nearest net/http allows. Its
		// line has status 000, nothing sent, the fields before the
		// large ones taken (the pseudo-fields, :path among them).
		g.count(r.RemoteAddr, rejHeaderLarge)
		g.logHTTP2Refusal(r, h2Refused{rej: rejHeaderLarge, path: true, host: true}, start, 0, 0)
		panic(http.ErrAbortHandler)
	}
	ref := checkHTTP2(r, g.Limits())
	if ref.rej == nil {
		return false
	}
	rej := ref.rej
	g.count(r.RemoteAddr, rej)
	html := page(rej)
	w.Header().Set("Content-Type", "text/html")
	w.Header().Set("Content-Length", strconv.Itoa(len(html)))
	w.WriteHeader(rej.Status)
	body := 0
	if r.Method != http.MethodHead {
		body, _ = io.WriteString(w, html)
	}
	g.logHTTP2Refusal(r, ref, start, http2AnswerSize(rej.Status, len(html), body), int64(body))
	return true
}

// logHTTP2Refusal hands the RefusalLogger, if any, the line of r, an
// HTTP/2 request refused as ref says, whose answer took sent bytes
// (bodySent of them its page).
func (g *Guard) logHTTP2Refusal(r *http.Request, ref h2Refused, start time.Time, sent, bodySent int64) {
	l := g.refusals()
	if l == nil {
		return
	}
	rf := &Refusal{Status: ref.rej.Status, Reject: ref.rej, Start: start, Sent: sent, BodySent: bodySent,
		Remote: r.RemoteAddr, TLS: r.TLS != nil,
		HTTP2: &HTTP2Refusal{Request: r, Line: ref.line, Path: ref.path, DefaultServer: ref.defaultServer}}
	if ref.host && validHost([]byte(r.Host)) {
		rf.HTTP2.Host = r.Host
	}
	if ref.rej == rejHeaderLarge {
		rf.Status = 0
	}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		rf.Local = a
	}
	if r.TLS != nil {
		rf.ServerName = r.TLS.ServerName
	}
	l.LogRefusal(rf)
}

// http2AnswerSize is nginx's $bytes_sent for an HTTP/2 answer of status
// with a page of pageLen bytes, body of them sent: the HEADERS frame (its
// 9-byte header and HPACK block: :status, 1 byte for the statuses of
// HPACK's static table, else 5; date, 25; content-type text/html, 9;
// content-length, 2 and its Huffman-coded digits) and a DATA frame for a
// body. The date's Huffman length varies by a byte with its digits: an
// estimate within a byte or two of nginx's.
func http2AnswerSize(status, pageLen, body int) int64 {
	block := 5
	switch status {
	case 200, 204, 206, 304, 400, 404, 500:
		block = 1
	}
	block += 25 + 9 + 2
	bits := 0
	for _, d := range strconv.Itoa(pageLen) {
		bits += 6
		if d <= '2' {
			bits-- // '0', '1' and '2' have 5-bit codes
		}
	}
	n := 9 + block + (bits+7)/8
	if body > 0 {
		n += 9 + body
	}
	return int64(n)
}

// h2Refused is how far nginx's HTTP/2 module got with a request it
// refuses (checkHTTP2), which its access-log line shows.
type h2Refused struct {
	rej *Reject // nil: not refused
	// line: nginx had built the request line ($request), refusing the
	// request once its fields were all taken; path: it had taken :path
	// ($request_uri); host: it had taken :authority or Host ($host, when
	// valid); defaultServer: it had chosen the default server for a
	// request without a host ($host "_").
	line, path, host, defaultServer bool
}

// checkHTTP2 applies to an HTTP/2 request the rules an HTTP/1.1 head is
// checked against where HTTP/2 has them too, as nginx 1.22's ngx_http_v2
// does before a request is served, so that nothing it refuses is written
// to an HTTP/1.1 upstream, and in nginx's order (its fields as curl sends
// them: :method, :path, :scheme, :authority, then the others): a method
// not of [A-Z_-] gets 400; a :path that is not a path (OPTIONS *), holds a
// space or a control byte, an escaped NUL or climbs above the root gets
// 400, and so does CONNECT without :path; so does an invalid :authority
// (ngx_http_validate_host), a Host field beside it that names another host
// (RFC 9113, section 8.3.1; nginx refuses any second Host) or more than
// one, a field nginx allows once (uniqueFields) repeated, a field whose
// line ("name: value" and CRLF, decoded) is longer than one of l's buffers
// (400 "Request Header Or Cookie Too Large", fieldTooLong), more than
// MaxFields fields (cookies aside). Once all fields are taken: a request
// line longer than a buffer gets 414 (requestLineTooLong); once it is
// built, no host at all gets 400, CONNECT and TRACE 405, and a
// Content-Length that is not one number or that the stream contradicts by
// ending with its HEADERS (nginx: "client prematurely closed stream") 400.
// HTTP/2's own framing, connection-specific fields, and CR, LF, NUL or
// upper case in a field are net/http's: it resets the stream or answers
// 400 first.
func checkHTTP2(r *http.Request, l Limits) h2Refused {
	if r.Method == "" || !allBytes(r.Method, isMethodByte) {
		return h2Refused{rej: rejRequestLine}
	}
	if r.RequestURI == "" || r.RequestURI[0] != '/' || !allBytes(r.RequestURI, isTargetByte) {
		// net/http takes CONNECT without :path, its authority for
		// RequestURI; nginx wants a :path ("client sent no :path") once
		// it has taken every field.
		return h2Refused{rej: rejTarget, host: r.Method == http.MethodConnect && r.RequestURI == r.Host}
	}
	if err := checkPath([]byte(r.RequestURI)); err != nil {
		return h2Refused{rej: err.(*Reject)}
	}
	if r.Host != "" && !validHost([]byte(r.Host)) {
		return h2Refused{rej: rejHost, path: true}
	}
	// net/http takes :authority for r.Host and leaves a Host field in
	// the header; without :authority, r.Host is that field.
	if hosts := r.Header["Host"]; len(hosts) > 1 || len(hosts) == 1 && !strings.EqualFold(hosts[0], r.Host) {
		return h2Refused{rej: rejHost, path: true, host: true}
	}
	if len(r.Header["Content-Length"]) > 1 {
		return h2Refused{rej: rejCL, path: true, host: true} // its handler refuses the second as it takes it
	}
	if l.fieldTooLong(r) {
		return h2Refused{rej: rejFieldLarge, path: true, host: true}
	}
	fields := 0
	for k, vv := range r.Header {
		if len(vv) > 1 && slices.Contains(uniqueFields[:], k) {
			return h2Refused{rej: rejDuplicate, path: true, host: true} // nginx's HTTP/2 module runs the same handlers
		}
		if k != "Cookie" { // nginx's HTTP/2 module keeps cookies apart, uncounted
			fields += len(vv)
		}
	}
	if fields > MaxFields {
		return h2Refused{rej: rejTooMany, path: true, host: true}
	}
	if l.requestLineTooLong(r) {
		return h2Refused{rej: rejURITooLong, path: true, host: true}
	}
	if r.Host == "" {
		return h2Refused{rej: rejHost, line: true, path: true, defaultServer: true}
	}
	if r.Method == http.MethodConnect || r.Method == http.MethodTrace {
		return h2Refused{rej: rejMethod, line: true, path: true, host: true}
	}
	// net/http sets ContentLength from the first Content-Length when the
	// stream has a body, and 0 when it ended with its HEADERS.
	if cl, ok := r.Header["Content-Length"]; ok {
		n, valid := ParseLength(cl[0])
		if !valid || n != r.ContentLength {
			return h2Refused{rej: rejCL, line: true, path: true, host: true}
		}
	}
	return h2Refused{}
}

// fieldTooLong reports whether a field of r, an HTTP/2 request, is too
// long for one of l's buffers as nginx 1.22 copies it, decoded, into a
// header line: its name, ": ", its value and CRLF. nginx 1.22.1 with
// large_client_header_buffers 4 8k answered "x-big" with a value of 8183
// bytes 200 and of 8184 bytes 400 ("client sent too long header line"),
// whether Huffman had shrunk the value or not, and checked each cookie
// field so. net/http joins the cookie fields with "; ": each part is
// checked, a part being no longer than the field it came from.
func (l Limits) fieldTooLong(r *http.Request) bool {
	const framing = len(": \r\n")
	for k, vs := range r.Header {
		for _, v := range vs {
			if k == "Cookie" {
				for part := range strings.SplitSeq(v, "; ") {
					if len("cookie")+framing+len(part) > l.BufferSize {
						return true
					}
				}
				continue
			}
			if len(k)+framing+len(v) > l.BufferSize {
				return true
			}
		}
	}
	return false
}

// requestLineTooLong reports whether the request line nginx 1.22 builds
// for r, an HTTP/2 request ("GET /path HTTP/2.0" and CRLF), is longer than
// one of l's buffers: nginx 1.22.1 with large_client_header_buffers 4 8k
// answered GET of a :path of 8177 bytes 200, of 8178 bytes 414 ("client
// sent too long URI"), POST of 8177 bytes 414.
func (l Limits) requestLineTooLong(r *http.Request) bool {
	return len(r.Method)+len(" ")+len(r.RequestURI)+len(" HTTP/2.0\r\n") > l.BufferSize
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

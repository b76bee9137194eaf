package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weir-lb/weir/l7/h1server"
)

// Protocol upgrades (an Upgrade header, with or without an "upgrade" token
// in Connection: WebSocket, h2c or any other protocol, on HTTP/1.x, without
// a request body) are proxied here, so that the established tunnel keeps nginx's
// timeouts (ngx_http_upstream_process_upgraded):
//
//   - the handshake is routed, balanced and given the forwarded headers as
//     any request; the upstream is dialled within proxy-connect-timeout, the
//     request written within proxy-send-timeout and the response header
//     read within proxy-read-timeout; an answer other than 101 is relayed as
//     a normal response;
//   - on 101 both connections are joined and bytes copied both ways, bytes
//     already buffered on either side first;
//   - the tunnel closes when no byte has passed in either direction for
//     proxy-read-timeout (traffic either way, pings included, keeps it
//     open; a write to the client that waits too), when a write to the
//     backend stays blocked for proxy-send-timeout, or one to the client
//     for nginx's send_timeout (60 s: ingress-nginx does not set it).
//
// The tunnel keeps the timeouts, route and *router.Upstream it started
// with: a later Apply neither cuts it nor changes its timeouts, and the
// upstream's in-flight count is released when the tunnel ends.
//
// A tunnel whose two sides are plain TCP sockets is relayed by the
// process's epoll loop (wsloop.go), which keeps these semantics with its
// own timers; any other (a TLS side) by a goroutine per direction, the
// pumps below. The pumps' timeouts are deadlines on the two net.Conns,
// re-armed lazily: each pump stores the time of its last activity in one
// atomic; when a read deadline expires, the pump compares it with the last
// activity of the whole tunnel and either re-arms the deadline or closes
// the tunnel. A busy tunnel sets no deadline per message.

// Reasons of weir_websocket_tunnel_closes_total.
const (
	closeClient      = "client"       // the client closed or failed
	closeBackend     = "backend"      // the backend closed or failed
	closeReadTimeout = "read_timeout" // no traffic either way for proxy-read-timeout
	closeSendTimeout = "send_timeout" // a write blocked for proxy-send-timeout (backend) or send_timeout (client)
	closeShutdown    = "shutdown"     // Weir shut down: the client got a 1001 close frame (shutdown.go)
)

var tunnelCloseReasons = []string{closeClient, closeBackend, closeReadTimeout, closeSendTimeout, closeShutdown}

// maxUpgradeBody is the largest request body an upgrade may carry: 64 KiB,
// read whole before the handshake is sent, as nginx's proxy_request_buffering
// reads it (and sends it again to the next upstream).
const maxUpgradeBody = 64 << 10

// isUpgrade reports whether r asks for a protocol upgrade that this file
// proxies: HTTP/1.x, a non-empty Upgrade and no request body but one of a
// Content-Length up to maxUpgradeBody. Connection is not looked at:
// ingress-nginx forwards Upgrade with Connection: upgrade whatever the
// client's Connection says (nginx.tmpl's $connection_upgrade map reads
// $http_upgrade alone), and nginx tunnels after a 101 to any request with
// Upgrade, one with a body too (sent with the handshake). An upgrade with a
// chunked or larger body is forwarded as a plain request, without its
// Upgrade; so is one that asks for h2c alone (upgradeOffer).
func isUpgrade(r *http.Request) bool {
	if r.ProtoMajor != 1 || r.ContentLength < 0 || r.ContentLength > maxUpgradeBody || len(r.TransferEncoding) > 0 {
		return false
	}
	// Canonical names index the map as Get and Values would, without
	// canonicalising them again per request.
	return strings.TrimSpace(upgradeOffer(firstValue(r.Header, "Upgrade"))) != ""
}

// upgradeOffer returns the protocols of the client's Upgrade value v that
// Weir asks a backend for: v itself, or without its h2c tokens when it
// lists h2c ("" when nothing else remains). Unlike nginx, which tunnels a
// 101 to an h2c upgrade, Weir never lets a client switch to h2c: on that
// HTTP/2 connection it would send requests for any path of the backend,
// which Weir would neither route nor check (h2c smuggling past the source
// ranges and authentication of the backend's other paths).
func upgradeOffer(v string) string {
	if indexFold(v, "h2c") < 0 { // proxyrewrite.go
		return v
	}
	var kept []string
	for t := range listTokens([]string{v}) {
		if name, _, _ := strings.Cut(t, "/"); !strings.EqualFold(strings.TrimSpace(name), "h2c") {
			kept = append(kept, t)
		}
	}
	return strings.Join(kept, ", ")
}

// hasToken reports whether the comma-separated header values hold token,
// compared case-insensitively.
func hasToken(values []string, token string) bool {
	for f := range listTokens(values) {
		if strings.EqualFold(f, token) {
			return true
		}
	}
	return false
}

// listTokens yields the tokens of comma-separated header values, each
// trimmed of spaces, the empty ones left out: what Connection and Vary
// list.
func listTokens(values []string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for _, v := range values {
			for f := range strings.SplitSeq(v, ",") {
				if f = strings.TrimSpace(f); f != "" && !yield(f) {
					return
				}
			}
		}
	}
}

// forwardedHeaders are the client's headers never passed upstream: its
// X-Forwarded-{For,Host,Proto}, not trusted (rewrite sets them from the
// connection), and Proxy, which ingress-nginx's template empties
// (proxy_set_header Proxy "") so that a CGI upstream cannot take it for
// HTTP_PROXY (httpoxy). Forwarded passes, as ingress-nginx's template never
// sets it.
var forwardedHeaders = [...]string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Proxy"}

// isHopHeader reports whether k is a hop-by-hop field of RFC 9110 (or
// Proxy-Connection): a superset of what removeResponseHops removes, so a
// response head without one (fastResponse.noHop) leaves it nothing to do.
func isHopHeader(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// serveUpgrade proxies the protocol upgrade r to ex.upstream, then runs the
// tunnel until it closes. ServeHTTP has routed r and counted the request
// in flight on its upstream; it logs and counts the request when this
// returns: status 101 and the tunnel's duration once a tunnel was set up.
func (p *Proxy) serveUpgrade(rec *responseRecorder, r *http.Request, ex *exchange) {
	body, ok := p.upgradeBody(rec, r, ex)
	if !ok {
		return
	}
	out := r.Clone(r.Context())
	out.Body, out.ContentLength, out.RequestURI = nil, 0, ""
	// The client's Connection: close (or HTTP/1.0) is not the upstream's:
	// Request.Write would add a "Connection: close" line beside the
	// "Connection: upgrade" nginx sends alone.
	out.Close = false
	upgrade := upgradeOffer(r.Header.Get("Upgrade")) // never h2c
	// As nginx, only the fixed hop-by-hop headers go: those Connection
	// names (h2c's HTTP2-Settings) are the new protocol's and pass.
	removeRequestHopHeaders(out.Header)
	// The client's X-Forwarded-* are not trusted; rewrite sets them from
	// the connection.
	for _, k := range forwardedHeaders {
		delete(out.Header, k)
	}
	rewrite(&httputil.ProxyRequest{In: r, Out: out})
	// proxy-set-headers: ingress-nginx's proxy_set_header lines are the
	// location's, its upgrades' too.
	p.liveGlobal().setHeaders.set(out.Header, ex, r)
	out.Header.Set("Connection", "upgrade") // nginx's $connection_upgrade, spelled as ingress-nginx's map
	out.Header.Set("Upgrade", upgrade)
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header.Set("User-Agent", "") // not Go's default
	}

	var fr fastResponse
	backend, resp, br := p.upgradeHandshake(rec, r, out, body, ex, &fr)
	if backend == nil {
		return
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer backend.Close()
		p.relayResponse(rec, r, resp, backend, ex)
		return
	}
	if got := resp.Header["Upgrade"]; !switchAsked(got, []string{upgrade}) {
		backend.Close()
		err := fmt.Errorf("backend switched to protocol %q, asked for %q", strings.Join(got, ", "), upgrade)
		ex.fail(err, reasonUpstreamError)
		writeError(rec, http.StatusBadGateway)
		return
	}
	client, brw, err := rec.Hijack()
	if err != nil {
		backend.Close()
		ex.fail(fmt.Errorf("hijack client connection: %w", err), reasonUpstreamError)
		writeError(rec, http.StatusInternalServerError)
		return
	}
	var loop *relayLoop
	if wsLoopOn && !p.noRelayLoop.Load() {
		loop = relayLoopOf()
	}
	to := ex.timeouts
	to.client = p.clientSend
	t := newTunnel(client, backend, brw.Reader, br, to, loop)
	// The 101 goes to the client through the tunnel's first write, so a
	// client that does not read it is a send timeout like any other.
	// As nginx: the fields the upstream's Connection names stay, and the
	// status line is the upstream's; "Connection: upgrade" is nginx's own
	// (ngx_http_header_filter), the upstream's Upgrade is relayed as any
	// field (none when it sent none).
	removeResponseHops(resp.Header, false)
	if n := ex.sticky; n > 0 { // the affinity cookies first, as nginx's headers_out
		resp.Header["Set-Cookie"] = append(rec.Header()["Set-Cookie"][:n:n], resp.Header["Set-Cookie"]...)
	}
	p.switchHeader(resp.Header, r, ex)
	t.head = switchHead(resp.Status, resp.Header, fr.order)
	// The tunnel is no response body: nginx's $upstream_response_length
	// of a 101 is 0.
	ex.upstreamBody, ex.bodyCounted = 0, true

	if m := p.metrics; m != nil {
		m.tunnelsOpen.Inc()
		defer m.tunnelsOpen.Dec()
	}
	p.tunnels.add(t)
	defer p.tunnels.remove(t)
	reason := t.run()
	rec.bytes += t.toClient.Load()
	if t.headSent {
		rec.head = int64(len(t.head))
	}
	if m := p.metrics; m != nil {
		m.tunnelCloses.WithLabelValues(reason).Inc()
	}
	p.log.LogAttrs(r.Context(), slog.LevelDebug, "websocket tunnel closed",
		slog.String("reason", reason),
		slog.String("host", r.Host),
		slog.String("path", r.URL.Path),
		slog.String("upstream", ex.upstream.Addr),
		slog.String("request_id", ex.requestID),
		slog.Duration("duration", time.Since(t.start)),
		slog.Int64("bytes_to_client", t.toClient.Load()),
		slog.Int64("bytes_to_backend", t.toBackend.Load()))
}

// upgradeBody reads the body of the upgrade r whole (isUpgrade bounds
// it), as nginx reads a request's body before it connects upstream; false
// once it has answered the client as for any request whose body failed
// (handleError: the client gone, 408 past client-body-timeout, 400).
func (p *Proxy) upgradeBody(rec *responseRecorder, r *http.Request, ex *exchange) ([]byte, bool) {
	if r.ContentLength <= 0 {
		return nil, true
	}
	body := make([]byte, r.ContentLength)
	n, err := io.ReadFull(r.Body, body)
	ex.bodyRead.Add(int64(n))
	if err == nil {
		return body, true
	}
	err = fmt.Errorf("read upgrade request body: %w", err)
	ex.setBodyErr(err)
	p.handleError(rec, r, err)
	return nil, false
}

// newTunnel returns the tunnel of client and backend, the bytes buffered
// with the handshake in fromClient and fromBackend, closed after to's
// timeouts. Its head is to be set. With loop not nil and both sides plain
// TCP sockets, loop relays it (wsloop.go); otherwise goroutine pumps do.
func newTunnel(client, backend net.Conn, fromClient, fromBackend io.Reader, to timeouts, loop *relayLoop) *tunnel {
	if to.client <= 0 {
		to.client = clientSendTimeout
	}
	t := &tunnel{
		start:      time.Now(),
		read:       to.read,
		send:       to.send,
		sendClient: to.client,
		client:     client,
		backend:    backend,
		lazyWrite:  isTCP(client) && isTCP(backend),
		ended:      make(chan struct{}),
	}
	if loop != nil {
		if c, b := rawSocket(client), rawSocket(backend); c != nil && b != nil {
			t.loop = loop
			t.lp.side[0].raw, t.lp.side[1].raw = c, b
		}
	}
	if t.lazyWrite {
		t.toClnt, t.toBknd = newProgressWriter(t, client), newProgressWriter(t, backend)
	}
	t.fromClnt.init(client, fromClient, func(b []byte) string {
		return t.write(backend, b, closeBackend, &t.toBackend)
	})
	t.fromBknd.init(backend, fromBackend, func(b []byte) string { return t.writeClient(b, &t.toClient) })
	return t
}

// switchHeader edits h, the upstream's 101 header without its hop-by-hop
// fields, as nginx's header filters edit every response, a 101 included:
// no upstream field proxy_hide_header hides by default (hideNginxDefault),
// the route's response headers and HSTS (responseHeaders), no upstream
// Server or Date (upstreamServerHeader), and Weir's own Date, as nginx
// writes its own on every response.
func (p *Proxy) switchHeader(h http.Header, r *http.Request, ex *exchange) {
	hideNginxDefault(h)
	p.responseHeaders(ex, r, h, 0)
	p.liveGlobal().upstreamServerHeader(h, h, 0)
	h["Date"] = []string{time.Now().UTC().Format(http.TimeFormat)}
}

// upgradeHandshake dials ex.upstream and sends it the handshake out; an
// upstream that fails before its answer passes the request to the next, as
// any request (nextupstream.go). It returns nil once it has answered the
// client with the error.
func (p *Proxy) upgradeHandshake(rec *responseRecorder, r *http.Request, out *http.Request, body []byte, ex *exchange, fr *fastResponse) (net.Conn, *http.Response, *bufio.Reader) {
	next := newNextPolicy(r, rec, ex, nil)
	for {
		// $upstream_connect_time, $upstream_header_time and, once the
		// tunnel ends, $upstream_response_time: nginx's for a 101 is the
		// tunnel's whole life.
		ex.timing.begin(ex.start)
		backend, err := p.dialUpgrade(r.Context(), ex, r.TLS != nil) // upstream.go
		sent := err == nil
		if err == nil {
			ex.timing.connected(false)
			if len(body) > 0 { // each attempt sends it whole
				out.Body, out.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
			}
			// A client that leaves meanwhile ends the wait at once, as
			// nginx's broken-connection check does while it waits for
			// the upstream: 499 (handleError), the upstream closed.
			stop := context.AfterFunc(r.Context(), func() { _ = backend.SetDeadline(drainDeadline) })
			resp, br, herr := handshake(r.Context(), backend, out, ex.timeouts, ex.route.Backend.Proxy.Upstream.HeaderLimit(), fr)
			stop()
			if herr == nil {
				ex.timing.headerRead()
				return backend, resp, br
			}
			backend.Close()
			err = herr
		}
		if r.Context().Err() != nil || !p.passOn(&next, newAttemptError(err, sent)) {
			p.handleError(rec, r, err)
			return nil, nil, nil
		}
	}
}

// switchStatusLine is the status line of a 101 whose upstream's status
// text (code and reason) is status: the upstream's, as nginx relays it
// ("101 Web Socket Protocol Handshake"), unless it is not a 101's or holds
// a CR or LF, then "101 Switching Protocols".
func switchStatusLine(status string) string {
	if strings.HasPrefix(status, "101") && (len(status) == 3 || status[3] == ' ') && !strings.ContainsAny(status, "\r\n") {
		return "HTTP/1.1 " + status + "\r\n"
	}
	return "HTTP/1.1 101 Switching Protocols\r\n"
}

// switchAsked reports whether the protocols of a 101's Upgrade, got, are
// among those Weir asked for, asked (the client's Upgrade as upgradeOffer
// keeps it; compared as tokens,
// case-insensitively: "websocket" of "WebSocket, foo/1"); a 101 without
// Upgrade is one too, as nginx relays it. nginx checks nothing; Weir
// refuses (502) a switch to a protocol the client did not ask for.
func switchAsked(got, asked []string) bool {
	for f := range listTokens(got) {
		if !hasToken(asked, f) {
			return false
		}
	}
	return true
}

// switchHead returns the head of a 101 whose status text is status and
// whose fields are h, as nginx's header filter writes it: the status line
// (switchStatusLine), Date, nginx's own "Connection: upgrade", then the
// fields in the upstream's order and spelling (order: checkHead's, a name
// given twice at its first place, all its values together), then those the
// upstream did not send (the route's, HSTS) by name.
func switchHead(status string, h http.Header, order []h1server.FieldName) string {
	var b strings.Builder
	b.WriteString(switchStatusLine(status))
	field := func(name string, vs []string) {
		for _, v := range vs {
			b.WriteString(name + ": " + v + "\r\n")
		}
	}
	field("Date", h["Date"])
	b.WriteString("Connection: upgrade\r\n")
	done := map[string]bool{"Date": true}
	for _, f := range order {
		if done[f.Name] {
			continue
		}
		done[f.Name] = true
		name := f.Wire
		if name == "" {
			name = f.Name
		}
		field(name, h[f.Name])
	}
	rest := make([]string, 0, len(h))
	for k := range h {
		if !done[k] {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	for _, k := range rest {
		field(k, h[k])
	}
	b.WriteString("\r\n")
	return b.String()
}

// isTCP reports whether c is a TCP connection, under wrappers that write
// to it unchanged (h1guard's, PROXY protocol's, connlimit's) if any.
func isTCP(c net.Conn) bool { return tcpConnOf(c) != nil }

// handshake writes req on backend within the send timeout and reads the
// response header within the read timeout. Interim 1xx responses other
// than 101 are skipped. The bytes read before the header is whole are held
// to limit (proxy-buffer-size), as forward holds any response's: a larger
// header is errHeaderTooLarge (nginx's 502 "upstream sent too big header"),
// not read into memory whole. The returned reader holds any bytes the
// backend sent after the header; fr, the order and spelling of the
// response's fields. A client that left (ctx done) keeps backend's
// deadlines in the past: the caller's context.AfterFunc put them there,
// and a deadline set here after it must not undo that.
func handshake(ctx context.Context, backend net.Conn, req *http.Request, to timeouts, limit int64, fr *fastResponse) (*http.Response, *bufio.Reader, error) {
	deadline := func(set func(time.Time) error, t time.Time) {
		_ = set(t)
		if ctx.Err() != nil {
			_ = backend.SetDeadline(drainDeadline)
		}
	}
	deadline(backend.SetWriteDeadline, time.Now().Add(to.send))
	bw := bufio.NewWriterSize(backend, 4<<10)
	keepClientPath(req.URL)
	err := req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = fmt.Errorf("%w: %w", errSendTimeout, err)
		}
		return nil, nil, fmt.Errorf("send websocket handshake: %w", err)
	}
	deadline(backend.SetWriteDeadline, time.Time{})
	head := &headReader{r: backend, left: limit}
	br := bufio.NewReaderSize(head, 4<<10)
	for range 8 {
		deadline(backend.SetReadDeadline, time.Now().Add(to.read))
		// slowResponse refuses the field lines nginx refuses and records
		// the fields' order and spelling in fr, for the 101's head.
		resp, err := slowResponse(br, req, fr)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				err = fmt.Errorf("%w: %w", errReadTimeout, err)
			}
			return nil, nil, fmt.Errorf("read websocket handshake response: %w", err)
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			head.left = -1 // the header is whole: the body or tunnel is not bounded by it
			return resp, br, nil
		}
	}
	return nil, nil, errors.New("read websocket handshake response: too many interim responses")
}

// headReader reads r, left bytes at most (errHeaderTooLarge after them);
// left negative: no bound.
type headReader struct {
	r    io.Reader
	left int64
}

func (h *headReader) Read(p []byte) (int, error) {
	if h.left < 0 {
		return h.r.Read(p)
	}
	if h.left == 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > h.left {
		p = p[:h.left]
	}
	n, err := h.r.Read(p)
	h.left -= int64(n)
	return n, err
}

// relayResponse sends the backend's non-101 answer to the client as a
// normal response; each wait for the body is bounded by the read timeout,
// and a body cut short cuts the client's connection after what was read.
func (p *Proxy) relayResponse(rec *responseRecorder, r *http.Request, resp *http.Response, backend net.Conn, ex *exchange) {
	removeResponseHops(resp.Header, r.ProtoMajor >= 2)
	relayHeader(rec.Header(), resp.Header, false)
	p.responseHeaders(ex, r, rec.Header(), 0) // hide-headers, add-headers, custom-headers, CORS, HSTS, as relay
	p.liveGlobal().upstreamServerHeader(rec.Header(), resp.Header, 0)
	keepUntyped(rec.Header(), rec.Header()["Content-Type"])
	rec.relayStatusLine(resp)
	rec.WriteHeader(resp.StatusCode)
	body := &deadlineReader{r: resp.Body, c: backend, d: ex.timeouts.read}
	buf := copyBuffers.Get().(*[copyBufferSize]byte)
	defer copyBuffers.Put(buf)
	_, err := io.CopyBuffer(rec, body, buf[:])
	if err == nil {
		resp.Body.Close() // the trailers, if any
		return
	}
	// No Close: it would wait for the rest of the body.
	if body.err != nil {
		reason := reasonUpstreamError
		if errors.Is(body.err, os.ErrDeadlineExceeded) {
			reason = reasonReadTimeout
		}
		ex.fail(fmt.Errorf("read response body: %w", body.err), reason)
		rec.Flush() // what was read reaches the client, as in forward
	}
	if r.Context().Value(http.ServerContextKey) != nil {
		panic(http.ErrAbortHandler) // the response is cut: close the connection
	}
}

// deadlineReader arms c's read deadline before each Read of r and keeps the
// first read error.
type deadlineReader struct {
	r   io.Reader
	c   net.Conn
	d   time.Duration
	err error
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	_ = d.c.SetReadDeadline(time.Now().Add(d.d))
	n, err := d.r.Read(p)
	if err != nil && err != io.EOF && d.err == nil {
		d.err = err
	}
	return n, err
}

// tunnel is an established WebSocket: two pumps, or the relay loop
// (wsloop.go), copy bytes between the client and backend connections until
// one side closes or a timeout expires. It holds no reference to the
// Router.
type tunnel struct {
	start      time.Time
	read, send time.Duration
	// sendClient bounds a write to the client that makes no progress
	// (nginx's send_timeout); send, one to the backend
	// (proxy-send-timeout).
	sendClient      time.Duration
	client, backend net.Conn
	// fromClnt and fromBknd read the connections, the bytes buffered with
	// the handshake first (tunnelsource.go).
	fromClnt, fromBknd tunnelSource
	// head is the 101 response header, the first bytes for the client.
	head string
	// lazyWrite re-arms write deadlines only when they expire; a TLS
	// connection cannot resume after a write timeout, so it gets a
	// deadline per write.
	lazyWrite bool
	// toClnt and toBknd write to the sides when lazyWrite (nil
	// otherwise), knowing when a blocked write last made progress
	// (tunnelwrite.go).
	toClnt, toBknd *progressWriter

	// last is the time of the last byte read or written in either
	// direction, in nanoseconds since start.
	last atomic.Int64
	// writingClient is set while a pump writes to the client.
	writingClient atomic.Bool
	reason        atomic.Pointer[string]
	closeOnce     sync.Once
	toClient      atomic.Int64
	toBackend     atomic.Int64

	// toClientMu serialises the writes to the client: the backend's
	// bytes, tracked frame by frame in frames, and goAway's close frame.
	toClientMu sync.Mutex
	frames     frameCursor
	headSent   bool // the 101 went out
	goneAway   bool // goAway ran: nothing more goes to the client
	// onLoop is set (under toClientMu) once the tunnel is posted to loop:
	// from then on the loop alone reads, writes and ends it.
	onLoop bool

	// loop, if not nil, relays the tunnel once its 101 and the bytes
	// buffered with the handshake went through; lp is its state there
	// (wsloop.go).
	loop *relayLoop
	lp   loopState
	// ended is closed when the tunnel is.
	ended chan struct{}
}

// run copies both ways until the tunnel closes and returns why.
func (t *tunnel) run() string {
	now := time.Now()
	_ = t.client.SetReadDeadline(now.Add(t.read))
	_ = t.backend.SetReadDeadline(now.Add(t.read))
	_ = t.client.SetWriteDeadline(now.Add(t.sendClient))
	_ = t.backend.SetWriteDeadline(now.Add(t.send))
	if t.loop != nil {
		return t.runOnLoop()
	}
	done := make(chan struct{})
	go t.pumpClientToBackend(done)
	sent := t.writeHead()
	if sent {
		t.pump(&t.fromBknd, closeBackend)
	}
	t.toClient.Add(-int64(len(t.head))) // the header is not body bytes
	<-done
	return *t.reason.Load()
}

// writeHead writes the 101 to the client, unless goAway ran first, and
// reports whether it went; a failed write ends the tunnel.
func (t *tunnel) writeHead() bool {
	t.toClientMu.Lock()
	defer t.toClientMu.Unlock()
	sent := false
	if !t.goneAway {
		stop := t.write(t.client, []byte(t.head), closeClient, &t.toClient)
		if stop != "" {
			t.end(stop)
		}
		sent = stop == ""
	}
	t.headSent = sent
	return sent
}

// runOnLoop writes the 101 and the bytes buffered with the handshake as
// run does (write and writeClient, under the same deadlines), then posts
// the tunnel to its loop, which relays it until it ends.
func (t *tunnel) runOnLoop() string {
	if t.writeHead() && t.drainHandshake() {
		// The loop keeps the timeouts: the deadlines go.
		_ = t.client.SetWriteDeadline(time.Time{})
		_ = t.backend.SetWriteDeadline(time.Time{})
		t.toClientMu.Lock()
		if !t.goneAway { // else goAway ends the tunnel
			t.onLoop = true
			// Under the lock: goAway's command follows this one.
			t.loop.post(relayCmd{t: t})
		}
		t.toClientMu.Unlock()
	}
	<-t.ended
	t.toClient.Add(-int64(len(t.head))) // the header is not body bytes
	return *t.reason.Load()
}

// drainHandshake passes on the bytes buffered with the handshake, the
// client's then the backend's, until each reader is found empty; false if
// the tunnel ended meanwhile.
func (t *tunnel) drainHandshake() bool {
	for i, src := range [...]*tunnelSource{&t.fromClnt, &t.fromBknd} {
		for src.hs != nil {
			stop, _, err := src.handshakeRead(time.Time{})
			if stop != "" {
				t.end(stop)
				return false
			}
			if err != nil {
				t.end(sideReasons[i])
				return false
			}
		}
	}
	return true
}

// pumpClientToBackend is the client-to-backend direction, on its own
// goroutine; it closes done when it returns.
func (t *tunnel) pumpClientToBackend(done chan<- struct{}) {
	defer close(done)
	t.pump(&t.fromClnt, closeClient)
}

// touch returns the time since the tunnel started, in nanoseconds, and
// records it as the last activity.
func (t *tunnel) touch() int64 {
	n := int64(time.Since(t.start))
	t.last.Store(n)
	return n
}

// end closes the tunnel for reason; the first reason wins. A pump may be
// writing from inside its source's RawConn.Read (tunnelsource.go), which
// a Close of that source waits for: the write deadlines in the past break
// such a write first (write sees the reason and gives up), so that end
// returns at once, as it did when no write ran under a read.
func (t *tunnel) end(reason string) {
	t.claim(reason)
	t.closeOnce.Do(func() {
		_ = t.client.SetWriteDeadline(drainDeadline)
		_ = t.backend.SetWriteDeadline(drainDeadline)
		t.client.Close()
		t.backend.Close()
		if t.ended != nil {
			close(t.ended)
		}
	})
}

// claim makes reason why t closes, unless a reason was claimed first. A
// write that fails claims its reason before it returns: the other pump,
// whose read deadline may expire meanwhile, would otherwise see no write
// waiting on the client and end the tunnel for read_timeout first.
func (t *tunnel) claim(reason string) { t.reason.CompareAndSwap(nil, &reason) }

// pump copies src to the other side (its sink: write or writeClient, which
// record the activity) until one side fails. srcSide names src for the
// close reason.
func (t *tunnel) pump(src *tunnelSource, srcSide string) {
	srcConn := src.conn
	for {
		stop, err := src.relay(t.start.Add(time.Duration(t.last.Load()) + t.read))
		if stop != "" {
			t.end(stop)
			return
		}
		if err == nil {
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// Idle this way; was the other way busy? A write to the
			// client that waits is: nginx arms no read timer while the
			// upstream's bytes wait for the client, sendClient bounds it.
			last := t.last.Load()
			if idle := time.Since(t.start) - time.Duration(last); idle < t.read {
				_ = srcConn.SetReadDeadline(t.start.Add(time.Duration(last) + t.read))
				continue
			}
			if t.writingClient.Load() {
				_ = srcConn.SetReadDeadline(time.Now().Add(t.read))
				continue
			}
			t.end(closeReadTimeout)
			return
		}
		t.end(srcSide)
		return
	}
}

// write writes b to dst. It returns "" once all of b is written, else why
// the tunnel must close: dstSide when dst failed, closeSendTimeout when a
// write made no progress for the send timeout (sendClient to the client) (or the tunnel was ended
// meanwhile: end's reason stands). The caller closes the tunnel: write may
// run inside the source's RawConn.Read, where a Close would wait for it.
//
// A write that goes out at once reads the clock once, at its start (the
// activity: the time of the read whose bytes it writes); one that waits
// records its progress and its end as well.
func (t *tunnel) write(dst net.Conn, b []byte, dstSide string, count *atomic.Int64) string {
	since := time.Duration(t.touch())
	send := t.send
	// The side's name says the client is dst, without comparing
	// interfaces.
	toClient := dstSide == closeClient
	if toClient {
		send = t.sendClient
		t.writingClient.Store(true)
		defer t.writingClient.Store(false)
	}
	if !t.lazyWrite {
		_ = dst.SetWriteDeadline(t.start.Add(since + send))
		if t.reason.Load() != nil {
			return closeSendTimeout // ended meanwhile: end's deadline may be overwritten
		}
	}
	pw := t.toBknd
	if toClient {
		// The 101 goes through the client's wrappers: h1guard's
		// (--http1-server=net) learns from it that the connection
		// switched protocols. headSent is read under toClientMu, as
		// every write to the client runs.
		pw = nil
		if t.headSent {
			pw = t.toClnt
		}
	}
	for {
		var n int
		var err error
		if pw != nil {
			n, err = pw.write(b)
		} else {
			n, err = dst.Write(b)
		}
		count.Add(int64(n))
		b = b[n:]
		if err == nil {
			if pw == nil || pw.waited {
				t.touch()
			}
			return ""
		}
		if t.lazyWrite && errors.Is(err, os.ErrDeadlineExceeded) {
			now := time.Since(t.start)
			switch {
			case n > 0 && pw != nil:
				since = time.Duration(pw.at) // the last progress, recorded
			case n > 0:
				since = now
				t.last.Store(int64(now))
			}
			if now-since < send {
				_ = dst.SetWriteDeadline(t.start.Add(since + send))
				if pw != nil {
					pw.polled = true
				}
				// After the re-arm: end stores its reason before it sets
				// the deadline in the past, so either this sees the
				// reason or the next Write sees end's deadline.
				if t.reason.Load() == nil {
					continue
				}
			}
		}
		stop := dstSide
		if errors.Is(err, os.ErrDeadlineExceeded) {
			stop = closeSendTimeout
		}
		t.claim(stop) // before writingClient falls (claim)
		return stop
	}
}

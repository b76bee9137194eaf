package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/weir-lb/weir/l7/h1guard"
	"github.com/weir-lb/weir/l7/router"
	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// wsEcho is a WebSocket backend that echoes every message. It records the
// handshake request it accepted last.
type wsEcho struct {
	srv  *httptest.Server
	reqs chan *http.Request
}

func newWSEcho(tb testing.TB, greeting string) *wsEcho {
	tb.Helper()
	e := &wsEcho{reqs: make(chan *http.Request, 16)}
	e.srv = backend(tb, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/refuse" {
			http.Error(w, "no websocket here", http.StatusForbidden)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		select {
		case e.reqs <- r.Clone(context.Background()):
		default:
		}
		ctx := context.Background()
		if greeting != "" {
			// Sent with the 101: the proxy must relay bytes that arrive
			// together with the handshake response.
			if err := c.Write(ctx, websocket.MessageText, []byte(greeting)); err != nil {
				return
			}
		}
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, msg); err != nil {
				return
			}
		}
	})
	return e
}

// dialWS opens a WebSocket through srv for host and path; the test closes
// it.
func dialWS(tb testing.TB, srv *httptest.Server, host, path string) *websocket.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+path, &websocket.DialOptions{Host: host})
	if err != nil {
		tb.Fatalf("dial websocket %s%s: %v", host, path, err)
	}
	tb.Cleanup(func() { c.CloseNow() })
	return c
}

// echo sends msg and expects it back within 5 s.
func echo(tb testing.TB, c *websocket.Conn, msg string) {
	tb.Helper()
	short := msg
	if len(short) > 40 {
		short = fmt.Sprintf("%.20s... (%d bytes)", msg, len(msg))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		tb.Fatalf("write %q: %v", short, err)
	}
	_, got, err := c.Read(ctx)
	if err != nil || string(got) != msg {
		tb.Fatalf("echo of %q: got %d bytes, %v", short, len(got), err)
	}
}

// upstreamOf returns the first upstream of foo.com/ in p's live Router.
func upstreamOf(tb testing.TB, p *Proxy) *router.Upstream {
	tb.Helper()
	rt, ok := p.router.Load().Match("foo.com", "/")
	if !ok || rt.Pool.Len() == 0 {
		tb.Fatalf("no upstream for foo.com/")
	}
	return rt.Pool.Upstreams()[0]
}

func sendTimeout(s int) func(*annotations.Proxy) {
	return func(p *annotations.Proxy) { p.SendTimeoutSeconds = s }
}

func closes(p *Proxy, reason string) float64 {
	return testutil.ToFloat64(p.metrics.tunnelCloses.WithLabelValues(reason))
}

func TestIsUpgrade(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		conn, upg   string
		body        string
		http2, want bool
	}{
		{name: "canonical", conn: "Upgrade", upg: "websocket", want: true},
		{name: "any case", conn: "UPGRADE", upg: "WebSocket", want: true},
		{name: "token list", conn: "keep-alive, Upgrade", upg: "websocket", want: true},
		// nginx forwards Upgrade with Connection: upgrade whatever the
		// client's Connection says (nginx.tmpl's $connection_upgrade map
		// reads $http_upgrade alone) and tunnels after a 101.
		{name: "no connection token", conn: "keep-alive", upg: "websocket", want: true},
		{name: "no connection", upg: "websocket", want: true},
		{name: "connection close", conn: "close", upg: "websocket", want: true},
		{name: "other protocol", conn: "Upgrade", upg: "TLS/1.0", want: true},
		// Unlike nginx: h2c alone is forwarded as a plain request
		// (upgradeOffer).
		{name: "h2c", conn: "Upgrade", upg: "h2c"},
		{name: "h2c among others", conn: "Upgrade", upg: "h2c, websocket", want: true},
		{name: "no upgrade", conn: "Upgrade"},
		// nginx reads the body and sends it with the handshake.
		{name: "with a body", conn: "Upgrade", upg: "websocket", body: "x", want: true},
		{name: "with a large body", conn: "Upgrade", upg: "websocket", body: strings.Repeat("x", maxUpgradeBody+1)},
		{name: "http2", conn: "Upgrade", upg: "websocket", http2: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/", strings.NewReader(tc.body))
			if tc.conn != "" {
				r.Header.Set("Connection", tc.conn)
			}
			if tc.upg != "" {
				r.Header.Set("Upgrade", tc.upg)
			}
			if tc.http2 {
				r.ProtoMajor = 2
			}
			if got := isUpgrade(r); got != tc.want {
				t.Errorf("isUpgrade = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestWebSocketEcho proxies a real WebSocket: forwarded headers reach the
// backend, a greeting sent with the 101 is relayed, messages echo, and the
// close is counted and logged as a 101 with the tunnel's duration.
func TestWebSocketEcho(t *testing.T) {
	t.Parallel()
	be := newWSEcho(t, "hello")
	reg := prometheus.NewRegistry()
	var access syncBuffer
	p, srv := front(t, Options{Registry: reg, AccessLog: &access}, snap(1, "foo.com", backendOf("ws", []string{addr(be.srv)})))
	c := dialWS(t, srv, "foo.com", "/chat?room=1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, got, err := c.Read(ctx); err != nil || string(got) != "hello" {
		t.Fatalf("greeting: got %q, %v", got, err)
	}
	for i := range 5 {
		echo(t, c, fmt.Sprintf("message %d", i))
	}
	big := strings.Repeat("x", 200<<10) // several copy buffers
	c.SetReadLimit(1 << 20)
	echo(t, c, big)

	r := <-be.reqs
	for k, want := range map[string]string{
		"X-Forwarded-For":   "127.0.0.1",
		"X-Forwarded-Proto": "http",
		"X-Forwarded-Host":  "foo.com",
		"X-Real-Ip":         "127.0.0.1",
	} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("backend got %s = %q, want %q", k, got, want)
		}
	}
	if r.Host != "foo.com" || r.URL.RequestURI() != "/chat?room=1" {
		t.Errorf("backend got Host %q URI %q, want foo.com /chat?room=1", r.Host, r.URL.RequestURI())
	}
	if id := r.Header.Get("X-Request-ID"); len(id) != 32 {
		t.Errorf("backend got X-Request-ID %q, want 32 hex digits", id)
	}
	if got := testutil.ToFloat64(p.metrics.tunnelsOpen); got != 1 {
		t.Errorf("weir_websocket_tunnels_open = %v during the tunnel, want 1", got)
	}
	if got := upstreamOf(t, p).InFlight.Load(); got != 1 {
		t.Errorf("in flight during the tunnel = %d, want 1", got)
	}

	held := 300 * time.Millisecond
	time.Sleep(held) // tunnel age for the duration check, not synchronisation
	c.Close(websocket.StatusNormalClosure, "bye")
	waitFor(t, "the tunnel close counted", func() bool {
		return closes(p, closeClient)+closes(p, closeBackend) == 1
	})
	waitFor(t, "the access-log line", func() bool { return strings.Contains(access.String(), `"status":101`) })
	if got := testutil.ToFloat64(p.metrics.tunnelsOpen); got != 0 {
		t.Errorf("weir_websocket_tunnels_open = %v after close, want 0", got)
	}
	if got := testutil.ToFloat64(p.metrics.requests.WithLabelValues("101", "GET", "/", "ns", "ing-ws", "ws", "", "foo.com")); got != 1 {
		t.Errorf("requests{status=101} = %v, want 1", got)
	}
	var line string
	for l := range strings.SplitSeq(access.String(), "\n") {
		if strings.Contains(l, `"status":101`) {
			line = l
		}
	}
	var ms float64
	if i := strings.Index(line, `"duration_ms":`); i < 0 {
		t.Fatalf("no duration in %s", line)
	} else if _, err := fmt.Sscanf(line[i+len(`"duration_ms":`):], "%g", &ms); err != nil || ms < float64(held.Milliseconds()) {
		t.Errorf("access log duration_ms = %v (%v), want the tunnel's duration >= %v", ms, err, held)
	}
	waitFor(t, "in flight released", func() bool {
		return upstreamOf(t, p).InFlight.Load() == 0
	})
}

// TestWebSocketRefusedIsRelayed relays a backend's non-101 answer as a
// normal response.
func TestWebSocketRefusedIsRelayed(t *testing.T) {
	t.Parallel()
	be := newWSEcho(t, "")
	_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("ws", []string{addr(be.srv)})))
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/refuse", nil)
	req.Host = "foo.com"
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	resp, err := client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden || string(body) != "no websocket here\n" {
		t.Errorf("got %d %q, want 403 %q", resp.StatusCode, body, "no websocket here\n")
	}
}

// TestWebSocketUpstreamDown answers 502 when the upstream refuses.
func TestWebSocketUpstreamDown(t *testing.T) {
	t.Parallel()
	_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("ws", []string{refusedAddr(t)})))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/", &websocket.DialOptions{Host: "foo.com"})
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("dial: %v, %+v; want a 502", err, resp)
	}
}

// TestWebSocketBufferedClientBytes sends the handshake and a first frame in
// one write: the frame, buffered by the server with the handshake, reaches
// the backend, and frames sent later follow (the tunnel's read deadline is
// back once the buffered bytes are read). Over TLS too, where crypto/tls is
// read, never the socket under it.
func TestWebSocketBufferedClientBytes(t *testing.T) {
	t.Parallel()
	for _, overTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", overTLS), func(t *testing.T) {
			t.Parallel()
			be := newWSEcho(t, "")
			s := snap(1, "foo.com", backendOf("ws", []string{addr(be.srv)}))
			var conn net.Conn
			var err error
			if overTLS {
				p := New(Options{})
				if err := p.Apply(s); err != nil {
					t.Fatal(err)
				}
				srv := httptest.NewTLSServer(p)
				t.Cleanup(func() {
					srv.Close()
					p.Close()
				})
				conn, err = tls.Dial("tcp", addr(srv), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
			} else {
				_, srv := front(t, Options{}, s)
				conn, err = net.Dial("tcp", addr(srv))
			}
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			var out bytes.Buffer
			out.WriteString("GET /ws HTTP/1.1\r\nHost: foo.com\r\nConnection: keep-alive, Upgrade\r\nUpgrade: WebSocket\r\n" +
				"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
			out.Write(clientFrame("early"))
			if _, err := conn.Write(out.Bytes()); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusSwitchingProtocols || !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") ||
				resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
				t.Fatalf("handshake: %d %v", resp.StatusCode, resp.Header)
			}
			for _, msg := range []string{"early", "later", "last"} {
				if msg != "early" {
					if _, err := conn.Write(clientFrame(msg)); err != nil {
						t.Fatal(err)
					}
				}
				want := append([]byte{0x81, byte(len(msg))}, msg...)
				got := make([]byte, len(want))
				if _, err := io.ReadFull(br, got); err != nil || !bytes.Equal(got, want) {
					t.Fatalf("echo of %q: got %q, %v; want %q", msg, got, err, want)
				}
			}
		})
	}
}

// clientFrame is a masked, final text frame of payload (under 126 bytes).
func clientFrame(payload string) []byte {
	mask := [4]byte{1, 2, 3, 4}
	f := []byte{0x81, 0x80 | byte(len(payload)), mask[0], mask[1], mask[2], mask[3]}
	for i := range len(payload) {
		f = append(f, payload[i]^mask[i%4])
	}
	return f
}

// TestWebSocketIdleTimeout closes a tunnel with no traffic either way for
// proxy-read-timeout, and not before.
func TestWebSocketIdleTimeout(t *testing.T) {
	t.Parallel()
	be := newWSEcho(t, "")
	p, srv := front(t, Options{Registry: prometheus.NewRegistry()},
		snap(1, "foo.com", backendOf("ws", []string{addr(be.srv)}, readTimeout(1))))
	c := dialWS(t, srv, "foo.com", "/")
	echo(t, c, "hi")
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _, err := c.Read(ctx)
	idle := time.Since(start)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("read: %v (context %v), want the tunnel closed", err, ctx.Err())
	}
	if idle < 900*time.Millisecond || idle > 2500*time.Millisecond {
		t.Errorf("tunnel closed after %v idle, want 1s (+1s slack)", idle)
	}
	waitFor(t, "read_timeout counted", func() bool { return closes(p, closeReadTimeout) == 1 })
}

// TestWebSocketTrafficKeepsAlive: backend pushes alone keep a tunnel open
// past proxy-read-timeout, since any traffic re-arms it.
func TestWebSocketTrafficKeepsAlive(t *testing.T) {
	t.Parallel()
	pushes := make(chan struct{})
	be := backend(t, func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		ctx := context.Background()
		for range 10 { // 2.5 s of pushes
			<-tick.C
			if err := c.Write(ctx, websocket.MessageText, []byte("tick")); err != nil {
				return
			}
		}
		close(pushes)
		_, _, _ = c.Read(ctx) // until the tunnel closes
	})
	p, srv := front(t, Options{Registry: prometheus.NewRegistry()},
		snap(1, "foo.com", backendOf("ws", []string{addr(be)}, readTimeout(1))))
	c := dialWS(t, srv, "foo.com", "/")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 10 {
		if _, msg, err := c.Read(ctx); err != nil || string(msg) != "tick" {
			t.Fatalf("push %d: %q, %v", i, msg, err)
		}
	}
	<-pushes
	if got := closes(p, closeReadTimeout); got != 0 {
		t.Errorf("read_timeout closes = %v after 2.5s of pushes, want 0", got)
	}
	// Then idle: closed.
	if _, _, err := c.Read(ctx); err == nil || ctx.Err() != nil {
		t.Fatalf("read after the pushes: %v (context %v), want the tunnel closed", err, ctx.Err())
	}
	waitFor(t, "read_timeout counted", func() bool { return closes(p, closeReadTimeout) == 1 })
}

// TestWebSocketSendTimeout closes a tunnel whose client stops reading while
// the backend keeps sending: the write to the client blocks for nginx's
// send_timeout (60 s, here shortened), which ngx_http_upstream_process_upgraded
// arms on the client's write; neither proxy-send-timeout (the upstream's
// writes) nor proxy-read-timeout (no read timer while the upstream's bytes
// wait) closes it before.
func TestWebSocketSendTimeout(t *testing.T) {
	t.Parallel()
	chunk := bytes.Repeat([]byte("y"), 64<<10)
	be := backend(t, func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for range 2000 { // at most 128 MiB
			if err := c.Write(ctx, websocket.MessageBinary, chunk); err != nil {
				return
			}
		}
	})
	p, srv := front(t, Options{Registry: prometheus.NewRegistry()},
		snap(1, "foo.com", backendOf("ws", []string{addr(be)}, readTimeout(1), sendTimeout(1))))
	const clientSend = 3 * time.Second
	p.clientSend = clientSend
	conn, err := net.Dial("tcp", addr(srv))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: foo.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	// Never read: the proxy's writes to this client block.
	for closes(p, closeSendTimeout)+closes(p, closeReadTimeout)+closes(p, closeBackend)+closes(p, closeClient) == 0 {
		if time.Since(start) > 15*time.Second {
			t.Fatal("the tunnel is still open after 15 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := closes(p, closeSendTimeout); n != 1 {
		t.Errorf("send_timeout counted %v, want 1 (backend %v, client %v)", n, closes(p, closeBackend), closes(p, closeClient))
	}
	if d := time.Since(start); d < clientSend-100*time.Millisecond {
		t.Errorf("closed after %v, want the client's send timeout (%v) at least", d, clientSend)
	} else if d > clientSend+2*time.Second {
		// The room the kernel frees in the client's socket buffer
		// without waking the writer is no progress: nginx closes at
		// send_timeout after the last write (the bytes above were
		// written at once); a write into that room at the deadline's
		// re-arm closed at twice the timeout. nginx 1.22.1 (send_timeout
		// 3s, proxy_read_timeout 1s, a backend writing 64 KiB at a time
		// to a client that never reads): "client timed out ... while
		// proxying upgraded connection" 3.0 s after the request.
		t.Errorf("closed after %v, want it at the client's send timeout (%v) after the last progress", d, clientSend)
	}
	if n := closes(p, closeReadTimeout); n != 0 {
		t.Errorf("read_timeout counted %v, want 0", n)
	}
	t.Logf("closed after %v", time.Since(start))
	if got := testutil.ToFloat64(p.metrics.tunnelsOpen); got != 0 {
		t.Errorf("weir_websocket_tunnels_open = %v after the close, want 0", got)
	}
}

// TestWebSocketSurvivesApply keeps a tunnel through configurations that
// change and then remove its route; its upstream stays counted in flight.
func TestWebSocketSurvivesApply(t *testing.T) {
	t.Parallel()
	be := newWSEcho(t, "")
	other := newWSEcho(t, "")
	p, srv := front(t, Options{Registry: prometheus.NewRegistry()}, snap(1, "foo.com", backendOf("ws", []string{addr(be.srv)})))
	up := upstreamOf(t, p)
	c := dialWS(t, srv, "foo.com", "/")
	echo(t, c, "before")
	if err := p.Apply(snap(2, "foo.com", backendOf("ws", []string{addr(other.srv)}, readTimeout(1)))); err != nil {
		t.Fatal(err)
	}
	echo(t, c, "route changed")
	if err := p.Apply(&snapshot.Snapshot{Version: 3}); err != nil {
		t.Fatal(err)
	}
	echo(t, c, "route removed")
	if got := up.InFlight.Load(); got != 1 {
		t.Errorf("in flight on the removed upstream = %d, want 1", got)
	}
	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Errorf("close: %v", err)
	}
	waitFor(t, "in flight released", func() bool { return up.InFlight.Load() == 0 })
	if got := closes(p, closeReadTimeout); got != 0 {
		t.Errorf("read_timeout closes = %v, want 0", got)
	}
}

// TestIsTCPThroughGuard: a plain client connection under h1guard still gets
// the tunnel's lazy write deadlines; a TLS one under it does not.
func TestIsTCPThroughGuard(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	g := h1guard.New(h1guard.Options{})
	if !isTCP(g.Conn(c)) {
		t.Errorf("a guarded TCP connection is not seen as TCP")
	}
	if isTCP(g.Conn(tls.Server(c, &tls.Config{}))) {
		t.Errorf("a guarded TLS connection is seen as TCP")
	}
	if !isTCP(g.Conn(plainWrapper{c})) {
		t.Errorf("a guarded TCP connection under another wrapper (connlimit's) is not seen as TCP")
	}
}

// plainWrapper is a connection wrapper that writes unchanged, as
// connlimit's and proxyproto's.
type plainWrapper struct{ net.Conn }

func (w plainWrapper) Unwrap() net.Conn { return w.Conn }

// TestUpgradeResponseHeaders: the response to an upgrade request, a 101 or
// a refusal, gets the headers nginx's filters give every response: the
// upstream's Server, Date and X-Pad hidden (Weir's own Date instead),
// hide-headers removed, add-headers set; the upstream's other fields pass.
// switching is the status line and fields of a WebSocket's 101.
const switching = "101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade"

// answeringBackend starts a backend that answers the one request of each
// connection with the status line and fields answer gives for its path,
// then the fields extra ("Name: value\r\n" each), and holds the
// connection (a 101's tunnel) until the client closes it.
func answeringBackend(tb testing.TB, answer func(path string) string, extra string) string {
	tb.Helper()
	return rawBackend(tb, func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 "+answer(req.URL.Path)+"\r\n"+extra+"\r\n")
		br.ReadByte()
	})
}

func TestUpgradeResponseHeaders(t *testing.T) {
	t.Parallel()
	up := answeringBackend(t, func(path string) string {
		if path == "/refuse" {
			return "403 Forbidden\r\nContent-Length: 0"
		}
		return switching
	}, "Server: upstream/1\r\nDate: Mon, 01 Jan 2001 00:00:00 GMT\r\nX-Pad: avoid browser bug\r\nX-Powered-By: php\r\nX-Up: 1\r\n")
	s := snap(1, "foo.com", backendOf("ws", []string{up}))
	s.Global.HideHeaders = []string{"x-powered-by"}
	s.Global.ResponseHeaders = []annotations.Header{{Name: "X-Frame-Options", Value: "DENY"}}
	_, srv := front(t, Options{}, s)
	for _, tc := range []struct {
		path   string
		status int
	}{{"/", http.StatusSwitchingProtocols}, {"/refuse", http.StatusForbidden}} {
		conn := dialRaw(t, addr(srv))
		io.WriteString(conn, "GET "+tc.path+" HTTP/1.1\r\nHost: foo.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
			"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		conn.Close()
		h := resp.Header
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", tc.path, resp.StatusCode, tc.status)
		}
		for _, k := range []string{"Server", "X-Pad", "X-Powered-By"} {
			if v, ok := h[k]; ok {
				t.Errorf("%s: client got %s: %q", tc.path, k, v)
			}
		}
		if d := h.Get("Date"); d == "" || strings.Contains(d, "2001") || len(h["Date"]) != 1 {
			t.Errorf("%s: Date %q, want Weir's own, once", tc.path, h["Date"])
		}
		if got := h.Get("X-Frame-Options"); got != "DENY" {
			t.Errorf("%s: X-Frame-Options %q, want add-headers' DENY", tc.path, got)
		}
		if got := h.Get("X-Up"); got != "1" {
			t.Errorf("%s: X-Up %q, want the upstream's 1", tc.path, got)
		}
	}
}

// TestUpgradeRequestConnection: the upstream's handshake carries nginx's
// "Connection: upgrade" (ingress-nginx's map $http_upgrade
// $connection_upgrade) and the client's Upgrade value, whatever case the
// client wrote them in, and proxy-set-headers, as the location's other requests.
func TestUpgradeRequestConnection(t *testing.T) {
	t.Parallel()
	got := make(chan http.Header, 1)
	up := rawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		got <- req.Header
		io.WriteString(c, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
	})
	s := snap(1, "foo.com", backendOf("ws", []string{up}))
	s.Global.UpstreamHeaders = []annotations.Header{{Name: "X-Client", Value: "$remote_addr"}}
	_, srv := front(t, Options{}, s)
	conn := dialRaw(t, addr(srv))
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: foo.com\r\nConnection: keep-alive, UPGRADE\r\nUpgrade: WebSocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	if _, err := http.ReadResponse(bufio.NewReader(conn), nil); err != nil {
		t.Fatal(err)
	}
	var h http.Header
	select {
	case h = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream got no handshake")
	}
	if c, u := strings.Join(h["Connection"], ","), strings.Join(h["Upgrade"], ","); c != "upgrade" || u != "WebSocket" {
		t.Errorf("upstream got Connection %q, Upgrade %q; want \"upgrade\", \"WebSocket\"", c, u)
	}
	if got := h.Get("X-Client"); got != "127.0.0.1" {
		t.Errorf("upstream got proxy-set-headers' X-Client %q, want 127.0.0.1", got)
	}
}

// TestUpgradeResponseHeaderTooLarge: the upstream's answer to an upgrade
// is held to proxy-buffer-size (4k by default) as any response header: a
// 101 whose header goes on for megabytes is nginx's 502 "upstream sent too
// big header", not read whole into memory and relayed to the client.
func TestUpgradeResponseHeaderTooLarge(t *testing.T) {
	t.Parallel()
	up := rawBackend(t, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n")
		line := "X-Filler: " + strings.Repeat("a", 1000) + "\r\n"
		for range 12 << 10 { // 12 MiB, until the proxy stops reading
			if _, err := io.WriteString(c, line); err != nil {
				return
			}
		}
		io.WriteString(c, "\r\n")
	})
	_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("ws", []string{up})))
	conn := dialRaw(t, addr(srv))
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: foo.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("status %d with a %d-byte header, want 502", resp.StatusCode, len(resp.Header.Get("X-Filler")))
	}
}

// readSwitchHead reads a response head from br, its Date's value replaced by
// "X".
func readSwitchHead(tb testing.TB, br *bufio.Reader) string {
	tb.Helper()
	var b strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			tb.Fatalf("read head: %v (so far %q)", err, b.String())
		}
		if strings.HasPrefix(line, "Date: ") {
			line = "Date: X\r\n"
		}
		b.WriteString(line)
		if line == "\r\n" {
			return b.String()
		}
	}
}

// TestUpgradeSwitchHead: the client gets the upstream's 101 as nginx 1.22
// relays it: the status line, Date, nginx's own "Connection: upgrade",
// the upstream's fields in its order and spelling (its Upgrade among them,
// none when it sent none; the fields its Connection names kept), the
// route's own (add-headers) after them. A client's Upgrade listing
// several protocols gets the 101 to the one the upstream chose.
func TestUpgradeSwitchHead(t *testing.T) {
	t.Parallel()
	up := answeringBackend(t, func(path string) string {
		if path == "/bare" {
			return "101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: abc"
		}
		return "101 Web Socket Protocol Handshake\r\nUpgrade: WebSocket\r\nConnection: Upgrade, X-Foo\r\nX-Foo: 1\r\n" +
			"Sec-WebSocket-Accept: abc\r\nx-lower: 2\r\nX-Up: a\r\nX-B: 3\r\nX-Up: b"
	}, "")
	s := snap(1, "foo.com", backendOf("ws", []string{up}))
	s.Global.ResponseHeaders = []annotations.Header{{Name: "X-Frame-Options", Value: "DENY"}}
	_, srv := front(t, Options{}, s)
	for _, tc := range []struct{ path, upgrade, want string }{
		{"/", "websocket", "HTTP/1.1 101 Web Socket Protocol Handshake\r\nDate: X\r\nConnection: upgrade\r\nUpgrade: WebSocket\r\n" +
			"X-Foo: 1\r\nSec-WebSocket-Accept: abc\r\nx-lower: 2\r\nX-Up: a\r\nX-Up: b\r\nX-B: 3\r\nX-Frame-Options: DENY\r\n\r\n"},
		{"/", "websocket, foo/1", "HTTP/1.1 101 Web Socket Protocol Handshake\r\nDate: X\r\nConnection: upgrade\r\nUpgrade: WebSocket\r\n" +
			"X-Foo: 1\r\nSec-WebSocket-Accept: abc\r\nx-lower: 2\r\nX-Up: a\r\nX-Up: b\r\nX-B: 3\r\nX-Frame-Options: DENY\r\n\r\n"},
		{"/bare", "websocket", "HTTP/1.1 101 Switching Protocols\r\nDate: X\r\nConnection: upgrade\r\n" +
			"Sec-WebSocket-Accept: abc\r\nX-Frame-Options: DENY\r\n\r\n"},
	} {
		conn := dialRaw(t, addr(srv))
		io.WriteString(conn, "GET "+tc.path+" HTTP/1.1\r\nHost: foo.com\r\nConnection: Upgrade\r\nUpgrade: "+tc.upgrade+"\r\n"+
			"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
		got := readSwitchHead(t, bufio.NewReader(conn))
		conn.Close()
		if got != tc.want {
			t.Errorf("%s, Upgrade %q: head\n%q, want\n%q", tc.path, tc.upgrade, got, tc.want)
		}
	}
}

// TestUpgradeAccessLog: a tunnel's access-log line has nginx's values: 101,
// $bytes_sent the 101's head and the bytes the client got, the upstream's
// $upstream_response_length 0 (a 101 has no body), its connect and header
// times, and an $upstream_response_time that is the tunnel's life, as
// $request_time.
func TestUpgradeAccessLog(t *testing.T) {
	t.Parallel()
	up := rawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nhello")
		time.Sleep(300 * time.Millisecond)
	})
	buf := new(syncBuffer)
	s := withLogFormat(t, snap(1, "foo.com", backendOf("a", []string{up})), map[string]string{"log-format-upstream": "$status $body_bytes_sent $bytes_sent $upstream_response_length $upstream_connect_time $upstream_header_time $upstream_response_time $request_time"})
	_, srv := front(t, Options{AccessLog: buf}, s)
	conn := dialRaw(t, addr(srv))
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: foo.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	all, _ := io.ReadAll(conn)
	head, body, _ := strings.Cut(string(all), "\r\n\r\n")
	if body != "hello" {
		t.Fatalf("client got %q, want the 101 and hello", all)
	}
	waitFor(t, "the access-log line", func() bool { return strings.HasSuffix(buf.String(), "\n") })
	f := strings.Fields(buf.String())
	if len(f) != 8 {
		t.Fatalf("line %q", buf.String())
	}
	want := []string{"101", "5", strconv.Itoa(len(head) + 4 + 5), "0"}
	if diff := cmp.Diff(want, f[:4]); diff != "" {
		t.Errorf("$status $body_bytes_sent $bytes_sent $upstream_response_length (-want +got):\n%s", diff)
	}
	if f[4] == "-" || f[5] == "-" {
		t.Errorf("$upstream_connect_time %s, $upstream_header_time %s: want times", f[4], f[5])
	}
	if rt, _ := strconv.ParseFloat(f[6], 64); rt < 0.25 || f[6] != f[7] && math.Abs(rt-mustFloat(f[7])) > 0.002 {
		t.Errorf("$upstream_response_time %s, $request_time %s: want the tunnel's life (0.3 s) in both", f[6], f[7])
	}
}

func mustFloat(s string) float64 {
	v, _ := strconv.ParseFloat(s, 64)
	return v
}

// TestUpgradeWithBody: an upgrade with a Content-Length body goes upstream
// as nginx sends it, Upgrade, Connection: upgrade and the body, and the
// 101 opens the tunnel; the body is sent again to the next upstream when
// the first fails before its answer (a GET: nginx passes no POST on once
// sent).
func TestUpgradeWithBody(t *testing.T) {
	t.Parallel()
	got := make(chan string, 4)
	up := rawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		b, _ := io.ReadAll(req.Body)
		got <- req.Header.Get("Upgrade") + "|" + req.Header.Get("Connection") + "|" + string(b)
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		n, _ := br.Read(make([]byte, 16))
		io.WriteString(c, strconv.Itoa(n))
	})
	down := rawBackend(t, func(c net.Conn) { c.Close() }) // fails before any answer
	_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("ws", []string{down, up})))
	for range 2 { // round robin: one of them meets down first
		conn := dialRaw(t, addr(srv))
		io.WriteString(conn, "GET / HTTP/1.1\r\nHost: foo.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 3\r\n\r\nabc")
		br := bufio.NewReader(conn)
		if head := readSwitchHead(t, br); !strings.HasPrefix(head, "HTTP/1.1 101 ") {
			t.Fatalf("head %q, want a 101", head)
		}
		io.WriteString(conn, "ping")
		b := make([]byte, 1)
		if _, err := io.ReadFull(br, b); err != nil || string(b) != "4" {
			t.Errorf("through the tunnel: %q %v, want the backend's 4", b, err)
		}
		conn.Close()
		if g := <-got; g != "websocket|upgrade|abc" {
			t.Errorf("upstream got Upgrade|Connection|body %q, want websocket|upgrade|abc", g)
		}
	}
}

// TestUpgradeClientLeavesHandshake: a client that closes while the
// upstream has not answered its upgrade ends the request at once, as
// nginx's broken-connection check: 499, nothing sent, the upstream's
// connection closed; not after proxy-read-timeout.
func TestUpgradeClientLeavesHandshake(t *testing.T) {
	t.Parallel()
	entered, upClosed := make(chan struct{}), make(chan struct{})
	up := rawBackend(t, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		close(entered)
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		c.Read(make([]byte, 1)) // never answers; returns when the proxy closes
		close(upClosed)
	})
	buf := new(syncBuffer)
	s := withLogFormat(t, snap(1, "foo.com", backendOf("a", []string{up}, readTimeout(30))), map[string]string{"log-format-upstream": "$status $bytes_sent $upstream_status"})
	_, srv := front(t, Options{AccessLog: buf}, s)
	conn := dialRaw(t, addr(srv))
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: foo.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	<-entered
	start := time.Now()
	conn.Close()
	waitFor(t, "the access-log line", func() bool { return strings.HasSuffix(buf.String(), "\n") })
	if got, want := buf.String(), "499 0 -\n"; got != want {
		t.Errorf("line %q, want %q", got, want)
	}
	select {
	case <-upClosed:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream's connection is still open")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("ended %v after the client left, want at once", d)
	}
}

// TestFailedWriteReasonStands: a write to the client that timed out names
// why the tunnel closes, even when the other pump, whose read deadline
// expired meanwhile, ends it for read_timeout before the writer's pump
// does (the race TestWebSocketSendTimeout lost under load).
func TestFailedWriteReasonStands(t *testing.T) {
	t.Parallel()
	pc, _ := tcpPair(t) // the client's end is never read
	pb, _ := tcpPair(t)
	tn := newTunnel(pc, pb, pc, pb, timeouts{send: time.Minute, read: time.Minute, client: 100 * time.Millisecond}, nil)
	_ = pc.SetWriteDeadline(time.Now().Add(tn.sendClient)) // as run does
	var count atomic.Int64
	big := make([]byte, 64<<20) // more than the sockets hold
	if stop := tn.write(pc, big, closeClient, &count); stop != closeSendTimeout {
		t.Fatalf("write stopped for %q, want %q", stop, closeSendTimeout)
	}
	if tn.writingClient.Load() {
		t.Errorf("a write still counted as waiting on the client after it returned")
	}
	tn.end(closeReadTimeout) // the other pump first
	tn.end(closeSendTimeout) // then the writer's
	if got := *tn.reason.Load(); got != closeSendTimeout {
		t.Errorf("tunnel closed for %q, want %q", got, closeSendTimeout)
	}
}

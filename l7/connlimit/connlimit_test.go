package connlimit

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/weir-lb/weir/l7/h1server/h1servertest"
)

// source is a Source whose settings a test changes.
type source struct{ s atomic.Pointer[Settings] }

func newSource(s Settings) *source {
	src := &source{}
	src.set(s)
	return src
}

func (s *source) set(v Settings)       { s.s.Store(&v) }
func (s *source) ConnLimits() Settings { return *s.s.Load() }

// serve starts an http.Server configured by a Limiter on 127.0.0.1, served
// by Weir's HTTP/1 server or net/http's (h1servertest), and returns its
// address and the Limiter.
func serve(t testing.TB, src Source, reg prometheus.Registerer, h http.Handler) (string, *Limiter) {
	t.Helper()
	addr, l, _ := serveIdle(t, src, reg, h)
	return addr, l
}

// serveIdle is serve, and a channel that receives each time a connection
// goes idle (after the Limiter saw it: its keep-alive timer runs).
func serveIdle(t testing.TB, src Source, reg prometheus.Registerer, h http.Handler) (string, *Limiter, <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if h == nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	}
	l := New(Options{Source: src, Registry: reg})
	idle := make(chan struct{}, 64)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Hour,
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateIdle {
				select {
				case idle <- struct{}{}:
				default:
				}
			}
		}}
	l.Configure(srv) // its hook runs before the one above
	h1servertest.Serve(t, srv, ln, l.Listener)
	return ln.Addr().String(), l, idle
}

// client is a raw HTTP/1.1 connection.
type client struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, conn: c, br: bufio.NewReader(c)}
}

// send writes a GET.
func (c *client) send() {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"); err != nil {
		c.t.Fatal(err)
	}
}

// response reads a response within d.
func (c *client) response(d time.Duration) (*http.Response, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, err
}

// get sends a GET and reads its response.
func (c *client) get() *http.Response {
	c.t.Helper()
	c.send()
	resp, err := c.response(5 * time.Second)
	if err != nil {
		c.t.Fatalf("read response: %v", err)
	}
	return resp
}

// closedWithin reports whether the server closes the connection within d.
func (c *client) closedWithin(d time.Duration) bool {
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	_, err := c.br.ReadByte()
	return errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
}

func TestKeepAliveRequests(t *testing.T) {
	t.Parallel()
	src := newSource(Settings{KeepAlive: time.Minute, KeepAliveRequests: 3})
	addr, _ := serve(t, src, nil, nil)
	c := dial(t, addr)
	for i := 1; i <= 3; i++ {
		resp := c.get()
		if got, want := resp.Close, i == 3; got != want {
			t.Errorf("request %d: Connection: close %v, want %v", i, got, want)
		}
	}
	if !c.closedWithin(5 * time.Second) {
		t.Errorf("the connection stays open after its keep-alive-requests-th response")
	}

	// A change applies to the connections open: the next request is past
	// the new limit.
	c = dial(t, addr)
	if resp := c.get(); resp.Close {
		t.Errorf("first request of 3: Connection: close")
	}
	src.set(Settings{KeepAlive: time.Minute, KeepAliveRequests: 1})
	if resp := c.get(); !resp.Close {
		t.Errorf("second request after keep-alive-requests went to 1: no Connection: close")
	}
}

// TestKeepAliveRequestsUpgrade: a request with Upgrade that gets no 101
// counts towards keep-alive-requests, as nginx counts every request (nginx
// 1.22.1, keepalive_requests 2: the second such answer said Connection:
// close); it was left alone, so "Upgrade: x" on each request kept a connection open
// for ever.
func TestKeepAliveRequestsUpgrade(t *testing.T) {
	t.Parallel()
	addr, _ := serve(t, newSource(Settings{KeepAlive: time.Minute, KeepAliveRequests: 3}), nil, nil)
	c := dial(t, addr)
	for i := 1; i <= 3; i++ {
		if _, err := io.WriteString(c.conn, "GET / HTTP/1.1\r\nHost: a.test\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := c.response(5 * time.Second)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if got, want := resp.Close, i == 3; got != want {
			t.Errorf("request %d with Upgrade: Connection: close %v, want %v", i, got, want)
		}
	}
	if !c.closedWithin(5 * time.Second) {
		t.Errorf("the connection stays open after its keep-alive-requests-th response")
	}
}

func TestKeepAliveOff(t *testing.T) {
	t.Parallel()
	addr, _ := serve(t, newSource(Settings{KeepAlive: 0, KeepAliveRequests: 1000}), nil, nil)
	c := dial(t, addr)
	if resp := c.get(); !resp.Close {
		t.Errorf("keep-alive 0: response without Connection: close")
	}
	if !c.closedWithin(5 * time.Second) {
		t.Errorf("keep-alive 0: the connection stays open")
	}
}

func TestKeepAliveTimeout(t *testing.T) {
	t.Parallel()
	src := newSource(Settings{KeepAlive: time.Hour, KeepAliveRequests: 1000})
	addr, _, idle := serveIdle(t, src, nil, nil)
	long := dial(t, addr)
	long.get()
	// The server calls ConnState(StateIdle) after the response went out:
	// the hour must be read before the settings change.
	select {
	case <-idle:
	case <-time.After(5 * time.Second):
		t.Fatal("the first connection never went idle")
	}
	src.set(Settings{KeepAlive: 200 * time.Millisecond, KeepAliveRequests: 1000})
	short := dial(t, addr)
	short.get()
	start := time.Now()
	if !short.closedWithin(5 * time.Second) {
		t.Fatalf("keep-alive 200ms: an idle connection stays open")
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("keep-alive 200ms: closed after %v", d)
	}
	// The connection that went idle under the hour is still served.
	if resp := long.get(); resp.StatusCode != http.StatusOK {
		t.Errorf("connection idle under keep-alive 1h: status %d", resp.StatusCode)
	}

	// A request whose first bytes arrived before the idle timeout is
	// served, however long its head takes within the header timeout. A
	// probe connection that went idle just after shows when the idle
	// period ended.
	c := dial(t, addr)
	c.get()
	probe := dial(t, addr)
	probe.get()
	io.WriteString(c.conn, "GET / HT")
	if !probe.closedWithin(5 * time.Second) {
		t.Fatalf("keep-alive 200ms: the idle probe connection stays open")
	}
	io.WriteString(c.conn, "TP/1.1\r\nHost: a.test\r\n\r\n")
	if resp, err := c.response(5 * time.Second); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("request begun within keep-alive: %v, %v", resp, err)
	}
}

func TestMaxConnections(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	src := newSource(Settings{KeepAlive: time.Minute, KeepAliveRequests: 1000, MaxConnections: 2})
	hijacked := make(chan net.Conn, 1)
	addr, l := serve(t, src, reg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hijack" {
			c, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n")
			brw.Flush()
			hijacked <- c
			return
		}
		io.WriteString(w, "ok")
	}))
	a, b := dial(t, addr), dial(t, addr)
	a.get()
	b.get()
	c := dial(t, addr) // completes in the kernel's accept queue
	c.send()
	if _, err := c.response(300 * time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("third connection at a cap of 2: got %v, want no response", err)
	}
	if got := testutil.ToFloat64(l.capped); got < 1 {
		t.Errorf("weir_client_connections_capped_total = %v, want at least 1", got)
	}
	a.conn.Close()
	if resp, err := c.response(5 * time.Second); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("third connection once the first closed: %v, %v", resp, err)
	}

	// A hijacked connection (a WebSocket tunnel) holds its slot until it
	// is closed.
	io.WriteString(b.conn, "GET /hijack HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n")
	tunnel := <-hijacked
	d := dial(t, addr)
	d.send()
	if _, err := d.response(300 * time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection past a hijacked one at the cap: got %v, want no response", err)
	}
	tunnel.Close()
	if resp, err := d.response(5 * time.Second); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("connection once the hijacked one closed: %v, %v", resp, err)
	}
	if got := testutil.ToFloat64(l.gauge); got != 2 {
		t.Errorf("weir_client_connections = %v, want 2", got)
	}

	// Raising the cap lets a waiting connection in without a close.
	e := dial(t, addr)
	e.send()
	if _, err := e.response(300 * time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("third connection at a cap of 2: got %v, want no response", err)
	}
	src.set(Settings{KeepAlive: time.Minute, KeepAliveRequests: 1000, MaxConnections: 3})
	if resp, err := e.response(5 * time.Second); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("waiting connection once the cap rose to 3: %v, %v", resp, err)
	}
}

type otherKey struct{}

// TestConnContextTwice: the connection's first context holds it without a
// context.WithValue; a second ConnContext call gets a context of its own
// and leaves the first as it was.
func TestConnContextTwice(t *testing.T) {
	t.Parallel()
	c := &conn{}
	first := c.context(context.Background())
	second := c.context(context.WithValue(context.Background(), otherKey{}, 1))
	if first.Value(connKey{}) != c || second.Value(connKey{}) != c {
		t.Fatal("a context does not hold the connection")
	}
	if first.Value(otherKey{}) != nil {
		t.Error("the second call changed the first context's parent")
	}
	if second.Value(otherKey{}) != 1 {
		t.Error("the second context lost its parent's value")
	}
}

// TestKeepAliveRequestsHTTP2: an HTTP/2 connection serves
// keep-alive-requests streams, then the server's GOAWAY sends the next
// request to a new connection, as nginx 1.22.1 with keepalive_requests 2
// did (requests 1 and 2 on one connection, 3 and 4 on the next).
func TestKeepAliveRequestsHTTP2(t *testing.T) {
	t.Parallel()
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) }))
	l := New(Options{Source: newSource(Settings{KeepAlive: time.Minute, KeepAliveRequests: 2})})
	l.Configure(ts.Config)
	ts.Listener = l.Listener(ts.Listener)
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(ts.Close)
	c := ts.Client()
	var conns []string
	for i := range 4 {
		var local string
		req, _ := http.NewRequest(http.MethodGet, ts.URL, nil)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(ci httptrace.GotConnInfo) { local = ci.Conn.LocalAddr().String() }}))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "HTTP/2.0" {
			t.Fatalf("request %d served over %q, want HTTP/2.0", i, b)
		}
		if resp.Header["Connection"] != nil {
			t.Errorf("request %d: HTTP/2 response with a Connection field %q", i, resp.Header["Connection"])
		}
		conns = append(conns, local)
	}
	if conns[0] != conns[1] || conns[1] == conns[2] || conns[2] != conns[3] {
		t.Errorf("four requests with keep-alive-requests 2 on connections %v, want two on each of two", conns)
	}
}

// TestKeepAliveHTTP2Frames: an idle HTTP/2 connection closes at the end of
// keep-alive although the client keeps sending PING frames, as nginx's
// keepalive_timeout timer is not pushed back by them; an HTTP/1
// connection would get the header timeout (an hour here) for bytes that
// arrived while idle.
func TestKeepAliveHTTP2Frames(t *testing.T) {
	t.Parallel()
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	l := New(Options{Source: newSource(Settings{KeepAlive: 300 * time.Millisecond, KeepAliveRequests: 1000, HeaderTimeout: time.Hour})})
	l.Configure(ts.Config)
	ts.Listener = l.Listener(ts.Listener)
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(ts.Close)
	c, err := tls.Dial("tcp", ts.Listener.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}}) // the test checks the connection's life, not the certificate
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("negotiated %q, want h2", p)
	}
	// The preface and an empty SETTINGS frame open the connection; no
	// stream follows, so it is idle from the start.
	if _, err := io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		io.Copy(io.Discard, c) // the server's SETTINGS, acks, then EOF
	}()
	ping := []byte("\x00\x00\x08\x06\x00\x00\x00\x00\x00pingping")
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case <-closed:
			return
		case <-tick.C:
			c.Write(ping) // fails once the server closed; closed says so
		case <-deadline:
			t.Fatal("an HTTP/2 connection sending PING frames stays open 10 s past keep-alive 300ms")
		}
	}
}

// TestConnSizeClass: a conn (one each accepted connection) fits the
// 144-byte size class (objects of up to 512 bytes have no heap header); a
// field that pushes it past costs every connection 16 bytes or more: find
// it a hole among the small fields (conn's doc comment).
func TestConnSizeClass(t *testing.T) {
	const class = 144
	if size := unsafe.Sizeof(conn{}); size > class {
		t.Errorf("conn is %d bytes: past the %d-byte size class", size, class)
	}
}

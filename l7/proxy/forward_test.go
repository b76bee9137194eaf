package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// countingBackend is a backend that counts the connections it accepted
// and closed.
func countingBackend(tb testing.TB, h http.HandlerFunc) (s *httptest.Server, opened, closed *atomic.Int64) {
	tb.Helper()
	opened, closed = new(atomic.Int64), new(atomic.Int64)
	s = httptest.NewUnstartedServer(h)
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			opened.Add(1)
		case http.StateClosed, http.StateHijacked:
			closed.Add(1)
		}
	}
	s.Start()
	tb.Cleanup(s.Close)
	return s, opened, closed
}

// rawBackend serves each accepted connection with serve, on 127.0.0.1.
func rawBackend(tb testing.TB, serve func(net.Conn)) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	var wg sync.WaitGroup
	tb.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				serve(c)
			})
		}
	})
	return l.Addr().String()
}

// staleConn is an idle connection the upstream has closed in a way the
// peek before reuse cannot see: writes fail or succeed, reads see EOF.
type staleConn struct {
	net.Conn // nil: any other method panics
	writeErr error
	closed   atomic.Bool
}

func (c *staleConn) Write(b []byte) (int, error) {
	if c.writeErr != nil {
		return 0, c.writeErr
	}
	return len(b), nil
}
func (c *staleConn) Read([]byte) (int, error)         { return 0, io.EOF }
func (c *staleConn) Close() error                     { c.closed.Store(true); return nil }
func (c *staleConn) SetDeadline(time.Time) error      { return nil }
func (c *staleConn) SetReadDeadline(time.Time) error  { return nil }
func (c *staleConn) SetWriteDeadline(time.Time) error { return nil }
func (c *staleConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
func (c *staleConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

func TestStaleKeepaliveRetried(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		writeErr error
	}{
		{"read EOF", nil},
		{"write reset", syscall.ECONNRESET},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			up, opened, _ := countingBackend(t, func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, "fresh")
			})
			p, srv := front(t, Options{}, snap(1, "foo.com", backendOf("a", []string{addr(up)})))
			// Two: the retry must not take the other dead one.
			p.pool.put(addr(up), &staleConn{writeErr: tc.writeErr}, 1, time.Now(), nil, time.Now())
			stale := &staleConn{writeErr: tc.writeErr}
			p.pool.put(addr(up), stale, 1, time.Now(), nil, time.Now())
			got := get(t, client(t), srv, "foo.com", "/")
			if got.status != 200 || got.body != "fresh" {
				t.Fatalf("got %d %q %v, want 200 \"fresh\"", got.status, got.body, got.err)
			}
			if !stale.closed.Load() {
				t.Error("the stale connection was not closed")
			}
			if n := opened.Load(); n != 1 {
				t.Errorf("backend saw %d connections, want 1 (the retry)", n)
			}
		})
	}
}

func TestStaleBodyConsumedNotRetried(t *testing.T) {
	t.Parallel()
	// The body went into the stale connection: it cannot be sent again.
	up, opened, _ := countingBackend(t, func(w http.ResponseWriter, r *http.Request) {})
	p, srv := front(t, Options{}, snap(1, "foo.com", backendOf("a", []string{addr(up)})))
	p.pool.put(addr(up), &staleConn{}, 1, time.Now(), nil, time.Now())
	got := do(t, client(t), srv, http.MethodPost, "foo.com", "/", strings.NewReader("payload"))
	if got.status != http.StatusBadGateway {
		t.Errorf("got %d %v, want 502", got.status, got.err)
	}
	if n := opened.Load(); n != 0 {
		t.Errorf("backend saw %d connections, want 0", n)
	}
}

func TestUpstreamClosedWhileIdle(t *testing.T) {
	t.Parallel()
	// Each connection answers one request and closes without saying so:
	// the next request finds the pooled connection closed and uses a new
	// one: a GET by its retry, a POST with a body by the peek before reuse.
	addr := rawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		b, _ := io.ReadAll(req.Body)
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\nok%s", 2+len(b), b)
	})
	p, srv := front(t, Options{}, snap(1, "foo.com", backendOf("a", []string{addr})))
	c := client(t)
	for i := range 6 {
		method, body, want := http.MethodGet, io.Reader(nil), "ok"
		if i%2 == 1 {
			method, body, want = http.MethodPost, strings.NewReader("+body"), "ok+body"
		}
		if got := do(t, c, srv, method, "foo.com", "/", body); got.status != 200 || got.body != want {
			t.Fatalf("request %d (%s): got %d %q %v", i, method, got.status, got.body, got.err)
		}
		// Wait until the upstream's close has reached us, so that the next
		// request meets a closed idle connection.
		waitFor(t, "the idle connection closed by the upstream", func() bool {
			p.pool.mu.Lock()
			defer p.pool.mu.Unlock()
			h := p.pool.hosts[addr]
			return h == nil || len(h.conns) == 0 || !peerOpen(h.conns[0].c)
		})
	}
}

func TestConnectionCloseHonoured(t *testing.T) {
	t.Parallel()
	up, opened, closed := countingBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/close" {
			w.Header().Set("Connection", "close")
		}
		fmt.Fprint(w, "ok")
	})
	p, srv := front(t, Options{}, snap(1, "foo.com", backendOf("a", []string{addr(up)})))
	c := client(t)
	for i := range 3 {
		if got := get(t, c, srv, "foo.com", "/close"); got.status != 200 || got.body != "ok" {
			t.Fatalf("request %d: got %d %q %v", i, got.status, got.body, got.err)
		}
		// The client's connection stays: it is told keep-alive (as nginx
		// tells it), or nothing (net/http's server), never the upstream's
		// close.
		if got := get(t, c, srv, "foo.com", "/close"); got.header.Get("Connection") == "close" {
			t.Errorf("upstream's Connection header relayed: %q", got.header.Get("Connection"))
		}
	}
	if n := opened.Load(); n != 6 {
		t.Errorf("backend saw %d connections for 6 requests answered with Connection: close, want 6", n)
	}
	waitFor(t, "all closed", func() bool { return closed.Load() == 6 })
	if n := p.pool.idle(addr(up)); n != 0 {
		t.Errorf("%d idle connections kept, want 0", n)
	}

	// A client's Connection: close is about its own connection, not the
	// upstream's.
	up2, opened2, _ := countingBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Connection"); got != "" {
			t.Errorf("upstream got Connection %q", got)
		}
		fmt.Fprint(w, "ok")
	})
	_, srv2 := front(t, Options{}, snap(1, "foo.com", backendOf("b", []string{addr(up2)})))
	for i := range 3 {
		req, _ := http.NewRequest(http.MethodGet, srv2.URL+"/", nil)
		req.Host, req.Close = "foo.com", true
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// Forwarded, the close would cost a connection per request. The client
	// may leave before the upstream connection is parked (its response is
	// out before the handler returns), so one more than 1 can happen.
	if n := opened2.Load(); n >= 3 {
		t.Errorf("backend saw %d connections for 3 requests, want the upstream connection reused", n)
	}
}

func TestChunkedBodies(t *testing.T) {
	t.Parallel()
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read body: %v", err)
		}
		fmt.Fprintf(w, "te=%v len=%d body=", r.TransferEncoding, r.ContentLength)
		w.(http.Flusher).Flush() // no Content-Length: chunked
		for i := range 3 {
			fmt.Fprintf(w, "%s#%d;", b, i)
			w.(http.Flusher).Flush()
		}
	})
	_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("a", []string{addr(up)}, streamBody)))
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", io.MultiReader(strings.NewReader("ab"), strings.NewReader("cd")))
	req.Host = "foo.com"
	resp, err := client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if want := "te=[chunked] len=-1 body=abcd#0;abcd#1;abcd#2;"; string(b) != want {
		t.Errorf("body %q, want %q", b, want)
	}
	if diff := cmp.Diff([]string{"chunked"}, resp.TransferEncoding); diff != "" {
		t.Errorf("response Transfer-Encoding (-want +got):\n%s", diff)
	}
}

func TestStreamedResponseFlushed(t *testing.T) {
	t.Parallel()
	// Each event reaches the client before the upstream sends the next.
	next := make(chan struct{})
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
			select {
			case <-next:
			case <-r.Context().Done():
				return
			}
		}
	})
	_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("a", []string{addr(up)})))
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
	req.Host = "foo.com"
	resp, err := client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for i := range 3 {
		line, err := br.ReadString('\n')
		if err != nil || line != fmt.Sprintf("data: %d\n", i) {
			t.Fatalf("event %d: %q %v", i, line, err)
		}
		br.ReadString('\n')
		next <- struct{}{}
	}
}

func TestExpectContinue(t *testing.T) {
	t.Parallel()
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "got %s", b)
	})
	_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("a", []string{addr(up)})))
	conn, err := net.Dial("tcp", addr(srv))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "POST / HTTP/1.1\r\nHost: foo.com\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	br := bufio.NewReader(conn)
	tp := textproto.NewReader(br)
	line, err := tp.ReadLine()
	if err != nil || line != "HTTP/1.1 100 Continue" {
		t.Fatalf("first line %q %v, want 100 Continue before the body", line, err)
	}
	for {
		if l, err := tp.ReadLine(); err != nil || l == "" {
			break
		}
	}
	io.WriteString(conn, "hello")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	for resp.StatusCode == http.StatusContinue { // the upstream's own 100
		if resp, err = http.ReadResponse(br, nil); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "got hello" {
		t.Errorf("got %d %q, want 200 \"got hello\"", resp.StatusCode, b)
	}
}

// TestExpectContinueBodiless: an HTTP/1.1 request without a body that
// expects 100-continue gets the interim 100, without fields, before its
// response, as nginx sends it to every request it proxies; an HTTP/1.0
// one does not (ngx_http_test_expect). Each read off nginx 1.22.1.
func TestExpectContinueBodiless(t *testing.T) {
	t.Parallel()
	up := backend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("a", []string{addr(up)})))
	for _, tc := range []struct {
		req  string
		cont bool
	}{
		{"GET / HTTP/1.1\r\nHost: foo.com\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n", true},
		{"POST / HTTP/1.1\r\nHost: foo.com\r\nExpect: 100-Continue\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", true},
		{"GET / HTTP/1.0\r\nHost: foo.com\r\nExpect: 100-continue\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: foo.com\r\nExpect: something\r\nConnection: close\r\n\r\n", false},
	} {
		conn, err := net.Dial("tcp", addr(srv))
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(conn, tc.req)
		got, _ := io.ReadAll(conn)
		conn.Close()
		const cont = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
		if n := strings.Count(string(got), " 100 Continue"); tc.cont && (!strings.HasPrefix(string(got), cont) || n != 1) || !tc.cont && n > 0 {
			t.Errorf("%q: got %q, want a 100 Continue first: %v", tc.req, got, tc.cont)
		}
	}
}

func TestEarlyHintsRelayed(t *testing.T) {
	t.Parallel()
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		fmt.Fprint(w, "final")
	})
	_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("a", []string{addr(up)})))
	var hints []string
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			hints = append(hints, fmt.Sprintf("%d %s", code, h.Get("Link")))
			return nil
		},
	})
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/", nil)
	req.Host = "foo.com"
	resp, err := client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "final" || resp.Header.Get("Link") != "" {
		t.Errorf("got %d %q Link %q, want 200 \"final\" without Link", resp.StatusCode, b, resp.Header.Get("Link"))
	}
	if diff := cmp.Diff([]string{"103 </style.css>; rel=preload"}, hints); diff != "" {
		t.Errorf("interim responses (-want +got):\n%s", diff)
	}
}

func TestHeadAndNoBodyStatuses(t *testing.T) {
	t.Parallel()
	up, opened, _ := countingBackend(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.WriteHeader(http.StatusNotModified)
		default:
			w.Header().Set("Content-Length", "1234")
			if r.Method != http.MethodHead {
				io.WriteString(w, strings.Repeat("x", 1234))
			}
		}
	})
	_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("a", []string{addr(up)})))
	c := client(t)
	for _, tc := range []struct {
		method, path string
		status       int
		length       string
		bodyLen      int
	}{
		{http.MethodHead, "/", 200, "1234", 0},
		{http.MethodGet, "/204", 204, "", 0},
		{http.MethodGet, "/304", 304, "", 0},
		{http.MethodGet, "/", 200, "1234", 1234},
		{http.MethodHead, "/", 200, "1234", 0},
	} {
		got := do(t, c, srv, tc.method, "foo.com", tc.path, nil)
		if got.err != nil || got.status != tc.status || got.header.Get("Content-Length") != tc.length || len(got.body) != tc.bodyLen {
			t.Errorf("%s %s: got %d Content-Length %q %d bytes %v, want %d %q %d", tc.method, tc.path,
				got.status, got.header.Get("Content-Length"), len(got.body), got.err, tc.status, tc.length, tc.bodyLen)
		}
	}
	if n := opened.Load(); n != 1 {
		t.Errorf("backend saw %d connections, want 1: bodiless responses keep the connection", n)
	}
}

func TestTrailers(t *testing.T) {
	t.Parallel()
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		w.Header().Set("X-Saw-Te", r.Header.Get("Te"))
		io.WriteString(w, "body")
		w.Header().Set("X-Checksum", "abc")
		w.Header().Set(http.TrailerPrefix+"X-Late", "late")
		// Fields that may not be trailers (dropForbiddenTrailers).
		w.Header().Set(http.TrailerPrefix+"Content-Length", "99")
		w.Header().Set(http.TrailerPrefix+"Host", "evil.test")
	})
	_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("a", []string{addr(up)})))
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
	req.Host = "foo.com"
	req.Header.Set("Te", "trailers")
	resp, err := client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(b) != "body" {
		t.Fatalf("body %q %v", b, err)
	}
	if got := resp.Header.Get("X-Saw-Te"); got != "" {
		t.Errorf("upstream saw Te %q, want none (nginx's proxy module sends TE \"\")", got)
	}
	want := http.Header{"X-Checksum": {"abc"}, "X-Late": {"late"}}
	if diff := cmp.Diff(want, resp.Trailer); diff != "" {
		t.Errorf("trailers (-want +got):\n%s", diff)
	}
}

func TestResponseCutAbortsClient(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	addr := rawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			if n.Add(1) == 1 {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
				return // cut after 10 of 100 bytes
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	var logs syncBuffer
	_, srv := front(t, Options{Logger: testLogger(&logs)}, snap(1, "foo.com", backendOf("a", []string{addr})))
	c := client(t)
	got := get(t, c, srv, "foo.com", "/")
	if got.err == nil {
		t.Errorf("client read a cut response without error: %d %q", got.status, got.body)
	}
	waitFor(t, "the error logged", func() bool { return strings.Contains(logs.String(), "reason=upstream_error") })
	if got := get(t, c, srv, "foo.com", "/"); got.status != 200 || got.body != "ok" {
		t.Errorf("next request: got %d %q %v", got.status, got.body, got.err)
	}
}

func TestPoolBounded(t *testing.T) {
	t.Parallel()
	const parallel, maxIdle = 6, 2
	var entered sync.WaitGroup
	entered.Add(parallel)
	release := make(chan struct{})
	up, opened, closed := countingBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wait" {
			entered.Done()
			<-release
		}
		fmt.Fprint(w, "ok")
	})
	s := snap(1, "foo.com", backendOf("a", []string{addr(up)}))
	s.Global.UpstreamKeepaliveTimeout = 2 * time.Second
	p, srv := front(t, Options{Transport: TransportOptions{MaxIdleConnsPerHost: maxIdle}}, s)
	c := client(t)
	done := make(chan result, parallel)
	for range parallel {
		go func() { done <- get(t, c, srv, "foo.com", "/wait") }()
	}
	entered.Wait()
	close(release)
	for range parallel {
		if got := <-done; got.status != 200 {
			t.Errorf("got %d %v", got.status, got.err)
		}
	}
	if n := opened.Load(); n != parallel {
		t.Errorf("backend saw %d connections, want %d", n, parallel)
	}
	if n := p.pool.idle(addr(up)); n != maxIdle {
		t.Errorf("%d idle connections, want %d", n, maxIdle)
	}
	waitFor(t, "the connections over the bound closed", func() bool { return closed.Load() == parallel-maxIdle })
	// The idle ones are closed after the idle timeout.
	deadline := time.Now().Add(10 * time.Second)
	for closed.Load() != parallel {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d connections closed 10s after an idle timeout of 2s", closed.Load(), parallel)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := p.pool.idle(addr(up)); n != 0 {
		t.Errorf("%d idle connections after the idle timeout, want 0", n)
	}
}

func TestPeerOpen(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	// An expired read deadline of an earlier request does not make an open
	// connection look closed.
	c.SetReadDeadline(aLongTimeAgo)
	if !peerOpen(c) {
		t.Error("open connection with an expired read deadline: peerOpen false")
	}
	c.SetReadDeadline(time.Now().Add(time.Hour))
	if !peerOpen(c) {
		t.Error("open connection with a read deadline to come: peerOpen false")
	}
	io.WriteString(s, "x")
	waitFor(t, "unasked data seen", func() bool { return !peerOpen(c) })
	var b [1]byte
	c.Read(b[:])
	s.Close()
	waitFor(t, "the peer's close seen", func() bool { return !peerOpen(c) })
}

func TestResponseHeaderTooLarge(t *testing.T) {
	t.Parallel()
	addr := rawBackend(t, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\n")
		line := "X-Filler: " + strings.Repeat("a", 1000) + "\r\n"
		for range 12 << 10 { // 12 MiB, until the proxy stops reading
			if _, err := io.WriteString(c, line); err != nil {
				return
			}
		}
		io.WriteString(c, "Content-Length: 0\r\n\r\n")
	})
	_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("a", []string{addr})))
	if got := get(t, client(t), srv, "foo.com", "/"); got.status != http.StatusBadGateway {
		t.Errorf("got %d %v, want 502", got.status, got.err)
	}
}

// TestRelayHeaderAsCopy: relayHeader leaves dst as copyHeader does, whether
// dst starts empty or not, with non-canonical names of src that
// canonicalise onto another of its fields, and empty values; a shared
// values slice is not written through. The one difference: src's Date is
// not relayed (encodeResponse removes it from dst in any case).
func TestRelayHeaderAsCopy(t *testing.T) {
	t.Parallel()
	srcs := []http.Header{
		{"Content-Length": {"13"}, "Content-Type": {"text/plain"}, "Set-Cookie": {"a=1", "b=2"}},
		{"x-lower": {"1"}, "X-Lower": {"2"}, "X-Other": {"3"}},
		{"X-Empty": {}, "X-Nil": nil, "X-A": {"a"}},
		{"bad name": {"1"}, "X-B": {"b"}},
		{"Date": {"Sun, 06 Dec 2026 06:42:54 GMT"}, "X-C": {"c"}},
	}
	dsts := []http.Header{
		{},
		{"Strict-Transport-Security": {"max-age=1"}},
		{"Set-Cookie": {"own=1"}, "X-Lower": {"0"}, "X-A": {"0"}},
	}
	for i, src := range srcs {
		for j, dst := range dsts {
			for range 20 { // map order varies: relay in several
				want, got := dst.Clone(), dst.Clone()
				copyHeader(want, src)
				if _, ok := dst["Date"]; !ok {
					delete(want, "Date") // not relayed
				}
				relayHeader(got, src.Clone(), false)
				// Two fields of src that canonicalise alike are added in
				// the map's order, by either: compare their values as sets.
				for _, h := range []http.Header{want, got} {
					for _, vv := range h {
						slices.Sort(vv)
					}
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("src %d dst %d (-copyHeader +relayHeader):\n%s", i, j, diff)
				}
			}
		}
	}
	src := http.Header{"X-A": make([]string, 1, 4)}
	src["X-A"][0] = "a"
	dst := http.Header{}
	relayHeader(dst, src, false)
	dst.Add("X-A", "b")
	if got := src["X-A"][:2][1]; got != "" {
		t.Errorf("appending to the relayed field wrote %q into the source's array", got)
	}
}

// readDeadlineConn records its SetReadDeadline calls.
type readDeadlineConn struct {
	net.Conn
	set []time.Time
}

func (c *readDeadlineConn) SetReadDeadline(t time.Time) error {
	c.set = append(c.set, t)
	return nil
}

// TestStartHeaderLazy: a response header's read deadline less than
// lazyReadDeadline after the one the connection's last header set is not
// set; after another change of the read deadline (forgetReadDeadline), or
// later than that, it is.
func TestStartHeaderLazy(t *testing.T) {
	t.Parallel()
	rc := &readDeadlineConn{}
	c := &upstreamConn{Conn: rc, to: timeouts{read: time.Minute}, probe: &peeker{}, ref: time.Now()}
	c.startHeader() // set
	c.startHeader() // kept: microseconds later
	c.probe.rdl = c.probe.rdl.Add(-250 * time.Millisecond)
	c.startHeader() // kept: within nginx's NGX_TIMER_LAZY_DELAY (300 ms)
	if len(rc.set) != 1 {
		t.Fatalf("%d deadlines set for two headers in a row, want 1", len(rc.set))
	}
	c.forgetReadDeadline()
	c.startHeader() // set: forgotten
	c.probe.rdl = c.probe.rdl.Add(-lazyReadDeadline)
	c.startHeader() // set: later than lazyReadDeadline after it
	if len(rc.set) != 3 {
		t.Fatalf("%d deadlines set, want 3", len(rc.set))
	}
	if d := time.Until(rc.set[2]); d < time.Minute-time.Second || d > time.Minute {
		t.Errorf("deadline in %v, want about the read timeout, a minute", d)
	}
	c.probe = nil // no peeker (a TLS upstream): always set
	c.startHeader()
	c.startHeader()
	if len(rc.set) != 5 {
		t.Errorf("%d deadlines set, want 5", len(rc.set))
	}
}

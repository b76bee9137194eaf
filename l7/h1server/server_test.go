package h1server

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-lb/weir/l7/h1guard"
	"github.com/weir-lb/weir/l7/proxyproto"
	"github.com/weir-lb/weir/test/testutil"
)

// start serves h with a Server on 127.0.0.1 under g (nil: default limits)
// and returns its address and the Server; the test closes it.
func start(tb testing.TB, g *h1guard.Guard, h http.Handler) (string, *Server) {
	tb.Helper()
	return startWith(tb, g, &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second})
}

// startWith is start with the settings of cfg.
func startWith(tb testing.TB, g *h1guard.Guard, cfg *http.Server) (string, *Server) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	return ln.Addr().String(), serveOn(tb, g, cfg, ln)
}

// serveOn serves ln with a Server of cfg under g; the test closes it.
func serveOn(tb testing.TB, g *h1guard.Guard, cfg *http.Server, ln net.Listener) *Server {
	tb.Helper()
	if g == nil {
		g = h1guard.New(h1guard.Options{})
	}
	s := New(cfg, g)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.Serve(ln); err != http.ErrServerClosed {
			tb.Errorf("Serve: %v", err)
		}
	}()
	tb.Cleanup(func() {
		_ = s.Close()
		<-done
	})
	return s
}

// skipOrEcho answers /skip without reading the body, and echoes the
// rest.
func skipOrEcho(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/skip" {
		io.WriteString(w, "skipped")
		return
	}
	echo(w, r)
}

// echo answers "METHOD TARGET HOST BODYLEN" and the sorted trailers, or 400
// "body: ERR" when the body fails.
func echo(w http.ResponseWriter, r *http.Request) {
	n, err := io.Copy(io.Discard, r.Body)
	if err != nil {
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "body: %v", err)
		return
	}
	var tr []string
	for k, v := range r.Trailer {
		tr = append(tr, k+"="+strings.Join(v, ","))
	}
	sort.Strings(tr)
	fmt.Fprintf(w, "%s %s %s %d", r.Method, r.RequestURI, r.Host, n)
	if len(tr) > 0 {
		fmt.Fprintf(w, " %s", strings.Join(tr, ";"))
	}
}

func bodies(rs []testutil.RawResponse) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Body)
	}
	return out
}

// TestRequests: pipelining, bodies (Content-Length, chunked with extensions
// and trailers), HTTP/1.0, absolute form, the query byte for byte.
func TestRequests(t *testing.T) {
	t.Parallel()
	addr, _ := start(t, nil, http.HandlerFunc(echo))
	cases := []struct {
		name string
		raw  string
		want []string
	}{
		{"pipelined", "GET /a HTTP/1.1\r\nHost: a\r\n\r\nPOST /b?x=%00 HTTP/1.1\r\nHost: b\r\nContent-Length: 3\r\n\r\nabcGET /c HTTP/1.1\r\nHost: c\r\nConnection: close\r\n\r\n",
			[]string{"GET /a a 0", "POST /b?x=%00 b 3", "GET /c c 0"}},
		{"chunked with extension and trailers", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\nTrailer: X-T\r\n\r\n3;x=y\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-T: 1\r\nX-U: 2\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
			[]string{"POST / a 19 X-T=1;X-U=2", "GET /next a 0"}},
		{"empty lines before, bare LF", "\r\n\nGET / HTTP/1.1\nHost: a\nConnection: close\n\n", []string{"GET / a 0"}},
		{"http/1.0 closes", "GET /x HTTP/1.0\r\n\r\nGET /never HTTP/1.0\r\n\r\n", []string{"GET /x  0"}},
		{"http/1.0 keep-alive", "GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /y HTTP/1.0\r\n\r\n", []string{"GET /x  0", "GET /y  0"}},
		{"absolute form", "GET http://h/p?q HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", []string{"GET http://h/p?q h 0"}},
		{"query byte for byte", "GET /p?a=%zz&b;c=%2F&&d=%41 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", []string{"GET /p?a=%zz&b;c=%2F&&d=%41 a 0"}},
		{"connection close among tokens", "GET /a HTTP/1.1\r\nHost: a\r\nConnection: x, Close\r\n\r\nGET /never HTTP/1.1\r\nHost: a\r\n\r\n", []string{"GET /a a 0"}},
		// nginx 1.22 (ngx_http_process_connection) finds "close" or
		// "keep-alive" anywhere in a line, the last such line deciding;
		// each read off nginx 1.22.1.
		{"connection close inside a word", "GET /a HTTP/1.1\r\nHost: a\r\nConnection: foo-CLOSED\r\n\r\nGET /never HTTP/1.1\r\nHost: a\r\n\r\n", []string{"GET /a a 0"}},
		{"connection close then keep-alive", "GET /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", []string{"GET /a a 0", "GET /b a 0"}},
		{"http/1.0 keep-alive inside a word", "GET /x HTTP/1.0\r\nConnection: xkeep-alive\r\n\r\nGET /y HTTP/1.0\r\n\r\n", []string{"GET /x  0", "GET /y  0"}},
		{"http/1.0 keep-alive then close", "GET /x HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\nGET /y HTTP/1.0\r\n\r\n", []string{"GET /x  0"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := bodies(testutil.RawExchange(t, addr, tc.raw)); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestRejects: heads that break h1guard's rules get its status and page,
// counted, after the answers to the requests before them; a bad chunked
// body fails in the handler.
func TestRejects(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	g := h1guard.New(h1guard.Options{Registry: reg})
	addr, _ := start(t, g, http.HandlerFunc(echo))
	long := strings.Repeat("a", 8192)
	cases := []struct {
		name, raw, reason string
		statuses          string
	}{
		{"cl and te", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "transfer_encoding", "[400]"},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", "obs_fold", "[400]"},
		{"pipelined then rejected", "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET * HTTP/1.1\r\nHost: a\r\n\r\nGET /c HTTP/1.1\r\nHost: a\r\n\r\n", "target", "[200 400]"},
		{"request line over a buffer", "GET /" + long + " HTTP/1.1\r\nHost: a\r\n\r\n", "uri_too_long", "[414]"},
		{"header line over a buffer", "GET / HTTP/1.1\r\nHost: a\r\nX: " + long + "\r\n\r\n", "header_too_large", "[400]"},
		{"head over all buffers", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: "+strings.Repeat("b", 8000)+"\r\n", 5) + "\r\n", "header_too_large", "[400]"},
		{"bad chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunked", "[400]"},
		{"bad chunk end", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc\r\n0\r\n\r\n", "chunked", "[400]"},
		{"obs-fold in trailer", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n", "chunked", "[400]"},
		// nginx 1.22.1 answers these 200: h1server refuses broken
		// chunked framing even where nginx is lenient (README).
		{"trailer line ending in bare LF", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\n\r\n", "chunked", "[400]"},
		{"trailer end in bare LF", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\n", "chunked", "[400]"},
		// Refused after the parser, by the server: the same page.
		{"target net/url refuses", "GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n", "target", "[400]"},
		{"trailer declares the framing", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: Content-Length\r\n\r\n0\r\n\r\n", "trailer", "[400]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := counted(t, reg, tc.reason)
			rs := testutil.RawExchange(t, addr, tc.raw)
			if got := fmt.Sprint(testutil.Statuses(rs)); got != tc.statuses {
				t.Fatalf("statuses %s, want %s", got, tc.statuses)
			}
			if last := rs[len(rs)-1]; !last.Close {
				t.Errorf("the last response has no Connection: close: %v", last.Header)
			} else if ct := last.Header.Get("Content-Type"); tc.reason != "chunked" && ct != "text/html" {
				// (A broken body is the handler's to answer, as it reads it.)
				t.Errorf("the refusal's Content-Type is %q, want nginx's error page (text/html)", ct)
			}
			if got := counted(t, reg, tc.reason); got != before+1 {
				t.Errorf("weir_http_requests_rejected_total{reason=%q} = %v, want %v", tc.reason, got, before+1)
			}
		})
	}
}

// counted is weir_http_requests_rejected_total{reason} in reg.
func counted(tb testing.TB, reg *prometheus.Registry, reason string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// dial connects to addr; the test closes the connection.
func dial(tb testing.TB, addr string) (net.Conn, *bufio.Reader) {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	tb.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

// dialTLS is dial over TLS with ccfg.
func dialTLS(tb testing.TB, addr string, ccfg *tls.Config) *tls.Conn {
	tb.Helper()
	c, err := tls.Dial("tcp", addr, ccfg)
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	tb.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// TestExpectContinue: the 100 goes out on the first body read, not before;
// a handler that answers without reading gets no 100 and the connection
// closes; another expectation is ignored, as by nginx.
func TestExpectContinue(t *testing.T) {
	t.Parallel()
	addr, _ := start(t, nil, http.HandlerFunc(skipOrEcho))
	c, br := dial(t, addr)
	io.WriteString(c, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("got %q %v, want the 100", line, err)
	}
	if l, _ := br.ReadString('\n'); l != "\r\n" {
		t.Fatalf("got %q after the 100, want its empty line", l)
	}
	io.WriteString(c, "hello")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "POST /x a 5" || resp.Close {
		t.Errorf("got %q close %v, want the echo, kept alive", b, resp.Close)
	}

	rs := testutil.RawExchange(t, addr, "POST /skip HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	if len(rs) != 1 || rs[0].Body != "skipped" || !rs[0].Close {
		t.Errorf("handler that skips the body: got %+v, want one answer, Connection: close", rs)
	}
	// nginx's ngx_http_test_expect ignores any other expectation: no 417,
	// no 100, the request served.
	c, br = dial(t, addr)
	io.WriteString(c, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: something\r\n\r\nhello")
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "POST /x a 5" || resp.Close {
		t.Errorf("unknown expectation: got %d %q close %v, want the echo, kept alive", resp.StatusCode, b, resp.Close)
	}
}

// TestResponses: a small response is one write with Content-Length; a
// larger one is chunked, with its trailers; HEAD has no body; HTTP/1.0 gets
// an HTTP/1.1 status line (as from nginx) and keep-alive only with a length.
func TestResponses(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 3*bufferSize)
	addr, _ := start(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.Header().Set("Trailer", "X-Sum")
			io.WriteString(w, big)
			w.Header().Set("X-Sum", "42")
			w.Header().Set(http.TrailerPrefix+"X-Late", "7")
		case "/flush":
			io.WriteString(w, "a")
			w.(http.Flusher).Flush()
			io.WriteString(w, "b")
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		default:
			io.WriteString(w, "<html>small")
		}
	}))
	c, br := dial(t, addr)
	io.WriteString(c, "GET /small HTTP/1.1\r\nHost: a\r\n\r\nGET /big HTTP/1.1\r\nHost: a\r\n\r\nHEAD /small HTTP/1.1\r\nHost: a\r\n\r\nGET /flush HTTP/1.1\r\nHost: a\r\n\r\nGET /204 HTTP/1.1\r\nHost: a\r\n\r\n")
	read := func() (*http.Response, string) {
		t.Helper()
		resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
		if err != nil {
			t.Fatalf("read response: %v", err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("read body: %v", err)
		}
		return resp, string(b)
	}
	resp, b := read()
	if b != "<html>small" || resp.ContentLength != int64(len(b)) || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" || resp.Header.Get("Date") == "" {
		t.Errorf("small: %v %q", resp.Header, b)
	}
	resp, b = read()
	if b != big || len(resp.TransferEncoding) != 1 || resp.Trailer.Get("X-Sum") != "42" || resp.Trailer.Get("X-Late") != "7" {
		t.Errorf("big: %v %v trailers %v, %d bytes", resp.Header, resp.TransferEncoding, resp.Trailer, len(b))
	}
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodHead})
	if err != nil || resp.ContentLength != int64(len("<html>small")) {
		t.Fatalf("head: %v %v", resp, err)
	}
	resp, b = read()
	if b != "ab" || len(resp.TransferEncoding) != 1 {
		t.Errorf("flush: %v %q", resp.TransferEncoding, b)
	}
	resp, b = read()
	if resp.StatusCode != 204 || b != "" || resp.Header.Get("Content-Length") != "" {
		t.Errorf("204: %v %q", resp.Header, b)
	}

	rs := testutil.RawExchange(t, addr, "GET /small HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /flush HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /never HTTP/1.0\r\n\r\n")
	if len(rs) != 2 || rs[0].Proto != "HTTP/1.1" || rs[0].Header.Get("Connection") != "keep-alive" || rs[1].Body != "ab" || !rs[1].Close {
		t.Errorf("http/1.0: %+v", rs)
	}
}

// TestClientGone: a client that closes while its request is in the handler
// cancels the request's context.
func TestClientGone(t *testing.T) {
	t.Parallel()
	cancelled := make(chan error, 1)
	addr, _ := start(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			cancelled <- r.Context().Err()
		case <-time.After(10 * time.Second):
			cancelled <- nil
		}
	}))
	c, _ := dial(t, addr)
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")
	time.AfterFunc(0, func() { c.Close() })
	if err := <-cancelled; err != context.Canceled {
		t.Errorf("context error %v, want canceled", err)
	}
}

// TestClientGoneAfterQuickConns: after connections answered quickly, their
// first requests listed with the Server's firstReads and ended, a GET whose
// handler waits still sees its client leave: the list's timer, armed again
// for it, starts its connection's read.
func TestClientGoneAfterQuickConns(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 1)
	cancelled := make(chan error, 1)
	addr, _ := start(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/quick" {
			return
		}
		started <- struct{}{}
		select {
		case <-r.Context().Done():
			cancelled <- r.Context().Err()
		case <-time.After(10 * time.Second):
			cancelled <- nil
		}
	}))
	for i := range 20 {
		c, _ := dial(t, addr)
		io.WriteString(c, "GET /quick HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
		b, err := io.ReadAll(c) // to the server's close: the connection ended
		if err != nil || !strings.HasPrefix(string(b), "HTTP/1.1 200 ") {
			t.Fatalf("quick connection %d: %q, %v", i, b, err)
		}
		c.Close()
	}
	c, _ := dial(t, addr)
	io.WriteString(c, "GET /wait HTTP/1.1\r\nHost: a\r\n\r\n")
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler did not start within 10 s")
	}
	c.Close()
	if err := <-cancelled; err != context.Canceled {
		t.Errorf("context error %v, want canceled", err)
	}
}

// TestHijack: the handler takes the connection with the bytes sent after
// the head, as a WebSocket tunnel does.
func TestHijack(t *testing.T) {
	t.Parallel()
	addr, _ := start(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hijackEcho(t, w) }))
	c, br := dial(t, addr)
	upgradeEcho(t, c, br)
}

// hijackEcho takes w's connection, answers 101 and echoes the first line
// that follows the head.
func hijackEcho(t *testing.T, w http.ResponseWriter) {
	c, brw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	defer c.Close()
	io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	line, _ := brw.ReadString('\n')
	io.WriteString(c, "echo: "+line)
}

// upgradeEcho sends an upgrade request with bytes after its head on c and
// checks that the handler that hijacked the connection echoed them.
func upgradeEcho(t *testing.T, c net.Conn, br *bufio.Reader) {
	t.Helper()
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nearly\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: got %v %v, want 101", resp, err)
	}
	if line, _ := br.ReadString('\n'); line != "echo: early\n" {
		t.Errorf("got %q, want the early bytes echoed", line)
	}
}

// TestShutdown: Shutdown closes idle connections at once and lets a request
// in flight finish with Connection: close.
func TestShutdown(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	inHandler := make(chan struct{}, 1)
	addr, s := start(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			inHandler <- struct{}{}
			<-release
		}
		io.WriteString(w, "done")
	}))
	idle, idleR := dial(t, addr)
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp, err := http.ReadResponse(idleR, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("first request: %v %v", resp, err)
	} else {
		io.ReadAll(resp.Body)
	}
	busy, busyR := dial(t, addr)
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	<-inHandler
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	if _, err := idleR.ReadByte(); err != io.EOF {
		t.Errorf("idle connection: read %v, want EOF", err)
	}
	close(release)
	resp, err := http.ReadResponse(busyR, nil)
	if err != nil || !resp.Close {
		t.Fatalf("request in flight: %v %v, want an answer with Connection: close", resp, err)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func TestParseKind(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Kind{"": KindWeir, "weir": KindWeir, "net": KindNet} {
		if got, err := ParseKind(in); err != nil || got != want {
			t.Errorf("ParseKind(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseKind("fasthttp"); err == nil {
		t.Error("ParseKind(fasthttp): no error")
	}
}

// TestHeaderTimeout: a head that does not complete within ReadHeaderTimeout
// closes the connection without an answer, as nginx's client_header_timeout;
// a head sent whole is served.
func TestHeaderTimeout(t *testing.T) {
	t.Parallel()
	addr, _ := startWith(t, nil, &http.Server{Handler: http.HandlerFunc(echo), ReadHeaderTimeout: 200 * time.Millisecond})
	c, br := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /slow HTTP/1.1\r\nHost:")
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("first request: %v %v", resp, err)
	}
	io.ReadAll(resp.Body)
	start := time.Now()
	if b, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("read %q %v, want EOF once the header timeout passed", b, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("closed after %v", d)
	}
	// A connection that sends nothing at all is closed too.
	_, br = dial(t, addr)
	if b, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("silent client: read %q %v, want EOF once the header timeout passed", b, err)
	}
}

// TestHandlerPanic: a handler that panics closes its connection, is logged
// (http.ErrAbortHandler is not), and the server goes on serving.
func TestHandlerPanic(t *testing.T) {
	t.Parallel()
	var logs testutil.SyncBuffer
	addr, _ := startWith(t, nil, &http.Server{ErrorLog: log.New(&logs, "", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/panic":
			panic("boom")
		case "/abort":
			io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		io.WriteString(w, "fine")
	})})
	for path, want := range map[string]string{"/panic": "", "/abort": "7\r\npartial\r\n"} {
		c, _ := dial(t, addr)
		io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
		b, err := io.ReadAll(c)
		if err != nil || !strings.HasSuffix(string(b), want) || strings.Contains(string(b), "fine") {
			t.Errorf("%s: read %q (%v), want %q then the connection closed", path, b, err, want)
		}
	}
	if rs := testutil.RawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"); len(rs) != 1 || rs[0].Body != "fine" {
		t.Errorf("after the panics: %+v", rs)
	}
	if got := logs.String(); !strings.Contains(got, "panic serving") || !strings.Contains(got, "boom") || strings.Contains(got, "abort") {
		t.Errorf("log %q: want the panic, not the abort", got)
	}
}

// proxyOn is a proxyproto.Policy with PROXY protocol on, trusting all.
type proxyOn struct{}

func (proxyOn) UseProxyProtocol() bool           { return true }
func (proxyOn) TrustsProxy(peer netip.Addr) bool { return true }

// TestSlowProxyHeader: a client that holds back its PROXY header holds up
// no other connection (the addresses are read by each connection's own
// goroutine), and the client address is the header's.
func TestSlowProxyHeader(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(&http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.RemoteAddr)
	})}, h1guard.New(h1guard.Options{}))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(&proxyproto.Listener{Listener: ln, Policy: proxyOn{}, HeaderTimeout: time.Minute})
	}()
	t.Cleanup(func() {
		s.Close()
		<-done
	})
	silent, _ := dial(t, ln.Addr().String())
	defer silent.Close()
	start := time.Now()
	rs := testutil.RawExchange(t, ln.Addr().String(), "PROXY TCP4 203.0.113.7 198.18.0.1 5555 80\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	if len(rs) != 1 || rs[0].Body != "203.0.113.7:5555" {
		t.Errorf("got %+v, want the header's address", rs)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("answered after %v behind a silent client", d)
	}
}

// TestAppendDate: the cached Date is http.TimeFormat's of the time given,
// whichever second the cache held before.
func TestAppendDate(t *testing.T) {
	base := time.Date(2026, 12, 6, 1, 2, 3, 0, time.FixedZone("x", 3600))
	for _, d := range []time.Duration{0, 500 * time.Millisecond, time.Second, -time.Hour, 0, 24 * time.Hour} {
		now := base.Add(d)
		if got, want := string(appendDate([]byte("Date: "), now)), "Date: "+now.UTC().Format(http.TimeFormat); got != want {
			t.Fatalf("appendDate(%v) = %q; want %q", now, got, want)
		}
	}
}

// TestAppendDateNow: appendDateNow is the Date of the time now, whichever
// second the cache held before: one of appendDate's of another time, its
// own of the second before (a monotonic reading an hour back), or none.
func TestAppendDateNow(t *testing.T) {
	for _, prev := range []time.Time{{}, time.Date(2026, 12, 6, 1, 2, 3, 0, time.UTC), time.Now().Add(-time.Hour), time.Now()} {
		switch {
		case prev.IsZero():
			dateCache.Store(nil)
		case prev.Round(0) != prev: // a monotonic reading: as appendDateNow caches it
			from := prev.Sub(monoBase) - time.Duration(prev.Nanosecond())
			cacheDate(prev, from, from+time.Second)
		default:
			appendDate(nil, prev)
		}
		for range 3 {
			before := time.Now().Unix()
			got := string(appendDateNow(nil))
			after := time.Now().Unix()
			if got != time.Unix(before, 0).UTC().Format(http.TimeFormat) && got != time.Unix(after, 0).UTC().Format(http.TimeFormat) {
				t.Fatalf("after %v: appendDateNow = %q, not a second within [%d, %d]", prev, got, before, after)
			}
		}
	}
}

// TestUnreadBodyAfterResponse: a handler that answers without reading the
// body gets its answer to the client at once, while the client has not
// sent the body yet (the server held it back until the body came, for as
// long as the client stalled); the rest of the body is read away after
// it, so that the connection serves the next request, and a client that
// stalls it is closed, as nginx discards a body under lingering_timeout.
func TestUnreadBodyAfterResponse(t *testing.T) {
	t.Parallel()
	addr, _ := start(t, nil, http.HandlerFunc(skipOrEcho))
	for _, te := range []string{"Content-Length: 10\r\n\r\nabc", "Transfer-Encoding: chunked\r\n\r\na\r\nabc"} {
		c, br := dial(t, addr)
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second)) // well under discardTimeout
		io.WriteString(c, "POST /skip HTTP/1.1\r\nHost: a\r\n"+te)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%q: answer with the body not sent yet: %v", te, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if string(b) != "skipped" || resp.Close {
			t.Errorf("%q: got %q close %v, want skipped, kept alive", te, b, resp.Close)
		}
		rest := "defghij"
		if strings.HasPrefix(te, "Transfer") {
			rest += "\r\n0\r\n\r\n"
		}
		io.WriteString(c, rest+"GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, err = http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%q: next request: %v", te, err)
		}
		b, _ = io.ReadAll(resp.Body)
		if string(b) != "GET /next a 0" {
			t.Errorf("%q: next request got %q, want its echo", te, b)
		}
	}

	// A body that stalls: the answer, then the close.
	c, br := dial(t, addr)
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	io.WriteString(c, "POST /skip HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("stalled body: %v", err)
	}
	io.ReadAll(resp.Body)
	_ = c.SetReadDeadline(time.Now().Add(discardTimeout + 5*time.Second))
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("stalled body: read %d, %v; want the connection closed", n, err)
	}
}

// TestHTTP10AsNginx: an HTTP/1.0 request is answered as nginx 1.22 answers
// it (ngx_http_header_filter writes "HTTP/1.1" whatever the request's
// version; ngx_http_core_module keeps a 1.0 connection alive only when the
// client asked with Connection: keep-alive and the length is known). The
// heads below are what nginx sent for the same raw requests on 127.0.0.1,
// Server and Date aside: "Connection: close" and a close for a plain 1.0
// request, "Connection: keep-alive" kept open when asked, and a response of
// unknown length not chunked but delimited by the close, keep-alive asked
// or not.
func TestHTTP10AsNginx(t *testing.T) {
	t.Parallel()
	addr, _ := start(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			io.WriteString(w, "hel")
			w.(http.Flusher).Flush()
			io.WriteString(w, "lo")
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "static\n")
	}))
	date := regexp.MustCompile(`(?m)^Date: [^\r]*\r\n`)
	statusLine := regexp.MustCompile(`HTTP/1\.[01] `)
	for _, tc := range []struct{ name, req, want string }{
		{"plain", "GET /static HTTP/1.0\r\nHost: a\r\n\r\nGET /never HTTP/1.0\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 7\r\nConnection: close\r\n\r\nstatic\n"},
		{"keep-alive", "GET /static HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\nGET /static HTTP/1.0\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 7\r\nConnection: keep-alive\r\n\r\nstatic\n" +
				"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 7\r\nConnection: close\r\n\r\nstatic\n"},
		{"unknown length", "GET /stream HTTP/1.0\r\nHost: a\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nhello"},
		{"unknown length, keep-alive asked", "GET /stream HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\nGET /never HTTP/1.0\r\n\r\n",
			"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nhello"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Each response's fields sorted (normalHead); no body here
			// holds "HTTP/1.".
			normal := func(b []byte) string {
				var out string
				at := statusLine.FindAllIndex(b, -1)
				for i, m := range at {
					end := len(b)
					if i+1 < len(at) {
						end = at[i+1][0]
					}
					out += normalHead(b[m[0]:end])
				}
				return out
			}
			got := normal(date.ReplaceAll(exchangeAll(t, addr, tc.req), nil))
			if want := normal([]byte(tc.want)); got != want {
				t.Errorf("for %q\n got %q\nwant %q", tc.req, got, want)
			}
		})
	}
}

// TestHeadRejectedWithoutBody: a HEAD request refused for a request line
// too long to be read whole gets the 414 header without nginx's page, as
// nginx takes the method once the space after it arrives (read off nginx
// 1.22).
func TestHeadRejectedWithoutBody(t *testing.T) {
	t.Parallel()
	addr, _ := start(t, h1guard.New(h1guard.Options{}), http.HandlerFunc(echo))
	c, _ := dial(t, addr)
	if _, err := io.WriteString(c, "HEAD /"+strings.Repeat("a", 9000)+" HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read until the server closes: %v", err)
	}
	if !strings.HasPrefix(string(b), "HTTP/1.1 414 ") || !strings.HasSuffix(string(b), "\r\n\r\n") {
		t.Errorf("got %q, want a 414 header and no body", b)
	}
}

// TestResponseWhileBodyRead: a response flushed while another goroutine
// is blocked reading the request body (the proxy's HTTP/2 client sending
// it upstream) goes out at once, with Connection: close, instead of
// waiting for the client's next bytes.
func TestResponseWhileBodyRead(t *testing.T) {
	t.Parallel()
	got := make(chan struct{})
	addr, _ := start(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			var p [64]byte
			if n, _ := r.Body.Read(p[:]); n > 0 { // the first chunk
				close(first)
			}
			r.Body.Read(p[:]) // blocks: the client sends no more
		}()
		<-first
		time.Sleep(50 * time.Millisecond) // the reader is blocked in Read
		w.Header().Set("Content-Length", "5")
		io.WriteString(w, "early")
		w.(http.Flusher).Flush()
		select {
		case <-got:
		case <-time.After(5 * time.Second):
		}
		// As the proxy's clientBody.detach: the reader is cut short and
		// waited for before the handler returns.
		http.NewResponseController(w).SetReadDeadline(time.Now())
		<-done
	}))
	c, br := dial(t, addr)
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer while the body is read: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	close(got)
	if string(b) != "early" || !resp.Close {
		t.Errorf("got %q close %v, want early, then the close", b, resp.Close)
	}
}

// TestLingerLargeBody: an answer that closes the connection before the
// request's body was read (a 413 for a Content-Length over
// proxy-body-size) reaches a client still sending megabytes of it: the
// server reads the body away as nginx's lingering close does (nginx
// 1.22.1 read all of a 9 MB body after its 413), instead of closing after
// 1 MiB and resetting the connection under the client's writes.
func TestLingerLargeBody(t *testing.T) {
	t.Parallel()
	addr, _ := start(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
	}))
	c, br := dial(t, addr)
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	const size = 4 << 20
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: "+strconv.Itoa(size)+"\r\n\r\n")
	chunk := make([]byte, 64<<10)
	for sent := 0; sent < size; sent += len(chunk) {
		if _, err := c.Write(chunk); err != nil {
			t.Fatalf("writing the body after %d bytes: %v", sent, err)
		}
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("answer: %v, %v; want 413", resp, err)
	}
}

// TestWorkersEnd: the goroutines that wait for a connection to serve end
// when the Server is shut down or closed (jobs closed), and a connection
// dispatched after that gets a goroutine of its own: the send on the
// closed jobs does not happen.
func TestWorkersEnd(t *testing.T) {
	t.Parallel()
	for _, shutdown := range []bool{false, true} {
		t.Run(fmt.Sprintf("shutdown %v", shutdown), func(t *testing.T) {
			t.Parallel()
			addr, s := start(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "done")
			}))
			for range 2 {
				c, br := dial(t, addr)
				io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("request: %v", err)
				}
				io.ReadAll(resp.Body)
				if _, err := br.ReadByte(); err != io.EOF {
					t.Fatalf("after the response: read %v, want EOF", err)
				}
				c.Close()
			}
			testutil.WaitFor(t, 5*time.Second, "a goroutine waiting for a connection", func() bool { return s.idleWorkers.Load() >= 1 })
			if shutdown {
				if err := s.Shutdown(context.Background()); err != nil {
					t.Fatalf("Shutdown: %v", err)
				}
			} else {
				s.Close()
			}
			testutil.WaitFor(t, 5*time.Second, "no goroutine waiting for a connection", func() bool { return s.idleWorkers.Load() == 0 })
			sc, cc := net.Pipe()
			defer cc.Close()
			c := s.newConn(context.Background(), sc)
			s.track(c, true)
			s.dispatch(c) // served by a new goroutine: it reads, finds cc closed and ends
			cc.Close()
			testutil.WaitFor(t, 5*time.Second, "the connection dispatched after the close ended", func() bool {
				s.mu.Lock()
				defer s.mu.Unlock()
				return len(s.conns) == 0
			})
		})
	}
}

// TestTrack: the Server's connections are those tracked and not untracked
// since, whatever the order they leave in, and a connection untracked
// twice (hijacked, then ended) leaves once.
func TestTrack(t *testing.T) {
	t.Parallel()
	s := New(&http.Server{}, nil)
	cs := make([]*conn, 5)
	for i := range cs {
		cs[i] = &conn{srv: s}
		s.track(cs[i], true)
	}
	for _, i := range []int{1, 4, 1, 0} {
		s.track(cs[i], false)
	}
	got := map[*conn]bool{}
	for i, c := range s.conns {
		got[c] = true
		if int(c.slot) != i+1 {
			t.Errorf("conn at %d has slot %d, want %d", i, c.slot, i+1)
		}
	}
	want := map[*conn]bool{cs[2]: true, cs[3]: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tracked connections (-want +got):\n%s", diff)
	}
	for _, i := range []int{3, 2} {
		s.track(cs[i], false)
	}
	if len(s.conns) != 0 || cs[2].slot != 0 || cs[3].slot != 0 {
		t.Errorf("after all left: %d tracked, slots %d and %d", len(s.conns), cs[2].slot, cs[3].slot)
	}
}

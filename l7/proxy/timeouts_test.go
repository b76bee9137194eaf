package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/h1guard"
	"github.com/weir-lb/weir/test/testutil"
	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// syncBuffer is a buffer safe for a logger and a test to share.
type syncBuffer = testutil.SyncBuffer

func testLogger(buf *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, nil))
}

// stalling returns a backend whose handler runs before, then blocks until
// the test ends.
func stalling(tb testing.TB, before func(http.ResponseWriter)) *httptest.Server {
	tb.Helper()
	release := make(chan struct{})
	s := backend(tb, func(w http.ResponseWriter, r *http.Request) {
		if before != nil {
			before(w)
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	tb.Cleanup(func() { close(release) }) // runs before s.Close
	return s
}

func readTimeout(sec int) func(*annotations.Proxy) {
	return func(p *annotations.Proxy) { p.ReadTimeoutSeconds = sec }
}

func TestReadTimeoutBeforeHeader(t *testing.T) {
	t.Parallel()
	up := stalling(t, nil)
	var logs syncBuffer
	// One try: a lone endpoint that times out is otherwise tried again
	// (proxy-next-upstream-tries, TestNextUpstreamTriesRepeat).
	_, srv := front(t, Options{Logger: testLogger(&logs)}, snap(1, "foo.com", backendOf("slow", []string{addr(up)}, readTimeout(1), nextUpstream("error timeout", 1, 0))))
	start := time.Now()
	got := get(t, client(t), srv, "foo.com", "/")
	took := time.Since(start)
	if got.status != http.StatusGatewayTimeout || got.body != h1guard.ErrorPage(504) {
		t.Errorf("got %d %q %v, want 504", got.status, got.body, got.err)
	}
	if took < 900*time.Millisecond || took > 2*time.Second {
		t.Errorf("504 after %v, want about the 1s read timeout", took)
	}
	waitFor(t, "the error logged", func() bool { return strings.Contains(logs.String(), "reason=read_timeout") })
	if n := strings.Count(logs.String(), "upstream error"); n != 1 {
		t.Errorf("logged %d upstream errors, want 1:\n%s", n, logs.String())
	}
	for _, want := range []string{"namespace=ns", "ingress=ing-slow", "service=slow", "upstream=" + addr(up), "status=504"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

func TestReadTimeoutMidBody(t *testing.T) {
	t.Parallel()
	up := stalling(t, func(w http.ResponseWriter) {
		fmt.Fprint(w, "part")
		http.NewResponseController(w).Flush()
	})
	var logs syncBuffer
	_, srv := front(t, Options{Logger: testLogger(&logs)}, snap(1, "foo.com", backendOf("slow", []string{addr(up)}, readTimeout(1))))
	start := time.Now()
	got := get(t, client(t), srv, "foo.com", "/")
	took := time.Since(start)
	if got.status != 200 || got.body != "part" || got.err == nil {
		t.Errorf("got %d %q %v, want 200 \"part\" and an aborted body", got.status, got.body, got.err)
	}
	if took > 2*time.Second {
		t.Errorf("aborted after %v, want about the 1s read timeout", took)
	}
	waitFor(t, "the error logged", func() bool { return strings.Contains(logs.String(), "reason=read_timeout") })
}

func TestSlowButWithinReadTimeout(t *testing.T) {
	t.Parallel()
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		time.Sleep(400 * time.Millisecond) // the slow upstream under test
		for i := range 5 {
			fmt.Fprintf(w, "%d", i)
			rc.Flush()
			time.Sleep(400 * time.Millisecond)
		}
	})
	_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("dribble", []string{addr(up)}, readTimeout(1))))
	got := get(t, client(t), srv, "foo.com", "/")
	if got.status != 200 || got.body != "01234" || got.err != nil {
		t.Errorf("got %d %q %v, want 200 \"01234\"", got.status, got.body, got.err)
	}
}

// TestReadTimeoutIsPerRoute checks that one route's short timeout does not
// apply to another's.
func TestReadTimeoutIsPerRoute(t *testing.T) {
	t.Parallel()
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(1500 * time.Millisecond) // slower than 1s, faster than 3s
		fmt.Fprint(w, "late")
	})
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{
		{Host: "short.com", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: backendOf("s", []string{addr(up)}, readTimeout(1))}}},
		{Host: "long.com", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: backendOf("l", []string{addr(up)}, readTimeout(3))}}},
	}}
	_, srv := front(t, Options{}, s)
	c := client(t)
	var wg sync.WaitGroup
	var short, long result
	wg.Go(func() { short = get(t, c, srv, "short.com", "/") })
	wg.Go(func() { long = get(t, c, srv, "long.com", "/") })
	wg.Wait()
	if short.status != 504 {
		t.Errorf("short.com: %d, want 504", short.status)
	}
	if long.status != 200 || long.body != "late" {
		t.Errorf("long.com: %d %q, want 200 \"late\"", long.status, long.body)
	}
}

func TestSendTimeout(t *testing.T) {
	t.Parallel()
	// The upstream never reads the body: once the socket buffers are full,
	// the proxy's write waits, and the send timeout ends it.
	up := stalling(t, nil)
	be := backendOf("sink", []string{addr(up)}, func(p *annotations.Proxy) {
		p.SendTimeoutSeconds = 1
		p.BodySizeBytes = 0
	})
	var logs syncBuffer
	_, srv := front(t, Options{Logger: testLogger(&logs)}, snap(1, "foo.com", be))

	conn, err := net.Dial("tcp", addr(srv))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	const size = 256 << 20
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: foo.com\r\nContent-Length: %d\r\n\r\n", size)
	go feedZeros(conn, size)
	start := time.Now()
	// Filling the socket buffers before the write waits takes most of the
	// time on a loaded machine (6.8 s seen under load 8); without the send
	// timeout the answer would not come before this deadline.
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("status %d, want 504", resp.StatusCode)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("504 after %v", took)
	}
	waitFor(t, "the error logged", func() bool { return strings.Contains(logs.String(), "reason=send_timeout") })
}

// feedZeros writes n zero bytes to w until the peer stops reading; write
// errors end it.
func feedZeros(w io.Writer, n int64) {
	_, _ = io.Copy(w, io.LimitReader(zeros{}, n))
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// fullBacklog returns the address of a listener whose accept queue is full,
// so a new connection's SYN is dropped and the dial hangs. It skips when the
// kernel still completes connections.
func fullBacklog(tb testing.TB) string {
	tb.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		tb.Fatalf("socket: %v", err)
	}
	tb.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		tb.Fatalf("bind: %v", err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		tb.Fatalf("listen: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		tb.Fatalf("getsockname: %v", err)
	}
	a := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	for range 16 {
		c, err := net.DialTimeout("tcp", a, 300*time.Millisecond)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return a
			}
			tb.Fatalf("fill backlog: %v", err)
		}
		tb.Cleanup(func() { c.Close() })
	}
	tb.Skip("the accept queue never filled; cannot make a dial hang")
	return ""
}

func TestConnectTimeout(t *testing.T) {
	t.Parallel()
	hang := fullBacklog(t)
	be := backendOf("hang", []string{hang}, func(p *annotations.Proxy) { p.ConnectTimeoutSeconds = 1 }, nextUpstream("error timeout", 1, 0))
	var logs syncBuffer
	_, srv := front(t, Options{Logger: testLogger(&logs)}, snap(1, "foo.com", be))
	start := time.Now()
	got := get(t, client(t), srv, "foo.com", "/")
	took := time.Since(start)
	if got.status != http.StatusGatewayTimeout {
		t.Errorf("got %d %q %v, want 504", got.status, got.body, got.err)
	}
	if took < 900*time.Millisecond || took > 2*time.Second {
		t.Errorf("504 after %v, want about the 1s connect timeout", took)
	}
	waitFor(t, "the error logged", func() bool { return strings.Contains(logs.String(), "reason=connect_timeout") })
	if !strings.Contains(logs.String(), "dial upstream "+hang) {
		t.Errorf("log lacks the dial error:\n%s", logs.String())
	}
}

func TestTimeoutsOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   annotations.Proxy
		want timeouts
	}{
		{"zero takes defaults", annotations.Proxy{}, timeouts{connect: 5 * time.Second, send: 60 * time.Second, read: 60 * time.Second}},
		{"set", annotations.Proxy{ConnectTimeoutSeconds: 1, SendTimeoutSeconds: 2, ReadTimeoutSeconds: 3}, timeouts{connect: time.Second, send: 2 * time.Second, read: 3 * time.Second}},
		{"negative takes defaults", annotations.Proxy{ConnectTimeoutSeconds: -1}, timeouts{connect: 5 * time.Second, send: 60 * time.Second, read: 60 * time.Second}},
	} {
		if got := timeoutsOf(&snapshot.Backend{Proxy: tc.in}); got != tc.want {
			t.Errorf("%s: timeoutsOf = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// stallsMidBody is a raw backend that answers each request with status,
// Content-Length 100 and the first 4 bytes, "part", then stalls.
func stallsMidBody(tb testing.TB, status string) string {
	tb.Helper()
	return rawBackend(tb, func(c net.Conn) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 "+status+"\r\nContent-Length: 100\r\n\r\npart")
		_, _ = io.Copy(io.Discard, c) // until the proxy gives up
	})
}

// TestReadTimeoutMidBodyDelivers checks nginx's proxy_read_timeout in the
// middle of a body of known length: the bytes read before the stall reach
// the client, and the cut comes after about one read timeout.
func TestReadTimeoutMidBodyDelivers(t *testing.T) {
	t.Parallel()
	up := stallsMidBody(t, "200 OK")
	var logs syncBuffer
	_, srv := front(t, Options{Logger: testLogger(&logs)}, snap(1, "foo.com", backendOf("slow", []string{up}, readTimeout(1))))
	start := time.Now()
	got := get(t, client(t), srv, "foo.com", "/")
	took := time.Since(start)
	if got.status != 200 || got.body != "part" || got.err == nil {
		t.Errorf("got %d %q %v, want 200 \"part\" and a cut body", got.status, got.body, got.err)
	}
	if took < 900*time.Millisecond || took > 1900*time.Millisecond {
		t.Errorf("cut after %v, want about the 1s read timeout", took)
	}
	waitFor(t, "the error logged", func() bool { return strings.Contains(logs.String(), "reason=read_timeout") })
}

// TestClientBodyTimeoutCloses: a client that stops sending its body for
// client_body_timeout gets no answer: its connection is reset at once, as
// nginx terminates a request on 408 (ngx_http_finalize_request) and
// ingress-nginx sets reset_timedout_connection on. Read off nginx 1.22:
// no byte, then a reset, after client_body_timeout.
func TestClientBodyTimeoutCloses(t *testing.T) {
	t.Parallel()
	up := backend(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) })
	_, srv := front(t, Options{ClientBodyTimeout: 200 * time.Millisecond}, snap(1, "foo.com", backendOf("up", []string{addr(up)})))
	conn := dialRaw(t, addr(srv))
	io.WriteString(conn, "POST / HTTP/1.1\r\nHost: foo.com\r\nContent-Length: 10\r\n\r\nabc")
	if err := assertEndsSilently(t, conn); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("the connection ended with %v, want a reset", err)
	}
}

// assertEndsSilently fails t unless conn is closed or reset within 10s
// without a byte, and returns the read's error (nil for a close).
func assertEndsSilently(t testing.TB, conn net.Conn) error {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(conn)
	if len(got) > 0 || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("got %q (%v), want the connection to end without an answer", got, err)
	}
	return err
}

package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weir-lb/weir/l7/h1server"
	"github.com/weir-lb/weir/l7/h1server/h1servertest"
	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// backend starts an httptest server on 127.0.0.1 that the test closes.
func backend(tb testing.TB, h http.HandlerFunc) *httptest.Server {
	tb.Helper()
	s := httptest.NewServer(h)
	tb.Cleanup(s.Close)
	return s
}

// addr returns the "ip:port" of s.
func addr(s *httptest.Server) string { return s.Listener.Addr().String() }

// backendOf returns a Backend of service svc with endpoints eps and the
// default proxy settings, tweaked by opts.
func backendOf(svc string, eps []string, opts ...func(*annotations.Proxy)) snapshot.Backend {
	p := annotations.DefaultProxy()
	for _, o := range opts {
		o(&p)
	}
	return snapshot.Backend{
		Ingress:   snapshot.ObjectRef{Kind: "Ingress", Namespace: "ns", Name: "ing-" + svc},
		Service:   svc,
		Port:      "http",
		Endpoints: eps,
		Proxy:     p,
	}
}

// snap returns a Snapshot with one server host routing prefix "/" to be.
func snap(version uint64, host string, be snapshot.Backend) *snapshot.Snapshot {
	p := snapshot.Path{Path: "/", Match: snapshot.MatchPrefix, Backend: be}
	if b := be.Proxy.Balance; b != nil && b.Cookie {
		p.CookiePath = "/" // as snapshot.Build sets it
	}
	return &snapshot.Snapshot{Version: version, Servers: []snapshot.Server{{Host: host, Paths: []snapshot.Path{p}}}}
}

// front starts the proxy behind an httptest server and applies s if not nil.
func front(tb testing.TB, opts Options, s *snapshot.Snapshot) (*Proxy, *httptest.Server) {
	tb.Helper()
	p := New(opts)
	if s != nil {
		if err := p.Apply(s); err != nil {
			tb.Fatalf("Apply: %v", err)
		}
	}
	srv := serve(tb, p)
	tb.Cleanup(func() {
		srv.Close()
		p.Close()
	})
	return p, srv
}

// serve serves h on 127.0.0.1 with l7/h1server's server, Weir's default,
// or with net/http's when WEIR_TEST_HTTP1_SERVER is "net"
// (h1servertest), so that the package's tests run through either (make
// test-unit runs both). The test closes it.
func serve(tb testing.TB, h http.Handler) *httptest.Server {
	tb.Helper()
	if h1servertest.Kind() == h1server.KindNet {
		return httptest.NewServer(h)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	cfg := &http.Server{Handler: h}
	h1servertest.Serve(tb, cfg, ln, nil)
	return &httptest.Server{URL: "http://" + ln.Addr().String(), Listener: ln, Config: cfg}
}

// client returns an http.Client whose idle connections the test closes.
func client(tb testing.TB) *http.Client {
	tb.Helper()
	tr := &http.Transport{Proxy: nil, DisableCompression: true}
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

type result struct {
	status int
	body   string
	header http.Header
	err    error
}

// do sends method to the proxy for host and path with body (may be nil)
// and reads the whole response.
func do(tb testing.TB, c *http.Client, srv *httptest.Server, method, host, path string, body io.Reader) result {
	tb.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, srv.URL+path, body)
	if err != nil {
		return result{err: err} // no Fatal: do runs on other goroutines too
	}
	req.Host = host
	return send(c, req)
}

// send sends req with c and reads the whole response.
func send(c *http.Client, req *http.Request) result {
	resp, err := c.Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, body: string(b), header: resp.Header, err: err}
}

// get is do for a GET without body. It may run on any goroutine.
func get(tb testing.TB, c *http.Client, srv *httptest.Server, host, path string) result {
	tb.Helper()
	return do(tb, c, srv, http.MethodGet, host, path, nil)
}

// refusedAddr returns a 127.0.0.1 address nothing listens on.
func refusedAddr(tb testing.TB) string {
	tb.Helper()
	// A socket bound but never listening holds the port for the whole test,
	// so a parallel test cannot take it over (a closed listener's port
	// could be handed to the next backend), and refuses every connection.
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatalf("socket: %v", err)
	}
	tb.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		tb.Fatalf("bind: %v", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		tb.Fatalf("getsockname: %v", err)
	}
	return fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(15 * time.Second) // generous: CI runs every package at once
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func hasLine(log, substr string) bool {
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, substr) {
			return true
		}
	}
	return false
}

// getInto runs get and sends its result on done; tests start it as a
// goroutine.
func getInto(done chan<- result, tb testing.TB, c *http.Client, srv *httptest.Server, host, path string) {
	done <- get(tb, c, srv, host, path)
}

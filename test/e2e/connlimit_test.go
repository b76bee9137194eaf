package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/test/testutil"
)

// TestKeepAliveFromConfigMap: the ConfigMap's keep-alive-requests closes a
// connection after its N-th response (Connection: close on it, pipelined
// requests after it unanswered), and keep-alive "0" closes every
// connection after its first response; both apply live.
func TestKeepAliveFromConfigMap(t *testing.T) {
	b := newBackend(t, "ka", nil)
	files := map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("ka", b.port) + ingress("ka", "ka.test", "ka"),
		"cm.yaml":    configMap("keep-alive-requests", "2"),
	}
	w := startWeirWith(t, files, configMapOptions())
	get := "GET / HTTP/1.1\r\nHost: ka.test\r\n\r\n"
	closes := func(rs []testutil.RawResponse) []bool {
		var out []bool
		for _, r := range rs {
			out = append(out, r.Close)
		}
		return out
	}
	rs := w.rawExchange(t, strings.Repeat(get, 3))
	if got := testutil.Statuses(rs); len(got) != 2 || got[0] != 200 || got[1] != 200 {
		t.Errorf("keep-alive-requests 2, three pipelined requests: statuses %v, want [200 200]", got)
	}
	if got := closes(rs); len(got) != 2 || got[0] || !got[1] {
		t.Errorf("keep-alive-requests 2: Connection: close on the responses %v, want [false true]", got)
	}

	w.update("cm.yaml", configMap("keep-alive", "0"))
	rs = w.rawExchange(t, strings.Repeat(get, 2))
	if got := testutil.Statuses(rs); len(got) != 1 || got[0] != 200 || !rs[0].Close {
		t.Errorf("keep-alive 0, two pipelined requests: statuses %v (close %v), want [200] with Connection: close", got, closes(rs))
	}
}

// TestMaxWorkerConnectionsFromConfigMap: with max-worker-connections 2 a
// third connection is accepted by the kernel but not served until one of
// the first two closes.
func TestMaxWorkerConnectionsFromConfigMap(t *testing.T) {
	b := newBackend(t, "cap", nil)
	files := map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("cap", b.port) + ingress("cap", "cap.test", "cap"),
		"cm.yaml":    configMap("max-worker-connections", "2"),
	}
	w := startWeirWith(t, files, configMapOptions())
	addr := strings.TrimPrefix(w.base, "http://")
	type conn struct {
		net.Conn
		br *bufio.Reader
	}
	open := func() conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: cap.test\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		return conn{c, bufio.NewReader(c)}
	}
	read := func(c conn, d time.Duration) (int, error) {
		_ = c.SetReadDeadline(time.Now().Add(d))
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil {
			return 0, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, err
	}
	first, second := open(), open()
	for i, c := range []conn{first, second} {
		if status, err := read(c, 5*time.Second); err != nil || status != 200 {
			t.Fatalf("connection %d: %d, %v", i+1, status, err)
		}
	}
	third := open()
	if _, err := read(third, 500*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("third connection with two open and max-worker-connections 2: %v, want no response", err)
	}
	first.Close()
	if status, err := read(third, 5*time.Second); err != nil || status != 200 {
		t.Fatalf("third connection once the first closed: %d, %v", status, err)
	}
}

// slowBackend answers each request once release is called (at the end of
// the test at the latest), and reports its arrival: arrived waits for the
// next one.
func slowBackend(t testing.TB, name string) (b *backend, arrived func(), release func()) {
	t.Helper()
	in, done := make(chan struct{}, 16), make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(done) }) }
	b = newBackend(t, name, func(w http.ResponseWriter, r *http.Request) {
		in <- struct{}{}
		<-done
		io.WriteString(w, "ok")
	})
	t.Cleanup(release) // before the backend's Close, which waits for its handlers
	arrived = func() {
		t.Helper()
		if !arrivedWithin(in, 10*time.Second) {
			t.Fatal("no request reached the backend within 10s")
		}
	}
	return b, arrived, release
}

func arrivedWithin(in <-chan struct{}, d time.Duration) bool {
	select {
	case <-in:
		return true
	case <-time.After(d):
		return false
	}
}

// getOwnConn sends GET http://base/ with Host host on a connection of its
// own and returns the status (0 on error).
func getOwnConn(base, host string) int { return getOwnConnCtx(context.Background(), base, host) }

// getOwnConnCtx is getOwnConn with ctx: its end closes the connection.
func getOwnConnCtx(ctx context.Context, base, host string) int {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/", nil)
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestLimitConnections: limit-connections 2 lets two slow requests from
// 127.0.0.1 in and refuses a third with 503 (then the ConfigMap's
// limit-conn-status-code); their end frees the count; limit-allowlist
// exempts the client.
func TestLimitConnections(t *testing.T) {
	b, arrived, release := slowBackend(t, "lc")
	files := map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("lc", b.port) + ingress("lc", "lc.test", "lc", "limit-connections", "2"),
		"cm.yaml":    configMap(),
	}
	w := startWeirWith(t, files, configMapOptions())
	statuses := make(chan int, 2)
	for range 2 {
		go func() { statuses <- getOwnConn(w.base, "lc.test") }()
		arrived()
	}
	if got := getOwnConn(w.base, "lc.test"); got != http.StatusServiceUnavailable {
		t.Errorf("third concurrent request, limit-connections 2: %d, want 503", got)
	}
	w.update("cm.yaml", configMap("limit-conn-status-code", "429"))
	if got := getOwnConn(w.base, "lc.test"); got != http.StatusTooManyRequests {
		t.Errorf("third concurrent request, limit-conn-status-code 429: %d, want 429", got)
	}
	release()
	for range 2 {
		if got := <-statuses; got != http.StatusOK {
			t.Errorf("one of the first two requests: %d, want 200", got)
		}
	}
	if got := getOwnConn(w.base, "lc.test"); got != http.StatusOK {
		t.Errorf("a request once the first two ended: %d, want 200", got)
	}
}

// TestLimitConnectionsAllowlist: a client in limit-allowlist is not
// counted.
func TestLimitConnectionsAllowlist(t *testing.T) {
	b, arrived, release := slowBackend(t, "la")
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("la", b.port) + ingress("la", "la.test", "la", "limit-connections", "1", "limit-allowlist", "127.0.0.0/8"),
	})
	statuses := make(chan int, 2)
	for range 2 {
		go func() { statuses <- getOwnConn(w.base, "la.test") }()
		arrived()
	}
	release()
	for range 2 {
		if got := <-statuses; got != http.StatusOK {
			t.Errorf("allowlisted client over limit-connections 1: %d, want 200", got)
		}
	}
}

// TestLimitConnectionsClientGone: a request whose client goes away in the
// middle gives its count back: with limit-connections 1, the next request
// is let in once the first client closed its connection, while the
// backend still holds the first request.
func TestLimitConnectionsClientGone(t *testing.T) {
	in := make(chan struct{}, 16)
	done := make(chan struct{})
	b := newBackend(t, "gone", func(w http.ResponseWriter, r *http.Request) {
		in <- struct{}{}
		<-done
	})
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("gone", b.port) + ingress("gone", "gone.test", "gone", "limit-connections", "1"),
	})
	t.Cleanup(func() { close(done) }) // before Weir stops: its drain waits for the request held
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan int, 1)
	go func() { first <- getOwnConnCtx(ctx, w.base, "gone.test") }()
	if !arrivedWithin(in, 10*time.Second) {
		t.Fatal("the first request did not reach the backend")
	}
	if got := getOwnConn(w.base, "gone.test"); got != http.StatusServiceUnavailable {
		t.Fatalf("second request while the first is in flight: %d, want 503", got)
	}
	cancel()
	<-first
	// Retried until let in: the count is given back once the proxy saw
	// the client go.
	deadline := time.Now().Add(10 * time.Second)
	for {
		status := make(chan int, 1)
		go func() { status <- getOwnConn(w.base, "gone.test") }()
		select {
		case <-in:
			return // let in: it reached the backend
		case got := <-status:
			if got != http.StatusServiceUnavailable || time.Now().After(deadline) {
				t.Fatalf("request after the first client went away: %d, want to reach the backend", got)
			}
		}
	}
}

// TestKeepAliveHTTPS: keep-alive-requests and keep-alive apply on the HTTPS
// listener too: to HTTP/1.1 over TLS, and keep-alive to an idle HTTP/2
// connection.
func TestKeepAliveHTTPS(t *testing.T) {
	ca := certstest.NewCA(t)
	crt, key := ca.Issue(t, "ka.example.com")
	b := newBackend(t, "kas", nil)
	w := startWeirWith(t, map[string]string{
		"class.yaml":  ingressClass,
		"svc.yaml":    service("kas", b.port),
		"secret.yaml": certstest.SecretYAML("default", "ka-tls", crt, key),
		"ing.yaml":    tlsIngress("kas", "ka.example.com", "ka.example.com", "ka-tls", "kas"),
		"cm.yaml":     configMap("keep-alive-requests", "2", "keep-alive", "1"),
	}, configMapOptions())
	dial := func(proto string) *tls.Conn {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", w.d.HTTPSAddr(),
			&tls.Config{ServerName: "ka.example.com", RootCAs: ca.Pool(), NextProtos: []string{proto}})
		if err != nil {
			t.Fatalf("dial %s: %v", proto, err)
		}
		return c
	}
	get := "GET / HTTP/1.1\r\nHost: ka.example.com\r\n\r\n"
	rs := testutil.RawExchangeOn(t, dial("http/1.1"), strings.Repeat(get, 3))
	if got := testutil.Statuses(rs); len(got) != 2 || !rs[1].Close {
		t.Errorf("HTTP/1.1 over TLS, keep-alive-requests 2, three pipelined requests: statuses %v, want two, the second with Connection: close", got)
	}

	// An HTTP/2 connection with no stream is idle: closed after keep-alive.
	c := dial("h2")
	defer c.Close()
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("negotiated %q, want h2", p)
	}
	io.WriteString(c, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00") // preface, empty SETTINGS
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	if _, err := io.Copy(io.Discard, c); err != nil {
		t.Errorf("idle HTTP/2 connection, keep-alive 1: not closed within 10s (%v)", err)
	} else if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("idle HTTP/2 connection, keep-alive 1: closed after %v", d)
	}
}

package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/weir-lb/weir/l7/h1guard"
	"github.com/weir-lb/weir/test/testutil"
	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

func TestBadGatewayRefused(t *testing.T) {
	t.Parallel()
	dead := refusedAddr(t)
	var logs syncBuffer
	_, srv := front(t, Options{Logger: testLogger(&logs)}, snap(1, "foo.com", backendOf("dead", []string{dead})))
	got := get(t, client(t), srv, "foo.com", "/")
	if got.status != http.StatusBadGateway || got.body != h1guard.ErrorPage(502) {
		t.Errorf("got %d %q %v, want 502", got.status, got.body, got.err)
	}
	waitFor(t, "the error logged", func() bool { return strings.Contains(logs.String(), "reason=connect_refused") })
	if !strings.Contains(logs.String(), "dial upstream "+dead) {
		t.Errorf("log lacks the dial error:\n%s", logs.String())
	}
}

func TestBadGatewayReset(t *testing.T) {
	t.Parallel()
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		c, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // RST, not FIN
		}
		c.Close()
	})
	var logs syncBuffer
	_, srv := front(t, Options{Logger: testLogger(&logs)}, snap(1, "foo.com", backendOf("rst", []string{addr(up)})))
	got := get(t, client(t), srv, "foo.com", "/")
	if got.status != http.StatusBadGateway {
		t.Errorf("got %d %q %v, want 502", got.status, got.body, got.err)
	}
	waitFor(t, "the error logged", func() bool { return strings.Contains(logs.String(), "reason=upstream_error") })
}

func limit(n int64) func(*annotations.Proxy) {
	return func(p *annotations.Proxy) { p.BodySizeBytes = n }
}

func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		fmt.Fprintf(w, "%d", len(b))
	})
	var logs syncBuffer
	_, srv := front(t, Options{Logger: testLogger(&logs)}, snap(1, "foo.com", backendOf("a", []string{addr(up)}, limit(10))))
	c := client(t)

	// A declared length over the limit is refused before the upstream.
	got := do(t, c, srv, http.MethodPost, "foo.com", "/", strings.NewReader(strings.Repeat("x", 11)))
	if got.status != http.StatusRequestEntityTooLarge || got.body != h1guard.ErrorPage(413) {
		t.Errorf("Content-Length 11: got %d %q %v, want 413", got.status, got.body, got.err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("upstream contacted %d times for a body over the limit", n)
	}

	// At the limit passes.
	got = do(t, c, srv, http.MethodPost, "foo.com", "/", strings.NewReader(strings.Repeat("x", 10)))
	if got.status != 200 || got.body != "10" {
		t.Errorf("Content-Length 10: got %d %q %v, want 200 \"10\"", got.status, got.body, got.err)
	}

	// A chunked body is cut where it passes the limit.
	got = do(t, c, srv, http.MethodPost, "foo.com", "/", io.MultiReader(strings.NewReader(strings.Repeat("x", 100))))
	if got.status != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked 100: got %d %q %v, want 413", got.status, got.body, got.err)
	}
	if strings.Contains(logs.String(), "upstream error") {
		t.Errorf("a client's oversized body was logged as an upstream error:\n%s", logs.String())
	}
}

func TestUnlimitedBody(t *testing.T) {
	t.Parallel()
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%d", n)
	})
	_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("a", []string{addr(up)}, limit(0))))
	const size = 3 << 20
	got := do(t, client(t), srv, http.MethodPut, "foo.com", "/", io.MultiReader(io.LimitReader(zeros{}, size)))
	if got.status != 200 || got.body != fmt.Sprint(size) {
		t.Errorf("got %d %q %v, want 200 %d", got.status, got.body, got.err, size)
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, tc := range []struct {
		name       string
		err        error
		status     int
		reason     string
		wantSubstr string
	}{
		{"refused", &dialError{addr: "10.0.0.1:80", err: refused}, 502, reasonConnectRefused, "dial upstream 10.0.0.1:80: dial tcp: connect: connection refused"},
		{"dial other", &dialError{addr: "10.0.0.1:80", err: errors.New("no route")}, 502, reasonConnectError, "dial upstream 10.0.0.1:80: no route"},
		{"dial timeout", &dialError{addr: "a:1", err: fmt.Errorf("%w: %w", errConnectTimeout, context.DeadlineExceeded)}, 504, reasonConnectTimeout, "upstream connect timeout"},
		{"read timeout", fmt.Errorf("%w: %w", errReadTimeout, context.Canceled), 504, reasonReadTimeout, "upstream read timeout: context canceled"},
		{"send timeout", fmt.Errorf("%w: %w", errSendTimeout, io.ErrClosedPipe), 504, reasonSendTimeout, "upstream send timeout"},
		{"net timeout", &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, 504, reasonReadTimeout, "i/o timeout"},
		{"eof", io.EOF, 502, reasonUpstreamError, "EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status, reason := classify(tc.err)
			if diff := cmp.Diff([2]any{tc.status, tc.reason}, [2]any{status, reason}); diff != "" {
				t.Errorf("classify(%v) (-want +got):\n%s", tc.err, diff)
			}
			if !strings.Contains(tc.err.Error(), tc.wantSubstr) {
				t.Errorf("error text %q lacks %q", tc.err, tc.wantSubstr)
			}
		})
	}
}

func TestWriteError(t *testing.T) {
	t.Parallel()
	// nginx 1.22's pages, byte for byte (curl against "return CODE;" with
	// server_tokens off); 599 has none: an empty body, no type.
	page := func(title string) string {
		return "<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n<center><h1>" + title +
			"</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
	}
	for code, want := range map[int]string{
		401: page("401 Authorization Required"),
		404: page("404 Not Found"),
		413: page("413 Request Entity Too Large"),
		502: page("502 Bad Gateway"),
		503: page("503 Service Temporarily Unavailable"),
		504: page("504 Gateway Time-out"),
		599: "",
	} {
		w := httptest.NewRecorder()
		w.Header().Set("Content-Type", "text/plain")
		writeError(w, code)
		ct := "text/html"
		if want == "" {
			ct = ""
		}
		if w.Code != code || w.Body.String() != want || w.Header().Get("Content-Length") != fmt.Sprint(len(want)) || w.Header().Get("Content-Type") != ct {
			t.Errorf("writeError(%d) = %d %q (Content-Length %s, Content-Type %q), want %q (%q)", code, w.Code, w.Body.String(),
				w.Header().Get("Content-Length"), w.Header().Get("Content-Type"), want, ct)
		}
	}
}

func TestLimitedBody(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		size, limit int64
		wantN       int64
		wantErr     bool
	}{
		{0, 10, 0, false},
		{9, 10, 9, false},
		{10, 10, 10, false},
		{11, 10, 10, true},
		{1 << 20, 10, 10, true},
		{1 << 20, 1 << 20, 1 << 20, false},
	} {
		b := &limitedBody{rc: io.NopCloser(io.LimitReader(zeros{}, tc.size)), left: tc.limit, limit: tc.limit}
		n, err := io.Copy(io.Discard, b)
		var mbe *http.MaxBytesError
		if n != tc.wantN || errors.As(err, &mbe) != tc.wantErr || (err != nil && !tc.wantErr) {
			t.Errorf("size %d limit %d: read %d, %v; want %d, error %v", tc.size, tc.limit, n, err, tc.wantN, tc.wantErr)
		}
		if tc.wantErr && mbe.Limit != tc.limit {
			t.Errorf("MaxBytesError.Limit = %d, want %d", mbe.Limit, tc.limit)
		}
	}
}

// TestMalformedClientBody sends a chunked body with broken framing on a raw
// connection: the client, still there, gets 400 and the connection closes,
// never an empty 200.
func TestMalformedClientBody(t *testing.T) {
	t.Parallel()
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	})
	_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("a", []string{addr(up)})))
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "POST / HTTP/1.1\r\nHost: foo.com\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"5\r\nhello\r\nzz-not-hex\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !resp.Close {
		t.Fatalf("got %d (close %v), want 400 and Connection: close", resp.StatusCode, resp.Close)
	}
}

// TestOwnErrorsClose: after its own 400, 413, 414, 500 or 501 nginx ends
// an HTTP/1 keep-alive connection (Connection: close; ngx_http_special_
// response_handler), after its other answers it keeps it: a request
// pipelined behind a 413 (Content-Length over proxy-body-size) or a 500
// (auth service unreachable) is not served, one behind a 404 is.
func TestOwnErrorsClose(t *testing.T) {
	t.Parallel()
	up := backend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	unreachable := &annotations.Auth{External: &annotations.ExternalAuth{URL: "http://" + refusedAddr(t) + "/"}}
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{
		{Host: "small.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: backendOf("a", []string{addr(up)}, limit(10))}}},
		{Host: "auth.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: backendOf("b", []string{addr(up)}, withAuth(unreachable))}}},
		{Host: "ok.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: backendOf("c", []string{addr(up)})}}},
	}}
	_, srv := front(t, Options{}, s)
	next := "GET / HTTP/1.1\r\nHost: ok.test\r\nConnection: close\r\n\r\n"
	for _, tc := range []struct {
		req    string
		status int
		closes bool
	}{
		{"POST / HTTP/1.1\r\nHost: small.test\r\nContent-Length: 20\r\n\r\n01234567890123456789", http.StatusRequestEntityTooLarge, true},
		{"GET / HTTP/1.1\r\nHost: auth.test\r\n\r\n", http.StatusInternalServerError, true},
		{"GET / HTTP/1.1\r\nHost: none.test\r\n\r\n", http.StatusNotFound, false},
	} {
		rs := testutil.RawExchange(t, addr(srv), tc.req+next)
		if len(rs) == 0 || rs[0].StatusCode != tc.status {
			t.Errorf("%q: %d responses %v, want %d first", tc.req, len(rs), testutil.Statuses(rs), tc.status)
			continue
		}
		if got := rs[0].Close; got != tc.closes {
			t.Errorf("%d: Connection: close %v, want %v", tc.status, got, tc.closes)
		}
		if want := map[bool]int{true: 1, false: 2}[tc.closes]; len(rs) != want {
			t.Errorf("%d: %d responses %v, want %d", tc.status, len(rs), testutil.Statuses(rs), want)
		}
	}
}

// TestBodyTooLargeFirst checks that a declared length over proxy-body-size
// is refused before the location's redirects, limits and allow-lists, as
// nginx checks client_max_body_size when it finds the location, before its
// rewrite, preaccess and access phases. nginx 1.22 configured as nginx.tmpl
// renders these locations answers a POST with Content-Length 2000000 413
// for each, where Weir answered 308, 301, 503 and 403.
func TestBodyTooLargeFirst(t *testing.T) {
	t.Parallel()
	up := backend(t, echoRequest)
	tls := backendOf("tls", []string{addr(up)}, limit(10))
	tls.SSLRedirect = true
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{
		{Host: "tls.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: tls}}},
		{Host: "perm.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: backendOf("perm", []string{addr(up)}, limit(10),
			withRewrite(annotations.Rewrite{RedirectURL: "https://dest.test/", RedirectCode: http.StatusMovedPermanently}))}}},
		{Host: "rps.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: backendOf("rps", []string{addr(up)}, limit(10),
			func(p *annotations.Proxy) { p.RateLimit = &annotations.RateLimit{RPS: 1, BurstMultiplier: 1} })}}},
		{Host: "deny.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: backendOf("deny", []string{addr(up)}, limit(10),
			func(p *annotations.Proxy) { p.SourceRange = &annotations.SourceRange{Allow: []string{"192.0.2.0/24"}} })}}},
	}}
	_, srv := front(t, Options{}, s)
	// Empty the rate limit's bucket (1 + burst 1), so that a request of
	// rps.test within its limits would be refused.
	for range 3 {
		rawExchange(t, addr(srv), "GET / HTTP/1.1\r\nHost: rps.test\r\nConnection: close\r\n\r\n")
	}
	for _, host := range []string{"tls.test", "perm.test", "rps.test", "deny.test"} {
		resp, body := rawExchange(t, addr(srv), "POST /a HTTP/1.1\r\nHost: "+host+"\r\nContent-Length: 2000000\r\nConnection: close\r\n\r\n")
		if resp.StatusCode != http.StatusRequestEntityTooLarge || body != h1guard.ErrorPage(413) || resp.Header.Get("Location") != "" {
			t.Errorf("%s: %d Location %q, want 413", host, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

// TestBodyTooLargeNoRule checks that a request for a host no rule names is
// held to the ConfigMap's proxy-body-size, as the location of
// ingress-nginx's default server is (client_max_body_size of the default
// backend's location): nginx 1.22 answers a POST with Content-Length
// 2000000 to an unknown host 413 under the default 1m, where Weir answered
// 404.
func TestBodyTooLargeNoRule(t *testing.T) {
	t.Parallel()
	up := backend(t, echoRequest)
	for _, tc := range []struct {
		name, size string
		length     int
		want       int
	}{
		{"default 1m, over", "", 1<<20 + 1, http.StatusRequestEntityTooLarge},
		{"default 1m, at", "", 1 << 20, http.StatusNotFound},
		{"10, over", "10", 11, http.StatusRequestEntityTooLarge},
		{"10, at", "10", 10, http.StatusNotFound},
		{"unlimited", "0", 1 << 30, http.StatusNotFound},
		{"invalid is nginx's 1m", "big", 1<<20 + 1, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := snap(1, "known.test", backendOf("a", []string{addr(up)}))
			if tc.size != "" {
				s.Global, _ = annotations.ParseGlobal(map[string]string{"proxy-body-size": tc.size})
			}
			_, srv := front(t, Options{}, s)
			resp, _ := rawExchange(t, addr(srv), fmt.Sprintf("POST / HTTP/1.1\r\nHost: unknown.test\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", tc.length))
			if resp.StatusCode != tc.want {
				t.Errorf("Content-Length %d: %d, want %d", tc.length, resp.StatusCode, tc.want)
			}
		})
	}
}

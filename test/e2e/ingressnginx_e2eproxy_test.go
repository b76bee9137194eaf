package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weir-lb/weir/test/grpcecho"
)

// e2eproxyEcho answers as settingsEcho, and on these paths as the slow
// echo, httpbun and the framework's echo of ingress-nginx's e2e tests do:
// /sleep/MS answers after MS milliseconds; /big/N sends an X-Big header
// field of N bytes; ?to=URL answers 302 with Location URL; /cookie sets
// the cookie of proxy.go's "should setup proxy cookies".
func e2eproxyEcho(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/sleep/"):
		ms, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/sleep/"))
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "slept")
		return
	case strings.HasPrefix(r.URL.Path, "/big/"):
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/big/"))
		w.Header().Set("X-Big", strings.Repeat("a", n))
		io.WriteString(w, "big")
		return
	case r.URL.Query().Get("to") != "":
		w.Header().Set("Location", r.URL.Query().Get("to"))
		w.WriteHeader(http.StatusFound)
		return
	case r.URL.Path == "/cookie":
		w.Header().Add("Set-Cookie", "s=1; Domain=localhost; Path=/one/two")
		io.WriteString(w, "cookie")
		return
	}
	io.Copy(io.Discard, r.Body)
	settingsEcho(w, r)
}

// e2eproxyBackend is a backend answering e2eproxyEcho that also counts
// the connections it saw closed.
type e2eproxyBackend struct {
	*backend
	closed atomic.Int32
}

// newE2eproxyBackend starts an e2eproxyBackend (as newBackend, with the
// connection states watched from the start).
func newE2eproxyBackend(t *testing.T) *e2eproxyBackend {
	t.Helper()
	b := &e2eproxyBackend{backend: &backend{name: "echo"}}
	b.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.reqs = append(b.reqs, r.Clone(context.Background()))
		b.mu.Unlock()
		e2eproxyEcho(w, r)
	}))
	b.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateClosed {
			b.closed.Add(1)
		}
	}
	b.srv.Start()
	t.Cleanup(b.srv.Close)
	b.port = b.srv.Listener.Addr().(*net.TCPAddr).Port
	return b
}

// e2eproxyWeir serves one Ingress of host to an e2eproxyBackend with
// annotations and the controller ConfigMap cm; it returns Weir and the
// backend.
func e2eproxyWeir(t *testing.T, host string, annotations []string, cm ...string) (*weir, *e2eproxyBackend) {
	t.Helper()
	b := newE2eproxyBackend(t)
	w := startWeirWith(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("echo", b.port) + ingress("echo", host, "echo", annotations...),
		"cm.yaml":    configMap(cm...),
	}, configMapOptions())
	return w, b
}

// timedGet is w.get that also returns how long the answer took.
func (w *weir) timedGet(host, path string) (result, time.Duration) {
	w.t.Helper()
	start := time.Now()
	r := w.get(host, path)
	return r, time.Since(start)
}

// wantReadTimeout checks that /sleep/2500 of host gets 504 after the read
// timeout of 1 s (tried three times: proxy-next-upstream "error timeout",
// three tries, one endpoint) and /sleep/100 gets 200.
func wantReadTimeout(t *testing.T, w *weir, host string) {
	t.Helper()
	r, took := w.timedGet(host, "/sleep/2500")
	if r.status != http.StatusGatewayTimeout || took < time.Second || took > 3*2500*time.Millisecond {
		t.Errorf("proxy-read-timeout 1, endpoint answering after 2.5 s: %d after %v, want 504 after 1 s a try", r.status, took)
	}
	if r := w.get(host, "/sleep/100"); r.status != http.StatusOK {
		t.Errorf("proxy-read-timeout 1, endpoint answering after 0.1 s: %d, want 200", r.status)
	}
}

// wantNoReadTimeout checks that /sleep/1500 of host gets 200: an invalid
// timeout left the default (60 s).
func wantNoReadTimeout(t *testing.T, w *weir, host string) {
	t.Helper()
	if r := w.get(host, "/sleep/1500"); r.status != http.StatusOK || r.body != "slept" {
		t.Errorf("invalid proxy timeouts, endpoint answering after 1.5 s: %d %q, want 200 (default 60 s)", r.status, r.body)
	}
}

// TestIngressNginxProxyAnnotations ports ingress-nginx's
// test/e2e/annotations/proxy.go: each case's nginx.conf lines checked by
// what they do on the wire.
func TestIngressNginxProxyAnnotations(t *testing.T) {
	const host = "proxy.foo.com"
	// "should set proxy_redirect to off", "... to default", "... to
	// hello.com goodbye.com" and "should setup proxy cookies": covered by
	// TestProxyRedirectAndCookies (proxyrewrite_test.go).

	// "should set proxy client-max-body-size to 8m" and "should not set
	// proxy client-max-body-size to incorrect value" (15r is not applied:
	// the default 1m is). A body one byte over gets 413, which a client
	// still sending it reads (nginx's lingering close).
	for _, tc := range []struct {
		value string
		limit int
	}{{"8m", 8 << 20}, {"15r", 1 << 20}} {
		t.Run("proxy-body-size "+tc.value, func(t *testing.T) {
			w, _ := e2eproxyWeir(t, host, []string{"proxy-body-size", tc.value})
			for size, want := range map[int]int{tc.limit: http.StatusOK, tc.limit + 1: http.StatusRequestEntityTooLarge} {
				if r := w.do(http.MethodPost, host, "/", strings.NewReader(strings.Repeat("a", size))); r.status != want {
					t.Errorf("%d-byte body under proxy-body-size %s: %d, want %d", size, tc.value, r.status, want)
				}
			}
		})
	}
	// "should set valid proxy timeouts" (50, 20, 20 there; 1 s here to
	// see the read timeout).
	t.Run("valid proxy timeouts", func(t *testing.T) {
		w, _ := e2eproxyWeir(t, host, []string{"proxy-connect-timeout", "1", "proxy-send-timeout", "1", "proxy-read-timeout", "1"})
		wantReadTimeout(t, w, host)
	})
	// "should not set invalid proxy timeouts".
	t.Run("invalid proxy timeouts", func(t *testing.T) {
		w, _ := e2eproxyWeir(t, host, []string{"proxy-connect-timeout", "50k", "proxy-send-timeout", "20k", "proxy-read-timeout", "1k"})
		wantNoReadTimeout(t, w, host)
	})
	// "should turn on proxy-buffering": proxy_buffer_size 8k lets a
	// response header of 6 KB through, which the default 4k refuses (502,
	// "upstream sent too big header").
	t.Run("proxy-buffering on", func(t *testing.T) {
		w, _ := e2eproxyWeir(t, host, []string{"proxy-buffering", "on", "proxy-buffers-number", "8",
			"proxy-buffer-size", "8k", "proxy-busy-buffers-size", "16k"})
		if r := w.get(host, "/big/6000"); r.status != http.StatusOK || len(r.header.Get("X-Big")) != 6000 {
			t.Errorf("6 KB header, proxy-buffer-size 8k: %d, want 200 with X-Big", r.status)
		}
		if r := w.get(host, "/bytes/100000"); r.status != http.StatusOK || len(r.body) != 100000 {
			t.Errorf("100 kB body with proxy-buffering on: %d, %d bytes", r.status, len(r.body))
		}
		w, _ = e2eproxyWeir(t, host, nil)
		if r := w.get(host, "/big/6000"); r.status != http.StatusBadGateway {
			t.Errorf("6 KB header, default proxy-buffer-size 4k: %d, want 502", r.status)
		}
	})
	// "should turn off proxy-request-buffering": a chunked body streams
	// to the endpoint chunked (nginx's proxy_request_buffering off with
	// HTTP/1.1); buffered, it goes with a Content-Length.
	t.Run("proxy-request-buffering off", func(t *testing.T) {
		for _, tc := range []struct {
			ann    []string
			wantTE bool
		}{{[]string{"proxy-request-buffering", "off"}, true}, {nil, false}} {
			w, b := e2eproxyWeir(t, host, tc.ann)
			body := io.MultiReader(strings.NewReader("ab"), strings.NewReader("cd")) // no length: chunked
			if r := w.do(http.MethodPost, host, "/", body); r.status != http.StatusOK {
				t.Fatalf("%v: POST %d", tc.ann, r.status)
			}
			got := b.last()
			if chunked := len(got.TransferEncoding) > 0 && got.TransferEncoding[0] == "chunked"; chunked != tc.wantTE || !tc.wantTE && got.ContentLength != 4 {
				t.Errorf("%v: endpoint got Transfer-Encoding %q, Content-Length %d; want chunked %v", tc.ann, got.TransferEncoding, got.ContentLength, tc.wantTE)
			}
		}
	})
	// "should build proxy next upstream": error timeout http_502 passes a
	// 502 on to the next endpoint.
	t.Run("proxy-next-upstream", func(t *testing.T) {
		bad := newBackend(t, "bad", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) })
		good := newBackend(t, "good", nil)
		w := startWeirWith(t, map[string]string{
			"class.yaml": ingressClass,
			"app.yaml": endpointSlices("nu", bad.port, good.port) + ingress("nu", host, "nu", "proxy-next-upstream", "error timeout http_502",
				"proxy-next-upstream-timeout", "999999", "proxy-next-upstream-tries", "888888"),
			"cm.yaml": configMap(),
		}, configMapOptions())
		for i := range 4 {
			if r := w.get(host, "/"); r.status != http.StatusOK {
				t.Errorf("request %d: %d, want 200 (the 502 passed on)", i, r.status)
			}
		}
	})
	// "should change the default proxy HTTP version".
	t.Run("proxy-http-version 1.0", func(t *testing.T) {
		w, b := e2eproxyWeir(t, host, []string{"proxy-http-version", "1.0"})
		if r := w.get(host, "/"); r.status != http.StatusOK {
			t.Fatalf("GET: %d", r.status)
		}
		if got := b.last(); got.Proto != "HTTP/1.0" || got.Header["Connection"] != nil {
			t.Errorf("endpoint got %s with Connection %q, want HTTP/1.0 without Connection (ingress-nginx's empty $connection_upgrade)", got.Proto, got.Header["Connection"])
		}
	})
}

// TestIngressNginxConnectionAnnotation ports
// test/e2e/annotations/connection.go: covered by
// TestIngressNginxAnnotationCases/connection (nginxcases_test.go).

// grpcDelay is a gRPC service like ingress-nginx's grpcbin-delay: Unary
// answers, after the milliseconds its request's value names, the request's
// content-type and :authority; to "authorization", its authorization.
var grpcDelay = grpc.ServiceDesc{
	ServiceName: "weir.test.Delay",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Unary",
		Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			ms, _ := strconv.Atoi(in.Value)
			select {
			case <-time.After(time.Duration(ms) * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			md, _ := metadata.FromIncomingContext(ctx)
			if in.Value == "authorization" {
				return wrapperspb.String(strings.Join(md.Get("authorization"), ",")), nil
			}
			return wrapperspb.String(strings.Join(md.Get("content-type"), ",") + " " + strings.Join(md.Get(":authority"), ",")), nil
		},
	}},
}

// TestIngressNginxGRPCAnnotations ports test/e2e/annotations/grpc.go's
// timeout cases ("should return OK when request not exceed timeout",
// "should return Error when request exceed timeout": proxy-*-timeout are
// grpc_*_timeout; 10 s and a 15 s delay there, 1 s and 2.5 s here). The
// backend protocol GRPC and GRPCS cases are covered by TestGRPCInProcess
// (backend_test.go) and l7/proxy's TestGRPC (h2_test.go).
func TestIngressNginxGRPCAnnotations(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	gs.RegisterService(&grpcDelay, nil)
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	const host = "grpcbin-delay"
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml": service("grpcbin-delay", ln.Addr().(*net.TCPAddr).Port) + ingress("grpc", host, "grpcbin-delay", "backend-protocol", "GRPC",
			"proxy-connect-timeout", "1", "proxy-send-timeout", "1", "proxy-read-timeout", "1"),
	})
	cc := grpcecho.DialClearText(t, w.d.HTTPAddr(), host)
	call := func(delay string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out := new(wrapperspb.StringValue)
		err := cc.Invoke(ctx, "/weir.test.Delay/Unary", wrapperspb.String(delay), out)
		return out.Value, err
	}
	if got, err := call("100"); err != nil || got != "application/grpc "+host {
		t.Errorf("call within the timeout: %q, %v; want content-type application/grpc and authority %s", got, err, host)
	}
	start := time.Now()
	if _, err := call("2500"); err == nil || time.Since(start) > 2400*time.Millisecond {
		t.Errorf("call past proxy-read-timeout 1: %v after %v, want an error after about 1 s", err, time.Since(start))
	}

	// "authorization metadata should be overwritten by external auth
	// response headers": httpbun's /response-headers?authorization=foo
	// as the auth-url, Authorization in auth-response-headers.
	auth := newBackend(t, "auth", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Authorization", r.URL.Query().Get("authorization"))
	})
	w.update("app.yaml", service("grpcbin-delay", ln.Addr().(*net.TCPAddr).Port)+ingress("grpc", host, "grpcbin-delay", "backend-protocol", "GRPC",
		"auth-url", fmt.Sprintf("http://127.0.0.1:%d/response-headers?authorization=foo", auth.port), "auth-response-headers", "Authorization"))
	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "authorization", "bar"), 10*time.Second)
	defer cancel()
	out := new(wrapperspb.StringValue)
	if err := cc.Invoke(ctx, "/weir.test.Delay/Unary", wrapperspb.String("authorization"), out); err != nil || out.Value != "foo" {
		t.Errorf("authorization bar with the auth service's Authorization foo: endpoint got %q, %v; want foo", out.Value, err)
	}
}

// TestIngressNginxNextUpstreamSetting ports
// test/e2e/settings/proxy_next_upstream.go: "timeout http_502" from the
// ConfigMap passes an endpoint's 502 on.
func TestIngressNginxNextUpstreamSetting(t *testing.T) {
	const host = "proxy-next-upstream.com"
	bad := newBackend(t, "bad", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	good := newBackend(t, "good", nil)
	w := startWeirWith(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   endpointSlices("nu", bad.port, good.port) + ingress("nu", host, "nu"),
		"cm.yaml": configMap("proxy-next-upstream", "timeout http_502", "proxy-next-upstream-timeout", "999999",
			"proxy-next-upstream-tries", "888888"),
	}, configMapOptions())
	for i := range 4 {
		if r := w.get(host, "/"); r.status != http.StatusOK || r.body != "good /" {
			t.Errorf("request %d: %d %q, want 200 from good (the 502 passed on)", i, r.status, r.body)
		}
	}
}

// upstreamConns returns how many distinct upstream connections (client
// ports) b's requests came on, in order of first use.
func (b *backend) upstreamConns() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var seen []string
	for _, r := range b.reqs {
		if len(seen) == 0 || seen[len(seen)-1] != r.RemoteAddr {
			seen = append(seen, r.RemoteAddr)
		}
	}
	return seen
}

// TestIngressNginxKeepAliveSettings ports
// test/e2e/settings/keep-alive.go: keep-alive and keep-alive-requests to
// clients, upstream-keepalive-* to endpoints, seen on the connections.
func TestIngressNginxKeepAliveSettings(t *testing.T) {
	const host = "keep-alive"
	// "should set keepalive_timeout" (140 there): an idle client
	// connection is closed after keep-alive seconds, silently.
	t.Run("keep-alive", func(t *testing.T) {
		w, _ := e2eproxyWeir(t, host, nil, "keep-alive", "1")
		c, err := net.Dial("tcp", strings.TrimPrefix(w.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: "+host+"\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		if resp.Close {
			t.Fatalf("first response closes the connection")
		}
		start := time.Now()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := br.Read(make([]byte, 1))
		if took := time.Since(start); n != 0 || err != io.EOF || took < 800*time.Millisecond || took > 3*time.Second {
			t.Errorf("idle connection with keep-alive 1: read %d, %v after %v; want EOF after about 1 s", n, err, took)
		}
	})
	// "should set keepalive_requests": covered by
	// TestKeepAliveFromConfigMap (connlimit_test.go).

	get := func(t *testing.T, w *weir, n int) {
		t.Helper()
		for i := range n {
			if r := w.get(host, "/"); r.status != http.StatusOK {
				t.Fatalf("request %d: %d", i, r.status)
			}
		}
	}
	// "should set keepalive connection to upstream server" (128 there):
	// with it, requests share one connection; with "0" each has its own,
	// with Connection: close.
	t.Run("upstream-keepalive-connections", func(t *testing.T) {
		w, b := e2eproxyWeir(t, host, nil, "upstream-keepalive-connections", "128")
		get(t, w, 3)
		if got := b.upstreamConns(); len(got) != 1 {
			t.Errorf("upstream-keepalive-connections 128: 3 requests on connections %v, want one", got)
		}
		w, b = e2eproxyWeir(t, host, nil, "upstream-keepalive-connections", "0")
		get(t, w, 3)
		if got := b.upstreamConns(); len(got) != 3 || b.last().Header.Get("Connection") != "close" {
			t.Errorf("upstream-keepalive-connections 0: 3 requests on connections %v, last with Connection %q; want three, close", got, b.last().Header.Get("Connection"))
		}
	})
	// "should set keep alive connection timeout to upstream server" (120
	// there): an upstream connection idle that long is closed by Weir.
	t.Run("upstream-keepalive-timeout", func(t *testing.T) {
		w, b := e2eproxyWeir(t, host, nil, "upstream-keepalive-timeout", "1")
		get(t, w, 2)
		idle := time.Now()
		waitFor(t, 5*time.Second, "the idle upstream connection closed", func() bool { return b.closed.Load() == 1 })
		if took := time.Since(idle); took < 800*time.Millisecond {
			t.Errorf("idle upstream connection closed after %v, want about 1 s", took)
		}
		get(t, w, 1)
		if got := b.upstreamConns(); len(got) != 2 {
			t.Errorf("requests on connections %v, want a new one after the close", got)
		}
	})
	// "should set keepalive time to upstream server" (75s there): a
	// connection older than that is closed after its current request.
	t.Run("upstream-keepalive-time", func(t *testing.T) {
		w, b := e2eproxyWeir(t, host, nil, "upstream-keepalive-time", "1s")
		get(t, w, 2)
		if got := b.upstreamConns(); len(got) != 1 {
			t.Fatalf("two quick requests on connections %v, want one", got)
		}
		waitFor(t, 5*time.Second, "a new upstream connection after 1 s", func() bool {
			get(t, w, 1)
			return len(b.upstreamConns()) > 1
		})
	})
	// "should set the request count to upstream server through one keep
	// alive connection" (200 there).
	t.Run("upstream-keepalive-requests", func(t *testing.T) {
		w, b := e2eproxyWeir(t, host, nil, "upstream-keepalive-requests", "2")
		get(t, w, 5)
		if got := b.upstreamConns(); len(got) != 3 {
			t.Errorf("upstream-keepalive-requests 2: 5 requests on connections %v, want 3", got)
		}
	})
}

// TestIngressNginxServerTokens ports test/e2e/settings/server_tokens.go:
// no Server header with server-tokens false (server_tokens off and
// more_clear_headers Server), one with true.
func TestIngressNginxServerTokens(t *testing.T) {
	const host = "server-tokens"
	w, _ := e2eproxyWeir(t, host, nil, "server-tokens", "false")
	if r := w.get(host, "/"); r.status != http.StatusOK || r.header["Server"] != nil {
		t.Errorf("server-tokens false: %d with Server %q, want 200 without", r.status, r.header["Server"])
	}
	if r := w.get("unknown.test", "/"); r.header["Server"] != nil {
		t.Errorf("server-tokens false, Weir's own 404: Server %q, want none", r.header["Server"])
	}
	w.update("cm.yaml", configMap("server-tokens", "true"))
	if r := w.get(host, "/"); r.status != http.StatusOK || r.header.Get("Server") == "" {
		t.Errorf("server-tokens true: %d with Server %q, want 200 with one", r.status, r.header["Server"])
	}
}

// TestIngressNginxGRPCSetting ports test/e2e/settings/grpc.go: with
// grpc-buffer-size-kb (ignored by Weir, README) a GRPC route over TLS
// reaches the endpoint with the client's :authority and content-type.
func TestIngressNginxGRPCSetting(t *testing.T) {
	addr := grpcecho.Start(t, nil)
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	const host = "echo"
	w := startWeirWith(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("grpcbin-test", p) + ingress("grpc", host, "grpcbin-test", "backend-protocol", "GRPC"),
		"cm.yaml":    configMap("grpc-buffer-size-kb", "8"),
	}, configMapOptions())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := grpcecho.Exercise(ctx, grpcecho.Dial(t, w.d.HTTPSAddr(), host), host); err != nil {
		t.Fatalf("GRPC over TLS with grpc-buffer-size-kb 8: %v", err)
	}
}

// proxyProtocolGet sends header then a GET of host with extra header
// lines on a new connection to addr and returns the response body.
func proxyProtocolGet(t *testing.T, addr, header, host, extra string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, header+"GET / HTTP/1.1\r\nHost: "+host+"\r\n"+extra+"Connection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	return string(b)
}

// TestIngressNginxProxyProtocolSetting ports the cases of
// test/e2e/settings/proxy_protocol.go that TestProxyProtocol and
// TestStreamsProxyProtocol do not: the port and scheme of the PROXY
// header's destination, and use-forwarded-headers with a PROXY source
// inside or outside proxy-real-ip-cidr. ("should enable PROXY Protocol
// for HTTPS" and "... for TCP": covered by those.)
func TestIngressNginxProxyProtocolSetting(t *testing.T) {
	const host = "proxy-protocol"
	w, _ := e2eproxyWeir(t, host, nil, "use-proxy-protocol", "true")
	addr := strings.TrimPrefix(w.base, "http://")
	has := func(t *testing.T, body string, want ...string) {
		t.Helper()
		for _, l := range want {
			if !strings.Contains("\n"+body, "\n"+l+"\n") {
				t.Errorf("endpoint got no %q in:\n%s", l, body)
			}
		}
	}
	t.Run("port passed by the PROXY protocol", func(t *testing.T) {
		has(t, proxyProtocolGet(t, addr, "PROXY TCP4 192.168.0.1 192.168.0.11 56324 1234\r\n", host, ""),
			"host=proxy-protocol", "x-forwarded-port=1234", "x-forwarded-proto=http", "x-forwarded-for=192.168.0.1")
	})
	t.Run("proto passed by the PROXY protocol server port", func(t *testing.T) {
		has(t, proxyProtocolGet(t, addr, "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n", host, ""),
			"host=proxy-protocol", "x-forwarded-port=443", "x-forwarded-proto=https", "x-forwarded-for=192.168.0.1")
	})
	// "should not trust X-Forwarded headers when the client IP address is
	// not trusted": its assertion, Contains "x-forwarded-for=192.168.0.1",
	// also holds for "...=192.168.0.111", which nginx 1.22.1 configured
	// as nginx.tmpl sent with the default proxy-real-ip-cidr 0.0.0.0/0
	// (every PROXY source trusted). A PROXY source outside the list
	// (only the TCP peer, 127.0.0.1 here, in it) gives its own address.
	t.Run("use-forwarded-headers, client not trusted", func(t *testing.T) {
		w.update("cm.yaml", configMap("use-proxy-protocol", "true", "use-forwarded-headers", "true"))
		has(t, proxyProtocolGet(t, addr, "PROXY TCP4 192.168.0.1 192.168.0.11 56324 1234\r\n", host, "X-Forwarded-For: 192.168.0.111\r\n"),
			"host=proxy-protocol", "x-forwarded-port=1234", "x-forwarded-proto=http", "x-forwarded-for=192.168.0.111")
		w.update("cm.yaml", configMap("use-proxy-protocol", "true", "use-forwarded-headers", "true", "proxy-real-ip-cidr", "127.0.0.1/32"))
		has(t, proxyProtocolGet(t, addr, "PROXY TCP4 192.168.0.1 192.168.0.11 56324 1234\r\n", host, "X-Forwarded-For: 192.168.0.111\r\n"),
			"host=proxy-protocol", "x-forwarded-port=1234", "x-forwarded-proto=http", "x-forwarded-for=192.168.0.1")
	})
	// "should trust X-Forwarded headers when the client IP address is
	// trusted" (the TCP peer, in 10.0.0.0/8 in ingress-nginx's cluster,
	// is 127.0.0.1 here: it must be trusted too for realip to act).
	t.Run("use-forwarded-headers, client trusted", func(t *testing.T) {
		w.update("cm.yaml", configMap("use-proxy-protocol", "true", "use-forwarded-headers", "true",
			"proxy-real-ip-cidr", "10.0.0.0/8,127.0.0.1/32,192.168.0.1/32"))
		has(t, proxyProtocolGet(t, addr, "PROXY TCP4 192.168.0.1 192.168.0.11 56324 1234\r\n", host, "X-Forwarded-For: 192.168.0.111\r\n"),
			"host=proxy-protocol", "x-forwarded-port=1234", "x-forwarded-proto=http", "x-forwarded-for=192.168.0.111")
	})
}

// TestIngressNginxShutdown ports test/e2e/gracefulshutdown/shutdown.go
// "should shutdown in less than 60 seconds without pending connections":
// with worker-shutdown-timeout 600s and no request in flight, Weir
// exits as soon as its post-shutdown grace period allows. (grace_period.go:
// covered by TestShutdownUnderLoad in cmd/weir/shutdown_test.go;
// slow_requests.go: TestIngressNginxSlowRequestShutdown.)
func TestIngressNginxShutdown(t *testing.T) {
	const host = "shutdown"
	p, _ := shutdownWeir(t, "0", host, "600s")
	req, _ := http.NewRequest(http.MethodGet, p.httpURL+"/sleep/1000", nil)
	req.Host = host
	resp, err := p.httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /sleep/1000: %d", resp.StatusCode)
	}
	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("weir did not exit within 30 s of SIGTERM without requests in flight")
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("weir exited %v after SIGTERM, want within seconds", took)
	}
}

// TestIngressNginxKeepAliveHTTP2 runs keep-alive.go's keepalive_requests
// and keepalive_timeout over HTTP/2, TLS and h2c with prior knowledge:
// nginx 1.22.1 with keepalive_requests 2 and keepalive_timeout 1s served
// two streams on a connection then sent GOAWAY, and closed one idle for
// a second; the client's next request opened a new connection.
func TestIngressNginxKeepAliveHTTP2(t *testing.T) {
	const host = "keep-alive"
	w, _ := e2eproxyWeir(t, host, nil, "keep-alive-requests", "2", "keep-alive", "1")
	for _, tc := range []struct {
		name, url string
		protos    func(*http.Protocols)
	}{
		{"tls", "https://" + w.d.HTTPSAddr(), func(p *http.Protocols) { p.SetHTTP2(true) }},
		{"h2c", w.base, func(p *http.Protocols) { p.SetUnencryptedHTTP2(true) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p http.Protocols
			tc.protos(&p)
			tr := &http.Transport{Protocols: &p, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} // the test checks connections, not certificates
			// closed receives the local address of each client
			// connection the Transport closes (it closes one when Weir
			// does): the condition the idle case waits for.
			closed := make(chan string, 8)
			tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return &closeNotingConn{Conn: c, closed: closed}, nil
			}
			defer tr.CloseIdleConnections()
			get := func() string {
				t.Helper()
				var local string
				req, _ := http.NewRequest(http.MethodGet, tc.url+"/", nil)
				req.Host = host
				req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
					GotConn: func(ci httptrace.GotConnInfo) { local = ci.Conn.LocalAddr().String() }}))
				resp, err := (&http.Client{Transport: tr}).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK {
					t.Fatalf("%s %d, want HTTP/2 200", resp.Proto, resp.StatusCode)
				}
				return local
			}
			c := []string{get(), get(), get()}
			if c[0] != c[1] || c[1] == c[2] {
				t.Errorf("three requests with keep-alive-requests 2 on connections %v, want the third on a new one", c)
			}
			// The third connection, idle past keep-alive (1 s), is closed
			// by Weir, and the next request opens another.
			deadline := time.After(10 * time.Second)
			for done := false; !done; {
				select {
				case local := <-closed:
					done = local == c[2]
				case <-deadline:
					t.Fatalf("connection %s not closed within 10 s of idleness (keep-alive 1)", c[2])
				}
			}
			if next := get(); next == c[2] {
				t.Errorf("request after the idle close on the same connection %s, want a new one", next)
			}
		})
	}
}

// closeNotingConn sends its local address to closed when it is first
// closed.
type closeNotingConn struct {
	net.Conn
	once   sync.Once
	closed chan<- string
}

func (c *closeNotingConn) Close() error {
	c.once.Do(func() { c.closed <- c.LocalAddr().String() })
	return c.Conn.Close()
}

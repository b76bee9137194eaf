package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// headRecorder is a raw backend that sends each request head it reads
// (request line and header lines, as written) on heads, then answers 200
// "ok" after reading the body (Content-Length only).
func headRecorder(tb testing.TB) (string, <-chan []string) {
	tb.Helper()
	heads := make(chan []string, 16)
	a := rawBackend(tb, func(c net.Conn) {
		tp := textproto.NewReader(bufio.NewReader(c))
		for {
			var head []string
			n := 0
			for {
				l, err := tp.ReadLine()
				if err != nil {
					return
				}
				if l == "" {
					break
				}
				head = append(head, l)
				if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, "Content-Length") {
					fmt.Sscan(strings.TrimSpace(v), &n)
				}
			}
			heads <- head
			if _, err := io.ReadFull(tp.R, make([]byte, n)); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	return a, heads
}

// dialRaw opens a connection to srvAddr that the test closes, with a 10 s
// deadline.
func dialRaw(tb testing.TB, srvAddr string) net.Conn {
	tb.Helper()
	conn, err := net.Dial("tcp", srvAddr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	return conn
}

// rawExchange writes req on a new connection to srv and returns the
// response.
func rawExchange(tb testing.TB, srvAddr, req string) (*http.Response, string) {
	tb.Helper()
	conn := dialRaw(tb, srvAddr)
	if _, err := io.WriteString(conn, req); err != nil {
		tb.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		tb.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// rawGet is rawExchange of a GET of target (sent as it is) with Host host.
func rawGet(tb testing.TB, srvAddr, host, target string) (*http.Response, string) {
	tb.Helper()
	return rawExchange(tb, srvAddr, "GET "+target+" HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n")
}

// getCase is a GET of target with Host host and the body, want, that must
// answer it with 200.
type getCase struct{ host, target, want string }

// checkGets sends each case's GET (rawGet) to srvAddr and reports the
// answers that are not 200 with the case's body.
func checkGets(tb testing.TB, srvAddr string, cases []getCase) {
	tb.Helper()
	for _, tc := range cases {
		resp, body := rawGet(tb, srvAddr, tc.host, tc.target)
		if resp.StatusCode != http.StatusOK || body != tc.want {
			tb.Errorf("GET %s (Host %s): %d %q, want 200 %q", tc.target, tc.host, resp.StatusCode, body, tc.want)
		}
	}
}

// TestRawQueryForwarded checks that the upstream gets the query byte for
// byte, including those httputil.ReverseProxy would have re-encoded or
// dropped.
func TestRawQueryForwarded(t *testing.T) {
	t.Parallel()
	up, heads := headRecorder(t)
	_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("q", []string{up})))
	many := "/p?" + strings.Repeat("a=1&", 10001) + "z=%zz"
	for _, target := range []string{"/p?a=1;b=2", "/p?a=%zz&b=1", "/p?a=%2", "/p?x=%41%2f;y", many} {
		resp, body := rawExchange(t, addr(srv), "GET "+target+" HTTP/1.1\r\nHost: foo.com\r\nConnection: close\r\n\r\n")
		if resp.StatusCode != 200 || body != "ok" {
			t.Errorf("%.40s: got %d %q", target, resp.StatusCode, body)
			continue
		}
		if got := (<-heads)[0]; got != "GET "+target+" HTTP/1.1" {
			t.Errorf("upstream request line %.60q, want the client's %.60q", got, "GET "+target+" HTTP/1.1")
		}
	}
}

// TestRawPathForwarded checks that the upstream gets the path of the
// client's request target byte for byte, as nginx's proxy_pass without a
// URI sends r->unparsed_uri: bytes net/url would percent-encode ('"', '|',
// '{', '#', UTF-8) stay raw, and an escaped slash is not decoded when
// another byte of the path would be re-encoded (net/url's EscapedPath
// then escapes the decoded path: "/a%2Fb\"c" went up as "/a/b%22c").
// With a body, the request is written by Request.Write, without by
// Weir's own head writer, a WebSocket handshake by its own Request.Write:
// all are checked.
func TestRawPathForwarded(t *testing.T) {
	t.Parallel()
	up, heads := headRecorder(t)
	_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("q", []string{up})))
	for _, target := range []string{
		`/a%2Fb"c`, "/x|y?q=1", "/a{b}", `/a\b`, "/a^b", "/a`b", "/a<b>", "/caf\xc3\xa9", "/a#b", "/a#b?x=1",
		"/%7e", "/a%20b", "/a%2fb", "/a;b=c",
	} {
		for _, method := range []string{"GET", "POST", "UPGRADE"} {
			req := method + " " + target + " HTTP/1.1\r\nHost: foo.com\r\nConnection: close\r\n"
			switch method {
			case "POST":
				req += "Content-Length: 2\r\n\r\nhi"
			case "UPGRADE": // a WebSocket handshake, answered 200
				method = "GET"
				req = strings.Replace(req, "UPGRADE", method, 1) + "Upgrade: websocket\r\n\r\n"
			default:
				req += "\r\n"
			}
			resp, body := rawExchange(t, addr(srv), req)
			if resp.StatusCode != 200 || body != "ok" {
				t.Errorf("%s %q: got %d %q", method, target, resp.StatusCode, body)
				continue
			}
			if got, want := (<-heads)[0], method+" "+target+" HTTP/1.1"; got != want {
				t.Errorf("upstream request line %q, want the client's %q", got, want)
			}
		}
	}
}

// TestExpectNotForwarded checks Expect: 100-continue as nginx handles it:
// the client gets one 100 Continue (when the body is first read to be sent
// upstream), the upstream gets no Expect header.
func TestExpectNotForwarded(t *testing.T) {
	t.Parallel()
	up, heads := headRecorder(t)
	_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("e", []string{up})))
	conn := dialRaw(t, addr(srv))
	io.WriteString(conn, "PUT /x?a=1;b HTTP/1.1\r\nHost: foo.com\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusContinue {
		t.Fatalf("first response %v %v, want 100 Continue before the body", resp, err)
	}
	io.WriteString(conn, "hello")
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "ok" {
		t.Errorf("got %d %q, want 200 \"ok\" right after the one 100", resp.StatusCode, b)
	}
	head := <-heads
	if head[0] != "PUT /x?a=1;b HTTP/1.1" {
		t.Errorf("upstream request line %q", head[0])
	}
	for _, l := range head {
		if strings.HasPrefix(strings.ToLower(l), "expect:") {
			t.Errorf("upstream got %q", l)
		}
	}
}

// TestStalledBodyFreesUpstream checks client_body_timeout on a request that
// httputil.ReverseProxy used to carry (Expect, a query with ';'): the client
// that stops sending its body gets no answer (nginx logs 408 and resets the
// connection) and the upstream connection closes.
func TestStalledBodyFreesUpstream(t *testing.T) {
	t.Parallel()
	var closed atomic.Bool
	up := rawBackend(t, func(c net.Conn) {
		_, _ = io.Copy(io.Discard, c)
		closed.Store(true)
	})
	p, srv := front(t, Options{}, nil)
	p.clientBody = time.Second
	if err := p.Apply(snap(1, "foo.com", backendOf("b", []string{up}, streamBody))); err != nil {
		t.Fatal(err)
	}
	conn := dialRaw(t, addr(srv))
	start := time.Now()
	io.WriteString(conn, "POST /?a;b HTTP/1.1\r\nHost: foo.com\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\nabc")
	// The 100 Continue, then no answer: nginx terminates the request on
	// 408 and resets the connection.
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusContinue {
		t.Fatalf("got %v (%v), want 100 Continue", resp, err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if rest, err := io.ReadAll(br); len(rest) > 0 || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("after the 100: %q (%v), want the connection to end without an answer", rest, err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the connection ended after %v, want about the 1s client body timeout", took)
	}
	waitFor(t, "the upstream connection closed", closed.Load)
}

// TestSlowReaderCut checks send_timeout on a request that
// httputil.ReverseProxy used to carry: a client that stops reading is cut,
// and the upstream connection with it.
func TestSlowReaderCut(t *testing.T) {
	t.Parallel()
	var closed atomic.Bool
	up := rawBackend(t, func(c net.Conn) {
		defer closed.Store(true)
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		const size = 1 << 30
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", size)
		feedZeros(c, size) // until the proxy closes
	})
	p, srv := front(t, Options{}, nil)
	p.clientSend = time.Second
	if err := p.Apply(snap(1, "foo.com", backendOf("b", []string{up}))); err != nil {
		t.Fatal(err)
	}
	conn := dialRaw(t, addr(srv))
	io.WriteString(conn, "GET /?a=%zz HTTP/1.1\r\nHost: foo.com\r\n\r\n") // and never read
	waitFor(t, "the upstream connection closed", closed.Load)
}

// TestUpgradeTunnel checks that a non-WebSocket upgrade goes through the
// tunnel: the fields the client's Connection names reach the backend, bytes
// pass both ways, and the tunnel closes after proxy-read-timeout without
// traffic.
func TestUpgradeTunnel(t *testing.T) {
	t.Parallel()
	settings := make(chan string, 1)
	up := rawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		r, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		settings <- r.Header.Get("X-Settings") + "|" + r.Header.Get("Upgrade")
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: foo/1\r\n\r\n")
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		io.WriteString(c, "pong "+line)
		_, _ = io.Copy(io.Discard, br) // until the tunnel closes
	})
	reg := prometheus.NewRegistry()
	p, srv := front(t, Options{Registry: reg}, snap(1, "foo.com", backendOf("h", []string{up}, readTimeout(1))))
	conn := dialRaw(t, addr(srv))
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: foo.com\r\nConnection: Upgrade, X-Settings\r\nUpgrade: foo/1\r\nX-Settings: AAMAAABkAAQAAP__\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("got %v %v, want 101", resp, err)
	}
	if got := <-settings; got != "AAMAAABkAAQAAP__|foo/1" {
		t.Errorf("backend got X-Settings|Upgrade %q", got)
	}
	io.WriteString(conn, "ping\n")
	if line, err := br.ReadString('\n'); err != nil || line != "pong ping\n" {
		t.Fatalf("through the tunnel: %q %v", line, err)
	}
	start := time.Now()
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("read a byte from an idle tunnel")
	}
	if took := time.Since(start); took < 900*time.Millisecond || took > 5*time.Second {
		t.Errorf("idle tunnel closed after %v, want about the 1s read timeout", took)
	}
	waitFor(t, "the close counted", func() bool { return closes(p, closeReadTimeout) == 1 })
}

// TestH2CUpgradeRefused: Weir never asks a backend for h2c. An upgrade to
// h2c alone goes upstream as a plain request, without Upgrade, and the
// client stays on HTTP/1.1; h2c is taken out of a longer list, and a 101
// that switches to it anyway is a 502. nginx 1.22.1 configured as
// nginx.tmpl renders a location (proxy_set_header Upgrade $http_upgrade,
// Connection $connection_upgrade) sent "Upgrade: h2c" on and relayed the
// backend's 101, after which the client's "GET /admin" reached the
// backend through the tunnel, past a "location /admin { deny all; }" that
// answered the same request sent directly 403: h2c smuggling, which Weir
// does not copy.
func TestH2CUpgradeRefused(t *testing.T) {
	t.Parallel()
	saw := make(chan string, 4)
	up := rawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			r, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			saw <- r.Header.Get("Connection") + "|" + r.Header.Get("Upgrade")
			if r.Header.Get("Upgrade") != "" {
				// A backend that takes h2c, and switches to it whatever else
				// was asked.
				io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
				_, _ = io.Copy(io.Discard, br)
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain")
		}
	})
	_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("h", []string{up})))
	for _, tc := range []struct {
		upgrade, backendSaw string
		want                int
	}{
		{"h2c", "|", http.StatusOK},
		{"H2C", "|", http.StatusOK},
		{"websocket, h2c", "upgrade|websocket", http.StatusBadGateway},
	} {
		conn := dialRaw(t, addr(srv))
		io.WriteString(conn, "GET / HTTP/1.1\r\nHost: foo.com\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: "+tc.upgrade+
			"\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("Upgrade %q: %v", tc.upgrade, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("Upgrade %q: status %d, want %d", tc.upgrade, resp.StatusCode, tc.want)
		}
		if got := <-saw; got != tc.backendSaw {
			t.Errorf("Upgrade %q: backend saw Connection|Upgrade %q, want %q", tc.upgrade, got, tc.backendSaw)
		}
	}
}

func TestUpgradeOffer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"websocket", "websocket"},
		{"TLS/1.0", "TLS/1.0"},
		{"h2c", ""},
		{" H2c ", ""},
		{"h2c/1", ""},
		{"h2c, websocket", "websocket"},
		{"WebSocket, h2c, foo/2", "WebSocket, foo/2"},
		{"h2cx", "h2cx"},
		{"", ""},
	} {
		if got := upgradeOffer(tc.in); got != tc.want {
			t.Errorf("upgradeOffer(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestUpgradeRefusalCutMidBody checks that an upgrade's non-101 answer whose
// body stalls is cut after one proxy-read-timeout, with the bytes read
// before delivered, as any response.
func TestUpgradeRefusalCutMidBody(t *testing.T) {
	t.Parallel()
	up := stallsMidBody(t, "403 Forbidden")
	_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("u", []string{up}, readTimeout(1))))
	conn := dialRaw(t, addr(srv))
	start := time.Now()
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: foo.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden || string(b) != "part" || err == nil {
		t.Errorf("got %d %q %v, want 403 \"part\" and a cut body", resp.StatusCode, b, err)
	}
	if took := time.Since(start); took < 900*time.Millisecond || took > 1900*time.Millisecond {
		t.Errorf("cut after %v, want about the 1s read timeout", took)
	}
}

// TestProxyHeaderNotForwarded checks ingress-nginx's httpoxy mitigation
// (nginx.tmpl: proxy_set_header Proxy ""): a client's Proxy header never
// reaches the upstream, on the direct path (no body) nor the rewritten one
// (a body).
func TestProxyHeaderNotForwarded(t *testing.T) {
	t.Parallel()
	up, heads := headRecorder(t)
	_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("e", []string{up})))
	conn := dialRaw(t, addr(srv))
	br := bufio.NewReader(conn)
	for _, req := range []string{
		"GET /x HTTP/1.1\r\nHost: foo.com\r\nProxy: http://198.18.0.9:3128\r\n\r\n",
		"POST /x HTTP/1.1\r\nHost: foo.com\r\nproxy: http://198.18.0.9:3128\r\nContent-Length: 2\r\n\r\nhi",
	} {
		io.WriteString(conn, req)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d, want 200", resp.StatusCode)
		}
		for _, l := range <-heads {
			if k, _, _ := strings.Cut(l, ":"); strings.EqualFold(k, "Proxy") {
				t.Errorf("%q: upstream got %q", strings.SplitN(req, "\r\n", 2)[0], l)
			}
		}
	}
}

// TestAbsoluteFormHost: a request whose target is an absolute URL is
// routed by the URL's host, as nginx picks the server by the request
// line's host, and the upstream Host and X-Forwarded-Host are that host
// too, whatever the Host line says, with either HTTP/1 server (httpHost).
// nginx 1.22 sent the Host line: "GET http://foo.com/x" with "Host:
// other.example" reached foo.com's upstream as Host: other.example, so a
// backend serving both hosts answered for other.example past the source
// ranges and authentication of other.example's own Ingress.
func TestAbsoluteFormHost(t *testing.T) {
	t.Parallel()
	up, heads := headRecorder(t)
	_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("a", []string{up})))
	for _, tc := range []struct{ req, host string }{
		{"GET http://foo.com/x?q=1 HTTP/1.1\r\nHost: other.example\r\n", "foo.com"},
		{"GET http://FOO.com:8080/x HTTP/1.1\r\nHost: other.example:99\r\n", "FOO.com:8080"},
		{"GET http://foo.com/x HTTP/1.0\r\n", "foo.com"},
		{"GET /x HTTP/1.1\r\nHost: foo.com:1\r\n", "foo.com:1"},
	} {
		resp, body := rawExchange(t, addr(srv), tc.req+"Connection: close\r\n\r\n")
		if resp.StatusCode != 200 || body != "ok" {
			t.Errorf("%q: got %d %q, want foo.com's 200 ok", tc.req, resp.StatusCode, body)
			continue
		}
		head := "\n" + strings.Join(<-heads, "\n") + "\n"
		for _, want := range []string{"\nHost: " + tc.host + "\n", "\nX-Forwarded-Host: " + tc.host + "\n"} {
			if !strings.Contains(head, want) {
				t.Errorf("%q: upstream head lacks %q:%s", tc.req, want, head)
			}
		}
	}
	// The route is the URL's: foo.com's Host line does not reach foo.com.
	resp, _ := rawExchange(t, addr(srv), "GET http://other.example/x HTTP/1.1\r\nHost: foo.com\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != 404 {
		t.Errorf("absolute URL of another host with Host: foo.com: got %d, want 404 (nginx routes by the request line)", resp.StatusCode)
	}
}

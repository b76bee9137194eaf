package e2e

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/weir-lb/weir/test/testutil"
)

// rawExchange is testutil.RawExchange on Weir's HTTP port.
func (w *weir) rawExchange(t testing.TB, raw string) []testutil.RawResponse {
	t.Helper()
	return testutil.RawExchange(t, strings.TrimPrefix(w.base, "http://"), raw)
}

// TestStrictFraming: requests nginx refuses are refused with its status,
// the connection closes, and the backend never sees them.
func TestStrictFraming(t *testing.T) {
	b := newBackend(t, "strict", nil)
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("strict", b.port) + ingress("strict", "strict.test", "strict"),
	})
	big := strings.Repeat("a", 9000)
	for _, tc := range []struct {
		name   string
		raw    string
		status int
		// streamed: the head is valid, so the request may reach the
		// backend before its body breaks (the body is streamed).
		streamed bool
	}{
		{"content-length and transfer-encoding", "POST / HTTP/1.1\r\nHost: strict.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, false},
		{"transfer-encoding on http/1.0", "POST / HTTP/1.0\r\nHost: strict.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, false},
		{"unknown transfer-encoding", "POST / HTTP/1.1\r\nHost: strict.test\r\nTransfer-Encoding: identity\r\n\r\n", 501, false},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: strict.test\r\nX-A: 1\r\n 2\r\n\r\n", 400, false},
		{"duplicate content-length", "POST / HTTP/1.1\r\nHost: strict.test\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", 400, false},
		{"invalid content-length", "POST / HTTP/1.1\r\nHost: strict.test\r\nContent-Length: 1x\r\n\r\nx", 400, false},
		{"duplicate host", "GET / HTTP/1.1\r\nHost: strict.test\r\nHost: strict.test\r\n\r\n", 400, false},
		{"connect", "CONNECT / HTTP/1.1\r\nHost: strict.test:443\r\n\r\n", 405, false},
		{"connect authority form", "CONNECT strict.test:443 HTTP/1.1\r\nHost: strict.test:443\r\n\r\n", 400, false}, // nginx 1.22.1: a bad request line
		{"options *", "OPTIONS * HTTP/1.1\r\nHost: strict.test\r\n\r\n", 400, false},
		{"get *", "GET * HTTP/1.1\r\nHost: strict.test\r\n\r\n", 400, false},
		{"%00 in path", "GET /a%00 HTTP/1.1\r\nHost: strict.test\r\n\r\n", 400, false},
		{"request line over 8k", "GET /" + big + " HTTP/1.1\r\nHost: strict.test\r\n\r\n", 414, false},
		{"header line over 8k", "GET / HTTP/1.1\r\nHost: strict.test\r\nX: " + big + "\r\n\r\n", 400, false},
		{"head over 32k", "GET / HTTP/1.1\r\nHost: strict.test\r\n" + strings.Repeat("X: "+big[:8000]+"\r\n", 5) + "\r\n", 400, false},
		// Not waited for: refused once over the limit, its bytes not held.
		{"unfinished head over 32k", "GET / HTTP/1.1\r\nHost: strict.test\r\n" + strings.Repeat("X: "+big[:8000]+"\r\n", 5), 400, false},
		{"bad chunk", "POST / HTTP/1.1\r\nHost: strict.test\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n", 400, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.mu.Lock()
			before := len(b.reqs)
			b.mu.Unlock()
			rs := w.rawExchange(t, tc.raw)
			if len(rs) != 1 || rs[0].StatusCode != tc.status || !rs[0].Close {
				t.Fatalf("got statuses %v, want one %d with Connection: close", testutil.Statuses(rs), tc.status)
			}
			b.mu.Lock()
			after := len(b.reqs)
			b.mu.Unlock()
			if after != before && !tc.streamed {
				t.Errorf("the backend got the request")
			}
		})
	}
}

// TestHostlessHTTP10Routed: an HTTP/1.0 request without Host reaches the
// host-less rules with Host "_".
func TestHostlessHTTP10Routed(t *testing.T) {
	b := newBackend(t, "any", nil)
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml": service("any", b.port) + `
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: any, namespace: default}
spec:
  ingressClassName: weir
  rules:
  - http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: any, port: {number: 80}}}}]}
`,
	})
	rs := w.rawExchange(t, "GET /x HTTP/1.0\r\n\r\n")
	if len(rs) != 1 || rs[0].StatusCode != http.StatusOK {
		t.Fatalf("got statuses %v, want one 200", testutil.Statuses(rs))
	}
	if r := b.last(); r == nil || r.Host != "_" {
		t.Errorf("backend got %v, want Host _", r)
	}
	// As nginx answers HTTP/1.0: an HTTP/1.1 status line, and the close
	// said (h1server's TestHTTP10AsNginx); ReadResponse takes
	// "Connection: close" out of the header into Close, which a 1.1
	// status line leaves false without it.
	if rs[0].Proto != "HTTP/1.1" || !rs[0].Close {
		t.Errorf("HTTP/1.0 answered with %s, close %v; want HTTP/1.1 and Connection: close", rs[0].Proto, rs[0].Close)
	}
}

// TestStrictFramingHTTPS: an HTTPS connection that negotiated http/1.1 is
// held to the same rules, and its requests still know they came over TLS.
func TestStrictFramingHTTPS(t *testing.T) {
	b := newBackend(t, "tlsstrict", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Header.Get("X-Forwarded-Proto"))
	})
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("tlsstrict", b.port) + ingress("tlsstrict", "tlsstrict.test", "tlsstrict"),
	})
	dial := func() *tls.Conn {
		c, err := tls.Dial("tcp", w.d.HTTPSAddr(), &tls.Config{
			ServerName: "tlsstrict.test", NextProtos: []string{"http/1.1"},
			InsecureSkipVerify: true, // Weir's self-signed certificate
		})
		if err != nil {
			t.Fatalf("tls dial: %v", err)
		}
		return c
	}
	rs := testutil.RawExchangeOn(t, dial(), "GET * HTTP/1.1\r\nHost: tlsstrict.test\r\n\r\n")
	if len(rs) != 1 || rs[0].StatusCode != http.StatusBadRequest || !rs[0].Close {
		t.Errorf("GET * over https: statuses %v, want one 400 with Connection: close", testutil.Statuses(rs))
	}
	rs = testutil.RawExchangeOn(t, dial(), "GET / HTTP/1.1\r\nHost: tlsstrict.test\r\nConnection: close\r\n\r\n")
	if len(rs) != 1 || rs[0].StatusCode != http.StatusOK || rs[0].Body != "https" {
		t.Errorf("GET / over https: %v %q, want 200 with X-Forwarded-Proto https", testutil.Statuses(rs), rs[0].Body)
	}
}

// TestPlainHTTPToHTTPSPort: a plain HTTP request on the HTTPS port gets
// nginx's answer (its internal 497): 400 with the page "The plain HTTP
// request was sent to HTTPS port", Connection: close, and no request
// reaches the backend.
func TestPlainHTTPToHTTPSPort(t *testing.T) {
	b := newBackend(t, "plain", nil)
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("plain", b.port) + ingress("plain", "plain.test", "plain"),
	})
	rs := testutil.RawExchange(t, w.d.HTTPSAddr(), "GET / HTTP/1.1\r\nHost: plain.test\r\n\r\n")
	if len(rs) != 1 || rs[0].StatusCode != http.StatusBadRequest || !rs[0].Close ||
		!strings.Contains(rs[0].Body, "<center>The plain HTTP request was sent to HTTPS port</center>") {
		t.Fatalf("got %v, want one 400 with nginx's plain-HTTP page and Connection: close", rs)
	}
	if r := b.last(); r != nil {
		t.Errorf("the backend got %v", r)
	}
}

// TestStrictFramingCurl: curl's requests pass, and the hostile ones curl
// can be made to send are refused.
func TestStrictFramingCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	b := newBackend(t, "curl", nil)
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("curl", b.port) + ingress("curl", "curl.test", "curl"),
	})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-H", "Host: curl.test", w.base + "/ok"}, "200"},
		{[]string{"-H", "Host: curl.test", "-d", "body", w.base + "/post"}, "200"},
		{[]string{"-H", "Host: curl.test", "-X", "OPTIONS", "--request-target", "*", w.base}, "400"},
		{[]string{"-H", "Host: curl.test", "-H", "Transfer-Encoding: gzip", "-d", "x", w.base + "/"}, "501"},
		{[]string{"-H", "Host: curl.test", "-H", "X-Long: " + strings.Repeat("a", 9000), w.base + "/"}, "400"},
		{[]string{"-H", "Host: curl.test", w.base + "/" + strings.Repeat("a", 9000)}, "414"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, "curl", append([]string{"-s", "-o", "/dev/null", "-w", "%{http_code}"}, tc.args...)...).Output()
		cancel()
		if err != nil || string(out) != tc.want {
			t.Errorf("curl %q: %q (%v), want %s", tc.args[len(tc.args)-3:], out, err, tc.want)
		}
	}
}

// TestHeaderBuffersFromConfigMap checks that the ConfigMap's
// large-client-header-buffers sets the limits live: "4 1k" refuses a 2 KiB
// header line that the default "4 8k" serves, and a long request line gets
// 414 once the buffer is smaller than it.
func TestHeaderBuffersFromConfigMap(t *testing.T) {
	b := newBackend(t, "buf", nil)
	files := map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("buf", b.port) + ingress("buf", "buf.test", "buf"),
		"cm.yaml":    configMap(),
	}
	w := startWeirWith(t, files, configMapOptions())
	header := "GET / HTTP/1.1\r\nHost: buf.test\r\nX-Big: " + strings.Repeat("a", 2048) + "\r\nConnection: close\r\n\r\n"
	line := "GET /" + strings.Repeat("b", 1500) + " HTTP/1.1\r\nHost: buf.test\r\nConnection: close\r\n\r\n"
	want := func(what, raw string, status int) {
		t.Helper()
		rs := w.rawExchange(t, raw)
		if got := testutil.Statuses(rs); len(got) != 1 || got[0] != status {
			t.Errorf("%s: got statuses %v, want [%d]", what, got, status)
		}
	}
	want("2 KiB header line, default buffers", header, http.StatusOK)
	want("1.5 KiB request line, default buffers", line, http.StatusOK)

	w.update("cm.yaml", configMap("large-client-header-buffers", "4 1k"))
	want("2 KiB header line, 4 1k", header, http.StatusBadRequest)
	want("1.5 KiB request line, 4 1k", line, http.StatusRequestURITooLong)
}

// TestStrictHTTP2: HTTP/2 requests are held to the rules that apply to them
// as to an HTTP/1.1 head: an escaped NUL or a path that climbs above the
// root gets 400 with nginx's page, and never reaches the backend.
func TestStrictHTTP2(t *testing.T) {
	b := newBackend(t, "h2strict", nil)
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("h2strict", b.port) + ingress("h2strict", "h2strict.test", "h2strict"),
	})
	tr := httpsTransport(t, w, nil)
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/ok", http.StatusOK},
		{"/a%00b", http.StatusBadRequest},
		{"/../etc/passwd", http.StatusBadRequest},
		{"/a/%2e%2e/%2e%2e/x", http.StatusBadRequest},
	} {
		resp, body, _ := httpsGet(t, w, tr, "h2strict.test", tc.path)
		if resp.ProtoMajor != 2 {
			t.Fatalf("%s: served over %s, want HTTP/2", tc.path, resp.Proto)
		}
		if resp.StatusCode != tc.want {
			t.Errorf("GET %s over HTTP/2: %d %q, want %d", tc.path, resp.StatusCode, body, tc.want)
		}
		if tc.want == http.StatusBadRequest && !strings.Contains(body, "<center>nginx</center>") {
			t.Errorf("GET %s over HTTP/2: body %q, want nginx's error page", tc.path, body)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.reqs {
		if r.URL.Path != "/ok" {
			t.Errorf("the backend got %q", r.URL.RawPath)
		}
	}
}

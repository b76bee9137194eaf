package e2e

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weir-lb/weir/test/testutil"
)

// bytesLog is the access-log format of the $bytes_sent tests.
const bytesLog = "$request_method $request_uri $server_protocol $status $bytes_sent $body_bytes_sent"

// bytesBackend is the backend of the nginx 1.22.1 comparison
// (testutil.SizesHandler).
func bytesBackend(t *testing.T, slow chan<- struct{}) *backend {
	return newBackend(t, "bytes", testutil.SizesHandler(slow))
}

// startBytesWeir serves bytes.test (TLS with Weir's default certificate,
// no ssl-redirect) from b, logging bytesLog, the default backend's
// requests too.
func startBytesWeir(t *testing.T, b *backend) *weir {
	return startWeirWith(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml": service("bytes", b.port) + `
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: bytes
  namespace: default
  annotations: {nginx.ingress.kubernetes.io/ssl-redirect: "false"}
spec:
  ingressClassName: weir
  tls: [{hosts: [bytes.test]}]
  rules:
  - host: bytes.test
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: bytes, port: {number: 80}}}}]}
`,
		"cm.yaml": configMap("log-format-upstream", bytesLog, "enable-access-log-for-default-backend", "true"),
	}, configMapOptions())
}

// TestBytesSentAsNginx compares $bytes_sent and $body_bytes_sent (and so
// the response_size histogram, the same figure) with the bytes the client
// read and with what nginx 1.22.1 logged for the same requests, byte for
// byte, configured as nginx.tmpl renders this Ingress (log_format
// upstreaminfo with the two variables, server_tokens off and
// more_clear_headers Server, HSTS on HTTPS, proxy_buffering off, an
// upstream with keepalive; the default server through ingress-nginx's
// internal 404 backend). nginx logged, each time the bytes its client
// read (the last request of a connection says Connection: close):
//
//	plain 200          134 13  (Date, Content-Type, Content-Length, Connection)
//	404 (no such host) 274 146
//	301 of the backend 150 0
//	chunked            173 44 or 178 49: the backend's three flushes in
//	                   one chunk or two, as they came (Weir's likewise: the
//	                   test compares it with the wire only)
//	HEAD               121 0
//	304                98 0
//	HTTP/1.0           134 13, chunked upstream 134 33 (no chunking)
//	HTTP/1.0 keep-alive 139 13, then 134 13
//	keep-alive         139 13, 178 44, 126 0, 150 0 on one connection
//	TLS (http/1.1)     198 13 (the HSTS line); 203 13 then 237 44 kept
//	499                0 0     (the client left before the answer)
//
// Weir's heads are as long as nginx's here, so its figures are both the
// wire's and nginx's; before, it logged 78 for the plain 200, leaving out
// the lines its HTTP/1 server adds (Date, Connection).
func TestBytesSentAsNginx(t *testing.T) {
	slow := make(chan struct{}, 1)
	b := bytesBackend(t, slow)
	w := startBytesWeir(t, b)
	logs := &sizesLog{w: w}
	httpAddr := strings.TrimPrefix(w.base, "http://")
	dialTLS := func() net.Conn {
		c, err := tls.Dial("tcp", w.d.HTTPSAddr(), &tls.Config{ServerName: "bytes.test", NextProtos: []string{"http/1.1"},
			InsecureSkipVerify: true}) // Weir's self-signed certificate
		if err != nil {
			t.Fatalf("tls dial: %v", err)
		}
		return c
	}
	for _, tc := range []struct {
		name string
		tls  bool
		reqs []string // request lines and fields; the last one closes
		// nginx is what nginx 1.22.1 logged, one "$bytes_sent
		// $body_bytes_sent" a request; "" where it varies with the
		// backend's timing.
		nginx []string
	}{
		{"plain", false, []string{"GET /plain HTTP/1.1\r\nHost: bytes.test"}, []string{"134 13"}},
		{"404 default backend", false, []string{"GET /nothing HTTP/1.1\r\nHost: other.test"}, []string{"274 146"}},
		{"301", false, []string{"GET /redirect HTTP/1.1\r\nHost: bytes.test"}, []string{"150 0"}},
		{"chunked", false, []string{"GET /chunked HTTP/1.1\r\nHost: bytes.test"}, []string{""}},
		{"head", false, []string{"HEAD /plain HTTP/1.1\r\nHost: bytes.test"}, []string{"121 0"}},
		{"304", false, []string{"GET /304 HTTP/1.1\r\nHost: bytes.test"}, []string{"98 0"}},
		{"http/1.0", false, []string{"GET /plain HTTP/1.0\r\nHost: bytes.test"}, []string{"134 13"}},
		{"http/1.0 chunked", false, []string{"GET /chunked HTTP/1.0\r\nHost: bytes.test"}, []string{"134 33"}},
		{"http/1.0 keep-alive", false, []string{"GET /plain HTTP/1.0\r\nHost: bytes.test\r\nConnection: keep-alive", "GET /plain HTTP/1.0\r\nHost: bytes.test"},
			[]string{"139 13", "134 13"}},
		{"keep-alive", false, []string{"GET /plain HTTP/1.1\r\nHost: bytes.test", "GET /chunked HTTP/1.1\r\nHost: bytes.test",
			"HEAD /plain HTTP/1.1\r\nHost: bytes.test", "GET /redirect HTTP/1.1\r\nHost: bytes.test"}, []string{"139 13", "", "126 0", "150 0"}},
		{"tls", true, []string{"GET /plain HTTP/1.1\r\nHost: bytes.test"}, []string{"198 13"}},
		{"tls keep-alive", true, []string{"GET /plain HTTP/1.1\r\nHost: bytes.test", "GET /chunked HTTP/1.1\r\nHost: bytes.test"}, []string{"203 13", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, methods := testutil.Pipeline(tc.reqs, "")
			var uris []string
			for _, req := range tc.reqs {
				uris = append(uris, strings.Fields(req)[1])
			}
			var c net.Conn
			if tc.tls {
				c = dialTLS()
			} else {
				var err error
				if c, err = net.Dial("tcp", httpAddr); err != nil {
					t.Fatal(err)
				}
			}
			wire := testutil.RawWire(t, c, raw)
			sizes := testutil.WireSizes(t, wire, methods...)
			got := logs.next(t, methods, uris)
			for i, s := range sizes {
				onWire := fmt.Sprintf("%d %d", s.Total, s.Total-s.Head)
				if got[i] != onWire {
					t.Errorf("%s %s: logged $bytes_sent $body_bytes_sent %q, want %q, the bytes the client read:\n%q", methods[i], uris[i], got[i], onWire, wire)
				}
				if tc.nginx[i] != "" && got[i] != tc.nginx[i] {
					t.Errorf("%s %s: logged %q, nginx 1.22.1 %q", methods[i], uris[i], got[i], tc.nginx[i])
				}
			}
		})
	}

	t.Run("499", func(t *testing.T) {
		c, err := net.Dial("tcp", httpAddr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: bytes.test\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		select {
		case <-slow:
		case <-time.After(10 * time.Second):
			t.Fatal("the backend did not get /slow")
		}
		c.Close()
		if got := logs.next(t, []string{"GET"}, []string{"/slow"}); got[0] != "0 0" {
			t.Errorf("499: logged $bytes_sent $body_bytes_sent %q, want nginx's \"0 0\"", got[0])
		}
	})
}

// TestBytesSentHTTP2AsNginx compares the HTTP/2 $bytes_sent with nginx
// 1.22.1's for the same answers over h2 (TLS, HSTS): nginx counts every
// frame it sends of the stream, 9 bytes of frame header and the payload,
// the HPACK block as it encodes it (no dynamic table, Huffman strings) and
// the DATA payload, an empty DATA frame ending a proxied body. It logged
// plain 124 13, HEAD 93 0, the 301 117 0, the 304 91 0. Weir's figure is
// nginx's estimated from the header and body (l7/proxy's http2Sent), not
// net/http's own frames: HPACK's dynamic table makes those shorter from
// the second response of a connection on.
func TestBytesSentHTTP2AsNginx(t *testing.T) {
	b := bytesBackend(t, nil)
	w := startBytesWeir(t, b)
	logs := &sizesLog{w: w}
	tr := &http.Transport{ForceAttemptHTTP2: true,
		TLSClientConfig: &tls.Config{ServerName: "bytes.test", InsecureSkipVerify: true}} // Weir's self-signed certificate
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	_, port, _ := net.SplitHostPort(w.d.HTTPSAddr())
	for _, tc := range []struct{ method, uri, nginx string }{
		{"GET", "/plain", "124 13"},
		{"HEAD", "/plain", "93 0"},
		{"GET", "/redirect", "117 0"},
		{"GET", "/304", "91 0"},
	} {
		req, err := http.NewRequest(tc.method, "https://127.0.0.1:"+port+tc.uri, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "bytes.test"
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.uri, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("%s %s over %s, want HTTP/2", tc.method, tc.uri, resp.Proto)
		}
		if got := logs.next(t, []string{tc.method}, []string{tc.uri}); got[0] != tc.nginx {
			t.Errorf("%s %s over HTTP/2: logged $bytes_sent $body_bytes_sent %q, nginx 1.22.1 %q", tc.method, tc.uri, got[0], tc.nginx)
		}
	}
}

// sizesLog reads the access log of w, of format bytesLog, line after line.
type sizesLog struct {
	w     *weir
	taken int // the lines read
}

// next waits for the lines of the requests methods[i] uris[i], in order,
// after those taken, and returns their "$bytes_sent $body_bytes_sent".
func (l *sizesLog) next(t *testing.T, methods, uris []string) []string {
	t.Helper()
	out := make([]string, len(methods))
	waitFor(t, 10*time.Second, fmt.Sprintf("%d access-log lines", len(methods)), func() bool {
		lines := strings.Split(l.w.access.String(), "\n")
		next := 0
		for i := l.taken; i < len(lines) && next < len(methods); i++ {
			f := strings.Fields(lines[i])
			if len(f) == 6 && f[0] == methods[next] && f[1] == uris[next] {
				out[next] = f[4] + " " + f[5]
				next++
				if next == len(methods) {
					l.taken = i + 1
				}
			}
		}
		return next == len(methods)
	})
	return out
}

package proxy

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/weir-lb/weir/l7/h1server"
	"github.com/weir-lb/weir/l7/h1server/h1servertest"
	"github.com/weir-lb/weir/l7/router"
	"github.com/weir-lb/weir/test/testutil"
)

// TestBytesSentIsTheWire checks that $bytes_sent is every byte the client
// got of each response, the lines the server adds (Date, Content-Length,
// Transfer-Encoding, Connection) and the chunked framing included, and
// $body_bytes_sent the bytes after the head, response after response on a
// kept connection, as nginx counts them (nginx 1.22.1 logged 139 and 13
// for "hello, world\n" with its Date, Content-Type, Content-Length and
// Connection: keep-alive lines: the bytes its client read, where Weir
// logged 78, the head without the server's own lines). On
// net/http's server (h1servertest's net kind) the chunk-size lines of a
// chunked body are not counted (netHTTPHead).
func TestBytesSentIsTheWire(t *testing.T) {
	t.Parallel()
	up := backend(t, testutil.SizesHandler(nil))
	netKind := h1servertest.Kind() == h1server.KindNet
	for _, tc := range []struct {
		name string
		reqs []string // method, path and version; the last one closes
	}{
		{"plain", []string{"GET /plain HTTP/1.1"}},
		{"chunked", []string{"GET /chunked HTTP/1.1"}},
		{"redirect", []string{"GET /redirect HTTP/1.1"}},
		{"304", []string{"GET /304 HTTP/1.1"}},
		{"head", []string{"HEAD /plain HTTP/1.1"}},
		{"http/1.0", []string{"GET /plain HTTP/1.0"}},
		{"http/1.0 chunked", []string{"GET /chunked HTTP/1.0"}},
		{"keep-alive", []string{"GET /plain HTTP/1.1", "GET /chunked HTTP/1.1", "HEAD /plain HTTP/1.1", "GET /redirect HTTP/1.1"}},
		{"http/1.0 keep-alive", []string{"GET /plain HTTP/1.0\r\nConnection: keep-alive", "GET /plain HTTP/1.0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			buf, c := loggedConn(t, up, "$bytes_sent $body_bytes_sent")
			raw, methods := testutil.Pipeline(tc.reqs, "Host: foo.com\r\n")
			if _, err := io.WriteString(c, raw); err != nil {
				t.Fatal(err)
			}
			wire, err := io.ReadAll(c)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			chunked := false
			for _, w := range testutil.WireSizes(t, wire, methods...) {
				want = append(want, fmt.Sprintf("%d %d", w.Total, w.Total-w.Head))
				chunked = chunked || w.Chunked
			}
			waitFor(t, "the access-log lines", func() bool { return strings.Count(buf.String(), "\n") == len(tc.reqs) })
			got := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
			if netKind && chunked {
				return // net/http's chunk-size lines are left out
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("$bytes_sent $body_bytes_sent:\n%s\nwant the bytes on the wire:\n%s\n(the wire: %q)", strings.Join(got, "\n"), strings.Join(want, "\n"), wire)
			}
		})
	}
}

// TestHTTP2Sent checks the HTTP/2 $bytes_sent estimate against nginx
// 1.22.1's, configured as nginx.tmpl renders an Ingress (proxy-buffering
// off, proxy-buffer-size 4k, HSTS on HTTPS), for the same answers: it
// logged 124 for a relayed "hello, world\n" (HEADERS 9+84, DATA 9+13, an
// empty DATA 9), 93 to HEAD, 117 for a relayed 301 with Content-Length 0
// (its HEADERS frame ends the stream), 91 for a 304 with an ETag, and
// 100323 for 100000 bytes of a chunked upstream (25 DATA frames and the
// empty one).
func TestHTTP2Sent(t *testing.T) {
	t.Parallel()
	hsts := []string{"max-age=31536000; includeSubDomains"}
	for _, tc := range []struct {
		name   string
		method string
		status int
		header http.Header
		body   int64
		want   int64
	}{
		{"plain", "GET", 200, http.Header{"Content-Type": {"text/plain"}, "Content-Length": {"13"}, "Strict-Transport-Security": hsts}, 13, 124},
		{"head", "HEAD", 200, http.Header{"Content-Type": {"text/plain"}, "Content-Length": {"13"}, "Strict-Transport-Security": hsts}, 0, 93},
		{"redirect", "GET", 301, http.Header{"Location": {"http://example.test/elsewhere"}, "Content-Length": {"0"}, "Strict-Transport-Security": hsts}, 0, 117},
		{"304", "GET", 304, http.Header{"Etag": {`"abc"`}, "Strict-Transport-Security": hsts}, 0, 91},
		{"big", "GET", 200, http.Header{"Content-Type": {"text/plain"}, "Strict-Transport-Security": hsts}, 100000, 100323},
	} {
		r := &http.Request{Method: tc.method, ProtoMajor: 2}
		ex := &exchange{upstream: &router.Upstream{}}
		rec := &responseRecorder{ResponseWriter: headerOnly(tc.header), status: tc.status, bytes: tc.body}
		if got := bytesSent(r, ex, rec, tc.status); got != tc.want {
			t.Errorf("%s: $bytes_sent %d, want nginx's %d", tc.name, got, tc.want)
		}
	}
}

// headerOnly is a ResponseWriter of which only the header is read.
type headerOnly http.Header

func (h headerOnly) Header() http.Header       { return http.Header(h) }
func (headerOnly) Write(b []byte) (int, error) { return len(b), nil }
func (headerOnly) WriteHeader(int)             {}

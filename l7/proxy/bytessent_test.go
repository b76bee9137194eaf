package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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

// TestBytesSentOwnClose: Weir's 413 for a body over proxy-body-size
// carries its own "Connection: close" (closeAfter, as nginx closes after
// it); its $bytes_sent is still the bytes the client read, that line once:
// on net/http's server, which then adds none of its own, netHTTPHead
// counted it twice (19 bytes over).
func TestBytesSentOwnClose(t *testing.T) {
	t.Parallel()
	buf, c := loggedConn(t, backend(t, testutil.SizesHandler(nil)), "$status $bytes_sent $body_bytes_sent")
	if _, err := io.WriteString(c, "POST /plain HTTP/1.1\r\nHost: foo.com\r\nContent-Length: 100000000\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	wire, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	w := testutil.WireSizes(t, wire, http.MethodPost)[0]
	waitFor(t, "the access-log line", func() bool { return strings.Contains(buf.String(), "\n") })
	if got, want := buf.String(), fmt.Sprintf("413 %d %d\n", w.Total, w.Total-w.Head); got != want {
		t.Errorf("$status $bytes_sent $body_bytes_sent %q, want the bytes on the wire %q:\n%q", got, want, wire)
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

// TestNetHTTPHeadIsTheWire measures what net/http's HTTP/1 server writes
// for a handler's response against bytesSent's estimate of it, made as the
// proxy makes it, at the end of the handler: net/http gives a body it
// still holds when the handler returns (at most bufferBeforeChunkingSize,
// 2048 bytes, never flushed) its own Content-Length, to an HTTP/1.0 client
// too, and then keeps an HTTP/1.0 keep-alive connection with a
// "Connection: keep-alive" line; a body flushed or longer goes out chunked
// to HTTP/1.1 (the estimate leaves out its chunk-size lines, which this
// takes from the wire) and unframed to HTTP/1.0, whose connection closes.
func TestNetHTTPHeadIsTheWire(t *testing.T) {
	t.Parallel()
	type answer struct {
		status  int
		header  http.Header
		body    int
		flushed bool // a Flush after the body
	}
	tests := []struct {
		name, req string
		a         answer
	}{
		{"1.1 small", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close", answer{body: 13}},
		{"1.1 empty", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close", answer{}},
		{"1.1 at the threshold", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close", answer{body: 2048}},
		{"1.1 over the threshold", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close", answer{body: 2049}},
		{"1.1 flushed", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close", answer{body: 13, flushed: true}},
		{"1.1 flushed empty", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close", answer{flushed: true}},
		{"1.1 length", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close", answer{header: http.Header{"Content-Length": {"13"}}, body: 13}},
		{"1.1 own close", "GET / HTTP/1.1\r\nHost: a", answer{status: 502, header: http.Header{"Connection": {"close"}}, body: 13}},
		{"1.1 head", "HEAD / HTTP/1.1\r\nHost: a\r\nConnection: close", answer{}},
		{"1.1 204", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close", answer{status: 204}},
		{"1.0 small", "GET / HTTP/1.0", answer{body: 13}},
		{"1.0 empty", "GET / HTTP/1.0", answer{}},
		{"1.0 over the threshold", "GET / HTTP/1.0", answer{body: 2049}},
		{"1.0 keep-alive small", "GET / HTTP/1.0\r\nConnection: keep-alive", answer{body: 13}},
		{"1.0 keep-alive flushed", "GET / HTTP/1.0\r\nConnection: keep-alive", answer{body: 13, flushed: true}},
		{"1.0 keep-alive length", "GET / HTTP/1.0\r\nConnection: keep-alive", answer{header: http.Header{"Content-Length": {"13"}}, body: 13}},
		{"1.0 keep-alive head", "HEAD / HTTP/1.0\r\nConnection: keep-alive", answer{}},
		{"1.0 keep-alive 304", "GET / HTTP/1.0\r\nConnection: keep-alive", answer{status: 304}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			est := make(chan int64, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rec := &responseRecorder{ResponseWriter: w}
				for k, vs := range tc.a.header {
					rec.Header()[k] = vs
				}
				// Content-Type set, as the proxy relays it: net/http
				// sniffs one otherwise.
				rec.Header().Set("Content-Type", "text/plain")
				status := max(tc.a.status, http.StatusOK)
				if tc.a.status != 0 {
					rec.WriteHeader(status)
				}
				if tc.a.body > 0 {
					_, _ = rec.Write([]byte(strings.Repeat("x", tc.a.body)))
				}
				if tc.a.flushed {
					rec.Flush()
				}
				est <- bytesSent(r, &exchange{}, rec, status)
			}))
			t.Cleanup(srv.Close)
			c, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(c, tc.req+"\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			got := <-est
			method, _, _ := strings.Cut(tc.req, " ")
			wire := readOneResponse(t, c, method)
			w := testutil.WireSizes(t, wire, method)[0]
			framing := 0 // the chunk-size lines and the CRLF after each chunk
			if w.Chunked {
				framing = w.Total - w.Head - tc.a.body - len(lastChunk)
			}
			if want := int64(w.Total - framing); got != want {
				t.Errorf("$bytes_sent %d, want %d, the bytes on the wire without %d of chunk-size lines:\n%q", got, want, framing, wire)
			}
		})
	}
}

// readOneResponse reads from c one whole response to a request of
// method: until c closes, or, on a kept connection, its last byte.
func readOneResponse(tb testing.TB, c net.Conn, method string) []byte {
	tb.Helper()
	var raw bytes.Buffer
	res, err := http.ReadResponse(bufio.NewReader(io.TeeReader(c, &raw)), &http.Request{Method: method})
	if err != nil {
		tb.Fatalf("read the response: %v (read %q)", err, raw.Bytes())
	}
	if _, err := io.Copy(io.Discard, res.Body); err != nil {
		tb.Fatalf("read the body: %v (read %q)", err, raw.Bytes())
	}
	return raw.Bytes()
}

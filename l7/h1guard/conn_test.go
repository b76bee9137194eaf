package h1guard

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/weir-lb/weir/test/testutil"
)

// serve runs net/http behind g on 127.0.0.1 with a handler that answers
// "METHOD TARGET HOST BODYLEN" (or 400 "body: ERR" when the body fails)
// and returns its address.
func serve(tb testing.TB, g *Guard) string {
	tb.Helper()
	return serveWith(tb, g, http.HandlerFunc(echo))
}

// serveWith is serve with the handler h.
func serveWith(tb testing.TB, g *Guard, h http.Handler) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(g.Listener(ln))
	}()
	tb.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String()
}

func echo(w http.ResponseWriter, r *http.Request) {
	n, err := io.Copy(io.Discard, r.Body)
	if err != nil {
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "body: %v", err)
		return
	}
	fmt.Fprintf(w, "%s %s %s %d", r.Method, r.RequestURI, r.Host, n)
}

// exchange is testutil.RawExchange.
var exchange = testutil.RawExchange

func TestRejects(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	g := New(Options{Registry: reg})
	addr := serve(t, g)
	long := strings.Repeat("a", 8192)
	cases := []struct {
		name   string
		raw    string
		status int
		reason string
		inBody string
	}{
		{"cl and te", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "transfer_encoding", "400 Bad Request"},
		{"te on http/1.0", "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "transfer_encoding", ""},
		{"te gzip", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501, "unknown_transfer_encoding", "501 Not Implemented"},
		{"te twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "transfer_encoding", ""},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400, "obs_fold", ""},
		{"cl twice, same", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", 400, "content_length", ""},
		{"cl invalid", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\nx", 400, "content_length", ""},
		{"cl list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\nx", 400, "content_length", ""},
		{"host twice", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "host", ""},
		// nginx 1.22.1 answers each of its unique fields given twice 400
		// (ngx_http_process_unique_header_line), in any case.
		{"authorization twice", "GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Basic x\r\nauthorization: Basic y\r\n\r\n", 400, "duplicate_field", "400 Bad Request"},
		{"if-match twice", "GET / HTTP/1.1\r\nHost: a\r\nIf-Match: \"a\"\r\nIf-Match: \"b\"\r\n\r\n", 400, "duplicate_field", ""},
		{"if-none-match twice", "GET / HTTP/1.1\r\nHost: a\r\nIF-NONE-MATCH: x\r\nIf-None-Match: x\r\n\r\n", 400, "duplicate_field", ""},
		{"if-modified-since twice", "GET / HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: x\r\nIf-Modified-Since: y\r\n\r\n", 400, "duplicate_field", ""},
		{"if-unmodified-since twice", "GET / HTTP/1.1\r\nHost: a\r\nIf-Unmodified-Since: x\r\nIf-Unmodified-Since: y\r\n\r\n", 400, "duplicate_field", ""},
		{"if-range twice", "GET / HTTP/1.1\r\nHost: a\r\nIf-Range: x\r\nIf-Range: y\r\n\r\n", 400, "duplicate_field", ""},
		{"content-range twice", "GET / HTTP/1.1\r\nHost: a\r\nContent-Range: x\r\nContent-Range: y\r\n\r\n", 400, "duplicate_field", ""},
		// nginx 1.22.1: 1001 header lines are 400 Request Header Or Cookie
		// Too Large (max_headers 1000), a CR not followed by LF a 400.
		{"too many fields", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: v\r\n", 1000) + "\r\n", 400, "too_many_fields", "Request Header Or Cookie Too Large"},
		{"bare CR in the request line", "GET / HTTP/1.1\rHost: a", 400, "request_line", "400 Bad Request"},
		{"bare CR in a header", "GET / HTTP/1.1\r\nHost: a\rX: b", 400, "header_line", "400 Bad Request"},
		{"expect twice", "GET / HTTP/1.1\r\nHost: a\r\nExpect: x\r\nExpect: y\r\n\r\n", 400, "duplicate_field", ""},
		{"host dotdot", "GET / HTTP/1.1\r\nHost: a..b\r\n\r\n", 400, "host", ""},
		{"no host on 1.1", "GET / HTTP/1.1\r\n\r\n", 400, "host", ""},
		{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, "header_line", ""},
		{"ctl in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", 400, "header_line", ""},
		{"connect", "CONNECT / HTTP/1.1\r\nHost: a:443\r\n\r\n", 405, "method", "405 Not Allowed"},
		{"connect authority form", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 400, "target", ""},
		{"trace", "TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", 405, "method", ""},
		// nginx's order: Host, then Transfer-Encoding, then the method.
		{"connect without host", "CONNECT / HTTP/1.1\r\n\r\n", 400, "host", ""},
		{"connect with gzip", "CONNECT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "unknown_transfer_encoding", ""},
		{"absolute form without host", "GET http://a/ HTTP/1.1\r\n\r\n", 400, "host", ""},
		// nginx's request line parser takes a host of letters, digits,
		// '.' and '-', a port of digits, or an IP literal in brackets
		// (ngx_http_parse_request_line; each read off nginx 1.22).
		{"absolute form with userinfo", "GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "target", ""},
		{"absolute form with _ in the host", "GET http://a_b/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "target", ""},
		{"absolute form with a port not digits", "GET http://a:8a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "target", ""},
		{"absolute form with % in the host", "GET http://a%2eb/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "target", ""},
		{"absolute form with # after the host", "GET http://a#f HTTP/1.1\r\nHost: a\r\n\r\n", 400, "target", ""},
		{"absolute form with a port and no host", "GET http://:80/x HTTP/1.1\r\nHost: a\r\n\r\n", 400, "target", ""},
		{"absolute form with a dot for host", "GET http://.:80/x HTTP/1.1\r\nHost: a\r\n\r\n", 400, "target", ""},
		{"absolute form with an open literal", "GET http://[::1/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, "target", ""},
		// nginx trims only spaces around a value: a tab is part of the
		// host, which ngx_http_validate_host refuses.
		{"host with a trailing tab", "GET / HTTP/1.1\r\nHost: a\t\r\n\r\n", 400, "host", ""},
		{"host with a leading tab", "GET / HTTP/1.1\r\nHost: \t a\r\n\r\n", 400, "host", ""},
		// So is a tab around a framing field's value: nginx 1.22.1
		// answers Content-Length "\t4" 400 and Transfer-Encoding
		// "\tchunked" 501, where Weir framed both.
		{"cl after a tab", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\t4\r\n\r\nabcd", 400, "content_length", ""},
		{"cl with a trailing tab", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\t\r\n\r\nabcd", 400, "content_length", ""},
		{"te after a tab", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \tchunked\r\n\r\n0\r\n\r\n", 501, "unknown_transfer_encoding", ""},
		{"te with a trailing tab", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\t\r\n\r\n0\r\n\r\n", 501, "unknown_transfer_encoding", ""},
		{"options *", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 400, "target", ""},
		{"get *", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, "target", ""},
		{"%00 in path", "GET /a%00b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "target", ""},
		{"above the root", "GET /../etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n", 400, "target", ""},
		{"above the root, deeper", "GET /a/b/../../../x HTTP/1.1\r\nHost: a\r\n\r\n", 400, "target", ""},
		{"above the root, escaped", "GET /a/%2e%2E/..%2fx HTTP/1.1\r\nHost: a\r\n\r\n", 400, "target", ""},
		{"above the root, at the end", "GET /.. HTTP/1.1\r\nHost: a\r\n\r\n", 400, "target", ""},
		{"above the root, absolute form", "GET http://a/../x HTTP/1.1\r\nHost: a\r\n\r\n", 400, "target", ""},
		{"nul in path", "GET /a\x00b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "request_line", ""},
		{"http/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "http_version", ""},
		{"lower-case method", "get / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "request_line", ""},
		{"request line over a buffer", "GET /" + long + " HTTP/1.1\r\nHost: a\r\n\r\n", 414, "uri_too_long", "414 Request-URI Too Large"},
		{"header line over a buffer", "GET / HTTP/1.1\r\nHost: a\r\nX: " + long + "\r\n\r\n", 400, "header_too_large", "Request Header Or Cookie Too Large"},
		{"head over all buffers", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: "+strings.Repeat("b", 8000)+"\r\n", 5) + "\r\n", 400, "header_too_large", "Request Header Or Cookie Too Large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := promtest.ToFloat64(g.counter.WithLabelValues(tc.reason))
			rs := exchange(t, addr, tc.raw)
			if len(rs) != 1 {
				t.Fatalf("got %d responses, want 1: %+v", len(rs), rs)
			}
			r := rs[0]
			if r.StatusCode != tc.status || !r.Close || r.Header.Get("Content-Type") != "text/html" {
				t.Errorf("got %d %v, want %d with Connection: close and Content-Type: text/html", r.StatusCode, r.Header, tc.status)
			}
			if !strings.Contains(r.Body, tc.inBody) {
				t.Errorf("body %q does not hold %q", r.Body, tc.inBody)
			}
			if got := promtest.ToFloat64(g.counter.WithLabelValues(tc.reason)); got != before+1 {
				t.Errorf("weir_http_requests_rejected_total{reason=%q} = %v, want %v", tc.reason, got, before+1)
			}
		})
	}
}

// TestAccepted: what passes reaches net/http unchanged, keep-alive and
// pipelined requests included.
func TestAccepted(t *testing.T) {
	t.Parallel()
	addr := serve(t, New(Options{}))
	cases := []struct {
		name string
		raw  string
		want []string
	}{
		{"pipelined", "GET /a HTTP/1.1\r\nHost: a\r\n\r\nPOST /b?x=%00 HTTP/1.1\r\nHost: b\r\nContent-Length: 3\r\n\r\nabcGET /c HTTP/1.1\r\nHost: c\r\nConnection: close\r\n\r\n",
			[]string{"GET /a a 0", "POST /b?x=%00 b 3", "GET /c c 0"}},
		{"chunked with extension and trailer", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n3;x=y\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-T: 1\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
			[]string{"POST / a 19", "GET /next a 0"}},
		{"empty lines before, bare LF", "\r\n\nGET / HTTP/1.1\nHost: a\nConnection: close\n\n", []string{"GET / a 0"}},
		{"http/1.0 without host", "GET /x HTTP/1.0\r\n\r\n", []string{"GET /x  0"}},
		{"dot segments within the root", "GET /a/./b/../../x/.../%2e/?q=/../.. HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", []string{"GET /a/./b/../../x/.../%2e/?q=/../.. a 0"}},
		{"absolute form", "GET http://h/p HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", []string{"GET http://h/p h 0"}},
		{"absolute form, port, no path", "GET HTTP://H-1.b:80?q HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", []string{"GET HTTP://H-1.b:80?q H-1.b:80 0"}},
		{"absolute form, empty port, ftp", "GET ftp://h:/p HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", []string{"GET ftp://h:/p h: 0"}},
		{"absolute form, ip literal", "GET http://[::1]:8/p HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", []string{"GET http://[::1]:8/p [::1]:8 0"}},
		{"host between spaces", "GET / HTTP/1.1\r\nHost:   a  \r\nConnection: close\r\n\r\n", []string{"GET / a 0"}},
		// Fields nginx 1.22.1 takes more than once (its unique ones are
		// refused, TestRejects).
		{"as many fields as nginx takes", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n" + strings.Repeat("X: v\r\n", 998) + "\r\n", []string{"GET / a 0"}},
		{"repeatable fields twice", "GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1\r\nCookie: b=2\r\nUser-Agent: x\r\nUser-Agent: y\r\nReferer: x\r\nReferer: y\r\nRange: bytes=0-1\r\nRange: bytes=0-1\r\nAccept: a\r\nAccept: b\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-For: 5.6.7.8\r\nTE: x\r\nTE: y\r\nVia: x\r\nVia: y\r\nContent-Type: a\r\nContent-Type: b\r\nConnection: x\r\nConnection: close\r\n\r\n", []string{"GET / a 0"}},
		{"head of exactly the limit", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX: " + strings.Repeat("b", 8192-5) + "\r\n\r\n", []string{"GET / a 0"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs := exchange(t, addr, tc.raw)
			var got []string
			for _, r := range rs {
				got = append(got, r.Body)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestSequences: the requests of a connection before a bad one are
// answered, then the bad one, then the connection closes; an upgrade
// request answered with anything but 101 leaves the connection HTTP/1,
// still checked (else a refused upgrade would let anything through).
func TestSequences(t *testing.T) {
	t.Parallel()
	addr := serve(t, New(Options{}))
	for name, tc := range map[string]struct {
		raw  string
		want string
	}{
		"pipelined then rejected": {"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\nGET * HTTP/1.1\r\nHost: a\r\n\r\nGET /c HTTP/1.1\r\nHost: a\r\n\r\n", "[200 200 400]"},
		"refused upgrade":         {"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET * HTTP/1.1\r\nHost: a\r\n\r\n", "[200 400]"},
	} {
		if got := testutil.Statuses(exchange(t, addr, tc.raw)); fmt.Sprint(got) != tc.want {
			t.Errorf("%s: statuses %v, want %s", name, got, tc.want)
		}
	}
}

// TestPipelinedRejectedDuringHandler: a bad request pipelined behind one
// in its handler is refused while that handler runs (net/http's background
// read), and the request in the handler is not cancelled as if its client
// had left.
func TestPipelinedRejectedDuringHandler(t *testing.T) {
	t.Parallel()
	g := New(Options{Registry: prometheus.NewRegistry()})
	rejected := g.counter.WithLabelValues(rejTarget.Reason)
	addr := serveWith(t, g, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		deadline := time.Now().Add(5 * time.Second)
		for promtest.ToFloat64(rejected) == 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		fmt.Fprintf(w, "rejected %v, context %v", promtest.ToFloat64(rejected), r.Context().Err())
	}))
	rs := exchange(t, addr, "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET * HTTP/1.1\r\nHost: a\r\n\r\n")
	if len(rs) != 2 || rs[0].Body != "rejected 1, context <nil>" || rs[1].StatusCode != http.StatusBadRequest {
		t.Errorf("got %v, first body %q; want 200 \"rejected 1, context <nil>\" then 400", testutil.Statuses(rs), rs[0].Body)
	}
}

// TestBadChunk: a body that breaks the chunked framing fails in the
// handler, which answers, and the connection closes.
func TestBadChunk(t *testing.T) {
	t.Parallel()
	addr := serve(t, New(Options{}))
	for name, body := range map[string]string{
		"size not hex":     "zz\r\nab\r\n0\r\n\r\n",
		"size bare lf":     "2\nab\r\n0\r\n\r\n",
		"size with space":  "2 \r\nab\r\n0\r\n\r\n",
		"no crlf after":    "2\r\nabc\r\n0\r\n\r\n",
		"size too long":    "10000000000000000\r\n",
		"bad trailer":      "0\r\nX T: 1\r\n\r\n",
		"obs-fold trailer": "0\r\nX: 1\r\n  2\r\n\r\n",
		// nginx 1.22.1 takes these (200): broken chunked framing is
		// refused even where nginx is lenient (README).
		"trailer bare lf": "0\r\nX: 1\n\r\n",
		"end bare lf":     "0\r\n\n",
		"empty size":      "\r\nab\r\n0\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			rs := exchange(t, addr, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"+body+"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
			if len(rs) != 1 || rs[0].StatusCode != 400 || !strings.HasPrefix(rs[0].Body, "body: ") {
				t.Errorf("got %+v, want one 400 for the body", rs)
			}
		})
	}
}

// TestUpgradePassesThrough: after an upgrade the bytes are not HTTP.
func TestUpgradePassesThrough(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer c.Close()
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n")
		_ = brw.Flush()
		_, _ = io.Copy(c, brw) // echo
	})}
	go srv.Serve(New(Options{}).Listener(ln))
	t.Cleanup(func() { srv.Close() })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	// Not HTTP after the head: a CONNECT line and obs-fold pass.
	tail := "CONNECT x HTTP/1.1\r\n folded\r\n"
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n"+tail)
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", res, err)
	}
	got := make([]byte, len(tail))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != tail {
		t.Errorf("echoed %q (%v), want %q", got, err, tail)
	}
}

// TestLimits: SetLimits applies to the next head.
func TestLimits(t *testing.T) {
	t.Parallel()
	g := New(Options{})
	addr := serve(t, g)
	raw := "GET /" + strings.Repeat("a", 200) + " HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
	if rs := exchange(t, addr, raw); len(rs) != 1 || rs[0].StatusCode != 200 {
		t.Fatalf("default limits: got %+v, want 200", rs)
	}
	g.SetLimits(Limits{Buffers: 2, BufferSize: 128})
	if rs := exchange(t, addr, raw); len(rs) != 1 || rs[0].StatusCode != 414 {
		t.Fatalf("2 128: got %+v, want 414", rs)
	}
	raw = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX: " + strings.Repeat("a", 110) + "\r\nY: " + strings.Repeat("a", 110) + "\r\n\r\n"
	if rs := exchange(t, addr, raw); len(rs) != 1 || rs[0].StatusCode != 400 {
		t.Fatalf("2 128, head of 3 lines: got %+v, want 400", rs)
	}
}

// TestHeadMemoryBounded: a client sending a 1 MiB head costs the guard no
// more than the limits (4 x 8k): it stops reading there and refuses.
func TestHeadMemoryBounded(t *testing.T) {
	t.Parallel()
	head := "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X: "+strings.Repeat("b", 1000)+"\r\n", 1<<10)
	src := &memConn{r: bytes.NewReader([]byte(head)), chunk: 1 << 16}
	c := New(Options{}).Conn(src).(*conn)
	p := make([]byte, 4096)
	for {
		_, err := c.Read(p)
		if err != nil {
			if err != io.EOF {
				t.Fatalf("read: %v, want EOF", err)
			}
			break
		}
	}
	limit := DefaultBuffers*DefaultBufferSize + 1
	// It reads only into its buffer: what it read bounds what it held.
	if read := len(head) - src.r.Len(); read > limit {
		t.Errorf("read %d bytes of the head, want at most %d", read, limit)
	}
	if c.pending != rejHeaderLarge {
		t.Errorf("pending answer %v, want %v", c.pending, rejHeaderLarge)
	}
}

// TestExpectContinue: the body comes only after net/http's 100 Continue,
// and the guard waits for it like net/http does.
func TestExpectContinue(t *testing.T) {
	t.Parallel()
	addr := serve(t, New(Options{}))
	tr := &http.Transport{ExpectContinueTimeout: time.Minute} // the body waits for the 100
	t.Cleanup(tr.CloseIdleConnections)
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/e", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Expect", "100-continue")
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := "POST /e " + addr + " 5"; string(b) != want {
		t.Errorf("got %q, want %q", b, want)
	}
}

// TestIdleHoldsNoBuffer: a connection waiting for its next request holds
// no buffer, even after a large head.
func TestIdleHoldsNoBuffer(t *testing.T) {
	t.Parallel()
	head := "GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("b", 8000) + "\r\nY: " + strings.Repeat("b", 8000) + "\r\n\r\n"
	c := New(Options{}).Conn(&memConn{r: bytes.NewReader([]byte(head)), chunk: 1 << 16}).(*conn)
	got, err := io.ReadAll(c)
	if err != nil || string(got) != head {
		t.Fatalf("read %d bytes (%v), want the head of %d", len(got), err, len(head))
	}
	if c.Buf != nil {
		t.Errorf("waiting for the next request after a %d-byte head, the connection holds a buffer of %d bytes", len(head), cap(c.Buf))
	}
}

// TestHeadRejectedWithoutBody: the answer to a HEAD request has no body,
// also when its request line is too long to be read whole (414): nginx
// takes the method as soon as the space after it arrives. Read off nginx
// 1.22.
func TestHeadRejectedWithoutBody(t *testing.T) {
	t.Parallel()
	addr := serve(t, New(Options{}))
	long := strings.Repeat("a", 9000)
	for _, tc := range []struct {
		req    string
		status int
	}{
		{"HEAD * HTTP/1.1\r\nHost: a\r\n\r\n", http.StatusBadRequest},
		{"HEAD /" + long + " HTTP/1.1\r\nHost: a\r\n\r\n", http.StatusRequestURITooLong},
		{"\r\nHEAD /" + long, http.StatusRequestURITooLong},
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, tc.req); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("read until the server closes: %v", err)
		}
		res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), &http.Request{Method: http.MethodHead})
		if err != nil || res.StatusCode != tc.status || !strings.HasSuffix(string(b), "\r\n\r\n") {
			t.Errorf("%.20q: got %q (%v), want a %d header and no body", tc.req, b, err, tc.status)
		}
	}
}

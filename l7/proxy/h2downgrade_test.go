package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/weir-lb/weir/l7/h1guard"
	"github.com/weir-lb/weir/l7/h1server/h1servertest"
)

// captureBackend is an HTTP/1.1 upstream on 127.0.0.1 (rawBackend) that
// records every byte it receives and answers each request it can read
// whole 200 "ok" (keep-alive); one it cannot read whole ends the
// connection.
type captureBackend struct {
	addr string
	mu   sync.Mutex
	got  bytes.Buffer
	reqs int
}

func newCaptureBackend(tb testing.TB) *captureBackend {
	tb.Helper()
	b := &captureBackend{}
	b.addr = rawBackend(tb, b.serveConn)
	return b
}

func (b *captureBackend) serveConn(c net.Conn) {
	br := bufio.NewReader(io.TeeReader(c, captureWriter{b}))
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return
		}
		b.mu.Lock()
		b.reqs++
		b.mu.Unlock()
		if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
			return
		}
	}
}

type captureWriter struct{ b *captureBackend }

func (w captureWriter) Write(p []byte) (int, error) {
	w.b.mu.Lock()
	defer w.b.mu.Unlock()
	return w.b.got.Write(p)
}

// received returns the bytes received so far and the requests read whole.
func (b *captureBackend) received() (string, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.got.String(), b.reqs
}

// h2Front serves p behind a guard on 127.0.0.1 with HTTP/1.1 and h2c, as
// the daemon's clear-text listener, and returns its address.
func h2Front(tb testing.TB, p http.Handler) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	g := h1guard.New(h1guard.Options{H2C: true})
	srv := &http.Server{Handler: g.Handler(p), Protocols: h1guard.ClearTextProtocols(), HTTP2: HTTP2Config()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(g.Listener(ln)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			tb.Error(err)
		}
	}()
	tb.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String()
}

// field is a raw HTTP/2 request's field (h1servertest.H2Field, whose
// literals vet wants keyed).
type field struct{ name, value string }

// at returns the fields of a request to authority, extra after the
// pseudo-fields.
func at(method, authority, path string, extra ...field) []field {
	f := []field{{":method", method}, {":scheme", "http"}, {":authority", authority}, {":path", path}}
	return append(f, extra...)
}

// manyFields returns n fields x-0: v … (nginx's max_headers is 1000).
func manyFields(n int) []field {
	fs := make([]field, n)
	for i := range fs {
		fs[i] = field{"x-" + strconv.Itoa(i), "v"}
	}
	return fs
}

func h2Fields(fs []field) []h1servertest.H2Field {
	out := make([]h1servertest.H2Field, len(fs))
	for i, f := range fs {
		out[i] = h1servertest.H2Field{Name: f.name, Value: f.value}
	}
	return out
}

// TestH2Downgrade attacks the HTTP/2 to HTTP/1.1 downgrade with raw
// HTTP/2 requests (HPACK literals, any bytes) and reads what reaches a raw
// HTTP/1.1 upstream. What nginx 1.22 forwards is forwarded, in one
// well-framed request. What it answers 400 (checked against it: a
// Content-Length that is not one number or that the stream's end
// contradicts, a method not of [A-Z_-], a :path with a space, an
// :authority that is not a host, a Host that differs from :authority) gets
// 400 and no byte upstream; what Go's HTTP/2 server already refuses
// (connection-specific fields, CR, LF, NUL or upper case in a field,
// misplaced or unknown pseudo-fields, a :path that is not origin form, a
// body shorter or longer than its Content-Length) is reset or answered
// an error, and nothing of it reaches the upstream either.
func TestH2Downgrade(t *testing.T) {
	be := newCaptureBackend(t)
	p, _ := front(t, Options{}, snap(1, "h2.test", backendOf("svc", []string{be.addr})))
	addr := h2Front(t, p)
	req := func(method, path string, extra ...field) []field {
		return at(method, "h2.test", path, extra...)
	}
	const (
		forward = iota // 200, and want upstream
		refuse         // 400, nothing upstream
		reject         // an error status (405 for CONNECT) or a reset, nothing upstream
	)
	cases := []struct {
		name   string
		fields []field
		data   []byte
		want   int
		up     string // what the upstream reads, for forward
	}{
		{"plain", req("GET", "/"), nil, forward, "GET / HTTP/1.1\r\nHost: h2.test\r\n"},
		{"body with its length", req("POST", "/b", field{"content-length", "3"}), []byte("abc"), forward, "POST /b HTTP/1.1\r\nHost: h2.test\r\n"},
		{"te trailers", req("GET", "/te", field{"te", "trailers"}), nil, forward, "GET /te HTTP/1.1\r\n"},
		{"as many fields as nginx takes, and cookies", req("GET", "/many", append(manyFields(1000), field{"cookie", "a=1"}, field{"cookie", "b=2"})...), nil, forward, "GET /many HTTP/1.1\r\n"},
		{"user-agent twice", req("GET", "/ua", field{"user-agent", "a"}, field{"user-agent", "b"}), nil, forward, "GET /ua HTTP/1.1\r\n"},
		{"cookies joined", req("GET", "/c", field{"cookie", "a=1"}, field{"cookie", "b=2"}), nil, forward, "Cookie: a=1; b=2\r\n"},
		{"host as authority", req("GET", "/h", field{"host", "h2.test"}), nil, forward, "GET /h HTTP/1.1\r\nHost: h2.test\r\n"},
		{"host without authority", []field{{":method", "GET"}, {":scheme", "http"}, {":path", "/ho"}, {"host", "h2.test"}}, nil, forward, "GET /ho HTTP/1.1\r\nHost: h2.test\r\n"},
		// As nginx 1.22.1 forwards them, side by side: a body without
		// Content-Length goes up with its length, a GET's body too.
		{"body without content-length", req("POST", "/nl"), []byte("abcd"), forward, "Content-Length: 4\r\n"},
		{"get with a body", req("GET", "/gb"), []byte("abcd"), forward, "GET /gb HTTP/1.1\r\n"},

		// nginx 1.22 answers these 400.
		{"content-length not a number", req("POST", "/", field{"content-length", "x"}), nil, refuse, ""},
		{"content-length signed", req("POST", "/", field{"content-length", "+0"}), nil, refuse, ""},
		{"content-length twice", req("POST", "/", field{"content-length", "3"}, field{"content-length", "5"}), []byte("abc"), refuse, ""},
		{"content-length without body", req("POST", "/", field{"content-length", "5"}), nil, refuse, ""},
		{"method lower case", req("get", "/"), nil, refuse, ""},
		{"method with a slash", req("G/T", "/"), nil, refuse, ""},
		{"path with a space", req("GET", "/a b"), nil, refuse, ""},
		{"authority with a slash", at("GET", "h2.test/x", "/"), nil, refuse, ""},
		{"authority with a space", at("GET", "h2.test x", "/"), nil, refuse, ""},
		{"authority with dots", at("GET", "h2..test", "/"), nil, refuse, ""},
		{"no authority nor host", []field{{":method", "GET"}, {":scheme", "http"}, {":path", "/"}}, nil, refuse, ""},
		{"host twice", []field{{":method", "GET"}, {":scheme", "http"}, {":path", "/"}, {"host", "h2.test"}, {"host", "h2.test"}}, nil, refuse, ""},
		{"host differs from authority", req("GET", "/", field{"host", "other.test"}), nil, refuse, ""},
		{"authorization twice", req("GET", "/", field{"authorization", "Basic a"}, field{"authorization", "Basic b"}), nil, refuse, ""},
		{"if-none-match twice", req("GET", "/", field{"if-none-match", "x"}, field{"if-none-match", "y"}), nil, refuse, ""},
		{"expect twice", req("GET", "/", field{"expect", "x"}, field{"expect", "y"}), nil, refuse, ""},
		{"too many fields", req("GET", "/", manyFields(1001)...), nil, refuse, ""},
		{"path absolute", req("GET", "http://evil.test/x"), nil, refuse, ""},

		// Go's HTTP/2 server refuses these (nginx: 400 or a reset too,
		// but for the connection fields, which it drops).
		// Go's server resets the stream once DATA passes the length it
		// took, 0, racing the guard's 400.
		{"content-length not a number, body", req("POST", "/", field{"content-length", "x"}), []byte("abc"), reject, ""},
		{"content-length short", req("POST", "/", field{"content-length", "10"}), []byte("abc"), reject, ""},
		{"content-length long", req("POST", "/", field{"content-length", "2"}), []byte("abcdef"), reject, ""},
		{"transfer-encoding", req("POST", "/", field{"transfer-encoding", "chunked"}), []byte("0\r\n\r\nGET /x HTTP/1.1\r\nHost: h2.test\r\n\r\n"), reject, ""},
		{"connection", req("GET", "/", field{"connection", "close"}), nil, reject, ""},
		{"keep-alive", req("GET", "/", field{"keep-alive", "5"}), nil, reject, ""},
		{"proxy-connection", req("GET", "/", field{"proxy-connection", "x"}), nil, reject, ""},
		{"upgrade", req("GET", "/", field{"upgrade", "websocket"}), nil, reject, ""},
		{"te not trailers", req("GET", "/", field{"te", "gzip"}), nil, reject, ""},
		{"CRLF in a value", req("GET", "/", field{"x-a", "a\r\nX-Injected: 1"}), nil, reject, ""},
		{"LF in a value", req("GET", "/", field{"x-a", "a\nb"}), nil, reject, ""},
		{"NUL in a value", req("GET", "/", field{"x-a", "a\x00b"}), nil, reject, ""},
		{"CRLF in x-request-id", req("GET", "/", field{"x-request-id", "a\r\nX: 1"}), nil, reject, ""},
		{"colon in a name", req("GET", "/", field{"x-a:b", "1"}), nil, reject, ""},
		// nginx 1.22.1 passes these upstream (a control byte or DEL in
		// a value, a name byte above 0x7F); Go's server resets them.
		{"control byte in a value", req("GET", "/", field{"x-a", "a\x01b"}), nil, reject, ""},
		{"DEL in a value", req("GET", "/", field{"x-a", "a\x7fb"}), nil, reject, ""},
		{"name byte above 0x7F", req("GET", "/", field{"x\xe9", "1"}), nil, reject, ""},
		{"CRLF in a name", req("GET", "/", field{"x-a\r\nx-b", "1"}), nil, reject, ""},
		{"space in a name", req("GET", "/", field{"x a", "1"}), nil, reject, ""},
		{"upper case name", req("GET", "/", field{"X-A", "1"}), nil, reject, ""},
		{"pseudo after a field", []field{{":method", "GET"}, {":scheme", "http"}, {"x-a", "1"}, {":authority", "h2.test"}, {":path", "/"}}, nil, reject, ""},
		{"unknown pseudo", req("GET", "/", field{":foo", "1"}), nil, reject, ""},
		{"path twice", req("GET", "/", field{":path", "/b"}), nil, reject, ""},
		{"path empty", req("GET", ""), nil, reject, ""},
		{"path request line", req("GET", "/a HTTP/1.1\r\nX: y"), nil, reject, ""},
		{"path relative", req("GET", "a"), nil, reject, ""},
		{"path CTL", req("GET", "/a\x01b"), nil, reject, ""},
		{"method request line", req("GET /x HTTP/1.1\r\n", "/"), nil, reject, ""},
		{"authority CRLF", at("GET", "h2.test\r\nX: y", "/"), nil, reject, ""},
		{"scheme not http", []field{{":method", "GET"}, {":scheme", "ftp"}, {":authority", "h2.test"}, {":path", "/"}}, nil, reject, ""},
		{"connect", []field{{":method", "CONNECT"}, {":authority", "h2.test:80"}}, nil, reject, ""},
		{"connect with protocol", []field{{":method", "CONNECT"}, {":protocol", "websocket"}, {":scheme", "http"}, {":authority", "h2.test"}, {":path", "/"}}, nil, reject, ""},
	}
	forwarded := 0
	for _, tc := range cases {
		before, _ := be.received()
		got := h1servertest.RawH2(t, addr, h2Fields(tc.fields), tc.data)
		after, _ := be.received()
		up := after[len(before):]
		switch tc.want {
		case forward:
			forwarded++
			if got.Status != "200" || !strings.Contains(up, tc.up) || strings.Count(up, "\nHost:") != 1 {
				t.Errorf("%s: %+v, upstream read %q; want 200 and %q, one Host", tc.name, got, up, tc.up)
			}
		case refuse:
			if got.Status != "400" || up != "" {
				t.Errorf("%s: %+v, upstream read %q; want 400 and nothing upstream", tc.name, got, up)
			}
		case reject:
			if !(got.Status != "" && got.Status != "200" || got.Reset) || up != "" {
				t.Errorf("%s: %+v, upstream read %q; want an error or a reset, and nothing upstream", tc.name, got, up)
			}
		}
	}
	// A last request, forwarded, orders the upstream's reads: once it
	// arrived, a refused request forwarded late would have arrived too.
	h1servertest.RawH2(t, addr, h2Fields(req("GET", "/last")), nil)
	waitFor(t, "the last request upstream", func() bool {
		got, _ := be.received()
		return strings.Contains(got, "GET /last ")
	})
	if _, n := be.received(); n != forwarded+1 {
		got, _ := be.received()
		t.Errorf("upstream read %d whole requests, want %d:\n%s", n, forwarded+1, got)
	}
}

package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/weir-lb/weir/l7/h1guard"
	"github.com/weir-lb/weir/l7/router"
)

// TestWriteRequestHeadAsRequestWrite pins writeRequestHead to the bytes
// http.Request.Write writes for the same request, Content-Length by nginx's
// rule (withNginxLength), and checks that it leaves the requests it does
// not take to Request.Write, having written nothing.
func TestWriteRequestHeadAsRequestWrite(t *testing.T) {
	t.Parallel()
	base := func() *http.Request {
		return &http.Request{
			Method: http.MethodGet,
			URL:    &url.URL{Scheme: "http", Host: "10.0.0.1:8080", Path: "/bench", RawQuery: "x=1&y=%20"},
			Host:   "bench.local",
			Header: http.Header{
				"User-Agent":      {"bench"},
				"Accept":          {"*/*"},
				"X-Forwarded-For": {"127.0.0.1"},
				"X-Request-Id":    {"0123456789abcdef0123456789abcdef"},
				"Cookie":          {"a=1", "b=2"},
			},
		}
	}
	tests := []struct {
		name  string
		tweak func(*http.Request)
		takes bool
	}{
		{"get", func(*http.Request) {}, true},
		{"empty method", func(r *http.Request) { r.Method = "" }, true},
		{"head", func(r *http.Request) { r.Method = http.MethodHead }, true},
		{"delete", func(r *http.Request) { r.Method = http.MethodDelete }, true},
		{"post without body", func(r *http.Request) { r.Method = http.MethodPost }, true},
		{"put without body", func(r *http.Request) { r.Method = http.MethodPut }, true},
		{"patch without body", func(r *http.Request) { r.Method = http.MethodPatch }, true},
		{"no query", func(r *http.Request) { r.URL.RawQuery = "" }, true},
		{"force query", func(r *http.Request) { r.URL.RawQuery, r.URL.ForceQuery = "", true }, true},
		{"empty path", func(r *http.Request) { r.URL.Path = "" }, true},
		{"escaped path", func(r *http.Request) { r.URL.Path = "/a b/ü" }, true},
		{"raw path", func(r *http.Request) { r.URL.Path, r.URL.RawPath = "/a/b", "/a%2Fb" }, true},
		{"host from url", func(r *http.Request) { r.Host = "" }, true},
		{"ipv6 host", func(r *http.Request) { r.Host = "[::1]:80" }, true},
		{"empty user agent", func(r *http.Request) { r.Header["User-Agent"] = []string{""} }, true},
		{"no user agent value", func(r *http.Request) { r.Header["User-Agent"] = nil }, true},
		{"blank user agent", func(r *http.Request) { r.Header["User-Agent"] = []string{" \t"} }, true},
		{"user agent with line break", func(r *http.Request) { r.Header["User-Agent"] = []string{" a\r\nb \n"} }, true},
		{"value with line breaks", func(r *http.Request) { r.Header["X-A"] = []string{"\ra\nb\r\nc\n"} }, true},
		{"value trimmed", func(r *http.Request) { r.Header["X-A"] = []string{" \t v \t "} }, true},
		{"nil and empty values", func(r *http.Request) { r.Header["X-Nil"], r.Header["X-Empty"] = nil, []string{} }, true},
		{"excluded fields", func(r *http.Request) {
			for _, k := range []string{"Host", "Content-Length", "Transfer-Encoding", "Trailer"} {
				r.Header[k] = []string{"x"}
			}
		}, true},
		{"invalid field names", func(r *http.Request) {
			r.Header["Bad Name"], r.Header[""], r.Header["X-Ü"] = []string{"1"}, []string{"2"}, []string{"3"}
		}, true},
		{"non-canonical names", func(r *http.Request) { r.Header["x-lower"], r.Header["X-UPPER"] = []string{"l"}, []string{"u"} }, true},
		{"get framed", func(r *http.Request) { r.Header["Content-Length"] = []string{"0"} }, true},
		{"delete framed", func(r *http.Request) { r.Method, r.Header["Content-Length"] = http.MethodDelete, []string{"0"} }, true},
		{"post framed", func(r *http.Request) { r.Method, r.Header["Content-Length"] = http.MethodPost, []string{"0"} }, true},
		{"connect", func(r *http.Request) { r.Method = http.MethodConnect }, false},
		{"close", func(r *http.Request) { r.Close = true }, true},
		{"close framed", func(r *http.Request) { r.Close, r.Header["Content-Length"] = true, []string{"0"} }, true},
		{"close beside connection field", func(r *http.Request) { r.Close, r.Header["Connection"] = true, []string{"x"} }, false},
		{"body", func(r *http.Request) {
			r.Method, r.Body, r.ContentLength = http.MethodPost, http.NoBody, 0
		}, false},
		{"content length", func(r *http.Request) {
			r.Method, r.Body, r.ContentLength = http.MethodPost, http.NoBody, 3
			r.Body = readCloser{strings.NewReader("abc")}
		}, false},
		{"trailer", func(r *http.Request) { r.Trailer = http.Header{} }, false},
		{"opaque", func(r *http.Request) { r.URL.Opaque = "/x" }, false},
		{"unicode host", func(r *http.Request) { r.Host = "bücher.example" }, false},
		{"host with zone", func(r *http.Request) { r.Host = "[fe80::1%25eth0]:80" }, false},
		{"invalid host", func(r *http.Request) { r.Host = "a b" }, false},
		{"control in query", func(r *http.Request) { r.URL.RawQuery = "a=\x01" }, false},
		{"default user agent", func(r *http.Request) { delete(r.Header, "User-Agent") }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := base()
			tc.tweak(r)
			var got bytes.Buffer
			bw := bufio.NewWriter(&got)
			_, ok := writeRequestHead(bw, r, nil)
			if err := bw.Flush(); err != nil {
				t.Fatal(err)
			}
			if ok != tc.takes {
				t.Fatalf("writeRequestHead took it: %v, want %v", ok, tc.takes)
			}
			if !ok {
				if got.Len() > 0 {
					t.Errorf("writeRequestHead wrote %q for a request it left", got.String())
				}
				return
			}
			var want bytes.Buffer
			if err := r.Write(&want); err != nil {
				t.Fatalf("Request.Write: %v", err)
			}
			if w := withNginxLength(want.String(), r); got.String() != w {
				t.Errorf("writeRequestHead wrote\n%q\nRequest.Write writes, Content-Length as nginx\n%q", got.String(), w)
			}
		})
	}
}

// withNginxLength turns the head Request.Write writes for r, a request
// without body, into writeHead's: "Content-Length: 0" when r's header has
// a Content-Length field (the client framed an empty body), none
// otherwise, where Request.Write sends one by method. It goes where
// Request.Write writes it: after Host, User-Agent and Connection: close.
func withNginxLength(head string, r *http.Request) string {
	head = strings.Replace(head, "\r\nContent-Length: 0\r\n", "\r\n", 1)
	if _, framed := r.Header["Content-Length"]; !framed {
		return head
	}
	lines := strings.SplitAfter(head, "\r\n")
	i := 2 // the request line and Host
	if i < len(lines) && strings.HasPrefix(lines[i], "User-Agent: ") {
		i++
	}
	if i < len(lines) && r.Close && lines[i] == "Connection: close\r\n" {
		i++
	}
	return strings.Join(lines[:i], "") + "Content-Length: 0\r\n" + strings.Join(lines[i:], "")
}

// TestWriteHeadSmallBuffers: the head is the same whatever room the
// writer's buffer has left, down to pieces (a path, a field value) longer
// than the whole buffer: headBuf hands over what it holds before a piece
// that does not fit.
func TestWriteHeadSmallBuffers(t *testing.T) {
	t.Parallel()
	r := &http.Request{
		Method: http.MethodGet,
		URL:    &url.URL{Path: "/" + strings.Repeat("p", 70), RawQuery: "q=1"},
		Host:   "bench.local",
		Header: http.Header{
			"User-Agent": {"bench\r\nx"},
			"Accept":     {"*/*"},
			"Cookie":     {strings.Repeat("c", 100), "d=\n1"},
			"X-Long":     {strings.Repeat("v", 300)},
		},
	}
	var want bytes.Buffer
	if err := r.Write(&want); err != nil {
		t.Fatal(err)
	}
	for size := 16; size <= 80; size++ {
		for pre := 0; pre < size; pre += 7 {
			var got bytes.Buffer
			bw := bufio.NewWriterSize(&got, size)
			bw.WriteString(strings.Repeat("-", pre))
			if _, ok := writeRequestHead(bw, r, nil); !ok {
				t.Fatal("writeRequestHead left the request")
			}
			if err := bw.Flush(); err != nil {
				t.Fatal(err)
			}
			if g := strings.TrimPrefix(got.String(), strings.Repeat("-", pre)); g != want.String() {
				t.Fatalf("buffer %d with %d bytes before: wrote\n%q\nRequest.Write writes\n%q", size, pre, g, want.String())
			}
		}
	}
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

// TestOutgoingRecycled checks that an outRequest taken again holds nothing
// of the request it served.
func TestOutgoingRecycled(t *testing.T) {
	o := &outRequest{header: make(http.Header)}
	o.req.Method = http.MethodPost
	o.url.Path = "/old"
	o.cloneHeader(http.Header{"X-Old": {"secret"}, "Cookie": {"a", "b"}})
	o.noUA[0] = "x"
	o.fields = append(o.fields, headField{"X-Old", []string{"secret"}})
	o.recycle()
	got := outRequests.Get().(*outRequest)
	if got != o {
		t.Skip("the pool dropped it") // sync.Pool may, under the race detector
	}
	if len(o.header) != 0 || o.req.Method != "" || o.url.Path != "" || o.noUA[0] != "" {
		t.Errorf("recycled outRequest keeps %v %q %q %q", o.header, o.req.Method, o.url.Path, o.noUA[0])
	}
	for i, v := range o.vals[:cap(o.vals)] {
		if v != "" {
			t.Errorf("recycled value %d = %q", i, v)
		}
	}
	for i, f := range o.fields[:cap(o.fields)] {
		if f.name != "" || f.vals != nil {
			t.Errorf("recycled field %d = %q %q", i, f.name, f.vals)
		}
	}
}

// FuzzWriteRequestHead checks writeRequestHead against Request.Write on
// arbitrary methods, targets, hosts and fields: whenever it takes a
// request, it writes exactly Request.Write's bytes.
func FuzzWriteRequestHead(f *testing.F) {
	f.Add("GET", "/bench", "x=1", "bench.local", "bench", "X-A", " v\r\n")
	f.Add("POST", "/a b", "", "[::1]:80", "", "x-lower", "")
	f.Fuzz(func(t *testing.T, method, path, query, host, ua, key, value string) {
		r := &http.Request{
			Method: method,
			URL:    &url.URL{Path: path, RawQuery: query},
			Host:   host,
			Header: http.Header{"User-Agent": {ua}, key: {value}, "Accept": {"*/*"}},
		}
		var got bytes.Buffer
		bw := bufio.NewWriter(&got)
		if _, ok := writeRequestHead(bw, r, nil); !ok {
			return
		}
		_ = bw.Flush()
		var want bytes.Buffer
		if err := r.Write(&want); err != nil {
			t.Fatalf("writeRequestHead took a request Request.Write refuses (%v): %q", err, got.String())
		}
		if w := withNginxLength(want.String(), r); got.String() != w {
			t.Fatalf("writeRequestHead wrote\n%q\nRequest.Write writes, Content-Length as nginx\n%q", got.String(), w)
		}
	})
}

// directPair writes the upstream head of in both ways: writeDirect on a
// direct outgoing request, and writeRequestHead once fillHeader has built
// the header (outgoing without direct). It reports whether each took it.
func directPair(t testing.TB, in *http.Request, fwd forwarding, method string) (direct, built string, directOK, builtOK bool) {
	ex := &exchange{requestID: "0123456789abcdef0123456789abcdef", fwd: fwd, upstream: &router.Upstream{Addr: "10.0.0.1:8080"}}
	in = withExchange(in, ex)
	write := func(direct bool) (string, bool) {
		out, o := outgoing(in, ex, direct)
		out.Method = method
		var b bytes.Buffer
		bw := bufio.NewWriter(&b)
		var ok bool
		if direct {
			ok = o.writeDirect(bw, in, ex)
		} else {
			o.fields, ok = writeRequestHead(bw, out, o.fields)
		}
		if err := bw.Flush(); err != nil {
			t.Fatal(err)
		}
		o.recycle()
		return b.String(), ok
	}
	direct, directOK = write(true)
	built, builtOK = write(false)
	return
}

// TestWriteDirectAsFillHeader pins writeDirect, which writes the upstream
// head from the client's header, to what fillHeader builds and
// writeRequestHead writes: the same bytes, for the same requests.
func TestWriteDirectAsFillHeader(t *testing.T) {
	t.Parallel()
	fwd := forwarding{remoteText: "198.18.0.7", forwardedFor: "198.18.0.7", host: "bench.local", port: "80", scheme: "http"}
	tests := []struct {
		name   string
		header http.Header
		tweak  func(*forwarding)
	}{
		{"plain", http.Header{"User-Agent": {"wrk"}, "Accept": {"*/*"}}, nil},
		{"no user agent", http.Header{"Accept": {"*/*"}}, nil},
		{"empty user agent", http.Header{"User-Agent": {""}}, nil},
		{"many fields", http.Header{
			"User-Agent": {"Mozilla/5.0"}, "Accept": {"text/html"}, "Accept-Encoding": {"gzip, br"},
			"Accept-Language": {"en"}, "Cookie": {"a=1", "b=2"}, "Referer": {"https://x/"}, "Cache-Control": {"no-cache"},
		}, nil},
		{"hop-by-hop and forwarding", http.Header{
			"Connection": {"keep-alive, X-Secret, user-agent"}, "Keep-Alive": {"300"}, "X-Secret": {"s"},
			"User-Agent": {"ua"}, "Proxy-Authorization": {"Basic x"}, "Upgrade": {"h2c"}, "Expect": {"100-continue"},
			"Forwarded": {"for=1.2.3.4"}, "X-Forwarded-For": {"1.2.3.4"}, "X-Forwarded-Host": {"evil"},
			"X-Forwarded-Proto": {"https"}, "X-Request-Id": {"client"}, "X-Real-Ip": {"1.1.1.1"}, "Host": {"h"},
			"Content-Length": {"0"}, "Transfer-Encoding": {"chunked"}, "Trailer": {"X"}, "Proxy-Connection": {"x"},
		}, nil},
		{"connection lists rewritten names", http.Header{"Connection": {"X-Request-Id, X-Original-Uri, Te"}, "Te": {"trailers, deflate"}, "X-Original-Uri": {"/c"}}, nil},
		{"te trailers", http.Header{"Te": {"deflate", "trailers"}}, nil},
		{"te without trailers", http.Header{"Te": {"deflate"}}, nil},
		{"client original uri kept", http.Header{"X-Original-Uri": {"/client"}}, nil},
		{"original uri set", http.Header{"X-Original-Uri": {"/client"}}, func(f *forwarding) { f.originalURI = "/a?b" }},
		{"original forwarded", http.Header{"X-Forwarded-For": {"1.2.3.4"}}, func(f *forwarding) {
			f.originalFor, f.originalHost = "1.2.3.4", "orig.example"
		}},
		{"no forwarding values", http.Header{"X-Forwarded-Port": {"1"}}, func(f *forwarding) { *f = forwarding{host: "h"} }},
		// schemeLines: client fields sorting before, among and after the
		// port and scheme fields, and ports and schemes it does not
		// render (a client's, with use-forwarded-headers).
		{"fields among the scheme lines", http.Header{"X-Forwarded-Prefix": {"/p"}, "X-Forwarded-Pa": {"a"}, "X-Sa": {"s"}, "X-Sd": {"d"}}, nil},
		{"field between proto and scheme", http.Header{"X-Forwarded-Q": {"q"}, "X-Forwarded-Se": {"e"}}, nil},
		{"https on 443", http.Header{"Accept": {"*/*"}}, func(f *forwarding) { f.port, f.scheme = "443", "https" }},
		{"forwarded port and scheme", http.Header{"X-Forwarded-Prefix": {"/p"}}, func(f *forwarding) { f.port, f.scheme = " 8443, 1", "ws\r\ns " }},
		{"long port", nil, func(f *forwarding) { f.port = "123456" }},
		{"rewrite values to trim", http.Header{"Accept": {"*/*"}}, func(f *forwarding) {
			f.host, f.forwardedFor, f.originalFor = " h\r\nx\t", "\t1.2.3.4, 5.6.7.8 ", "\r\n"
		}},
		{"odd names and values", http.Header{
			"x-lower": {"l"}, "Bad Name": {"b"}, "X-Ü": {"u"}, "": {"e"}, "X-Nil": nil, "X-Empty": {},
			"X-Breaks": {" \r\na\nb\r "}, "User-Agent": {" a\r\nb "},
		}, nil},
	}
	for _, method := range []string{http.MethodGet, http.MethodPost, ""} {
		for _, tc := range tests {
			t.Run(method+" "+tc.name, func(t *testing.T) {
				f := fwd
				if tc.tweak != nil {
					tc.tweak(&f)
				}
				r := &http.Request{Method: method, URL: &url.URL{Path: "/p", RawQuery: "q=1"}, Host: "bench.local", Header: tc.header}
				direct, built, dok, bok := directPair(t, r, f, method)
				if dok != bok || direct != built {
					t.Errorf("writeDirect (took it: %v) wrote\n%q\nfillHeader and writeRequestHead (took it: %v) write\n%q", dok, direct, bok, built)
				}
			})
		}
	}
}

// TestDirectRemoved holds directRemoved to the lists of what fillHeader
// removes or replaces and what Request.Write writes itself.
func TestDirectRemoved(t *testing.T) {
	t.Parallel()
	lists := [][]string{requestHopHeaders[:], forwardedHeaders[:], rewriteKeys[:], {"Expect", "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer"}}
	for _, l := range lists {
		for _, k := range l {
			if !directRemoved(k) {
				t.Errorf("directRemoved(%q) = false", k)
			}
		}
	}
	for _, k := range []string{"Accept", "Cookie", "X-Original-Uri", "Authorization", "connection"} {
		if directRemoved(k) {
			t.Errorf("directRemoved(%q) = true", k)
		}
	}
}

// FuzzWriteDirect checks writeDirect against fillHeader and
// writeRequestHead on arbitrary client fields and forwarding values.
func FuzzWriteDirect(f *testing.F) {
	f.Add("User-Agent: wrk\nAccept: */*", "GET", "/x", "")
	f.Add("Connection: x-a, te\nX-A: 1\nTe: trailers\nX-Original-Uri: /o", "POST", "", "/r?x")
	f.Add("connection: close\nx-request-id: 1\nX-Request-Id: 2\nUser-Agent:", "", "/", "")
	f.Fuzz(func(t *testing.T, lines, method, path, originalURI string) {
		h := http.Header{}
		for l := range strings.SplitSeq(lines, "\n") {
			k, v, _ := strings.Cut(l, ":")
			h[k] = append(h[k], v)
		}
		r := &http.Request{Method: method, URL: &url.URL{Path: path}, Host: "bench.local", Header: h}
		fwd := forwarding{remoteText: "198.18.0.7", forwardedFor: "198.18.0.7", host: "bench.local", port: "80", scheme: "http", originalURI: originalURI}
		direct, built, dok, bok := directPair(t, r, fwd, method)
		if dok != bok || direct != built {
			t.Errorf("writeDirect (took it: %v) wrote\n%q\nfillHeader and writeRequestHead (took it: %v) write\n%q", dok, direct, bok, built)
		}
	})
}

// BenchmarkUpstreamHead measures the upstream request head of a request
// with wrk's fields and one with a browser's: built (outgoing,
// writeRequestHead) and direct (writeDirect).
func BenchmarkUpstreamHead(b *testing.B) {
	headers := map[string]http.Header{
		"wrk": {},
		"browser": {
			"User-Agent":      {"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"},
			"Accept":          {"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
			"Accept-Language": {"en-US,en;q=0.5"}, "Accept-Encoding": {"gzip, deflate, br, zstd"},
			"Connection": {"keep-alive"}, "Cookie": {"session=0123456789abcdef"}, "Upgrade-Insecure-Requests": {"1"},
			"Sec-Fetch-Dest": {"document"}, "Sec-Fetch-Mode": {"navigate"}, "Sec-Fetch-Site": {"none"},
			"Priority": {"u=0, i"},
		},
	}
	for _, name := range []string{"wrk", "browser"} {
		for _, direct := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/direct=%v", name, direct), func(b *testing.B) {
				ex := &exchange{requestID: "0123456789abcdef0123456789abcdef", upstream: &router.Upstream{Addr: "10.0.0.1:8080"},
					fwd: forwarding{remoteText: "198.18.0.7", forwardedFor: "198.18.0.7", host: "bench.local", port: "80", scheme: "http"}}
				in := withExchange(&http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/bench"}, Host: "bench.local", Header: headers[name]}, ex)
				bw := bufio.NewWriterSize(io.Discard, 4<<10)
				b.ReportAllocs()
				for b.Loop() {
					out, o := outgoing(in, ex, direct)
					if direct {
						o.writeDirect(bw, in, ex)
					} else {
						o.fields, _ = writeRequestHead(bw, out, o.fields)
					}
					bw.Reset(io.Discard)
					o.recycle()
				}
			})
		}
	}
}

// TestFieldValueWords: headBuf.field, which tests a value's bytes eight at
// a time (hasLineBreak), writes the line Request.Write writes (each CR and
// LF a space, then spaces and tabs trimmed) for a CR, an LF or another low
// byte at each position of values of every length to 40, with high bytes
// around, whether the line fits the buffer or spills; and
// h1guard.HasByteUnder(x, 0x0e), its word test, is exact for every byte
// value in every position.
func TestFieldValueWords(t *testing.T) {
	t.Parallel()
	for b := 0; b < 256; b++ {
		for pos := range 8 {
			x := uint64(0x4141414141414141)&^(0xff<<(8*pos)) | uint64(b)<<(8*pos)
			if got := h1guard.HasByteUnder(x, 0x0e); got != (b < 0x0e) {
				t.Fatalf("HasByteUnder(x, 0x0e) with %#x at byte %d: %v", b, pos, got)
			}
		}
	}
	for _, size := range []int{16, 256} {
		for n := range 41 {
			for pos := -1; pos < n; pos++ {
				for _, c := range []byte{'\r', '\n', 0x0d + 1, 0x09, ' ', 0x80, 0xff} {
					v := []byte(strings.Repeat("a\xe9", n)[:n])
					if pos >= 0 {
						v[pos] = c
					}
					var out bytes.Buffer
					bw := bufio.NewWriterSize(&out, size)
					h := headBuf{bw: bw, b: bw.AvailableBuffer()}
					h.field("X-A", string(v))
					h.done()
					_ = bw.Flush()
					want := bytes.Clone(v)
					for i, c := range want {
						if c == '\r' || c == '\n' {
							want[i] = ' '
						}
					}
					if wantLine := "X-A: " + strings.Trim(string(want), " \t") + "\r\n"; out.String() != wantLine {
						t.Fatalf("buffer %d: field(%q) wrote %q, want %q", size, v, out.String(), wantLine)
					}
				}
			}
		}
	}
}

// TestUpstreamBodyFraming: the upstream request carries a Content-Length
// exactly when the client framed a body, whatever the method, as nginx's
// proxy module sets it from $proxy_internal_body_length (the client's
// Content-Length, or the size of the chunked body it read whole): GET or
// DELETE with "Content-Length: 0" keeps it, a POST with no framing gets
// none (Request.Write added one for POST, PUT and PATCH), and an empty
// chunked body is "Content-Length: 0", not a chunked one. Each case was
// read off nginx 1.22 with ingress-nginx's proxy settings
// (proxy_request_buffering on, proxy_http_version 1.1) on 127.0.0.1.
func TestUpstreamBodyFraming(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method, framing, body string
		want                  string // the upstream's framing line, "" none
	}{
		{"GET", "", "", ""},
		{"GET", "Content-Length: 0", "", "Content-Length: 0"},
		{"GET", "Transfer-Encoding: chunked", "0\r\n\r\n", "Content-Length: 0"},
		{"GET", "Content-Length: 2", "ab", "Content-Length: 2"},
		{"DELETE", "Content-Length: 0", "", "Content-Length: 0"},
		{"OPTIONS", "Transfer-Encoding: chunked", "0\r\n\r\n", "Content-Length: 0"},
		{"POST", "", "", ""},
		{"POST", "Content-Length: 0", "", "Content-Length: 0"},
		{"POST", "Transfer-Encoding: chunked", "0\r\n\r\n", "Content-Length: 0"},
		{"POST", "Transfer-Encoding: chunked", "2\r\nab\r\n0\r\n\r\n", "Content-Length: 2"},
		{"PUT", "", "", ""},
		{"PATCH", "Content-Length: 0", "", "Content-Length: 0"},
		{"FOO", "Transfer-Encoding: chunked", "0\r\n\r\n", "Content-Length: 0"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.framing+" "+tc.body, func(t *testing.T) {
			t.Parallel()
			up, heads := headRecorder(t)
			_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("f", []string{up})))
			req := tc.method + " /p HTTP/1.1\r\nHost: foo.com\r\nConnection: close\r\n"
			if tc.framing != "" {
				req += tc.framing + "\r\n"
			}
			resp, body := rawExchange(t, addr(srv), req+"\r\n"+tc.body)
			if resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("got %d %q, want 200 ok", resp.StatusCode, body)
			}
			var got []string
			for _, l := range <-heads {
				k, _, _ := strings.Cut(l, ":")
				if strings.EqualFold(k, "Content-Length") || strings.EqualFold(k, "Transfer-Encoding") {
					got = append(got, l)
				}
			}
			if tc.want == "" && len(got) != 0 || tc.want != "" && (len(got) != 1 || got[0] != tc.want) {
				t.Errorf("upstream framing %q, want %q (nginx's)", got, tc.want)
			}
		})
	}
}

// TestRequestHopHeaders: of a request's hop-by-hop fields only those
// nginx's proxy module replaces go (Connection, Keep-Alive, TE and the
// framing it writes itself); the fields Connection names,
// Proxy-Connection, Proxy-Authorization and Proxy-Authenticate pass, and
// so does Forwarded, which ingress-nginx's template never sets, as nginx
// 1.22 with ingress-nginx's proxy_set_header lines passes them (read off it
// on 127.0.0.1), on the direct path (no body) and the built one (a body).
func TestRequestHopHeaders(t *testing.T) {
	t.Parallel()
	up, heads := headRecorder(t)
	_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("h", []string{up})))
	for _, body := range []string{"", "ab"} {
		req := "POST /p HTTP/1.1\r\nHost: foo.com\r\nConnection: close, X-Hop, Cookie, User-Agent\r\n" +
			"X-Hop: 1\r\nCookie: c=1\r\nUser-Agent: ua\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic eA==\r\n" +
			"Proxy-Authenticate: y\r\nKeep-Alive: 300\r\nTE: deflate\r\nForwarded: for=192.0.2.1\r\n"
		if body != "" {
			req += "Content-Length: 2\r\n"
		}
		resp, got := rawExchange(t, addr(srv), req+"\r\n"+body)
		if resp.StatusCode != 200 || got != "ok" {
			t.Fatalf("body %q: got %d %q, want 200 ok", body, resp.StatusCode, got)
		}
		head := "\n" + strings.Join(<-heads, "\n") + "\n"
		for _, want := range []string{"\nX-Hop: 1\n", "\nCookie: c=1\n", "\nUser-Agent: ua\n", "\nProxy-Connection: keep-alive\n",
			"\nProxy-Authorization: Basic eA==\n", "\nProxy-Authenticate: y\n", "\nForwarded: for=192.0.2.1\n"} {
			if !strings.Contains(head, want) {
				t.Errorf("body %q: upstream head lacks %q (nginx passes it):\n%s", body, want, head)
			}
		}
		for _, gone := range []string{"\nConnection:", "\nKeep-Alive:", "\nTe:"} {
			if strings.Contains(head, gone) {
				t.Errorf("body %q: upstream head has %q (nginx replaces it):\n%s", body, gone, head)
			}
		}
	}
}

// TestUpgradeOneConnectionField: an upgrade request whose client said
// Connection: close (or came as HTTP/1.0) reaches the upstream with one
// Connection field, ingress-nginx's "upgrade" ($connection_upgrade), as
// nginx sends it; Request.Write added a "Connection: close" line beside it.
func TestUpgradeOneConnectionField(t *testing.T) {
	t.Parallel()
	up, heads := headRecorder(t)
	_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("u", []string{up})))
	for _, req := range []string{
		"GET /ws HTTP/1.1\r\nHost: foo.com\r\nConnection: close\r\nUpgrade: foo\r\n\r\n",
		"GET /ws HTTP/1.0\r\nHost: foo.com\r\nUpgrade: foo\r\n\r\n",
	} {
		resp, _ := rawExchange(t, addr(srv), req)
		if resp.StatusCode != 200 {
			t.Fatalf("%q: got %d, want the upstream's 200", req, resp.StatusCode)
		}
		var conn []string
		for _, l := range <-heads {
			if k, _, _ := strings.Cut(l, ":"); strings.EqualFold(k, "Connection") {
				conn = append(conn, l)
			}
		}
		if len(conn) != 1 || conn[0] != "Connection: upgrade" {
			t.Errorf("%q: upstream Connection fields %q, want one \"Connection: upgrade\"", req, conn)
		}
	}
}

// TestSchemeLinesOf pins what schemeLinesOf renders and what it leaves to
// writeHead's fields. Not parallel: it empties schemeLineSets, which the
// ports of the package's test servers fill.
func TestSchemeLinesOf(t *testing.T) {
	schemeLineSets.Store(nil)
	l := schemeLinesOf("80", "http")
	if l == nil || l.forwarded != "X-Forwarded-Port: 80\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Scheme: http\r\n" || l.xScheme != "X-Scheme: http\r\n" {
		t.Fatalf("schemeLinesOf(80, http) = %+v", l)
	}
	if again := schemeLinesOf("80", "http"); again != l {
		t.Errorf("schemeLinesOf(80, http) rendered again: %p, then %p", l, again)
	}
	for _, c := range [][2]string{{"", "http"}, {"123456", "http"}, {"8a", "http"}, {"80", "ws"}, {"80", ""}, {"80 ", "https"}} {
		if l := schemeLinesOf(c[0], c[1]); l != nil {
			t.Errorf("schemeLinesOf(%q, %q) = %+v, want nil", c[0], c[1], l)
		}
	}
	for p := range 2 * maxSchemeLines {
		schemeLinesOf(strconv.Itoa(40000+p), "https")
	}
	if n := len(*schemeLineSets.Load()); n > maxSchemeLines {
		t.Errorf("%d scheme lines kept, want at most %d", n, maxSchemeLines)
	}
}

// TestRewriteKeyIndexes holds the constants that name rewrite's fields
// to rewriteNames.
func TestRewriteKeyIndexes(t *testing.T) {
	t.Parallel()
	for i, name := range map[int]string{
		requestIDKey: "X-Request-Id", realIPKey: "X-Real-Ip", fwdForKey: "X-Forwarded-For", fwdHostKey: "X-Forwarded-Host",
		fwdPortKey: "X-Forwarded-Port", fwdProtoKey: "X-Forwarded-Proto", fwdSchemeKey: "X-Forwarded-Scheme", xSchemeKey: "X-Scheme",
		origForKey: "X-Original-Forwarded-For", origHostKey: "X-Original-Forwarded-Host", originalURIKey: "X-Original-Uri",
	} {
		if rewriteNames[i] != name || rewriteLeads[i] != name+": " {
			t.Errorf("rewriteNames[%d] = %q, lead %q, want %q", i, rewriteNames[i], rewriteLeads[i], name)
		}
	}
}

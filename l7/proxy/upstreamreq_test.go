package proxy

import (
	"bufio"
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestWriteRequestHeadAsRequestWrite pins writeRequestHead to the bytes
// http.Request.Write writes for the same request, and checks that it leaves
// the requests it does not take to Request.Write, having written nothing.
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
		{"connect", func(r *http.Request) { r.Method = http.MethodConnect }, false},
		{"close", func(r *http.Request) { r.Close = true }, false},
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
			if got.String() != want.String() {
				t.Errorf("writeRequestHead wrote\n%q\nRequest.Write writes\n%q", got.String(), want.String())
			}
		})
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
	o.keys = append(o.keys, "X-Old")
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
	for i, v := range o.keys[:cap(o.keys)] {
		if v != "" {
			t.Errorf("recycled key %d = %q", i, v)
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
		if got.String() != want.String() {
			t.Fatalf("writeRequestHead wrote\n%q\nRequest.Write writes\n%q", got.String(), want.String())
		}
	})
}

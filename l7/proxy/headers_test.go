package proxy

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/weir-lb/weir/l7/router"
	"github.com/weir-lb/weir/test/testutil"
	"github.com/weir-lb/weir/userspace/annotations"
)

// echoHeaders returns a backend that sends every request's Host and header
// on seen.
func echoHeaders(tb testing.TB) (string, <-chan http.Header) {
	tb.Helper()
	seen := make(chan http.Header, 16)
	up := backend(tb, func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		h.Set("Host", r.Host)
		seen <- h
		w.Header().Set("Connection", "X-Up-Hop")
		w.Header().Set("X-Up-Hop", "1")
		fmt.Fprint(w, "ok")
	})
	return addr(up), seen
}

func TestForwardedHeaders(t *testing.T) {
	t.Parallel()
	up, seen := echoHeaders(t)
	_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("a", []string{up})))
	_, port, _ := net.SplitHostPort(addr(srv))
	c := client(t)

	for _, tc := range []struct {
		name string
		in   map[string]string
		want map[string]string
	}{
		{
			name: "fresh",
			in:   map[string]string{},
			want: map[string]string{
				"Host":              "Foo.com:8080",
				"X-Forwarded-For":   "127.0.0.1",
				"X-Forwarded-Proto": "http",
				"X-Forwarded-Host":  "Foo.com:8080",
				"X-Forwarded-Port":  port,
				"X-Real-Ip":         "127.0.0.1",
				// Not sent when the client sent no X-Forwarded-*.
				"X-Original-Forwarded-For":  "",
				"X-Original-Forwarded-Host": "",
			},
		},
		{
			name: "client forwarded values",
			in: map[string]string{
				"X-Forwarded-For":   "203.0.113.7, 198.51.100.1",
				"X-Forwarded-Proto": "https",
				"X-Forwarded-Host":  "evil.com",
				"X-Forwarded-Port":  "1",
				"X-Real-Ip":         "203.0.113.7",
				"X-Request-Id":      "client-id-1",
				"Forwarded":         "for=1.2.3.4",
			},
			// use-forwarded-headers is off: nothing the client says about
			// itself is trusted; its values travel as X-Original-*.
			want: map[string]string{
				"Host":                      "Foo.com:8080",
				"X-Forwarded-For":           "127.0.0.1",
				"X-Original-Forwarded-For":  "203.0.113.7, 198.51.100.1",
				"X-Forwarded-Proto":         "http",
				"X-Forwarded-Scheme":        "http",
				"X-Scheme":                  "http",
				"X-Forwarded-Host":          "Foo.com:8080",
				"X-Original-Forwarded-Host": "evil.com",
				"X-Forwarded-Port":          port,
				"X-Real-Ip":                 "127.0.0.1",
				"X-Request-Id":              "client-id-1",
				"Forwarded":                 "for=1.2.3.4", // ingress-nginx's template never sets it
			},
		},
		{
			name: "hop-by-hop",
			in: map[string]string{
				"Connection":    "X-Hop",
				"X-Hop":         "secret",
				"Keep-Alive":    "timeout=5",
				"Te":            "gzip",
				"X-End-To-End":  "kept",
				"Authorization": "Bearer x",
			},
			want: map[string]string{
				"Connection":    "",
				"X-Hop":         "secret", // named in Connection: passed, as nginx does not read its tokens
				"Keep-Alive":    "",
				"Te":            "",
				"X-End-To-End":  "kept",
				"Authorization": "Bearer x",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/p", nil)
			req.Host = "Foo.com:8080"
			for k, v := range tc.in {
				req.Header.Set(k, v)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			var h http.Header
			select {
			case h = <-seen:
			case <-time.After(5 * time.Second):
				t.Fatal("backend saw no request")
			}
			got := map[string]string{}
			for k := range tc.want {
				got[k] = h.Get(k)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("headers at the backend (-want +got):\n%s", diff)
			}
			if _, ok := tc.in["X-Request-Id"]; !ok {
				if id := h.Get("X-Request-Id"); !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
					t.Errorf("generated X-Request-ID = %q, want 32 hex digits", id)
				}
			}
			if id := resp.Header.Get("X-Request-Id"); id != "" {
				t.Errorf("response carries X-Request-ID %q; ingress-nginx does not set it", id)
			}
			// nginx's proxy drops the upstream's Connection, not the fields
			// it names (removeResponseHops).
			if hop := resp.Header.Get("X-Up-Hop"); hop != "1" {
				t.Errorf("the field the upstream's Connection names reached the client as %q, want nginx's \"1\"", hop)
			}
		})
	}
}

func TestRequestIDsDiffer(t *testing.T) {
	t.Parallel()
	up, seen := echoHeaders(t)
	_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("a", []string{up})))
	c := client(t)
	ids := map[string]bool{}
	for range 5 {
		get(t, c, srv, "foo.com", "/")
		ids[(<-seen).Get("X-Request-Id")] = true
	}
	if len(ids) != 5 {
		t.Errorf("5 requests got %d distinct request IDs", len(ids))
	}
}

// TestForwardedFromRawRequest sends a request without a Host port and an
// HTTP/1.0 request line, the way old clients do.
func TestForwardedFromRawRequest(t *testing.T) {
	t.Parallel()
	up, seen := echoHeaders(t)
	_, srv := front(t, Options{}, snap(1, "", backendOf("a", []string{up})))
	conn, err := net.Dial("tcp", addr(srv))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET /x HTTP/1.0\r\nX-Forwarded-For: 10.1.1.1\r\nX-Forwarded-For: 10.2.2.2\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := <-seen
	if got, want := h.Get("X-Forwarded-For"), "127.0.0.1"; got != want {
		t.Errorf("X-Forwarded-For = %q, want %q", got, want)
	}
	if got, want := h.Get("X-Original-Forwarded-For"), "10.1.1.1, 10.2.2.2"; got != want {
		t.Errorf("X-Original-Forwarded-For = %q, want %q", got, want)
	}
}

func TestForwardedProtoTLS(t *testing.T) {
	t.Parallel()
	up, seen := echoHeaders(t)
	p := New(Options{})
	if err := p.Apply(snap(1, "foo.com", backendOf("a", []string{up}))); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(p)
	t.Cleanup(srv.Close)
	c := srv.Client()
	t.Cleanup(c.CloseIdleConnections)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
	req.Host = "foo.com"
	req.Header.Set("X-Forwarded-Proto", "http")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := <-seen
	_, port, _ := net.SplitHostPort(addr(srv))
	got := map[string]string{"proto": h.Get("X-Forwarded-Proto"), "port": h.Get("X-Forwarded-Port")}
	if diff := cmp.Diff(map[string]string{"proto": "https", "port": port}, got); diff != "" {
		t.Errorf("headers at the backend (-want +got):\n%s", diff)
	}
}

// TestHostlessHTTP10: an HTTP/1.0 request without Host is routed as
// host-less (the catch-all rules) and the upstream gets ingress-nginx's
// Host for it: $best_http_host falls back to $host, the name of the
// default server, "_". Never the upstream's own address.
func TestHostlessHTTP10(t *testing.T) {
	t.Parallel()
	got := make(chan http.Header, 1)
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		h.Set("Host", r.Host)
		got <- h
	})
	_, srv := front(t, Options{}, snap(1, "", backendOf("up", []string{addr(up)})))
	rs := testutil.RawExchange(t, srv.Listener.Addr().String(), "GET /x HTTP/1.0\r\n\r\n")
	if len(rs) != 1 || rs[0].StatusCode != http.StatusOK {
		t.Fatalf("got statuses %v, want one 200", testutil.Statuses(rs))
	}
	h := <-got
	for k, want := range map[string]string{"Host": "_", "X-Forwarded-Host": "_"} {
		if h.Get(k) != want {
			t.Errorf("upstream got %s %q, want %q", k, h.Get(k), want)
		}
	}
}

// TestRewriteKeysCanonical checks that the keys rewrite sets without
// textproto are canonical, so a client's header of the same name is
// replaced, never sent twice.
func TestRewriteKeysCanonical(t *testing.T) {
	t.Parallel()
	in := httptest.NewRequest(http.MethodGet, "http://foo.com/", nil)
	in.Header.Set("X-Real-Ip", "6.6.6.6")
	in.Header.Set("X-Scheme", "gopher")
	ex := &exchange{requestID: "id", upstream: &router.Upstream{Addr: "127.0.0.1:1"},
		fwd: forwarding{remoteText: "1.2.3.4", forwardedFor: "1.2.3.4", host: "foo.com", port: "80", scheme: "http"}}
	in = in.WithContext(context.WithValue(in.Context(), exchangeKey{}, ex))
	out := in.Clone(in.Context())
	rewrite(&httputil.ProxyRequest{In: in, Out: out})
	for k := range out.Header {
		if c := http.CanonicalHeaderKey(k); c != k {
			t.Errorf("header key %q is not canonical (%q)", k, c)
		}
	}
	if got := out.Header.Values("X-Real-Ip"); len(got) != 1 || got[0] != "1.2.3.4" {
		t.Errorf("X-Real-Ip %q, want [1.2.3.4]", got)
	}
	if got := out.Header.Values("X-Scheme"); len(got) != 1 || got[0] != "http" {
		t.Errorf("X-Scheme %q, want [http]", got)
	}
}

// TestRequestIDDigits: a generated ID is 32 lower-case hex digits and every
// position takes many values: no digit of it is stuck (as a shift left out
// of the digits' loop would leave it).
func TestRequestIDDigits(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	var seen [32]map[byte]bool
	for i := range seen {
		seen[i] = map[byte]bool{}
	}
	for range 400 {
		id := requestID(r, true)
		if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
			t.Fatalf("request ID %q, want 32 lower-case hex digits", id)
		}
		for i := range id {
			seen[i][id[i]] = true
		}
	}
	for i, s := range seen {
		if len(s) < 12 { // 400 uniform draws of 16 digits: fewer than 12 has a chance far below 1e-9
			t.Errorf("position %d took %d values in 400 IDs", i, len(s))
		}
	}
}

// TestHexWord: hexWord gives the digits a digit-by-digit loop gives, the
// lowest nibble's first, for each digit value at each position and for
// words of mixed digits.
func TestHexWord(t *testing.T) {
	t.Parallel()
	check := func(x uint32) {
		t.Helper()
		var want [8]byte
		for i, y := 0, x; i < 8; i, y = i+1, y>>4 {
			want[i] = hexDigits[y&15]
		}
		var got [8]byte
		binary.LittleEndian.PutUint64(got[:], hexWord(x))
		if got != want {
			t.Fatalf("hexWord(%#08x) = %q, want %q", x, got, want)
		}
	}
	for pos := range 8 {
		for d := range uint32(16) {
			check(d << (4 * pos))
			check(0xffffffff&^(0xf<<(4*pos)) | d<<(4*pos))
		}
	}
	for _, x := range []uint32{0x01234567, 0x89abcdef, 0xfedcba98, 0x9a9a9a9a, 0xa9a9a9a9, 0x5f5f5f5f} {
		check(x)
	}
}

// TestRequestIDClientLines: the client's X-Request-ID is ingress-nginx's
// $req_id as nginx 1.23 and later read $http_x_request_id: every line of
// it, joined with ", " (nginx 1.23.0 CHANGES: "$http_..." variables combine
// header lines with identical names; ingress-nginx ships nginx 1.27), and
// a new ID only when that is empty (map $http_x_request_id $req_id).
func TestRequestIDClientLines(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		lines []string
		want  string // "new": a generated one
	}{
		{[]string{"a"}, "a"},
		{[]string{"a", "b"}, "a, b"},
		{[]string{"", "b"}, ", b"},
		{[]string{""}, "new"},
		{nil, "new"},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if tc.lines != nil {
			r.Header["X-Request-Id"] = tc.lines
		}
		got := requestID(r, true)
		if tc.want == "new" && !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(got) || tc.want != "new" && got != tc.want {
			t.Errorf("X-Request-ID lines %q: $req_id %q, want %s", tc.lines, got, tc.want)
		}
	}
}

// TestHostlessHTTP10HostVar: nginx's $host of an HTTP/1.0 request without
// a Host line is the name of the server that serves it, ingress-nginx's
// default server "_", wherever Weir evaluates it: upstream-vhost (as any
// proxy_set_header value) and the access log. nginx 1.22.1, "GET /
// HTTP/1.0" with no Host line to "server_name _ default_server" answering
// "[$host] [$http_host]": "[_] []"; its log line
// "[_] [-]" (an empty variable is logged "-").
func TestHostlessHTTP10HostVar(t *testing.T) {
	t.Parallel()
	up := backend(t, echoRequest)
	var buf syncBuffer
	be := backendOf("up", []string{addr(up)}, withRewrite(annotations.Rewrite{UpstreamVhost: "vh-$host"}))
	s := withLogFormat(t, snap(1, "", be), map[string]string{"log-format-upstream": "[$host] [$http_host]"})
	_, srv := front(t, Options{AccessLog: &buf}, s)
	rs := testutil.RawExchange(t, srv.Listener.Addr().String(), "GET /x HTTP/1.0\r\n\r\n")
	if len(rs) != 1 || rs[0].StatusCode != http.StatusOK {
		t.Fatalf("got statuses %v, want one 200", testutil.Statuses(rs))
	}
	if want := "uri=/x host=vh-_ prefix= xfh=_"; rs[0].Body != want {
		t.Errorf("upstream saw %q, want %q", rs[0].Body, want)
	}
	waitFor(t, "the access-log line", func() bool { return strings.Contains(buf.String(), "\n") })
	if got, want := buf.String(), "[_] [-]\n"; got != want {
		t.Errorf("access log %q, want %q", got, want)
	}
}

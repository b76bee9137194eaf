package proxy

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"testing"

	"github.com/weir-lb/weir/l7/proxyproto"
	"github.com/weir-lb/weir/userspace/annotations"
)

// TestInvalidHeaders follows ingress-nginx's e2e tests of
// enable-underscores-in-headers and ignore-invalid-headers
// (test/e2e/settings): by default a field whose name has '_' (or '.', a
// byte nginx finds invalid) does not reach the upstream, over HTTP/1 (raw
// bytes on a real connection) and HTTP/2 (Go's client over TLS); with
// underscores enabled the '_' name passes and the '.' one does not; with
// ignore-invalid-headers "false" both pass.
func TestInvalidHeaders(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                 string
		global               annotations.Global
		wantUnderscore, want bool // X_Under and X.Dot reach the upstream
	}{
		{name: "defaults"},
		{name: "underscores", global: annotations.Global{EnableUnderscoresInHeaders: true}, wantUnderscore: true},
		{name: "keep invalid", global: annotations.Global{KeepInvalidHeaders: true}, wantUnderscore: true, want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			up, seen := echoHeaders(t)
			s := snap(1, "foo.com", backendOf("a", []string{up}))
			s.Global = tc.global
			_, srv := front(t, Options{}, s)
			conn, err := net.Dial("tcp", addr(srv))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: foo.com\r\nX_Under: u\r\nX.Dot: d\r\nX-Fine: f\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("HTTP/1: status %d, want 200", resp.StatusCode)
			}
			checkInvalidHeaders(t, "HTTP/1", <-seen, tc.wantUnderscore, tc.want)

			p2 := New(Options{})
			if err := p2.Apply(s); err != nil {
				t.Fatal(err)
			}
			tls := tlsFront(t, p2)
			req, err := http.NewRequest(http.MethodGet, tls.URL+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Host = "foo.com"
			req.Header["X_under"] = []string{"u"} // HTTP/2 sends names in lower case
			req.Header["X.dot"] = []string{"d"}
			req.Header["X-Fine"] = []string{"f"}
			res := send(tls.Client(), req)
			if res.err != nil || res.status != http.StatusOK {
				t.Fatalf("HTTP/2: status %d, %v, want 200", res.status, res.err)
			}
			checkInvalidHeaders(t, "HTTP/2", <-seen, tc.wantUnderscore, tc.want)
		})
	}
}

func checkInvalidHeaders(t *testing.T, proto string, h http.Header, wantUnderscore, wantDot bool) {
	t.Helper()
	has := func(name string) bool {
		for k := range h {
			if http.CanonicalHeaderKey(k) == http.CanonicalHeaderKey(name) || k == name {
				return true
			}
		}
		return false
	}
	if got := has("X_Under") || has("X_under"); got != wantUnderscore {
		t.Errorf("%s: upstream got X_Under: %v, want %v (%v)", proto, got, wantUnderscore, h)
	}
	if got := has("X.Dot") || has("X.dot"); got != wantDot {
		t.Errorf("%s: upstream got X.Dot: %v, want %v (%v)", proto, got, wantDot, h)
	}
	if h.Get("X-Fine") != "f" {
		t.Errorf("%s: X-Fine = %q, want f", proto, h.Get("X-Fine"))
	}
}

// TestOriginalURIHeader follows ingress-nginx's e2e test of
// proxy-add-original-uri-header: with it the upstream gets X-Original-URI,
// the request target with its query as the client sent it, replacing the
// client's; without it the client's own passes unchanged.
func TestOriginalURIHeader(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{false, true} {
		up, seen := echoHeaders(t)
		s := snap(1, "foo.com", backendOf("a", []string{up}))
		s.Global = annotations.Global{ProxyAddOriginalURIHeader: on}
		_, srv := front(t, Options{}, s)
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/a%2Fb/c?x=1&y=%20", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "foo.com"
		req.Header.Set("X-Original-URI", "/from-client")
		if res := send(client(t), req); res.err != nil || res.status != http.StatusOK {
			t.Fatalf("on=%v: status %d, %v", on, res.status, res.err)
		}
		want := "/from-client"
		if on {
			want = "/a%2Fb/c?x=1&y=%20"
		}
		if got := (<-seen).Values("X-Original-Uri"); len(got) != 1 || got[0] != want {
			t.Errorf("on=%v: X-Original-URI = %q, want [%q]", on, got, want)
		}
	}
}

// TestForwardedForProxyProtocolHeader follows ingress-nginx with
// use-forwarded-headers and use-proxy-protocol both on: the upstream gets
// forwarded-for-proxy-protocol-header (replacing the client's), set to
// the client's X-Forwarded-For when the PROXY header's address is
// trusted, else to that address. Real PROXY v1 bytes on a real
// connection.
func TestForwardedForProxyProtocolHeader(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		global annotations.Global
		header string
		want   string
	}{
		{name: "trusted PROXY address", global: annotations.Global{}, header: "X-Forwarded-For-Proxy-Protocol", want: "198.51.100.9"},
		{name: "untrusted PROXY address", global: annotations.Global{ProxyRealIPCIDR: []string{"127.0.0.0/8"}}, header: "X-Forwarded-For-Proxy-Protocol", want: "203.0.113.7"},
		{name: "renamed", global: annotations.Global{ForwardedForProxyProtocolHeader: "X-Pp-For"}, header: "X-Pp-For", want: "198.51.100.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			up, seen := echoHeaders(t)
			s := snap(1, "foo.com", backendOf("a", []string{up}))
			s.Global = tc.global
			s.Global.UseForwardedHeaders, s.Global.UseProxyProtocol = true, true
			p := New(Options{})
			t.Cleanup(p.Close)
			if err := p.Apply(s); err != nil {
				t.Fatal(err)
			}
			raw, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: p}
			go func() { _ = srv.Serve(proxyproto.Wrap(raw, p)) }()
			t.Cleanup(func() { _ = srv.Close() })
			conn, err := net.Dial("tcp", raw.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprint(conn, "PROXY TCP4 203.0.113.7 127.0.0.1 40000 80\r\n"+
				"GET / HTTP/1.1\r\nHost: foo.com\r\nX-Forwarded-For: 198.51.100.9\r\n"+tc.header+": forged\r\nConnection: close\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			h := <-seen
			if got := h.Values(tc.header); len(got) != 1 || got[0] != tc.want {
				t.Errorf("%s = %q, want [%q]", tc.header, got, tc.want)
			}
		})
	}
}

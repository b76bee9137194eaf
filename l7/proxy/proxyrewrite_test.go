package proxy

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

func TestRewriteCookie(t *testing.T) {
	t.Parallel()
	domain := &annotations.HeaderRewrite{From: "Internal.Test", To: "example.com"}
	path := &annotations.HeaderRewrite{From: "/one/", To: "/"}
	re := &annotations.HeaderRewrite{From: "~^/app/v.$", To: "/app"}
	tests := []struct {
		name, in, want string
		domain, path   *annotations.HeaderRewrite
	}{
		{name: "domain any case", in: "a=1; Domain=internal.TEST; Path=/one/x", want: "a=1; Domain=example.com; Path=/one/x", domain: domain},
		{name: "leading dot kept", in: "a=1;domain=.internal.test", want: "a=1; domain=.example.com", domain: domain},
		{name: "domain must match whole", in: "a=1; Domain=sub.internal.test", want: "a=1; Domain=sub.internal.test", domain: domain},
		{name: "path prefix", in: "a=1; Path=/one/two; HttpOnly", want: "a=1; Path=/two; HttpOnly", path: path},
		{name: "path case-sensitive", in: "a=1; Path=/ONE/two", want: "a=1; Path=/ONE/two", path: path},
		{name: "both, spaces normalised", in: "a = 1 ;  path = /one/  ; DOMAIN=internal.test;Secure", want: "a=1; path=/; DOMAIN=example.com; Secure", domain: domain, path: path},
		{name: "unchanged kept byte for byte", in: "a=1;  Path=/two/ ;Secure", want: "a=1;  Path=/two/ ;Secure", domain: domain, path: path},
		{name: "no attributes", in: "a=1", want: "a=1", path: path},
		{name: "first part without value", in: "a; Path=/one/", want: "a; Path=/one/", path: path},
		{name: "attribute value in the cookie value is not an attribute", in: "path=/one/; Max-Age=1", want: "path=/one/; Max-Age=1", path: path},
		{name: "regex replaces the whole value", in: "a=1; Path=/app/v2", want: "a=1; Path=/app", path: re},
		{name: "regex no match", in: "a=1; Path=/app/v22", want: "a=1; Path=/app/v22", path: re},
		{name: "replacement equal to the match still rewrites", in: "a=1;Path=/one/", want: "a=1; Path=/one/", path: &annotations.HeaderRewrite{From: "/one/", To: "/one/"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := rewriteCookie(tc.in, tc.domain, tc.path); got != tc.want {
				t.Errorf("rewriteCookie(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestRewriteUpstreamHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		up       *annotations.Upstream
		in, want http.Header
	}{
		{name: "nil", in: http.Header{"Location": {"http://upstream_balancer/x"}}, want: http.Header{"Location": {"http://upstream_balancer/x"}}},
		{name: "text prefix", up: &annotations.Upstream{RedirectFrom: "http://internal:8080/", RedirectTo: "https://example.com/app/"},
			in:   http.Header{"Location": {"http://internal:8080/login?x=1", "HTTP://internal:8080/"}, "Refresh": {"5; URL=http://internal:8080/a"}},
			want: http.Header{"Location": {"https://example.com/app/login?x=1", "HTTP://internal:8080/"}, "Refresh": {"5; URL=https://example.com/app/a"}}},
		{name: "default", up: &annotations.Upstream{RedirectFrom: "default"},
			in:   http.Header{"Location": {"http://upstream_balancer/a/b"}},
			want: http.Header{"Location": {"/a/b"}}},
		{name: "default https", up: &annotations.Upstream{Protocol: annotations.ProtocolHTTPS, RedirectFrom: "http://x/"},
			in:   http.Header{"Location": {"https://upstream_balancer/a", "http://x/"}},
			want: http.Header{"Location": {"/a", "http://x/"}}},
		{name: "regex", up: &annotations.Upstream{RedirectFrom: "~^http://internal", RedirectTo: "/moved"},
			in:   http.Header{"Location": {"http://internal.svc/a"}, "Refresh": {"0;url=http://internal/"}},
			want: http.Header{"Location": {"/moved"}, "Refresh": {"0;url=/moved"}}},
		{name: "grpc untouched", up: &annotations.Upstream{Protocol: annotations.ProtocolGRPC, RedirectFrom: "default", CookiePath: &annotations.HeaderRewrite{From: "/", To: "/x/"}},
			in:   http.Header{"Location": {"http://upstream_balancer/a"}, "Set-Cookie": {"a=1; Path=/"}},
			want: http.Header{"Location": {"http://upstream_balancer/a"}, "Set-Cookie": {"a=1; Path=/"}}},
		{name: "cookies", up: &annotations.Upstream{CookiePath: &annotations.HeaderRewrite{From: "/", To: "/x/"}},
			in:   http.Header{"Set-Cookie": {"a=1; Path=/", "b=2"}},
			want: http.Header{"Set-Cookie": {"a=1; Path=/x/", "b=2"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rewriteUpstreamHeaders(tc.up, tc.in)
			if diff := cmp.Diff(tc.want, tc.in); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
		})
	}
}

// TestProxyRewritesThroughTheProxy: a real endpoint's Location, Refresh and
// Set-Cookie headers reach the client rewritten, and hide-headers and
// add-headers still apply after the rewrite.
func TestProxyRewritesThroughTheProxy(t *testing.T) {
	t.Parallel()
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Location", "http://internal.svc/next")
		h.Set("Refresh", "3; url=http://internal.svc/later")
		h.Add("Set-Cookie", "s=1; Domain=.INTERNAL.svc; Path=/api/v1")
		h.Add("Set-Cookie", "t=2; Path=/other")
		w.WriteHeader(http.StatusFound)
	})
	be := backendOf("app", []string{addr(up)}, func(p *annotations.Proxy) {
		p.Upstream = &annotations.Upstream{RedirectFrom: "http://internal.svc/", RedirectTo: "https://app.test/",
			CookieDomain: &annotations.HeaderRewrite{From: "internal.svc", To: "app.test"},
			CookiePath:   &annotations.HeaderRewrite{From: "/api/", To: "/"}}
	})
	plain := backendOf("plain", []string{addr(up)})
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{
		{Host: "app.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: be}}},
		{Host: "plain.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: plain}}},
	}}
	_, srv := front(t, Options{}, s)
	c := client(t)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res := get(t, c, srv, "app.test", "/")
	if res.err != nil || res.status != http.StatusFound {
		t.Fatalf("GET app.test: %d, %v", res.status, res.err)
	}
	want := http.Header{
		"Location":   {"https://app.test/next"},
		"Refresh":    {"3; url=https://app.test/later"},
		"Set-Cookie": {"s=1; Domain=.app.test; Path=/v1", "t=2; Path=/other"},
	}
	for k, v := range want {
		if diff := cmp.Diff(v, res.header[k]); diff != "" {
			t.Errorf("app.test %s (-want +got):\n%s", k, diff)
		}
	}
	res = get(t, c, srv, "plain.test", "/")
	if got := res.header.Get("Location"); res.err != nil || got != "http://internal.svc/next" {
		t.Errorf("plain.test: Location %q, %v; want it untouched (proxy_redirect off)", got, res.err)
	}
}

// TestProxyRewritesOneField: a head with one Location, one Refresh or one
// Set-Cookie, each name once, is relayed from its lines (relayFields), and
// each is rewritten as in a head the map relays.
func TestProxyRewritesOneField(t *testing.T) {
	t.Parallel()
	fields := map[string][2]string{ // path: the field, its value
		"/location": {"Location", "http://internal.svc/next"},
		"/refresh":  {"Refresh", "3; url=http://internal.svc/later"},
		"/cookie":   {"Set-Cookie", "s=1; Domain=.INTERNAL.svc; Path=/api/v1"},
	}
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		f := fields[r.URL.Path]
		w.Header().Set(f[0], f[1])
		w.WriteHeader(http.StatusFound)
	})
	be := backendOf("app", []string{addr(up)}, func(p *annotations.Proxy) {
		p.Upstream = &annotations.Upstream{RedirectFrom: "http://internal.svc/", RedirectTo: "https://app.test/",
			CookieDomain: &annotations.HeaderRewrite{From: "internal.svc", To: "app.test"},
			CookiePath:   &annotations.HeaderRewrite{From: "/api/", To: "/"}}
	})
	_, srv := front(t, Options{}, snap(1, "app.test", be))
	c := client(t)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for path, want := range map[string]string{
		"/location": "https://app.test/next",
		"/refresh":  "3; url=https://app.test/later",
		"/cookie":   "s=1; Domain=.app.test; Path=/v1",
	} {
		res := get(t, c, srv, "app.test", path)
		if res.err != nil || res.status != http.StatusFound {
			t.Fatalf("GET %s: %d, %v", path, res.status, res.err)
		}
		k := fields[path][0]
		if diff := cmp.Diff([]string{want}, res.header[k]); diff != "" {
			t.Errorf("%s: %s (-want +got):\n%s", path, k, diff)
		}
	}
}

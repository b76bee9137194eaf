package proxy

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

func TestHTTPSURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, host, target string
		port               int
		want               string
	}{
		{"port stripped, default https port", "Foo.Example.com:8080", "/a/b?x=1&y=2", 443, "https://foo.example.com/a/b?x=1&y=2"},
		{"https port kept when not 443", "foo.example.com", "/", 8443, "https://foo.example.com:8443/"},
		{"zero port means none", "foo.example.com:80", "/p", 0, "https://foo.example.com/p"},
		{"ipv6", "[::1]:8080", "/q?z", 8443, "https://[::1]:8443/q?z"},
		{"escaped path kept", "foo.example.com", "/a%2Fb/c%20d", 443, "https://foo.example.com/a%2Fb/c%20d"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "http://"+tc.host+tc.target, nil)
			r.Host = tc.host
			if got := httpsURL(r.Host, r.URL.RequestURI(), tc.port, false); got != tc.want {
				t.Errorf("httpsURL(%s%s, %d) = %q, want %q", tc.host, tc.target, tc.port, got, tc.want)
			}
		})
	}
}

// TestSSLRedirect checks the 308 on plain HTTP for routes with SSLRedirect,
// none for routes without it nor for ACME challenges, and that the method
// and body are left for the client to resend (308 keeps them).
func TestSSLRedirect(t *testing.T) {
	t.Parallel()
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("upstream " + r.URL.Path))
	})
	redirected := backendOf("tls", []string{addr(up)})
	redirected.SSLRedirect = true
	redirected.HSTS = "max-age=31536000; includeSubDomains"
	plain := backendOf("plain", []string{addr(up)})
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{
		{Host: "tls.example.com", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: redirected}}},
		{Host: "plain.example.com", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: plain}}},
	}}
	_, srv := front(t, Options{HTTPSPort: 8443}, s)
	c := client(t)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	tests := []struct {
		name, method, host, path string
		wantStatus               int
		wantLocation             string
	}{
		{"redirect", http.MethodGet, "tls.example.com", "/a?b=c", http.StatusPermanentRedirect, "https://tls.example.com:8443/a?b=c"},
		{"redirect keeps method", http.MethodPost, "tls.example.com", "/form", http.StatusPermanentRedirect, "https://tls.example.com:8443/form"},
		{"acme challenge not redirected", http.MethodGet, "tls.example.com", "/.well-known/acme-challenge/token", http.StatusOK, ""},
		{"no tls, no redirect", http.MethodGet, "plain.example.com", "/a", http.StatusOK, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := do(t, c, srv, tc.method, tc.host, tc.path, nil)
			if res.err != nil {
				t.Fatal(res.err)
			}
			if res.status != tc.wantStatus || res.header.Get("Location") != tc.wantLocation {
				t.Errorf("%s %s%s: %d Location %q, want %d %q", tc.method, tc.host, tc.path,
					res.status, res.header.Get("Location"), tc.wantStatus, tc.wantLocation)
			}
			if got := res.header.Get("Strict-Transport-Security"); got != "" {
				t.Errorf("plain HTTP response carries HSTS %q", got)
			}
		})
	}
}

// TestHSTSOnHTTPS checks that HTTPS responses of a route with HSTS carry the
// header, ahead of the upstream's own, and that routes without it do not.
func TestHSTSOnHTTPS(t *testing.T) {
	t.Parallel()
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=1")
		w.Write([]byte("ok"))
	})
	withHSTS := backendOf("tls", []string{addr(up)})
	withHSTS.SSLRedirect = true
	withHSTS.HSTS = "max-age=600; preload"
	p := New(Options{})
	if err := p.Apply(snap(1, "tls.example.com", withHSTS)); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(p)
	t.Cleanup(srv.Close)
	c := srv.Client()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
	req.Host = "tls.example.com"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTPS request: status %d, want 200 (no redirect over TLS)", resp.StatusCode)
	}
	if got := resp.Header.Values("Strict-Transport-Security"); len(got) == 0 || got[0] != "max-age=600; preload" {
		t.Errorf("Strict-Transport-Security = %q, want Weir's first", got)
	}
}

// TestSSLRedirectForwardedProto: with use-forwarded-headers, the scheme the
// redirect looks at is X-Forwarded-Proto ($pass_access_scheme), so a TLS
// terminator in front of Weir does not loop; without it, the client's
// X-Forwarded-Proto changes nothing.
func TestSSLRedirectForwardedProto(t *testing.T) {
	t.Parallel()
	up := backend(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	redirected := backendOf("tls", []string{addr(up)})
	redirected.SSLRedirect = true
	for _, tc := range []struct {
		name   string
		g      annotations.Global
		proto  string
		status int
	}{
		{"defaults: X-Forwarded-Proto ignored", annotations.Global{}, "https", http.StatusPermanentRedirect},
		{"use-forwarded-headers: https from the proxy", annotations.Global{UseForwardedHeaders: true}, "https", http.StatusOK},
		{"use-forwarded-headers: http from the proxy", annotations.Global{UseForwardedHeaders: true}, "http", http.StatusPermanentRedirect},
	} {
		wantLocation := "https://tls.example.com/a"
		if tc.g.UseForwardedHeaders {
			wantLocation = "https://front.example.com/a" // $best_http_host
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := snap(1, "tls.example.com", redirected)
			s.Global = tc.g
			p := New(Options{})
			if err := p.Apply(s); err != nil {
				t.Fatal(err)
			}
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodGet, "http://tls.example.com/a", nil)
			r.Header.Set("X-Forwarded-Proto", tc.proto)
			r.Header.Set("X-Forwarded-Host", "front.example.com")
			p.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Errorf("status %d, want %d", w.Code, tc.status)
			}
			if loc := w.Header().Get("Location"); w.Code == http.StatusPermanentRedirect && loc != wantLocation {
				t.Errorf("Location %q, want %q", loc, wantLocation)
			}
		})
	}
}

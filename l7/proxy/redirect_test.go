package proxy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

func TestHTTPSURL(t *testing.T) {
	t.Parallel()
	// As lua_ingress.lua: the port of the HTTPS listener is written only
	// with use-port-in-redirects (ingress-nginx e2e: forcesslredirect.go,
	// "should redirect to https", on an HTTPS port that is not 443).
	tests := []struct {
		name, host, target string
		port               int
		withPort           bool
		want               string
	}{
		// The host as sent, as redirect_host: nginx 1.22 given the same
		// Location by hand (https://$http_host up to its ':') answers
		// Host: TLS.Test:80 with https://TLS.Test/a, tls.test. with https://tls.test./a.
		{"port stripped, case kept, default https port", "Foo.Example.com:8080", "/a/b?x=1&y=2", 443, false, "https://Foo.Example.com/a/b?x=1&y=2"},
		{"trailing dot kept", "tls.example.com.", "/a", 443, false, "https://tls.example.com./a"},
		{"https port left out when not 443", "foo.example.com", "/", 8443, false, "https://foo.example.com/"},
		{"zero port means none", "foo.example.com:80", "/p", 0, false, "https://foo.example.com/p"},
		{"ipv6", "[::1]:8080", "/q?z", 8443, false, "https://[::1]/q?z"},
		{"escaped path kept", "foo.example.com", "/a%2Fb/c%20d", 443, false, "https://foo.example.com/a%2Fb/c%20d"},
		{"use-port-in-redirects", "foo.example.com", "/", 8443, true, "https://foo.example.com:8443/"},
		{"use-port-in-redirects, 443 written", "foo.example.com", "/", 443, true, "https://foo.example.com:443/"},
		{"use-port-in-redirects, zero port is 443", "foo.example.com", "/", 0, true, "https://foo.example.com:443/"},
		{"use-port-in-redirects, ipv6", "[::1]:8080", "/q", 8443, true, "https://[::1]:8443/q"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "http://"+tc.host+tc.target, nil)
			r.Host = tc.host
			if got := httpsURL(r.Host, r.URL.RequestURI(), tc.port, tc.withPort); got != tc.want {
				t.Errorf("httpsURL(%s%s, %d, %v) = %q, want %q", tc.host, tc.target, tc.port, tc.withPort, got, tc.want)
			}
		})
	}
}

// sslRedirectCase is a request of TestSSLRedirect and the status and
// Location it must get.
type sslRedirectCase struct {
	name, method, host, path string
	wantStatus               int
	wantLocation             string
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
	plain := backendOf("plain", []string{addr(up)})
	forced := redirected
	forced.ForceSSLRedirect = true
	s := &snapshot.Snapshot{Version: 1, HSTS: "max-age=31536000; includeSubDomains", Servers: []snapshot.Server{
		// ssl-redirect is decided by the request's host, as ingress-nginx's
		// Lua: an alias without a certificate redirects only when forced.
		{Host: "alias.example.com", Aliases: []string{"covered.example.com", "uncovered.example.com"},
			NoTLSAliases: []string{"uncovered.example.com"}, Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: redirected}}},
		{Host: "forced.example.com", Aliases: []string{"forced-alias.example.com"},
			NoTLSAliases: []string{"forced-alias.example.com"}, Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: forced}}},
		{Host: "tls.example.com", Paths: []snapshot.Path{
			// cert-manager's HTTP-01 solver Ingress: the challenge's own path.
			{Path: "/.well-known/acme-challenge/token", Match: snapshot.MatchExact, Backend: redirected},
			{Path: "/public", Match: snapshot.MatchPrefix, Backend: redirected},
			{Path: "/", Match: snapshot.MatchPrefix, Backend: redirected},
		}},
		{Host: "plain.example.com", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: plain}}},
	}}
	p, srv := front(t, Options{HTTPSPort: 8443}, s)
	c := client(t)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	tests := []sslRedirectCase{
		{"redirect", http.MethodGet, "tls.example.com", "/a?b=c", http.StatusPermanentRedirect, "https://tls.example.com/a?b=c"},
		{"redirect keeps method", http.MethodPost, "tls.example.com", "/form", http.StatusPermanentRedirect, "https://tls.example.com/form"},
		{"acme challenge not redirected", http.MethodGet, "tls.example.com", "/.well-known/acme-challenge/token", http.StatusOK, ""},
		// no-tls-redirect-locations matches the rule's path, as ingress-nginx's
		// isLocationInLocationList: the "/" rule redirects whatever the request.
		{"acme path of the / rule redirected", http.MethodGet, "tls.example.com", "/.well-known/acme-challenge/other", http.StatusPermanentRedirect, "https://tls.example.com/.well-known/acme-challenge/other"},
		{"no tls, no redirect", http.MethodGet, "plain.example.com", "/a", http.StatusOK, ""},
		{"host of aliases", http.MethodGet, "alias.example.com", "/a", http.StatusPermanentRedirect, "https://alias.example.com/a"},
		{"alias with a certificate", http.MethodGet, "Covered.example.com:80", "/a", http.StatusPermanentRedirect, "https://Covered.example.com/a"},
		{"alias without a certificate", http.MethodGet, "Uncovered.example.com:80", "/a", http.StatusOK, ""},
		{"alias without a certificate, forced", http.MethodGet, "forced-alias.example.com", "/a", http.StatusPermanentRedirect, "https://forced-alias.example.com/a"},
	}
	run := func(t *testing.T, tests []sslRedirectCase) {
		t.Helper()
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
	run(t, tests)

	// no-tls-redirect-locations replaces the default list.
	g, errs := annotations.ParseGlobal(map[string]string{"no-tls-redirect-locations": "/public,/other"})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	s2 := *s
	s2.Version, s2.Global = 2, g
	if err := p.Apply(&s2); err != nil {
		t.Fatal(err)
	}
	run(t, []sslRedirectCase{
		{"listed rule path not redirected", http.MethodGet, "tls.example.com", "/public/x", http.StatusOK, ""},
		{"acme no longer listed", http.MethodGet, "tls.example.com", "/.well-known/acme-challenge/token", http.StatusPermanentRedirect, "https://tls.example.com/.well-known/acme-challenge/token"},
		{"others still redirected", http.MethodGet, "tls.example.com", "/a", http.StatusPermanentRedirect, "https://tls.example.com/a"},
	})
}

// TestHSTSOnHTTPS checks that HTTPS responses of a route with HSTS carry the
// header in place of the upstream's own, as ingress-nginx's header filter
// sets it (ingress-nginx e2e: settings/tls.go, "overriding what's set from
// the upstream": one Strict-Transport-Security field).
func TestHSTSOnHTTPS(t *testing.T) {
	t.Parallel()
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=1")
		w.Write([]byte("ok"))
	})
	withHSTS := backendOf("tls", []string{addr(up)})
	withHSTS.SSLRedirect = true
	p := New(Options{})
	s := snap(1, "tls.example.com", withHSTS)
	s.HSTS = "max-age=600; preload"
	if err := p.Apply(s); err != nil {
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
	if got := resp.Header.Values("Strict-Transport-Security"); len(got) != 1 || got[0] != "max-age=600; preload" {
		t.Errorf("Strict-Transport-Security = %q, want Weir's alone", got)
	}
}

// TestHSTSOnOwnResponses checks that Weir's own answers in a location carry
// HSTS over HTTPS as the upstream's do: ingress-nginx's header filter
// (lua_ingress.lua header()) is a location's header_filter_by_lua, so it runs
// for nginx's return of a CORS preflight (an if block inherits it) and of a
// denied location (return 503) too; a server-level answer (app-root's
// return 302, before any location) gets none.
func TestHSTSOnOwnResponses(t *testing.T) {
	t.Parallel()
	up := backend(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	const hsts = "max-age=600"
	cors := backendOf("cors", []string{addr(up)}, func(p *annotations.Proxy) { p.CORS = corsOf("https://a.test") })
	denied := backendOf("denied", []string{addr(up)})
	denied.UpstreamTLS = &snapshot.UpstreamTLS{Denied: "secret ns/s not found"}
	root := backendOf("root", []string{addr(up)})
	s := &snapshot.Snapshot{Version: 1, HSTS: hsts, Servers: []snapshot.Server{
		{Host: "cors.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: cors}}},
		{Host: "denied.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: denied}}},
		{Host: "root.test", AppRoot: "/app", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: root}}},
	}}
	checkHSTS(t, s, []hstsCase{
		{http.MethodOptions, "cors.test", "/", http.StatusNoContent, hsts},
		{http.MethodGet, "denied.test", "/", http.StatusServiceUnavailable, hsts},
		{http.MethodGet, "root.test", "/", http.StatusFound, ""},
		// Weir's own 404 for a host no rule names, without a default
		// backend: ingress-nginx's default server "_" answers it from its
		// root location, whose header filter adds HSTS.
		{http.MethodGet, "unknown.test", "/", http.StatusNotFound, hsts},
	})
	// hsts off: no header on that 404 either.
	s.HSTS = ""
	checkHSTS(t, s, []hstsCase{{http.MethodGet, "unknown.test", "/", http.StatusNotFound, ""}})
}

// hstsCase is a request over HTTPS and the status and
// Strict-Transport-Security it must get.
type hstsCase struct {
	method, host, path string
	status             int
	hsts               string
}

// checkHSTS serves s over HTTPS and sends each case's request (with an
// Origin, redirects not followed), checking its status and HSTS.
func checkHSTS(t *testing.T, s *snapshot.Snapshot, cases []hstsCase) {
	t.Helper()
	p := New(Options{})
	if err := p.Apply(s); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(p)
	t.Cleanup(srv.Close)
	for _, tc := range cases {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		req.Host = tc.host
		req.Header.Set("Origin", "https://a.test")
		resp, err := srv.Client().Transport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("Strict-Transport-Security") != tc.hsts {
			t.Errorf("%s https://%s%s: %d HSTS %q, want %d HSTS %q", tc.method, tc.host, tc.path, resp.StatusCode,
				resp.Header.Get("Strict-Transport-Security"), tc.status, tc.hsts)
		}
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
			// $best_http_host: X-Forwarded-Host's first element, up to
			// its ':', its case kept (lua_ingress.lua's redirect_host).
			wantLocation = "https://Front.example.com/a"
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
			r.Header.Set("X-Forwarded-Host", "Front.example.com:8443, other.example.com")
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

// TestAppRoot follows ingress-nginx's approot e2e test: GET / answers 302
// to http://<Host header><app-root>, before any path matches (the server
// has no "/" path), and other paths are proxied.
func TestAppRoot(t *testing.T) {
	t.Parallel()
	up := backend(t, echoRequest)
	be := backendOf("app", []string{addr(up)})
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{{Host: "approot.bar.com", AppRoot: "/foo", Paths: []snapshot.Path{
		{Path: "/foo", Match: snapshot.MatchPrefix, Backend: be},
	}}}}
	_, srv := front(t, Options{}, s)
	checkRedirects(t, noFollow(t), srv, []redirectCase{
		{"approot.bar.com", "/", http.StatusFound, "http://approot.bar.com/foo", "<title>302 Found</title>"},
		{"approot.bar.com", "/?x=1", http.StatusFound, "http://approot.bar.com/foo", ""},
		{"approot.bar.com:8080", "/", http.StatusFound, "http://approot.bar.com:8080/foo", ""},
		{"approot.bar.com", "/foo", http.StatusOK, "", ""},
		{"approot.bar.com", "/bar", http.StatusNotFound, "", ""},
		{"other.bar.com", "/", http.StatusNotFound, "", ""},
	})
	// An absolute-form target's host is $http_host, whatever the Host line
	// says (httpHost), with either HTTP/1 server; nginx 1.22.1 answered
	// "GET http://approot.bar.com/" with "Host: other" 302 http://other/foo.
	want := "http://approot.bar.com/foo"
	resp, _ := rawExchange(t, addr(srv), "GET http://approot.bar.com/ HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n")
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != want {
		t.Errorf("GET http://approot.bar.com/ with Host other: %d Location %q, want 302 %q", resp.StatusCode, loc, want)
	}
}

// TestPermanentTemporalRedirect follows ingress-nginx's redirect e2e test:
// the route answers its code with Location the URL instead of proxying,
// before ssl-redirect (nginx's return runs before the Lua rewrite); a code
// that is not a redirect status (300) sends the URL as the body.
func TestPermanentTemporalRedirect(t *testing.T) {
	t.Parallel()
	up := backend(t, echoRequest)
	perm := backendOf("perm", []string{addr(up)}, withRewrite(annotations.Rewrite{RedirectURL: "http://redirect.example.com", RedirectCode: 301}))
	perm.SSLRedirect = true
	temp := backendOf("temp", []string{addr(up)}, withRewrite(annotations.Rewrite{RedirectURL: "https://t.example.com/a?b=c", RedirectCode: 307}))
	multi := backendOf("multi", []string{addr(up)}, withRewrite(annotations.Rewrite{RedirectURL: "http://m.example.com", RedirectCode: 300}))
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{{Host: "redirect", Paths: []snapshot.Path{
		{Path: "/something", Match: snapshot.MatchPrefix, Backend: perm},
		{Path: "/temp", Match: snapshot.MatchPrefix, Backend: temp},
		{Path: "/multi", Match: snapshot.MatchPrefix, Backend: multi},
	}}}}
	_, srv := front(t, Options{}, s)
	c := noFollow(t)
	tests := []struct {
		path, wantLocation, wantBody string
		wantStatus                   int
	}{
		{"/something", "http://redirect.example.com", "<title>301 Moved Permanently</title>", http.StatusMovedPermanently},
		{"/something/else?q=1", "http://redirect.example.com", "<title>301 Moved Permanently</title>", http.StatusMovedPermanently},
		{"/temp", "https://t.example.com/a?b=c", "<title>307 Temporary Redirect</title>", http.StatusTemporaryRedirect},
		{"/multi", "", "http://m.example.com", http.StatusMultipleChoices},
	}
	for _, tc := range tests {
		res := get(t, c, srv, "redirect", tc.path)
		if res.err != nil || res.status != tc.wantStatus || res.header.Get("Location") != tc.wantLocation || !strings.Contains(res.body, tc.wantBody) {
			t.Errorf("GET %s: %d Location %q body %q (%v), want %d %q with %q", tc.path, res.status, res.header.Get("Location"),
				res.body, res.err, tc.wantStatus, tc.wantLocation, tc.wantBody)
		}
	}
}

// TestRelativeRedirects follows ingress-nginx's relativeredirects e2e
// test: a permanent-redirect to a path is made absolute with the request's
// host (nginx's absolute_redirect on; the port only with
// use-port-in-redirects, port_in_redirect), or sent as is with
// relative-redirects.
func TestRelativeRedirects(t *testing.T) {
	t.Parallel()
	up := backend(t, echoRequest)
	abs := backendOf("abs", []string{addr(up)}, withRewrite(annotations.Rewrite{RedirectURL: "/new-location", RedirectCode: 301}))
	port := backendOf("port", []string{addr(up)}, withRewrite(annotations.Rewrite{RedirectURL: "/new-location", RedirectCode: 301, UsePortInRedirects: true}))
	rel := backendOf("rel", []string{addr(up)}, withRewrite(annotations.Rewrite{RedirectURL: "/new-location", RedirectCode: 301, RelativeRedirects: true}))
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{{Host: "rr.foo.com", Paths: []snapshot.Path{
		{Path: "/something", Match: snapshot.MatchPrefix, Backend: abs},
		{Path: "/port", Match: snapshot.MatchPrefix, Backend: port},
		{Path: "/relative", Match: snapshot.MatchPrefix, Backend: rel},
	}}}}
	_, srv := front(t, Options{}, s)
	listen := srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]
	checkRedirects(t, noFollow(t), srv, []redirectCase{
		{"rr.foo.com", "/something", http.StatusMovedPermanently, "http://rr.foo.com/new-location", ""},
		{"RR.foo.com:8080", "/something", http.StatusMovedPermanently, "http://rr.foo.com/new-location", ""},
		{"rr.foo.com", "/port", http.StatusMovedPermanently, "http://rr.foo.com:" + listen + "/new-location", ""},
		{"rr.foo.com", "/relative", http.StatusMovedPermanently, "/new-location", ""},
	})
}

// TestFromToWWWRedirect follows ingress-nginx's fromtowwwredirect e2e
// test over HTTP: www.<host> answers 308 to http://<host>:<port><request
// URI without its trailing slash>, and the host itself is proxied.
func TestFromToWWWRedirect(t *testing.T) {
	t.Parallel()
	up := backend(t, echoRequest)
	be := backendOf("www", []string{addr(up)})
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{{Host: "fromtowwwredirect.bar.com", RedirectFrom: "www.fromtowwwredirect.bar.com",
		Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: be}}}}}
	_, srv := front(t, Options{}, s)
	port := srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]
	checkRedirects(t, noFollow(t), srv, []redirectCase{
		{"www.fromtowwwredirect.bar.com", "/foo", http.StatusPermanentRedirect, "http://fromtowwwredirect.bar.com:" + port + "/foo", ""},
		{"WWW.fromtowwwredirect.bar.com:" + port, "/foo/?a=b", http.StatusPermanentRedirect, "http://fromtowwwredirect.bar.com:" + port + "/foo/?a=b", ""},
		{"www.fromtowwwredirect.bar.com", "/foo/", http.StatusPermanentRedirect, "http://fromtowwwredirect.bar.com:" + port + "/foo", ""},
		{"www.fromtowwwredirect.bar.com", "/", http.StatusPermanentRedirect, "http://fromtowwwredirect.bar.com:" + port, ""},
		{"fromtowwwredirect.bar.com", "/foo", http.StatusOK, "", ""},
	})
}

// TestSSLRedirectTrailingSlashAndPort checks preserve-trailing-slash and
// use-port-in-redirects on ssl-redirect, as lua_ingress.lua builds its
// Location: the trailing slash of the request URI is dropped unless
// preserved, and the port (443 included) is written when asked.
func TestSSLRedirectTrailingSlashAndPort(t *testing.T) {
	t.Parallel()
	up := backend(t, echoRequest)
	strip := backendOf("strip", []string{addr(up)})
	strip.SSLRedirect = true
	keep := backendOf("keep", []string{addr(up)}, withRewrite(annotations.Rewrite{PreserveTrailingSlash: true, UsePortInRedirects: true}))
	keep.SSLRedirect = true
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{
		{Host: "strip.example.com", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: strip}}},
		{Host: "keep.example.com", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: keep}}},
	}}
	_, srv := front(t, Options{}, s)
	checkRedirects(t, noFollow(t), srv, []redirectCase{
		{"strip.example.com", "/a/", http.StatusPermanentRedirect, "https://strip.example.com/a", ""},
		{"strip.example.com", "/", http.StatusPermanentRedirect, "https://strip.example.com", ""},
		{"strip.example.com", "/a/?x=1", http.StatusPermanentRedirect, "https://strip.example.com/a/?x=1", ""},
		{"keep.example.com", "/a/", http.StatusPermanentRedirect, "https://keep.example.com:443/a/", ""},
	})
}

// TestFromToWWWRedirectHTTPS follows the HTTPS case of ingress-nginx's
// fromtowwwredirect e2e test (an Ingress of www.<host>, a request for
// <host>): 308 to https://www.<host>:<port>, and with use-forwarded-headers
// the scheme and port of X-Forwarded-Proto and X-Forwarded-Port. A
// permanent redirect over HTTPS carries the route's HSTS header.
func TestFromToWWWRedirectHTTPS(t *testing.T) {
	t.Parallel()
	up := backend(t, echoRequest)
	be := backendOf("www", []string{addr(up)})
	gone := backendOf("gone", []string{addr(up)}, withRewrite(annotations.Rewrite{RedirectURL: "https://new.example.com", RedirectCode: 301}))
	s := &snapshot.Snapshot{Version: 1, HSTS: "max-age=600", Servers: []snapshot.Server{{Host: "www.example.com", RedirectFrom: "example.com",
		Paths: []snapshot.Path{
			{Path: "/gone", Match: snapshot.MatchPrefix, Backend: gone},
			{Path: "/", Match: snapshot.MatchPrefix, Backend: be},
		}}}}
	p := New(Options{})
	if err := p.Apply(s); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(p)
	t.Cleanup(srv.Close)
	port := srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]
	c := srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, tc := range []struct{ host, path, wantLocation, wantHSTS string }{
		{"example.com", "/", "https://www.example.com:" + port, ""},
		{"example.com", "/a/b?c", "https://www.example.com:" + port + "/a/b?c", ""},
		{"www.example.com", "/gone/x", "https://new.example.com", "max-age=600"},
	} {
		req, err := http.NewRequest(http.MethodGet, srv.URL+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = tc.host
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 3 || resp.Header.Get("Location") != tc.wantLocation || resp.Header.Get("Strict-Transport-Security") != tc.wantHSTS {
			t.Errorf("GET https://%s%s: %d Location %q HSTS %q, want a redirect to %q with HSTS %q", tc.host, tc.path, resp.StatusCode,
				resp.Header.Get("Location"), resp.Header.Get("Strict-Transport-Security"), tc.wantLocation, tc.wantHSTS)
		}
	}

	s.Global = annotations.Global{UseForwardedHeaders: true}
	if err := p.Apply(s); err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "http://example.com/x/", nil)
	r.Header.Set("X-Forwarded-Proto", "https")
	r.Header.Set("X-Forwarded-Port", "443")
	p.ServeHTTP(w, r)
	if loc := w.Header().Get("Location"); w.Code != http.StatusPermanentRedirect || loc != "https://www.example.com:443/x" {
		t.Errorf("behind a proxy: %d Location %q, want 308 https://www.example.com:443/x", w.Code, loc)
	}
}

// TestHTTPRedirectCodeApplies checks that the ConfigMap's
// http-redirect-code is the status of ssl-redirect and of the www
// redirect, as ingress-nginx's Lua and redirect server use it.
func TestHTTPRedirectCodeApplies(t *testing.T) {
	t.Parallel()
	up := backend(t, echoRequest)
	be := backendOf("a", []string{addr(up)})
	be.SSLRedirect = true
	s := &snapshot.Snapshot{Version: 1, Global: annotations.Global{HTTPRedirect: http.StatusMovedPermanently},
		Servers: []snapshot.Server{{Host: "a.example.com", RedirectFrom: "www.a.example.com",
			Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: be}}}}}
	_, srv := front(t, Options{}, s)
	c := noFollow(t)
	for _, host := range []string{"a.example.com", "www.a.example.com"} {
		res := get(t, c, srv, host, "/x")
		if res.status != http.StatusMovedPermanently || !strings.Contains(res.body, "301 Moved Permanently") {
			t.Errorf("GET %s/x: %d %q, want 301", host, res.status, res.body)
		}
	}
}

// redirectCase is a request and the answer checkRedirects expects: its
// status, its Location ("" none) and a part of its body ("" any).
type redirectCase struct {
	host, path     string
	status         int
	location, body string
}

// checkRedirects sends each case's GET through c to srv and reports the
// answers that differ.
func checkRedirects(t *testing.T, c *http.Client, srv *httptest.Server, cases []redirectCase) {
	t.Helper()
	for _, tc := range cases {
		res := get(t, c, srv, tc.host, tc.path)
		if res.err != nil || res.status != tc.status || res.header.Get("Location") != tc.location || !strings.Contains(res.body, tc.body) {
			t.Errorf("GET %s%s: %d Location %q body %q (%v), want %d %q with %q", tc.host, tc.path, res.status,
				res.header.Get("Location"), res.body, res.err, tc.status, tc.location, tc.body)
		}
	}
}

// TestDefaultType: default-type is the Content-Type of a redirect
// annotation's response whose body is its target (nginx's "return 300
// URL", ngx_http_send_response's default_type); the redirect pages of 301
// to 308 stay text/html, and a proxied response gets none.
func TestDefaultType(t *testing.T) {
	t.Parallel()
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil // no type, and none sniffed
		w.Write([]byte("untyped"))
	})
	multi := backendOf("multi", []string{addr(up)}, withRewrite(annotations.Rewrite{RedirectURL: "http://m.example.com", RedirectCode: 300}))
	perm := backendOf("perm", []string{addr(up)}, withRewrite(annotations.Rewrite{RedirectURL: "http://p.example.com", RedirectCode: 301}))
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{{Host: "redirect", Paths: []snapshot.Path{
		{Path: "/multi", Match: snapshot.MatchPrefix, Backend: multi},
		{Path: "/perm", Match: snapshot.MatchPrefix, Backend: perm},
		{Path: "/proxied", Match: snapshot.MatchPrefix, Backend: backendOf("up", []string{addr(up)})},
	}}}}
	p, srv := front(t, Options{}, s)
	c := noFollow(t)
	check := func(defaultType, wantMulti string) {
		t.Helper()
		for _, tc := range []struct{ path, want string }{{"/multi", wantMulti}, {"/perm", "text/html"}, {"/proxied", ""}} {
			res := get(t, c, srv, "redirect", tc.path)
			if got := strings.Join(res.header.Values("Content-Type"), ","); res.err != nil || got != tc.want {
				t.Errorf("default-type %q: GET %s: Content-Type %q (%v), want %q", defaultType, tc.path, got, res.err, tc.want)
			}
		}
	}
	check("", "text/html")
	s2 := *s
	s2.Version = 2
	s2.Global.DefaultType = "text/plain; charset=utf-8"
	if err := p.Apply(&s2); err != nil {
		t.Fatal(err)
	}
	check(s2.Global.DefaultType, "text/plain; charset=utf-8")
}

// TestRedirectPage: a redirect's page is nginx's, byte for byte (curl
// against nginx 1.22's "return 301 http://x.test/;", server_tokens off),
// tail included.
func TestRedirectPage(t *testing.T) {
	t.Parallel()
	const want = "<html>\r\n<head><title>301 Moved Permanently</title></head>\r\n<body>\r\n" +
		"<center><h1>301 Moved Permanently</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
	w := httptest.NewRecorder()
	writeRedirect(w, http.StatusMovedPermanently, "http://x.test/", "")
	if w.Code != 301 || w.Body.String() != want || w.Header().Get("Location") != "http://x.test/" ||
		w.Header().Get("Content-Type") != "text/html" || w.Header().Get("Content-Length") != "162" {
		t.Errorf("writeRedirect(301) = %d %q, header %v; want 301 %q, text/html, Content-Length 162", w.Code, w.Body.String(), w.Header(), want)
	}
}

// TestRedirectRawRequestURI checks that ssl-redirect and
// from-to-www-redirect write $request_uri as the client sent it, as
// lua_ingress.lua and ngx_srv_redirect.lua do (ngx.redirect checks only
// for control bytes): '"' and UTF-8 are not percent-encoded, and of an
// absolute-form target only the path and query are kept. nginx 1.22, given
// the same Location by hand (return 308 https://$host$request_uri without
// its trailing slash), answers these requests with these Locations.
func TestRedirectRawRequestURI(t *testing.T) {
	t.Parallel()
	up := backend(t, echoRequest)
	tls := backendOf("tls", []string{addr(up)})
	tls.SSLRedirect = true
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{
		{Host: "tls.example.com", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: tls}}},
		{Host: "example.com", RedirectFrom: "www.example.com",
			Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: backendOf("www", []string{addr(up)})}}},
	}}
	_, srv := front(t, Options{}, s)
	port := srv.URL[strings.LastIndexByte(srv.URL, ':')+1:]
	tests := []struct{ host, target, want string }{
		{"tls.example.com", `/a"b`, `https://tls.example.com/a"b`},
		{"tls.example.com", "/caf\xc3\xa9/", "https://tls.example.com/caf\xc3\xa9"},
		{"tls.example.com", "/%7e?q=%22", "https://tls.example.com/%7e?q=%22"},
		{"tls.example.com", `http://tls.example.com/a"b/?q`, `https://tls.example.com/a"b/?q`},
		{"tls.example.com", "http://tls.example.com", "https://tls.example.com"},
		{"www.example.com", `/a"b/`, `http://example.com:` + port + `/a"b`},
		{"www.example.com", `http://www.example.com/a"b?x`, `http://example.com:` + port + `/a"b?x`},
	}
	for _, tc := range tests {
		resp, _ := rawExchange(t, addr(srv), "GET "+tc.target+" HTTP/1.1\r\nHost: "+tc.host+"\r\nConnection: close\r\n\r\n")
		if got := resp.Header.Get("Location"); resp.StatusCode/100 != 3 || got != tc.want {
			t.Errorf("GET %s (Host %s): %d Location %q, want %q", tc.target, tc.host, resp.StatusCode, got, tc.want)
		}
	}
}

// TestDeniedLocationFirst checks that a route ingress-nginx denies (a
// source range or an authentication that does not parse, a failed
// custom-headers or proxy-ssl-secret) answers 503 before its redirects and
// limits, as nginx.tmpl's denied location holds only "return 503": no
// ssl-redirect (Lua, later in the rewrite phase), no permanent-redirect,
// no limit_req. Its client_max_body_size is nginx's 1m, not
// proxy-body-size. Weir answered these plain HTTP requests 308 and 301.
func TestDeniedLocationFirst(t *testing.T) {
	t.Parallel()
	up := backend(t, echoRequest)
	badRange := func(p *annotations.Proxy) {
		p.SourceRange = &annotations.SourceRange{InvalidAllow: "whitelist-source-range: 10.0.0.0/8;x"}
	}
	tls := backendOf("tls", []string{addr(up)}, badRange, func(p *annotations.Proxy) { p.BodySizeBytes = 8 << 20 })
	tls.SSLRedirect = true
	perm := backendOf("perm", []string{addr(up)}, withRewrite(annotations.Rewrite{RedirectURL: "https://dest.test/", RedirectCode: http.StatusMovedPermanently}),
		func(p *annotations.Proxy) { p.Auth = &annotations.Auth{Invalid: "auth-type: bad"} })
	headers := backendOf("headers", []string{addr(up)}, withRewrite(annotations.Rewrite{RedirectURL: "https://dest.test/", RedirectCode: http.StatusMovedPermanently}),
		func(p *annotations.Proxy) {
			p.CustomHeaders = &annotations.CustomHeaders{ConfigMap: "ns/h", Invalid: "configmap ns/h not found"}
		})
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{
		{Host: "tls.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: tls}}},
		{Host: "perm.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: perm}}},
		{Host: "headers.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: headers}}},
	}}
	_, srv := front(t, Options{}, s)
	for _, tc := range []struct {
		host   string
		length int
		want   int
	}{
		{"tls.test", 0, http.StatusServiceUnavailable},
		{"perm.test", 0, http.StatusServiceUnavailable},
		{"headers.test", 0, http.StatusServiceUnavailable},
		{"tls.test", 1 << 20, http.StatusServiceUnavailable},
		{"tls.test", 1<<20 + 1, http.StatusRequestEntityTooLarge},
	} {
		resp, _ := rawExchange(t, addr(srv), fmt.Sprintf("POST /a HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", tc.host, tc.length))
		if resp.StatusCode != tc.want || resp.Header.Get("Location") != "" {
			t.Errorf("%s, Content-Length %d: %d Location %q, want %d", tc.host, tc.length, resp.StatusCode, resp.Header.Get("Location"), tc.want)
		}
	}
}

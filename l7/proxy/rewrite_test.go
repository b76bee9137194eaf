package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// echoRequest is an upstream that answers what it was sent: the request
// target, the Host and the X-Forwarded-{Prefix,Host} headers.
func echoRequest(w http.ResponseWriter, r *http.Request) {
	w.Write([]byte("uri=" + r.RequestURI + " host=" + r.Host + " prefix=" + r.Header.Get("X-Forwarded-Prefix") +
		" xfh=" + r.Header.Get("X-Forwarded-Host")))
}

// noFollow returns a client that does not follow redirects.
func noFollow(tb testing.TB) *http.Client {
	c := client(tb)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

func withRewrite(rw annotations.Rewrite) func(*annotations.Proxy) {
	return func(p *annotations.Proxy) { p.Rewrite = &rw }
}

// TestRewriteTarget follows ingress-nginx's rewrite e2e test and its
// documented example: path /something(/|$)(.*) with rewrite-target /$2 sends
// /something/new as /new, matching case-insensitively, keeping the query;
// x-forwarded-prefix is sent upstream; a path of the same host without a
// rewrite is sent as it came.
func TestRewriteTarget(t *testing.T) {
	t.Parallel()
	up := backend(t, echoRequest)
	rw := backendOf("rw", []string{addr(up)}, withRewrite(annotations.Rewrite{Target: "/$2", XForwardedPrefix: "/something"}))
	plain := backendOf("plain", []string{addr(up)})
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{{Host: "rewrite.bar.com", UseRegex: true, Paths: []snapshot.Path{
		{Path: "/something(/|$)(.*)", Match: snapshot.MatchPrefix, Backend: rw},
		{Path: "/", Match: snapshot.MatchPrefix, Backend: plain},
	}}}}
	_, srv := front(t, Options{}, s)
	c := client(t)
	tests := []struct{ path, want string }{
		{"/something", "uri=/ host=rewrite.bar.com prefix=/something xfh=rewrite.bar.com"},
		{"/something/", "uri=/ host=rewrite.bar.com prefix=/something xfh=rewrite.bar.com"},
		{"/something/new", "uri=/new host=rewrite.bar.com prefix=/something xfh=rewrite.bar.com"},
		{"/SomeThing/new/deep?x=1&y=%20", "uri=/new/deep?x=1&y=%20 host=rewrite.bar.com prefix=/something xfh=rewrite.bar.com"},
		{"/something/a%20b", "uri=/a%20b host=rewrite.bar.com prefix=/something xfh=rewrite.bar.com"},
		{"/something/x/../y", "uri=/y host=rewrite.bar.com prefix=/something xfh=rewrite.bar.com"},
		{"/other/something/new?q", "uri=/other/something/new?q host=rewrite.bar.com prefix= xfh=rewrite.bar.com"},
	}
	for _, tc := range tests {
		res := get(t, c, srv, "rewrite.bar.com", tc.path)
		if res.err != nil || res.status != http.StatusOK || res.body != tc.want {
			t.Errorf("GET %s: %d %q (%v), want 200 %q", tc.path, res.status, res.body, res.err, tc.want)
		}
	}
}

// TestRewriteTargetCaptures checks $1..$9 in the target and in
// x-forwarded-prefix, a group that did not take part (empty), and that a
// client's X-Forwarded-Prefix is replaced.
func TestRewriteTargetCaptures(t *testing.T) {
	t.Parallel()
	up := backend(t, echoRequest)
	be := backendOf("rw", []string{addr(up)}, withRewrite(annotations.Rewrite{Target: "/v$2/$1$3", XForwardedPrefix: "/api/$1"}))
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{{Host: "a.example.com", UseRegex: true, Paths: []snapshot.Path{
		{Path: "/api/([a-z]+)/v([0-9])(/.*)?", Match: snapshot.MatchPrefix, Backend: be},
	}}}}
	_, srv := front(t, Options{}, s)
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/api/users/v2/list?page=3", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "a.example.com"
	req.Header.Set("X-Forwarded-Prefix", "/spoofed")
	resp, err := client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := "uri=/v2/users/list?page=3 host=a.example.com prefix=/api/users xfh=a.example.com"; err != nil || string(body) != want {
		t.Errorf("upstream saw %q (%v), want %q", body, err, want)
	}
	res := get(t, client(t), srv, "a.example.com", "/api/users/v2")
	if want := "uri=/v2/users host=a.example.com prefix=/api/users xfh=a.example.com"; res.body != want {
		t.Errorf("without the optional group: upstream saw %q, want %q", res.body, want)
	}
}

// TestRewriteTargetURL checks a rewrite-target that is a URL: nginx's
// rewrite then answers 302 there, with the query appended.
func TestRewriteTargetURL(t *testing.T) {
	t.Parallel()
	up := backend(t, echoRequest)
	be := backendOf("rw", []string{addr(up)}, withRewrite(annotations.Rewrite{Target: "https://new.example.com/$1"}))
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{{Host: "old.example.com", UseRegex: true, Paths: []snapshot.Path{
		{Path: "/old/(.*)", Match: snapshot.MatchPrefix, Backend: be},
	}}}}
	_, srv := front(t, Options{}, s)
	res := get(t, noFollow(t), srv, "old.example.com", "/old/page?a=b")
	if res.status != http.StatusFound || res.header.Get("Location") != "https://new.example.com/page?a=b" {
		t.Errorf("GET /old/page?a=b: %d Location %q, want 302 https://new.example.com/page?a=b", res.status, res.header.Get("Location"))
	}
}

// TestUpstreamVhost checks that upstream-vhost is the Host sent upstream
// while X-Forwarded-Host stays the client's (ingress-nginx's upstreamvhost
// e2e test checks the proxy_set_header Host line).
func TestUpstreamVhost(t *testing.T) {
	t.Parallel()
	up := backend(t, echoRequest)
	be := backendOf("vh", []string{addr(up)}, withRewrite(annotations.Rewrite{UpstreamVhost: "upstreamvhost.internal:8080"}))
	_, srv := front(t, Options{}, snap(1, "upstreamvhost.bar.com", be))
	res := get(t, client(t), srv, "upstreamvhost.bar.com", "/x?y")
	if want := "uri=/x?y host=upstreamvhost.internal:8080 prefix= xfh=upstreamvhost.bar.com"; res.body != want {
		t.Errorf("upstream saw %q, want %q", res.body, want)
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
	c := noFollow(t)
	tests := []struct {
		host, path   string
		wantStatus   int
		wantLocation string
	}{
		{"approot.bar.com", "/", http.StatusFound, "http://approot.bar.com/foo"},
		{"approot.bar.com", "/?x=1", http.StatusFound, "http://approot.bar.com/foo"},
		{"approot.bar.com:8080", "/", http.StatusFound, "http://approot.bar.com:8080/foo"},
		{"approot.bar.com", "/foo", http.StatusOK, ""},
		{"approot.bar.com", "/bar", http.StatusNotFound, ""},
		{"other.bar.com", "/", http.StatusNotFound, ""},
	}
	for _, tc := range tests {
		res := get(t, c, srv, tc.host, tc.path)
		if res.err != nil || res.status != tc.wantStatus || res.header.Get("Location") != tc.wantLocation {
			t.Errorf("GET %s%s: %d Location %q (%v), want %d %q", tc.host, tc.path, res.status, res.header.Get("Location"), res.err,
				tc.wantStatus, tc.wantLocation)
		}
		if tc.wantStatus == http.StatusFound && !strings.Contains(res.body, "<title>302 Found</title>") {
			t.Errorf("GET %s%s: body %q, want nginx's 302 page", tc.host, tc.path, res.body)
		}
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
	c := noFollow(t)
	for _, tc := range []struct{ host, path, want string }{
		{"rr.foo.com", "/something", "http://rr.foo.com/new-location"},
		{"RR.foo.com:8080", "/something", "http://rr.foo.com/new-location"},
		{"rr.foo.com", "/port", "http://rr.foo.com:" + listen + "/new-location"},
		{"rr.foo.com", "/relative", "/new-location"},
	} {
		res := get(t, c, srv, tc.host, tc.path)
		if res.status != http.StatusMovedPermanently || res.header.Get("Location") != tc.want {
			t.Errorf("GET %s%s: %d Location %q, want 301 %q", tc.host, tc.path, res.status, res.header.Get("Location"), tc.want)
		}
	}
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
	c := noFollow(t)
	tests := []struct {
		host, path   string
		wantStatus   int
		wantLocation string
	}{
		{"www.fromtowwwredirect.bar.com", "/foo", http.StatusPermanentRedirect, "http://fromtowwwredirect.bar.com:" + port + "/foo"},
		{"WWW.fromtowwwredirect.bar.com:" + port, "/foo/?a=b", http.StatusPermanentRedirect, "http://fromtowwwredirect.bar.com:" + port + "/foo/?a=b"},
		{"www.fromtowwwredirect.bar.com", "/foo/", http.StatusPermanentRedirect, "http://fromtowwwredirect.bar.com:" + port + "/foo"},
		{"www.fromtowwwredirect.bar.com", "/", http.StatusPermanentRedirect, "http://fromtowwwredirect.bar.com:" + port},
		{"fromtowwwredirect.bar.com", "/foo", http.StatusOK, ""},
	}
	for _, tc := range tests {
		res := get(t, c, srv, tc.host, tc.path)
		if res.err != nil || res.status != tc.wantStatus || res.header.Get("Location") != tc.wantLocation {
			t.Errorf("GET %s%s: %d Location %q (%v), want %d %q", tc.host, tc.path, res.status, res.header.Get("Location"), res.err,
				tc.wantStatus, tc.wantLocation)
		}
	}
}

// TestServerAlias follows ingress-nginx's serveralias e2e test: an alias
// is served by its host's server, paths included; a name that is also a
// host stays that host's.
func TestServerAlias(t *testing.T) {
	t.Parallel()
	foo := backend(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("foo " + r.Host)) })
	bar := backend(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("bar " + r.Host)) })
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{
		{Host: "bar.example.com", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: backendOf("bar", []string{addr(bar)})}}},
		{Host: "foo.example.com", Aliases: []string{"alias.example.com", "bar.example.com"},
			Paths: []snapshot.Path{{Path: "/app", Match: snapshot.MatchPrefix, Backend: backendOf("foo", []string{addr(foo)})}}},
	}}
	_, srv := front(t, Options{}, s)
	c := client(t)
	tests := []struct {
		host, path string
		wantStatus int
		wantBody   string
	}{
		{"foo.example.com", "/app", http.StatusOK, "foo foo.example.com"},
		{"Alias.Example.com:80", "/app/x", http.StatusOK, "foo Alias.Example.com:80"},
		{"alias.example.com", "/other", http.StatusNotFound, "404 page not found\n"},
		{"bar.example.com", "/app", http.StatusOK, "bar bar.example.com"},
	}
	for _, tc := range tests {
		res := get(t, c, srv, tc.host, tc.path)
		if res.err != nil || res.status != tc.wantStatus || res.body != tc.wantBody {
			t.Errorf("GET %s%s: %d %q (%v), want %d %q", tc.host, tc.path, res.status, res.body, res.err, tc.wantStatus, tc.wantBody)
		}
	}
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
	c := noFollow(t)
	tests := []struct{ host, path, want string }{
		{"strip.example.com", "/a/", "https://strip.example.com/a"},
		{"strip.example.com", "/", "https://strip.example.com"},
		{"strip.example.com", "/a/?x=1", "https://strip.example.com/a/?x=1"},
		{"keep.example.com", "/a/", "https://keep.example.com:443/a/"},
	}
	for _, tc := range tests {
		res := get(t, c, srv, tc.host, tc.path)
		if res.status != http.StatusPermanentRedirect || res.header.Get("Location") != tc.want {
			t.Errorf("GET %s%s: %d Location %q, want 308 %q", tc.host, tc.path, res.status, res.header.Get("Location"), tc.want)
		}
	}
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
	be.HSTS = "max-age=600"
	gone := backendOf("gone", []string{addr(up)}, withRewrite(annotations.Rewrite{RedirectURL: "https://new.example.com", RedirectCode: 301}))
	gone.HSTS = "max-age=600"
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{{Host: "www.example.com", RedirectFrom: "example.com",
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

package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/h1guard"
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
	srv := rewriteURLFront(t)
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

// TestUpstreamVhostVariables: an upstream-vhost naming the request's
// variables (the build resolved the location's) is expanded per request,
// as nginx evaluates proxy_set_header Host "<value>": $host is the
// request's host lower-cased without its port, $http_<name> a header; one
// that expands to nothing leaves the client's Host. nginx 1.22.1 with
// proxy_set_header Host "web.default.svc-$host.$http_x_tenant" sent the
// first as Weir does; with "$http_x_none" it sent no Host line at all,
// which Weir's transport cannot (README: differs).
func TestUpstreamVhostVariables(t *testing.T) {
	t.Parallel()
	up := backend(t, echoRequest)
	be := backendOf("vh", []string{addr(up)}, withRewrite(annotations.Rewrite{UpstreamVhost: "web.default.svc-${host}.$http_x_tenant"}))
	empty := backendOf("empty", []string{addr(up)}, withRewrite(annotations.Rewrite{UpstreamVhost: "${http_x_none}"}))
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{
		{Host: "vars.example.com", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: be}}},
		{Host: "empty.example.com", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: empty}}},
	}}
	_, srv := front(t, Options{}, s)
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "Vars.Example.com:8080"
	req.Header.Set("X-Tenant", "blue")
	res := send(client(t), req)
	if want := "uri=/x host=web.default.svc-vars.example.com.blue prefix= xfh=Vars.Example.com:8080"; res.body != want {
		t.Errorf("upstream saw %q, want %q", res.body, want)
	}
	res = get(t, client(t), srv, "empty.example.com", "/x")
	if want := "uri=/x host=empty.example.com prefix= xfh=empty.example.com"; res.body != want {
		t.Errorf("upstream saw %q, want %q", res.body, want)
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
		{"alias.example.com", "/other", http.StatusNotFound, h1guard.ErrorPage(404)},
		{"bar.example.com", "/app", http.StatusOK, "bar bar.example.com"},
	}
	for _, tc := range tests {
		res := get(t, c, srv, tc.host, tc.path)
		if res.err != nil || res.status != tc.wantStatus || res.body != tc.wantBody {
			t.Errorf("GET %s%s: %d %q (%v), want %d %q", tc.host, tc.path, res.status, res.body, res.err, tc.wantStatus, tc.wantBody)
		}
	}
}

// rewriteURLFront serves old.example.com's regex path /old/(.*) with the
// rewrite-target https://new.example.com/$1.
func rewriteURLFront(t *testing.T) *httptest.Server {
	t.Helper()
	up := backend(t, echoRequest)
	be := backendOf("rw", []string{addr(up)}, withRewrite(annotations.Rewrite{Target: "https://new.example.com/$1"}))
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{{Host: "old.example.com", UseRegex: true, Paths: []snapshot.Path{
		{Path: "/old/(.*)", Match: snapshot.MatchPrefix, Backend: be},
	}}}}
	_, srv := front(t, Options{}, s)
	return srv
}

// TestRewriteTargetURLEscapes: the groups of a rewrite to a URL come from
// the decoded path; when the client's path had a %-escape or a '+', they
// are escaped as nginx 1.22 escapes them (each want read off nginx with
// the same rewrite), so that no control byte, space or quote of a decoded
// path reaches the Location; a path without either is copied as it is.
func TestRewriteTargetURLEscapes(t *testing.T) {
	t.Parallel()
	srv := rewriteURLFront(t)
	for _, tc := range []struct{ target, want string }{
		{"/old/a%0d%0aSet-Cookie:%20x=1", "https://new.example.com/a%0D"},
		{"/old/a%01b%7fc", "https://new.example.com/a%01b%7Fc"},
		{"/old/a%20b%22c", "https://new.example.com/a%20b%22c"},
		{"/old/%c3%a9", "https://new.example.com/%C3%A9"},
		{"/old/a%25b", "https://new.example.com/a%25b"},
		{"/old/a%26b%3bc%2bd%3fe%23f%22g%27h%3ci%3ej%7bk%5cl%5em%60n%7co%7dp%24q%2cr%3as%40t%3du%21v%28w%2ax%5by%7ez",
			"https://new.example.com/a&b;c+d?e%23f%22g'h%3Ci%3Ej%7Bk%5Cl%5Em%60n%7Co%7Dp$q,r:s@t=u!v(w*x[y~z"},
		{`/old/a+b"c`, "https://new.example.com/a+b%22c"},
		{`/old/a"b{c}`, `https://new.example.com/a"b{c}`},
		{"/old/x%3fy?q=%0d", "https://new.example.com/x?y?q=%0d"},
	} {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: old.example.com\r\nConnection: close\r\n\r\n", tc.target)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err != nil {
			t.Errorf("GET %s: %v", tc.target, err)
			continue
		}
		resp.Body.Close()
		if got := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || got != tc.want {
			t.Errorf("GET %s: %d Location %q, want 302 %q", tc.target, resp.StatusCode, got, tc.want)
		}
	}
}

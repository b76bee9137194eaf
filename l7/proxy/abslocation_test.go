package proxy

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/h1server"
	"github.com/weir-lb/weir/l7/h1server/h1servertest"
	"github.com/weir-lb/weir/l7/router"
	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// absHead sends raw to addr and returns the response head's field lines,
// without Date, in the order they came.
func absHead(tb testing.TB, addr, raw string) []string {
	tb.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		tb.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		tb.Fatalf("write: %v", err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		tb.Fatalf("read: %v", err)
	}
	head, _, _ := strings.Cut(string(b), "\r\n\r\n")
	var lines []string
	for _, l := range strings.Split(head, "\r\n")[1:] {
		if !strings.HasPrefix(l, "Date: ") {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestLocationMadeAbsolute: a Location whose target starts with "/" is
// made absolute as nginx's header filter does under absolute_redirect
// (ingress-nginx's default), and written, as nginx writes it, after
// Content-Length and before Connection: the target of a
// permanent-redirect to a path, of the redirect of a Prefix path that
// ended in "/", and an endpoint's Location that proxy-redirect-from/-to
// rewrote to a path (nginx 1.22.1 answered proxy_redirect
// http://up.test/ / of "http://up.test/foo" with "Location:
// http://pr.test/foo" there). Under relative-redirects it stays a path;
// an endpoint's "/" Location that no rule rewrote is relayed as it came,
// among the endpoint's fields. A request without Host gets the local
// address.
func TestLocationMadeAbsolute(t *testing.T) {
	t.Parallel()
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Before", "1")
		w.Header().Set("Location", r.URL.Query().Get("u"))
		w.WriteHeader(http.StatusFound)
	})
	eps := []string{addr(up)}
	redirect := func(rw annotations.Rewrite) func(*annotations.Proxy) {
		return func(p *annotations.Proxy) {
			p.Rewrite = &rw
			p.Upstream = &annotations.Upstream{RedirectFrom: "http://up.test/", RedirectTo: "/"}
		}
	}
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{
		{Host: "pr.test", Paths: []snapshot.Path{
			{Path: "/to-path", Match: snapshot.MatchPrefix, Backend: backendOf("to", eps, withRewrite(annotations.Rewrite{RedirectURL: "/new", RedirectCode: 301}))},
			{Path: "/dir", Match: snapshot.MatchPrefix, SlashRedirect: true, Backend: backendOf("dir", eps)},
			{Path: "/", Match: snapshot.MatchPrefix, Backend: backendOf("up", eps, redirect(annotations.Rewrite{}))},
		}},
		{Host: "", Paths: []snapshot.Path{
			{Path: "/", Match: snapshot.MatchPrefix, Backend: backendOf("any", eps, withRewrite(annotations.Rewrite{RedirectURL: "/new", RedirectCode: 301}))},
		}},
		{Host: "rel.test", Paths: []snapshot.Path{
			{Path: "/", Match: snapshot.MatchPrefix, Backend: backendOf("rel", eps, redirect(annotations.Rewrite{RelativeRedirects: true}))},
		}},
	}}
	_, srv := front(t, Options{}, s)
	ordered := h1servertest.Kind() != h1server.KindNet // net/http writes its fields by name
	const page = "Content-Length: 162"
	for _, tc := range []struct {
		host, path string
		want       []string // in order when ordered
	}{
		// HTTP/1.0 without Host: the local address (nginx 1.22.1 wrote
		// "http://127.0.0.1/new-location").
		{"", "/any", []string{"Content-Type: text/html", page, "Location: http://127.0.0.1/new", "Connection: close"}},
		{"pr.test", "/to-path?x=1", []string{"Content-Type: text/html", page, "Location: http://pr.test/new", "Connection: close"}},
		{"Pr.Test:8080", "/dir?x=1", []string{"Content-Type: text/html", page, "Location: http://pr.test/dir/?x=1", "Connection: close"}},
		{"pr.test", "/loc?u=http://up.test/foo%3Fa", []string{"Content-Length: 0", "Location: http://pr.test/foo?a", "Connection: close", "X-Before: 1"}},
		{"pr.test", "/loc?u=/own", []string{"Content-Length: 0", "Connection: close", "Location: /own", "X-Before: 1"}},
		{"rel.test", "/loc?u=http://up.test/foo", []string{"Content-Length: 0", "Connection: close", "Location: /foo", "X-Before: 1"}},
	} {
		req := "GET " + tc.path + " HTTP/1.0\r\n\r\n"
		if tc.host != "" {
			req = "GET " + tc.path + " HTTP/1.1\r\nHost: " + tc.host + "\r\nConnection: close\r\n\r\n"
		}
		got := absHead(t, addr(srv), req)
		var fields []string
		for _, l := range got {
			for _, w := range tc.want {
				if l == w {
					fields = append(fields, l)
				}
			}
		}
		if !ordered { // only the Location's value
			for _, w := range tc.want {
				if strings.HasPrefix(w, "Location: ") && !strings.Contains(strings.Join(got, "\n"), w) {
					t.Errorf("%s%s: head %q lacks %q", tc.host, tc.path, got, w)
				}
			}
			continue
		}
		if strings.Join(fields, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s%s: head %q, want these fields in this order: %q", tc.host, tc.path, got, tc.want)
		}
	}
}

// TestLocationListsMatchLocationPaths: no-tls-redirect-locations and
// no-auth-locations are matched, as ingress-nginx's
// isLocationInLocationList, against the path of the nginx location that
// serves the request: a Prefix rule "/check" is the locations "= /check"
// and "/check/" (updateServerLocations), so an entry "/check/" lifts the
// redirect of "/check/x" and "/check/", not of "/check"; a rule "/dir/"
// is the location "/dir/" for all its requests.
func TestLocationListsMatchLocationPaths(t *testing.T) {
	t.Parallel()
	g := compileGlobal(annotations.Global{NoTLSRedirectLocations: []string{"/check/", "/dir/"}, NoAuthLocations: []string{"/check/"}})
	prefix := &router.Route{Path: "/check", Match: snapshot.MatchPrefix}
	slashed := &router.Route{Path: "/dir", Match: snapshot.MatchPrefix, SlashRedirect: true}
	exact := &router.Route{Path: "/check", Match: snapshot.MatchExact}
	root := &router.Route{Path: "/", Match: snapshot.MatchPrefix}
	for _, tc := range []struct {
		route *router.Route
		path  string
		want  bool
	}{
		{prefix, "/check", false},
		{prefix, "/check/", true},
		{prefix, "/check/x", true},
		{slashed, "/dir/", true},
		{slashed, "/dir/x", true},
		{exact, "/check", false},
		{root, "/check/x", false},
	} {
		if got := g.noTLSRedirect(tc.route, tc.path); got != tc.want {
			t.Errorf("noTLSRedirect(%s %q, %q) = %v, want %v", tc.route.Match, tc.route.Path, tc.path, got, tc.want)
		}
		if tc.route != slashed {
			if got := g.noAuth(tc.route, tc.path); got != tc.want {
				t.Errorf("noAuth(%s %q, %q) = %v, want %v", tc.route.Match, tc.route.Path, tc.path, got, tc.want)
			}
		}
	}
	// The default list, nil: "/.well-known/acme-challenge".
	d := compileGlobal(annotations.Global{})
	if !d.noTLSRedirect(&router.Route{Path: "/.well-known/acme-challenge", Match: snapshot.MatchPrefix}, "/.well-known/acme-challenge/t") {
		t.Error("default no-tls-redirect-locations: the ACME challenge path is redirected")
	}
}

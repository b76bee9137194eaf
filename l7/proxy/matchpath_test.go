package proxy

import (
	"net/http"
	"testing"

	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// Not parallel: testing.AllocsPerRun refuses to run in a parallel test.
func TestMatchPath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"/a/b", "/a/b"},
		{"/a/b/", "/a/b/"},
		{"/x/../admin", "/admin"},
		{"//admin", "/admin"},
		{"/a//b/", "/a/b/"},
		{"/./a", "/a"},
		{"/a/.", "/a/"},
		{"/a/..", "/"},
		{"/a/b/..", "/a/"},
		{"/a/b//.", "/a/b/"},
		{"/a/b/%2e", "/a/b/%2e"},
		{"/../../etc", "/etc"},
		{"/.well-known/acme-challenge/../../login", "/login"},
		{"/a/.b/..c", "/a/.b/..c"},
		{"admin", "/admin"},
	} {
		if got := matchPath(tc.in); got != tc.want {
			t.Errorf("matchPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { matchPath("/api/v1/users/42") }); n != 0 {
		t.Errorf("a clean path allocates %v times, want 0", n)
	}
}

// TestFragmentNotRouted checks that a raw '#' ends the path a request is
// routed and rewritten by, as nginx 1.22.1 ends $uri there (recorded: it
// sent "/exact#f" to "= /exact" as "/exact#f", and rewrote
// "/something/a/b#f" to "/a/b"), while an escaped "%23" stays in the path.
func TestFragmentNotRouted(t *testing.T) {
	t.Parallel()
	named := func(svc string, opts ...func(*annotations.Proxy)) snapshot.Backend {
		up := backend(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(svc + " " + r.RequestURI)) })
		return backendOf(svc, []string{addr(up)}, opts...)
	}
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{
		{Host: "plain.test", Paths: []snapshot.Path{
			{Path: "/exact", Match: snapshot.MatchExact, Backend: named("exact")},
			{Path: "/", Match: snapshot.MatchPrefix, Backend: named("root")},
		}},
		{Host: "rw.test", UseRegex: true, Paths: []snapshot.Path{
			{Path: "/something(/|$)(.*)", Match: snapshot.MatchPrefix, Backend: named("rw", withRewrite(annotations.Rewrite{Target: "/$2"}))},
		}},
	}}
	_, srv := front(t, Options{}, s)
	checkGets(t, addr(srv), []getCase{
		{"plain.test", "/exact#f", "exact /exact#f"},
		{"plain.test", "/exact#f?q=1", "exact /exact#f?q=1"},
		{"plain.test", "/exact%23f", "root /exact%23f"},
		{"plain.test", "http://plain.test/exact#f", "exact /exact#f"},
		{"rw.test", "/something/a/b#f", "rw /a/b"},
		{"rw.test", "/something/a%23b#f?x=1", "rw /a%23b?x=1"},
	})
}

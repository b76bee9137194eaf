package router

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/weir-lb/weir/userspace/snapshot"
)

// be returns a Backend whose service name identifies it in test results.
func be(name string, endpoints ...string) snapshot.Backend {
	return snapshot.Backend{
		Ingress:   snapshot.ObjectRef{Kind: "Ingress", Namespace: "ns", Name: "ing-" + name},
		Service:   name,
		Port:      "80",
		Endpoints: endpoints,
	}
}

func prefix(p, svc string) snapshot.Path {
	return snapshot.Path{Path: p, Match: snapshot.MatchPrefix, Backend: be(svc, "10.0.0.1:80")}
}

func exact(p, svc string) snapshot.Path {
	return snapshot.Path{Path: p, Match: snapshot.MatchExact, Backend: be(svc, "10.0.0.1:80")}
}

func regex(p, svc string) snapshot.Path {
	return snapshot.Path{Path: p, Match: snapshot.MatchRegex, Backend: be(svc, "10.0.0.1:80")}
}

func mustCompile(tb testing.TB, s *snapshot.Snapshot, prev *Router) *Router {
	tb.Helper()
	r, err := Compile(s, prev)
	if err != nil {
		tb.Fatalf("Compile: %v", err)
	}
	return r
}

// got is what a match is compared on: the service of the backend, the rule
// and the server host ("" and false when nothing matched).
type got struct {
	Service string
	Host    string
	Path    string
	Default bool
	OK      bool
}

func matchOf(r *Router, host, path string) got {
	rt, ok := r.Match(host, path)
	if !ok {
		return got{}
	}
	return got{Service: rt.Backend.Service, Host: rt.Host, Path: rt.Path, Default: rt.Default, OK: true}
}

func TestMatchHosts(t *testing.T) {
	t.Parallel()
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{
		{Host: "foo.com", Paths: []snapshot.Path{prefix("/", "foo")}},
		{Host: "bar.foo.com", Paths: []snapshot.Path{prefix("/api", "bar-api")}},
		{Host: "::1", Paths: []snapshot.Path{prefix("/", "v6")}},
		{Host: "*.foo.com", Paths: []snapshot.Path{prefix("/", "wild")}},
		{Host: "*.bar.foo.com", Paths: []snapshot.Path{prefix("/", "wild-bar")}},
		{Host: "", Paths: []snapshot.Path{prefix("/any", "any")}},
	}}
	r := mustCompile(t, s, nil)
	for _, tc := range []struct {
		host, path string
		want       got
	}{
		{"foo.com", "/", got{Service: "foo", Host: "foo.com", Path: "/", OK: true}},
		{"FOO.com", "/x", got{Service: "foo", Host: "foo.com", Path: "/", OK: true}},
		{"foo.com:8080", "/x", got{Service: "foo", Host: "foo.com", Path: "/", OK: true}},
		{"foo.com.", "/x", got{Service: "foo", Host: "foo.com", Path: "/", OK: true}},
		{"[::1]:80", "/", got{Service: "v6", Host: "::1", Path: "/", OK: true}},
		{"[::1]", "/", got{Service: "v6", Host: "::1", Path: "/", OK: true}},
		{"::1", "/", got{Service: "v6", Host: "::1", Path: "/", OK: true}},
		// The exact server wins over the wildcard, and only its paths are
		// tried: /other does not fall through to *.foo.com or the any-host server.
		{"bar.foo.com", "/api/v1", got{Service: "bar-api", Host: "bar.foo.com", Path: "/api", OK: true}},
		{"bar.foo.com", "/other", got{}},
		{"baz.foo.com", "/x", got{Service: "wild", Host: "*.foo.com", Path: "/", OK: true}},
		{"Baz.Foo.Com:443", "/x", got{Service: "wild", Host: "*.foo.com", Path: "/", OK: true}},
		// A wildcard matches exactly one label.
		{"a.bar.foo.com", "/", got{Service: "wild-bar", Host: "*.bar.foo.com", Path: "/", OK: true}},
		{"a.baz.foo.com", "/any", got{Service: "any", Path: "/any", OK: true}},
		{".foo.com", "/any", got{Service: "any", Path: "/any", OK: true}},
		{"oo.com", "/any", got{Service: "any", Path: "/any", OK: true}},
		{"other.org", "/any/thing", got{Service: "any", Path: "/any", OK: true}},
		{"other.org", "/", got{}},
		{"", "/any", got{Service: "any", Path: "/any", OK: true}},
	} {
		t.Run(tc.host+tc.path, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, matchOf(r, tc.host, tc.path)); diff != "" {
				t.Errorf("Match(%q, %q) (-want +got):\n%s", tc.host, tc.path, diff)
			}
		})
	}
}

func TestMatchWildcardWithoutAnyHost(t *testing.T) {
	t.Parallel()
	s := &snapshot.Snapshot{Servers: []snapshot.Server{
		{Host: "*.foo.com", Paths: []snapshot.Path{prefix("/", "wild")}},
	}}
	r := mustCompile(t, s, nil)
	for _, tc := range []struct {
		host string
		want bool
	}{
		{"bar.foo.com", true},
		{"baz.bar.foo.com", false},
		{"foo.com", false},
		{"barfoo.com", false},
	} {
		if _, ok := r.Match(tc.host, "/"); ok != tc.want {
			t.Errorf("Match(%q) ok = %v, want %v", tc.host, ok, tc.want)
		}
	}
}

func TestMatchPaths(t *testing.T) {
	t.Parallel()
	// Paths in the builder's order: longest first, Exact before Prefix.
	s := &snapshot.Snapshot{Servers: []snapshot.Server{{Host: "foo.com", Paths: []snapshot.Path{
		exact("/aaa/bbb/exact", "exact"),
		prefix("/aaa/bbb", "ab"),
		exact("/aaa", "aaa-exact"),
		prefix("/aaa", "aaa"),
		prefix("/x/", "x"), // stored with a trailing slash: treated as "/x"
		prefix("/", "root"),
	}}}}
	r := mustCompile(t, s, nil)
	for _, tc := range []struct {
		path string
		want string
	}{
		{"/aaa/bbb/exact", "exact"},
		{"/aaa/bbb/exact/", "ab"},
		{"/aaa/bbb/Exact", "ab"},
		{"/aaa/bbb", "ab"},
		{"/aaa/bbb/", "ab"},
		{"/aaa/bbb/ccc", "ab"},
		{"/aaa/bbbxyz", "aaa"},
		{"/aaa", "aaa-exact"},
		{"/aaa/", "aaa"},
		{"/AAA", "root"},
		{"/aaaa", "root"},
		{"/x", "x"},
		{"/x/y", "x"},
		{"/xy", "root"},
		{"/", "root"},
		{"", "root"},
		{"/anything/else", "root"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, matchOf(r, "foo.com", tc.path).Service); diff != "" {
				t.Errorf("Match(%q) (-want +got):\n%s", tc.path, diff)
			}
		})
	}
}

func TestMatchRegex(t *testing.T) {
	t.Parallel()
	s := &snapshot.Snapshot{Servers: []snapshot.Server{
		{Host: "re.com", UseRegex: true, Paths: []snapshot.Path{
			exact("/exact", "exact"),
			regex("/api/v[0-9]+/users", "users"),
			regex("/api/.*", "api"),
			// A Prefix path in a use-regex server is a regex too.
			prefix("/st", "st"),
		}},
		{Host: "plain.com", Paths: []snapshot.Path{
			regex("/img/[a-z]+\\.png$", "png"),
		}},
	}}
	r := mustCompile(t, s, nil)
	for _, tc := range []struct {
		host, path string
		want       string
	}{
		// An Exact path of a use-regex server is an expression too, as
		// ingress-nginx renders it (~* "^/exact"): nginx 1.22.1 sent
		// "/EXACT", "/exactx" and "/exact/x" to it (routediff).
		{"re.com", "/exact", "exact"},
		{"re.com", "/EXACT", "exact"},
		{"re.com", "/exactx", "exact"},
		{"re.com", "/exact/x", "exact"},
		{"re.com", "/api/v2/users", "users"},
		{"re.com", "/API/V2/Users/7", "users"},
		{"re.com", "/api/vx/users", "api"},
		{"re.com", "/x/api/v2/users", ""}, // anchored at the start
		{"re.com", "/static", "st"},
		{"re.com", "/STATIC", "st"},
		{"plain.com", "/img/cat.png", "png"},
		{"plain.com", "/img/cat.png?x", ""},
		{"plain.com", "/img/cat.pngx", ""},
	} {
		t.Run(tc.host+tc.path, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, matchOf(r, tc.host, tc.path).Service); diff != "" {
				t.Errorf("Match(%q, %q) (-want +got):\n%s", tc.host, tc.path, diff)
			}
		})
	}
}

func TestMatchDefaultBackend(t *testing.T) {
	t.Parallel()
	def := be("default", "10.0.0.9:80")
	s := &snapshot.Snapshot{
		Servers: []snapshot.Server{
			{Host: "foo.com", Paths: []snapshot.Path{prefix("/app", "app")}},
		},
		DefaultBackend: &def,
	}
	r := mustCompile(t, s, nil)
	for _, tc := range []struct {
		host, path string
		want       got
	}{
		{"foo.com", "/app", got{Service: "app", Host: "foo.com", Path: "/app", OK: true}},
		{"foo.com", "/", got{Service: "default", Default: true, OK: true}},
		{"other.com", "/app", got{Service: "default", Default: true, OK: true}},
	} {
		if diff := cmp.Diff(tc.want, matchOf(r, tc.host, tc.path)); diff != "" {
			t.Errorf("Match(%q, %q) (-want +got):\n%s", tc.host, tc.path, diff)
		}
	}
	empty := mustCompile(t, &snapshot.Snapshot{}, nil)
	if rt, ok := empty.Match("foo.com", "/"); ok {
		t.Errorf("empty snapshot matched %+v", rt)
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		s    *snapshot.Snapshot
		want string
	}{
		{"nil", nil, "nil snapshot"},
		{"bad regex", &snapshot.Snapshot{Servers: []snapshot.Server{{Host: "a.com", Paths: []snapshot.Path{regex("/(", "x")}}}}, `host "a.com" path "/("`},
		{"unknown match", &snapshot.Snapshot{Servers: []snapshot.Server{{Host: "a.com", Paths: []snapshot.Path{{Path: "/", Match: "Fuzzy"}}}}}, `unknown match type "Fuzzy"`},
		{"duplicate host", &snapshot.Snapshot{Servers: []snapshot.Server{{Host: "a.com"}, {Host: "A.com"}}}, `duplicate server "A.com"`},
		{"duplicate any", &snapshot.Snapshot{Servers: []snapshot.Server{{Host: ""}, {Host: ""}}}, "duplicate any-host server"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Compile(tc.s, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Compile error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestNormalizeHost(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"foo.com":         "foo.com",
		"FOO.com:80":      "foo.com",
		"foo.com.":        "foo.com",
		"foo.com.:443":    "foo.com",
		"[::1]:80":        "::1",
		"[::1]":           "::1",
		"[2001:DB8::1]:8": "2001:db8::1",
		"2001:db8::1":     "2001:db8::1",
		"10.0.0.1:8080":   "10.0.0.1",
		"foo.com:":        "foo.com",
		"":                "",
		".":               "",
		"a-b.example.com": "a-b.example.com",
		"Foo.com":         "foo.com",
		"foo_bar.com":     "foo_bar.com",
		"ÜBER.com":        "über.com",
		"10.0.0.1":        "10.0.0.1",
	} {
		if got := NormalizeHost(in); got != want {
			t.Errorf("NormalizeHost(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzNormalHost: a host normalHost lets NormalizeHost return as it is
// would be returned as it is by the full normalisation too.
func FuzzNormalHost(f *testing.F) {
	for _, s := range []string{"foo.com", "foo.com.", "FOO.com", "[::1]:80", "a-1.b", "", ".", "x:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		if normalHost(host) && normalizeHost(host) != host {
			t.Errorf("normalHost(%q) but the full normalisation gives %q", host, normalizeHost(host))
		}
		_, name := (&Router{}).LookupName(host)
		if got, want := HostVarOf(host, name), HostVar(host); got != want {
			t.Errorf("HostVarOf(%q, LookupName's %q) = %q, HostVar gives %q", host, name, got, want)
		}
	})
}

func TestPoolsShared(t *testing.T) {
	t.Parallel()
	shared := be("svc", "10.0.0.1:80", "10.0.0.2:80")
	other := be("svc", "10.0.0.1:80")
	s := &snapshot.Snapshot{Servers: []snapshot.Server{
		{Host: "a.com", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: shared}}},
		{Host: "b.com", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: shared}}},
		{Host: "c.com", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: other}}},
	}}
	r := mustCompile(t, s, nil)
	a, _ := r.Match("a.com", "/")
	b, _ := r.Match("b.com", "/")
	c, _ := r.Match("c.com", "/")
	if a.Pool != b.Pool {
		t.Errorf("same backend got two pools: %q and %q", a.Pool.Key(), b.Pool.Key())
	}
	if a.Pool == c.Pool {
		t.Errorf("different endpoint lists share pool %q", a.Pool.Key())
	}
	// The same address is one Upstream across pools.
	if a.Pool.Upstreams()[0] != c.Pool.Upstreams()[0] {
		t.Errorf("address 10.0.0.1:80 has two Upstream objects")
	}
}

func TestUpstreamsOutliveSwap(t *testing.T) {
	t.Parallel()
	s1 := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{
		{Host: "a.com", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: be("svc", "10.0.0.1:80", "10.0.0.2:80")}}},
	}}
	s2 := &snapshot.Snapshot{Version: 2, Servers: []snapshot.Server{
		{Host: "b.com", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: be("other", "10.0.0.2:80", "10.0.0.3:80")}}},
	}}
	r1 := mustCompile(t, s1, nil)
	r1.Upstream("10.0.0.2:80").InFlight.Add(3)
	r2 := mustCompile(t, s2, r1)
	if got := r2.Upstream("10.0.0.2:80"); got != r1.Upstream("10.0.0.2:80") || got.InFlight.Load() != 3 {
		t.Errorf("10.0.0.2:80 not carried over: %p vs %p", got, r1.Upstream("10.0.0.2:80"))
	}
	if r2.Upstream("10.0.0.1:80") != nil {
		t.Errorf("10.0.0.1:80 is not in snapshot 2 but has state")
	}
	if r2.Upstream("10.0.0.3:80") == nil {
		t.Errorf("10.0.0.3:80 has no state")
	}
	if r2.Version() != 2 || r2.Snapshot() != s2 {
		t.Errorf("Version = %d, want 2", r2.Version())
	}
}

func TestRoundRobin(t *testing.T) {
	t.Parallel()
	ups := []*Upstream{{Addr: "a"}, {Addr: "b"}, {Addr: "c"}}
	rr := NewRoundRobin(ups)
	var seq []string
	for range 7 {
		u, ok := rr.Next(anyUpstream)
		if !ok {
			t.Fatal("Next reported no upstream")
		}
		seq = append(seq, u.Addr)
	}
	if diff := cmp.Diff([]string{"a", "b", "c", "a", "b", "c", "a"}, seq); diff != "" {
		t.Errorf("sequence (-want +got):\n%s", diff)
	}
	if u, ok := NewRoundRobin(nil).Next(anyUpstream); ok {
		t.Errorf("empty RoundRobin returned %v", u)
	}
	if u, ok := (&RoundRobin{}).Next(anyUpstream); ok {
		t.Errorf("zero RoundRobin returned %v", u)
	}
}

func TestRoundRobinConcurrentEven(t *testing.T) {
	t.Parallel()
	ups := []*Upstream{{Addr: "a"}, {Addr: "b"}, {Addr: "c"}, {Addr: "d"}}
	rr := NewRoundRobin(ups)
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			local := map[string]int{}
			for range 1000 {
				u, _ := rr.Next(anyUpstream)
				local[u.Addr]++
			}
			mu.Lock()
			defer mu.Unlock()
			for k, v := range local {
				counts[k] += v
			}
		})
	}
	wg.Wait()
	want := map[string]int{"a": 2000, "b": 2000, "c": 2000, "d": 2000}
	if diff := cmp.Diff(want, counts); diff != "" {
		t.Errorf("distribution (-want +got):\n%s", diff)
	}
}

func BenchmarkMatch(b *testing.B) {
	var servers []snapshot.Server
	for i := range 1000 {
		servers = append(servers, snapshot.Server{Host: fmt.Sprintf("host%d.example.com", i), Paths: []snapshot.Path{
			prefix("/api/v1", "api"), prefix("/", "root"),
		}})
	}
	r := mustCompile(b, &snapshot.Snapshot{Servers: servers}, nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := r.Match("Host500.example.com:80", "/api/v1/users"); !ok {
			b.Fatal("no match")
		}
	}
}

// TestNextExceptTried: a retry passes over the upstreams tried, and only
// those: no upstream is taken out of rotation for failing (ingress-nginx's
// balancers have no passive health check).
func TestNextExceptTried(t *testing.T) {
	t.Parallel()
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{
		{Host: "a.com", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: be("svc", "10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80")}}},
	}}
	rt, _ := mustCompile(t, s, nil).Match("a.com", "/")
	picks := func(tried ...*Upstream) map[string]int {
		got := map[string]int{}
		for range 6 {
			if u, ok := rt.Pool.NextExcept(tried); ok {
				got[u.Addr]++
			}
		}
		return got
	}
	if diff := cmp.Diff(map[string]int{"10.0.0.1:80": 2, "10.0.0.2:80": 2, "10.0.0.3:80": 2}, picks()); diff != "" {
		t.Errorf("nothing tried (-want +got):\n%s", diff)
	}
	ups := rt.Pool.Upstreams()
	if diff := cmp.Diff(map[string]int{"10.0.0.2:80": 6}, picks(ups[0], ups[2])); diff != "" {
		t.Errorf("after trying 10.0.0.1:80 and 10.0.0.3:80 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{}, picks(ups...)); diff != "" {
		t.Errorf("after trying all (-want +got):\n%s", diff)
	}
}

// TestSSLRedirectByRequestHost checks that a route's ssl-redirect holds
// for its Server's host and aliases but those of NoTLSAliases, exact or
// wildcard, where only force-ssl-redirect does; a host of its own under a
// wildcard alias without a certificate keeps its redirect.
func TestSSLRedirectByRequestHost(t *testing.T) {
	t.Parallel()
	redirect := prefix("/", "a")
	redirect.Backend.SSLRedirect = true
	forced := prefix("/", "f")
	forced.Backend.SSLRedirect, forced.Backend.ForceSSLRedirect = true, true
	r := mustCompile(t, &snapshot.Snapshot{Servers: []snapshot.Server{
		{Host: "a.test", Aliases: []string{"*.wild.test", "tls.test", "x.test"}, NoTLSAliases: []string{"*.wild.test", "x.test"},
			Paths: []snapshot.Path{redirect}},
		{Host: "f.test", Aliases: []string{"y.test"}, NoTLSAliases: []string{"y.test"}, Paths: []snapshot.Path{forced}},
		{Host: "own.wild.test", Paths: []snapshot.Path{redirect}},
		{Host: "t.test", Aliases: []string{"*.tame.test"}, Paths: []snapshot.Path{redirect}},
	}}, nil)
	for host, want := range map[string]bool{
		"a.test": true, "A.Test:80": true, "tls.test": true, "x.test": false, "X.TEST.": false,
		"q.wild.test": false, "own.wild.test": true, "f.test": true, "y.test": true,
		// A wildcard alias matches at any depth (nginx's wildcard name), but
		// certificate.lua finds a certificate one label up only.
		"q.tame.test": true, "p.q.tame.test": false,
	} {
		route, ok := r.Match(host, "/")
		if !ok {
			t.Fatalf("%s: no route", host)
		}
		if got := r.SSLRedirect(host, route); got != want {
			t.Errorf("SSLRedirect(%q) = %v, want %v", host, got, want)
		}
	}
}

// TestPoolOfDefaultUpstream: a host's root location of
// upstream-default-backend (Backend.DefaultUpstream) is served by the
// Snapshot's DefaultService, looked up per request, so a reused server
// follows that Service's endpoints; without one there is no pool (Weir's
// 404); it takes no ssl-passthrough connection.
func TestPoolOfDefaultUpstream(t *testing.T) {
	t.Parallel()
	root := snapshot.Path{Path: "/", Match: snapshot.MatchPrefix, Backend: snapshot.Backend{
		Ingress: snapshot.ObjectRef{Kind: "Ingress", Namespace: "ns", Name: "first"}, Endpoints: []string{}, DefaultUpstream: true}}
	srv := snapshot.Server{Host: "foo.com", Paths: []snapshot.Path{prefix("/app", "app"), root}, TLS: &snapshot.ServerTLS{Passthrough: true}}
	snap := func(def ...string) *snapshot.Snapshot {
		s := &snapshot.Snapshot{Servers: []snapshot.Server{srv}}
		if len(def) > 0 {
			d := be("deflt", def...)
			s.DefaultService = &d
		}
		return s
	}
	next := func(r *Router, path string) string {
		t.Helper()
		rt, ok := r.Match("foo.com", path)
		if !ok {
			t.Fatalf("no match for %s", path)
		}
		p := r.PoolOf(rt)
		if p == nil {
			return "none"
		}
		u, ok := p.Next()
		if !ok {
			return "empty"
		}
		return u.Addr
	}
	r := mustCompile(t, snap(), nil)
	if got := next(r, "/other"); got != "none" {
		t.Errorf("without a default Service: root served by %s, want no pool", got)
	}
	if got := next(r, "/app"); got != "10.0.0.1:80" {
		t.Errorf("/app served by %s, want its own pool", got)
	}
	if rt := r.Passthrough("foo.com"); rt != nil {
		t.Errorf("passthrough to %+v, want none for a root of upstream-default-backend", rt.Backend)
	}
	r = mustCompile(t, snap("10.0.0.9:80"), r)
	if got := next(r, "/other"); got != "10.0.0.9:80" {
		t.Errorf("with a default Service: root served by %s", got)
	}
	r = mustCompile(t, snap("10.0.0.8:80"), r)
	if got := next(r, "/other"); got != "10.0.0.8:80" {
		t.Errorf("the default Service's endpoints changed: root served by %s", got)
	}
}

// TestServerName checks the server_name of the server a name (an SNI name)
// finds: exact, wildcard, the any-host server's "_".
func TestServerName(t *testing.T) {
	t.Parallel()
	r := mustCompile(t, &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{
		{Host: "a.test", Paths: []snapshot.Path{prefix("/", "a")}},
		{Host: "*.w.test", Paths: []snapshot.Path{prefix("/", "w")}},
		{Host: "", Paths: []snapshot.Path{prefix("/", "any")}},
	}}, nil)
	for name, want := range map[string]string{"A.test": "a.test", "x.w.test": "*.w.test", "w.test": "_", "b.test": "_"} {
		if got := r.Lookup(name).ServerName(); got != want {
			t.Errorf("Lookup(%q).ServerName() = %q, want %q", name, got, want)
		}
	}
}

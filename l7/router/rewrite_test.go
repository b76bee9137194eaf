package router

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// TestServerNames checks that aliases are served by their host's server,
// never over a host, that a www redirect name and app-root are reported by
// HostLevel, and that all of it holds for a Router reusing its
// predecessor's servers.
func TestServerNames(t *testing.T) {
	t.Parallel()
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{
		{Host: "bar.com", Paths: []snapshot.Path{prefix("/", "bar")}},
		{Host: "foo.com", Aliases: []string{"alias.com", "bar.com"}, AppRoot: "/app", RedirectFrom: "www.foo.com",
			Paths: []snapshot.Path{prefix("/", "foo")}},
		{Host: "*.wild.com", Aliases: []string{"*.feral.com", "tame.com"}, Paths: []snapshot.Path{prefix("/", "wild")}},
		{Host: "*.bar.com", Paths: []snapshot.Path{prefix("/", "anybar")}},
		{Host: "zed.com", Aliases: []string{"*.bar.com"}, Paths: []snapshot.Path{prefix("/", "zed")}},
		// nginx tries wildcard names (aliases) before the regular
		// expressions ingress-nginx writes for wildcard hosts.
		{Host: "*.x.feral.com", Paths: []snapshot.Path{prefix("/", "xferal")}},
	}}
	r := mustCompile(t, s, nil)
	for i, rt := range []*Router{r, mustCompile(t, s, r)} {
		for _, tc := range []struct{ host, svc string }{
			{"alias.com", "foo"}, {"ALIAS.com:8080", "foo"}, {"bar.com", "bar"}, {"tame.com", "wild"},
			{"a.feral.com", "wild"}, {"a.b.feral.com", "wild"}, {"a.x.feral.com", "wild"}, {"x.bar.com", "anybar"},
		} {
			if g := matchOf(rt, tc.host, "/x"); g.Service != tc.svc {
				t.Errorf("router %d: %s routes to %q, want %q", i, tc.host, g.Service, tc.svc)
			}
		}
		for _, tc := range []struct{ host, to, appRoot string }{
			{"www.foo.com", "foo.com", ""}, {"foo.com", "", "/app"}, {"alias.com", "", "/app"}, {"bar.com", "", ""},
		} {
			if to, appRoot := rt.HostLevel(tc.host); to != tc.to || appRoot != tc.appRoot {
				t.Errorf("router %d: HostLevel(%s) = %q, %q, want %q, %q", i, tc.host, to, appRoot, tc.to, tc.appRoot)
			}
		}
	}
}

// TestRewriteRegexp checks which routes rewrite: a target equal to the
// path does not, nor a Prefix path (its host has no rewriting path: Build
// trimmed "/same/" to "/same"); an Exact path that is not a valid
// expression is matched literally. Expressions are caseless as nginx's
// (compileCaseless).
func TestRewriteRegexp(t *testing.T) {
	t.Parallel()
	with := func(p snapshot.Path, target string) snapshot.Path {
		p.Backend.Proxy.Rewrite = &annotations.Rewrite{Target: target}
		return p
	}
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{{Host: "a.com", UseRegex: true, Paths: []snapshot.Path{
		with(exact("/x(", "lit"), "/y"),
		with(prefix("/same", "same"), "/same"),
		with(prefix("/re/(.*)", "re"), "/$1"),
	}}}}
	s.Servers = append(s.Servers, snapshot.Server{Host: "b.com", Paths: []snapshot.Path{with(prefix("/same", "trimmed"), "/same/")}})
	r := mustCompile(t, s, nil)
	for _, tc := range []struct {
		host, path, want string
	}{{"a.com", "/x(", "/[Xx]\\("}, {"a.com", "/same", ""}, {"a.com", "/re/a", "(?-s:/[Rr][Ee]/(.*))"}, {"b.com", "/same/x", ""}} {
		rt, ok := r.Match(tc.host, tc.path)
		if !ok {
			t.Fatalf("%s: no route", tc.path)
		}
		got := ""
		if rt.Rewrite != nil {
			got = rt.Rewrite.String()
		}
		if got != tc.want {
			t.Errorf("%s: rewrite %q, want %q", tc.path, got, tc.want)
		}
	}
}

// TestDefined: the defined names are the Servers' hosts and exact aliases
// and "_", as ingress-nginx's socket collector's hosts; not a name only a
// wildcard matches, nor a www redirect name.
func TestDefined(t *testing.T) {
	t.Parallel()
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{
		{Host: "foo.com", Aliases: []string{"alias.com", "*.feral.com"}, RedirectFrom: "www.foo.com", Paths: []snapshot.Path{prefix("/", "foo")}},
		{Host: "*.wild.com", Paths: []snapshot.Path{prefix("/", "wild")}},
		{Host: "", Paths: []snapshot.Path{prefix("/", "any")}},
	}}
	r := mustCompile(t, s, nil)
	for host, want := range map[string]bool{"foo.com": true, "alias.com": true, "_": true, "a.feral.com": false,
		"x.wild.com": false, "*.wild.com": false, "www.foo.com": false, "": false, "other.com": false} {
		if got := r.Defined(host); got != want {
			t.Errorf("Defined(%q) = %v, want %v", host, got, want)
		}
	}
	// DefinedAs answers as Defined for the $host of a lookup, from the
	// lookup or the map, and a Host of another Router is not used.
	other := mustCompile(t, &snapshot.Snapshot{Version: 2, Servers: []snapshot.Server{
		{Host: "www.foo.com", Paths: []snapshot.Path{prefix("/", "www")}},
		{Host: "other.com", Paths: []snapshot.Path{prefix("/", "other")}},
	}}, nil)
	for _, host := range []string{"foo.com", "FOO.com.", "alias.com", "_", "a.feral.com", "x.wild.com", "*.wild.com",
		"www.foo.com", "", "other.com", "[::1]", "foo.com:80"} {
		for _, lookup := range []*Router{r, other} {
			h, name := lookup.LookupName(host)
			v := HostVarOf(host, name)
			if got, want := r.DefinedAs(h, v), r.Defined(v); got != want {
				t.Errorf("DefinedAs(the Host of %q, %q) = %v, want Defined's %v", host, v, got, want)
			}
		}
	}
}

// TestServed: a host a Server names, exactly, by alias, by wildcard or as
// a from-to-www-redirect name, is served; one only the any-host server
// catches (nginx's "_" server) is not, nor is one nothing serves.
func TestServed(t *testing.T) {
	t.Parallel()
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{
		{Host: "foo.com", Aliases: []string{"alias.com"}, RedirectFrom: "www.foo.com", Paths: []snapshot.Path{prefix("/", "foo")}},
		{Host: "*.wild.com", Paths: []snapshot.Path{prefix("/", "wild")}},
		{Host: "", Paths: []snapshot.Path{prefix("/", "any")}},
	}}
	r := mustCompile(t, s, nil)
	for host, want := range map[string]bool{"foo.com": true, "FOO.com:8080": true, "alias.com": true, "www.foo.com": true,
		"x.wild.com": true, "other.com": false, "": false} {
		if got := r.Served(host); got != want {
			t.Errorf("Served(%q) = %v, want %v", host, got, want)
		}
	}
	none := mustCompile(t, &snapshot.Snapshot{Version: 1}, nil)
	if none.Served("foo.com") {
		t.Error("an empty Router serves foo.com")
	}
}

// TestLookup: a Host looked up once answers what Router's methods answer
// for its name, each of which looks it up again: the server-level
// settings, the TLS settings, the route of a path and whether a Server
// serves it by name.
func TestLookup(t *testing.T) {
	t.Parallel()
	tls := &snapshot.ServerTLS{}
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{
		{Host: "foo.com", RedirectFrom: "www.foo.com", AppRoot: "/app", TLS: tls, Paths: []snapshot.Path{prefix("/", "foo")}},
		{Host: "*.wild.com", Paths: []snapshot.Path{prefix("/w", "wild")}},
		{Host: "", Paths: []snapshot.Path{prefix("/any", "any")}},
	}}
	r := mustCompile(t, s, nil)
	type answers struct {
		RedirectTo, AppRoot string
		TLS, Served, OK     bool
		Service             string
	}
	for _, tc := range []struct {
		host, path string
		want       answers
	}{
		{"FOO.com:80", "/x", answers{AppRoot: "/app", TLS: true, Served: true, OK: true, Service: "foo"}},
		{"www.foo.com", "/x", answers{RedirectTo: "foo.com", Served: true}},
		{"a.wild.com", "/w/1", answers{Served: true, OK: true, Service: "wild"}},
		{"a.wild.com", "/any", answers{Served: true}},
		{"other.org", "/any/1", answers{OK: true, Service: "any"}},
		{"other.org", "/", answers{}},
		{"", "/", answers{}},
		{"[::1]:80", "/", answers{}},
		{"[2001:DB8::1]", "/", answers{}},
		{"Foo.COM.", "/", answers{AppRoot: "/app", TLS: true, Served: true, OK: true, Service: "foo"}},
		{"B.wild.com:8080", "/", answers{Served: true}},
	} {
		h, name := r.LookupName(tc.host)
		if got, want := HostVarOf(tc.host, name), HostVar(tc.host); got != want {
			t.Errorf("HostVarOf(%q, LookupName's %q) = %q, HostVar gives %q", tc.host, name, got, want)
		}
		var a answers
		a.RedirectTo, a.AppRoot = h.HostLevel()
		a.TLS, a.Served = h.ServerTLS() == tls, h.Served()
		route, ok := h.Match(tc.path)
		if a.OK = ok; ok {
			a.Service = route.Backend.Service
		}
		if diff := cmp.Diff(tc.want, a); diff != "" {
			t.Errorf("Lookup(%q), path %q (-want +got):\n%s", tc.host, tc.path, diff)
		}
		var b answers
		b.RedirectTo, b.AppRoot = r.HostLevel(tc.host)
		b.TLS, b.Served = r.ServerTLS(tc.host) == tls, r.Served(tc.host)
		route, ok = r.Match(tc.host, tc.path)
		if b.OK = ok; ok {
			b.Service = route.Backend.Service
		}
		if diff := cmp.Diff(tc.want, b); diff != "" {
			t.Errorf("Router's methods for %q, path %q (-want +got):\n%s", tc.host, tc.path, diff)
		}
	}
}

package router

import (
	"strings"
	"testing"

	"github.com/weir-lb/weir/userspace/snapshot"
)

// fuzzSnapshot builds a small Snapshot: one Server per comma-separated
// entry of hosts (at most 3), each with the newline-separated paths (at
// most 4), the match type of path i chosen by kinds[i] (Exact, Prefix,
// Regex, or an unknown type), and a default backend when withDefault.
func fuzzSnapshot(hosts, paths string, kinds []byte, useRegex, withDefault bool) *snapshot.Snapshot {
	s := &snapshot.Snapshot{Version: 1}
	ps := strings.Split(paths, "\n")
	if len(ps) > 4 {
		ps = ps[:4]
	}
	hs := strings.Split(hosts, ",")
	if len(hs) > 3 {
		hs = hs[:3]
	}
	for h, host := range hs {
		srv := snapshot.Server{Host: host, UseRegex: useRegex && h == 0}
		for i, p := range ps {
			k := byte(i)
			if i < len(kinds) {
				k = kinds[i]
			}
			match := []snapshot.MatchType{snapshot.MatchExact, snapshot.MatchPrefix, snapshot.MatchRegex, "Bogus"}[k%4]
			srv.Paths = append(srv.Paths, snapshot.Path{Path: p, Match: match, Backend: be(host+"|"+p, "10.0.0.1:80")})
		}
		s.Servers = append(s.Servers, srv)
	}
	if withDefault {
		d := be("default", "10.0.0.2:80")
		s.DefaultBackend = &d
	}
	return s
}

// FuzzMatch compiles a fuzzed small Snapshot (hosts, paths, match types,
// use-regex, default backend) and matches a fuzzed request host and path.
// Properties: no panic; a Router compiled over itself (every server
// reused) matches the same; the route found is one of the Snapshot's and
// agrees with its match type; a request for a configured exact host is
// served by that host's server or the default backend.
func FuzzMatch(f *testing.F) {
	f.Add("foo.com,*.foo.com,", "/\n/api/\n/api/v[0-9]+", []byte{1, 1, 2}, false, true, "A.FOO.com:8080", "/api/v1")
	f.Add("foo.com", "/exact\n/", []byte{0, 1}, false, false, "foo.com.", "/exact")
	f.Add("foo.com", "/a(\n/", []byte{2, 1}, true, false, "foo.com", "/a")
	f.Add("", "/.*\n/x", []byte{1, 0}, true, true, "[::1]:80", "/X")
	f.Add("foo.com,foo.com", "/", []byte{1}, false, false, "foo.com", "/")
	f.Add("*.foo.com", "/", []byte{3}, false, true, "a.b.foo.com", "/")
	f.Add("x.io", "/a{1000}{1000}\n(a*)*b", []byte{2, 2}, false, false, "x.io", strings.Repeat("a", 200))
	f.Fuzz(func(t *testing.T, hosts, paths string, kinds []byte, useRegex, withDefault bool, reqHost, reqPath string) {
		s := fuzzSnapshot(hosts, paths, kinds, useRegex, withDefault)
		r, err := Compile(s, nil)
		if err != nil {
			return
		}
		again, err := Compile(s, r)
		if err != nil {
			t.Fatalf("Compile over its own Router: %v", err)
		}
		rt, ok := r.Match(reqHost, reqPath)
		rt2, ok2 := again.Match(reqHost, reqPath)
		if ok != ok2 || rt != rt2 && (rt.Host != rt2.Host || rt.Path != rt2.Path || rt.Default != rt2.Default) {
			t.Fatalf("Match(%q, %q) = %+v, %v; over its own Router %+v, %v", reqHost, reqPath, rt, ok, rt2, ok2)
		}
		if !ok {
			if withDefault {
				t.Fatalf("Match(%q, %q): no route although there is a default backend", reqHost, reqPath)
			}
			return
		}
		if rt.Default {
			if rt.Backend != s.DefaultBackend {
				t.Fatalf("default route with backend %+v, not the Snapshot's", rt.Backend)
			}
		} else {
			checkRoute(t, s, rt, reqPath)
		}
		host := NormalizeHost(reqHost)
		for _, srv := range s.Servers {
			if srv.Host == host && host != "" && !strings.HasPrefix(host, "*.") && !rt.Default && rt.Host != srv.Host {
				t.Fatalf("Match(%q, %q) chose server %q over the exact host %q", reqHost, reqPath, rt.Host, srv.Host)
			}
		}
	})
}

// checkRoute fails unless rt is a path of one of s's Servers that matches
// path by its match type.
func checkRoute(t *testing.T, s *snapshot.Snapshot, rt *Route, path string) {
	t.Helper()
	for _, srv := range s.Servers {
		for i := range srv.Paths {
			if rt.Backend != &srv.Paths[i].Backend {
				continue
			}
			p := srv.Paths[i]
			if rt.Host != srv.Host || rt.Path != p.Path {
				t.Fatalf("route %q %q for the path %q of server %q", rt.Host, rt.Path, p.Path, srv.Host)
			}
			switch {
			case p.Match == snapshot.MatchExact:
				if path != p.Path {
					t.Fatalf("exact path %q matched %q", p.Path, path)
				}
			case p.Match == snapshot.MatchPrefix && !srv.UseRegex:
				base := strings.TrimSuffix(p.Path, "/")
				if rest, ok := strings.CutPrefix(path, base); !ok || rest != "" && rest[0] != '/' && p.Path != "/" {
					t.Fatalf("prefix path %q matched %q", p.Path, path)
				}
			}
			return
		}
	}
	t.Fatalf("route %q %q is none of the Snapshot's paths", rt.Host, rt.Path)
}

package router

import (
	"regexp"
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
// reused) matches the same; the route is the one reference (a plain
// reading of nginx's server_name and location rules) gives.
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
		wantPath := reference(s, reqHost, reqPath)
		switch {
		case wantPath != nil && (!ok || rt.Backend != &wantPath.Backend):
			t.Fatalf("Match(%q, %q) = %+v, %v; want the path %q (%s)", reqHost, reqPath, rt, ok, wantPath.Path, wantPath.Match)
		case wantPath == nil && withDefault && (!ok || !rt.Default):
			t.Fatalf("Match(%q, %q) = %+v, %v; want the default backend", reqHost, reqPath, rt, ok)
		case wantPath == nil && !withDefault && ok:
			t.Fatalf("Match(%q, %q) = %+v; want no route", reqHost, reqPath, rt)
		}
	})
}

// reference is the specification of Match, written plainly: the server of
// the lower-cased request host without port, brackets and trailing dot,
// else of the wildcard of its parent domain (one label), else the any-host
// server; then its first path that matches: Exact by equality, Prefix by
// path elements, Regex (or any path of a use-regex server) as a
// case-insensitive (ASCII) expression anchored at the start. Nil means none.
func reference(s *snapshot.Snapshot, host, path string) *snapshot.Path {
	host = strings.ToLower(host)
	if strings.HasPrefix(host, "[") {
		if end := strings.IndexByte(host, ']'); end > 0 {
			host = host[1:end]
		}
	} else if strings.Count(host, ":") == 1 {
		host = host[:strings.IndexByte(host, ':')]
	}
	host = strings.TrimSuffix(host, ".")
	find := func(name string) *snapshot.Server {
		for i := range s.Servers {
			if strings.ToLower(s.Servers[i].Host) == name {
				return &s.Servers[i]
			}
		}
		return nil
	}
	var srv *snapshot.Server
	if !strings.HasPrefix(host, "*.") && host != "" {
		srv = find(host)
	}
	if dot := strings.IndexByte(host, '.'); srv == nil && dot > 0 {
		srv = find("*." + host[dot+1:])
	}
	if srv == nil {
		srv = find("")
	}
	if srv == nil {
		return nil
	}
	for i := range srv.Paths {
		p := &srv.Paths[i]
		switch {
		case p.Match == snapshot.MatchRegex || srv.UseRegex:
			// As nginx's PCRE: compileCaseless, checked on its own by
			// TestCompileCaseless. An Exact path was never checked as an
			// expression: one that does not compile is its literal text.
			expr := "^" + p.Path
			if _, err := regexp.Compile(expr); err != nil && p.Match == snapshot.MatchExact {
				expr = "^" + regexp.QuoteMeta(p.Path)
			}
			if re, err := compileCaseless(expr); err == nil && re.MatchString(path) {
				return p
			}
		case p.Match == snapshot.MatchExact:
			if path == p.Path {
				return p
			}
		default:
			base := strings.TrimSuffix(p.Path, "/")
			if p.Path == "/" || path == base || strings.HasPrefix(path, base+"/") {
				return p
			}
		}
	}
	return nil
}

package router

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/weir-lb/weir/userspace/snapshot"
)

// hostServers returns n one-path servers, host%05d.example.com, each with
// its own Service and endpoint, as Build orders exact hosts.
func hostServers(n int) []snapshot.Server {
	servers := make([]snapshot.Server, n)
	for i := range servers {
		servers[i] = snapshot.Server{Host: fmt.Sprintf("host%05d.example.com", i), Paths: []snapshot.Path{{
			Path: "/", Match: snapshot.MatchPrefix,
			Backend: be(fmt.Sprintf("svc%05d", i), fmt.Sprintf("10.%d.%d.1:80", i/256, i%256)),
		}}}
	}
	return servers
}

// BenchmarkCompile10kOneChanged compiles a Snapshot of 10 000 one-path exact
// hosts from the Router of the previous one, one host's endpoints differing:
// unchanged Servers share their Paths with the previous Snapshot, as a
// Snapshot rebuilt from its predecessor does.
func BenchmarkCompile10kOneChanged(b *testing.B) { benchCompileOneChanged(b, false) }

// BenchmarkCompile10kOneChangedNotShared is BenchmarkCompile10kOneChanged
// with every Server decoded afresh, as from JSON: no Paths are shared, so
// each unchanged Server costs a deep compare.
func BenchmarkCompile10kOneChangedNotShared(b *testing.B) { benchCompileOneChanged(b, true) }

func benchCompileOneChanged(b *testing.B, notShared bool) {
	const n = 10_000
	servers := hostServers(n)
	prev := mustCompile(b, &snapshot.Snapshot{Version: 1, Servers: servers}, nil)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		b.StopTimer()
		next := make([]snapshot.Server, n)
		copy(next, servers)
		if notShared {
			for j := range next {
				next[j] = deepCopy(next[j])
			}
		}
		k := i % n
		p := next[k].Paths[0]
		p.Backend.Endpoints = []string{fmt.Sprintf("10.200.%d.%d:80", i/256%256, i%256)}
		next[k].Paths = []snapshot.Path{p}
		servers = next
		i++
		s := &snapshot.Snapshot{Version: uint64(i + 1), Servers: servers}
		b.StartTimer()
		r, err := Compile(s, prev)
		if err != nil {
			b.Fatal(err)
		}
		prev = r
	}
}

// BenchmarkCompile10kFromNil compiles the same 10 000 hosts without a
// previous Router: every Server is compiled.
func BenchmarkCompile10kFromNil(b *testing.B) {
	s := &snapshot.Snapshot{Version: 1, Servers: hostServers(10_000)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(s, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// poolsOf returns every Pool reachable from r's routes, canaries and
// default route.
func poolsOf(r *Router) []*Pool {
	var out []*Pool
	add := func(rt *Route) {
		out = append(out, rt.Pool)
		for _, c := range rt.Canaries {
			out = append(out, c.Pool)
		}
	}
	servers := make([]*server, 0, len(r.exact)+len(r.wildcard)+1)
	for _, cs := range r.exact {
		servers = append(servers, cs)
	}
	for _, cs := range r.wildcard {
		servers = append(servers, cs)
	}
	if r.anyHost != nil {
		servers = append(servers, r.anyHost)
	}
	for _, cs := range servers {
		for i := range cs.paths {
			add(cs.paths[i].route)
		}
	}
	if r.fallback != nil {
		add(r.fallback)
	}
	return out
}

// checkUpstreams fails unless r.upstreams lists exactly the addresses of r's
// pools, each address has one Upstream, and a pool key has one Pool.
func checkUpstreams(tb testing.TB, r *Router) {
	tb.Helper()
	byKey := map[string]*Pool{}
	want := map[string]bool{}
	for _, p := range poolsOf(r) {
		if q, ok := byKey[p.key]; ok && q != p {
			tb.Errorf("pool key %q has two Pools", p.key)
		}
		byKey[p.key] = p
		for _, u := range p.upstreams {
			want[u.Addr] = true
			if got := r.Upstream(u.Addr); got != u {
				tb.Errorf("pool %q: Upstream(%q) = %p, the pool has %p", p.key, u.Addr, got, u)
			}
		}
	}
	for addr := range r.upstreams {
		if !want[addr] {
			tb.Errorf("Upstream(%q) is listed but no pool has it", addr)
		}
	}
}

func server1(host string, paths ...snapshot.Path) snapshot.Server {
	return snapshot.Server{Host: host, Paths: paths}
}

func withEndpoints(p snapshot.Path, endpoints ...string) snapshot.Path {
	p.Backend.Endpoints = endpoints
	return p
}

func TestCompileReusesUnchangedServers(t *testing.T) {
	t.Parallel()
	s1 := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{
		server1("a.com", prefix("/", "a")),
		server1("b.com", prefix("/", "b")),
		server1("c.com", prefix("/", "c")),
		server1("*.w.com", prefix("/", "w")),
		server1("", prefix("/", "any")),
	}}
	r1 := mustCompile(t, s1, nil)
	servers := append([]snapshot.Server(nil), s1.Servers...) // shares every Paths array
	servers[1].Paths = []snapshot.Path{withEndpoints(prefix("/", "b"), "10.0.0.2:80")}
	// c.com equal but built apart: reused after a deep compare.
	servers[2] = server1("c.com", prefix("/", "c"))
	s2 := &snapshot.Snapshot{Version: 2, Servers: servers}
	r2 := mustCompile(t, s2, r1)

	for _, tc := range []struct {
		name       string
		prev, next *server
		reused     bool
	}{
		{"a.com unchanged", r1.exact["a.com"], r2.exact["a.com"], true},
		{"b.com changed", r1.exact["b.com"], r2.exact["b.com"], false},
		{"c.com equal, not shared", r1.exact["c.com"], r2.exact["c.com"], true},
		{"wildcard unchanged", r1.wildcard["w.com"], r2.wildcard["w.com"], true},
		{"any host unchanged", r1.anyHost, r2.anyHost, true},
	} {
		if tc.prev == nil || tc.next == nil {
			t.Fatalf("%s: server missing", tc.name)
		}
		if got := tc.prev == tc.next; got != tc.reused {
			t.Errorf("%s: reused = %v, want %v", tc.name, got, tc.reused)
		}
	}
	rt, _ := r2.Match("b.com", "/")
	if diff := cmp.Diff([]string{"10.0.0.2:80"}, rt.Backend.Endpoints); diff != "" {
		t.Errorf("b.com endpoints (-want +got):\n%s", diff)
	}
	if rt.Backend != &s2.Servers[1].Paths[0].Backend {
		t.Errorf("b.com route does not point into the new Snapshot")
	}
	if r2.Snapshot() != s2 || r2.Version() != 2 {
		t.Errorf("Router of version %d is not the new Snapshot's", r2.Version())
	}
	checkUpstreams(t, r2)
}

func TestCompileChangedEndpointsCarryUpstreams(t *testing.T) {
	t.Parallel()
	s1 := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{
		server1("a.com", withEndpoints(prefix("/", "a"), "10.0.0.1:80", "10.0.0.2:80")),
		server1("b.com", withEndpoints(prefix("/", "b"), "10.0.0.9:80")),
	}}
	r1 := mustCompile(t, s1, nil)
	r1.Upstream("10.0.0.2:80").InFlight.Add(3)
	a1, _ := r1.Match("a.com", "/")
	b1, _ := r1.Match("b.com", "/")

	s2 := &snapshot.Snapshot{Version: 2, Servers: []snapshot.Server{
		server1("a.com", withEndpoints(prefix("/", "a"), "10.0.0.2:80", "10.0.0.3:80")),
		s1.Servers[1],
		// A new host on b.com's backend shares b.com's reused Pool.
		server1("c.com", withEndpoints(prefix("/x", "b"), "10.0.0.9:80")),
	}}
	r2 := mustCompile(t, s2, r1)
	a2, _ := r2.Match("a.com", "/")
	b2, _ := r2.Match("b.com", "/")
	c2, _ := r2.Match("c.com", "/x")
	if a2.Pool == a1.Pool || a2.Pool.Key() == a1.Pool.Key() {
		t.Errorf("changed endpoints kept pool %q", a1.Pool.Key())
	}
	if b2.Pool != b1.Pool {
		t.Errorf("unchanged b.com got a new pool")
	}
	if c2.Pool != b2.Pool {
		t.Errorf("new route with key %q did not share the reused Pool", c2.Pool.Key())
	}
	if u := r2.Upstream("10.0.0.2:80"); u != r1.Upstream("10.0.0.2:80") || u.InFlight.Load() != 3 {
		t.Errorf("10.0.0.2:80 not carried over: %p vs %p", u, r1.Upstream("10.0.0.2:80"))
	}
	if a2.Pool.Upstreams()[0] != r1.Upstream("10.0.0.2:80") {
		t.Errorf("a.com's new pool does not use the carried Upstream")
	}
	if u := r2.Upstream("10.0.0.1:80"); u != nil {
		t.Errorf("removed address 10.0.0.1:80 still has state %p", u)
	}
	if r2.Upstream("10.0.0.3:80") == nil {
		t.Errorf("new address 10.0.0.3:80 has no state")
	}
	checkUpstreams(t, r2)
}

func TestCompileHostsRemovedAndAdded(t *testing.T) {
	t.Parallel()
	def := be("default", "10.0.0.8:80")
	s1 := &snapshot.Snapshot{Version: 1, DefaultBackend: &def, Servers: []snapshot.Server{
		server1("a.com", withEndpoints(prefix("/", "a"), "10.0.0.1:80")),
		server1("b.com", withEndpoints(prefix("/", "b"), "10.0.0.2:80")),
		server1("*.w.com", withEndpoints(prefix("/", "w"), "10.0.0.3:80")),
	}}
	r1 := mustCompile(t, s1, nil)
	s2 := &snapshot.Snapshot{Version: 2, Servers: []snapshot.Server{
		s1.Servers[1],
		server1("d.com", withEndpoints(prefix("/", "d"), "10.0.0.4:80")),
		server1("", withEndpoints(prefix("/", "any"), "10.0.0.5:80")),
	}}
	r2 := mustCompile(t, s2, r1)
	for _, tc := range []struct {
		host string
		want got
	}{
		{"a.com", got{Service: "any", Path: "/", OK: true}},
		{"x.w.com", got{Service: "any", Path: "/", OK: true}},
		{"b.com", got{Service: "b", Host: "b.com", Path: "/", OK: true}},
		{"d.com", got{Service: "d", Host: "d.com", Path: "/", OK: true}},
	} {
		if diff := cmp.Diff(tc.want, matchOf(r2, tc.host, "/")); diff != "" {
			t.Errorf("Match(%q) (-want +got):\n%s", tc.host, diff)
		}
	}
	if r2.exact["b.com"] != r1.exact["b.com"] {
		t.Errorf("b.com was recompiled")
	}
	for _, addr := range []string{"10.0.0.1:80", "10.0.0.3:80", "10.0.0.8:80"} {
		if r2.Upstream(addr) != nil {
			t.Errorf("address %s of a removed host or default backend still has state", addr)
		}
	}
	checkUpstreams(t, r2)
}

func TestCompileWithPrevErrors(t *testing.T) {
	t.Parallel()
	s1 := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{
		server1("a.com", withEndpoints(prefix("/", "a"), "10.0.0.1:80")),
		server1("", withEndpoints(prefix("/", "any"), "10.0.0.5:80")),
	}}
	for _, tc := range []struct {
		name    string
		servers []snapshot.Server
		want    string
	}{
		// Both copies are Equal to the server prev compiled for a.com.
		{"duplicate of a reused host", []snapshot.Server{s1.Servers[0], s1.Servers[0]}, `duplicate server "a.com"`},
		{"duplicate host, other case", []snapshot.Server{s1.Servers[0], server1("A.com", prefix("/", "a"))}, `duplicate server "A.com"`},
		{"duplicate any-host", []snapshot.Server{s1.Servers[1], s1.Servers[1]}, "duplicate any-host server"},
		{"bad regex after a reused host", []snapshot.Server{s1.Servers[0], server1("b.com", regex("/(", "b"))}, `host "b.com" path "/("`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r1 := mustCompile(t, s1, nil)
			r1.Upstream("10.0.0.1:80").InFlight.Add(2)
			a1 := r1.exact["a.com"]
			r, err := Compile(&snapshot.Snapshot{Version: 2, Servers: tc.servers}, r1)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Compile error = %v, want one containing %q", err, tc.want)
			}
			if r != nil {
				t.Errorf("failed Compile returned a Router")
			}
			// prev is intact and still the base of the next Compile.
			if r1.exact["a.com"] != a1 || len(r1.exact) != 1 || r1.anyHost == nil || len(r1.upstreams) != 2 {
				t.Errorf("failed Compile modified prev: %d exact hosts, %d upstreams", len(r1.exact), len(r1.upstreams))
			}
			checkUpstreams(t, r1)
			r2 := mustCompile(t, &snapshot.Snapshot{Version: 3, Servers: s1.Servers[:1]}, r1)
			if r2.exact["a.com"] != a1 || r2.Upstream("10.0.0.1:80").InFlight.Load() != 2 {
				t.Errorf("Compile after a failed one did not reuse prev")
			}
			if r2.Upstream("10.0.0.5:80") != nil {
				t.Errorf("address of the removed any-host server still has state")
			}
		})
	}
}

// routeView is what two Routers are compared on for one request.
type routeView struct {
	Got      got
	Backend  snapshot.Backend
	Pool     string
	Addrs    []string
	Canaries []string // name, pool key and weight of each
	Total    int
}

func viewOf(r *Router, host, path string) routeView {
	rt, ok := r.Match(host, path)
	if !ok {
		return routeView{}
	}
	v := routeView{Got: matchOf(r, host, path), Backend: *rt.Backend, Pool: rt.Pool.Key(), Total: rt.canaryTotal}
	for _, u := range rt.Pool.Upstreams() {
		v.Addrs = append(v.Addrs, u.Addr)
	}
	for _, c := range rt.Canaries {
		v.Canaries = append(v.Canaries, fmt.Sprintf("%s %s %d", c.Name, c.Pool.Key(), c.weight))
	}
	return v
}

// randomEdits drives a host -> Server map through random edits; each state
// is one Snapshot. Unchanged Servers keep their Paths, as in a Snapshot
// rebuilt from its predecessor, unless copied deeply on purpose.
type randomEdits struct {
	rng     *rand.Rand
	servers map[string]snapshot.Server
	def     *snapshot.Backend
}

var (
	editHosts = []string{"a.test", "b.test", "c.test", "x.a.test", "*.a.test", "*.b.test", ""}
	editAddrs = []string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80", "[fd00::1]:80"}
)

func (e *randomEdits) backend() snapshot.Backend {
	var eps []string
	for _, a := range editAddrs {
		if e.rng.IntN(2) == 0 {
			eps = append(eps, a)
		}
	}
	return be(fmt.Sprintf("s%d", e.rng.IntN(3)), eps...)
}

func (e *randomEdits) path() snapshot.Path {
	choices := []snapshot.Path{prefix("/", ""), prefix("/api", ""), exact("/api/v1", ""), regex("/img/[a-z]+", "")}
	p := choices[e.rng.IntN(len(choices))]
	p.Backend = e.backend()
	if e.rng.IntN(4) == 0 {
		p.Canaries = []snapshot.Canary{{Backend: e.backend(), Weight: e.rng.IntN(101), WeightTotal: 100}}
	}
	return p
}

func (e *randomEdits) server(host string) snapshot.Server {
	s := snapshot.Server{Host: host, UseRegex: e.rng.IntN(4) == 0}
	for range 1 + e.rng.IntN(3) {
		s.Paths = append(s.Paths, e.path())
	}
	return s
}

// deepCopy returns srv with Paths, endpoints and canaries copied.
func deepCopy(srv snapshot.Server) snapshot.Server {
	paths := make([]snapshot.Path, len(srv.Paths))
	for i, p := range srv.Paths {
		p.Backend.Endpoints = append([]string(nil), p.Backend.Endpoints...)
		p.Canaries = append([]snapshot.Canary(nil), p.Canaries...)
		paths[i] = p
	}
	srv.Paths = paths
	return srv
}

// next edits the state and returns its Snapshot; sometimes with one broken
// Server (a duplicate host or a bad regex) that is not kept in the state.
func (e *randomEdits) next(version uint64) *snapshot.Snapshot {
	for range 1 + e.rng.IntN(2) {
		host := editHosts[e.rng.IntN(len(editHosts))]
		srv, ok := e.servers[host]
		switch op := e.rng.IntN(7); {
		case op == 0 || !ok:
			e.servers[host] = e.server(host)
		case op == 1:
			delete(e.servers, host)
		case op == 2: // new endpoints for one path
			i := e.rng.IntN(len(srv.Paths))
			srv = deepCopy(srv)
			srv.Paths[i].Backend.Endpoints = e.backend().Endpoints
			e.servers[host] = srv
		case op == 3: // same content, new arrays
			e.servers[host] = deepCopy(srv)
		case op == 4:
			srv.UseRegex = !srv.UseRegex
			e.servers[host] = srv
		case op == 5:
			if e.def == nil {
				d := e.backend()
				e.def = &d
			} else {
				e.def = nil
			}
		}
	}
	s := &snapshot.Snapshot{Version: version, DefaultBackend: e.def}
	for _, h := range editHosts {
		if srv, ok := e.servers[h]; ok {
			s.Servers = append(s.Servers, srv)
		}
	}
	switch e.rng.IntN(20) {
	case 0:
		if len(s.Servers) > 0 {
			s.Servers = append(s.Servers, s.Servers[e.rng.IntN(len(s.Servers))])
		}
	case 1:
		s.Servers = append(s.Servers, server1("bad.test", regex("/(", "bad")))
	}
	return s
}

// TestCompileIncrementalMatchesFull compiles a sequence of randomly edited
// Snapshots each from the previous Router and from nil: both Routers must
// route every probe alike, fail alike, and the incremental one must carry
// over the state of every address it shares with its predecessor.
func TestCompileIncrementalMatchesFull(t *testing.T) {
	t.Parallel()
	hosts := []string{"a.test", "B.test:80", "c.test", "x.a.test", "y.a.test", "z.b.test", "bad.test", "other.org"}
	paths := []string{"/", "/api", "/api/v1", "/api/v1/x", "/img/cat", "/IMG/cat", "/zzz"}
	for seed := range uint64(20) {
		e := &randomEdits{rng: rand.New(rand.NewPCG(seed, 1)), servers: map[string]snapshot.Server{}}
		var prev *Router
		reused := 0
		for v := range uint64(60) {
			s := e.next(v + 1)
			inc, incErr := Compile(s, prev)
			full, fullErr := Compile(s, nil)
			if fmt.Sprint(incErr) != fmt.Sprint(fullErr) {
				t.Fatalf("seed %d version %d: error %v incrementally, %v from nil", seed, v+1, incErr, fullErr)
			}
			if incErr != nil {
				continue
			}
			for _, h := range hosts {
				for _, p := range paths {
					if diff := cmp.Diff(viewOf(full, h, p), viewOf(inc, h, p)); diff != "" {
						t.Fatalf("seed %d version %d: Match(%q, %q) (-from nil +incremental):\n%s", seed, v+1, h, p, diff)
					}
				}
			}
			checkUpstreams(t, inc)
			if diff := cmp.Diff(len(full.upstreams), len(inc.upstreams)); diff != "" {
				t.Fatalf("seed %d version %d: upstream count (-from nil +incremental):\n%s", seed, v+1, diff)
			}
			if prev != nil {
				for addr, u := range inc.upstreams {
					if pu := prev.upstreams[addr]; pu != nil && pu != u {
						t.Fatalf("seed %d version %d: %s not carried over", seed, v+1, addr)
					}
				}
				for h, cs := range inc.exact {
					if prev.exact[h] == cs {
						reused++
					}
				}
			}
			prev = inc
		}
		if reused == 0 {
			t.Errorf("seed %d: no server was ever reused", seed)
		}
	}
}

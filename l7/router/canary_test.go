package router

import (
	"net/http"
	"sync"
	"testing"

	"github.com/weir-lb/weir/userspace/snapshot"
)

func cn(svc string, f func(*snapshot.Canary)) snapshot.Canary {
	c := snapshot.Canary{Backend: be(svc, "10.0.9.1:80"), WeightTotal: 100}
	if f != nil {
		f(&c)
	}
	return c
}

// canaryRoute compiles one Prefix "/" route of host c.test with canaries.
func canaryRoute(tb testing.TB, canaries ...snapshot.Canary) *Route {
	tb.Helper()
	p := prefix("/", "main")
	p.Canaries = canaries
	r := mustCompile(tb, &snapshot.Snapshot{Servers: []snapshot.Server{{Host: "c.test", Paths: []snapshot.Path{p}}}}, nil)
	route, ok := r.Match("c.test", "/")
	if !ok {
		tb.Fatal("no route for c.test/")
	}
	return route
}

func TestPick(t *testing.T) {
	t.Parallel()
	header := func(name, value string) func(*snapshot.Canary) {
		return func(c *snapshot.Canary) { c.Header, c.HeaderValue = name, value }
	}
	pattern := func(p string) func(*snapshot.Canary) {
		return func(c *snapshot.Canary) { c.Header, c.HeaderPattern = "X-Canary", p }
	}
	cookie := func(c *snapshot.Canary) { c.Cookie = "beta" }
	empty := func(c *snapshot.Canary) { c.Backend.Endpoints = nil }
	weight := func(w, total int) func(*snapshot.Canary) {
		return func(c *snapshot.Canary) { c.Weight, c.WeightTotal = w, total }
	}
	all := func(fs ...func(*snapshot.Canary)) func(*snapshot.Canary) {
		return func(c *snapshot.Canary) {
			for _, f := range fs {
				f(c)
			}
		}
	}
	const noDraw = -1 // the decision must not draw
	tests := []struct {
		name     string
		canaries []snapshot.Canary
		header   []string // name, value pairs; "Cookie" for cookies
		draw     int
		want     string // service of the chosen canary, "" for main
	}{
		{name: "no header, no cookie, no weight", canaries: []snapshot.Canary{cn("v2", header("X-Canary", ""))}, draw: noDraw},
		{name: "header always", canaries: []snapshot.Canary{cn("v2", header("X-Canary", ""))}, header: []string{"X-Canary", "always"}, draw: noDraw, want: "v2"},
		{name: "header name any case", canaries: []snapshot.Canary{cn("v2", header("x-CANARY", ""))}, header: []string{"X-Canary", "always"}, draw: noDraw, want: "v2"},
		// ingress-nginx reads the header as nginx's $http_ variable of the
		// name with "-" made "_" (balancer.lua), which matches a request
		// header whose name is the same with "-" and "_" alike, any case.
		{name: "header name with _ matches the request's -", canaries: []snapshot.Canary{cn("v2", header("Canary_By_Header", ""))}, header: []string{"canary-by-header", "always"}, draw: noDraw, want: "v2"},
		{name: "request header with _ matches the name's -", canaries: []snapshot.Canary{cn("v2", header("Canary-By-Header", "x"))}, header: []string{"CANARY_BY-HEADER", "x"}, draw: noDraw, want: "v2"},
		{name: "header name with _ is still a whole name", canaries: []snapshot.Canary{cn("v2", header("Canary_By", ""))}, header: []string{"Canary-By-Header", "always", "Canary-Byx", "always"}, draw: noDraw},
		{name: "header always is case-sensitive", canaries: []snapshot.Canary{cn("v2", header("X-Canary", ""))}, header: []string{"X-Canary", "Always"}, draw: noDraw},
		{name: "header never beats weight 100", canaries: []snapshot.Canary{cn("v2", all(header("X-Canary", ""), weight(100, 100)))}, header: []string{"X-Canary", "never"}, draw: 0},
		{name: "header never beats cookie always", canaries: []snapshot.Canary{cn("v2", all(header("X-Canary", ""), cookie))}, header: []string{"X-Canary", "never", "Cookie", "beta=always"}, draw: noDraw},
		{name: "header other value falls to weight", canaries: []snapshot.Canary{cn("v2", all(header("X-Canary", ""), weight(100, 100)))}, header: []string{"X-Canary", "maybe"}, draw: 99, want: "v2"},
		// nginx (1.23 on) joins repeated header lines with ", " in $http_.
		{name: "repeated header is joined: not always", canaries: []snapshot.Canary{cn("v2", header("X-Canary", ""))}, header: []string{"X-Canary", "always", "X-Canary", "always"}, draw: noDraw},
		{name: "repeated header is joined: value", canaries: []snapshot.Canary{cn("v2", header("X-Canary", "a"))}, header: []string{"X-Canary", "a", "X-Canary", "b"}, draw: noDraw},
		{name: "repeated header is joined: pattern", canaries: []snapshot.Canary{cn("v2", pattern("^a, b$"))}, header: []string{"X-Canary", "a", "X-Canary", "b"}, draw: noDraw, want: "v2"},
		{name: "header value exact match", canaries: []snapshot.Canary{cn("v2", header("X-Canary", "blue"))}, header: []string{"X-Canary", "blue"}, draw: noDraw, want: "v2"},
		{name: "header value mismatch", canaries: []snapshot.Canary{cn("v2", header("X-Canary", "blue"))}, header: []string{"X-Canary", "Blue"}, draw: noDraw},
		{name: "header value: always is just a value", canaries: []snapshot.Canary{cn("v2", header("X-Canary", "blue"))}, header: []string{"X-Canary", "always"}, draw: noDraw},
		{name: "header value: never does not end the decision", canaries: []snapshot.Canary{cn("v2", all(header("X-Canary", "blue"), cookie))}, header: []string{"X-Canary", "never", "Cookie", "beta=always"}, draw: noDraw, want: "v2"},
		{name: "header value mismatch falls to cookie", canaries: []snapshot.Canary{cn("v2", all(header("X-Canary", "blue"), cookie))}, header: []string{"X-Canary", "red", "Cookie", "beta=always"}, draw: noDraw, want: "v2"},
		{name: "header value wins over pattern", canaries: []snapshot.Canary{cn("v2", all(header("X-Canary", "blue"), func(c *snapshot.Canary) { c.HeaderPattern = "re" }))}, header: []string{"X-Canary", "red"}, draw: noDraw},
		{name: "pattern matches unanchored", canaries: []snapshot.Canary{cn("v2", pattern("et"))}, header: []string{"X-Canary", "beta-1"}, draw: noDraw, want: "v2"},
		{name: "pattern anchored by the user", canaries: []snapshot.Canary{cn("v2", pattern("^et"))}, header: []string{"X-Canary", "beta-1"}, draw: noDraw},
		{name: "pattern no match falls to weight", canaries: []snapshot.Canary{cn("v2", all(pattern("^x"), weight(50, 100)))}, header: []string{"X-Canary", "beta"}, draw: 49, want: "v2"},
		{name: "pattern: always is just a value", canaries: []snapshot.Canary{cn("v2", pattern("^x"))}, header: []string{"X-Canary", "always"}, draw: noDraw},
		{name: "invalid pattern with header: main, decision ends", canaries: []snapshot.Canary{cn("v2", all(pattern("a(b"), cookie, weight(100, 100)))}, header: []string{"X-Canary", "a(b", "Cookie", "beta=always"}, draw: 0},
		{name: "invalid pattern without header: cookie decides", canaries: []snapshot.Canary{cn("v2", all(pattern("a(b"), cookie))}, header: []string{"Cookie", "beta=always"}, draw: noDraw, want: "v2"},
		{name: "cookie always", canaries: []snapshot.Canary{cn("v2", cookie)}, header: []string{"Cookie", "a=1; beta=always"}, draw: noDraw, want: "v2"},
		{name: "cookie never beats weight 100", canaries: []snapshot.Canary{cn("v2", all(cookie, weight(100, 100)))}, header: []string{"Cookie", "beta=never"}, draw: 0},
		{name: "cookie other value falls to weight", canaries: []snapshot.Canary{cn("v2", all(cookie, weight(1, 100)))}, header: []string{"Cookie", "beta=yes"}, draw: 0, want: "v2"},
		// nginx's $cookie_beta: the name in any case, the value as sent
		// (quotes kept) up to ";", cookies separated by ";" or ",".
		{name: "quoted cookie value is not always", canaries: []snapshot.Canary{cn("v2", cookie)}, header: []string{"Cookie", `beta="always"`}, draw: noDraw},
		{name: "cookie name any case", canaries: []snapshot.Canary{cn("v2", cookie)}, header: []string{"Cookie", "a=1; BETA=always"}, draw: noDraw, want: "v2"},
		{name: "cookie after a comma", canaries: []snapshot.Canary{cn("v2", cookie)}, header: []string{"Cookie", "a=1,beta=always"}, draw: noDraw, want: "v2"},
		{name: "cookie value with a trailing space", canaries: []snapshot.Canary{cn("v2", cookie)}, header: []string{"Cookie", "beta=always ;a=1"}, draw: noDraw},
		{name: "cookie value after spaces", canaries: []snapshot.Canary{cn("v2", cookie)}, header: []string{"Cookie", "beta =  always"}, draw: noDraw, want: "v2"},
		{name: "cookie in a second Cookie header", canaries: []snapshot.Canary{cn("v2", cookie)}, header: []string{"Cookie", "a=1", "Cookie", "beta=always"}, draw: noDraw, want: "v2"},
		{name: "cookie name is a whole name", canaries: []snapshot.Canary{cn("v2", cookie)}, header: []string{"Cookie", "xbeta=always; beta2=always"}, draw: noDraw},
		{name: "cookie of another name", canaries: []snapshot.Canary{cn("v2", cookie)}, header: []string{"Cookie", "gamma=always"}, draw: noDraw},
		{name: "weight 0 never", canaries: []snapshot.Canary{cn("v2", weight(0, 100))}, draw: noDraw},
		{name: "weight below draw", canaries: []snapshot.Canary{cn("v2", weight(30, 100))}, draw: 30},
		{name: "weight above draw", canaries: []snapshot.Canary{cn("v2", weight(30, 100))}, draw: 29, want: "v2"},
		{name: "weight = total always", canaries: []snapshot.Canary{cn("v2", weight(1000, 1000))}, draw: 999, want: "v2"},
		{name: "weight total 1000", canaries: []snapshot.Canary{cn("v2", weight(1, 1000))}, draw: 1},
		{name: "canary without endpoints is skipped by header", canaries: []snapshot.Canary{cn("v2", all(header("X-Canary", ""), empty))}, header: []string{"X-Canary", "always"}, draw: noDraw},
		{name: "canary without endpoints is skipped by weight", canaries: []snapshot.Canary{cn("v2", all(weight(100, 100), empty))}, draw: 0},
		{name: "canary without endpoints leaves the next one", canaries: []snapshot.Canary{cn("v2", all(weight(50, 100), empty)), cn("v3", weight(50, 100))}, draw: 50, want: "v3"},
		// Several canaries, oldest first.
		{name: "first canary whose header says canary wins", canaries: []snapshot.Canary{cn("v2", header("X-A", "")), cn("v3", header("X-B", ""))}, header: []string{"X-A", "always", "X-B", "always"}, draw: noDraw, want: "v2"},
		{name: "second canary by header", canaries: []snapshot.Canary{cn("v2", header("X-A", "")), cn("v3", header("X-B", ""))}, header: []string{"X-B", "always"}, draw: noDraw, want: "v3"},
		{name: "first canary's cookie before second's header", canaries: []snapshot.Canary{cn("v2", cookie), cn("v3", header("X-B", ""))}, header: []string{"X-B", "always", "Cookie", "beta=always"}, draw: noDraw, want: "v2"},
		{name: "never excludes only its canary", canaries: []snapshot.Canary{cn("v2", all(header("X-A", ""), weight(50, 100))), cn("v3", weight(50, 100))}, header: []string{"X-A", "never"}, draw: 60, want: "v3"},
		{name: "excluded canary's share goes to main", canaries: []snapshot.Canary{cn("v2", all(header("X-A", ""), weight(50, 100))), cn("v3", weight(50, 100))}, header: []string{"X-A", "never"}, draw: 10},
		{name: "shared total: first slot", canaries: []snapshot.Canary{cn("v2", weight(100, 1000)), cn("v3", weight(200, 1000))}, draw: 99, want: "v2"},
		{name: "shared total: second slot", canaries: []snapshot.Canary{cn("v2", weight(100, 1000)), cn("v3", weight(200, 1000))}, draw: 100, want: "v3"},
		{name: "shared total: second slot end", canaries: []snapshot.Canary{cn("v2", weight(100, 1000)), cn("v3", weight(200, 1000))}, draw: 299, want: "v3"},
		{name: "shared total: main after the slots", canaries: []snapshot.Canary{cn("v2", weight(100, 1000)), cn("v3", weight(200, 1000))}, draw: 300},
		{name: "shared total is the largest", canaries: []snapshot.Canary{cn("v2", weight(100, 100)), cn("v3", weight(100, 1000))}, draw: 150, want: "v3"},
		{name: "weights past the total are clipped", canaries: []snapshot.Canary{cn("v2", weight(80, 100)), cn("v3", weight(80, 100))}, draw: 99, want: "v3"},
		// balancer.lua draws out of canary-weight-total only when it is
		// above 100: a smaller total counts as 100.
		{name: "total below 100 counts as 100: in", canaries: []snapshot.Canary{cn("v2", weight(50, 50))}, draw: 49, want: "v2"},
		{name: "total below 100 counts as 100: out", canaries: []snapshot.Canary{cn("v2", weight(50, 50))}, draw: 50},
		{name: "total below 100: weight above it still counts", canaries: []snapshot.Canary{cn("v2", weight(80, 10))}, draw: 79, want: "v2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			route := canaryRoute(t, tc.canaries...)
			req := &http.Request{Header: http.Header{}}
			for i := 0; i+1 < len(tc.header); i += 2 {
				req.Header.Add(tc.header[i], tc.header[i+1])
			}
			draws := 0
			draw := func(n int) int {
				draws++
				if tc.draw == noDraw {
					t.Errorf("draw(%d) called; the decision must not draw", n)
					return 0
				}
				if tc.draw >= n {
					t.Fatalf("fixed draw %d is not in [0, %d)", tc.draw, n)
				}
				return tc.draw
			}
			got := ""
			if c := route.Pick(req, draw); c != nil {
				got = c.Backend.Service
			}
			if got != tc.want {
				t.Errorf("Pick = %q, want %q", got, tc.want)
			}
			if draws > 1 {
				t.Errorf("draw called %d times, want at most once", draws)
			}
		})
	}
}

func TestPickNoCanaries(t *testing.T) {
	t.Parallel()
	route := canaryRoute(t)
	if c := route.Pick(&http.Request{Header: http.Header{"X-Canary": {"always"}}}, nil); c != nil {
		t.Errorf("Pick = %v, want nil", c)
	}
}

func TestCanaryCompile(t *testing.T) {
	t.Parallel()
	route := canaryRoute(t, cn("v2", nil))
	if len(route.Canaries) != 1 {
		t.Fatalf("route has %d canaries, want 1", len(route.Canaries))
	}
	c := route.Canaries[0]
	if c.Name != "ns-v2-80" {
		t.Errorf("Name = %q, want ns-v2-80", c.Name)
	}
	if c.Pool == route.Pool || c.Pool.Len() != 1 || c.Pool.Upstreams()[0].Addr != "10.0.9.1:80" {
		t.Errorf("canary pool %v is not its own pool of 10.0.9.1:80", c.Pool.Key())
	}
}

// TestFallbackCanaries: the Snapshot's DefaultCanaries are the canaries of
// the default backend's route, picked as a rule's.
func TestFallbackCanaries(t *testing.T) {
	t.Parallel()
	def := be("main", "10.0.9.2:80")
	r := mustCompile(t, &snapshot.Snapshot{DefaultBackend: &def, DefaultCanaries: []snapshot.Canary{cn("v2", func(c *snapshot.Canary) { c.Header = "X-Canary" })}}, nil)
	route, ok := r.Match("unknown.test", "/")
	if !ok || !route.Default || route != r.Fallback() {
		t.Fatalf("Match(unknown.test) = %v, %v: want the default backend's route", route, ok)
	}
	if c := route.Pick(&http.Request{Header: http.Header{"X-Canary": {"always"}}}, nil); c == nil || c.Name != "ns-v2-80" || c.Pool == route.Pool {
		t.Errorf("Pick with X-Canary: always = %v, want the canary ns-v2-80 with its own pool", c)
	}
	if c := route.Pick(&http.Request{Header: http.Header{}}, nil); c != nil {
		t.Errorf("Pick without the header = %v, want the default backend", c)
	}
}

// TestPickConcurrentDefaultDraw runs Pick with the default random source
// from many goroutines (for the race detector) and checks the share of a
// 50% weight, bounded in count.
func TestPickConcurrentDefaultDraw(t *testing.T) {
	t.Parallel()
	route := canaryRoute(t, cn("v2", func(c *snapshot.Canary) { c.Weight = 50 }))
	const goroutines, each = 8, 5000
	var mu sync.Mutex
	hits := 0
	var wg sync.WaitGroup
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := &http.Request{Header: http.Header{}}
			n := 0
			for range each {
				if route.Pick(req, nil) != nil {
					n++
				}
			}
			mu.Lock()
			hits += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	share := float64(hits) / goroutines / each
	if share < 0.47 || share > 0.53 {
		t.Errorf("canary share %.3f over %d picks, want 0.50 ± 0.03", share, goroutines*each)
	}
}

func BenchmarkPick(b *testing.B) {
	route := canaryRoute(b, cn("v2", func(c *snapshot.Canary) { c.Header, c.Cookie, c.Weight = "X-Canary", "beta", 20 }))
	req := &http.Request{Header: http.Header{"Cookie": {"a=1; beta=maybe"}}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			route.Pick(req, nil)
		}
	})
}

// TestPickMainWithoutEndpoints: with no endpoint for the main Service,
// ingress-nginx has no balancer for the main backend, so no canary is
// consulted and the request gets 503 (balancer.lua's rewrite), unless a
// default-backend with endpoints takes the main backend's place: it is a
// copy of the main backend, canaries included.
func TestPickMainWithoutEndpoints(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		dflt  []string // endpoints of the default-backend; nil: none
		isSet bool     // whether the rule has a default-backend
		want  string
	}{
		{name: "no default-backend"},
		{name: "default-backend without endpoints", isSet: true},
		{name: "default-backend with endpoints", isSet: true, dflt: []string{"10.0.8.1:80"}, want: "v2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := prefix("/", "main")
			p.Backend.Endpoints = nil
			if tc.isSet {
				eb := be("fallback", tc.dflt...)
				p.Backend.ErrorBackend = &eb
			}
			p.Canaries = []snapshot.Canary{cn("v2", func(c *snapshot.Canary) { c.Header, c.Weight = "X-Canary", 100 })}
			r := mustCompile(t, &snapshot.Snapshot{Servers: []snapshot.Server{{Host: "c.test", Paths: []snapshot.Path{p}}}}, nil)
			route, ok := r.Match("c.test", "/")
			if !ok {
				t.Fatal("no route for c.test/")
			}
			for _, h := range []string{"always", ""} {
				req := &http.Request{Header: http.Header{}}
				if h != "" {
					req.Header.Set("X-Canary", h)
				}
				got := ""
				if c := route.Pick(req, func(int) int { return 0 }); c != nil {
					got = c.Backend.Service
				}
				if got != tc.want {
					t.Errorf("X-Canary %q: Pick = %q, want %q", h, got, tc.want)
				}
			}
		})
	}
}

// TestPickHeaderAllocs: a canary-by-header decision allocates nothing,
// whether the header is found by its key, by the "_" spelling, or not at
// all.
func TestPickHeaderAllocs(t *testing.T) {
	route := canaryRoute(t, cn("v2", func(c *snapshot.Canary) { c.Header = "Canary_By_Header" }))
	for _, h := range []http.Header{
		{"Canary-By-Header": {"always"}},
		{"Canary_by_header": {"always"}, "Accept": {"*/*"}},
		{"Accept": {"*/*"}, "User-Agent": {"x"}},
	} {
		req := &http.Request{Header: h}
		if n := testing.AllocsPerRun(100, func() { route.Pick(req, func(int) int { return 0 }) }); n != 0 {
			t.Errorf("Pick with %v: %v allocations, want 0", h, n)
		}
	}
}

package router

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

var fiveAddrs = []string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80", "10.0.0.5:80"}

// balancedRoute compiles one Prefix "/" route of host b.test to service
// app over addrs with the given load-balance and Balance, after prev.
func balancedRoute(tb testing.TB, prev *Router, addrs []string, lb string, bal *annotations.Balance, canaries ...snapshot.Canary) (*Router, *Route) {
	tb.Helper()
	p := prefix("/", "app")
	p.Backend.Endpoints = addrs
	p.Backend.Proxy = annotations.DefaultProxy()
	p.Backend.Proxy.LoadBalance = lb
	p.Backend.Proxy.Balance = bal
	p.Canaries = canaries
	r := mustCompile(tb, &snapshot.Snapshot{Servers: []snapshot.Server{{Host: "b.test", Paths: []snapshot.Path{p}}}}, prev)
	route, ok := r.Match("b.test", "/")
	if !ok {
		tb.Fatal("no route for b.test/")
	}
	return r, route
}

func pick(tb testing.TB, p *Pool, req *http.Request, remote string, tried ...*Upstream) (*Upstream, string) {
	tb.Helper()
	u, cookie, ok := p.Pick(req, remote, tried)
	if !ok {
		tb.Fatalf("Pick(%s) found no upstream", req.URL)
	}
	return u, cookie
}

func TestHashByStableAndEven(t *testing.T) {
	t.Parallel()
	bal := &annotations.Balance{HashBy: "$request_uri", HashBySubsetSize: 3, CookieName: annotations.DefaultCookieName}
	_, full := balancedRoute(t, nil, fiveAddrs, "round_robin", bal)
	// A second Router compiled on its own (another worker) and one with
	// the third endpoint removed.
	_, other := balancedRoute(t, nil, fiveAddrs, "round_robin", bal)
	_, less := balancedRoute(t, nil, append(append([]string(nil), fiveAddrs[:2]...), fiveAddrs[3:]...), "round_robin", bal)
	const n = 5000
	count := map[string]int{}
	moved := 0
	for i := range n {
		req := httptest.NewRequest("GET", fmt.Sprintf("/item/%d?x=1", i), nil)
		u, cookie := pick(t, full.Pool, req, "192.0.2.1")
		if cookie != "" {
			t.Fatalf("hashing set a cookie %q", cookie)
		}
		if again, _ := pick(t, full.Pool, req, "192.0.2.1"); again != u {
			t.Fatalf("%s: %s then %s", req.URL, u.Addr, again.Addr)
		}
		if o, _ := pick(t, other.Pool, req, "192.0.2.1"); o.Addr != u.Addr {
			t.Fatalf("%s: %s on one router, %s on another", req.URL, u.Addr, o.Addr)
		}
		l, _ := pick(t, less.Pool, req, "192.0.2.1")
		if u.Addr != fiveAddrs[2] && l.Addr != u.Addr {
			t.Fatalf("%s moved from %s to %s when %s was removed", req.URL, u.Addr, l.Addr, fiveAddrs[2])
		}
		if u.Addr == fiveAddrs[2] {
			moved++
		}
		count[u.Addr]++
	}
	for _, a := range fiveAddrs {
		if c := count[a]; c < n/5/2 || c > n/5*2 {
			t.Errorf("%s got %d of %d keys", a, c, n)
		}
	}
	if moved == 0 {
		t.Error("no key was on the removed endpoint")
	}
}

func TestHashByVariables(t *testing.T) {
	t.Parallel()
	req := httptest.NewRequest("POST", "http://Shop.Example:8080/a/b?ID=7&x=y", nil)
	req.Header.Set("X-User", "u1")
	req.Header.Add("Cookie", `other=1, SID="abc" ; x=2`) // nginx: any case, quotes and spaces kept, "," separates too
	parts, err := annotations.ParseHashBy("${host}-$request_uri-$uri-$args-$remote_addr-$scheme-$request_method-$http_x_user-$cookie_sid-$arg_id-$http_missing")
	if err != nil {
		t.Fatal(err)
	}
	got := hashKey(parts, req, "192.0.2.9")
	want := `shop.example-/a/b?ID=7&x=y-/a/b-ID=7&x=y-192.0.2.9-http-POST-u1-"abc" -7-`
	if got != want {
		t.Errorf("key = %q, want %q", got, want)
	}
}

// TestHashByMoreVariables: nginx variables often hashed on besides the
// request's own parts.
func TestHashByMoreVariables(t *testing.T) {
	t.Parallel()
	req := httptest.NewRequest("GET", "/a%20b?x=1", nil)
	bare := httptest.NewRequest("GET", "/a", nil)
	for _, tc := range []struct {
		expr, remote string
		req          *http.Request
		want         string
	}{
		{"$binary_remote_addr", "192.0.2.9", req, "\xc0\x00\x02\x09"},
		{"$binary_remote_addr", "2001:db8::1", req, "\x20\x01\x0d\xb8" + strings.Repeat("\x00", 11) + "\x01"},
		{"$binary_remote_addr", "", req, ""},
		{"$document_uri", "", req, "/a b"},
		{"$is_args", "", req, "?"},
		{"$is_args", "", bare, ""},
		{"$is_args", "", httptest.NewRequest("GET", "/a?", nil), ""},
		{"$server_protocol", "", req, "HTTP/1.1"},
		{"$request", "", req, "GET /a%20b?x=1 HTTP/1.1"},
	} {
		parts, err := annotations.ParseHashBy(tc.expr)
		if err != nil {
			t.Fatal(err)
		}
		if got := hashKey(parts, tc.req, tc.remote); got != tc.want {
			t.Errorf("%s with %q: key %q, want %q", tc.expr, tc.remote, got, tc.want)
		}
	}
}

func TestHashBySubset(t *testing.T) {
	t.Parallel()
	bal := &annotations.Balance{HashBy: "$http_x_user", HashBySubset: true, HashBySubsetSize: 2, CookieName: annotations.DefaultCookieName}
	_, route := balancedRoute(t, nil, fiveAddrs, "round_robin", bal)
	// Five endpoints in subsets of two: set1 {1,2}, set2 {3,4}, set3 {5,1}.
	sets := map[string]map[string]bool{}
	for i := range 20 {
		user := fmt.Sprintf("user-%d", i)
		seen := map[string]bool{}
		for range 40 {
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("X-User", user)
			u, _ := pick(t, route.Pool, req, "")
			seen[u.Addr] = true
		}
		if len(seen) != 2 {
			t.Errorf("user %s reached %v, want the two endpoints of one subset", user, seen)
		}
		sets[fmt.Sprint(seen)] = seen
	}
	valid := map[string]bool{
		fmt.Sprint(map[string]bool{fiveAddrs[0]: true, fiveAddrs[1]: true}): true,
		fmt.Sprint(map[string]bool{fiveAddrs[2]: true, fiveAddrs[3]: true}): true,
		fmt.Sprint(map[string]bool{fiveAddrs[4]: true, fiveAddrs[0]: true}): true,
	}
	for s := range sets {
		if !valid[s] {
			t.Errorf("subset %s is not one of ingress-nginx's", s)
		}
	}
}

// TestHashRetry: a retry under upstream-hash-by goes to the key's upstream
// again, as ingress-nginx's chash balance returns instance:find(key) at
// every try; under upstream-hash-by-subset to a random upstream of the
// key's subset, the one tried included, as its chashsubset balance.
func TestHashRetry(t *testing.T) {
	t.Parallel()
	bal := &annotations.Balance{HashBy: "$http_x_user", HashBySubsetSize: 3, CookieName: annotations.DefaultCookieName}
	_, route := balancedRoute(t, nil, fiveAddrs, "round_robin", bal)
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("X-User", "u1")
	first, _ := pick(t, route.Pool, req, "")
	if again, _ := pick(t, route.Pool, req, "", first); again != first {
		t.Errorf("hash: the retry after %s went to %s", first.Addr, again.Addr)
	}
	if third, _ := pick(t, route.Pool, req, "", first, first); third != first {
		t.Errorf("hash: the third try went to %s, want %s", third.Addr, first.Addr)
	}

	sub := &annotations.Balance{HashBy: "$http_x_user", HashBySubset: true, HashBySubsetSize: 2, CookieName: annotations.DefaultCookieName}
	_, route = balancedRoute(t, nil, fiveAddrs, "round_robin", sub)
	set := map[*Upstream]bool{}
	for range 40 {
		u, _ := pick(t, route.Pool, req, "")
		set[u] = true
	}
	if len(set) != 2 {
		t.Fatalf("subset: the key reached %d upstreams, want its subset's 2", len(set))
	}
	tried := first
	for u := range set {
		tried = u
		break
	}
	again := 0
	for range 200 {
		u, _ := pick(t, route.Pool, req, "", tried)
		if !set[u] {
			t.Fatalf("subset: a retry went to %s, outside the key's subset", u.Addr)
		}
		if u == tried {
			again++
		}
	}
	// Each retry picks one of two at random: none of 200 on the one
	// tried has probability 2^-200.
	if again == 0 {
		t.Errorf("subset: no retry of 200 went to the upstream tried, %s", tried.Addr)
	}
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func cookieReq(name, value string) *http.Request {
	req := httptest.NewRequest("GET", "/", nil)
	if name != "" {
		req.AddCookie(&http.Cookie{Name: name, Value: value})
	}
	return req
}

func TestStickyPersistent(t *testing.T) {
	t.Parallel()
	bal := &annotations.Balance{Cookie: true, Persistent: true, CookieName: "route"}
	_, route := balancedRoute(t, nil, fiveAddrs, "round_robin", bal)
	_, other := balancedRoute(t, nil, fiveAddrs, "round_robin", bal)
	// ingress-nginx's values: md5(upstream name .. address) | md5(md5(name) .. name).
	name := "ns-app-80"
	backendKey := md5hex(md5hex(name) + name)
	u, cookie := pick(t, route.Pool, cookieReq("", ""), "")
	if want := md5hex(name+u.Addr) + "|" + backendKey; cookie != want {
		t.Fatalf("cookie %q for %s, want %q", cookie, u.Addr, want)
	}
	for range 10 {
		for _, r := range []*Route{route, other} {
			got, set := pick(t, r.Pool, cookieReq("route", cookie), "")
			if got.Addr != u.Addr || set != "" {
				t.Fatalf("with the cookie: %s (set %q), want %s and no new cookie", got.Addr, set, u.Addr)
			}
		}
	}
	// A cookie for an endpoint that is gone, or garbage: a new pick.
	for _, v := range []string{md5hex(name+"10.9.9.9:80") + "|" + backendKey, "garbage", "", "|" + backendKey} {
		if _, set := pick(t, route.Pool, cookieReq("route", v), ""); set == "" {
			t.Errorf("cookie %q: no new cookie", v)
		}
	}
	// Spread: new clients land on every endpoint.
	seen := map[string]bool{}
	for range 200 {
		u, _ := pick(t, route.Pool, cookieReq("", ""), "")
		seen[u.Addr] = true
	}
	if len(seen) != len(fiveAddrs) {
		t.Errorf("new sessions reached %d endpoints, want %d", len(seen), len(fiveAddrs))
	}
}

func TestStickyBalanced(t *testing.T) {
	t.Parallel()
	bal := &annotations.Balance{Cookie: true, CookieName: annotations.DefaultCookieName}
	_, route := balancedRoute(t, nil, fiveAddrs, "round_robin", bal)
	_, other := balancedRoute(t, nil, fiveAddrs, "round_robin", bal)
	backendKey := md5hex(md5hex("ns-app-80") + "ns-app-80")
	u, cookie := pick(t, route.Pool, cookieReq("", ""), "")
	key, bk, ok := cutPipe(cookie)
	if !ok || bk != backendKey {
		t.Fatalf("cookie %q, want <key>|%s", cookie, backendKey)
	}
	if got := fiveAddrs[newRing(fiveAddrs, nil).find(key)]; got != u.Addr {
		t.Fatalf("cookie key %q is on %s's ring point, the pick was %s", key, got, u.Addr)
	}
	// A key as ingress-nginx writes it (time.pid.random) resolves through
	// the ring on every Router.
	nginxKey := "1733361234.567.4242.123456"
	want := fiveAddrs[newRing(fiveAddrs, nil).find(nginxKey)]
	for _, r := range []*Route{route, other} {
		got, set := pick(t, r.Pool, cookieReq(annotations.DefaultCookieName, nginxKey+"|"+backendKey), "")
		if got.Addr != want || set != "" {
			t.Errorf("ingress-nginx cookie: %s (set %q), want %s and no new cookie", got.Addr, set, want)
		}
	}
}

func cutPipe(s string) (string, string, bool) {
	for i := range len(s) {
		if s[i] == '|' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// TestStickyChangeOnFailure: a retry of a request whose cookie names an
// upstream goes to that upstream again, as ingress-nginx's sticky balance
// returns upstream_from_cookie whenever the cookie names one and
// change_on_failure is off; with it, the retry picks anew among the
// upstreams not tried and reissues the cookie.
func TestStickyChangeOnFailure(t *testing.T) {
	t.Parallel()
	for _, persistent := range []bool{false, true} {
		for _, change := range []bool{false, true} {
			testStickyChangeOnFailure(t, persistent, change)
		}
	}
}

func testStickyChangeOnFailure(t *testing.T, persistent, change bool) {
	t.Helper()
	bal := &annotations.Balance{Cookie: true, Persistent: persistent, CookieName: "route", CookieChangeOnFailure: change}
	_, route := balancedRoute(t, nil, fiveAddrs, "round_robin", bal)
	first, cookie := pick(t, route.Pool, cookieReq("", ""), "")
	req := cookieReq("route", cookie)
	if got, _ := pick(t, route.Pool, req, ""); got != first {
		t.Fatalf("persistent=%t: the cookie names %s, the first attempt went to %s", persistent, first.Addr, got.Addr)
	}
	next, set := pick(t, route.Pool, req, "", first)
	if (next == first) == change {
		t.Errorf("persistent=%t change=%t: the retry after %s went to %s", persistent, change, first.Addr, next.Addr)
	}
	if !change {
		// and again at the third try, as ingress-nginx's balancer at
		// every try proxy-next-upstream-tries allows.
		if third, _ := pick(t, route.Pool, req, "", first, next); third != first {
			t.Errorf("persistent=%t: the third try went to %s, want %s", persistent, third.Addr, first.Addr)
		}
	}
	if (set != "") != change {
		t.Errorf("persistent=%t change=%t: retry set cookie %q", persistent, change, set)
	}
	if change {
		if got, _ := pick(t, route.Pool, cookieReq("route", set), ""); got != next {
			t.Errorf("persistent=%t: the new cookie names %s, the retry went to %s", persistent, got.Addr, next.Addr)
		}
	}
}

// TestStickyRetryWithoutCookie: a request that came without a usable
// affinity cookie gets, when it is passed on after a failure, a new sticky
// choice and a cookie naming it, as ingress-nginx's sticky balance picks
// anew whenever the cookie names no upstream; the cookie of the failed
// first attempt would pin the client to the failed upstream.
func TestStickyRetryWithoutCookie(t *testing.T) {
	t.Parallel()
	for _, persistent := range []bool{false, true} {
		bal := &annotations.Balance{Cookie: true, Persistent: persistent, CookieName: "route"}
		_, route := balancedRoute(t, nil, fiveAddrs, "round_robin", bal)
		for _, req := range []*http.Request{cookieReq("", ""), cookieReq("route", "stale|key")} {
			if !persistent && req.Header.Get("Cookie") != "" {
				continue // balanced: every key names an upstream
			}
			first, _ := pick(t, route.Pool, req, "")
			next, set := pick(t, route.Pool, req, "", first)
			if next == first {
				t.Errorf("persistent=%t: the retry went to the failed %s again", persistent, first.Addr)
			}
			if set == "" {
				t.Errorf("persistent=%t, cookie %q: the retry set no cookie", persistent, req.Header.Get("Cookie"))
				continue
			}
			if got, _ := pick(t, route.Pool, cookieReq("route", set), ""); got != next {
				t.Errorf("persistent=%t: the retry's cookie names %s, the retry went to %s", persistent, got.Addr, next.Addr)
			}
		}
	}
}

func TestStickyCanary(t *testing.T) {
	t.Parallel()
	bal := &annotations.Balance{Cookie: true, Persistent: true, CookieName: "route"}
	withBal := func(b *annotations.Balance) func(*snapshot.Canary) {
		return func(c *snapshot.Canary) {
			c.Backend.Proxy = annotations.DefaultProxy()
			c.Backend.Proxy.Balance = b
			c.Header = "X-Canary"
		}
	}
	legacy := *bal
	legacy.Cookie = false
	for _, tc := range []struct {
		name  string
		cbal  *annotations.Balance
		toCan bool // the canary's cookie pins to the canary
	}{{"sticky", bal, true}, {"legacy", &legacy, false}} {
		_, route := balancedRoute(t, nil, fiveAddrs, "round_robin", bal, cn("v2", withBal(tc.cbal)))
		mainKey := md5hex(md5hex("ns-app-80") + "ns-app-80")
		canaryKey := md5hex(md5hex("ns-v2-80") + "ns-v2-80")
		// Pinned to the main backend: even "always" does not move it.
		req := cookieReq("route", "x|"+mainKey)
		req.Header.Set("X-Canary", "always")
		if c := route.Pick(req, func(int) int { t.Fatal("drew"); return 0 }); c != nil {
			t.Errorf("%s: main cookie and always: canary %s", tc.name, c.Name)
		}
		req = cookieReq("route", "x|"+canaryKey)
		c := route.Pick(req, func(int) int { return 99 })
		if (c != nil) != tc.toCan {
			t.Errorf("%s: canary cookie chose %v, want canary %t", tc.name, c, tc.toCan)
		}
		if c == nil {
			continue
		}
		u, set := pick(t, c.Pool, cookieReq("", ""), "")
		if want := md5hex("ns-v2-80"+u.Addr) + "|" + canaryKey; set != want {
			t.Errorf("%s: canary cookie %q, want %q", tc.name, set, want)
		}
	}
}

// TestStickyCanaryOwnAffinity: with affinity-canary-behavior legacy, a
// canary's upstream keeps its own Ingress's affinity in ingress-nginx, and
// route_to_alternative_balancer sends a request its cookie pins to the
// canary there, whatever the main rule's balancing.
func TestStickyCanaryOwnAffinity(t *testing.T) {
	t.Parallel()
	own := &annotations.Balance{Cookie: true, CanaryLegacy: true, CookieName: "canary-route"}
	canaryKey := md5hex(md5hex("ns-v2-80") + "ns-v2-80")
	for _, tc := range []struct {
		name string
		main *annotations.Balance
	}{
		{"main round robin", nil},
		{"main hashed", &annotations.Balance{HashBy: "$request_uri"}},
		{"main sticky by another cookie", &annotations.Balance{Cookie: true, CookieName: "route"}},
	} {
		_, route := balancedRoute(t, nil, fiveAddrs, "round_robin", tc.main, cn("v2", func(c *snapshot.Canary) {
			c.Backend.Proxy = annotations.DefaultProxy()
			c.Backend.Proxy.Balance = own
		}))
		c := route.Pick(cookieReq("canary-route", "x|"+canaryKey), func(int) int { return 99 })
		if c == nil {
			t.Errorf("%s: the canary's own cookie chose the main backend", tc.name)
		}
		// The canary's key under the main rule's cookie name is not the
		// canary's cookie.
		if tc.main != nil && tc.main.Cookie {
			if c := route.Pick(cookieReq("route", "x|"+canaryKey), func(int) int { return 99 }); c != nil {
				t.Errorf("%s: the main cookie name with the canary's key chose the canary", tc.name)
			}
		}
	}
}

func TestEWMA(t *testing.T) {
	t.Parallel()
	r, route := balancedRoute(t, nil, fiveAddrs[:3], annotations.EWMA, nil)
	if route.Pool.Plain() != true {
		t.Fatal("an ewma pool reads the request")
	}
	slow := route.Pool.Upstreams()[0]
	for _, u := range route.Pool.Upstreams() {
		rtt := 2 * time.Millisecond
		if u == slow {
			rtt = 500 * time.Millisecond
		}
		for range 5 {
			route.Pool.Observe(u, rtt)
		}
	}
	hits := 0
	for range 300 {
		u, ok := route.Pool.Next()
		if !ok {
			t.Fatal("no upstream")
		}
		if u == slow {
			hits++
		}
	}
	// Two of three are drawn; the slow one wins no draw.
	if hits != 0 {
		t.Errorf("the slow endpoint got %d of 300 requests", hits)
	}
	// Tried endpoints are passed over; all tried: none.
	ups := route.Pool.Upstreams()
	if u, _ := route.Pool.NextExcept(ups[1:]); u != slow {
		t.Errorf("with the fast ones tried: %v", u)
	}
	if _, ok := route.Pool.NextExcept(ups); ok {
		t.Error("every endpoint tried, still one")
	}
	// The averages outlive a swap; a new endpoint starts at the average of
	// the others (slow start), not at 0.
	_, next := balancedRoute(t, r, fiveAddrs[:4], annotations.EWMA, nil)
	if next.Pool.Upstreams()[0] != slow {
		t.Fatal("the upstream state did not outlive the swap")
	}
	v, ok := next.Pool.Upstreams()[3].ewma.get()
	if !ok || v < 0.1 || v > 0.2 {
		t.Errorf("new endpoint's average %v (%t), want about (0.5+0.002+0.002)/3", v, ok)
	}
}

// TestRestyCookie: the affinity cookie is read as lua-resty-cookie's
// get_cookie_table reads nginx's $http_cookie (the lines joined with "; ").
func TestRestyCookie(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		lines  []string
		want   string
		wantOK bool
	}{
		{name: "none"},
		{name: "plain", lines: []string{"a=1; route=k|b; c=3"}, want: "k|b", wantOK: true},
		{name: "last wins", lines: []string{"route=first; route=second"}, want: "second", wantOK: true},
		{name: "last line wins", lines: []string{"route=first", "x=1; route=second"}, want: "second", wantOK: true},
		{name: "quotes kept", lines: []string{`route="k|b"`}, want: `"k|b"`, wantOK: true},
		{name: "spaces kept", lines: []string{"route= k b ;x=1"}, want: " k b ", wantOK: true},
		{name: "trailing spaces of the last value kept", lines: []string{"route=k  "}, want: "k  ", wantOK: true},
		{name: "tab ends a value", lines: []string{"route=k\tb=2"}, want: "k", wantOK: true},
		{name: "tabs before a key skipped", lines: []string{"x=1;\t \troute=k"}, want: "k", wantOK: true},
		{name: "empty value", lines: []string{"route=; x=1"}, want: "", wantOK: true},
		{name: "case counts", lines: []string{"Route=k"}},
		{name: "a part without = runs into the next key", lines: []string{"flag; route=k"}},
		{name: "a part without = at the end of a line", lines: []string{"flag", "route=k"}},
		{name: "value ends at the line's end", lines: []string{"route=k", "other=2"}, want: "k", wantOK: true},
		{name: "empty key", lines: []string{"=x; route=k"}, want: "k", wantOK: true},
		{name: "= in the value", lines: []string{"route=a=b"}, want: "a=b", wantOK: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			for _, l := range tc.lines {
				h.Add("Cookie", l)
			}
			got, ok := restyCookie(h, "route")
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("restyCookie(%q) = %q, %t; want %q, %t", tc.lines, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

// TestRestyCookieAllocs: reading the affinity cookie does not allocate.
func TestRestyCookieAllocs(t *testing.T) {
	h := http.Header{"Cookie": {"a=1; route=k|b", "c=2"}}
	if n := testing.AllocsPerRun(100, func() { v, _ := restyCookie(h, "route"); stickyParts(v) }); n != 0 {
		t.Errorf("restyCookie and stickyParts allocate %v times", n)
	}
}

// TestStickyCookieAsLuaReads: the parts of the affinity cookie are
// sticky.lua's split_string at "|", empty parts left out; a quoted value
// keeps its quotes, so it names no endpoint; of two cookies of the name the
// last counts.
func TestStickyCookieAsLuaReads(t *testing.T) {
	t.Parallel()
	bal := &annotations.Balance{Cookie: true, Persistent: true, CookieName: "route"}
	_, route := balancedRoute(t, nil, fiveAddrs, "round_robin", bal)
	name := "ns-app-80"
	bk := md5hex(md5hex(name) + name)
	key := func(addr string) string { return md5hex(name + addr) }
	tests := []struct {
		cookie string
		want   string // the endpoint pinned; "" for a new pick
		pins   bool   // the cookie carries the backend key (is_affinitized)
	}{
		{cookie: "route=" + key(fiveAddrs[1]) + "|" + bk, want: fiveAddrs[1], pins: true},
		{cookie: "route=|" + key(fiveAddrs[2]) + "||" + bk + "|x", want: fiveAddrs[2], pins: true},
		{cookie: "route=" + key(fiveAddrs[2]), want: fiveAddrs[2]},
		{cookie: `route="` + key(fiveAddrs[3]) + "|" + bk + `"`},
		{cookie: "route=" + key(fiveAddrs[3]) + "|" + bk + "; route=" + key(fiveAddrs[4]) + "|" + bk, want: fiveAddrs[4], pins: true},
		{cookie: "route=|||"},
	}
	for _, tc := range tests {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Cookie", tc.cookie)
		u, set := pick(t, route.Pool, req, "")
		switch {
		case tc.want != "" && (u.Addr != tc.want || set != ""):
			t.Errorf("%q: %s (set %q), want %s and no new cookie", tc.cookie, u.Addr, set, tc.want)
		case tc.want == "" && set == "":
			t.Errorf("%q: no new cookie", tc.cookie)
		}
		if got := route.Pool.lb.pins(req); got != tc.pins {
			t.Errorf("%q: pins %t, want %t", tc.cookie, got, tc.pins)
		}
	}
}

// TestHashKeyHost: upstream-hash-by's $host is nginx's: the Host without
// its port, lower-case, and for a request without one (HTTP/1.0, no Host
// line) the default server's name "_" (nginx 1.22.1: "[_]" for "GET /
// HTTP/1.0" to "server_name _ default_server"; "foo.example.com" for Host
// "Foo.Example.COM.:80", "[::1]" for "[::1]:80").
func TestHashKeyHost(t *testing.T) {
	t.Parallel()
	parts := []annotations.HashPart{{Text: "host", Var: true}}
	for host, want := range map[string]string{"Foo.Example.COM:8080": "foo.example.com", "Foo.Example.COM.:80": "foo.example.com", "[::1]:80": "[::1]", "": "_"} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Host = host
		if got := hashKey(parts, req, "127.0.0.1"); got != want {
			t.Errorf("hashKey($host) of Host %q = %q, want %q", host, got, want)
		}
	}
}

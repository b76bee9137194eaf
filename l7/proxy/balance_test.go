package proxy

import (
	"bufio"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// echoBackends starts n backends that answer their own name ("b0", ...),
// and returns their addresses and the name of each address.
func echoBackends(tb testing.TB, n int) ([]string, map[string]string) {
	tb.Helper()
	var addrs []string
	names := map[string]string{}
	for i := range n {
		name := fmt.Sprintf("b%d", i)
		s := backend(tb, func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, name) })
		addrs = append(addrs, addr(s))
		names[addr(s)] = name
	}
	return addrs, names
}

func withBalance(b annotations.Balance) func(*annotations.Proxy) {
	return func(p *annotations.Proxy) { p.Balance = &b }
}

// getWith sends a GET for host and path with the given Cookie header value
// ("" none) and User-Agent ("" Go's).
func getWith(tb testing.TB, c *http.Client, srv *httptest.Server, host, path, cookie, ua string) result {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Host = host
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	if ua != "" {
		req.Header.Set("User-Agent", ua)
	}
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("read %s: %v", path, err)
	}
	return result{status: resp.StatusCode, body: string(b), header: resp.Header}
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// cookiePair returns "name=value" of the first Set-Cookie of h.
func cookiePair(tb testing.TB, h http.Header) string {
	tb.Helper()
	sc := h.Get("Set-Cookie")
	if sc == "" {
		tb.Fatal("no Set-Cookie")
	}
	pair, _, _ := strings.Cut(sc, ";")
	return pair
}

// TestStickyAcrossWorkers: two Proxies (two workers) with the same
// Snapshot keep a client with the affinity cookie on one endpoint, in
// both affinity modes; the persistent cookie is the value ingress-nginx
// writes for that endpoint.
func TestStickyAcrossWorkers(t *testing.T) {
	t.Parallel()
	addrs, names := echoBackends(t, 4)
	for _, persistent := range []bool{false, true} {
		s := snap(1, "sticky.test", backendOf("app", addrs, withBalance(annotations.Balance{Cookie: true, Persistent: persistent, CookieName: "route"})))
		_, a := front(t, Options{}, s)
		_, b := front(t, Options{}, s)
		c := client(t)
		first := getWith(t, c, a, "sticky.test", "/", "", "")
		if first.status != http.StatusOK {
			t.Fatalf("status %d", first.status)
		}
		pair := cookiePair(t, first.header)
		name := "ns-app-http"
		backendKey := md5hex(md5hex(name) + name)
		if !strings.HasSuffix(pair, "|"+backendKey) || !strings.HasPrefix(pair, "route=") {
			t.Fatalf("cookie %q, want route=<key>|%s", pair, backendKey)
		}
		if persistent {
			var servedBy string
			for a, n := range names {
				if n == first.body {
					servedBy = a
				}
			}
			if want := "route=" + md5hex(name+servedBy) + "|" + backendKey; pair != want {
				t.Errorf("persistent cookie %q, want %q", pair, want)
			}
		}
		for i := range 20 {
			srv := a
			if i%2 == 1 {
				srv = b
			}
			res := getWith(t, c, srv, "sticky.test", "/", pair, "")
			if res.body != first.body {
				t.Fatalf("persistent=%t request %d went to %s, the cookie names %s", persistent, i, res.body, first.body)
			}
			if sc := res.header.Get("Set-Cookie"); sc != "" {
				t.Fatalf("a sticky request got a new cookie %q", sc)
			}
		}
		// Without the cookie, sessions spread over the endpoints.
		seen := map[string]bool{}
		for range 40 {
			seen[getWith(t, c, b, "sticky.test", "/", "", "").body] = true
		}
		if len(seen) < 3 {
			t.Errorf("persistent=%t: new sessions reached only %v", persistent, seen)
		}
	}
}

// TestAffinityCookieAttributes checks the Set-Cookie text exactly.
func TestAffinityCookieAttributes(t *testing.T) {
	t.Parallel()
	addrs, _ := echoBackends(t, 1)
	const oldChrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/51.0.2704.103 Safari/537.36"
	all := annotations.Balance{
		Cookie: true, CookieName: "SESS", CookiePath: "/app", CookieDomain: "foo.test", CookieExpires: "3600",
		CookieMaxAge: "7200", CookieSecure: true, CookieSameSite: "None", CookieConditionalSameSiteNone: true,
	}
	tests := []struct {
		name string
		bal  annotations.Balance
		path string // the rule's path
		// cookiePath is the Path's CookiePath: "" for path, "-" for none.
		cookiePath string
		ua         string
		want       string // with EXPIRES for the expected Expires date
	}{
		{name: "defaults", bal: annotations.Balance{Cookie: true, CookieName: annotations.DefaultCookieName}, path: "/", want: "INGRESSCOOKIE=VALUE; Path=/; HttpOnly"},
		{name: "rule path", bal: annotations.Balance{Cookie: true, CookieName: "route", CookieSameSite: "Lax"}, path: "/shop", want: "route=VALUE; Path=/shop; HttpOnly; SameSite=Lax"},
		{name: "every attribute", bal: all, path: "/", want: "SESS=VALUE; Expires=EXPIRES; Max-Age=7200; Domain=foo.test; Path=/app; Secure; HttpOnly; SameSite=None"},
		{name: "samesite none withheld from old chrome", bal: all, path: "/", ua: oldChrome, want: "SESS=VALUE; Expires=EXPIRES; Max-Age=7200; Domain=foo.test; Path=/app; Secure; HttpOnly"},
		{name: "samesite strict kept for old chrome", bal: annotations.Balance{Cookie: true, CookieName: "s", CookieSameSite: "Strict", CookieConditionalSameSiteNone: true}, path: "/", ua: oldChrome, want: "s=VALUE; Path=/; HttpOnly; SameSite=Strict"},
		// A Prefix rule "/foo/" is the Path "/foo"; ingress-nginx's
		// cookie has the rule's path as written ($location_path).
		{name: "rule path as written", bal: annotations.Balance{Cookie: true, CookieName: "s"}, path: "/foo", cookiePath: "/foo/", want: "s=VALUE; Path=/foo/; HttpOnly"},
		// A host's root location made by its default backend sets no
		// cookie (sticky.lua's should_set_cookie).
		{name: "no cookie path", bal: annotations.Balance{Cookie: true, CookieName: "s"}, path: "/", cookiePath: "-"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			be := backendOf("app", addrs, withBalance(tc.bal))
			cp := tc.cookiePath
			switch cp {
			case "":
				cp = tc.path
			case "-":
				cp = ""
			}
			s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{{Host: "c.test", Paths: []snapshot.Path{{Path: tc.path, Match: snapshot.MatchPrefix, CookiePath: cp, Backend: be}}}}}
			_, srv := front(t, Options{}, s)
			before := time.Now()
			res := getWith(t, client(t), srv, "c.test", tc.path, "", tc.ua)
			after := time.Now()
			got := res.header.Get("Set-Cookie")
			if tc.want == "" {
				if got != "" || res.status != http.StatusOK {
					t.Fatalf("%d Set-Cookie %q, want 200 and none", res.status, got)
				}
				return
			}
			value := regexp.MustCompile(`^[^=]+=([^;]+)`).FindStringSubmatch(got)
			if value == nil {
				t.Fatalf("Set-Cookie %q", got)
			}
			want := strings.Replace(tc.want, "VALUE", value[1], 1)
			if strings.Contains(want, "EXPIRES") {
				// The date is now + 3600 s, in nginx's cookie format.
				for _, at := range []time.Time{before, after} {
					if w := strings.Replace(want, "EXPIRES", at.Add(time.Hour).UTC().Format("Mon, 02-Jan-06 15:04:05 GMT"), 1); w == got {
						return
					}
				}
				t.Fatalf("Set-Cookie\n %q\nwant\n %q", got, want)
			}
			if got != want {
				t.Fatalf("Set-Cookie\n %q\nwant\n %q", got, want)
			}
		})
	}
}

// TestAffinityCookieDeepWildcardAlias: a name that the wildcard alias
// "*.bar.test" matches more than one label deep is served and pinned by
// the cookie, but gets no cookie, as from ingress-nginx, whose
// should_set_cookie looks the host up with its first label made "*"
// only ("*.y.bar.test"); one label deep, and on the host itself, it does.
func TestAffinityCookieDeepWildcardAlias(t *testing.T) {
	t.Parallel()
	addrs, _ := echoBackends(t, 2)
	be := backendOf("app", addrs, withBalance(annotations.Balance{Cookie: true, CookieName: "route"}))
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{{Host: "foo.test", Aliases: []string{"*.bar.test"},
		Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, CookiePath: "/", Backend: be}}}}}
	_, srv := front(t, Options{}, s)
	c := client(t)
	for _, host := range []string{"foo.test", "x.bar.test"} {
		if res := getWith(t, c, srv, host, "/", "", ""); res.status != http.StatusOK || res.header.Get("Set-Cookie") == "" {
			t.Errorf("%s: %d Set-Cookie %q, want 200 and the cookie", host, res.status, res.header.Get("Set-Cookie"))
		}
	}
	first := getWith(t, c, srv, "x.bar.test", "/", "", "")
	pair := cookiePair(t, first.header)
	for i := range 10 {
		cookie := ""
		if i%2 == 1 {
			cookie = pair
		}
		res := getWith(t, c, srv, "x.y.bar.test", "/", cookie, "")
		if res.status != http.StatusOK || res.header.Get("Set-Cookie") != "" {
			t.Fatalf("x.y.bar.test, cookie %q: %d Set-Cookie %q, want 200 and none", cookie, res.status, res.header.Get("Set-Cookie"))
		}
		if cookie != "" && res.body != first.body {
			t.Fatalf("x.y.bar.test with %s: served by %s, the cookie names %s", cookie, res.body, first.body)
		}
	}
}

// TestCookieTime: the Expires date of the affinity cookie is nginx's
// ngx_http_cookie_time, as ngx.cookie_time writes it. nginx 1.22.1's
// userid module (the same function) answered, on 2026-12-07 10:09:24 UTC,
// "expires=Wed, 09-Dec-26 10:09:24 GMT" for userid_expires 172800 and
// "expires=Fri, 07-Dec-2046 10:09:24 GMT" for 631152000.
func TestCookieTime(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 7, 10, 9, 24, 0, time.UTC)
	for _, tc := range []struct {
		secs int64
		want string
	}{
		{172800, "Wed, 09-Dec-26 10:09:24 GMT"},
		{631152000, "Fri, 07-Dec-2046 10:09:24 GMT"},
	} {
		if got := cookieTime(now.Add(time.Duration(tc.secs) * time.Second).In(time.FixedZone("x", 3600))); got != tc.want {
			t.Errorf("now + %d s: %q, want %q", tc.secs, got, tc.want)
		}
	}
}

// TestAffinityCookieSecureOnHTTPS: without session-cookie-secure, the
// cookie is Secure on an HTTPS request only.
func TestAffinityCookieSecureOnHTTPS(t *testing.T) {
	t.Parallel()
	addrs, _ := echoBackends(t, 1)
	p := New(Options{})
	if err := p.Apply(snap(1, "tls.test", backendOf("app", addrs, withBalance(annotations.Balance{Cookie: true, CookieName: "route"})))); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(p)
	t.Cleanup(func() { srv.Close(); p.Close() })
	c := srv.Client()
	t.Cleanup(c.CloseIdleConnections)
	res := getWith(t, c, srv, "tls.test", "/", "", "")
	if got := res.header.Get("Set-Cookie"); !strings.HasSuffix(got, "; Path=/; Secure; HttpOnly") {
		t.Errorf("Set-Cookie %q over HTTPS, want Secure", got)
	}
}

// TestStickyChangeOnFailure: a cookie naming an endpoint that refuses
// connections. With session-cookie-change-on-failure the request is
// passed to another endpoint and the cookie changed to name it; without,
// as ingress-nginx's sticky balance (balancer/sticky.lua: it returns the
// cookie's upstream unless the last try failed and change_on_failure is
// set), every try goes to the pinned endpoint again, so the client gets
// 502 and keeps its cookie.
func TestStickyChangeOnFailure(t *testing.T) {
	t.Parallel()
	good, names := echoBackends(t, 2)
	dead := refusedAddr(t)
	name := "ns-app-http"
	deadCookie := "route=" + md5hex(name+dead) + "|" + md5hex(md5hex(name)+name)
	for _, change := range []bool{false, true} {
		bal := annotations.Balance{Cookie: true, Persistent: true, CookieName: "route", CookieChangeOnFailure: change}
		_, srv := front(t, Options{}, snap(1, "f.test", backendOf("app", append([]string{dead}, good...), withBalance(bal))))
		res := getWith(t, client(t), srv, "f.test", "/", deadCookie, "")
		sc := res.header.Get("Set-Cookie")
		if !change {
			if res.status != http.StatusBadGateway || sc != "" {
				t.Errorf("change=false: status %d from %q, Set-Cookie %q; want 502 and none", res.status, res.body, sc)
			}
			continue
		}
		if res.status != http.StatusOK {
			t.Fatalf("change=true: status %d", res.status)
		}
		var servedBy string
		for a, n := range names {
			if n == res.body {
				servedBy = a
			}
		}
		if want := "route=" + md5hex(name+servedBy) + "|"; !strings.HasPrefix(sc, want) {
			t.Errorf("change=true: Set-Cookie %q, want it to name %s (%s)", sc, servedBy, want)
		}
	}
}

// TestRetrySameEndpoint: proxy-next-upstream http_503 with the default
// proxy-next-upstream-tries 3, and two endpoints answering 503. As
// ingress-nginx's balancers hand out the same endpoint at every try, all
// three tries go to one endpoint, whose 503 is the answer: the one the
// affinity cookie pins (without session-cookie-change-on-failure,
// sticky.lua), or the one upstream-hash-by's key finds (chash.lua).
// nginx 1.22.1 handed the same peer three times (an upstream of one
// address listed thrice, max_fails=0, proxy_next_upstream error timeout
// http_503, tries 3) answered 503 with $upstream_status "503, 503, 503",
// the backend reached three times; a refusing address: 502, "502, 502,
// 502".
func TestRetrySameEndpoint(t *testing.T) {
	t.Parallel()
	name := "ns-app-http"
	for _, tc := range []struct {
		name string
		bal  annotations.Balance
		hdr  func(pinned string) string // the Cookie header
	}{
		{"sticky", annotations.Balance{Cookie: true, Persistent: true, CookieName: "route"},
			func(pinned string) string { return "route=" + md5hex(name+pinned) + "|" + md5hex(md5hex(name)+name) }},
		{"hash", annotations.Balance{HashBy: "$cookie_user", HashBySubsetSize: 3, CookieName: annotations.DefaultCookieName},
			func(string) string { return "user=u1" }},
	} {
		hits := map[string]*atomic.Int64{}
		var addrs []string
		for range 2 {
			n := new(atomic.Int64)
			a := addr(backend(t, func(w http.ResponseWriter, _ *http.Request) {
				n.Add(1)
				w.WriteHeader(http.StatusServiceUnavailable)
			}))
			hits[a] = n
			addrs = append(addrs, a)
		}
		next := func(p *annotations.Proxy) {
			p.NextUpstream = annotations.NextError | annotations.NextTimeout | annotations.NextHTTP503
		}
		_, srv := front(t, Options{}, snap(1, "p.test", backendOf("app", addrs, withBalance(tc.bal), next)))
		res := getWith(t, client(t), srv, "p.test", "/", tc.hdr(addrs[0]), "")
		got := []int64{hits[addrs[0]].Load(), hits[addrs[1]].Load()}
		if res.status != http.StatusServiceUnavailable || max(got[0], got[1]) != 3 || min(got[0], got[1]) != 0 ||
			tc.name == "sticky" && got[0] != 3 {
			t.Errorf("%s: status %d, tries per endpoint %v; want 503 and all 3 on one (sticky: the first)", tc.name, res.status, got)
		}
	}
}

// TestStickyRetryCookies: a request without a cookie whose new sticky
// endpoint refuses the connection is passed to another new one; as
// lua-resty-cookie adds each attempt's cookie, the response carries one
// Set-Cookie per attempt, the last naming the endpoint that answered, as
// from ingress-nginx.
func TestStickyRetryCookies(t *testing.T) {
	t.Parallel()
	good, names := echoBackends(t, 1)
	addrs := []string{refusedAddr(t), refusedAddr(t), good[0]}
	name := "ns-app-http"
	bal := annotations.Balance{Cookie: true, Persistent: true, CookieName: "route"}
	_, srv := front(t, Options{}, snap(1, "r.test", backendOf("app", addrs, withBalance(bal))))
	c := client(t)
	for range 30 {
		res := getWith(t, c, srv, "r.test", "/", "", "")
		if res.status != http.StatusOK || names[good[0]] != res.body {
			t.Fatalf("status %d from %q", res.status, res.body)
		}
		lines := res.header.Values("Set-Cookie")
		if len(lines) == 0 {
			t.Fatal("no Set-Cookie")
		}
		if want := "route=" + md5hex(name+good[0]) + "|"; !strings.HasPrefix(lines[len(lines)-1], want) {
			t.Fatalf("last Set-Cookie %q, want it to name %s", lines[len(lines)-1], good[0])
		}
		if len(lines) > 1 {
			for i, l := range lines[:len(lines)-1] {
				if l == lines[len(lines)-1] || !strings.HasPrefix(l, "route=") {
					t.Fatalf("Set-Cookie %d of %q", i, lines)
				}
			}
			return // a first attempt failed: one cookie per attempt
		}
	}
	t.Error("30 requests: no first attempt went to a refusing endpoint")
}

// TestAffinityCookieNotRewritten: proxy-cookie-domain, proxy-cookie-path
// and hide-headers edit the upstream's Set-Cookie lines only, as nginx's
// proxy_cookie_* and proxy_hide_header edit the upstream's fields; the
// affinity cookie, which ingress-nginx's balancer sets, stays first and
// whole, on a plain response, an upgrade's refusal and its 101.
func TestAffinityCookieNotRewritten(t *testing.T) {
	t.Parallel()
	up := answeringBackend(t, func(path string) string {
		switch path {
		case "/app/ws":
			return switching
		case "/app/refuse":
			return "403 Forbidden\r\nContent-Length: 0"
		}
		return "200 OK\r\nContent-Length: 0"
	}, "Set-Cookie: up=1; Domain=internal.svc; Path=/app/x\r\nX-Secret: s\r\n")
	bal := annotations.Balance{Cookie: true, CookieName: "route", CookieDomain: "internal.svc"}
	be := backendOf("app", []string{up}, withBalance(bal), func(p *annotations.Proxy) {
		p.Upstream = &annotations.Upstream{
			CookieDomain: &annotations.HeaderRewrite{From: "internal.svc", To: "app.test"},
			CookiePath:   &annotations.HeaderRewrite{From: "/app/", To: "/"}}
	})
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{{Host: "app.test",
		Paths: []snapshot.Path{{Path: "/app", Match: snapshot.MatchPrefix, CookiePath: "/app/", Backend: be}}}}}
	hidden := *s
	hidden.Version = 2
	hidden.Global.HideHeaders = []string{"set-cookie", "x-secret"}
	for _, tc := range []struct {
		snap   *snapshot.Snapshot
		path   string
		status int
		want   []string // after the affinity cookie
	}{
		{s, "/app/x", http.StatusOK, []string{"up=1; Domain=app.test; Path=/x"}},
		{s, "/app/ws", http.StatusSwitchingProtocols, []string{"up=1; Domain=app.test; Path=/x"}},
		{s, "/app/refuse", http.StatusForbidden, []string{"up=1; Domain=app.test; Path=/x"}},
		{&hidden, "/app/x", http.StatusOK, nil},
		{&hidden, "/app/ws", http.StatusSwitchingProtocols, nil},
	} {
		_, srv := front(t, Options{}, tc.snap)
		conn := dialRaw(t, addr(srv))
		upgrade := ""
		if tc.path != "/app/x" {
			upgrade = "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		}
		io.WriteString(conn, "GET "+tc.path+" HTTP/1.1\r\nHost: app.test\r\n"+upgrade+"\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		conn.Close()
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		got := resp.Header["Set-Cookie"]
		if resp.StatusCode != tc.status || len(got) == 0 {
			t.Fatalf("%s: %d Set-Cookie %q, want %d", tc.path, resp.StatusCode, got, tc.status)
		}
		if !strings.HasPrefix(got[0], "route=") || !strings.HasSuffix(got[0], "; Domain=internal.svc; Path=/app/; HttpOnly") {
			t.Errorf("%s (hide %v): affinity cookie %q, want it as set", tc.path, tc.snap.Global.HideHeaders, got[0])
		}
		if diff := cmp.Diff(tc.want, got[1:], cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s (hide %v): the upstream's Set-Cookie (-want +got):\n%s", tc.path, tc.snap.Global.HideHeaders, diff)
		}
	}
}

// TestAffinityCookieOnErrorPage: a status custom-http-errors intercepts is
// answered by the default-backend Service with the affinity cookie still
// first, untouched by hide-headers, as nginx's error_page keeps the
// cookie ingress-nginx's balancer put in headers_out.
func TestAffinityCookieOnErrorPage(t *testing.T) {
	t.Parallel()
	app := addr(backend(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNotFound) }))
	pages := addr(backend(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Add("Set-Cookie", "page=1")
		w.WriteHeader(http.StatusNotFound)
	}))
	be := backendOf("app", []string{app}, withErrors(404), withBalance(annotations.Balance{Cookie: true, CookieName: "route"}))
	eb := backendOf("errors", []string{pages})
	be.ErrorBackend = &eb
	s := snap(1, "e.test", be)
	s.Global.HideHeaders = []string{"set-cookie"}
	_, srv := front(t, Options{}, s)
	res := getWith(t, client(t), srv, "e.test", "/", "", "")
	got := res.header["Set-Cookie"]
	if res.status != http.StatusNotFound || len(got) != 1 || !strings.HasPrefix(got[0], "route=") {
		t.Errorf("%d Set-Cookie %q, want 404 with the affinity cookie alone", res.status, got)
	}
}

// TestHashByAcrossWorkers: upstream-hash-by $request_uri sends a URI to
// the same endpoint through either of two Proxies, and spreads URIs.
func TestHashByAcrossWorkers(t *testing.T) {
	t.Parallel()
	addrs, _ := echoBackends(t, 3)
	s := snap(1, "h.test", backendOf("app", addrs, withBalance(annotations.Balance{HashBy: "$request_uri", HashBySubsetSize: 3, CookieName: "x"})))
	_, a := front(t, Options{}, s)
	_, b := front(t, Options{}, s)
	c := client(t)
	seen := map[string]bool{}
	for i := range 30 {
		path := fmt.Sprintf("/doc/%d?v=1", i)
		first := get(t, c, a, "h.test", path)
		for j := range 3 {
			srv := a
			if j%2 == 0 {
				srv = b
			}
			if got := get(t, c, srv, "h.test", path); got.body != first.body {
				t.Fatalf("%s: %s then %s", path, first.body, got.body)
			}
		}
		seen[first.body] = true
	}
	if len(seen) != 3 {
		t.Errorf("30 URIs reached %v", seen)
	}
}

// TestEWMAAvoidsSlowEndpoint: with load-balance ewma, an endpoint that
// answers slowly gets few requests once its average is known. An
// endpoint's first response time sets its average, which the next ones
// move by a fraction of a percent each (10 s decay): the slow one is slower
// by far more than a fast one's first request can take on a loaded machine
// (at 40 ms, a run at load 12 sent it 16 of 60 requests).
func TestEWMAAvoidsSlowEndpoint(t *testing.T) {
	t.Parallel()
	fast, _ := echoBackends(t, 2)
	slow := backend(t, func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(300 * time.Millisecond) // the behaviour under test, not synchronisation
		fmt.Fprint(w, "slow")
	})
	s := snap(1, "e.test", backendOf("app", append([]string{addr(slow)}, fast...), func(p *annotations.Proxy) { p.LoadBalance = annotations.EWMA }))
	_, srv := front(t, Options{}, s)
	c := client(t)
	slowHits := 0
	for range 60 {
		if get(t, c, srv, "e.test", "/").body == "slow" {
			slowHits++
		}
	}
	if slowHits > 6 {
		t.Errorf("the slow endpoint served %d of 60 requests", slowHits)
	}
}

// TestStickyCanary: with cookie affinity on the main rule and a canary of
// weight 50, a client stays on whichever backend first served it; with
// affinity-canary-behavior legacy the canary sets no cookie, so a client
// it served is drawn again.
func TestStickyCanary(t *testing.T) {
	t.Parallel()
	mainAddrs, _ := echoBackends(t, 2)
	canary := backend(t, func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "canary") })
	bal := annotations.Balance{Cookie: true, Persistent: true, CookieName: "route"}
	for _, legacy := range []bool{false, true} {
		cbal := bal
		cbal.Cookie = !legacy
		path := snapshot.Path{Path: "/", Match: snapshot.MatchPrefix, CookiePath: "/", Backend: backendOf("app", mainAddrs, withBalance(bal)),
			Canaries: []snapshot.Canary{{Backend: backendOf("app-v2", []string{addr(canary)}, withBalance(cbal)), Weight: 50, WeightTotal: 100}}}
		s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{{Host: "k.test", Paths: []snapshot.Path{path}}}}
		_, a := front(t, Options{}, s)
		_, b := front(t, Options{}, s)
		c := client(t)
		sawCanary, sawMain := false, false
		for range 40 {
			first := getWith(t, c, a, "k.test", "/", "", "")
			sc := first.header.Get("Set-Cookie")
			if first.body == "canary" {
				sawCanary = true
				if legacy {
					if sc != "" {
						t.Fatalf("legacy: the canary set %q", sc)
					}
					continue
				}
			} else {
				sawMain = true
			}
			pair := cookiePair(t, first.header)
			for i := range 6 {
				srv := a
				if i%2 == 1 {
					srv = b
				}
				if got := getWith(t, c, srv, "k.test", "/", pair, ""); got.body != first.body {
					t.Fatalf("legacy=%t: cookie %q from %s, then served by %s", legacy, pair, first.body, got.body)
				}
			}
		}
		if !sawCanary || !sawMain {
			t.Errorf("legacy=%t: 40 clients saw canary %t, main %t", legacy, sawCanary, sawMain)
		}
	}
}

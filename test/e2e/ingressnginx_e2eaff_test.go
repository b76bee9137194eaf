package e2e

// This file ports ingress-nginx's test/e2e/annotations/affinity.go, every
// case, asserting the affinity cookie byte for byte as
// rootfs/etc/nginx/lua/balancer/sticky.lua writes it through
// lua-resty-cookie: "name=<key>|<backend key>", then Expires, Max-Age,
// Domain, Path, Secure, HttpOnly, SameSite, each only when set. Its
// affinitymode.go is covered by TestIngressNginxAffinityModeBalanced
// (ingressnginx_e2eset_test.go) and TestIngressNginxAffinityUpdates
// (nginxcases_test.go); the canary-behavior cases of canary.go by
// TestIngressNginxCanaryAffinity. The cases after the port check what
// sticky.lua does that affinity.go leaves out: SameSite with
// conditional-samesite-none, when the cookie is (not) sent again, and
// session-cookie-change-on-failure.

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/certs/certstest"
)

// affBackendKey is sticky.lua's backend_key of the upstream
// "namespace-service-port": md5(md5(name) .. name) in hex.
func affBackendKey(upstream string) string {
	return md5Hex(md5Hex(upstream) + upstream)
}

// affBalancedKey is sticky_balanced's key, string.format("%s.%s.%s",
// ngx.now() + i, ngx.worker.pid(), math.random(999999)): seconds with up
// to three decimals, a process id and a number from 1 to 999999.
var affBalancedKey = regexp.MustCompile(`^[0-9]{10}(\.[0-9]{1,3})?\.[0-9]+\.[1-9][0-9]{0,5}$`)

// affCookie checks that lines holds exactly one Set-Cookie line, named
// name, whose value is a sticky_balanced key and the backend key of
// upstream, and whose attributes after the value are attrs exactly (with
// "; Expires=<date>" matched as a date of nginx's cookie_time within two
// seconds of expires from now when expires is not 0). It returns the
// "name=value" part, to send back.
func affCookie(t *testing.T, what string, lines []string, name, upstream, attrs string, expires time.Duration) string {
	t.Helper()
	if len(lines) != 1 {
		t.Fatalf("%s: Set-Cookie %q, want one line", what, lines)
	}
	pair, rest, _ := strings.Cut(lines[0], ";")
	rest = strings.TrimPrefix(lines[0], pair)
	k, v, _ := strings.Cut(pair, "=")
	key, bk, _ := strings.Cut(v, "|")
	if k != name || !affBalancedKey.MatchString(key) || bk != affBackendKey(upstream) {
		t.Errorf("%s: cookie %q, want %s=<sticky_balanced key>|%s", what, pair, name, affBackendKey(upstream))
	}
	if expires != 0 {
		want := time.Now().Add(expires)
		// nginx's cookie_time: a two-digit year up to 2037, four after.
		layout := "Mon, 02-Jan-06 15:04:05 GMT"
		if want.UTC().Year() > 2037 {
			layout = "Mon, 02-Jan-2006 15:04:05 GMT"
		}
		date, after, ok := strings.Cut(strings.TrimPrefix(rest, "; Expires="), ";")
		at, err := time.Parse(layout, date)
		if !ok || !strings.HasPrefix(rest, "; Expires=") || err != nil || at.Sub(want).Abs() > 2*time.Second {
			t.Errorf("%s: %q, want \"; Expires=\" and a date about %s", what, rest, want.UTC().Format(layout))
		}
		rest = ";" + after
	}
	if rest != attrs {
		t.Errorf("%s: attributes %q, want %q (whole line %q)", what, rest, attrs, lines[0])
	}
	return pair
}

// affTLS adds a spec.tls entry naming secret for host to an Ingress
// rendered by ingressPaths.
func affTLS(ing, host, secret string) string {
	return strings.Replace(ing, "spec:\n  ingressClassName: weir\n",
		fmt.Sprintf("spec:\n  ingressClassName: weir\n  tls: [{hosts: [%q], secretName: %s}]\n", host, secret), 1)
}

// affEndpoints starts n backends answering their name ("ep0", "ep1", ...)
// and returns their ports.
func affEndpoints(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for i := range n {
		name := fmt.Sprintf("ep%d", i)
		ports = append(ports, newBackend(t, name, func(rw http.ResponseWriter, _ *http.Request) { fmt.Fprint(rw, name) }).port)
	}
	return ports
}

// affServices renders one Service per name, each with an endpoint at each
// of ports.
func affServices(ports []int, names ...string) string {
	var b strings.Builder
	for _, n := range names {
		b.WriteString(endpointsService(n, ports...))
	}
	return b.String()
}

// TestIngressNginxAffinity runs the cases of affinity.go against one Weir
// serving their Ingresses over a Service "echo" with two endpoints (the
// e2e's WithDeploymentReplicas(2)).
func TestIngressNginxAffinity(t *testing.T) {
	ports := affEndpoints(t, 2)
	sticky := func(name, host, path string, ann ...string) string {
		return ingressPaths(name, host, name, "Prefix", []string{path}, append([]string{"affinity", "cookie", "session-cookie-name", "SERVERID"}, ann...)...)
	}
	ca := certstest.NewCA(t)
	crt, key := ca.Issue(t, "tls.foo.com")
	change := func(name string) string {
		return ingress("change", "change.foo.com", "change", "affinity", "cookie", "session-cookie-name", name)
	}
	files := map[string]string{
		"class.yaml":  ingressClass,
		"echo.yaml":   affServices(ports, "sticky", "change", "path", "morethanonerule", "expires", "domain", "nodomain", "useregex", "useregexwarn", "separate", "default-no-host", "alias", "secure", "insecure", "tls") + certstest.SecretYAML("default", "foo-tls", crt, key),
		"change.yaml": change("SERVERID"),
		"ing.yaml": sticky("sticky", "sticky.foo.com", "/") +
			sticky("path", "path.foo.com", "/something") +
			ingressPaths("morethanonerule", "morethanonerule.foo.com", "morethanonerule", "Prefix", []string{"/something", "/somewhereelse"},
				"affinity", "cookie", "session-cookie-name", "SERVERID") +
			ingress("expires", "cookieexpires.foo.com", "expires", "affinity", "cookie", "session-cookie-name", "ExpiresCookie",
				"session-cookie-expires", "172800", "session-cookie-max-age", "259200") +
			ingress("domain", "cookiedomain.foo.com", "domain", "affinity", "cookie", "session-cookie-name", "DomainCookie", "session-cookie-domain", "foo.bar") +
			ingress("nodomain", "cookienodomain.foo.com", "nodomain", "affinity", "cookie", "session-cookie-name", "NoDomainCookie") +
			ingressPaths("useregex", "useregex.foo.com", "useregex", "ImplementationSpecific", []string{"/foo/.*"},
				"affinity", "cookie", "session-cookie-name", "SERVERID", "use-regex", "true", "session-cookie-path", "/foo/bar") +
			ingressPaths("useregexwarn", "useregexwarn.foo.com", "useregexwarn", "ImplementationSpecific", []string{"/foo/.*"},
				"affinity", "cookie", "session-cookie-name", "SERVERID", "use-regex", "true") +
			ingressPaths("ingress1", "separate.foo.com", "separate", "Prefix", []string{"/foo/bar"}, "affinity", "cookie") +
			ingressPaths("ingress2", "separate.foo.com", "separate", "Prefix", []string{"/foo"}) +
			sticky("default-no-host", "", "/") +
			sticky("alias", "foo.com", "/bar", "server-alias", "a1.foo.com,a2.foo.com") +
			sticky("secure", "secure.foo.com", "/bar", "session-cookie-secure", "true") +
			sticky("insecure", "insecure.foo.com", "/bar", "session-cookie-secure", "false") +
			affTLS(sticky("tls", "tls.foo.com", "/", "session-cookie-secure", "false"), "tls.foo.com", "foo-tls"),
	}
	w := startWeir(t, files)
	get := func(t *testing.T, host, path string, hdr ...string) []string {
		t.Helper()
		res := w.get(host, path, hdr...)
		if res.status != http.StatusOK || res.body != "ep0" && res.body != "ep1" {
			t.Fatalf("GET %s%s: %d %q, want 200 from an endpoint", host, path, res.status, res.body)
		}
		return res.header.Values("Set-Cookie")
	}

	t.Run("should set sticky cookie SERVERID", func(t *testing.T) {
		affCookie(t, "sticky.foo.com/", get(t, "sticky.foo.com", "/"), "SERVERID", "default-sticky-80", "; Path=/; HttpOnly", 0)
	})
	t.Run("should change cookie name on ingress definition change", func(t *testing.T) {
		affCookie(t, "before the edit", get(t, "change.foo.com", "/"), "SERVERID", "default-change-80", "; Path=/; HttpOnly", 0)
		w.update("change.yaml", change("OTHERCOOKIENAME"))
		affCookie(t, "after the edit", get(t, "change.foo.com", "/"), "OTHERCOOKIENAME", "default-change-80", "; Path=/; HttpOnly", 0)
	})
	t.Run("should set the path to /something on the generated cookie", func(t *testing.T) {
		affCookie(t, "/something", get(t, "path.foo.com", "/something"), "SERVERID", "default-path-80", "; Path=/something; HttpOnly", 0)
	})
	t.Run("does not set the path to / on the generated cookie if there's more than one rule referring to the same backend", func(t *testing.T) {
		affCookie(t, "/something", get(t, "morethanonerule.foo.com", "/something"), "SERVERID", "default-morethanonerule-80", "; Path=/something; HttpOnly", 0)
		affCookie(t, "/somewhereelse", get(t, "morethanonerule.foo.com", "/somewhereelse"), "SERVERID", "default-morethanonerule-80", "; Path=/somewhereelse; HttpOnly", 0)
	})
	t.Run("should set cookie with expires", func(t *testing.T) {
		// Expires is ngx.cookie_time(ngx.time() + 172800): 48 hours on.
		affCookie(t, "expires", get(t, "cookieexpires.foo.com", "/"), "ExpiresCookie", "default-expires-80", "; Max-Age=259200; Path=/; HttpOnly", 48*time.Hour)
	})
	t.Run("should set cookie with domain", func(t *testing.T) {
		affCookie(t, "domain", get(t, "cookiedomain.foo.com", "/"), "DomainCookie", "default-domain-80", "; Domain=foo.bar; Path=/; HttpOnly", 0)
	})
	t.Run("should not set cookie without domain annotation", func(t *testing.T) {
		affCookie(t, "no domain", get(t, "cookienodomain.foo.com", "/"), "NoDomainCookie", "default-nodomain-80", "; Path=/; HttpOnly", 0)
	})
	t.Run("should work with use-regex annotation and session-cookie-path", func(t *testing.T) {
		affCookie(t, "use-regex", get(t, "useregex.foo.com", "/foo/bar"), "SERVERID", "default-useregex-80", "; Path=/foo/bar; HttpOnly", 0)
	})
	t.Run("should warn user when use-regex is true and session-cookie-path is not set", func(t *testing.T) {
		// Without session-cookie-path the cookie's Path is
		// $location_path, the regular expression as written.
		affCookie(t, "use-regex, no path", get(t, "useregexwarn.foo.com", "/foo/bar"), "SERVERID", "default-useregexwarn-80", "; Path=/foo/.*; HttpOnly", 0)
		if logs := w.logs.String(); !strings.Contains(logs, "session-cookie-path should be set when use-regex is true") {
			t.Errorf("no warning about session-cookie-path in the log:\n%s", logs)
		}
	})
	t.Run("should not set affinity across all server locations when using separate ingresses", func(t *testing.T) {
		if c := get(t, "separate.foo.com", "/foo"); len(c) != 0 {
			t.Errorf("/foo of the Ingress without affinity: Set-Cookie %q, want none", c)
		}
		pair := affCookie(t, "/foo/bar", get(t, "separate.foo.com", "/foo/bar"), "INGRESSCOOKIE", "default-separate-80", "; Path=/foo/bar; HttpOnly", 0)
		// ingress-nginx keeps one balancer per Service port, sticky once
		// any Ingress routing there sets affinity: ingress2's /foo sets
		// no cookie but one sent to it pins it.
		served := w.get("separate.foo.com", "/foo/bar", "Cookie", pair).body
		for range 6 {
			res := w.get("separate.foo.com", "/foo", "Cookie", pair)
			if len(res.header.Values("Set-Cookie")) != 0 || res.body != served {
				t.Fatalf("/foo with %s: from %s Set-Cookie %q, want %s (the cookie's endpoint) and none", pair, res.body, res.header.Values("Set-Cookie"), served)
			}
		}
	})
	t.Run("should set sticky cookie without host", func(t *testing.T) {
		affCookie(t, "no host", get(t, "127.0.0.1", "/"), "SERVERID", "default-default-no-host-80", "; Path=/; HttpOnly", 0)
	})
	t.Run("should work with server-alias annotation", func(t *testing.T) {
		for _, host := range []string{"foo.com", "a1.foo.com", "a2.foo.com"} {
			affCookie(t, host, get(t, host, "/bar"), "SERVERID", "default-alias-80", "; Path=/bar; HttpOnly", 0)
		}
	})
	t.Run("should set secure in cookie with provided true annotation on http", func(t *testing.T) {
		affCookie(t, "secure true, http", get(t, "secure.foo.com", "/bar"), "SERVERID", "default-secure-80", "; Path=/bar; Secure; HttpOnly", 0)
	})
	t.Run("should not set secure in cookie with provided false annotation on http", func(t *testing.T) {
		affCookie(t, "secure false, http", get(t, "insecure.foo.com", "/bar"), "SERVERID", "default-insecure-80", "; Path=/bar; HttpOnly", 0)
	})
	t.Run("should set secure in cookie with provided false annotation on https", func(t *testing.T) {
		// session-cookie-secure "false" is left out of the JSON
		// (omitempty), so sticky.lua falls back to ngx.var.https == "on".
		resp, body, _ := httpsGet(t, w, httpsTransport(t, w, ca), "tls.foo.com", "/")
		if resp.StatusCode != http.StatusOK || body != "ep0" && body != "ep1" {
			t.Fatalf("GET https://tls.foo.com/: %d %q", resp.StatusCode, body)
		}
		affCookie(t, "secure false, https", resp.Header.Values("Set-Cookie"), "SERVERID", "default-tls-80", "; Path=/; Secure; HttpOnly", 0)
	})
}

// TestIngressNginxAffinityCookieLife checks, past affinity.go, what
// sticky.lua and lua-resty-cookie do with the cookie: SameSite as written
// (a value not spelt None, Lax or Strict dropped), SameSite=None withheld
// from the user agents util/same_site.lua lists when
// session-cookie-conditional-samesite-none is set; no new cookie for a
// request whose cookie names an endpoint (balanced: any key lands on the
// ring; persistent: only a key naming a current endpoint);
// session-cookie-change-on-failure; the cookie's Path under a
// rewrite-target; and no cookie for a name a wildcard server-alias matches
// more than one label deep.
func TestIngressNginxAffinityCookieLife(t *testing.T) {
	ports := affEndpoints(t, 2)
	dead := closedPort(t)
	// Each Ingress has its own Service, named as the Ingress, so its
	// own upstream (its own cookie settings).
	up := func(name string) string { return "default-" + name + "-80" }
	files := map[string]string{
		"class.yaml": ingressClass,
		"echo.yaml":  affServices(ports, "none", "lax", "far", "lowerlax", "persistent", "alias", "rewrite") + affServices([]int{dead, ports[0]}, "change", "keep"),
		"ing.yaml": ingress("none", "none.foo.com", "none", "affinity", "cookie", "session-cookie-samesite", "None",
			"session-cookie-conditional-samesite-none", "true") +
			ingress("lax", "lax.foo.com", "lax", "affinity", "cookie", "session-cookie-samesite", "Lax") +
			ingress("far", "far.foo.com", "far", "affinity", "cookie", "session-cookie-expires", "631152000") +
			ingress("lowerlax", "lowerlax.foo.com", "lowerlax", "affinity", "cookie", "session-cookie-samesite", "lax") +
			ingress("persistent", "persistent.foo.com", "persistent", "affinity", "cookie", "affinity-mode", "persistent") +
			ingress("change", "change.foo.com", "change", "affinity", "cookie", "affinity-mode", "persistent",
				"session-cookie-change-on-failure", "true") +
			ingress("keep", "keep.foo.com", "keep", "affinity", "cookie", "affinity-mode", "persistent") +
			ingress("alias", "alias.foo.com", "alias", "affinity", "cookie", "server-alias", "*.bar.com") +
			ingressPaths("rewrite", "rewrite.foo.com", "rewrite", "ImplementationSpecific", []string{"/something(/|$)(.*)"},
				"affinity", "cookie", "rewrite-target", "/$2"),
	}
	w := startWeir(t, files)
	get := func(t *testing.T, host string, hdr ...string) result {
		t.Helper()
		res := w.get(host, "/", hdr...)
		if res.status != http.StatusOK || res.body != "ep0" && res.body != "ep1" {
			t.Fatalf("GET %s/ %q: %d %q, want 200 from an endpoint", host, hdr, res.status, res.body)
		}
		return res
	}
	const (
		chrome51 = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/51.0.2704.103 Safari/537.36"
		iOS12    = "Mozilla/5.0 (iPhone; CPU iPhone OS 12_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.0 Mobile/15E148 Safari/604.1"
		chrome90 = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/90.0.4430.93 Safari/537.36"
	)

	t.Run("samesite", func(t *testing.T) {
		for _, tc := range []struct{ host, ua, attrs string }{
			{"none.foo.com", chrome90, "; Path=/; HttpOnly; SameSite=None"},
			{"none.foo.com", chrome51, "; Path=/; HttpOnly"},
			{"none.foo.com", iOS12, "; Path=/; HttpOnly"},
			{"lax.foo.com", chrome51, "; Path=/; HttpOnly; SameSite=Lax"},
			// lua-resty-cookie's bake drops a SameSite not spelt
			// exactly "Strict", "Lax" or "None".
			{"lowerlax.foo.com", chrome90, "; Path=/; HttpOnly"},
		} {
			affCookie(t, tc.host+" "+tc.ua, get(t, tc.host, "User-Agent", tc.ua).header.Values("Set-Cookie"), "INGRESSCOOKIE", up(strings.TrimSuffix(tc.host, ".foo.com")), tc.attrs, 0)
		}
	})
	t.Run("expires after 2037", func(t *testing.T) {
		// ngx.cookie_time writes a four-digit year after 2037: nginx
		// 1.22.1's userid_expires 631152000 (its ngx_http_cookie_time too)
		// answered "expires=Fri, 07-Dec-2046 10:09:24 GMT" on
		// 2026-12-07 10:09:24, and "Wed, 09-Dec-26 10:09:24 GMT" for
		// 172800.
		affCookie(t, "20 years", get(t, "far.foo.com").header.Values("Set-Cookie"), "INGRESSCOOKIE", up("far"), "; Path=/; HttpOnly", 631152000*time.Second)
	})
	t.Run("rewrite", func(t *testing.T) {
		// $location_path is the rule's path as written, the regular
		// expression a rewrite-target implies; use-regex is not set, so
		// ingress-nginx logs no session-cookie-path warning.
		res := w.get("rewrite.foo.com", "/something/x")
		if res.status != http.StatusOK {
			t.Fatalf("GET rewrite.foo.com/something/x: %d %q", res.status, res.body)
		}
		affCookie(t, "rewrite", res.header.Values("Set-Cookie"), "INGRESSCOOKIE", up("rewrite"), "; Path=/something(/|$)(.*); HttpOnly", 0)
		if logs := w.logs.String(); strings.Contains(logs, "session-cookie-path should be set") {
			t.Errorf("a session-cookie-path warning without use-regex:\n%s", logs)
		}
	})
	t.Run("cookie sent back", func(t *testing.T) {
		first := get(t, "lax.foo.com")
		pair := affCookie(t, "first", first.header.Values("Set-Cookie"), "INGRESSCOOKIE", up("lax"), "; Path=/; HttpOnly; SameSite=Lax", 0)
		for i := range 10 {
			if res := get(t, "lax.foo.com", "Cookie", pair); res.body != first.body || len(res.header.Values("Set-Cookie")) != 0 {
				t.Fatalf("request %d with %s: from %s Set-Cookie %q, want %s and none", i, pair, res.body, res.header.Values("Set-Cookie"), first.body)
			}
		}
		// Balanced: resty.chash finds an endpoint for any key, so a key
		// Weir never issued is kept.
		if res := get(t, "lax.foo.com", "Cookie", "INGRESSCOOKIE=made-up"); len(res.header.Values("Set-Cookie")) != 0 {
			t.Errorf("balanced, made-up key: Set-Cookie %q, want none", res.header.Values("Set-Cookie"))
		}
		// Persistent: the key is md5(upstream .. address) of an endpoint;
		// one naming none gets a new choice and a cookie naming it.
		res := get(t, "persistent.foo.com", "Cookie", "INGRESSCOOKIE=made-up")
		addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
		if res.body == "ep1" {
			addr = fmt.Sprintf("127.0.0.1:%d", ports[1])
		}
		want := "INGRESSCOOKIE=" + md5Hex(up("persistent")+addr) + "|" + affBackendKey(up("persistent")) + "; Path=/; HttpOnly"
		if got := res.header.Values("Set-Cookie"); len(got) != 1 || got[0] != want {
			t.Errorf("persistent, made-up key: Set-Cookie %q, want %q", got, want)
		}
	})
	t.Run("change on failure", func(t *testing.T) {
		pinned := func(name string) string {
			return "INGRESSCOOKIE=" + md5Hex(fmt.Sprintf("%s127.0.0.1:%d", up(name), dead)) + "|" + affBackendKey(up(name))
		}
		live := "INGRESSCOOKIE=" + md5Hex(fmt.Sprintf("%s127.0.0.1:%d", up("change"), ports[0])) + "|" + affBackendKey(up("change")) + "; Path=/; HttpOnly"
		// The pinned endpoint refuses the connection; proxy-next-upstream
		// (error timeout) passes the request to the live one, and the
		// cookie is changed to name it.
		if res := get(t, "change.foo.com", "Cookie", pinned("change")); res.body != "ep0" || strings.Join(res.header.Values("Set-Cookie"), "\n") != live {
			t.Errorf("change-on-failure: from %s Set-Cookie %q, want ep0 and %q", res.body, res.header.Values("Set-Cookie"), live)
		}
		// Without change-on-failure, sticky.lua's balance returns the
		// cookie's upstream at every try (should_pick_new_upstream is
		// false while the cookie names one), so each of the
		// proxy-next-upstream-tries goes to the refusing endpoint and
		// the client gets 502, its cookie unchanged, until the endpoint
		// leaves the Service (nginx 1.22.1 handed one refusing peer three
		// times: 502, $upstream_status "502, 502, 502").
		if res := w.get("keep.foo.com", "/", "Cookie", pinned("keep")); res.status != http.StatusBadGateway || len(res.header.Values("Set-Cookie")) != 0 {
			t.Errorf("no change-on-failure: %d from %q, Set-Cookie %q; want 502 and none", res.status, res.body, res.header.Values("Set-Cookie"))
		}
	})
	t.Run("wildcard alias more than one label deep", func(t *testing.T) {
		// should_set_cookie finds the host among the server's names, or
		// with its first label made "*": x.bar.com is *.bar.com's,
		// x.y.bar.com (served: nginx's *.bar.com matches any depth) would
		// be *.y.bar.com, which it has not, so no cookie.
		first := get(t, "x.bar.com")
		pair := affCookie(t, "x.bar.com", first.header.Values("Set-Cookie"), "INGRESSCOOKIE", up("alias"), "; Path=/; HttpOnly", 0)
		if res := get(t, "x.y.bar.com"); len(res.header.Values("Set-Cookie")) != 0 {
			t.Errorf("x.y.bar.com: Set-Cookie %q, want none", res.header.Values("Set-Cookie"))
		}
		for i := range 6 {
			if res := get(t, "x.y.bar.com", "Cookie", pair); res.body != first.body || len(res.header.Values("Set-Cookie")) != 0 {
				t.Fatalf("x.y.bar.com request %d with %s: from %s Set-Cookie %q, want %s and none", i, pair, res.body, res.header.Values("Set-Cookie"), first.body)
			}
		}
	})
}

// md5Hex is the hex md5 of s, as ngx.md5.
func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// This file ports the cases of ingress-nginx's e2e files
// test/e2e/annotations/{canary, http2pushpreload, fastcgi, serversnippet,
// snippet, streamsnippet}.go, annotations/modsecurity/, test/e2e/settings/
// {ocsp/ocsp, aio_write, multi_accept, reuse-port, lua_shared_dicts,
// main_snippet, server_snippet, stream_snippet, opentelemetry, geoip2}.go,
// settings/modsecurity/, settings/validations/validations.go,
// test/e2e/security/request_smuggling.go and test/e2e/leaks/lua_ssl.go that
// a client can observe and that no other test here covers yet.

// e2erestCatchAll renders an Ingress with only a spec.defaultBackend to svc,
// as the e2e framework's NewSingleCatchAllIngress.
func e2erestCatchAll(name, svc string, annotations ...string) string {
	ing := ingressPaths(name, "", svc, "Prefix", []string{"/"}, annotations...)
	return ing[:strings.Index(ing, "  rules:")] + "  defaultBackend: {service: {name: " + svc + ", port: {number: 80}}}\n"
}

// smuggle sends on a new connection to w ingress-nginx's
// request_smuggling.go request, a GET to host whose Content-Length covers
// a second request (GET /_hidden/index.html to host notlocalhost), then
// GET /second to host, and returns the connection's reader. The
// connection is closed at the end of the test.
func (w *weir) smuggle(t *testing.T, host string) *bufio.Reader {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(w.base, "http://"), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	const smuggled = "GET /_hidden/index.html HTTP/1.1\r\nHost: notlocalhost\r\n\r\n"
	fmt.Fprintf(conn, "GET /echo HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n%s", host, len(smuggled), smuggled)
	fmt.Fprintf(conn, "GET /second HTTP/1.1\r\nHost: %s\r\n\r\n", host)
	return bufio.NewReader(conn)
}

// e2erestWarned reports whether the live configuration holds a warning of
// reason on the object named name whose message contains text.
func e2erestWarned(w *weir, reason, name, text string) bool {
	for _, wn := range w.d.Live().Warnings {
		if wn.Reason == reason && (name == "" || wn.Object.Name == name) && strings.Contains(wn.Message, text) {
			return true
		}
	}
	return false
}

// TestIngressNginxCanaryRest ports the cases of
// test/e2e/annotations/canary.go that TestCanaryRules, TestCanaryWeights,
// TestCanaryMainLifecycle and TestIngressNginxCanaryAffinity do not
// already cover. v1 is the main Service (httpbun there), v2 the canary.
func TestIngressNginxCanaryRest(t *testing.T) {
	const host = "foo"
	pinned := func(t *testing.T, w *weir, want string, hdr ...string) {
		t.Helper()
		for range 5 {
			if got := w.backendOf(host, hdr...); got != want {
				t.Errorf("%q: served by %s, want %s", hdr, got, want)
				return
			}
		}
	}

	// The per-request rules, each case a host of its own on one Weir.
	rules := []struct {
		name, host string
		ann        []string   // the canary's annotations
		checks     [][]string // want, then request header name/value pairs
	}{
		// canary.go "when canary is created / should response with a 200
		// status from the mainline upstream when requests are made to
		// the mainline ingress".
		{"mainline ingress answers from the mainline upstream", "main.foo",
			[]string{"canary-by-header", "CanaryByHeader"}, [][]string{{"v1"}}},
		// canary.go "when canaried by header with value and pattern": the
		// pattern alone, then the value taking precedence over it.
		{"header pattern", "pattern.foo",
			[]string{"canary-by-header", "CanaryByHeader", "canary-by-header-pattern", "^Do[A-Z][a-z]+y$"},
			[][]string{{"v2", "CanaryByHeader", "DoCanary"}, {"v1", "CanaryByHeader", "Docanary"}}},
		{"header value wins over pattern", "valuepattern.foo",
			[]string{"canary-by-header", "CanaryByHeader", "canary-by-header-value", "DoCanary", "canary-by-header-pattern", "^Do[A-Z][a-z]+y$"},
			[][]string{{"v1", "CanaryByHeader", "DoCananry"}, {"v2", "CanaryByHeader", "DoCanary"}}},
		// canary.go "should routes to mainline upstream when the given
		// Regex causes error": balancer.lua returns false on the match
		// error before it looks at the cookie, so cookie "always" does not
		// apply; without the header the cookie decides.
		{"invalid pattern ignores the cookie", "badpattern.foo",
			[]string{"canary-by-header", "CanaryByHeader", "canary-by-header-pattern", "[][**da?$&*", "canary-by-cookie", "CanaryByCookie"},
			[][]string{{"v1", "CanaryByHeader", "DoCanary", "Cookie", "CanaryByCookie=always"}, {"v2", "Cookie", "CanaryByCookie=always"}}},
		// balancer.lua reads canary-by-header as nginx's $http_ variable,
		// "-" made "_": a name with "_" matches the request's header with
		// "-".
		{"header name with underscores", "underscore.foo",
			[]string{"canary-by-header", "Canary_By_Header"},
			[][]string{{"v2", "Canary-By-Header", "always"}, {"v1", "Canary-By-Header", "never"}}},
		// canary.go "when canaried by header with value and cookie": a
		// header value that does not match falls through to the cookie.
		{"header value then cookie", "valuecookie.foo",
			[]string{"canary-by-header", "CanaryByHeader", "canary-by-header-value", "DoCanary", "canary-by-cookie", "CanaryByCookie"},
			[][]string{{"v2", "CanaryByHeader", "otherheadervalue", "Cookie", "CanaryByCookie=always"}}},
		// canary.go "when canaried by cookie / respects always and never
		// values", the cookie named Canary-By-Cookie: lua-nginx-module
		// lowercases the variable name and nginx's $cookie_ matches names
		// in any case.
		{"cookie with dashes, any case", "cookie.foo",
			[]string{"canary-by-cookie", "Canary-By-Cookie"},
			[][]string{{"v2", "Cookie", "Canary-By-Cookie=always"}, {"v2", "Cookie", "canary-by-cookie=always"},
				{"v1", "Cookie", "Canary-By-Cookie=never"}, {"v1", "Cookie", "Canary-By-Cookie=badcookievalue"}}},
	}
	var mains, canaries strings.Builder
	for i, tc := range rules {
		mains.WriteString(ingress(fmt.Sprintf("main-%d", i), tc.host, "v1"))
		canaries.WriteString(canaryIngress(fmt.Sprintf("canary-%d", i), tc.host, "v2", tc.ann...))
	}
	rulesWeir := canaryWeir(t, map[string]string{"main.yaml": mains.String(), "canary.yaml": canaries.String()})
	for _, tc := range rules {
		t.Run(tc.name, func(t *testing.T) {
			for _, c := range tc.checks {
				for range 5 {
					if got := rulesWeir.backendOf(tc.host, c[1:]...); got != c[0] {
						t.Errorf("%q: served by %s, want %s", c[1:], got, c[0])
						break
					}
				}
			}
		})
	}

	// canary.go "should route requests to the correct upstream if the
	// mainline ingress is modified" (there with an annotation foo: bar,
	// which changes nothing served: here a proxy-read-timeout, so that a
	// new configuration version is built).
	t.Run("mainline ingress modified", func(t *testing.T) {
		w := canaryWeir(t, map[string]string{
			"main.yaml":   ingress("foo", host, "v1"),
			"canary.yaml": canaryIngress("foo-canary", host, "v2", "canary-by-header", "CanaryByHeader"),
		})
		w.update("main.yaml", ingress("foo", host, "v1", "proxy-read-timeout", "61"))
		pinned(t, w, "v1", "CanaryByHeader", "never")
		pinned(t, w, "v2", "CanaryByHeader", "always")
	})

	// canary.go "should route requests to the correct upstream if the
	// canary ingress is modified": the header renamed.
	t.Run("canary ingress modified", func(t *testing.T) {
		w := canaryWeir(t, map[string]string{
			"main.yaml":   ingress("foo", host, "v1"),
			"canary.yaml": canaryIngress("foo-canary", host, "v2", "canary-by-header", "CanaryByHeader"),
		})
		w.update("canary.yaml", canaryIngress("foo-canary", host, "v2", "canary-by-header", "CanaryByHeader2"))
		pinned(t, w, "v1", "CanaryByHeader2", "never")
		pinned(t, w, "v2", "CanaryByHeader2", "always")
		pinned(t, w, "v1", "CanaryByHeader", "always")
	})

	// canary.go "should route requests split between mainline and canary
	// if canary weight is 100 and weight total is 200" (and weight 100,
	// total 100, all to the canary): TestMainlineCanaryDistribution wants
	// each side at least 40 % of 200 requests; here of 400, 4 standard
	// deviations from half, so that the test does not flake.
	t.Run("weight 100 of total 200", func(t *testing.T) {
		w := canaryWeir(t, map[string]string{
			"main.yaml": ingress("foo", host, "v1") + ingress("all", "all", "v1"),
			"canary.yaml": canaryIngress("foo-canary", host, "v2", "canary-weight", "100", "canary-weight-total", "200") +
				canaryIngress("all-canary", "all", "v2", "canary-weight", "100"),
		})
		got := w.countBackends(400, host)
		if got["v1"] < 160 || got["v2"] < 160 || got["v1"]+got["v2"] != 400 {
			t.Errorf("weight 100/200 over 400 requests: %v, want at least 160 each on v1 and v2", got)
		}
		if got := w.countBackends(50, "all"); got["v2"] != 50 {
			t.Errorf("weight 100 (total 100): %v, want all 50 on v2", got)
		}
	})

	// canary.go "Single canary Ingress / should not use canary as a
	// catch-all server": both Ingresses have only a default backend; the
	// catch-all serves the main one.
	t.Run("canary is not the catch-all", func(t *testing.T) {
		w := canaryWeir(t, map[string]string{
			"main.yaml":   e2erestCatchAll("main", "v1"),
			"canary.yaml": e2erestCatchAll("foo-canary", "v2", "canary", "true", "canary-by-header", "CanaryByHeader"),
		})
		for _, h := range []string{"foo", "anything.example.com"} {
			if got := w.backendOf(h); got != "v1" {
				t.Errorf("%s: served by %s, want the main default backend v1", h, got)
			}
		}
		if got := w.backendOf("foo", "CanaryByHeader", "always"); got != "v2" {
			t.Errorf("foo with CanaryByHeader always: served by %s, want v2", got)
		}
	})

	// canary.go "does not crash when canary ingress has multiple paths to
	// the same non-matching backend": a canary of /foo and /bar to a
	// Service that does not exist next to the main's /info.
	t.Run("canary with paths to a missing Service", func(t *testing.T) {
		w := canaryWeir(t, map[string]string{
			"canary.yaml": ingressPaths("foo-canary", host, "httpy-svc-canary", "Prefix", []string{"/foo", "/bar"},
				"canary", "true", "canary-by-header", "CanaryByHeader"),
			"main.yaml": ingressPaths("foo", host, "v1", "Prefix", []string{"/info"}),
		})
		if got := w.get(host, "/info"); got.status != http.StatusOK || !strings.HasPrefix(got.body, "v1 ") {
			t.Errorf("GET foo/info: %d %q, want 200 from v1", got.status, got.body)
		}
		if got := w.get(host, "/info", "CanaryByHeader", "always"); got.status != http.StatusOK || !strings.HasPrefix(got.body, "v1 ") {
			t.Errorf("GET foo/info CanaryByHeader always: %d %q, want 200 from v1", got.status, got.body)
		}
		// The canary's own paths make no location (ingress-nginx's
		// createServers skips canary rules): the server's default, 404.
		if got := w.get(host, "/foo", "CanaryByHeader", "always"); got.status != http.StatusNotFound {
			t.Errorf("GET foo/foo CanaryByHeader always: %d %q, want 404", got.status, got.body)
		}
	})
}

// TestIngressNginxRefusedFeatures ports, as far as a client sees them, the
// e2e cases of features Weir refuses on purpose (README): snippets
// (annotations/{serversnippet, snippet, streamsnippet}.go,
// settings/{main_snippet, server_snippet, stream_snippet}.go,
// settings/modsecurity/), ModSecurity (annotations/modsecurity/),
// OpenTelemetry, GeoIP2, Lua dictionaries, HTTP/2 push, FastCGI and the
// nginx internals aio_write, multi_accept and reuseport. Each is reported
// as the README says (UnsupportedAnnotation, SnippetIgnored or
// UnsupportedConfigMapKey) and the rest of the configuration is served.
func TestIngressNginxRefusedFeatures(t *testing.T) {
	echo := newBackend(t, "echo", func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Link", "</style.css>; rel=preload; as=style")
		fmt.Fprintf(rw, "echo %s", r.URL.Path)
	})
	served := func(t *testing.T, w *weir, host string, absent ...string) result {
		t.Helper()
		got := w.get(host, "/")
		if got.status != http.StatusOK || got.body != "echo /" {
			t.Errorf("GET %s/: %d %q, want 200 from echo", host, got.status, got.body)
		}
		for _, h := range absent {
			if v := got.header.Get(h); v != "" {
				t.Errorf("GET %s/: header %s: %q, want none (a snippet applied)", host, h, v)
			}
		}
		return got
	}

	// annotations/http2pushpreload.go, fastcgi.go, modsecurity/
	// modsecurity.go "should enable modsecurity", "... with transaction
	// ID and OWASP rules", "should disable modsecurity": served at the
	// default risk level, each annotation reported; the upstream's Link
	// header passes as sent (no push), FCGI proxies HTTP.
	t.Run("refused annotations", func(t *testing.T) {
		w := e2esetWeir(t, map[string]string{"app.yaml": service("echo", echo.port) +
			ingress("push", "push.test", "echo", "http2-push-preload", "true") +
			ingress("fcgi", "fcgi.test", "echo", "backend-protocol", "FCGI", "fastcgi-index", "index.php",
				"fastcgi-params-configmap", "fastcgi-configmap") +
			ingress("modsec", "modsec.test", "echo", "enable-modsecurity", "true", "enable-owasp-core-rules", "true",
				"modsecurity-transaction-id", "modsecurity-$request_id") +
			ingress("modsec-off", "modsec-off.test", "echo", "enable-modsecurity", "false") +
			ingress("otel", "otel.test", "echo", "enable-opentelemetry", "true", "opentelemetry-trust-incoming-span", "true")},
			nil)
		if got := served(t, w, "push.test"); got.header.Get("Link") != "</style.css>; rel=preload; as=style" {
			t.Errorf("push.test: Link %q, want the upstream's", got.header.Get("Link"))
		}
		for _, h := range []string{"fcgi.test", "modsec.test", "modsec-off.test", "otel.test"} {
			served(t, w, h)
		}
		for name, anns := range map[string][]string{
			"push":   {"http2-push-preload"},
			"fcgi":   {"fastcgi-index", "fastcgi-params-configmap"},
			"modsec": {"enable-modsecurity", "enable-owasp-core-rules", "modsecurity-transaction-id"},
			"otel":   {"enable-opentelemetry", "opentelemetry-trust-incoming-span"},
		} {
			for _, a := range anns {
				if !e2erestWarned(w, snapshot.ReasonUnsupportedAnnotation, name, "nginx.ingress.kubernetes.io/"+a) {
					t.Errorf("no UnsupportedAnnotation warning for %s on %s: %v", a, name, w.d.Live().Warnings)
				}
			}
		}
		// Set off, a refused feature is what Weir does: no warning.
		if e2erestWarned(w, snapshot.ReasonUnsupportedAnnotation, "modsec-off", "") {
			t.Errorf("a warning for enable-modsecurity false: %v", w.d.Live().Warnings)
		}
		if !e2erestWarned(w, snapshot.ReasonInvalidAnnotation, "fcgi", "backend-protocol") &&
			!e2erestWarned(w, snapshot.ReasonUnsupportedAnnotation, "fcgi", "backend-protocol") {
			t.Errorf("no warning for backend-protocol FCGI: %v", w.d.Live().Warnings)
		}
	})

	// annotations/snippet.go "set snippet more_set_headers in all
	// locations", serversnippet.go "add valid directives to server via
	// server snippet", modsecurity.go "should enable modsecurity with
	// snippet": at annotations-risk-level Critical ingress-nginx applies
	// them; Weir serves the Ingress and never applies the snippet.
	// snippet.go "drops snippet more_set_header in all locations if
	// disabled by admin" (allow-snippet-annotations false): the same.
	t.Run("snippets at Critical", func(t *testing.T) {
		for _, allow := range []string{"true", "false"} {
			w := e2esetWeir(t, map[string]string{"app.yaml": service("echo", echo.port) +
				ingress("conf", "configurationsnippet.foo.com", "echo", "configuration-snippet", `more_set_headers "Foo1: Bar1";`) +
				ingress("server", "serversnippet.foo.com", "echo", "server-snippet", "more_set_headers \"Foo: Bar\";\nmore_set_headers \"Xpto: Lalala\";") +
				ingress("modsec", "modsecsnippet.foo.com", "echo", "enable-modsecurity", "true", "modsecurity-snippet", "SecRuleEngine On") +
				ingress("stream", "streamsnippet.foo.com", "echo", "stream-snippet", "server { listen 8000; proxy_pass 127.0.0.1:80; }")},
				nil, "annotations-risk-level", "Critical", "allow-snippet-annotations", allow)
			served(t, w, "configurationsnippet.foo.com", "Foo1")
			served(t, w, "serversnippet.foo.com", "Foo", "Xpto")
			served(t, w, "modsecsnippet.foo.com")
			served(t, w, "streamsnippet.foo.com")
			for name, a := range map[string]string{"conf": "configuration-snippet", "server": "server-snippet",
				"modsec": "modsecurity-snippet", "stream": "stream-snippet"} {
				if !e2erestWarned(w, snapshot.ReasonSnippetIgnored, name, a) {
					t.Errorf("allow-snippet-annotations %s: no SnippetIgnored warning for %s: %v", allow, a, w.d.Live().Warnings)
				}
			}
			if got := e2erestWarned(w, snapshot.ReasonUnsupportedConfigMapKey, "", "allow-snippet-annotations"); got != (allow == "true") {
				t.Errorf("allow-snippet-annotations %s: warned %v, want %v", allow, got, allow == "true")
			}
		}
	})

	// settings/{main_snippet, server_snippet, stream_snippet, aio_write,
	// multi_accept, reuse-port, lua_shared_dicts, opentelemetry,
	// geoip2}.go, settings/modsecurity/modsecurity_snippet.go,
	// settings/ocsp: conf-only there. Weir reports each key
	// (UnsupportedConfigMapKey) and serves the rest; server_snippet.go's
	// Globalfoo header is never added.
	t.Run("refused and ignored ConfigMap keys", func(t *testing.T) {
		keys := []string{
			"main-snippet", "# main snippet",
			"server-snippet", `more_set_headers "Globalfoo: Foooo";`,
			"stream-snippet", "server { listen 8000; proxy_pass 127.0.0.1:80; }",
			"http-snippet", "server { listen 80; }",
			"modsecurity-snippet", "# modsecurity snippet",
			"enable-modsecurity", "true",
			"enable-owasp-modsecurity-crs", "true",
			"lua-shared-dicts", "configuration_data:60,certificate_data:300, my_dict: 15 , invalid: 1a",
			"enable-opentelemetry", "true",
			"opentelemetry-trust-incoming-span", "true",
			"opentelemetry-operation-name", "HTTP $request_method $uri",
			"use-geoip2", "true",
			"geoip2-autoreload-in-minutes", "5",
			"enable-aio-write", "false",
			"enable-multi-accept", "false",
			"reuse-port", "false",
			"enable-ocsp", "true",
		}
		w := e2esetWeir(t, map[string]string{"app.yaml": service("echo", echo.port) + ingress("echo", "serverglobalsnippet1.foo.com", "echo")},
			nil, keys...)
		served(t, w, "serverglobalsnippet1.foo.com", "Globalfoo")
		for i := 0; i < len(keys); i += 2 {
			if !e2erestWarned(w, snapshot.ReasonUnsupportedConfigMapKey, "", keys[i]) {
				t.Errorf("no UnsupportedConfigMapKey warning for %s: %v", keys[i], w.d.Live().Warnings)
			}
		}
	})
}

// TestIngressNginxValidationsRiskLevel ports
// test/e2e/settings/validations/validations.go in folder mode (the webhook
// side is userspace/admission's TestReviewConfigMap): at
// annotations-risk-level Medium an Ingress with Low and Medium annotations
// (default-backend, denylist-source-range) is served; one adding
// modsecurity-transaction-id (High) is not.
func TestIngressNginxValidationsRiskLevel(t *testing.T) {
	echo := e2esetEcho(t)
	low := []string{"default-backend", "bla", "denylist-source-range", "1.1.1.1/32"}
	w := e2esetWeir(t, map[string]string{"app.yaml": service("echo", echo.port) +
		ingress("allowed", "allowed.test", "echo", low...) +
		ingress("risky", "risky.test", "echo", append(low, "modsecurity-transaction-id", "bla123")...)},
		nil, "annotations-risk-level", "Medium")
	if got := w.get("allowed.test", "/"); got.status != http.StatusOK {
		t.Errorf("allowed.test/: %d, want 200", got.status)
	}
	if got := w.get("risky.test", "/"); got.status != http.StatusNotFound {
		t.Errorf("risky.test/: %d, want 404 (not served)", got.status)
	}
	if !e2erestWarned(w, snapshot.ReasonInvalidIngress, "risky", "contains risky annotation based on ingress configuration") {
		t.Errorf("no InvalidIngress warning on risky: %v", w.d.Live().Warnings)
	}
}

// TestIngressNginxRequestSmugglingErrorPage ports
// test/e2e/security/request_smuggling.go "should not return body content
// from error_page" with its auth-url (answering 401) and auth-signin: Weir
// answers the GET with its signin redirect without proxying it, and the
// body its Content-Length covers, a request to another host, is read and
// dropped, never answered. TestRequestSmugglingBodyStaysBody covers the
// proxied case.
func TestIngressNginxRequestSmugglingErrorPage(t *testing.T) {
	echo := newBackend(t, "echo", nil)
	hidden := newBackend(t, "hidden", func(rw http.ResponseWriter, _ *http.Request) { fmt.Fprint(rw, "This should be hidden!") })
	auth := newE2eauthService(t)
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml": service("echo", echo.port) + service("hidden", hidden.port) +
			ingress("foo", "foo.bar.com", "echo", "auth-url", auth.url("/basic-auth/user/passwd"),
				"auth-signin", "https://httpbun.com/bearer/d4bcba7a-0def-4a31-91a7-47e420adf44b") +
			ingress("hidden", "notlocalhost", "hidden"),
	})
	br := w.smuggle(t, "foo.bar.com")
	for _, path := range []string{"/echo", "/second"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("read the answer to %s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "https://httpbun.com/bearer/") {
			t.Errorf("%s: %d Location %q, want 302 to the signin URL", path, resp.StatusCode, resp.Header.Get("Location"))
		}
		if strings.Contains(string(body), "hidden") {
			t.Errorf("%s: body %q carries the smuggled answer", path, body)
		}
	}
	if r := hidden.last(); r != nil {
		t.Errorf("the smuggled request reached the hidden upstream: %s %s", r.Method, r.URL)
	}
	if r := echo.last(); r != nil {
		t.Errorf("the unauthenticated request reached the upstream: %s %s", r.Method, r.URL)
	}
}

// TestIngressNginxLuaSSLLeaks ports test/e2e/leaks/lua_ssl.go at a scale
// for a unit run (it runs 1000 hosts 10 times): TLS Ingresses, each with
// its own Secret, created, each host answering 200 over HTTPS with its own
// certificate (not the default one), then deleted, twice over; once
// deleted a host gets the default certificate again.
func TestIngressNginxLuaSSLLeaks(t *testing.T) {
	const hosts, iterations = 12, 2
	echo := newBackend(t, "echo", nil)
	ca := certstest.NewCA(t)
	w := startWeir(t, map[string]string{"class.yaml": ingressClass, "svc.yaml": service("echo", echo.port)})
	get := func(host string) (*http.Response, error) {
		tr := &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, network, w.d.HTTPSAddr())
			},
			TLSClientConfig: &tls.Config{ServerName: host, InsecureSkipVerify: true}, // the leaf is checked below
		}
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: tr, Timeout: 20 * time.Second}
		resp, err := c.Get("https://" + host + "/")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	for it := range iterations {
		// As provisionIngress there: the Ingresses first, then their
		// Secrets.
		var ings, secrets strings.Builder
		for i := range hosts {
			host := fmt.Sprintf("hostname-%d", i+1)
			crt, key := ca.Issue(t, host)
			secrets.WriteString(certstest.SecretYAML("default", host, crt, key))
			ings.WriteString(tlsIngress(host, host, host, host, "echo"))
		}
		w.update("ings.yaml", ings.String())
		w.update("secrets.yaml", secrets.String())
		for i := range hosts {
			host := fmt.Sprintf("hostname-%d", i+1)
			resp, err := get(host)
			if err != nil {
				t.Fatalf("iteration %d: GET https://%s/: %v", it, host, err)
			}
			if leaf := resp.TLS.PeerCertificates[0]; resp.StatusCode != http.StatusOK || len(leaf.DNSNames) == 0 || leaf.DNSNames[0] != host {
				t.Errorf("iteration %d: %s: %d, certificate for %v, want 200 and %s", it, host, resp.StatusCode, leaf.DNSNames, host)
			}
		}
		for _, f := range []string{"secrets.yaml", "ings.yaml"} {
			before := w.d.LiveVersion()
			if err := os.Remove(filepath.Join(w.dir, f)); err != nil {
				t.Fatal(err)
			}
			w.waitVersion(before + 1)
		}
		if leaf := handshake(t, w, "hostname-1"); len(leaf.DNSNames) > 0 && leaf.DNSNames[0] == "hostname-1" {
			t.Errorf("iteration %d: the deleted host still gets its certificate", it)
		}
	}
}

// TestIngressNginxOCSP ports test/e2e/settings/ocsp/ocsp.go "should enable
// OCSP and contain stapling information in the connection" as far as Weir
// goes: with enable-ocsp "true" the TLS host is served with its
// certificate, and, as the README states (enable-ocsp: ignored), no OCSP
// response is stapled.
func TestIngressNginxOCSP(t *testing.T) {
	echo := e2esetEcho(t)
	secret, cfg := rsaSecretYAML(t, "ocsp", "www.example.com")
	w := e2esetWeir(t, map[string]string{"app.yaml": service("echo", echo.port) + secret +
		tlsIngress("ocsp", "www.example.com", "www.example.com", "ocsp", "echo")}, nil, "enable-ocsp", "true")
	resp, _ := httpsDo(t, w, cfg, "www.example.com", "/")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET https://www.example.com/: %d, want 200", resp.StatusCode)
	}
	if resp.TLS == nil || len(resp.TLS.OCSPResponse) != 0 {
		t.Errorf("an OCSP response was stapled, the README says none is")
	}
	if !e2erestWarned(w, snapshot.ReasonUnsupportedConfigMapKey, "", "enable-ocsp") {
		t.Errorf("no UnsupportedConfigMapKey warning for enable-ocsp: %v", w.d.Live().Warnings)
	}
}

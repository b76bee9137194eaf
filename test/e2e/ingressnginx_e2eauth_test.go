package e2e

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// e2eauthService is an authentication service like httpbun, the one of
// ingress-nginx's e2e tests: /basic-auth/USER/PASSWORD answers 200 to those
// credentials and 401 with a challenge to others, /status/N answers N,
// /cookies/set/K/V sets cookie K=V, /response-headers?K=V answers header K:
// V; anything else answers 200. It records
// the requests it got and the connections they came on.
type e2eauthService struct {
	*backend
	mu    sync.Mutex
	peers map[string]bool
}

func newE2eauthService(t *testing.T) *e2eauthService {
	t.Helper()
	s := &e2eauthService{peers: map[string]bool{}}
	s.backend = newBackend(t, "auth", func(rw http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.peers[r.RemoteAddr] = true
		s.mu.Unlock()
		p := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
		switch {
		case len(p) == 3 && p[0] == "basic-auth":
			if u, pw, ok := r.BasicAuth(); !ok || u != p[1] || pw != p[2] {
				rw.Header().Set("WWW-Authenticate", `Basic realm="Fake Realm"`)
				rw.WriteHeader(http.StatusUnauthorized)
			}
		case len(p) == 2 && p[0] == "status":
			code, _ := strconv.Atoi(p[1])
			rw.WriteHeader(code)
		case len(p) == 1 && p[0] == "response-headers":
			for k, v := range r.URL.Query() {
				rw.Header()[k] = v
			}
		case len(p) == 4 && p[0] == "cookies" && p[1] == "set":
			rw.Header().Set("Set-Cookie", p[2]+"="+p[3])
			fmt.Fprintln(rw, "OK")
		}
	})
	return s
}

// url is the service's URL for path.
func (s *e2eauthService) url(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", s.port, path)
}

// calls is how many requests the service got.
func (s *e2eauthService) calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

// connections is how many connections the service's requests came on.
func (s *e2eauthService) connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.peers)
}

// bcryptSecret is an Opaque Secret as ingress-nginx's e2e buildSecret
// writes it (an htpasswd file in key auth, "user:bcrypt\n"), with a cheaper
// cost than its 14 so that the tests stay fast.
func bcryptSecret(t *testing.T, name, user, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return opaqueSecret(name, map[string][]byte{"auth": []byte(user + ":" + string(h) + "\n")})
}

// signinLocation is the Location ingress-nginx's auth-signin
// http://$host/auth/start redirects a GET of uri on host to.
func signinLocation(host, param, uri string) string {
	return fmt.Sprintf("http://%s/auth/start?%s=http://%s%s", host, param, host, url.QueryEscape(uri))
}

// TestIngressNginxAuthAnnotations runs the cases of ingress-nginx's
// test/e2e/annotations/auth.go not already run by
// TestIngressNginxAnnotationCases and TestIngressNginxExternalAuthCases.
func TestIngressNginxAuthAnnotations(t *testing.T) {
	echo := newBackend(t, "echo", settingsEcho)
	userPassword := []string{"Authorization", "Basic " + base64Std("user:password")}

	// auth.go: `should set "proxy_set_header "My-Custom-Header" "42";" when
	// auth-headers are set`: the auth service gets the ConfigMap's header.
	t.Run("auth-proxy-set-headers", func(t *testing.T) {
		as := newE2eauthService(t)
		w := startWeir(t, map[string]string{
			"class.yaml": ingressClass,
			"app.yaml": service("echo", echo.port) + namedConfigMap("auth-headers", "My-Custom-Header", "42") +
				ingress("auth", "auth", "echo", "auth-url", as.url("/basic-auth/user/password"), "auth-proxy-set-headers", "default/auth-headers"),
		})
		if res := w.get("auth", "/", userPassword...); res.status != http.StatusOK {
			t.Fatalf("signed in: %d", res.status)
		}
		if got := as.last().Header.Get("My-Custom-Header"); got != "42" {
			t.Errorf("auth service got My-Custom-Header %q, want 42", got)
		}
	})

	// auth.go: "should set cache_key when external auth cache is
	// configured": the second request is answered from the cache.
	t.Run("auth-cache-key", func(t *testing.T) {
		as := newE2eauthService(t)
		w := startWeir(t, map[string]string{
			"class.yaml": ingressClass,
			"app.yaml": service("echo", echo.port) + ingress("auth", "auth", "echo", "auth-url", as.url("/basic-auth/user/password"),
				"auth-cache-key", "foo", "auth-cache-duration", "200 202 401 30m"),
		})
		for range 2 {
			if res := w.get("auth", "/", userPassword...); res.status != http.StatusOK {
				t.Fatalf("signed in: %d", res.status)
			}
		}
		if n := as.calls(); n != 1 {
			t.Errorf("auth service asked %d times for 2 requests, want 1", n)
		}
	})

	// auth.go, "when external authentication is configured" and "... with a
	// custom redirect param": "keeps processing new ingresses even if one
	// of the existing ingresses is misconfigured" (auth-type basic with a
	// Secret that does not exist).
	for _, param := range []string{"rd", "orig"} {
		t.Run("misconfigured ingress, "+param, func(t *testing.T) {
			as := newE2eauthService(t)
			w := startWeir(t, map[string]string{
				"class.yaml": ingressClass,
				"app.yaml": service("echo", echo.port) + ingress("auth", "auth", "echo",
					"auth-url", as.url("/basic-auth/user/password"), "auth-signin", "http://$host/auth/start",
					"auth-signin-redirect-param", param,
					"auth-type", "basic", "auth-secret", "something", "auth-realm", "test auth"),
			})
			w.update("other.yaml", ingress("different", "different", "echo"))
			if res := w.get("different", "/"); res.status != http.StatusOK || !strings.Contains(res.body, "host=different") {
				t.Errorf("the other Ingress: %d %q, want 200", res.status, res.body)
			}
			if res := w.get("auth", "/", userPassword...); res.status != http.StatusServiceUnavailable {
				t.Errorf("the misconfigured Ingress: %d, want 503", res.status)
			}
		})
	}

	// auth.go, the auth-keepalive cases: "should create additional upstream
	// block when auth-keepalive is set with HTTP/1.x" (use-http2 "false"),
	// and "should not create ..." with HTTP/2, with a negative value, and
	// with a variable in the host: the connections to the auth service.
	for _, tc := range []struct {
		name   string
		url    string // "" the service's
		ann    []string
		http2  bool
		reused bool
	}{
		{name: "not set", ann: nil},
		{name: "HTTP/1.x", ann: []string{"auth-keepalive", "123", "auth-keepalive-requests", "456", "auth-keepalive-timeout", "789"}, reused: true},
		{name: "HTTP/2", ann: []string{"auth-keepalive", "123", "auth-keepalive-requests", "456", "auth-keepalive-timeout", "789"}, http2: true},
		{name: "negative", ann: []string{"auth-keepalive", "-1"}},
		{name: "variable host", url: "http://$host:%d/path", ann: []string{"auth-keepalive", "123"}},
	} {
		t.Run("auth-keepalive "+tc.name, func(t *testing.T) {
			as := newE2eauthService(t)
			u := as.url("/basic-auth/user/password")
			host := "auth"
			if tc.url != "" {
				u, host = fmt.Sprintf(tc.url, as.port), "127.0.0.1"
			}
			cm := []string{"use-http2", "false"}
			if tc.http2 {
				cm = nil
			}
			w := startWeirWith(t, map[string]string{
				"class.yaml": ingressClass,
				"cm.yaml":    configMap(cm...),
				"app.yaml":   service("echo", echo.port) + ingress("auth", host, "echo", append([]string{"auth-url", u}, tc.ann...)...),
			}, configMapOptions())
			for range 3 {
				if res := w.get(host, "/", userPassword...); res.status != http.StatusOK {
					t.Fatalf("GET: %d", res.status)
				}
			}
			if n := as.connections(); (n == 1) != tc.reused {
				t.Errorf("3 subrequests on %d connections, want reused %v", n, tc.reused)
			}
		})
	}

	// auth.go, "when external authentication with caching is configured":
	// "should redirect to signin url when not signed in" on "/", which no
	// rule names: the host's root location takes the annotations of the
	// host's Ingress.
	t.Run("caching, signin on the root location", func(t *testing.T) {
		as := newE2eauthService(t)
		ann := []string{"auth-url", as.url("/basic-auth/user/password"), "auth-signin", "http://$host/auth/start",
			"auth-cache-key", "fixed", "auth-cache-duration", "200 201 401 30m"}
		w := startWeir(t, map[string]string{
			"class.yaml": ingressClass,
			"app.yaml": service("echo", echo.port) +
				ingressPaths("foo-auth-ing", "auth", "echo", "Prefix", []string{"/foo"}, ann...) +
				ingressPaths("bar-auth-ing", "auth", "echo", "Prefix", []string{"/bar"}, ann...),
		})
		if res, want := w.get("auth", "/?a=b&c=d"), signinLocation("auth", "rd", "/?a=b&c=d"); res.status != http.StatusFound || res.header.Get("Location") != want {
			t.Errorf("GET /?a=b&c=d: %d Location %q, want 302 %q", res.status, res.header.Get("Location"), want)
		}
	})

	// auth-signin with its own rd built from variables, as in ingress-nginx's
	// internal/ingress/annotations/authreq/main_test.go and oauth2-proxy's
	// guides: buildAuthSignURL adds nothing, nginx expands $host and
	// $escaped_request_uri (set_escape_uri of $request_uri).
	t.Run("auth-signin with variables", func(t *testing.T) {
		as := newE2eauthService(t)
		w := startWeir(t, map[string]string{
			"class.yaml": ingressClass,
			"app.yaml": service("echo", echo.port) + ingress("auth", "auth", "echo", "auth-url", as.url("/basic-auth/user/password"),
				"auth-signin", "http://foo.com/external-auth/start?rd=https://$host$escaped_request_uri"),
		})
		want := "http://foo.com/external-auth/start?rd=https://auth%2Fp%2520q%3Fa%3Db%26c%3D%2Fd"
		if res := w.get("AUTH:8080", "/p%20q?a=b&c=/d"); res.status != http.StatusFound || res.header.Get("Location") != want {
			t.Errorf("GET /p%%20q?a=b&c=/d: %d Location %q, want 302 %q", res.status, res.header.Get("Location"), want)
		}
	})

	// auth.go, "with invalid auth-url should deny whole location": "should
	// add error to the config": Weir logs it.
	t.Run("invalid auth-url is reported", func(t *testing.T) {
		w := startWeir(t, map[string]string{
			"class.yaml": ingressClass,
			"app.yaml": service("echo", echo.port) +
				ingressPaths("auth", "auth", "echo", "Prefix", []string{"/denied-auth"}, "auth-url", "https://invalid..auth.url"),
		})
		if res := w.get("auth", "/denied-auth"); res.status != http.StatusServiceUnavailable {
			t.Errorf("GET /denied-auth: %d, want 503", res.status)
		}
		if !strings.Contains(w.logs.String(), "invalid url host") {
			t.Errorf("the log does not say invalid url host:\n%s", w.logs.String())
		}
	})
}

// base64Std is standard base64 of s.
func base64Std(s string) string {
	return base64.StdEncoding.EncodeToString([]byte(s))
}

// TestIngressNginxGlobalExternalAuth runs the cases of ingress-nginx's
// test/e2e/settings/global_external_auth.go not already run by
// TestIngressNginxSettingsCases "global-auth-url": the ConfigMap's
// global-auth-* keys as the auth service and the client see them, on the
// e2e's two Ingresses, /foo and /bar of one host.
func TestIngressNginxGlobalExternalAuth(t *testing.T) {
	echo := newBackend(t, "echo", settingsEcho)
	const host = "global-external-auth"
	start := func(t *testing.T, cm ...string) *weir {
		t.Helper()
		return startWeirWith(t, map[string]string{
			"class.yaml": ingressClass,
			"app.yaml": service("echo", echo.port) +
				ingressPaths("foo-ingress", host, "echo", "Prefix", []string{"/foo"}) +
				ingressPaths("bar-ingress", host, "echo", "Prefix", []string{"/bar"}),
			"cm.yaml": configMap(cm...),
		}, configMapOptions())
	}
	userPassword := []string{"Authorization", "Basic " + base64Std("user:password")}

	// "should return status code 401 when request any protected service",
	// beyond the e2e's two paths: the host's root location, which takes
	// the annotations of the host's Ingress (enable-global-auth true), is
	// protected too; the default server's, which takes none, is not
	// (ingress-nginx's createServers).
	t.Run("root location and default server", func(t *testing.T) {
		as := newE2eauthService(t)
		w := start(t, "global-auth-url", as.url("/status/401"))
		if res := w.get(host, "/other"); res.status != http.StatusUnauthorized {
			t.Errorf("GET %s/other: %d, want 401", host, res.status)
		}
		if res := w.get("unknown.host", "/foo"); res.status != http.StatusNotFound {
			t.Errorf("GET unknown.host/foo: %d, want the default server's 404", res.status)
		}
	})

	// "should still return status code 200 after auth backend is deleted
	// using cache".
	t.Run("cache after the auth service is gone", func(t *testing.T) {
		as := newE2eauthService(t)
		w := start(t, "global-auth-url", as.url("/status/200"), "global-auth-cache-key", "foo",
			"global-auth-cache-duration", "200 201 401 30m")
		if res := w.get(host, "/bar", userPassword...); res.status != http.StatusOK {
			t.Fatalf("GET /bar: %d", res.status)
		}
		as.srv.Close()
		if res := w.get(host, "/bar", userPassword...); res.status != http.StatusOK {
			t.Errorf("GET /bar, the auth service gone: %d, want 200 from the cache", res.status)
		}
	})

	// "should proxy_method method when global-auth-method is configured":
	// the subrequest is a GET with X-Original-URI and X-Scheme.
	t.Run("global-auth-method", func(t *testing.T) {
		as := newE2eauthService(t)
		w := start(t, "global-auth-url", as.url("/status/401"), "global-auth-method", "GET")
		if res := w.do(http.MethodPost, host, "/foo?a=b", strings.NewReader("x")); res.status != http.StatusUnauthorized {
			t.Errorf("POST /foo: %d, want 401", res.status)
		}
		r := as.last()
		if r.Method != http.MethodGet || r.Header.Get("X-Original-URI") != "/foo?a=b" || r.Header.Get("X-Scheme") != "http" ||
			r.Header.Get("X-Original-Method") != http.MethodPost {
			t.Errorf("auth service got %s X-Original-URI %q X-Scheme %q X-Original-Method %q, want GET /foo?a=b http POST",
				r.Method, r.Header.Get("X-Original-URI"), r.Header.Get("X-Scheme"), r.Header.Get("X-Original-Method"))
		}
	})

	// "should add custom error page when global-auth-signin url is
	// configured": error_page 401 redirects to it.
	t.Run("global-auth-signin", func(t *testing.T) {
		as := newE2eauthService(t)
		w := start(t, "global-auth-url", as.url("/status/401"), "global-auth-signin", "http://foo.com/global-error-page")
		want := "http://foo.com/global-error-page?rd=http://" + host + url.QueryEscape("/foo?a=b")
		if res := w.get(host, "/foo?a=b"); res.status != http.StatusFound || res.header.Get("Location") != want {
			t.Errorf("GET /foo?a=b: %d Location %q, want 302 %q", res.status, res.header.Get("Location"), want)
		}
	})

	// "should add auth headers when global-auth-response-headers is
	// configured": the upstream gets Foo and Bar from the auth answer.
	t.Run("global-auth-response-headers", func(t *testing.T) {
		as := newE2eauthService(t)
		w := start(t, "global-auth-url", as.url("/response-headers?Foo=1&Bar=2"), "global-auth-response-headers", "Foo, Bar")
		res := w.get(host, "/foo", "Foo", "client")
		if res.status != http.StatusOK || !strings.Contains(res.body, "\nfoo=1\n") || !strings.Contains(res.body, "\nbar=2\n") {
			t.Errorf("GET /foo: %d %q, want 200 with foo=1 and bar=2", res.status, res.body)
		}
	})

	// "should set request-redirect when global-auth-request-redirect is
	// configured".
	t.Run("global-auth-request-redirect", func(t *testing.T) {
		as := newE2eauthService(t)
		w := start(t, "global-auth-url", as.url("/status/401"), "global-auth-request-redirect", "Foo-Redirect")
		w.get(host, "/foo")
		if got := as.last().Header.Get("X-Auth-Request-Redirect"); got != "Foo-Redirect" {
			t.Errorf("auth service got X-Auth-Request-Redirect %q, want Foo-Redirect", got)
		}
	})

	// "should set snippet when global external auth is configured": Weir
	// never applies a snippet; it says so and still authenticates.
	t.Run("global-auth-snippet", func(t *testing.T) {
		as := newE2eauthService(t)
		w := start(t, "global-auth-url", as.url("/status/401"), "global-auth-snippet", "proxy_set_header My-Custom-Header 42;")
		if res := w.get(host, "/foo"); res.status != http.StatusUnauthorized {
			t.Errorf("GET /foo: %d, want 401", res.status)
		}
		if h := as.last().Header.Get("My-Custom-Header"); h != "" {
			t.Errorf("the snippet was applied: My-Custom-Header %q", h)
		}
		if !strings.Contains(w.logs.String(), "global-auth-snippet") {
			t.Errorf("the log does not mention global-auth-snippet:\n%s", w.logs.String())
		}
	})
}

// TestIngressNginxNoAuthLocations runs ingress-nginx's
// test/e2e/settings/no_auth_locations.go: basic authentication with a
// bcrypt htpasswd Secret on / and /noauth, no-auth-locations "/noauth".
func TestIngressNginxNoAuthLocations(t *testing.T) {
	echo := newBackend(t, "echo", settingsEcho)
	const host = "no-auth-locations"
	w := startWeirWith(t, map[string]string{
		"class.yaml": ingressClass,
		"cm.yaml":    configMap("no-auth-locations", "/noauth"),
		"app.yaml": service("echo", echo.port) + bcryptSecret(t, "test-secret", "foo", "bar") +
			ingressPaths(host, host, "echo", "Prefix", []string{"/", "/noauth"},
				"auth-type", "basic", "auth-secret", "test-secret", "auth-realm", "test auth"),
	}, configMapOptions())
	fooBar := []string{"Authorization", "Basic " + base64Std("foo:bar")}
	for _, tc := range []struct {
		name, path string
		hdr        []string
		status     int
		body       string
	}{
		{"401 when accessing '/' unauthenticated", "/", nil, http.StatusUnauthorized, "401 Authorization Required"},
		{"200 when accessing '/' authenticated", "/", fooBar, http.StatusOK, "host=" + host},
		{"200 when accessing '/noauth' unauthenticated", "/noauth", fooBar, http.StatusOK, "host=" + host},
		{"200 when accessing '/noauth' without credentials", "/noauth", nil, http.StatusOK, "host=" + host},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if res := w.get(host, tc.path, tc.hdr...); res.status != tc.status || !strings.Contains(res.body, tc.body) {
				t.Errorf("GET %s: %d %q, want %d with %q", tc.path, res.status, res.body, tc.status, tc.body)
			}
		})
	}
}

// TestIngressNginxSatisfy runs ingress-nginx's
// test/e2e/annotations/satisfy.go.
func TestIngressNginxSatisfy(t *testing.T) {
	echo := newBackend(t, "echo", settingsEcho)
	as := newE2eauthService(t)
	ann := []string{"auth-type", "basic", "auth-secret", "basic-secret", "auth-realm", "test basic auth",
		"auth-url", as.url("/basic-auth/user/password"), "auth-signin", "http://$host/auth/start", "satisfy", "any"}
	satisfy := func(v string) string { return ingress("satisfy", "satisfy", "echo", "satisfy", v) }
	rest := service("echo", echo.port) + bcryptSecret(t, "basic-secret", "uname", "pwd") + ingress("auth", "auth", "echo", ann...)
	w := startWeir(t, map[string]string{"class.yaml": ingressClass, "app.yaml": rest + satisfy("all")})

	// "should configure satisfy directive correctly".
	t.Run("satisfy all and any", func(t *testing.T) {
		for i, v := range []string{"all", "any"} {
			if i > 0 {
				w.update("app.yaml", rest+satisfy(v))
			}
			if res := w.get("satisfy", "/"); res.status != http.StatusOK || !strings.Contains(res.body, "host=satisfy") {
				t.Errorf("satisfy %s: %d %q, want 200", v, res.status, res.body)
			}
		}
	})

	// "should allow multiple auth with satisfy any".
	t.Run("multiple auth with satisfy any", func(t *testing.T) {
		if res := w.get("auth", "/", "Authorization", "Basic "+base64Std("uname:pwd")); res.status != http.StatusOK {
			t.Errorf("basic credentials: %d, want 200", res.status)
		}
		if res, want := w.get("auth", "/?a=b&c=d"), signinLocation("auth", "rd", "/?a=b&c=d"); res.status != http.StatusFound || res.header.Get("Location") != want {
			t.Errorf("no credentials: %d Location %q, want 302 %q", res.status, res.header.Get("Location"), want)
		}
	})
}

// TestE2eauthRefusalErrorPages: an authentication refusal whose status the
// Ingress lists in custom-http-errors is answered by its default-backend,
// as ingress-nginx's location error_page catches auth_request's 401
// (nginx.tmpl: the error_page lines of custom-http-errors in the route's
// location), the WWW-Authenticate line kept.
func TestE2eauthRefusalErrorPages(t *testing.T) {
	echo := newBackend(t, "echo", settingsEcho)
	pages := newBackend(t, "pages", func(rw http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(rw, "pages code=%s original=%s", r.Header.Get("X-Code"), r.Header.Get("X-Original-URI"))
	})
	as := newE2eauthService(t)
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml": service("echo", echo.port) + service("pages", pages.port) +
			ingress("auth", "auth", "echo", "auth-url", as.url("/basic-auth/user/password"),
				"custom-http-errors", "401,403", "default-backend", "pages"),
	})
	res := w.get("auth", "/p?a=b")
	if res.status != http.StatusOK || res.body != "pages code=401 original=/p?a=b" || res.header.Get("WWW-Authenticate") != `Basic realm="Fake Realm"` {
		t.Errorf("not signed in: %d %q WWW-Authenticate %q, want 200 from the default backend with the service's challenge",
			res.status, res.body, res.header.Get("WWW-Authenticate"))
	}
}

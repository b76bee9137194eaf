package e2e

import (
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/certs/certstest"
)

// shaUser is an htpasswd line for user with password in {SHA}.
func shaUser(user, password string) string {
	sum := sha1.Sum([]byte(password))
	return user + ":{SHA}" + base64.StdEncoding.EncodeToString(sum[:])
}

// TestIngressNginxAnnotationCases runs the cases of ingress-nginx's e2e
// tests (test/e2e/annotations: affinity, alias, approot, auth, connection,
// cors, customheaders) that assert what a client sees, against one Weir
// serving a folder of the same Ingresses.
func TestIngressNginxAnnotationCases(t *testing.T) {
	echo := newBackend(t, "echo", func(rw http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(rw, "host=%s\nconnection=%s\n", r.Host, strings.ToLower(r.Header.Get("Connection")))
	})
	// Each affinity case has its own Service, as each e2e case its own
	// namespace: Ingresses sharing one share its cookie settings.
	var affSvcs strings.Builder
	affSvc := func(name string) string {
		affSvcs.WriteString(service("aff-"+name, echo.port))
		return "aff-" + name
	}
	sticky := func(name, host, path string, ann ...string) string {
		return ingressPaths(name, host, affSvc(name), "Prefix", []string{path}, append([]string{"affinity", "cookie", "session-cookie-name", "SERVERID"}, ann...)...)
	}
	basic := []string{"auth-type", "basic", "auth-secret", "basic-auth", "auth-realm", "test auth"}
	files := map[string]string{
		"class.yaml": ingressClass,
		"echo.yaml":  service("echo", echo.port),
		"secrets.yaml": opaqueSecret("basic-auth", map[string][]byte{"auth": []byte(shaUser("foo", "bar") + "\n")}) +
			opaqueSecret("basic-map", map[string][]byte{"foo": []byte(strings.TrimPrefix(shaUser("foo", "bar"), "foo:"))}) +
			opaqueSecret("basic-bad", map[string][]byte{"auth": []byte("foo:")}),
		"affinity.yaml": sticky("sticky", "sticky.foo.com", "/") +
			sticky("path", "path.foo.com", "/something") +
			ingressPaths("two", "morethanonerule.foo.com", affSvc("two"), "Prefix", []string{"/something", "/somewhereelse"},
				"affinity", "cookie", "session-cookie-name", "SERVERID") +
			sticky("expires", "cookieexpires.foo.com", "/", "session-cookie-expires", "172800", "session-cookie-max-age", "259200") +
			sticky("domain", "cookiedomain.foo.com", "/", "session-cookie-domain", "foo.bar") +
			ingressPaths("regex", "useregex.foo.com", affSvc("regex"), "ImplementationSpecific", []string{"/foo/.*"},
				"affinity", "cookie", "session-cookie-name", "SERVERID", "use-regex", "true", "session-cookie-path", "/foo/bar") +
			ingressPaths("regexwarn", "useregexwarn.foo.com", affSvc("regexwarn"), "ImplementationSpecific", []string{"/foo/.*"},
				"affinity", "cookie", "session-cookie-name", "SERVERID", "use-regex", "true") +
			ingressPaths("ingress1", "separate.foo.com", affSvc("ingress1"), "Prefix", []string{"/foo/bar"}, "affinity", "cookie") +
			ingressPaths("ingress2", "separate.foo.com", "aff-ingress1", "Prefix", []string{"/foo"}) +
			sticky("nohost", "", "/nohost") +
			sticky("alias", "foo.com", "/bar", "server-alias", "a1.foo.com,a2.foo.com") +
			sticky("secure", "secure.foo.com", "/bar", "session-cookie-secure", "true") +
			sticky("insecure", "insecure.foo.com", "/bar", "session-cookie-secure", "false"),
		"alias.yaml": ingress("alias1", "foo", "echo") +
			ingress("alias2", "foo2", "echo", "server-alias", "bar2") +
			ingressPaths("app-a", "foo3", "echo", "Prefix", []string{"/app-a"}) +
			ingressPaths("app-b", "foo3", "echo", "Prefix", []string{"/app-b"}, "server-alias", "bar3"),
		"auth.yaml": ingress("auth-none", "auth", "echo") +
			ingress("auth-invalid", "auth-invalid", "echo", "auth-type", "basic", "auth-secret", "something", "auth-realm", "test auth") +
			ingress("auth-basic", "auth-basic", "echo", basic...) +
			ingress("auth-cors", "auth-cors", "echo", append(basic, "enable-cors", "true")...) +
			ingress("auth-map", "auth-map", "echo", "auth-type", "basic", "auth-secret", "basic-map", "auth-secret-type", "auth-map", "auth-realm", "test auth") +
			ingress("auth-bad", "auth-bad", "echo", "auth-type", "basic", "auth-secret", "basic-bad", "auth-realm", "test auth"),
		"misc.yaml": ingress("approot", "approot.bar.com", "echo", "app-root", "/foo") +
			ingress("connection", "connection.foo.com", "echo", "connection-proxy-header", "keep-alive") +
			ingress("custom-headers-invalid", "custom-headers-invalid", "echo", "custom-headers", "default/custom-headers"),
	}
	files["affinity-services.yaml"] = affSvcs.String()
	w := startWeir(t, files)

	cookie := func(t *testing.T, host, path string) string {
		t.Helper()
		res := w.get(host, path)
		if res.status != http.StatusOK {
			t.Fatalf("GET %s%s: %d, want 200", host, path, res.status)
		}
		return strings.Join(res.header.Values("Set-Cookie"), "\n")
	}
	contains := func(t *testing.T, what, got string, want ...string) {
		t.Helper()
		for _, s := range want {
			if !strings.Contains(got, s) {
				t.Errorf("%s: %q lacks %q", what, got, s)
			}
		}
	}

	t.Run("affinity", func(t *testing.T) {
		contains(t, "should set sticky cookie SERVERID", cookie(t, "sticky.foo.com", "/"), "SERVERID=")
		contains(t, "should set the path to /something", cookie(t, "path.foo.com", "/something"), "Path=/something")
		contains(t, "more than one rule: /something", cookie(t, "morethanonerule.foo.com", "/something"), "Path=/something")
		contains(t, "more than one rule: /somewhereelse", cookie(t, "morethanonerule.foo.com", "/somewhereelse"), "Path=/somewhereelse")
		expires := time.Now().UTC().Add(48 * time.Hour).Format("Mon, 02-Jan-06 15:04")
		contains(t, "should set cookie with expires", cookie(t, "cookieexpires.foo.com", "/"), "Expires="+expires, "Max-Age=259200")
		contains(t, "should set cookie with domain", cookie(t, "cookiedomain.foo.com", "/"), "Domain=foo.bar")
		if c := cookie(t, "sticky.foo.com", "/"); strings.Contains(c, "; Domain") {
			t.Errorf("should not set cookie without domain annotation: %q", c)
		}
		contains(t, "use-regex and session-cookie-path", cookie(t, "useregex.foo.com", "/foo/bar"), "Path=/foo/bar", "SERVERID=")
		cookie(t, "useregexwarn.foo.com", "/foo/bar")
		contains(t, "should warn user when use-regex is true and session-cookie-path is not set", w.logs.String(),
			"session-cookie-path should be set when use-regex is true")
		if c := cookie(t, "separate.foo.com", "/foo"); c != "" {
			t.Errorf("separate ingresses: /foo got Set-Cookie %q, want none", c)
		}
		contains(t, "separate ingresses: /foo/bar", cookie(t, "separate.foo.com", "/foo/bar"), "Path=/foo/bar")
		contains(t, "should set sticky cookie without host", cookie(t, "127.0.0.1", "/nohost"), "SERVERID=")
		for _, host := range []string{"foo.com", "a1.foo.com", "a2.foo.com"} {
			contains(t, "server-alias "+host, cookie(t, host, "/bar"), "SERVERID=")
		}
		contains(t, "session-cookie-secure true on http", cookie(t, "secure.foo.com", "/bar"), "; Secure")
		if c := cookie(t, "insecure.foo.com", "/bar"); strings.Contains(c, "; Secure") {
			t.Errorf("session-cookie-secure false on http: %q", c)
		}
	})

	t.Run("alias", func(t *testing.T) {
		for _, tc := range []struct{ host, path string }{{"foo", "/"}, {"foo2", "/"}, {"bar2", "/"}, {"foo3", "/app-a"}, {"bar3", "/app-a"}} {
			if res := w.get(tc.host, tc.path); res.status != 200 || !strings.Contains(res.body, "host="+tc.host) {
				t.Errorf("GET %s%s: %d %q, want 200 host=%s", tc.host, tc.path, res.status, res.body, tc.host)
			}
		}
		if res := w.get("bar", "/"); res.status != 404 || !strings.Contains(res.body, "404 Not Found") {
			t.Errorf("GET bar: %d %q, want 404 with nginx's page", res.status, res.body)
		}
	})

	t.Run("approot", func(t *testing.T) {
		res := w.get("approot.bar.com", "/")
		if res.status != http.StatusFound || res.header.Get("Location") != "http://approot.bar.com/foo" {
			t.Errorf("app-root: %d Location %q", res.status, res.header.Get("Location"))
		}
	})

	t.Run("auth", func(t *testing.T) {
		if res := w.get("auth", "/"); res.status != 200 || !strings.Contains(res.body, "host=auth") {
			t.Errorf("no authentication: %d %q", res.status, res.body)
		}
		if res := w.get("auth-invalid", "/"); res.status != 503 || !strings.Contains(res.body, "503 Service Temporarily Unavailable") {
			t.Errorf("invalid secret: %d %q, want 503 with nginx's page", res.status, res.body)
		}
		if res := w.get("auth-basic", "/"); res.status != 401 || !strings.Contains(res.body, "401 Authorization Required") ||
			res.header.Get("Www-Authenticate") != `Basic realm="test auth"` || res.header.Get("Content-Type") != "text/html" {
			t.Errorf("no Authorization: %d %q %v, want 401 with nginx's page and realm", res.status, res.body, res.header)
		}
		bad := "Basic " + base64.StdEncoding.EncodeToString([]byte("user:pass"))
		good := "Basic " + base64.StdEncoding.EncodeToString([]byte("foo:bar"))
		if res := w.get("auth-basic", "/", "Authorization", bad); res.status != 401 || !strings.Contains(res.body, "401 Authorization Required") {
			t.Errorf("invalid credentials: %d %q, want 401 with nginx's page", res.status, res.body)
		}
		if res := w.get("auth-cors", "/"); res.status != 401 || res.header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("auth and cors, no Authorization: %d, Access-Control-Allow-Origin %q", res.status, res.header.Get("Access-Control-Allow-Origin"))
		}
		if res := w.get("auth-basic", "/", "Authorization", good); res.status != 200 {
			t.Errorf("valid credentials: %d", res.status)
		}
		if res := w.get("auth-map", "/", "Authorization", good); res.status != 200 {
			t.Errorf("auth-map, valid credentials: %d", res.status)
		}
		if res := w.get("auth-bad", "/", "Authorization", good); res.status != 401 {
			t.Errorf("invalid content: %d, want 401", res.status)
		}
	})

	t.Run("connection", func(t *testing.T) {
		if res := w.get("connection.foo.com", "/"); res.status != 200 || !strings.Contains(res.body, "connection=keep-alive") {
			t.Errorf("connection-proxy-header: %d %q", res.status, res.body)
		}
	})

	t.Run("customheaders", func(t *testing.T) {
		if res := w.get("custom-headers-invalid", "/"); res.status != 503 || !strings.Contains(res.body, "503 Service Temporarily Unavailable") {
			t.Errorf("custom-headers without its ConfigMap: %d %q, want 503 with nginx's page", res.status, res.body)
		}
	})
}

// TestIngressNginxCORSCases runs the cases of ingress-nginx's cors e2e
// test: the headers of enable-cors and what each cors-allow-origin lets in.
func TestIngressNginxCORSCases(t *testing.T) {
	echo := newBackend(t, "echo", nil)
	origins := []struct {
		name, allow string
		allowed     map[string]string // Origin sent -> Access-Control-Allow-Origin wanted ("" none)
	}{
		{"single", "https://origin.cors.com:8080", map[string]string{"https://origin.cors.com:8080": "https://origin.cors.com:8080"}},
		{"multiple", "https://origin.cors.com:8080, https://origin2.cors.com", map[string]string{"https://origin.cors.com:8080": "https://origin.cors.com:8080"}},
		{"notallowed", "http://origin2.cors.com, https://origin.com", map[string]string{"http://no.origin.com": ""}},
		{"correct", "origin.cors.com:8080, https://origin2.cors.com, https://origin.com", map[string]string{
			"origin.cors.com:8080": "", "https://origin2.cors.com": "https://origin2.cors.com", "https://origin.com": "https://origin.com"}},
		{"star", "*", map[string]string{"": "*"}},
		{"starextra", "*, foo.bar.com", map[string]string{"": "*"}},
		{"nomatch", "https://foo.bar.com", map[string]string{"https://fooxbar.com": ""}},
		{"port", "http://origin.cors.com:8080, http://origin.com:8080", map[string]string{
			"http://origin.com:8080": "http://origin.com:8080", "http://origin.com": ""}},
		{"portless", "https://origin2.cors.com, http://origin.com", map[string]string{"http://origin.com:8080": ""}},
		{"wildcard", "http://*.origin.cors.com, http://*.origin.com:8080", map[string]string{
			"http://foo.origin.cors.com": "http://foo.origin.cors.com", "http://bar-foo.origin.cors.com": "http://bar-foo.origin.cors.com",
			"http://bar.foo.origin.cors.com": ""}},
		{"wildcardport", "http://origin.cors.com:8080, http://*.origin.com:8080", map[string]string{
			"http://abc.origin.com:8080": "http://abc.origin.com:8080", "http://abc.origin.com": "", "http://origin.com:8080": "",
			"http://bar.origin.com:8080": "http://bar.origin.com:8080"}},
		{"blank", "      ", map[string]string{"http://origin.com": "*", "http://book.origin.com": "*", "test.origin.com": "*"}},
		{"trailing", "https://origin-123.cors.com:8080,   ,https://origin-321.cors.com:8080,", map[string]string{
			"https://origin-123.cors.com:8080": "https://origin-123.cors.com:8080", "https://origin-321.cors.com:8080": "https://origin-321.cors.com:8080",
			"https://unknown.cors.com:8080": ""}},
		{"schemes", "test://localhost, tauri://localhost:3000", map[string]string{
			"test://localhost": "test://localhost", "tauri://localhost:3000": "tauri://localhost:3000"}},
	}
	manifests := service("echo", echo.port) +
		ingress("defaults", "defaults.cors.com", "echo", "enable-cors", "true") +
		ingress("methods", "methods.cors.com", "echo", "enable-cors", "true", "cors-allow-methods", "POST, GET") +
		ingress("maxage", "maxage.cors.com", "echo", "enable-cors", "true", "cors-max-age", "200") +
		ingress("nocreds", "nocreds.cors.com", "echo", "enable-cors", "true", "cors-allow-credentials", "false") +
		ingress("headers", "headers.cors.com", "echo", "enable-cors", "true", "cors-allow-headers", "DNT, User-Agent") +
		ingress("expose", "expose.cors.com", "echo", "enable-cors", "true", "cors-expose-headers", "X-CustomResponseHeader, X-CustomSecondHeader")
	for _, o := range origins {
		manifests += ingress(o.name, o.name+".cors.com", "echo", "enable-cors", "true", "cors-allow-origin", o.allow)
	}
	w := startWeir(t, map[string]string{"class.yaml": ingressClass, "app.yaml": manifests})

	for _, tc := range []struct {
		host   string
		header string
		want   string // "" absent
	}{
		{"defaults", "Access-Control-Allow-Methods", "GET, PUT, POST, DELETE, PATCH, OPTIONS"},
		{"defaults", "Access-Control-Allow-Origin", "*"},
		{"defaults", "Access-Control-Allow-Headers", "DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization"},
		{"defaults", "Access-Control-Max-Age", "1728000"},
		{"defaults", "Access-Control-Allow-Credentials", "true"},
		{"methods", "Access-Control-Allow-Methods", "POST, GET"},
		{"maxage", "Access-Control-Max-Age", "200"},
		{"nocreds", "Access-Control-Allow-Credentials", ""},
		{"headers", "Access-Control-Allow-Headers", "DNT, User-Agent"},
		{"expose", "Access-Control-Expose-Headers", "X-CustomResponseHeader, X-CustomSecondHeader"},
	} {
		res := w.get(tc.host+".cors.com", "/")
		if got := res.header.Get(tc.header); res.status != 200 || got != tc.want {
			t.Errorf("%s: %d, %s %q, want 200 %q", tc.host, res.status, tc.header, got, tc.want)
		}
	}
	for _, o := range origins {
		for origin, want := range o.allowed {
			var hdr []string
			if origin != "" {
				hdr = []string{"Origin", origin}
			}
			res := w.get(o.name+".cors.com", "/", hdr...)
			if got, ok := res.header["Access-Control-Allow-Origin"]; res.status != 200 || want == "" && ok || want != "" && (len(got) != 1 || got[0] != want) {
				t.Errorf("%s (cors-allow-origin %q), Origin %q: %d, Access-Control-Allow-Origin %q, want 200 %q", o.name, o.allow, origin, res.status, got, want)
			}
		}
	}
}

// TestIngressNginxHeadersAndErrorsCases runs ingress-nginx's customheaders
// case with its ConfigMaps (a value with "$" stays literal) and its
// customhttperrors case as a client sees it: the codes intercepted follow
// an edit of custom-http-errors, and default-backend names the Service
// that answers them.
func TestIngressNginxHeadersAndErrorsCases(t *testing.T) {
	echo := newBackend(t, "echo", nil)
	app := newBackend(t, "app", func(rw http.ResponseWriter, r *http.Request) {
		code := 200
		fmt.Sscan(strings.TrimPrefix(r.URL.Path, "/"), &code)
		rw.WriteHeader(code)
	})
	pages := newBackend(t, "pages", func(rw http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(rw, "pages code=%s", r.Header.Get("X-Code"))
	})
	svcs := service("echo", echo.port) + service("app", app.port) + service("from-annotation", pages.port)
	errs := func(codes string) string {
		return ingress("customerrors", "customerrors.foo.com", "app", "custom-http-errors", codes, "default-backend", "from-annotation")
	}
	w := startWeirWith(t, map[string]string{
		"class.yaml": ingressClass,
		"cm.yaml": configMap("global-allowed-response-headers", "My-Custom-Header,My-Custom-Header-Dollar") +
			namedConfigMap("custom-headers", "My-Custom-Header", "42", "My-Custom-Header-Dollar", "$remote_addr"),
		"app.yaml": svcs + ingress("custom-headers", "custom-headers", "echo", "custom-headers", "default/custom-headers") + errs("404,500"),
	}, configMapOptions())
	if res := w.get("custom-headers", "/"); res.status != 200 || res.header.Get("My-Custom-Header") != "42" ||
		res.header.Get("My-Custom-Header-Dollar") != "$remote_addr" {
		t.Errorf("custom-headers: %d, My-Custom-Header %q, My-Custom-Header-Dollar %q; want 200, 42, $remote_addr", res.status,
			res.header.Get("My-Custom-Header"), res.header.Get("My-Custom-Header-Dollar"))
	}
	for path, want := range map[string]string{"/404": "pages code=404", "/500": "pages code=500", "/503": ""} {
		if res := w.get("customerrors.foo.com", path); want != "" && (res.status != 200 || res.body != want) || want == "" && res.status != 503 {
			t.Errorf("custom-http-errors 404,500: GET %s: %d %q, want %q", path, res.status, res.body, want)
		}
	}
	w.update("app.yaml", svcs+ingress("custom-headers", "custom-headers", "echo", "custom-headers", "default/custom-headers")+errs("503"))
	for path, want := range map[string]string{"/404": "", "/503": "pages code=503"} {
		if res := w.get("customerrors.foo.com", path); want != "" && (res.status != 200 || res.body != want) || want == "" && res.status != 404 {
			t.Errorf("custom-http-errors 503: GET %s: %d %q, want %q", path, res.status, res.body, want)
		}
	}
}

// TestIngressNginxExternalAuthCases runs ingress-nginx's external auth
// cases with an auth service like httpbun's /basic-auth/user/password and
// its cookie-setting nginx: the sign-in redirect and its parameter, the
// auth service's cookie with and without auth-always-set-cookie, a client
// header the answer lacks removed, the cache per host and path once the
// service is gone, and an invalid auth-url denying its location.
func TestIngressNginxExternalAuthCases(t *testing.T) {
	echo := newBackend(t, "echo", func(rw http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/error") {
			rw.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(rw, "foo=%s", r.Header.Get("Foo"))
	})
	authSvc := newBackend(t, "auth", func(rw http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/cookies/set/") {
			kv := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/cookies/set/"), "/", 2)
			rw.Header().Set("Set-Cookie", kv[0]+"="+kv[1])
			fmt.Fprintln(rw, "OK")
			return
		}
		if u, p, ok := r.BasicAuth(); !ok || u != "user" || p != "password" {
			rw.WriteHeader(http.StatusUnauthorized)
		}
	})
	authURL := fmt.Sprintf("http://127.0.0.1:%d/basic-auth/user/password", authSvc.port)
	cookieURL := fmt.Sprintf("http://127.0.0.1:%d/cookies/set/alma/armud", authSvc.port)
	signin := []string{"auth-url", authURL, "auth-signin", "http://$host/auth/start"}
	cached := append(signin, "auth-cache-key", "fixed", "auth-cache-duration", "200 201 401 30m")
	cookies := func(always bool) string {
		ann := []string{"auth-url", cookieURL, "auth-signin", "http://$host/auth/start"}
		if always {
			ann = append(ann, "auth-always-set-cookie", "true")
		}
		return ingressPaths("cookies", "auth-check-cookies", "echo", "Prefix", []string{"/"}, ann...) +
			ingressPaths("cookies-error", "auth-check-cookies", "echo", "Prefix", []string{"/error"}, ann...)
	}
	manifests := service("echo", echo.port) +
		ingress("signin", "auth", "echo", append(signin, "auth-response-headers", "Foo")...) +
		ingress("param", "auth-param", "echo", append(signin, "auth-signin-redirect-param", "orig")...) +
		ingressPaths("denied", "auth-denied", "echo", "Prefix", []string{"/denied-auth"}, "auth-url", "https://invalid..auth.url")
	for _, host := range []string{"this.auth", "that.auth"} {
		manifests += ingressPaths("foo-"+host, host, "echo", "Prefix", []string{"/foo"}, cached...) +
			ingressPaths("bar-"+host, host, "echo", "Prefix", []string{"/bar"}, cached...)
	}
	w := startWeir(t, map[string]string{"class.yaml": ingressClass, "app.yaml": manifests + cookies(false)})
	userPassword := "Basic " + base64.StdEncoding.EncodeToString([]byte("user:password"))

	if res := w.get("auth", "/", "Authorization", userPassword, "Foo", "bar"); res.status != 200 || res.body != "foo=" {
		t.Errorf("signed in, Foo: bar sent: %d %q, want 200 and no Foo upstream", res.status, res.body)
	}
	for host, want := range map[string]string{
		"auth":       "http://auth/auth/start?rd=http://auth%2F%3Fa%3Db%26c%3Dd",
		"auth-param": "http://auth-param/auth/start?orig=http://auth-param%2F%3Fa%3Db%26c%3Dd",
	} {
		if res := w.get(host, "/?a=b&c=d"); res.status != http.StatusFound || res.header.Get("Location") != want {
			t.Errorf("%s, not signed in: %d Location %q, want 302 %q", host, res.status, res.header.Get("Location"), want)
		}
	}
	if res := w.get("auth-denied", "/denied-auth"); res.status != http.StatusServiceUnavailable {
		t.Errorf("invalid auth-url: %d, want 503", res.status)
	}

	if res := w.get("auth-check-cookies", "/?a=b&c=d"); res.status != 200 || !strings.Contains(res.header.Get("Set-Cookie"), "alma=armud") {
		t.Errorf("user retains cookie by default: %d, Set-Cookie %q", res.status, res.header.Get("Set-Cookie"))
	}
	if res := w.get("auth-check-cookies", "/error?a=b&c=d"); res.status != 503 || res.header.Get("Set-Cookie") != "" {
		t.Errorf("upstream error: %d, Set-Cookie %q, want 503 and none", res.status, res.header.Get("Set-Cookie"))
	}
	w.update("app.yaml", manifests+cookies(true))
	if res := w.get("auth-check-cookies", "/error?a=b&c=d"); res.status != 503 || !strings.Contains(res.header.Get("Set-Cookie"), "alma=armud") {
		t.Errorf("auth-always-set-cookie, upstream error: %d, Set-Cookie %q, want 503 with alma=armud", res.status, res.header.Get("Set-Cookie"))
	}

	if res := w.get("this.auth", "/foo", "Authorization", userPassword); res.status != 200 {
		t.Fatalf("this.auth/foo signed in: %d", res.status)
	}
	authSvc.srv.Close() // the auth service is deleted
	for _, tc := range []struct {
		host, path string
		status     int
	}{{"this.auth", "/foo", 200}, {"this.auth", "/bar", 500}, {"that.auth", "/foo", 500}} {
		if res := w.get(tc.host, tc.path, "Authorization", userPassword); res.status != tc.status {
			t.Errorf("auth service gone, cache-key fixed: %s%s: %d, want %d", tc.host, tc.path, res.status, tc.status)
		}
	}
}

// endpointsService renders Service name with one EndpointSlice per port,
// each one endpoint on 127.0.0.1 at that port.
func endpointsService(name string, ports ...int) string {
	out := strings.SplitN(service(name), "\n---\napiVersion: discovery.k8s.io/v1", 2)[0]
	for i, port := range ports {
		out += fmt.Sprintf(`
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: %s-%d, namespace: default, labels: {kubernetes.io/service-name: %s}}
addressType: IPv4
ports: [{name: http, port: %d, protocol: TCP}]
endpoints: [{addresses: [127.0.0.1], conditions: {ready: true}}]
`, name, i, name, port)
	}
	return out
}

// TestIngressNginxAffinityUpdates runs ingress-nginx's affinity cases
// that change something or need TLS: a renamed cookie after an edit,
// Secure on HTTPS even with session-cookie-secure false, and
// affinitymode's persistent mode: the client stays on its endpoint while
// endpoints are added, gets 503 while there are none, and a new endpoint
// when they come back.
func TestIngressNginxAffinityUpdates(t *testing.T) {
	var backends []*backend
	for i := range 4 {
		name := fmt.Sprintf("ep%d", i)
		backends = append(backends, newBackend(t, name, func(rw http.ResponseWriter, r *http.Request) { fmt.Fprint(rw, name) }))
	}
	ports := func(n int) []int {
		var p []int
		for _, b := range backends[:n] {
			p = append(p, b.port)
		}
		return p
	}
	ca := certstest.NewCA(t)
	crt, key := ca.Issue(t, "foo.com")
	change := func(name string) string {
		return ingress("change", "change.foo.com", "ep2", "affinity", "cookie", "session-cookie-name", name)
	}
	persistent := ingress("persistent", "affinity-mode-persistent.com", "ep", "affinity", "cookie", "session-cookie-name", "hello-cookie",
		"session-cookie-expires", "172800", "session-cookie-max-age", "172800", "ssl-redirect", "false", "affinity-mode", "persistent")
	// change and secure share a Service of their own: persistent's
	// would take their (newer) affinity settings.
	tlsFoo := strings.Replace(tlsIngress("secure", "foo.com", "foo.com", "foo-tls", "ep2"), "metadata: {name: secure, namespace: default}",
		"metadata:\n  name: secure\n  namespace: default\n  annotations: {nginx.ingress.kubernetes.io/affinity: cookie, nginx.ingress.kubernetes.io/session-cookie-name: SERVERID, nginx.ingress.kubernetes.io/session-cookie-secure: \"false\"}", 1)
	ep2 := endpointsService("ep2", ports(2)...)
	rest := change("SERVERID") + persistent + tlsFoo + certstest.SecretYAML("default", "foo-tls", crt, key) + ep2
	w := startWeir(t, map[string]string{"class.yaml": ingressClass, "ep.yaml": endpointsService("ep", ports(2)...), "ing.yaml": rest})

	if res := w.get("change.foo.com", "/"); res.status != 200 || !strings.Contains(res.header.Get("Set-Cookie"), "SERVERID=") {
		t.Errorf("before the edit: %d Set-Cookie %q", res.status, res.header.Get("Set-Cookie"))
	}
	w.update("ing.yaml", change("OTHERCOOKIENAME")+persistent+tlsFoo+certstest.SecretYAML("default", "foo-tls", crt, key)+ep2)
	if res := w.get("change.foo.com", "/"); res.status != 200 || !strings.Contains(res.header.Get("Set-Cookie"), "OTHERCOOKIENAME") {
		t.Errorf("after the edit: %d Set-Cookie %q", res.status, res.header.Get("Set-Cookie"))
	}

	resp, _, _ := httpsGet(t, w, httpsTransport(t, w, nil), "foo.com", "/")
	if c := resp.Header.Get("Set-Cookie"); resp.StatusCode != 200 || !strings.Contains(c, "; Secure") {
		t.Errorf("HTTPS, session-cookie-secure false: %d Set-Cookie %q, want Secure", resp.StatusCode, c)
	}

	first := w.get("affinity-mode-persistent.com", "/")
	c := first.header.Get("Set-Cookie")
	cookie := c[:strings.IndexByte(c, ';')]
	for n := 3; n <= 4; n++ {
		w.update("ep.yaml", endpointsService("ep", ports(n)...))
		for range 5 {
			if res := w.get("affinity-mode-persistent.com", "/", "Cookie", cookie); res.status != 200 || res.body != first.body {
				t.Fatalf("persistent, %d endpoints: %d from %q, want %s", n, res.status, res.body, first.body)
			}
		}
	}
	w.update("ep.yaml", endpointsService("ep"))
	if res := w.get("affinity-mode-persistent.com", "/", "Cookie", cookie); res.status != http.StatusServiceUnavailable {
		t.Errorf("persistent, no endpoints: %d, want 503", res.status)
	}
	// Brand new endpoints: those the cookie named are gone.
	backends = backends[2:]
	w.update("ep.yaml", endpointsService("ep", ports(2)...))
	res := w.get("affinity-mode-persistent.com", "/", "Cookie", cookie)
	if res.status != 200 || res.body != "ep2" && res.body != "ep3" || !strings.Contains(res.header.Get("Set-Cookie"), "hello-cookie=") {
		t.Errorf("persistent, new endpoints: %d %q Set-Cookie %q, want 200 from a new endpoint and a new cookie", res.status, res.body, res.header.Get("Set-Cookie"))
	}
}

// TestIngressNginxAuthTLSEdits runs ingress-nginx's authtls cases that
// edit the Ingress: a host without auth-tls-secret asks for no
// certificate, then with it answers 400 without one; auth-tls-verify-client
// on then off; auth-tls-match-cn refusing then matching after an edit.
func TestIngressNginxAuthTLSEdits(t *testing.T) {
	serverCA, clientCA := certstest.NewCA(t), certstest.NewCA(t)
	b := newBackend(t, "authweb", nil)
	good := clientCA.Client(t, "authtls")
	sCrt, sKey := serverCA.Issue(t, "authtls.foo.com")
	secrets := certstest.SecretYAML("default", "server-tls", sCrt, sKey) + caSecretYAML("client-ca", clientCA.CertPEM(), nil)
	const host = "authtls.foo.com"
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"svc.yaml":   service("web", b.port) + secrets,
		"ing.yaml":   authIngress("authtls", host, "web"),
	})
	steps := []struct {
		ann              []string
		noCert, withCert int
	}{
		{nil, 200, 200},
		{[]string{"auth-tls-secret", "default/client-ca"}, 400, 200},
		{[]string{"auth-tls-secret", "default/client-ca", "auth-tls-verify-client", "off"}, 200, 200},
		{[]string{"auth-tls-secret", "default/client-ca", "auth-tls-verify-client", "on", "auth-tls-match-cn", "CN=notvalid"}, 400, 403},
		{[]string{"auth-tls-secret", "default/client-ca", "auth-tls-verify-client", "on", "auth-tls-match-cn", "CN=authtls"}, 400, 200},
	}
	for i, st := range steps {
		if i > 0 {
			w.update("ing.yaml", authIngress("authtls", host, "web", st.ann...))
		}
		if got := mtlsGet(t, w, host, host, nil).status; got != st.noCert {
			t.Errorf("%v, no certificate: %d, want %d", st.ann, got, st.noCert)
		}
		if got := mtlsGet(t, w, host, host, &good).status; got != st.withCert {
			t.Errorf("%v, valid certificate: %d, want %d", st.ann, got, st.withCert)
		}
	}
}

// TestIngressNginxCanaryAffinity runs ingress-nginx's "canary affinity
// behavior" cases (test/e2e/annotations/canary.go): with cookie affinity on
// the main Ingress, a request forced to the canary by its header gets the
// affinity cookie, which then keeps every request on the canary, whether
// affinity-canary-behavior is left out or says sticky; with legacy the
// canary sets no cookie and requests without one are shared by weight.
func TestIngressNginxCanaryAffinity(t *testing.T) {
	main := newBackend(t, "httpbun", func(rw http.ResponseWriter, _ *http.Request) { fmt.Fprint(rw, "httpbun") })
	canary := newBackend(t, "canary", func(rw http.ResponseWriter, _ *http.Request) { fmt.Fprint(rw, "canary") })
	const host, name = "foo", "aff"
	mainIng := ingressPaths("foo", host, "httpbun", "Prefix", []string{"/info"}, "affinity", "cookie", "session-cookie-name", name)
	canaryIng := func(weight string, behavior ...string) string {
		ann := []string{"canary", "true", "canary-by-header", "ForceCanary", "canary-by-header-value", "yes", "canary-weight", weight}
		return ingressPaths("foo-canary", host, "canary", "Prefix", []string{"/info"}, append(ann, behavior...)...)
	}
	for _, tc := range []struct {
		name   string
		canary string
		sticky bool
	}{
		{name: "default behavior", canary: canaryIng("1"), sticky: true},
		{name: "explicit sticky behavior", canary: canaryIng("1", "affinity-canary-behavior", "sticky"), sticky: true},
		{name: "legacy behavior", canary: canaryIng("50", "affinity-canary-behavior", "legacy")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := startWeir(t, map[string]string{
				"class.yaml": ingressClass,
				"svc.yaml":   service("httpbun", main.port) + service("canary", canary.port),
				"ing.yaml":   mainIng + tc.canary,
			})
			forced := w.get(host, "/info", "ForceCanary", "yes")
			if forced.status != http.StatusOK || forced.body != "canary" {
				t.Fatalf("forced to the canary: %d %q", forced.status, forced.body)
			}
			var cookie string
			for _, c := range (&http.Response{Header: forced.header}).Cookies() {
				if c.Name == name {
					cookie = c.Value
				}
			}
			if !tc.sticky {
				if cookie != "" {
					t.Fatalf("legacy: the canary set the affinity cookie %q", cookie)
				}
				seen := map[string]int{}
				for range 40 {
					seen[w.get(host, "/info").body]++
				}
				if seen["canary"] == 0 || seen["httpbun"] == 0 {
					t.Errorf("legacy, weight 50: 40 requests reached %v", seen)
				}
				return
			}
			if cookie == "" {
				t.Fatalf("no affinity cookie from the canary: Set-Cookie %q", forced.header.Values("Set-Cookie"))
			}
			for i := range 50 {
				if res := w.get(host, "/info", "Cookie", name+"="+cookie); res.status != http.StatusOK || res.body != "canary" {
					t.Fatalf("request %d with the canary's cookie: %d %q", i, res.status, res.body)
				}
			}
		})
	}
}

package e2e

import (
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// ingressPaths renders an Ingress with one rule for host ("" for none)
// whose paths (of pathType) all go to svc.
func ingressPaths(name, host, svc, pathType string, paths []string, annotations ...string) string {
	var ann strings.Builder
	for i := 0; i+1 < len(annotations); i += 2 {
		fmt.Fprintf(&ann, "\n    nginx.ingress.kubernetes.io/%s: %q", annotations[i], annotations[i+1])
	}
	annBlock := ""
	if ann.Len() > 0 {
		annBlock = "\n  annotations:" + ann.String()
	}
	hostLine := ""
	if host != "" {
		hostLine = "host: " + host + "\n    "
	}
	var p []string
	for _, path := range paths {
		p = append(p, fmt.Sprintf(`{path: %q, pathType: %s, backend: {service: {name: %s, port: {number: 80}}}}`, path, pathType, svc))
	}
	return fmt.Sprintf(`
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: %s
  namespace: default%s
spec:
  ingressClassName: weir
  rules:
  - %shttp: {paths: [%s]}
`, name, annBlock, hostLine, strings.Join(p, ", "))
}

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
	sticky := func(name, host, path string, ann ...string) string {
		return ingressPaths(name, host, "echo", "Prefix", []string{path}, append([]string{"affinity", "cookie", "session-cookie-name", "SERVERID"}, ann...)...)
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
			ingressPaths("two", "morethanonerule.foo.com", "echo", "Prefix", []string{"/something", "/somewhereelse"},
				"affinity", "cookie", "session-cookie-name", "SERVERID") +
			sticky("expires", "cookieexpires.foo.com", "/", "session-cookie-expires", "172800", "session-cookie-max-age", "259200") +
			sticky("domain", "cookiedomain.foo.com", "/", "session-cookie-domain", "foo.bar") +
			ingressPaths("regex", "useregex.foo.com", "echo", "ImplementationSpecific", []string{"/foo/.*"},
				"affinity", "cookie", "session-cookie-name", "SERVERID", "use-regex", "true", "session-cookie-path", "/foo/bar") +
			ingressPaths("regexwarn", "useregexwarn.foo.com", "echo", "ImplementationSpecific", []string{"/foo/.*"},
				"affinity", "cookie", "session-cookie-name", "SERVERID", "use-regex", "true") +
			ingressPaths("ingress1", "separate.foo.com", "echo", "Prefix", []string{"/foo/bar"}, "affinity", "cookie") +
			ingressPaths("ingress2", "separate.foo.com", "echo", "Prefix", []string{"/foo"}) +
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
		if res := w.get("auth-basic", "/"); res.status != 401 || !strings.Contains(res.body, "401 Authorization Required") {
			t.Errorf("no Authorization: %d %q, want 401 with nginx's page", res.status, res.body)
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

package e2e

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestProxyRedirectAndCookies mirrors ingress-nginx's proxy-* e2e cases
// ("should set proxy_redirect to off", "... to default", "... to hello.com
// goodbye.com", "should setup proxy cookies") with what a client sees: a
// real endpoint's Location, Refresh and Set-Cookie headers, through Weir
// serving a folder with the controller ConfigMap.
func TestProxyRedirectAndCookies(t *testing.T) {
	app := newBackend(t, "app", func(rw http.ResponseWriter, r *http.Request) {
		h := rw.Header()
		h.Set("Location", r.URL.Query().Get("to"))
		h.Set("Refresh", "5; url="+r.URL.Query().Get("to"))
		h.Add("Set-Cookie", "s=1; Domain=Localhost; Path=/one/two")
		h.Add("Set-Cookie", "t=2; Path=/other; HttpOnly")
		rw.WriteHeader(http.StatusFound)
	})
	w := startWeirWith(t, map[string]string{
		"class.yaml": ingressClass,
		"cm.yaml":    configMap("proxy-cookie-path", "/other /elsewhere/"),
		"app.yaml": service("app", app.port) +
			ingress("redirect-off", "off.test", "app", "proxy-redirect-from", "off", "proxy-redirect-to", "goodbye.com") +
			ingress("redirect-default", "default.test", "app", "proxy-redirect-from", "default", "proxy-redirect-to", "goodbye.com") +
			ingress("pair", "pair.test", "app", "proxy-redirect-from", "hello.com", "proxy-redirect-to", "goodbye.com",
				"proxy-cookie-domain", "localhost example.org", "proxy-cookie-path", "/one/ /") +
			ingress("plain", "plain.test", "app"),
	}, configMapOptions())
	tests := []struct {
		host, to     string
		wantLocation string
		wantCookies  []string
		wantRefresh  string // "": wantLocation's
	}{
		{"off.test", "http://upstream_balancer/a", "http://upstream_balancer/a", []string{"s=1; Domain=Localhost; Path=/one/two", "t=2; Path=/elsewhere/; HttpOnly"}, ""},
		// A Location rewritten to a path is made absolute by nginx's header
		// filter (absolute_redirect on), a Refresh is not: nginx 1.22.1
		// under proxy_redirect default answered "http://<Host>/z" for
		// "http://upstream_balancer/z".
		{"default.test", "http://upstream_balancer/a?b=1", "http://default.test/a?b=1", []string{"s=1; Domain=Localhost; Path=/one/two", "t=2; Path=/elsewhere/; HttpOnly"}, "/a?b=1"},
		{"pair.test", "hello.com/x", "goodbye.com/x", []string{"s=1; Domain=example.org; Path=/two", "t=2; Path=/other; HttpOnly"}, ""},
		{"pair.test", "http://hello.com/x", "http://hello.com/x", nil, ""},
		{"plain.test", "hello.com/x", "hello.com/x", []string{"s=1; Domain=Localhost; Path=/one/two", "t=2; Path=/elsewhere/; HttpOnly"}, ""},
	}
	for _, tc := range tests {
		res := w.get(tc.host, "/?to="+tc.to)
		if res.status != http.StatusFound {
			t.Errorf("%s: status %d, want 302", tc.host, res.status)
		}
		if got := res.header.Get("Location"); got != tc.wantLocation {
			t.Errorf("%s to %s: Location %q, want %q", tc.host, tc.to, got, tc.wantLocation)
		}
		refresh := tc.wantRefresh
		if refresh == "" {
			refresh = tc.wantLocation
		}
		if got, want := res.header.Get("Refresh"), "5; url="+refresh; got != want {
			t.Errorf("%s to %s: Refresh %q, want %q", tc.host, tc.to, got, want)
		}
		if got := res.header["Set-Cookie"]; tc.wantCookies != nil && !slices.Equal(got, tc.wantCookies) {
			t.Errorf("%s: Set-Cookie %q, want %q", tc.host, got, tc.wantCookies)
		}
	}
	// An invalid value is warned about and keeps the ConfigMap's.
	w.update("bad.yaml", ingress("bad", "bad.test", "app", "proxy-cookie-path", "/a /b /c"))
	if res := w.get("bad.test", "/?to=x"); !slices.Contains(res.header["Set-Cookie"], "t=2; Path=/elsewhere/; HttpOnly") {
		t.Errorf("bad.test: Set-Cookie %q, want the ConfigMap's rewrite", res.header["Set-Cookie"])
	}
	waitFor(t, 5*time.Second, "the warning about proxy-cookie-path", func() bool {
		return strings.Contains(w.logs.String(), "nginx.ingress.kubernetes.io/proxy-cookie-path")
	})
}

// TestDisableProxyInterceptErrors mirrors ingress-nginx's
// disable-proxy-intercept-errors e2e case: with custom-http-errors 404 and
// default-backend, "true" passes the endpoint's 404 to the client with its
// body, and "false" has it replaced by the default-backend Service's answer
// with X-Code 404. Weir's own 502 is replaced either way.
func TestDisableProxyInterceptErrors(t *testing.T) {
	app := newBackend(t, "app", func(rw http.ResponseWriter, r *http.Request) {
		rw.WriteHeader(http.StatusNotFound)
	})
	echo := newBackend(t, "echo", func(rw http.ResponseWriter, r *http.Request) {
		rw.Write([]byte("x-code=" + r.Header.Get("X-Code") + " x-ingress-name=" + r.Header.Get("X-Ingress-Name") +
			" x-service-name=" + r.Header.Get("X-Service-Name") + " x-request-id=" + r.Header.Get("X-Request-ID")))
	})
	pie := func(disable string) string {
		return ingress("pie.test", "pie.test", "app", "custom-http-errors", "404,502",
			"disable-proxy-intercept-errors", disable, "default-backend", "echo") +
			ingress("down.test", "down.test", "down", "custom-http-errors", "404,502",
				"disable-proxy-intercept-errors", "true", "default-backend", "echo")
	}
	svcs := service("app", app.port) + service("echo", echo.port) + service("down", closedPort(t))
	w := startWeir(t, map[string]string{"class.yaml": ingressClass, "svc.yaml": svcs, "ing.yaml": pie("true")})
	if res := w.get("pie.test", "/status/404", "X-Request-ID", "proxy_intercept_errors"); res.status != http.StatusNotFound || res.body != "" {
		t.Errorf("with intercept disabled: %d %q, want the endpoint's empty 404", res.status, res.body)
	}
	if res := w.get("down.test", "/"); res.status != http.StatusOK || !strings.Contains(res.body, "x-code=502") {
		t.Errorf("Weir's own 502 with intercept disabled: %d %q, want the default-backend's answer", res.status, res.body)
	}
	w.update("ing.yaml", pie("false"))
	res := w.get("pie.test", "/status/404", "X-Request-ID", "proxy_intercept_errors")
	want := "x-code=404 x-ingress-name=pie.test x-service-name=app x-request-id=proxy_intercept_errors"
	if res.status != http.StatusOK || res.body != want {
		t.Errorf("with intercept enabled: %d %q, want 200 %q", res.status, res.body, want)
	}
}

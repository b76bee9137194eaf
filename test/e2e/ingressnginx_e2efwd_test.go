package e2e

// Ports of ingress-nginx's e2e files test/e2e/settings/enable_real_ip.go,
// test/e2e/settings/forwarded_headers.go,
// test/e2e/annotations/disableproxyintercepterrors.go and
// test/e2e/defaultbackend/custom_default_backend.go, one test per file and
// one subtest per case; test/e2e/settings/namespace_selector.go needs the
// API server and is in test/cluster/ingressnginx_e2efwd_test.go. The cases'
// nginx.conf greps are checked by what those lines do: the fields the echo
// backend receives (settingsEcho's "name=value" lines), where the
// ingress-nginx echo prints the same. ingress-nginx's X-Forwarded-Port 80 is
// its listener's port: Weir's is the test listener's.

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// e2efwdClientHeaders are the forwarding fields the cases' client sends.
var e2efwdClientHeaders = []string{"X-Forwarded-Port", "1234", "X-Forwarded-Proto", "myproto",
	"X-Forwarded-Scheme", "myproto", "X-Forwarded-For", "1.2.3.4", "X-Forwarded-Host", "myhost"}

// e2efwdPort is the port of w's HTTP listener.
func e2efwdPort(w *weir) string {
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(w.base, "http://"))
	return port
}

// forTest returns w for the subtest t: its requests and waits fail t.
func (w *weir) forTest(t *testing.T) *weir {
	c := *w
	c.t = t
	return &c
}

// TestIngressNginxEnableRealIP ports test/e2e/settings/enable_real_ip.go:
// enable-real-ip trusts X-Forwarded-For for the client address (nginx's
// real_ip_header X-Forwarded-For, set_real_ip_from 0.0.0.0/0) and nothing
// else the client says; off, the client's value only travels as
// X-Original-Forwarded-For.
func TestIngressNginxEnableRealIP(t *testing.T) {
	const host = "forwarded-for-header"
	t.Run("trusts X-Forwarded-For header only when setting is true", func(t *testing.T) {
		w, _ := e2eproxyWeir(t, host, nil, "enable-real-ip", "true")
		body := w.get(host, "/", e2efwdClientHeaders...).body
		wantLines(t, body, "!host=myhost", "!x-forwarded-host=myhost", "!x-forwarded-proto=myproto",
			"!x-forwarded-port=1234", "host="+host, "x-forwarded-host="+host, "x-forwarded-proto=http",
			"x-forwarded-port="+e2efwdPort(w), "x-forwarded-for=1.2.3.4",
			// Not asserted by the case; what nginx.tmpl's lines send
			// with the client address 1.2.3.4 ($remote_addr).
			"x-real-ip=1.2.3.4", "x-forwarded-scheme=http", "x-original-forwarded-for=1.2.3.4")
		// forwarded-for-header names the field real_ip_header reads, and
		// the one X-Original-Forwarded-For copies.
		w.update("cm.yaml", configMap("enable-real-ip", "true", "forwarded-for-header", "CF-Connecting-IP"))
		wantLines(t, w.get(host, "/", append(e2efwdClientHeaders, "CF-Connecting-IP", "9.9.9.9")...).body,
			"x-forwarded-for=9.9.9.9", "x-real-ip=9.9.9.9", "x-original-forwarded-for=9.9.9.9", "x-forwarded-proto=http")
	})
	t.Run("should not trust X-Forwarded-For header when setting is false", func(t *testing.T) {
		w, _ := e2eproxyWeir(t, host, nil, "enable-real-ip", "false")
		body := w.get(host, "/", e2efwdClientHeaders...).body
		wantLines(t, body, "host="+host, "x-forwarded-port="+e2efwdPort(w), "x-forwarded-proto=http",
			"x-original-forwarded-for=1.2.3.4", "x-original-forwarded-host=myhost", "!host=myhost",
			"!x-forwarded-host=myhost", "!x-forwarded-proto=myproto", "!x-forwarded-port=1234",
			"!x-forwarded-for=1.2.3.4", "x-forwarded-for=127.0.0.1", "x-real-ip=127.0.0.1")
	})
}

// TestIngressNginxForwardedHeaders ports
// test/e2e/settings/forwarded_headers.go: use-forwarded-headers passes the
// client's X-Forwarded-* on (lua_ingress.lua's rewrite: the first
// X-Forwarded-Host becomes the upstream Host); off, none of them.
func TestIngressNginxForwardedHeaders(t *testing.T) {
	const host = "forwarded-headers"
	t.Run("should trust X-Forwarded headers when setting is true", func(t *testing.T) {
		w, _ := e2eproxyWeir(t, host, nil, "use-forwarded-headers", "true")
		// ensuring single values are parsed correctly
		wantLines(t, w.get(host, "/", e2efwdClientHeaders...).body, "host=myhost", "x-forwarded-host=myhost",
			"x-forwarded-proto=myproto", "x-forwarded-scheme=myproto", "x-forwarded-port=1234", "x-forwarded-for=1.2.3.4")
		// ensuring that first entry in X-Forwarded-Host is used as the
		// best host
		wantLines(t, w.get(host, "/", "X-Forwarded-Port", "1234", "X-Forwarded-Proto", "myproto", "X-Forwarded-For", "1.2.3.4",
			"X-Forwarded-Host", "myhost.com, another.host,example.net").body,
			"host=myhost.com", "x-forwarded-host=myhost.com", "x-original-forwarded-host=myhost.com, another.host,example.net")
		// Not in the case: X-Forwarded-Scheme and X-Scheme are
		// $pass_access_scheme, the client's X-Forwarded-Proto, whatever
		// X-Forwarded-Scheme it sent.
		wantLines(t, w.get(host, "/", "X-Forwarded-Proto", "https", "X-Forwarded-Scheme", "other").body,
			"x-forwarded-proto=https", "x-forwarded-scheme=https", "x-scheme=https")
		// compute-full-forwarded-for: $full_x_forwarded_for, the client's
		// X-Forwarded-For then the peer ($realip_remote_addr); the
		// client address (X-Real-IP) is still the leftmost trusted one.
		w.update("cm.yaml", configMap("use-forwarded-headers", "true", "compute-full-forwarded-for", "true"))
		wantLines(t, w.get(host, "/", "X-Forwarded-For", "1.2.3.4, 5.6.7.8").body,
			"x-forwarded-for=1.2.3.4, 5.6.7.8, 127.0.0.1", "x-real-ip=1.2.3.4", "x-original-forwarded-for=1.2.3.4, 5.6.7.8")
		wantLines(t, w.get(host, "/").body, "x-forwarded-for=127.0.0.1", "x-real-ip=127.0.0.1")
	})
	t.Run("should not trust X-Forwarded headers when setting is false", func(t *testing.T) {
		w, _ := e2eproxyWeir(t, host, nil, "use-forwarded-headers", "false")
		wantLines(t, w.get(host, "/", e2efwdClientHeaders...).body, "host=forwarded-headers",
			"x-forwarded-port="+e2efwdPort(w), "x-forwarded-proto=http", "x-forwarded-scheme=http",
			"x-original-forwarded-for=1.2.3.4", "x-original-forwarded-host=myhost", "!host=myhost",
			"!x-forwarded-host=myhost", "!x-forwarded-proto=myproto", "!x-forwarded-scheme=myproto",
			"!x-forwarded-port=1234", "!x-forwarded-for=1.2.3.4")
		// compute-full-forwarded-for needs use-forwarded-headers
		// (nginx.tmpl: "and UseForwardedHeaders ComputeFullForwardedFor").
		w.update("cm.yaml", configMap("compute-full-forwarded-for", "true"))
		wantLines(t, w.get(host, "/", "X-Forwarded-For", "1.2.3.4").body, "x-forwarded-for=127.0.0.1")
	})
}

// e2efwdHTTPBun answers /status/N with status N and an empty body, as
// httpbun does, and sets X-Httpbun; /status/N/body adds a body.
func e2efwdHTTPBun(w http.ResponseWriter, r *http.Request) {
	path, body := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/status/"), "/body")
	code, err := strconv.Atoi(path)
	if err != nil {
		code = http.StatusOK
	}
	w.Header().Set("X-Httpbun", "yes")
	w.WriteHeader(code)
	if body {
		fmt.Fprintf(w, "httpbun %d", code)
	}
}

// TestIngressNginxDisableProxyInterceptErrors ports
// test/e2e/annotations/disableproxyintercepterrors.go's "configures Nginx
// correctly": custom-http-errors 404 with disable-proxy-intercept-errors
// "true" passes the endpoint's 404 on (no proxy_intercept_errors on); set
// to "false", the default-backend Service answers it with X-Code and the
// location's fields. Then which statuses are intercepted, as nginx 1.22.1
// answered with the location and http blocks nginx.tmpl renders.
func TestIngressNginxDisableProxyInterceptErrors(t *testing.T) {
	const host = "pie.foo.com"
	bun := newBackend(t, "httpbun", e2efwdHTTPBun)
	echo := newBackend(t, "echo", settingsEcho)
	svcs := service("httpbun", bun.port) + service("echo", echo.port) + service("down", closedPort(t))
	pie := func(disable, codes string) string {
		return ingress(host, host, "httpbun", "custom-http-errors", codes,
			"disable-proxy-intercept-errors", disable, "default-backend", "echo") +
			ingress("down", "down.foo.com", "down", "custom-http-errors", codes,
				"disable-proxy-intercept-errors", disable, "default-backend", "echo")
	}
	all := startWeirWith(t, map[string]string{"class.yaml": ingressClass, "svc.yaml": svcs,
		"ing.yaml": pie("true", "404"), "cm.yaml": configMap()}, configMapOptions())
	const requestID = "proxy_intercept_errors"

	t.Run("configures Nginx correctly", func(t *testing.T) {
		w := all.forTest(t)
		// client test to check response - with intercept disabled
		if r := w.get(host, "/status/404", "X-Request-ID", requestID); r.status != http.StatusNotFound || r.body != "" ||
			r.header.Get("X-Httpbun") != "yes" {
			t.Errorf("intercept disabled: %d %q %v, want httpbun's own empty 404", r.status, r.body, r.header)
		}
		// client test to check response - with intercept enabled
		w.update("ing.yaml", pie("false", "404"))
		r := w.get(host, "/status/404", "X-Request-ID", requestID)
		if r.status != http.StatusOK {
			t.Errorf("intercept enabled: %d %q, want 200 from the default-backend Service", r.status, r.body)
		}
		wantLines(t, r.body, "x-code=404", "x-ingress-name="+host, "x-service-name=httpbun", "x-request-id="+requestID)
	})
	t.Run("intercept disabled: listed statuses of the endpoint pass with their body, Weir's own are replaced", func(t *testing.T) {
		w := all.forTest(t)
		w.update("ing.yaml", pie("true", "404,502,503"))
		for _, path := range []string{"/status/404/body", "/status/503/body", "/status/500/body"} {
			code, _ := strconv.Atoi(path[len("/status/") : len("/status/")+3])
			r := w.get(host, path)
			if r.status != code || r.body != fmt.Sprintf("httpbun %d", code) || r.header.Get("X-Httpbun") != "yes" {
				t.Errorf("GET %s: %d %q, want httpbun's own %d with its body", path, r.status, r.body, code)
			}
		}
		// nginx's own 502 goes through error_page whatever
		// proxy_intercept_errors says (nginx 1.22.1: 200 "x-code=502").
		r := w.get("down.foo.com", "/x")
		if r.status != http.StatusOK {
			t.Errorf("endpoint refusing, intercept disabled: %d %q, want the default-backend Service's 200", r.status, r.body)
		}
		wantLines(t, r.body, "x-code=502", "x-original-uri=/x", "x-service-name=down")
	})
	t.Run("intercept enabled: only listed statuses are replaced", func(t *testing.T) {
		w := all.forTest(t)
		w.update("ing.yaml", pie("false", "404,503"))
		wantLines(t, w.get(host, "/status/503/body").body, "x-code=503", "x-original-uri=/status/503/body")
		if r := w.get(host, "/status/500/body"); r.status != 500 || r.body != "httpbun 500" {
			t.Errorf("GET /status/500/body (not listed): %d %q, want httpbun's own 500", r.status, r.body)
		}
	})
	t.Run("the ConfigMap's custom-http-errors keep proxy_intercept_errors on", func(t *testing.T) {
		w := all.forTest(t)
		// nginx.tmpl writes "proxy_intercept_errors on" in the http block
		// for the ConfigMap's list: a location whose annotation disables
		// it writes nothing and inherits "on", so its own list still
		// intercepts; the ConfigMap's disable-proxy-intercept-errors
		// removes the http-level line.
		w.update("ing.yaml", pie("true", "404"))
		w.update("cm.yaml", configMap("custom-http-errors", "503"))
		wantLines(t, w.get(host, "/status/404/body").body, "x-code=404")
		w.update("cm.yaml", configMap("custom-http-errors", "503", "disable-proxy-intercept-errors", "true"))
		if r := w.get(host, "/status/404/body"); r.status != 404 || r.body != "httpbun 404" {
			t.Errorf("ConfigMap's disable-proxy-intercept-errors too: %d %q, want httpbun's own 404", r.status, r.body)
		}
	})
}

// TestIngressNginxCustomDefaultBackend ports
// test/e2e/defaultbackend/custom_default_backend.go's "uses custom default
// backend that returns 200 as status code": with --default-backend-service
// the echo Service answers the requests no rule takes, proxied as any
// location (the forwarding fields, no X-Code: nginx.tmpl's default server
// location of upstream-default-backend). Only a status custom-http-errors
// lists is asked of it again, with X-Code.
func TestIngressNginxCustomDefaultBackend(t *testing.T) {
	echo := newBackend(t, "echo", func(rw http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/missing") {
			rw.WriteHeader(http.StatusNotFound) // as a default backend answers
		}
		settingsEcho(rw, r)
	})
	opts := configMapOptions()
	opts.DefaultBackendService = "default/echo"
	all := startWeirWith(t, map[string]string{"class.yaml": ingressClass, "svc.yaml": service("echo", echo.port),
		"cm.yaml": configMap()}, opts)
	t.Run("uses custom default backend that returns 200 as status code", func(t *testing.T) {
		w := all.forTest(t)
		r := w.do(http.MethodGet, "", "/", nil)
		if r.status != http.StatusOK {
			t.Fatalf("GET / without a rule: %d %q, want the echo Service's 200", r.status, r.body)
		}
		addr := strings.TrimPrefix(w.base, "http://")
		wantLines(t, r.body, "host="+addr, "x-forwarded-host="+addr, "x-forwarded-for=127.0.0.1",
			"x-real-ip=127.0.0.1", "x-forwarded-proto=http", "x-forwarded-port="+e2efwdPort(w))
		for _, f := range []string{"x-code=", "x-format=", "x-original-uri=", "x-service-name=", "x-ingress-name="} {
			if strings.Contains(r.body, "\n"+f) {
				t.Errorf("the default backend got %s… for a request it serves:\n%s", f, r.body)
			}
		}
	})
	t.Run("custom-http-errors send the default backend's listed status to it again", func(t *testing.T) {
		w := all.forTest(t)
		// nginx 1.22.1, default server "_" with the http-level
		// "proxy_intercept_errors on; error_page 404 =
		// @custom_upstream-default-backend_404;": GET other.test/y?z of a
		// Service answering 404 without X-Code was answered 200 by its
		// second request, "/?z" with X-Code 404.
		if r := w.get("other.test", "/missing-first"); r.status != http.StatusNotFound || !strings.HasPrefix(r.body, "host=other.test\n") {
			t.Errorf("without custom-http-errors: %d %q, want the Service's own 404", r.status, r.body)
		}
		w.update("cm.yaml", configMap("custom-http-errors", "404"))
		r := w.get("other.test", "/missing?z", "Accept", "text/html")
		if r.status != http.StatusOK {
			t.Errorf("custom-http-errors 404: %d %q, want 200 from the error page request", r.status, r.body)
		}
		wantLines(t, r.body, "x-code=404", "x-format=text/html", "x-original-uri=/missing?z", "host=other.test")
		if got := echo.last().URL.RequestURI(); got != "/?z" {
			t.Errorf("the error page request's target %q, want /?z", got)
		}
		// Logged, though the default server's location has access_log
		// off (no enable-access-log-for-default-backend): the request
		// ended in the @custom_ location, which logs (nginx 1.22.1 wrote
		// "GET /y?z HTTP/1.1" 200 404 : 200 upstream-default-backend).
		w.e2elimitWaitLogged(`"path":"/missing"`)
		if strings.Contains(w.access.String(), "/missing-first") {
			t.Errorf("the default backend's own answer was logged without enable-access-log-for-default-backend:\n%s", w.access.String())
		}
		w.update("cm.yaml", configMap("custom-http-errors", "404", "disable-proxy-intercept-errors", "true"))
		if r := w.get("other.test", "/missing"); r.status != http.StatusNotFound {
			t.Errorf("custom-http-errors 404, disable-proxy-intercept-errors: %d %q, want the Service's own 404", r.status, r.body)
		}
	})
}

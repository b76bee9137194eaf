package e2e

import (
	"net"
	"net/http"
	"testing"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// This file ports the cases of ingress-nginx's e2e files (mirror HEAD)
// test/e2e/annotations/customheaders.go, test/e2e/settings/custom_header.go,
// test/e2e/annotations/upstreamvhost.go, test/e2e/settings/proxy_host.go,
// test/e2e/annotations/alias.go, test/e2e/annotations/approot.go and
// test/e2e/annotations/preservetrailingslash.go, each with what a client and
// the upstream observe of the nginx.conf lines they check. Where a comment
// says "nginx 1.22.1 answered", the same request was sent to nginx 1.22.1
// (with headers-more) configured as nginx.tmpl renders the case.

// e2ehdrRaw sends raw on a new connection to w and returns the one response.
func e2ehdrRaw(t *testing.T, w *weir, raw string) result {
	t.Helper()
	rs := w.rawExchange(t, raw)
	if len(rs) != 1 {
		t.Fatalf("%q: %d responses, want 1", raw, len(rs))
	}
	return result{status: rs[0].StatusCode, body: rs[0].Body, header: rs[0].Header}
}

// TestIngressNginxCustomHeadersAnnotation ports test/e2e/annotations/customheaders.go.
func TestIngressNginxCustomHeadersAnnotation(t *testing.T) {
	echo := newBackend(t, "echo", redirEcho("echo"))
	five := newBackend(t, "five", func(rw http.ResponseWriter, _ *http.Request) { http.Error(rw, "boom", http.StatusInternalServerError) })
	w := startWeirWith(t, map[string]string{
		"class.yaml": ingressClass,
		"cm.yaml": configMap("global-allowed-response-headers", "My-Custom-Header,My-Custom-Header-Dollar,Content-Type") +
			namedConfigMap("custom-headers", "My-Custom-Header", "42", "My-Custom-Header-Dollar", "$remote_addr") +
			namedConfigMap("not-allowed", "My-Other-Header", "1") +
			namedConfigMap("content-type", "Content-Type", "text/x-custom"),
		"app.yaml": service("echo", echo.port) + service("five", five.port) + service("down", closedPort(t)) +
			ingress("five", "five.custom-headers", "five", "custom-headers", "default/custom-headers") +
			ingress("down", "down.custom-headers", "down", "custom-headers", "default/custom-headers") +
			service("empty") + ingress("empty", "empty.custom-headers", "empty", "custom-headers", "default/custom-headers") +
			ingress("none", "custom-headers", "echo") +
			ingress("invalid", "invalid.custom-headers", "echo", "custom-headers", "default/missing") +
			ingress("set", "set.custom-headers", "echo", "custom-headers", "default/custom-headers") +
			ingress("not-allowed", "not-allowed.custom-headers", "echo", "custom-headers", "default/not-allowed") +
			ingress("content-type", "content-type.custom-headers", "echo", "custom-headers", "default/content-type"),
	}, configMapOptions())

	// "should return status code 200 when no custom-headers is configured"
	t.Run("none", func(t *testing.T) {
		redirWant(t, "GET custom-headers/", w.get("custom-headers", "/"), http.StatusOK, []string{"host=custom-headers\n"})
	})
	// "should return status code 503 when custom-headers is configured
	// with an invalid secret" (a ConfigMap that does not exist: the
	// parser's NewLocationDenied); the same for a header not in
	// global-allowed-response-headers.
	t.Run("invalid", func(t *testing.T) {
		redirWant(t, "GET invalid.custom-headers/", w.get("invalid.custom-headers", "/"), http.StatusServiceUnavailable,
			[]string{"503 Service Temporarily Unavailable"}, "service=echo")
		redirWant(t, "GET not-allowed.custom-headers/", w.get("not-allowed.custom-headers", "/"), http.StatusServiceUnavailable,
			[]string{"503 Service Temporarily Unavailable"}, "service=echo")
	})
	// `should set "more_set_headers 'My-Custom-Header' '42';" when
	// custom-headers are set`: escapeLiteralDollar writes the "$" as
	// ${literal_dollar}; nginx 1.22.1 answered "My-Custom-Header-Dollar:
	// $remote_addr". more_set_headers "Content-Type: text/x-custom"
	// replaces the upstream's (nginx 1.22.1 answered it).
	t.Run("set", func(t *testing.T) {
		got := w.get("set.custom-headers", "/")
		if got.status != http.StatusOK || got.header.Get("My-Custom-Header") != "42" || got.header.Get("My-Custom-Header-Dollar") != "$remote_addr" {
			t.Errorf("GET set.custom-headers/: %d My-Custom-Header %q My-Custom-Header-Dollar %q, want 200 42 $remote_addr",
				got.status, got.header.Get("My-Custom-Header"), got.header.Get("My-Custom-Header-Dollar"))
		}
		got = w.get("content-type.custom-headers", "/")
		if ct := got.header.Values("Content-Type"); got.status != http.StatusOK || len(ct) != 1 || ct[0] != "text/x-custom" {
			t.Errorf("GET content-type.custom-headers/: %d Content-Type %q, want 200 [text/x-custom]", got.status, ct)
		}
	})
	// more_set_headers without -s sets the header whatever the status:
	// nginx 1.22.1 answered an upstream's 500 and its own 502 (upstream
	// refused) with My-Custom-Header: 42. A Service without endpoints is
	// balancer.lua's 503 (ngx.exit in the location), which the same
	// header filter sees.
	t.Run("error statuses", func(t *testing.T) {
		for host, status := range map[string]int{"five.custom-headers": http.StatusInternalServerError, "down.custom-headers": http.StatusBadGateway,
			"empty.custom-headers": http.StatusServiceUnavailable} {
			if got := w.get(host, "/"); got.status != status || got.header.Get("My-Custom-Header") != "42" {
				t.Errorf("GET %s/: %d My-Custom-Header %q, want %d 42", host, got.status, got.header.Get("My-Custom-Header"), status)
			}
		}
	})
}

// TestIngressNginxAddHeadersSetting ports test/e2e/settings/custom_header.go:
// the ConfigMap's add-headers set after the Ingress is served.
func TestIngressNginxAddHeadersSetting(t *testing.T) {
	echo := newBackend(t, "echo", redirEcho("echo"))
	const host = "custom-header"
	w := startWeirWith(t, map[string]string{
		"class.yaml": ingressClass,
		"cm.yaml":    configMap(),
		"hdr.yaml": namedConfigMap("add-headers-configmap", "X-A-Custom-Header", "customHeaderValue") +
			namedConfigMap("add-headers-configmap-two", "X-First", "Prepare for trouble!", "X-Second", "And make it double!"),
		"app.yaml": service("echo", echo.port) + ingress(host, host, "echo"),
	}, configMapOptions())
	// "Add a custom header"
	t.Run("one", func(t *testing.T) {
		w.update("cm.yaml", configMap("add-headers", "default/add-headers-configmap"))
		if got := w.get(host, "/"); got.status != http.StatusOK || got.header.Get("X-A-Custom-Header") != "customHeaderValue" {
			t.Errorf("GET %s/: %d X-A-Custom-Header %q, want 200 customHeaderValue", host, got.status, got.header.Get("X-A-Custom-Header"))
		}
	})
	// "Add multiple custom headers"
	t.Run("multiple", func(t *testing.T) {
		w.update("cm.yaml", configMap("add-headers", "default/add-headers-configmap-two"))
		got := w.get(host, "/")
		if got.status != http.StatusOK || got.header.Get("X-First") != "Prepare for trouble!" || got.header.Get("X-Second") != "And make it double!" {
			t.Errorf("GET %s/: %d X-First %q X-Second %q, want 200 and the ConfigMap's values", host, got.status,
				got.header.Get("X-First"), got.header.Get("X-Second"))
		}
		if v := got.header.Get("X-A-Custom-Header"); v != "" {
			t.Errorf("GET %s/: X-A-Custom-Header %q of the previous add-headers, want none", host, v)
		}
	})
}

// TestIngressNginxUpstreamVhost ports test/e2e/annotations/upstreamvhost.go,
// which only reads `proxy_set_header Host "upstreamvhost.bar.com";`: the
// upstream gets that Host, and X-Forwarded-Host is still $best_http_host,
// the client's Host line as sent (the client's own X-Forwarded-Host goes
// up as X-Original-Forwarded-Host, nginx.tmpl's buildForwardedHost). nginx
// 1.22.1 answered, to
// "Host: upstreamvhost.foo.com:8080" with "X-Forwarded-Host: evil",
// host=upstreamvhost.bar.com and X-Forwarded-Host upstreamvhost.foo.com:8080;
// to "GET http://upstreamvhost.foo.com/" with "Host: other", X-Forwarded-Host
// other.
func TestIngressNginxUpstreamVhost(t *testing.T) {
	echo := newBackend(t, "echo", redirEcho("echo"))
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml": service("echo", echo.port) +
			ingress("vhost", "upstreamvhost.foo.com", "echo", "upstream-vhost", "upstreamvhost.bar.com") +
			ingress("port", "port.foo.com", "echo", "upstream-vhost", "upstreamvhost.bar.com:8080") +
			ingress("vars", "vars.foo.com", "echo", "upstream-vhost", "$service_name.$namespace.svc.cluster.local") +
			ingress("host", "host.foo.com", "echo", "upstream-vhost", "$host.internal"),
	})
	t.Run("set host to upstreamvhost.bar.com", func(t *testing.T) {
		redirWant(t, "GET upstreamvhost.foo.com/", w.get("upstreamvhost.foo.com", "/"), http.StatusOK,
			[]string{"host=upstreamvhost.bar.com\n", "x-forwarded-host=upstreamvhost.foo.com\n"})
		redirWant(t, "GET upstreamvhost.foo.com:8080/", w.get("upstreamvhost.foo.com:8080", "/", "X-Forwarded-Host", "evil"), http.StatusOK,
			[]string{"host=upstreamvhost.bar.com\n", "x-forwarded-host=upstreamvhost.foo.com:8080\n", "x-original-forwarded-host=evil\n"})
		redirWant(t, "GET port.foo.com/", w.get("port.foo.com", "/"), http.StatusOK,
			[]string{"host=upstreamvhost.bar.com:8080\n", "x-forwarded-host=port.foo.com\n"})
		// differs from ingress-nginx: the absolute-form target's host is
		// X-Forwarded-Host, not the Host line (nginx: other).
		got := e2ehdrRaw(t, w, "GET http://upstreamvhost.foo.com/ HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n")
		redirWant(t, "GET http://upstreamvhost.foo.com/ with Host other", got, http.StatusOK,
			[]string{"host=upstreamvhost.bar.com\n", "x-forwarded-host=upstreamvhost.foo.com\n"})
	})
	// nginx.tmpl writes the value quoted in proxy_set_header, which
	// evaluates its variables: the location's "set $service_name" and
	// "set $namespace" (the Ingress's), and the request's $host (lower
	// case, no port). nginx 1.22.1 with the same set lines answered so.
	t.Run("variables", func(t *testing.T) {
		redirWant(t, "GET vars.foo.com/", w.get("vars.foo.com", "/"), http.StatusOK,
			[]string{"host=echo.default.svc.cluster.local\n", "x-forwarded-host=vars.foo.com\n"})
		redirWant(t, "GET Host.Foo.com:8080/", w.get("Host.Foo.com:8080", "/"), http.StatusOK,
			[]string{"host=host.foo.com.internal\n", "x-forwarded-host=Host.Foo.com:8080\n"})
	})
}

// TestIngressNginxProxyHost ports test/e2e/settings/proxy_host.go. Both
// cases read $proxy_host back through a configuration-snippet
// (more_set_headers "Custom-Header: $proxy_host") with
// AllowSnippetConfiguration; Weir serves the Ingress and never applies the
// snippet (README: SnippetIgnored), so no Custom-Header comes back, and
// with upstream-vhost the upstream still gets that Host.
func TestIngressNginxProxyHost(t *testing.T) {
	echo := newBackend(t, "echo", redirEcho("echo"))
	const snippet = `more_set_headers "Custom-Header: $proxy_host"`
	for _, tc := range []struct {
		name string
		ann  []string
		host string // the Host the upstream gets
	}{
		{"should exist a proxy_host", nil, "proxy-host"},
		{"should exist a proxy_host using the upstream-vhost annotation value", []string{"upstream-vhost", "different.host"}, "different.host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := e2esetWeir(t, map[string]string{"app.yaml": service("echo", echo.port) +
				ingress("proxy-host", "proxy-host", "echo", append([]string{"configuration-snippet", snippet}, tc.ann...)...)},
				nil, "allow-snippet-annotations", "true", "annotations-risk-level", "Critical")
			got := w.get("proxy-host", "/")
			redirWant(t, "GET proxy-host/", got, http.StatusOK, []string{"host=" + tc.host + "\n", "x-forwarded-host=proxy-host\n"})
			if v := got.header.Get("Custom-Header"); v != "" {
				t.Errorf("GET proxy-host/: Custom-Header %q, want none (the snippet applied)", v)
			}
			if !e2erestWarned(w, snapshot.ReasonSnippetIgnored, "proxy-host", "configuration-snippet") {
				t.Errorf("no SnippetIgnored warning for configuration-snippet: %v", w.d.Live().Warnings)
			}
		})
	}
}

// TestIngressNginxServerAlias ports test/e2e/annotations/alias.go, and
// checks the names nginx.tmpl's server_name lines give when aliases meet:
// an alias that is another server's host stays that host's (the
// controller drops it), and an alias two servers name is the first
// server's in hostname order (the controller sorts its servers by
// Hostname; nginx 1.22.1 warned `conflicting server name "shared" ...,
// ignored` and answered from the first).
func TestIngressNginxServerAlias(t *testing.T) {
	echo := newBackend(t, "echo", redirEcho("echo"))
	other := newBackend(t, "other", redirEcho("other"))
	svcs := service("echo", echo.port) + service("other", other.port)
	start := func(t *testing.T, ings string) *weir {
		t.Helper()
		return startWeir(t, map[string]string{"class.yaml": ingressClass, "app.yaml": svcs + ings})
	}
	// "should return status code 200 for host 'foo' and 404 for 'bar'"
	t.Run("no alias", func(t *testing.T) {
		w := start(t, ingress("foo", "foo", "echo"))
		redirWant(t, "GET foo/", w.get("foo", "/"), http.StatusOK, []string{"host=foo\n"})
		redirWant(t, "GET bar/", w.get("bar", "/"), http.StatusNotFound, []string{"404 Not Found"}, "service=")
	})
	// "should return status code 200 for host 'foo' and 'bar'": the
	// upstream gets the Host as sent.
	t.Run("alias", func(t *testing.T) {
		w := start(t, ingress("foo", "foo", "echo", "server-alias", "bar"))
		for _, host := range []string{"foo", "bar"} {
			redirWant(t, "GET "+host+"/", w.get(host, "/"), http.StatusOK, []string{"host=" + host + "\n"})
		}
	})
	// "should return status code 200 for hosts defined in two ingresses,
	// different path with one alias": server_name "foo" "bar", so the
	// alias reaches the other Ingress's path too.
	t.Run("two ingresses one alias", func(t *testing.T) {
		w := start(t, aged("2024-01-01T00:00:00Z", pathIngress("app-a", "foo", "/app-a", "Prefix", "echo"))+
			aged("2024-01-02T00:00:00Z", pathIngress("app-b", "foo", "/app-b", "Prefix", "echo", "server-alias", "bar")))
		for _, host := range []string{"foo", "bar"} {
			redirWant(t, "GET "+host+"/app-a", w.get(host, "/app-a"), http.StatusOK, []string{"host=" + host + "\n"})
		}
	})
	// Several names, spaces around them; one is another Ingress's host
	// (dropped from server_name: it stays that host's).
	t.Run("several aliases, one a host", func(t *testing.T) {
		w := start(t, ingress("foo", "foo", "echo", "server-alias", " bar , baz,other")+ingress("other", "other", "other"))
		for _, host := range []string{"foo", "bar", "baz"} {
			redirWant(t, "GET "+host+"/", w.get(host, "/"), http.StatusOK, []string{"service=echo\n", "host=" + host + "\n"})
		}
		redirWant(t, "GET other/", w.get("other", "/"), http.StatusOK, []string{"service=other\n"})
	})
	// Two hosts name the same alias: the older Ingress's host sorts after,
	// and the younger's, first in hostname order, answers for it.
	t.Run("shared alias", func(t *testing.T) {
		w := start(t, aged("2024-01-01T00:00:00Z", pathIngress("zzz", "zzz", "/", "Prefix", "other", "server-alias", "shared"))+
			aged("2024-01-02T00:00:00Z", pathIngress("aaa", "aaa", "/", "Prefix", "echo", "server-alias", "shared")))
		redirWant(t, "GET shared/", w.get("shared", "/"), http.StatusOK, []string{"service=echo\n", "host=shared\n"})
		redirWant(t, "GET zzz/", w.get("zzz", "/"), http.StatusOK, []string{"service=other\n"})
	})
	// In that order a wildcard host ("*." before letters) comes first:
	// nginx 1.22.1 gave shared.example.com to the server of
	// "~^(?<subdomain>[\w-]+)\.foo\.example\.com$" written before
	// bar.example.com's.
	t.Run("shared alias of a wildcard host", func(t *testing.T) {
		w := start(t, aged("2024-01-01T00:00:00Z", pathIngress("bar", "bar.example.com", "/", "Prefix", "echo", "server-alias", "shared.example.com"))+
			aged("2024-01-02T00:00:00Z", pathIngress("wild", `"*.foo.example.com"`, "/", "Prefix", "other", "server-alias", "shared.example.com")))
		redirWant(t, "GET shared.example.com/", w.get("shared.example.com", "/"), http.StatusOK, []string{"service=other\n"})
		redirWant(t, "GET bar.example.com/", w.get("bar.example.com", "/"), http.StatusOK, []string{"service=echo\n"})
		redirWant(t, "GET a.foo.example.com/", w.get("a.foo.example.com", "/"), http.StatusOK, []string{"service=other\n"})
	})
}

// TestIngressNginxAppRoot ports test/e2e/annotations/approot.go: nginx.tmpl
// writes `if ($uri = /) { return 302 $scheme://$http_host/foo; }` in the
// server. nginx 1.22.1 answered 302 Location http://approot.bar.com/foo for
// "/", "/?a=b", "//", "/./", "/%2F", "/%2e", "/a/.." ($uri is the normalized
// path; return drops the query); "http://approot.bar.com:8080/foo" for
// "Host: approot.bar.com:8080", "http://APPROOT.bar.com./foo" for "Host:
// APPROOT.bar.com.", "http://other/foo" for "GET http://approot.bar.com/"
// with "Host: other" ($http_host is the Host line); 200 from the upstream
// for "/foo", "/;x", "/%20".
func TestIngressNginxAppRoot(t *testing.T) {
	echo := newBackend(t, "echo", redirEcho("echo"))
	ca := certstest.NewCA(t)
	const secure = "secure.bar.com"
	crt, key := ca.Issue(t, secure)
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml": service("echo", echo.port) +
			ingress("approot", "approot.bar.com", "echo", "app-root", "/foo", "server-alias", "alias.bar.com") +
			withTLSHosts(ingress("secure", secure, "echo", "app-root", "/foo"), "secure", secure) +
			aged("2024-01-01T00:00:00Z", pathIngress("two-first", "two.bar.com", "/", "Prefix", "echo", "app-root", "/app")) +
			aged("2024-01-02T00:00:00Z", pathIngress("two-second", "two.bar.com", "/second", "Prefix", "echo", "app-root", "/other")),
		"secret.yaml": certstest.SecretYAML("default", "secure", crt, key),
	})
	const host = "approot.bar.com"
	// "should redirect to /foo"
	t.Run("should redirect to /foo", func(t *testing.T) {
		redirLocation(t, "GET /", w.get(host, "/"), http.StatusFound, "http://approot.bar.com/foo")
	})
	t.Run("normalized path", func(t *testing.T) {
		for _, path := range []string{"/?a=b", "//", "/./", "/%2F", "/%2e", "/a/.."} {
			got := e2ehdrRaw(t, w, "GET "+path+" HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n")
			redirLocation(t, "GET "+path, got, http.StatusFound, "http://approot.bar.com/foo")
		}
		for _, path := range []string{"/foo", "/;x", "/%20"} {
			got := e2ehdrRaw(t, w, "GET "+path+" HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n")
			redirWant(t, "GET "+path, got, http.StatusOK, []string{"service=echo\n"})
		}
	})
	t.Run("http_host", func(t *testing.T) {
		redirLocation(t, "GET / with a port", w.get(host+":8080", "/"), http.StatusFound, "http://approot.bar.com:8080/foo")
		redirLocation(t, "GET / in capitals with a dot", w.get("APPROOT.bar.com.", "/"), http.StatusFound, "http://APPROOT.bar.com./foo")
		// A server-alias name is in the same server: its own Host line.
		redirLocation(t, "GET alias.bar.com/", w.get("alias.bar.com", "/"), http.StatusFound, "http://alias.bar.com/foo")
		// differs from ingress-nginx: the absolute-form target's host is
		// $http_host, not the Host line (nginx: http://other/foo).
		got := e2ehdrRaw(t, w, "GET http://approot.bar.com/ HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n")
		redirLocation(t, "GET http://approot.bar.com/ with Host other", got, http.StatusFound, "http://approot.bar.com/foo")
	})
	// Two Ingresses of a host with an app-root each: nginx.tmpl writes an
	// "if ($uri = /)" per location, in ingress-nginx's location order
	// (longest first: the younger's /second/ before the older's /), and
	// nginx 1.22.1 answered the first of such ifs: /other.
	t.Run("two ingresses", func(t *testing.T) {
		redirLocation(t, "GET two.bar.com/", w.get("two.bar.com", "/"), http.StatusFound, "http://two.bar.com/other")
	})
	// $scheme is https on the TLS listener; $http_host is the client's
	// Host line, which names the test's port. Over HTTP, the server's "if"
	// answers "/" before the location's ssl-redirect (Lua, in the
	// location's rewrite phase) redirects the other paths.
	t.Run("https", func(t *testing.T) {
		_, port, _ := net.SplitHostPort(w.d.HTTPSAddr())
		resp, _, _ := httpsGet(t, w, httpsTransport(t, w, ca), secure, "/")
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc != "https://"+secure+":"+port+"/foo" {
			t.Errorf("GET https://%s/: %d Location %q, want 302 https://%s:%s/foo", secure, resp.StatusCode, loc, secure, port)
		}
		redirLocation(t, "GET http://"+secure+"/", w.get(secure, "/"), http.StatusFound, "http://"+secure+"/foo")
		redirLocation(t, "GET http://"+secure+"/foo", w.get(secure, "/foo"), http.StatusPermanentRedirect, "https://"+secure+"/foo")
	})
}

// TestIngressNginxPreserveTrailingSlash ports
// test/e2e/annotations/preservetrailingslash.go: lua_ingress.lua drops the
// last byte of $request_uri when it is "/" unless preserve-trailing-slash,
// so "/" without it redirects to "https://<host>" (TestSSLRedirectLocation
// covers more paths).
func TestIngressNginxPreserveTrailingSlash(t *testing.T) {
	echo := newBackend(t, "echo", redirEcho("echo"))
	const host = "forcesslredirect.bar.com"
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml": service("echo", echo.port) +
			withTLSHosts(ingress("pts", host, "echo", "ssl-redirect", "true", "preserve-trailing-slash", "true"), "missing", host) +
			withTLSHosts(ingress("nopts", "nopts.bar.com", "echo", "ssl-redirect", "true"), "missing", "nopts.bar.com"),
	})
	// "should allow preservation of trailing slashes"
	t.Run("should allow preservation of trailing slashes", func(t *testing.T) {
		redirLocation(t, "GET /", w.get(host, "/"), http.StatusPermanentRedirect, "https://forcesslredirect.bar.com/")
		redirLocation(t, "GET /a/?b/", w.get(host, "/a/?b/"), http.StatusPermanentRedirect, "https://forcesslredirect.bar.com/a/?b/")
	})
	t.Run("default", func(t *testing.T) {
		redirLocation(t, "GET /", w.get("nopts.bar.com", "/"), http.StatusPermanentRedirect, "https://nopts.bar.com")
		redirLocation(t, "GET /a/?b/", w.get("nopts.bar.com", "/a/?b/"), http.StatusPermanentRedirect, "https://nopts.bar.com/a/?b")
		redirLocation(t, "GET /a/?b", w.get("nopts.bar.com", "/a/?b"), http.StatusPermanentRedirect, "https://nopts.bar.com/a/?b")
	})
}

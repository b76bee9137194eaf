package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/test/grpcecho"
)

// This file ports the client-visible cases of ingress-nginx's e2e tests of
// redirects, rewrites, paths and routing (test/e2e/annotations,
// test/e2e/ssl, test/e2e/settings and test/e2e/ingress) that other files
// do not cover yet. Cases already covered elsewhere are named in the
// comment of each function.

// redirEcho answers as ingress-nginx's e2e echo server does: a
// "request_uri=http://<Host><URI>" line, a "host=" line, then the header
// fields, lower case, one a line.
func redirEcho(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		lines := []string{"service=" + name, "request_uri=http://" + r.Host + r.RequestURI, "host=" + r.Host}
		var hdr []string
		for k, v := range r.Header {
			hdr = append(hdr, strings.ToLower(k)+"="+strings.Join(v, ","))
		}
		sort.Strings(hdr)
		fmt.Fprint(w, strings.Join(append(lines, hdr...), "\n")+"\n")
	}
}

// redirWant checks a response's status and that its body contains each of
// contains and none of lacks.
func redirWant(t *testing.T, what string, got result, status int, contains []string, lacks ...string) {
	t.Helper()
	if got.status != status {
		t.Errorf("%s: status %d, want %d (body %q)", what, got.status, status, got.body)
	}
	for _, s := range contains {
		if !strings.Contains(got.body, s) {
			t.Errorf("%s: body lacks %q:\n%s", what, s, got.body)
		}
	}
	for _, s := range lacks {
		if strings.Contains(got.body, s) {
			t.Errorf("%s: body has %q:\n%s", what, s, got.body)
		}
	}
}

// redirLocation checks a redirect's status and Location.
func redirLocation(t *testing.T, what string, got result, status int, location string) {
	t.Helper()
	if got.status != status || got.header.Get("Location") != location {
		t.Errorf("%s: %d Location %q, want %d %q", what, got.status, got.header.Get("Location"), status, location)
	}
}

// TestIngressNginxFromToWWWRedirect ports test/e2e/annotations/fromtowwwredirect.go
// (the redirect from the bare name to www is in TestRewritesAndRedirects).
func TestIngressNginxFromToWWWRedirect(t *testing.T) {
	echo := newBackend(t, "echo", redirEcho("echo"))
	ca := certstest.NewCA(t)
	from := "127.0.0.1.nip.io"
	crt, key := ca.Issue(t, from, "www."+from)
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml": service("echo", echo.port) +
			ingress("www", "fromtowwwredirect.bar.com", "echo", "from-to-www-redirect", "true") +
			withTLSHosts(ingress("wwwtls", from, "echo", "from-to-www-redirect", "true"), "wwwtls", from, "www."+from),
		"secret.yaml": certstest.SecretYAML("default", "wwwtls", crt, key),
	})
	_, httpPort, _ := net.SplitHostPort(strings.TrimPrefix(w.base, "http://"))
	_, httpsPort, _ := net.SplitHostPort(w.d.HTTPSAddr())

	// "should redirect from www HTTP to HTTP": ngx_srv_redirect.lua writes
	// $server_port (80 in the e2e cluster, Weir's listener here).
	t.Run("www HTTP to HTTP", func(t *testing.T) {
		redirLocation(t, "GET www/foo", w.get("www.fromtowwwredirect.bar.com", "/foo"), http.StatusPermanentRedirect,
			"http://fromtowwwredirect.bar.com:"+httpPort+"/foo")
	})

	// "should redirect from www HTTPS to HTTPS", and the bare name is
	// served (the e2e test reads $http_host back through a snippet: here
	// the Host the upstream got).
	t.Run("www HTTPS to HTTPS", func(t *testing.T) {
		tr := httpsTransport(t, w, ca)
		resp, _, _ := httpsGet(t, w, tr, "www."+from, "/")
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusPermanentRedirect || loc != "https://"+from+":"+httpsPort {
			t.Errorf("GET https://www.%s/: %d Location %q, want 308 https://%s:%s", from, resp.StatusCode, loc, from, httpsPort)
		}
		resp, body, _ := httpsGet(t, w, tr, from, "/")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "host="+from+":"+httpsPort+"\n") {
			t.Errorf("GET https://%s/: %d %q, want 200 from the upstream with host=%s:%s", from, resp.StatusCode, body, from, httpsPort)
		}
	})
}

// TestIngressNginxPermanentRedirect ports test/e2e/annotations/redirect.go.
func TestIngressNginxPermanentRedirect(t *testing.T) {
	echo := newBackend(t, "echo", redirEcho("echo"))
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml": service("echo", echo.port) +
			pathIngress("standard", "redirect", "/something", "Prefix", "echo", "permanent-redirect", "http://redirect.example.com") +
			pathIngress("custom", "redirect.custom", "/something", "Prefix", "echo",
				"permanent-redirect", "http://redirect.example.com", "permanent-redirect-code", "302"),
	})
	// "should respond with a standard redirect code"
	t.Run("standard code", func(t *testing.T) {
		redirLocation(t, "GET /something", w.get("redirect", "/something"), http.StatusMovedPermanently, "http://redirect.example.com")
	})
	// "should respond with a custom redirect code"
	t.Run("custom code", func(t *testing.T) {
		redirLocation(t, "GET /something", w.get("redirect.custom", "/something"), http.StatusFound, "http://redirect.example.com")
	})
}

// TestIngressNginxRelativeRedirects ports test/e2e/annotations/relativeredirects.go.
// "configures Nginx correctly" (absolute_redirect off) is conf-only: its
// effect on the wire is the relative Location of the third case.
func TestIngressNginxRelativeRedirects(t *testing.T) {
	echo := newBackend(t, "echo", redirEcho("echo"))
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml": service("echo", echo.port) +
			pathIngress("abs", "rr.foo.com", "/something", "Prefix", "echo", "permanent-redirect", "/new-location", "relative-redirects", "false") +
			pathIngress("rel", "rr.bar.com", "/something", "Prefix", "echo", "permanent-redirect", "/new-location", "relative-redirects", "true"),
	})
	// "should respond with absolute URL in Location"
	t.Run("absolute", func(t *testing.T) {
		redirLocation(t, "GET /something", w.get("rr.foo.com", "/something"), http.StatusMovedPermanently, "http://rr.foo.com/new-location")
	})
	// "should respond with relative URL in Location"
	t.Run("relative", func(t *testing.T) {
		redirLocation(t, "GET /something", w.get("rr.bar.com", "/something"), http.StatusMovedPermanently, "/new-location")
	})
}

// TestIngressNginxXForwardedPrefix ports test/e2e/annotations/xforwardedprefix.go.
func TestIngressNginxXForwardedPrefix(t *testing.T) {
	echo := newBackend(t, "echo", redirEcho("echo"))
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml": service("echo", echo.port) +
			ingress("xfp", "xfp.baz.com", "echo", "x-forwarded-prefix", "/test/value", "rewrite-target", "/foo") +
			ingress("noxfp", "noxfp.baz.com", "echo", "x-forwarded-prefix", "", "rewrite-target", "/foo"),
	})
	// "should set the X-Forwarded-Prefix to the annotation value"
	t.Run("value", func(t *testing.T) {
		redirWant(t, "GET xfp.baz.com/", w.get("xfp.baz.com", "/"), http.StatusOK,
			[]string{"x-forwarded-prefix=/test/value\n", "request_uri=http://xfp.baz.com/foo\n"})
	})
	// "should not add X-Forwarded-Prefix if the annotation value is empty"
	t.Run("empty", func(t *testing.T) {
		redirWant(t, "GET noxfp.baz.com/", w.get("noxfp.baz.com", "/"), http.StatusOK,
			[]string{"request_uri=http://noxfp.baz.com/foo\n"}, "x-forwarded-prefix")
	})
}

// TestIngressNginxRewrite ports test/e2e/annotations/rewrite.go. "should
// write rewrite logs" is n/a (enable-rewrite-log: nginx's rewrite debug
// log has no equivalent, README): only its request is replayed.
func TestIngressNginxRewrite(t *testing.T) {
	echo := newBackend(t, "echo", redirEcho("echo"))
	start := func(t *testing.T, ings string) *weir {
		t.Helper()
		return startWeir(t, map[string]string{"class.yaml": ingressClass, "app.yaml": service("echo", echo.port) + ings})
	}
	t.Run("rewrite log", func(t *testing.T) {
		w := start(t, pathIngress("log", "rewrite.bar.com", "/something", "Prefix", "echo", "rewrite-target", "/", "enable-rewrite-log", "true"))
		redirWant(t, "GET /something", w.get("rewrite.bar.com", "/something"), http.StatusOK, []string{"request_uri=http://rewrite.bar.com/\n"})
	})
	// "should use correct longest path match"
	t.Run("longest path match", func(t *testing.T) {
		w := start(t, pathIngress("kube-lego", "rewrite.bar.com", "/.well-known/acme/challenge", "Prefix", "echo"))
		want := []string{"request_uri=http://rewrite.bar.com/.well-known/acme/challenge\n"}
		redirWant(t, "GET challenge", w.get("rewrite.bar.com", "/.well-known/acme/challenge"), http.StatusOK, want)
		w.update("rewrite.yaml", pathIngress("rewrite-index", "rewrite.bar.com", "/", "Prefix", "echo", "rewrite-target", "/new/backend"))
		redirWant(t, "GET challenge with the rewrite of /", w.get("rewrite.bar.com", "/.well-known/acme/challenge"), http.StatusOK, want)
		redirWant(t, "GET /other with the rewrite of /", w.get("rewrite.bar.com", "/other"), http.StatusOK,
			[]string{"request_uri=http://rewrite.bar.com/new/backend\n"})
	})
	// "should use ~* location modifier if regex annotation is present"
	t.Run("regex modifier", func(t *testing.T) {
		w := start(t, pathIngress("foo", "rewrite.bar.com", "/foo", "Prefix", "echo")+
			pathIngress("regex", "rewrite.bar.com", "/foo.+", "Prefix", "echo", "use-regex", "true", "rewrite-target", "/new/backend"))
		redirWant(t, "GET /foo", w.get("rewrite.bar.com", "/foo"), http.StatusOK, []string{"request_uri=http://rewrite.bar.com/foo\n"})
		redirWant(t, "GET /foo/bar", w.get("rewrite.bar.com", "/foo/bar"), http.StatusOK, []string{"request_uri=http://rewrite.bar.com/new/backend\n"})
	})
	// "should fail to use longest match for documented warning"
	t.Run("documented warning", func(t *testing.T) {
		w := start(t, pathIngress("foo", "rewrite.bar.com", "/foo/bar/bar", "Prefix", "echo")+
			pathIngress("regex", "rewrite.bar.com", "/foo/bar/[a-z]{3}", "Prefix", "echo", "use-regex", "true", "rewrite-target", "/new/backend"))
		redirWant(t, "GET /foo/bar/bar", w.get("rewrite.bar.com", "/foo/bar/bar"), http.StatusOK, []string{"request_uri=http://rewrite.bar.com/new/backend\n"})
	})
	// "should allow for custom rewrite parameters"
	t.Run("custom parameters", func(t *testing.T) {
		w := start(t, pathIngress("regex", "rewrite.bar.com", "/foo/bar/(.+)", "Prefix", "echo", "use-regex", "true", "rewrite-target", "/new/backend/$1"))
		redirWant(t, "GET /foo/bar/bar", w.get("rewrite.bar.com", "/foo/bar/bar"), http.StatusOK, []string{"request_uri=http://rewrite.bar.com/new/backend/bar\n"})
	})
}

// clusterIPService renders a Service name whose ClusterIP is 127.0.0.1 and
// whose port is port, with an EndpointSlice whose one endpoint is
// 127.0.0.1:endpointPort: only service-upstream reaches the port.
func clusterIPService(name string, port, endpointPort int) string {
	return fmt.Sprintf(`
---
apiVersion: v1
kind: Service
metadata: {name: %[1]s, namespace: default}
spec:
  clusterIP: 127.0.0.1
  ports: [{name: http, port: %[2]d, targetPort: %[3]d}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: %[1]s-1
  namespace: default
  labels: {kubernetes.io/service-name: %[1]s}
addressType: IPv4
ports: [{name: http, port: %[3]d, protocol: TCP}]
endpoints:
- addresses: [127.0.0.1]
  conditions: {ready: true}
`, name, port, endpointPort)
}

// TestIngressNginxServiceUpstream ports test/e2e/annotations/serviceupstream.go:
// where the e2e test reads the upstream address from the dbg command, here
// the Service's port answers and its endpoint does not.
func TestIngressNginxServiceUpstream(t *testing.T) {
	echo := newBackend(t, "echo", redirEcho("echo"))
	svc := clusterIPService("echo", echo.port, closedPort(t))
	ing := func(ann ...string) string {
		return strings.ReplaceAll(ingress("su", "serviceupstream", "echo", ann...), "number: 80", "number: "+strconv.Itoa(echo.port))
	}
	for _, tc := range []struct {
		name   string
		cm     []string
		ann    []string
		status int
	}{
		// "when using the default value (false) and enabling in the annotations"
		{"annotation", nil, []string{"service-upstream", "true"}, http.StatusOK},
		// "when enabling in the configmap"
		{"configmap", []string{"service-upstream", "true"}, nil, http.StatusOK},
		// "when enabling in the configmap and disabling in the annotations"
		{"configmap and annotation false", []string{"service-upstream", "true"}, []string{"service-upstream", "false"}, http.StatusBadGateway},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := startWeirWith(t, map[string]string{
				"class.yaml": ingressClass,
				"app.yaml":   svc + ing(tc.ann...),
				"cm.yaml":    configMap(tc.cm...),
			}, configMapOptions())
			if got := w.get("serviceupstream", "/"); got.status != tc.status {
				t.Errorf("GET serviceupstream/: %d %q, want %d", got.status, got.body, tc.status)
			}
		})
	}
}

// TestIngressNginxNoTLSRedirectLocations ports
// test/e2e/settings/no_tls_redirect_locations.go, which only reads
// $force_no_ssl_redirect in nginx.conf: on the wire, a TLS host's path in
// the list is served over HTTP instead of redirected.
func TestIngressNginxNoTLSRedirectLocations(t *testing.T) {
	echo := newBackend(t, "echo", redirEcho("echo"))
	files := map[string]string{
		"class.yaml": ingressClass,
		"app.yaml": service("echo", echo.port) +
			withTLSHosts(pathIngress("ntrl", "no-tls-redirect-locations", "/check-no-tls", "Prefix", "echo"), "missing", "no-tls-redirect-locations"),
		"cm.yaml": configMap(),
	}
	w := startWeirWith(t, files, configMapOptions())
	redirLocation(t, "GET /check-no-tls by default", w.get("no-tls-redirect-locations", "/check-no-tls"), http.StatusPermanentRedirect,
		"https://no-tls-redirect-locations/check-no-tls")
	w.update("cm.yaml", configMap("no-tls-redirect-locations", "/check-no-tls"))
	redirWant(t, "GET /check-no-tls listed", w.get("no-tls-redirect-locations", "/check-no-tls"), http.StatusOK,
		[]string{"request_uri=http://no-tls-redirect-locations/check-no-tls\n"})
	// The list is matched against the location's path: the rule's
	// locations are "= /check-no-tls" and "/check-no-tls/".
	w.update("cm.yaml", configMap("no-tls-redirect-locations", "/check-no-tls/"))
	redirLocation(t, "GET /check-no-tls, /check-no-tls/ listed", w.get("no-tls-redirect-locations", "/check-no-tls"), http.StatusPermanentRedirect,
		"https://no-tls-redirect-locations/check-no-tls")
	redirWant(t, "GET /check-no-tls/x, /check-no-tls/ listed", w.get("no-tls-redirect-locations", "/check-no-tls/x"), http.StatusOK,
		[]string{"request_uri=http://no-tls-redirect-locations/check-no-tls/x\n"})
}

// TestIngressNginxMultipleRules ports test/e2e/ingress/multiple_rules.go:
// each rule of one Ingress routes to its own Service (the e2e test reads
// $service_name back through a snippet: here the backend that answered).
func TestIngressNginxMultipleRules(t *testing.T) {
	first := newBackend(t, "first", redirEcho("first-service"))
	second := newBackend(t, "second", redirEcho("second-service"))
	ing := ingress("simh", "first.host", "first-service") +
		"  - host: second.host\n    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: second-service, port: {number: 80}}}}]}\n"
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("first-service", first.port) + service("second-service", second.port) + ing,
	})
	redirWant(t, "GET first.host/exact", w.get("first.host", "/exact"), http.StatusOK, []string{"service=first-service\n"}, "second-service")
	redirWant(t, "GET second.host/exact", w.get("second.host", "/exact"), http.StatusOK, []string{"service=second-service\n"}, "first-service")
}

// TestIngressNginxWithoutHost ports the first case of
// test/e2e/ingress/without_host.go ("should set ingress details variables
// for ingresses without a host": a rule without host serves any Host);
// the second is TestIngressDefaultBackendWithRules.
func TestIngressNginxWithoutHost(t *testing.T) {
	echo := newBackend(t, "echo", redirEcho("echo"))
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("echo", echo.port) + ingress("default-host", "", "echo"),
	})
	host := strings.TrimPrefix(w.base, "http://")
	redirWant(t, "GET / by address", w.get(host, "/"), http.StatusOK, []string{"service=echo\n"})
}

// TestIngressNginxPathTypeExactDuplicate ports the last step of
// test/e2e/ingress/pathtype_exact.go (the first steps and deep_inspection.go
// are in TestIngressNginxRouting, pathtype_mixed.go and pathtype_prefix.go in
// ingressnginx_e2eback_test.go):
// a younger Ingress with the same Prefix path does not take it over (a
// configuration with or without it is the same, so it is there from the start).
func TestIngressNginxPathTypeExactDuplicate(t *testing.T) {
	exact := newBackend(t, "exact", redirEcho("exact"))
	prefix := newBackend(t, "prefix", redirEcho("prefix"))
	dup := newBackend(t, "duplicated", redirEcho("duplicated"))
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"svc.yaml":   service("exact", exact.port) + service("prefix", prefix.port) + service("duplicated", dup.port),
		"ing.yaml": aged("2024-01-01T00:00:00Z", pathIngress("exact", "exact.path", "/exact", "Exact", "exact")) +
			aged("2024-01-02T00:00:00Z", pathIngress("exact-suffix", "exact.path", "/exact", "Prefix", "prefix")) +
			aged("2024-01-03T00:00:00Z", pathIngress("duplicated-prefix", "exact.path", "/exact", "Prefix", "duplicated")),
	})
	redirWant(t, "GET /exact", w.get("exact.path", "/exact"), http.StatusOK, []string{"service=exact\n"})
	redirWant(t, "GET /exact/suffix", w.get("exact.path", "/exact/suffix"), http.StatusOK, []string{"service=prefix\n"}, "service=exact", "duplicated")
}

// TestIngressNginxBackendProtocol ports test/e2e/annotations/backendprotocol.go,
// whose cases only read proxy_pass/grpc_pass in nginx.conf: on the wire,
// "https" (any case) reaches a TLS endpoint, AUTO_HTTP ($scheme://) speaks
// TLS to it only for a request that came over TLS, GRPCS reaches a gRPC
// endpoint over TLS. HTTPS in capitals and GRPC are TestProxySSLInProcess
// and TestGRPCInProcess; FCGI is n/a (refused with a warning, README).
func TestIngressNginxBackendProtocol(t *testing.T) {
	up := httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(rw, "tls=%v", r.TLS != nil)
	}))
	t.Cleanup(up.Close)
	port, _ := strconv.Atoi(up.URL[strings.LastIndexByte(up.URL, ':')+1:])
	ca := certstest.NewCA(t)
	crt, key := ca.Issue(t, "auto.test")
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml": service("up", port) +
			ingress("lower", "lower.test", "up", "backend-protocol", "https") +
			withTLSHosts(ingress("auto", "auto.test", "up", "backend-protocol", "AUTO_HTTP"), "auto", "auto.test"),
		"secret.yaml": certstest.SecretYAML("default", "auto", crt, key),
	})
	// "should set backend protocol to https:// and use proxy_pass with lowercase annotation"
	t.Run("https lowercase", func(t *testing.T) {
		redirWant(t, "GET lower.test/", w.get("lower.test", "/"), http.StatusOK, []string{"tls=true"})
	})
	// "should set backend protocol to $scheme:// and use proxy_pass"
	t.Run("auto_http", func(t *testing.T) {
		if got := w.get("auto.test", "/"); got.status == http.StatusOK {
			t.Errorf("GET http://auto.test/: %d %q, want the TLS endpoint to refuse clear text", got.status, got.body)
		}
		resp, body, _ := httpsGet(t, w, httpsTransport(t, w, ca), "auto.test", "/")
		if resp.StatusCode != http.StatusOK || body != "tls=true" {
			t.Errorf("GET https://auto.test/: %d %q, want 200 tls=true", resp.StatusCode, body)
		}
	})
	// "should set backend protocol to grpcs:// and use grpc_pass"
	t.Run("grpcs", func(t *testing.T) {
		cert := certstest.SelfSigned(t, "grpcs.test")
		addr := grpcecho.Start(t, &cert)
		gport, _ := strconv.Atoi(addr[strings.LastIndexByte(addr, ':')+1:])
		w.update("grpcs.yaml", service("grpcs", gport)+ingress("grpcs", "grpcs.test", "grpcs", "backend-protocol", "GRPCS"))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := grpcecho.Exercise(ctx, grpcecho.Dial(t, w.d.HTTPSAddr(), "grpcs.test"), "grpcs.test"); err != nil {
			t.Errorf("gRPC through a GRPCS route: %v", err)
		}
	})
}

// TestRedirectResponseHeaders checks which more_set_headers of
// ingress-nginx's configuration a redirect carries, as nginx 1.22.1 with
// headers-more answered: add-headers (http{}) every one; the location's
// custom-headers those nginx answers once it found the location (the
// redirect of a Prefix path ending in "/", its 413, permanent-redirect,
// ssl-redirect), not the server's (app-root's "if ($uri = /)", the
// from-to-www-redirect server).
func TestRedirectResponseHeaders(t *testing.T) {
	echo := newBackend(t, "echo", redirEcho("echo"))
	w := startWeirWith(t, map[string]string{
		"class.yaml": ingressClass,
		"cm.yaml":    configMap("add-headers", "default/ah", "global-allowed-response-headers", "X-Custom"),
		"ah.yaml":    namedConfigMap("ah", "X-Global", "g") + namedConfigMap("ch", "X-Custom", "c"),
		"app.yaml": service("echo", echo.port) +
			pathIngress("perm", "perm.test", "/p", "Prefix", "echo", "permanent-redirect", "http://x.test", "custom-headers", "default/ch") +
			pathIngress("slash", "slash.test", "/dir/", "Prefix", "echo", "custom-headers", "default/ch", "proxy-body-size", "1") +
			pathIngress("ssl", "ssl.test", "/", "Prefix", "echo", "force-ssl-redirect", "true", "custom-headers", "default/ch") +
			pathIngress("root", "root.test", "/", "Prefix", "echo", "app-root", "/app", "custom-headers", "default/ch") +
			pathIngress("www", "www.test", "/", "Prefix", "echo", "from-to-www-redirect", "true", "custom-headers", "default/ch"),
	}, configMapOptions())
	for _, tc := range []struct {
		method, host, path string
		status             int
		custom             bool
	}{
		{"GET", "perm.test", "/p", http.StatusMovedPermanently, true},
		{"GET", "slash.test", "/dir", http.StatusMovedPermanently, true},
		{"POST", "slash.test", "/dir/x", http.StatusRequestEntityTooLarge, true},
		{"GET", "ssl.test", "/a", http.StatusPermanentRedirect, true},
		{"GET", "root.test", "/", http.StatusFound, false},
		{"GET", "test", "/a", http.StatusPermanentRedirect, false},
	} {
		var body io.Reader
		if tc.method == http.MethodPost {
			body = strings.NewReader("abcdef")
		}
		got := w.do(tc.method, tc.host, tc.path, body)
		if got.status != tc.status || got.header.Get("X-Global") != "g" || (got.header.Get("X-Custom") == "c") != tc.custom {
			t.Errorf("%s %s%s: %d X-Global %q X-Custom %q, want %d g and custom-headers %v", tc.method, tc.host, tc.path,
				got.status, got.header.Get("X-Global"), got.header.Get("X-Custom"), tc.status, tc.custom)
		}
	}
}

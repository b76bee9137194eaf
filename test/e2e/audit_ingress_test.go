package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// pathIngress renders an Ingress of host with one path of pathType and
// the given annotations (key, value pairs, without the prefix).
func pathIngress(name, host, path, pathType, svc string, annotations ...string) string {
	var ann strings.Builder
	for i := 0; i+1 < len(annotations); i += 2 {
		fmt.Fprintf(&ann, "nginx.ingress.kubernetes.io/%s: %q, ", annotations[i], annotations[i+1])
	}
	return fmt.Sprintf(`
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: %s, namespace: default, annotations: {%s}}
spec:
  ingressClassName: weir
  rules:
  - host: %s
    http: {paths: [{path: %q, pathType: %s, backend: {service: {name: %s, port: {number: 80}}}}]}
`, name, strings.TrimSuffix(ann.String(), ", "), host, path, pathType, svc)
}

// TestIngressNginxRouting replays the requests and statuses of
// ingress-nginx's e2e test/e2e/ingress (pathtype_exact.go,
// deep_inspection.go, and its inspector: an Ingress with an unsafe path is
// not served at all), endpointslices/longname.go and ssl/http_redirect.go
// against Weir; pathtype_prefix.go, pathtype_mixed.go and servicebackend/
// are in ingressnginx_e2eback_test.go.
func TestIngressNginxRouting(t *testing.T) {
	echo := newBackend(t, "echo", nil)
	long := strings.Repeat("a", 63) // endpointslices/longname.go: the longest Service name
	longBackend := newBackend(t, long, nil)
	ex := newBackend(t, "exact", nil)
	pfx := newBackend(t, "prefix", nil)
	files := map[string]string{
		"class.yaml": ingressClass,
		"svc.yaml":   service("echo", echo.port) + service("exact", ex.port) + service("prefix", pfx.port) + service(long, longBackend.port),
		"ing.yaml": pathIngress("x-exact", "exact.path", "/exact", "Exact", "exact") +
			pathIngress("x-prefix", "exact.path", "/exact", "Prefix", "prefix") +
			pathIngress("invalid", "inspection123.com", "/bla{alias /var/run/secrets/;}location ~* ^/abcd", "Prefix", "echo") +
			pathIngress("valid", "inspection123.com", "/xpto", "Prefix", "echo") + `
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: half-unsafe, namespace: default}
spec:
  ingressClassName: weir
  rules:
  - host: unsafe.test
    http:
      paths:
      - {path: /fine, pathType: Prefix, backend: {service: {name: echo, port: {number: 80}}}}
      - {path: /etc/nginx, pathType: Prefix, backend: {service: {name: echo, port: {number: 80}}}}
` +
			pathIngress("longname", "longname.test", "/", "Prefix", long) + `
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: redirect, namespace: default}
spec:
  ingressClassName: weir
  tls: [{hosts: [redirect.com], secretName: redirect.com}]
  rules:
  - host: redirect.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: echo, port: {number: 80}}}}]}
`,
	}
	w := startWeir(t, files)
	for _, tc := range []struct {
		host, path string
		status     int
		from       string // the backend that answers a 200
	}{
		// pathtype_exact.go.
		{"exact.path", "/exact", 200, "exact"},
		{"exact.path", "/exact/suffix", 200, "prefix"},
		// deep_inspection.go: the invalid path serves nothing.
		{"inspection123.com", "/xpto", 200, "echo"},
		{"inspection123.com", "/bla", 404, ""},
		{"inspection123.com", "/abcd/", 404, ""},
		// Deep inspection drops the whole Ingress, its valid paths too.
		{"unsafe.test", "/fine", 404, ""},
		{"unsafe.test", "/etc/nginx", 404, ""},
		{"longname.test", "/", 200, long},
	} {
		got := w.get(tc.host, tc.path)
		if got.status != tc.status || tc.from != "" && !strings.HasPrefix(got.body, tc.from+" ") {
			t.Errorf("%s%s: got %d %q, want %d from %q", tc.host, tc.path, got.status, got.body, tc.status, tc.from)
		}
	}
	// http_redirect.go: a TLS host whose Secret is missing still redirects,
	// without the trailing slash of "/". Whether the Location names the
	// HTTPS port is the ssl-redirect's concern (TestSSLRedirect): the port
	// is left out of this comparison.
	got := w.get("redirect.com", "/")
	loc, _ := url.Parse(got.header.Get("Location"))
	if got.status != http.StatusPermanentRedirect || loc == nil || loc.Scheme != "https" || loc.Hostname() != "redirect.com" || loc.RequestURI() != "/" || loc.Path != "" {
		t.Errorf("redirect.com/: got %d Location %q, want 308 https://redirect.com", got.status, got.header.Get("Location"))
	}
}

// TestRequestSmugglingBodyStaysBody is ingress-nginx's e2e
// security/request_smuggling.go: a GET whose Content-Length covers a second
// request carries it as its body; Weir never answers it as a request. The
// next request on the connection gets the next answer.
func TestRequestSmugglingBodyStaysBody(t *testing.T) {
	echo := newBackend(t, "echo", nil)
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("echo", echo.port) + ingress("echo", "foo.bar.com", "echo"),
	})
	br := w.smuggle(t, "foo.bar.com")
	for _, want := range []string{"echo /echo", "echo /second"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("read the answer %q: %v", want, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || string(body) != want {
			t.Fatalf("got %d %q (%v), want 200 %q", resp.StatusCode, body, err, want)
		}
	}
	if r := echo.last(); r == nil || r.URL.Path != "/second" {
		t.Errorf("last upstream request %v, want /second", r)
	}
}

package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestRewritesAndRedirects runs the rewrite and redirect annotations from
// a folder of manifests through Weir to a real backend, as ingress-nginx's
// rewrite, approot, redirect, fromtowwwredirect, alias, upstreamvhost and
// xforwardedprefix e2e tests do.
func TestRewritesAndRedirects(t *testing.T) {
	b := newBackend(t, "app", nil)
	rewrite := `
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: rewrite
  namespace: default
  annotations:
    nginx.ingress.kubernetes.io/rewrite-target: /$2
    nginx.ingress.kubernetes.io/x-forwarded-prefix: /something
spec:
  ingressClassName: weir
  rules:
  - host: rewrite.test
    http: {paths: [{path: "/something(/|$)(.*)", pathType: ImplementationSpecific, backend: {service: {name: app, port: {number: 80}}}}]}
`
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml": service("app", b.port) + rewrite +
			ingress("approot", "approot.test", "app", "app-root", "/foo") +
			ingress("redirect", "redirect.test", "app", "permanent-redirect", "http://redirect.example.com", "permanent-redirect-code", "308") +
			ingress("www", "www.test", "app", "from-to-www-redirect", "true", "server-alias", "alias.test,Other.test") +
			ingress("vhost", "vhost.test", "app", "upstream-vhost", "internal.example.com"),
	})
	port := w.base[strings.LastIndexByte(w.base, ':')+1:]

	got := w.get("rewrite.test", "/something/new?x=1")
	if last := b.last(); got.status != http.StatusOK || got.body != "app /new" || last.URL.RawQuery != "x=1" ||
		last.Header.Get("X-Forwarded-Prefix") != "/something" {
		t.Errorf("rewrite: %d %q, upstream query %q prefix %q; want 200 \"app /new\", x=1, /something", got.status, got.body,
			last.URL.RawQuery, last.Header.Get("X-Forwarded-Prefix"))
	}

	for _, tc := range []struct {
		name, host, path string
		status           int
		location         string
	}{
		{"app-root", "approot.test", "/", http.StatusFound, "http://approot.test/foo"},
		{"permanent-redirect", "redirect.test", "/any", http.StatusPermanentRedirect, "http://redirect.example.com"},
		{"from-to-www-redirect", "test", "/a/", http.StatusPermanentRedirect, "http://www.test:" + port + "/a"},
	} {
		if got := w.get(tc.host, tc.path); got.status != tc.status || got.header.Get("Location") != tc.location {
			t.Errorf("%s: GET %s%s: %d Location %q, want %d %q", tc.name, tc.host, tc.path, got.status, got.header.Get("Location"),
				tc.status, tc.location)
		}
	}

	for _, host := range []string{"www.test", "alias.test", "other.test"} {
		if got := w.get(host, "/x"); got.status != http.StatusOK || got.body != "app /x" || b.last().Host != host {
			t.Errorf("server-alias: GET %s/x: %d %q, upstream Host %q", host, got.status, got.body, b.last().Host)
		}
	}

	if got := w.get("vhost.test", "/v"); got.status != http.StatusOK || b.last().Host != "internal.example.com" ||
		b.last().Header.Get("X-Forwarded-Host") != "vhost.test" {
		t.Errorf("upstream-vhost: %d, upstream Host %q X-Forwarded-Host %q", got.status, b.last().Host, b.last().Header.Get("X-Forwarded-Host"))
	}
}

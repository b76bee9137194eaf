package e2e

import (
	"net/http"
	"testing"
)

// TestIngressDefaultBackendWithRules checks where the spec.defaultBackend of
// an Ingress that also has rules answers, as ingress-nginx's e2e
// ingress/without_host.go ("with host without IngressRuleValue, only
// Backend") and defaultbackend/with_hosts.go: for its hosts' requests that
// no path matches, never for other hosts, which keep the catch-all (here
// Weir's 404).
func TestIngressDefaultBackendWithRules(t *testing.T) {
	echo := newBackend(t, "echo", nil)
	app := newBackend(t, "app", nil)
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml": service("echo", echo.port) + service("app", app.port) + `
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: backend
  namespace: default
  annotations: {nginx.ingress.kubernetes.io/proxy-buffer-size: 8k}
spec:
  ingressClassName: weir
  defaultBackend: {service: {name: echo, port: {number: 80}}}
  rules:
  - host: only-backend
  - host: with-paths
    http: {paths: [{path: /app, pathType: Prefix, backend: {service: {name: app, port: {number: 80}}}}]}
`,
	})
	w.checkGets([]getCase{ // hostroot_test.go
		{"only-backend", "/", http.StatusOK, "echo /"},
		{"only-backend", "/x/y", http.StatusOK, "echo /x/y"},
		{"with-paths", "/app/1", http.StatusOK, "app /app/1"},
		{"with-paths", "/other", http.StatusOK, "echo /other"},
		{"only-backend-doesnotexist", "/", http.StatusNotFound, ""},
	})
}

package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// withTLSHosts adds a spec.tls section naming secret for hosts to the
// Ingress ing renders (ingress's or pathIngress's output).
func withTLSHosts(ing, secret string, hosts ...string) string {
	return strings.Replace(ing, "spec:\n", fmt.Sprintf("spec:\n  tls: [{hosts: [%s], secretName: %s}]\n", strings.Join(hosts, ", "), secret), 1)
}

// TestSSLRedirectLocation mirrors ingress-nginx's forcesslredirect and
// preservetrailingslash e2e cases on an HTTPS listener that is not on 443:
// the Location names no port (lua_ingress.lua writes one only with
// use-port-in-redirects), drops a trailing slash unless
// preserve-trailing-slash, and a spec.tls Secret that does not exist still
// redirects (ingress-nginx serves the default certificate).
func TestSSLRedirectLocation(t *testing.T) {
	b := newBackend(t, "echo", nil)
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml": service("echo", b.port) +
			ingress("fsr", "forcesslredirect.bar.com", "echo", "force-ssl-redirect", "true") +
			withTLSHosts(ingress("pts", "pts.bar.com", "echo", "ssl-redirect", "true", "preserve-trailing-slash", "true"), "missing", "pts.bar.com") +
			withTLSHosts(ingress("port", "port.bar.com", "echo", "use-port-in-redirects", "true"), "missing", "port.bar.com"),
	})
	_, httpsPort, _ := strings.Cut(w.d.HTTPSAddr(), "127.0.0.1:")
	for _, tc := range []struct{ host, path, want string }{
		{"forcesslredirect.bar.com", "/", "https://forcesslredirect.bar.com"},
		{"forcesslredirect.bar.com", "/a/b/?x=1", "https://forcesslredirect.bar.com/a/b/?x=1"},
		{"forcesslredirect.bar.com", "/a/b/", "https://forcesslredirect.bar.com/a/b"},
		{"pts.bar.com", "/", "https://pts.bar.com/"},
		{"port.bar.com", "/a", "https://port.bar.com:" + httpsPort + "/a"},
	} {
		if got := w.get(tc.host, tc.path); got.status != http.StatusPermanentRedirect || got.header.Get("Location") != tc.want {
			t.Errorf("GET http://%s%s: %d Location %q, want 308 %q", tc.host, tc.path, got.status, got.header.Get("Location"), tc.want)
		}
	}
}

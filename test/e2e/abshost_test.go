package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestAbsoluteFormHostConfusion: a request whose absolute-form target
// names a public host and whose Host line names a private one of the same
// backend is routed and checked as the public host's, and the backend is
// told the public host (Host, X-Forwarded-Host), so it cannot be made to
// answer for the private one past its allow list. nginx 1.22.1, with two
// servers as nginx.tmpl renders them (proxy_set_header Host $http_host),
// routed "GET http://pub.test/x" with "Host: priv.test" to pub.test's
// location and sent its upstream Host: priv.test; Weir deliberately sends
// pub.test, as it already did with --http1-server=net.
func TestAbsoluteFormHostConfusion(t *testing.T) {
	app := newBackend(t, "app", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("host=" + r.Host + " xfh=" + r.Header.Get("X-Forwarded-Host")))
	})
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"svc.yaml":   service("app", app.port),
		"ing.yaml": ingress("pub", "pub.test", "app") +
			ingress("priv", "priv.test", "app", "whitelist-source-range", "10.0.0.0/8"),
	})
	if res := w.get("priv.test", "/x"); res.status != http.StatusForbidden {
		t.Fatalf("GET priv.test/x: %d, want 403", res.status)
	}
	got := e2ehdrRaw(t, w, "GET http://pub.test/x HTTP/1.1\r\nHost: priv.test\r\nConnection: close\r\n\r\n")
	if got.status != http.StatusOK || got.body != "host=pub.test xfh=pub.test" {
		t.Errorf("GET http://pub.test/x with Host: priv.test: %d %q, want 200 host=pub.test xfh=pub.test", got.status, got.body)
	}
	if strings.Contains(got.body, "priv.test") {
		t.Errorf("the backend was told priv.test, whose allow list the request never passed")
	}
}

package e2e

import (
	"fmt"
	"net/http"
	"testing"
)

// TestNoAuthLocationsDropAuthResponseHeaders: on a path no-auth-locations
// exempts, a client's own auth-response-headers do not reach the backend,
// which takes them from the auth service elsewhere: a client cannot name
// itself there. nginx 1.22.1, with such a location rendered as nginx.tmpl
// renders it (no auth_request, no proxy_set_header X-User), passed the
// client's "X-User: admin" on; Weir deliberately drops it.
func TestNoAuthLocationsDropAuthResponseHeaders(t *testing.T) {
	authSvc := newBackend(t, "auth", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-User", "from-service")
	})
	app := newBackend(t, "app", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "user=%q", r.Header.Values("X-User"))
	})
	w := startWeirWith(t, map[string]string{
		"class.yaml": ingressClass,
		"svc.yaml":   service("app", app.port),
		"ing.yaml": ingressPaths("app", "app.test", "app", "Prefix", []string{"/", "/public"},
			"auth-url", fmt.Sprintf("http://127.0.0.1:%d/verify", authSvc.port), "auth-response-headers", "X-User"),
		"cm.yaml": configMap("no-auth-locations", "/public"),
	}, configMapOptions())
	for _, tc := range []struct{ path, want string }{
		{"/public/page", `user=[]`},
		{"/private", `user=["from-service"]`},
	} {
		res := w.get("app.test", tc.path, "X-User", "admin")
		if res.status != http.StatusOK || res.body != tc.want {
			t.Errorf("GET %s with X-User: admin: %d %s, want 200 %s", tc.path, res.status, res.body, tc.want)
		}
	}
}

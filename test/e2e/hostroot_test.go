package e2e

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/weir-lb/weir/userspace/snapshot"
)

// aged sets the creationTimestamp of the Ingress ing renders (pathIngress's
// output): the oldest Ingress of a host makes its root location.
func aged(ts, ing string) string {
	return strings.Replace(ing, "metadata: {", `metadata: {creationTimestamp: "`+ts+`", `, 1)
}

// hostRootFiles are Ingresses whose hosts get requests no path matches:
// each host's oldest Ingress sets what ingress-nginx's createServers gives
// the host's root location "/" (locationApplyAnnotations), a younger one
// nothing, a rule "/" Prefix replaces the root, a canary makes none.
func hostRootFiles(t *testing.T) map[string]string {
	t.Helper()
	echo := newBackend(t, "echo", nil)
	other := newBackend(t, "other", nil)
	auth := newBackend(t, "auth", func(rw http.ResponseWriter, _ *http.Request) { rw.WriteHeader(http.StatusUnauthorized) })
	const old, young = "2024-01-01T00:00:00Z", "2024-06-01T00:00:00Z"
	return map[string]string{
		"class.yaml": ingressClass,
		"svc.yaml":   service("echo", echo.port) + service("other", other.port) + service("auth", auth.port),
		"ing.yaml": aged(old, pathIngress("force", "force.test", "/app", "Prefix", "echo", "force-ssl-redirect", "true")) +
			aged(old, withTLSHosts(pathIngress("tls", "tls.test", "/app", "Prefix", "echo"), "missing", "tls.test")) +
			aged(old, pathIngress("allow", "allow.test", "/app", "Prefix", "echo", "whitelist-source-range", "192.0.2.0/24")) +
			aged(old, pathIngress("deny", "deny.test", "/app", "Prefix", "echo", "denylist-source-range", "127.0.0.0/8")) +
			aged(old, pathIngress("auth", "auth.test", "/app", "Prefix", "echo", "auth-url", "http://127.0.0.1:"+strconv.Itoa(auth.port)+"/")) +
			aged(old, pathIngress("cors", "cors.test", "/app", "Prefix", "echo", "enable-cors", "true")) +
			aged(old, pathIngress("limit", "limit.test", "/app", "Prefix", "echo", "limit-rpm", "1", "limit-burst-multiplier", "1")) +
			aged(old, pathIngress("first", "young.test", "/a", "Prefix", "echo")) +
			aged(young, pathIngress("second", "young.test", "/b", "Prefix", "echo", "whitelist-source-range", "192.0.2.0/24")) +
			aged(old, pathIngress("root-old", "replace.test", "/a", "Prefix", "echo", "whitelist-source-range", "192.0.2.0/24")) +
			aged(young, pathIngress("root-new", "replace.test", "/", "Prefix", "other")) +
			aged(old, pathIngress("canary", "canary.test", "/m", "Prefix", "other", "canary", "true", "canary-weight", "0", "force-ssl-redirect", "true")) +
			aged(young, pathIngress("main", "canary.test", "/m", "Prefix", "echo")),
	}
}

// TestHostRootLocation checks, as ingress-nginx, that a request for a
// named host that none of its paths matches is served by the host's root
// location: the settings of the host's oldest Ingress (redirects, allow
// and deny lists, authentication, CORS), then the default backend, Weir's
// 404 without --default-backend-service.
func TestHostRootLocation(t *testing.T) {
	w := startWeir(t, hostRootFiles(t))
	for _, tc := range []struct {
		method, host, path string
		status             int
		location, body     string
		hdr                []string
	}{
		{"GET", "force.test", "/other?x=1", http.StatusPermanentRedirect, "https://force.test/other?x=1", "", nil},
		{"GET", "tls.test", "/other", http.StatusPermanentRedirect, "https://tls.test/other", "", nil},
		{"GET", "tls.test", "/app/1", http.StatusPermanentRedirect, "https://tls.test/app/1", "", nil},
		{"GET", "allow.test", "/other", http.StatusForbidden, "", "", nil},
		{"GET", "deny.test", "/other", http.StatusForbidden, "", "", nil},
		{"GET", "auth.test", "/other", http.StatusUnauthorized, "", "", nil},
		{"OPTIONS", "cors.test", "/other", http.StatusNoContent, "", "", []string{"Origin", "https://x.test"}},
		// A younger Ingress of the host adds its paths, not its settings.
		{"GET", "young.test", "/other", http.StatusNotFound, "", "", nil},
		{"GET", "young.test", "/b", http.StatusForbidden, "", "", nil},
		// A rule "/" (Prefix) of any Ingress replaces the root.
		{"GET", "replace.test", "/other", http.StatusOK, "", "other /other", nil},
		{"GET", "replace.test", "/a", http.StatusForbidden, "", "", nil},
		// A canary makes no root: the main Ingress does.
		{"GET", "canary.test", "/other", http.StatusNotFound, "", "", nil},
	} {
		got := w.do(tc.method, tc.host, tc.path, nil, tc.hdr...)
		if got.status != tc.status || got.header.Get("Location") != tc.location || tc.body != "" && got.body != tc.body {
			t.Errorf("%s %s%s: %d Location %q body %q, want %d %q %q", tc.method, tc.host, tc.path,
				got.status, got.header.Get("Location"), got.body, tc.status, tc.location, tc.body)
		}
	}
	// The root shares the Ingress's rate-limit zone: one request a
	// minute and a burst of one, so the third is refused.
	a, b, c := w.get("limit.test", "/app/1"), w.get("limit.test", "/app/2"), w.get("limit.test", "/other")
	if a.status != http.StatusOK || b.status != http.StatusOK || c.status != http.StatusServiceUnavailable {
		t.Errorf("limit.test: /app/1 %d, /app/2 %d, /other %d, want 200, 200, 503", a.status, b.status, c.status)
	}
	// The root's 404 carries the location's response headers: CORS.
	if got := w.get("cors.test", "/other", "Origin", "https://x.test"); got.status != http.StatusNotFound || got.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("GET cors.test/other: %d Access-Control-Allow-Origin %q, want 404 \"*\"", got.status, got.header.Get("Access-Control-Allow-Origin"))
	}
}

// TestHostRootDefaultBackendService: with --default-backend-service, the
// root location of a host proxies what none of its paths match to that
// Service, after the settings of the host's oldest Ingress.
func TestHostRootDefaultBackendService(t *testing.T) {
	files := hostRootFiles(t)
	files["default.yaml"] = service("deflt", newBackend(t, "deflt", nil).port)
	opts := snapshot.DefaultOptions()
	opts.DefaultBackendService = "default/deflt"
	w := startWeirWith(t, files, opts)
	w.checkGets([]getCase{
		{"young.test", "/other", http.StatusOK, "deflt /other"},
		{"allow.test", "/other", http.StatusForbidden, ""},
		{"force.test", "/other", http.StatusPermanentRedirect, ""},
		{"unknown.test", "/other", http.StatusOK, "deflt /other"},
	})
}

// getCase is a GET of host and path and the status and body ("": any) it
// must get.
type getCase struct {
	host, path string
	status     int
	body       string
}

// checkGets sends each case's GET and reports what differs.
func (w *weir) checkGets(cases []getCase) {
	w.t.Helper()
	for _, tc := range cases {
		if got := w.get(tc.host, tc.path); got.status != tc.status || tc.body != "" && got.body != tc.body {
			w.t.Errorf("GET %s%s: %d %q, want %d %q", tc.host, tc.path, got.status, got.body, tc.status, tc.body)
		}
	}
}

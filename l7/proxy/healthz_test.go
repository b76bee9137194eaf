package proxy

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// TestDefaultServerHealthz: ingress-nginx's default server "_" answers
// /healthz (a plain prefix location) 200 with no body, whatever the method,
// unless one of its own rules wins as nginx picks locations: an Exact
// path, a regular expression, a longer prefix; after the http-level 413
// of proxy-body-size, but to a client block-cidrs denies too (nginx
// 1.22.1, client_max_body_size 1 and deny 127.0.0.0/8 in http{}: 413 to
// POST /healthz with 2 bytes, 200 to GET /healthz). A host a server names
// routes /healthz as any path. nginx 1.22.1 with that server (location /
// return 404; location /healthz return 200): GET /healthz, /healthzx,
// /healthz/a and /x/../healthz, POST, HEAD and DELETE /healthz all 200,
// Content-Length 0, of ingress-nginx's default_type text/html.
func TestDefaultServerHealthz(t *testing.T) {
	t.Parallel()
	app := addr(backend(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("app " + r.URL.Path)) }))
	be := backendOf("app", []string{app})
	def := backendOf("catchall", []string{app})
	rule := func(path string, m snapshot.MatchType) snapshot.Path {
		return snapshot.Path{Path: path, Match: m, Backend: be}
	}
	blocked := snap(1, "app.test", be)
	blocked.Global.Block = annotations.Block{CIDRs: []string{"127.0.0.0/8"}}
	small := snap(1, "app.test", be)
	one := int64(1)
	small.Global.DefaultBodySize = &one
	for _, tc := range []struct {
		name   string
		s      *snapshot.Snapshot
		method string
		host   string
		path   string
		want   string // "" for the 200 of /healthz, a status for a refusal, else the rule's body
	}{
		{"no rule", snap(1, "app.test", be), http.MethodGet, "other.test", "/healthz", ""},
		{"longer name", snap(1, "app.test", be), http.MethodGet, "", "/healthzx?a", ""},
		{"below", snap(1, "app.test", be), http.MethodPost, "127.0.0.1", "/healthz/a", ""},
		{"dot segments", snap(1, "app.test", be), http.MethodDelete, "other.test", "/x/../healthz", ""},
		{"a named host", snap(1, "app.test", be), http.MethodGet, "app.test", "/healthz", "app /healthz"},
		{"catch-all", &snapshot.Snapshot{Version: 1, DefaultBackend: &def}, http.MethodGet, "other.test", "/healthz", ""},
		{"host-less root", &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{{Paths: []snapshot.Path{rule("/", snapshot.MatchPrefix)}}}},
			http.MethodGet, "other.test", "/healthz", ""},
		{"host-less prefix /healthz", &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{{Paths: []snapshot.Path{rule("/healthz", snapshot.MatchPrefix)}}}},
			http.MethodGet, "other.test", "/healthz/a", "app /healthz/a"},
		{"host-less exact", &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{{Paths: []snapshot.Path{rule("/healthz", snapshot.MatchExact)}}}},
			http.MethodGet, "other.test", "/healthz", "app /healthz"},
		// nginx's find-config phase first, the http-level
		// client_max_body_size (proxy-body-size); not the access phase's
		// deny (block-cidrs), after the rewrite phase's return.
		{"body over proxy-body-size", small, http.MethodPost, "other.test", "/healthz", "413"},
		{"block-cidrs", blocked, http.MethodGet, "other.test", "/healthz", ""},
		{"host-less regex", &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{{UseRegex: true, Paths: []snapshot.Path{rule("/", snapshot.MatchPrefix)}}}},
			http.MethodGet, "other.test", "/healthz", "app /healthz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := front(t, Options{}, tc.s)
			res := do(t, client(t), srv, tc.method, tc.host, tc.path, strings.NewReader("xx"))
			if code, err := strconv.Atoi(tc.want); err == nil {
				if res.status != code {
					t.Errorf("%s %s%s: %d, want %d", tc.method, tc.host, tc.path, res.status, code)
				}
				return
			}
			if tc.want != "" {
				if res.status != 200 || res.body != tc.want {
					t.Errorf("%s %s%s: %d %q, want the rule's %q", tc.method, tc.host, tc.path, res.status, res.body, tc.want)
				}
				return
			}
			if res.status != 200 || res.body != "" || res.header.Get("Content-Type") != "text/html" || res.header.Get("Content-Length") != "0" {
				t.Errorf("%s %s%s: %d %q %v, want 200, empty, text/html", tc.method, tc.host, tc.path, res.status, res.body, res.header)
			}
		})
	}
}

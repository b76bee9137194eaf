package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/weir-lb/weir/l7/h1guard"
	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// rootOf returns the root location snapshot.Build gives a host whose
// oldest Ingress has no spec.defaultBackend: upstream-default-backend, with
// that Ingress's settings (opts) and HSTS.
func rootOf(opts ...func(*annotations.Proxy)) snapshot.Backend {
	be := backendOf("", []string{}, opts...)
	be.Service, be.Port, be.DefaultUpstream, be.HSTS = "", "", true, "max-age=600"
	return be
}

// TestDefaultUpstreamRoot checks the answers of a host's root location of
// upstream-default-backend over HTTPS, as ingress-nginx's location "/"
// proxying to it: without --default-backend-service, the 404 of its
// internal default backend passes the location's header filter (HSTS,
// custom-headers) unless custom-http-errors intercepts it (a @custom_
// location: no HSTS); with one, that Service answers, and a listed status
// of its answer is intercepted and sent to it again with X-Code.
func TestDefaultUpstreamRoot(t *testing.T) {
	t.Parallel()
	deflt := addr(backend(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "default "+r.URL.Path+" code="+r.Header.Get("X-Code"))
	}))
	plain := rootOf(func(p *annotations.Proxy) {
		p.CustomHeaders = &annotations.CustomHeaders{Headers: []annotations.Header{{Name: "X-Root", Value: "first"}}}
	})
	errors := rootOf(func(p *annotations.Proxy) { p.Upstream = &annotations.Upstream{CustomHTTPErrors: []int{404}} })
	servers := []snapshot.Server{
		{Host: "plain.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: plain}}},
		{Host: "errors.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: errors}}},
	}
	def := backendOf("default", []string{deflt})
	def.Ingress = snapshot.ObjectRef{Kind: "Service", Namespace: "ns", Name: "default"}
	for _, tc := range []struct {
		name           string
		defaultService *snapshot.Backend
		host           string
		hsts, xroot    string
		body           string // "": nginx's 404 page
	}{
		{"internal", nil, "plain.test", "max-age=600", "first", ""},
		{"internal intercepted", nil, "errors.test", "", "", ""},
		{"service", &def, "plain.test", "max-age=600", "first", "default /x code="},
		{"service intercepted", &def, "errors.test", "", "", "default / code=404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := New(Options{})
			if err := p.Apply(&snapshot.Snapshot{Version: 1, Servers: servers, DefaultService: tc.defaultService}); err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewTLSServer(p)
			t.Cleanup(srv.Close)
			t.Cleanup(p.Close)
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/x", nil)
			req.Host = tc.host
			got := send(srv.Client(), req)
			if got.err != nil {
				t.Fatal(got.err)
			}
			wantBody := tc.body
			if wantBody == "" {
				wantBody = h1guard.ErrorPage(http.StatusNotFound)
			}
			if got.status != http.StatusNotFound || got.body != wantBody ||
				got.header.Get("Strict-Transport-Security") != tc.hsts || got.header.Get("X-Root") != tc.xroot {
				t.Errorf("GET https://%s/x: %d HSTS %q X-Root %q body %q, want 404 %q %q %q", tc.host, got.status,
					got.header.Get("Strict-Transport-Security"), got.header.Get("X-Root"), got.body, tc.hsts, tc.xroot, wantBody)
			}
		})
	}
}

// TestDefaultUpstreamRootLog: the access-log line of a host's root
// location of upstream-default-backend names it as ingress-nginx's
// location does: $proxy_upstream_name "upstream-default-backend", the
// Ingress that made it, no service nor port.
func TestDefaultUpstreamRootLog(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	root := rootOf()
	root.Ingress.Name = "first"
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{
		{Host: "foo.com", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: root}}},
	}}
	_, srv := front(t, Options{AccessLog: &buf}, withLogFormat(t, s, map[string]string{
		"log-format-upstream": "$status [$proxy_upstream_name] [$namespace] [$ingress_name] [$service_name] [$service_port]"}))
	if got, want := logRequest(t, client(t), srv.URL+"/x", "foo.com", &buf, nil), "404 [upstream-default-backend] [ns] [first] [] []"; got != want {
		t.Errorf("access-log line %q, want %q", got, want)
	}
}

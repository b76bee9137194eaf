package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/weir-lb/weir/l7/h1guard"
	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// rootOf returns the root location snapshot.Build gives a host whose
// oldest Ingress has no spec.defaultBackend: upstream-default-backend, with
// that Ingress's settings (opts).
func rootOf(opts ...func(*annotations.Proxy)) snapshot.Backend {
	be := backendOf("", []string{}, opts...)
	be.Service, be.Port, be.DefaultUpstream = "", "", true
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
			if err := p.Apply(&snapshot.Snapshot{Version: 1, HSTS: "max-age=600", Servers: servers, DefaultService: tc.defaultService}); err != nil {
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

// TestDefaultServerLog: the default server's root location names its
// upstream as ingress-nginx's createServers makes it: a catch-all
// Ingress's spec.defaultBackend is its own upstream ("namespace-service-port")
// with that Ingress's labels; --default-backend-service is
// upstream-default-backend, of no Ingress (getIngressInformation of a nil
// Ingress: empty labels).
func TestDefaultServerLog(t *testing.T) {
	t.Parallel()
	up := addr(backend(t, func(w http.ResponseWriter, r *http.Request) {}))
	catchAll := backendOf("deflt", []string{up})
	catchAll.Ingress.Name, catchAll.Port = "catch", "80"
	service := backendOf("deflt", []string{up})
	service.Ingress, service.Port = snapshot.ObjectRef{Kind: "Service", Namespace: "ns", Name: "deflt"}, "80"
	for _, tc := range []struct {
		name string
		def  snapshot.Backend
		want string
	}{
		{"catch-all ingress", catchAll, "200 [ns-deflt-80] [ns] [catch] [deflt] [80]"},
		{"default backend service", service, "200 [upstream-default-backend] [] [] [] []"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf syncBuffer
			s := &snapshot.Snapshot{Version: 1, DefaultBackend: &tc.def}
			if tc.def.Ingress.Kind == "Service" {
				s.DefaultService = &tc.def
			}
			_, srv := front(t, Options{AccessLog: &buf}, withLogFormat(t, s, map[string]string{
				"enable-access-log-for-default-backend": "true",
				"log-format-upstream":                   "$status [$proxy_upstream_name] [$namespace] [$ingress_name] [$service_name] [$service_port]"}))
			if got := logRequest(t, client(t), srv.URL+"/x", "unknown.test", &buf, nil); got != tc.want {
				t.Errorf("access-log line %q, want %q", got, tc.want)
			}
		})
	}
}

// TestRootMetricsLabels: the request metrics of a host's root location of
// upstream-default-backend and of the default server's carry the labels
// ingress-nginx's monitor.lua reads from the location: the Ingress that
// made it (none for --default-backend-service), its service ("" for
// upstream-default-backend) and the location path "/".
func TestRootMetricsLabels(t *testing.T) {
	t.Parallel()
	up := addr(backend(t, func(w http.ResponseWriter, r *http.Request) {}))
	root := rootOf()
	root.Ingress.Name = "first"
	catchAll := backendOf("deflt", []string{up})
	catchAll.Ingress.Name = "catch"
	service := backendOf("deflt", []string{up})
	service.Ingress = snapshot.ObjectRef{Kind: "Service", Namespace: "ns", Name: "deflt"}
	servers := []snapshot.Server{{Host: "foo.com", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: root}}}}
	for _, tc := range []struct {
		name          string
		def, svc      *snapshot.Backend
		rootStatus    int
		defaultServer []string
	}{
		{"catch-all ingress", &catchAll, nil, 404, []string{"200", "GET", "/", "ns", "catch", "deflt", "", "nope.com"}},
		{"default backend service", &service, &service, 200, []string{"200", "GET", "", "", "", "", "", "nope.com"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := prometheus.NewRegistry()
			s := &snapshot.Snapshot{Version: 1, Servers: servers, DefaultBackend: tc.def, DefaultService: tc.svc}
			p, srv := front(t, Options{Registry: reg, CountUndefinedHosts: true}, s)
			c := client(t)
			get(t, c, srv, "foo.com", "/x")
			get(t, c, srv, "nope.com", "/x")
			want := [][]string{{strconv.Itoa(tc.rootStatus), "GET", "/", "ns", "first", "", "", "foo.com"}, tc.defaultServer}
			waitFor(t, "both requests counted with their labels", func() bool {
				for _, lv := range want {
					if testutil.ToFloat64(p.metrics.requests.WithLabelValues(lv...)) != 1 {
						return false
					}
				}
				return testutil.CollectAndCount(p.metrics.requests) == len(want)
			})
		})
	}
}

package proxy

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// requestIDBackend answers the X-Request-Id it was sent, "none" without
// one.
func requestIDBackend(w http.ResponseWriter, r *http.Request) {
	id, ok := r.Header["X-Request-Id"]
	if !ok {
		w.Write([]byte("none"))
		return
	}
	w.Write([]byte(strings.Join(id, ",")))
}

// logged sends a request with send and waits until it ended, so that its
// access-log line, if any, is written.
func logged(t *testing.T, p *Proxy, send func() result) result {
	t.Helper()
	res := send()
	if res.err != nil {
		t.Fatalf("request: %v", res.err)
	}
	waitFor(t, "the request ended", func() bool { return p.access.inFlight.Load() == 0 })
	return res
}

// TestGenerateRequestID follows ingress-nginx's map $http_x_request_id
// $req_id: by default a request without X-Request-ID gets 32 random hex
// digits, upstream and in the access log; with generate-request-id
// "false" it gets none (no header upstream, an empty request_id); the
// client's always passes.
func TestGenerateRequestID(t *testing.T) {
	t.Parallel()
	up := backend(t, requestIDBackend)
	var logs syncBuffer
	p, srv := front(t, Options{AccessLog: &logs}, nil)
	c := client(t)
	applyGlobal(t, p, 1, addr(up), annotations.Global{})
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	if res := logged(t, p, func() result { return get(t, c, srv, "foo.com", "/gen") }); !hex32.MatchString(res.body) {
		t.Errorf("default: upstream got X-Request-ID %q, want 32 hex digits", res.body)
	}
	withID := func(path string) result {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Host = "foo.com"
		req.Header.Set("X-Request-ID", "client-id")
		return send(c, req)
	}
	applyGlobal(t, p, 2, addr(up), annotations.Global{Logs: annotations.RequestLog{NoRequestID: true}})
	if res := logged(t, p, func() result { return get(t, c, srv, "foo.com", "/none") }); res.body != "none" {
		t.Errorf("generate-request-id false: upstream got X-Request-ID %q, want none", res.body)
	}
	if res := logged(t, p, func() result { return withID("/client") }); res.body != "client-id" {
		t.Errorf("generate-request-id false: upstream got X-Request-ID %q, want the client's", res.body)
	}
	got := entries(t, logs.String())
	if len(got) != 3 || !hex32.MatchString(got[0].RequestID) || got[1].RequestID != "" || got[2].RequestID != "client-id" {
		t.Errorf("access log request IDs: %+v, want 32 hex digits, empty, client-id", got)
	}
}

// TestSkipAccessLogURLs follows ingress-nginx's map $request_uri $loggable:
// a request whose request URI is an entry (ignoring case) or matches an
// entry's regular expression writes no access-log line; the others do.
func TestSkipAccessLogURLs(t *testing.T) {
	t.Parallel()
	up := named(t, "a")
	var logs syncBuffer
	p, srv := front(t, Options{AccessLog: &logs}, nil)
	c := client(t)
	applyGlobal(t, p, 1, addr(up), annotations.Global{Logs: annotations.RequestLog{SkipURLs: []string{"/healthz", "~^/metrics", `~*\.png$`}}})
	for _, path := range []string{"/healthz", "/HealthZ", "/metrics?name=x", "/img/A.PNG", "/healthz?x=1", "/logged", "/Metrics"} {
		if res := logged(t, p, func() result { return get(t, c, srv, "foo.com", path) }); res.status != 200 {
			t.Fatalf("GET %s: %d", path, res.status)
		}
	}
	var paths []string
	for _, e := range entries(t, logs.String()) {
		paths = append(paths, e.Path)
	}
	if strings.Join(paths, " ") != "/healthz /logged /Metrics" {
		t.Errorf("logged paths %q, want /healthz (its query differs), /logged and /Metrics (~ is case-sensitive)", paths)
	}
}

// TestDefaultBackendAccessLog follows ingress-nginx's default_backend e2e
// tests: a request for a host no Ingress serves, answered by the default
// backend, is not logged unless enable-access-log-for-default-backend; a
// served host's request that falls to the default backend is logged, and
// so is a catch-all Ingress's spec.defaultBackend's.
func TestDefaultBackendAccessLog(t *testing.T) {
	t.Parallel()
	app, def := named(t, "app"), named(t, "default")
	var logs syncBuffer
	p, srv := front(t, Options{AccessLog: &logs}, nil)
	c := client(t)
	apply := func(version uint64, defBackend *snapshot.Backend, on bool) {
		t.Helper()
		s := &snapshot.Snapshot{Version: version, DefaultBackend: defBackend, Servers: []snapshot.Server{
			{Host: "foo.com", Paths: []snapshot.Path{{Path: "/app", Match: snapshot.MatchPrefix, Backend: backendOf("app", []string{addr(app)})}}},
		}}
		s.Global.Logs.DefaultBackend = on
		if err := p.Apply(s); err != nil {
			t.Fatal(err)
		}
	}
	service := backendOf("default", []string{addr(def)})
	service.Ingress = snapshot.ObjectRef{Kind: "Service", Namespace: "ingress-nginx", Name: "default-http-backend"}
	catchAll := backendOf("default", []string{addr(def)}) // an Ingress's spec.defaultBackend
	request := func(host, path string, want int) {
		t.Helper()
		if res := logged(t, p, func() result { return get(t, c, srv, host, path) }); res.status != want {
			t.Fatalf("GET %s%s: %d %q, want %d", host, path, res.status, res.body, want)
		}
	}
	apply(1, &service, false)
	request("nope.test", "/svc-off", 200) // not logged
	request("foo.com", "/other-svc", 200) // a served host: logged
	request("foo.com", "/app", 200)       // logged
	apply(2, nil, false)
	request("nope.test", "/404-off", 404)  // Weir's 404 as the default backend: not logged
	request("foo.com", "/404-served", 404) // logged
	apply(3, &catchAll, false)
	request("nope.test", "/catch-all", 200) // logged
	apply(4, &service, true)
	request("nope.test", "/svc-on", 200) // logged
	apply(5, nil, true)
	request("nope.test", "/404-on", 404) // logged
	var paths []string
	for _, e := range entries(t, logs.String()) {
		paths = append(paths, e.Path)
	}
	if want := "/other-svc /app /404-served /catch-all /svc-on /404-on"; strings.Join(paths, " ") != want {
		t.Errorf("logged paths %q, want %s", paths, want)
	}
}

// TestErrorPageAccessLog checks that a request custom-http-errors sends to
// an error page is logged whatever its location's access_log said
// (enable-access-log "false", or the default server's without
// enable-access-log-for-default-backend): it ends in nginx's @custom_
// location, which has the http-level access_log. nginx 1.22.1, location
// "/" with access_log off whose 404 went to
// @custom_upstream-default-backend_404, logged the request.
func TestErrorPageAccessLog(t *testing.T) {
	t.Parallel()
	pages := backend(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/missing") && r.Header.Get("X-Code") == "" {
			w.WriteHeader(http.StatusNotFound)
		}
	})
	withList := func(codes ...int) func(*annotations.Proxy) {
		return func(p *annotations.Proxy) { p.Upstream = &annotations.Upstream{CustomHTTPErrors: codes} }
	}
	logOff := func(p *annotations.Proxy) { p.AccessLogOff = true }
	service := backendOf("default", []string{addr(pages)}, withList(404))
	service.Ingress = snapshot.ObjectRef{Kind: "Service", Namespace: "ingress-nginx", Name: "default-http-backend"}
	s := &snapshot.Snapshot{Version: 1, DefaultBackend: &service, DefaultService: &service, Servers: []snapshot.Server{
		{Host: "a.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: backendOf("a", []string{addr(pages)}, logOff, withList(404))}}},
		{Host: "b.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: backendOf("b", []string{addr(pages)}, logOff)}}},
	}}
	var logs syncBuffer
	p, srv := front(t, Options{AccessLog: &logs}, s)
	c := client(t)
	for _, tc := range []struct {
		host, path string
		status     int
	}{
		{"nope.test", "/ok", 200}, {"nope.test", "/missing-nope", 200},
		{"a.test", "/ok", 200}, {"a.test", "/missing-a", 200}, {"b.test", "/missing-b", 404},
	} {
		if res := logged(t, p, func() result { return get(t, c, srv, tc.host, tc.path) }); res.status != tc.status {
			t.Errorf("GET %s%s: %d, want %d", tc.host, tc.path, res.status, tc.status)
		}
	}
	var paths []string
	for _, e := range entries(t, logs.String()) {
		paths = append(paths, e.Path)
	}
	if want := "/missing-nope /missing-a"; strings.Join(paths, " ") != want {
		t.Errorf("logged paths %q, want %s", paths, want)
	}
}

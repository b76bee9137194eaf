package proxy

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/weir-lb/weir/l7/h1guard"
	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// errorPages starts a custom default backend that answers with the status
// of X-Code (200 without) and a JSON body of what it received.
func errorPages(tb testing.TB, name string) string {
	tb.Helper()
	s := backend(tb, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		code, err := strconv.Atoi(r.Header.Get("X-Code"))
		if err != nil {
			code = 200
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]string{
			"from": name, "method": r.Method, "uri": r.RequestURI, "body": string(body),
			"code": r.Header.Get("X-Code"), "format": r.Header.Get("X-Format"), "original": r.Header.Get("X-Original-URI"),
			"namespace": r.Header.Get("X-Namespace"), "ingress": r.Header.Get("X-Ingress-Name"),
			"service": r.Header.Get("X-Service-Name"), "port": r.Header.Get("X-Service-Port"),
			"requestID": r.Header.Get("X-Request-ID"), "hasOriginal": strconv.FormatBool(r.Header["X-Original-Uri"] != nil),
		})
	})
	return addr(s)
}

func withErrors(codes ...int) func(*annotations.Proxy) {
	return func(p *annotations.Proxy) {
		p.Upstream = &annotations.Upstream{CustomHTTPErrors: codes, DefaultBackend: "errors"}
	}
}

// TestCustomHTTPErrors mirrors ingress-nginx's customhttperrors and
// default_backend e2e cases: listed statuses of the endpoint and Weir's own
// are answered by the default-backend Service (else the default backend)
// with ingress-nginx's headers; others pass; a route without endpoints is
// served by its default-backend Service.
func TestCustomHTTPErrors(t *testing.T) {
	app := addr(backend(t, func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/status/"))
		w.WriteHeader(code)
		io.WriteString(w, "app body")
	}))
	custom, global := errorPages(t, "custom"), errorPages(t, "global")
	route := func(eps []string, opts ...func(*annotations.Proxy)) snapshot.Backend {
		be := backendOf("app", eps, opts...)
		eb := backendOf("errors", []string{custom})
		be.ErrorBackend = &eb
		return be
	}
	noErrorBackend := func(eps []string) snapshot.Backend {
		be := route(eps, withErrors(404))
		be.ErrorBackend = nil
		return be
	}
	def := backendOf("default", []string{global})
	s := &snapshot.Snapshot{Version: 1, DefaultBackend: &def, DefaultService: &def, Servers: []snapshot.Server{
		{Host: "a.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: route([]string{app}, withErrors(404, 502, 503))}}},
		{Host: "down.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: route([]string{refusedAddr(t)}, withErrors(502))}}},
		{Host: "empty.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: route([]string{})}}},
		{Host: "global.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: noErrorBackend([]string{app})}}},
		{Host: "plain.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: backendOf("app", []string{app})}}},
	}}
	_, srv := front(t, Options{}, s)
	c := client(t)
	type page map[string]string
	call := func(method, host, target, body string) (int, page, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+target, strings.NewReader(body))
		req.Host = host
		req.Header.Set("Accept", "text/html")
		req.Header.Set("X-Request-ID", "rid-1")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var pg page
		_ = json.Unmarshal(raw, &pg)
		return resp.StatusCode, pg, string(raw)
	}
	want := func(what string, got page, fields page) {
		t.Helper()
		for k, v := range fields {
			if got[k] != v {
				t.Errorf("%s: %s = %q, want %q (all: %v)", what, k, got[k], v, got)
			}
		}
	}

	status, pg, _ := call("POST", "a.test", "/status/404?x=1", "payload")
	if status != 404 {
		t.Errorf("listed 404: status %d, want the error backend's 404", status)
	}
	want("listed 404", pg, page{"from": "custom", "method": "POST", "uri": "/?x=1", "body": "", "code": "404", "format": "text/html",
		"original": "/status/404?x=1", "namespace": "ns", "ingress": "ing-app", "service": "app", "port": "http", "requestID": "rid-1"})

	if status, _, raw := call("GET", "a.test", "/status/500", ""); status != 500 || raw != "app body" {
		t.Errorf("unlisted 500: %d %q, want the endpoint's 500", status, raw)
	}
	status, pg, _ = call("GET", "down.test", "/x", "")
	if status != 502 {
		t.Errorf("Weir's 502: status %d, want 502 from the error backend", status)
	}
	want("Weir's 502", pg, page{"from": "custom", "code": "502", "original": "/x"})

	status, pg, _ = call("GET", "empty.test", "/some/path?q=2", "")
	if status != 503 {
		t.Errorf("no endpoints: status %d, want 503 from the default-backend Service", status)
	}
	want("no endpoints", pg, page{"from": "custom", "code": "503", "uri": "/some/path?q=2", "hasOriginal": "false", "service": "app"})

	status, pg, _ = call("GET", "global.test", "/status/404", "")
	if status != 404 {
		t.Errorf("global: status %d", status)
	}
	want("without default-backend", pg, page{"from": "global", "code": "404", "original": "/status/404"})

	if status, _, raw := call("GET", "plain.test", "/status/404", ""); status != 404 || raw != "app body" {
		t.Errorf("no custom-http-errors: %d %q, want the endpoint's 404", status, raw)
	}
}

// TestCustomHTTPErrorsWithoutBackend: with no default backend with
// endpoints, a listed status is answered as ingress-nginx's internal
// default backend answers (nginx's 404 page): for the endpoint's response,
// for Weir's own 503 of a route without endpoints, and when the
// default-backend Service has no endpoints; an error backend answering a
// listed code is not intercepted again.
func TestCustomHTTPErrorsWithoutBackend(t *testing.T) {
	app := addr(backend(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "app 404")
	}))
	internal404 := h1guard.ErrorPage(http.StatusNotFound)
	be := backendOf("app", []string{app}, withErrors(404))
	_, srv := front(t, Options{}, snap(1, "a.test", be))
	if res := get(t, client(t), srv, "a.test", "/"); res.status != 404 || res.body != internal404 {
		t.Errorf("no default backend: got %d %q, want nginx's 404 page", res.status, res.body)
	}
	empty := backendOf("app", []string{}, withErrors(503))
	_, srv = front(t, Options{}, snap(1, "a.test", empty))
	if res := get(t, client(t), srv, "a.test", "/"); res.status != 404 || res.body != internal404 {
		t.Errorf("no endpoints, 503 listed: got %d %q, want nginx's 404 page", res.status, res.body)
	}
	unlisted := backendOf("app", []string{}, withErrors(404))
	_, srv = front(t, Options{}, snap(1, "a.test", unlisted))
	if res := get(t, client(t), srv, "a.test", "/"); res.status != 503 {
		t.Errorf("no endpoints, 503 not listed: got %d %q, want 503", res.status, res.body)
	}
	noEps := backendOf("errors", []string{})
	be.ErrorBackend = &noEps
	_, srv = front(t, Options{}, snap(1, "a.test", be))
	if res := get(t, client(t), srv, "a.test", "/"); res.status != 404 || res.body != internal404 {
		t.Errorf("default-backend without endpoints: got %d %q, want nginx's 404 page", res.status, res.body)
	}
	eb := backendOf("errors", []string{app})
	be.ErrorBackend = &eb
	_, srv = front(t, Options{}, snap(1, "a.test", be))
	if res := get(t, client(t), srv, "a.test", "/"); res.status != 404 || res.body != "app 404" {
		t.Errorf("error backend answering 404: got %d %q, want its 404 once", res.status, res.body)
	}
}

// TestCustomHTTPErrorsCatchAll: a rule-less Ingress's spec.defaultBackend
// catches what no rule matches, but the error pages still go to
// --default-backend-service (the Snapshot's DefaultService), as
// ingress-nginx's @custom_upstream-default-backend locations do; without
// that Service they are nginx's 404 page, never the catch-all's.
func TestCustomHTTPErrorsCatchAll(t *testing.T) {
	t.Parallel()
	app := addr(backend(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "app 404")
	}))
	catchAll := backendOf("catchall", []string{errorPages(t, "catch-all")})
	service := backendOf("fallback", []string{errorPages(t, "service")})
	be := backendOf("app", []string{app}, func(p *annotations.Proxy) {
		p.Upstream = &annotations.Upstream{CustomHTTPErrors: []int{404}}
	})
	for _, tc := range []struct {
		name    string
		service *snapshot.Backend
		from    string // the error page's backend; "" for nginx's 404 page
	}{
		{"with the Service", &service, "service"},
		{"without", nil, ""},
	} {
		s := snap(1, "a.test", be)
		s.DefaultBackend, s.DefaultService = &catchAll, tc.service
		_, srv := front(t, Options{}, s)
		c := client(t)
		if res := get(t, c, srv, "other.test", "/"); res.status != 200 || !strings.Contains(res.body, `"from":"catch-all"`) {
			t.Errorf("%s: unmatched host: %d %q, want the catch-all", tc.name, res.status, res.body)
		}
		res := get(t, c, srv, "a.test", "/")
		switch {
		case tc.from == "" && res.body != h1guard.ErrorPage(http.StatusNotFound):
			t.Errorf("%s: error page %d %q, want nginx's 404 page", tc.name, res.status, res.body)
		case tc.from != "" && !strings.Contains(res.body, `"from":"`+tc.from+`"`):
			t.Errorf("%s: error page %d %q, want it from %s", tc.name, res.status, res.body, tc.from)
		}
		if res.status != 404 {
			t.Errorf("%s: error page status %d, want 404", tc.name, res.status)
		}
	}
}

// TestCustomHTTPErrorsDefaultServer checks that the catch-all of
// --default-backend-service (the DefaultService route itself) has its
// listed statuses intercepted too, as nginx's default server "_" inherits
// the http-level proxy_intercept_errors and error_page lines of the
// ConfigMap's custom-http-errors: a 404 of that Service for an unmatched
// host is asked again of it, rewritten to "/" (query kept) with X-Code 404.
// nginx 1.22.1, configured so, answered GET other.test/y?z with the
// second answer: 200 "/?z x-code=404".
func TestCustomHTTPErrorsDefaultServer(t *testing.T) {
	t.Parallel()
	pages := addr(backend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Code") == "" {
			w.WriteHeader(http.StatusNotFound)
		}
		io.WriteString(w, r.RequestURI+" x-code="+r.Header.Get("X-Code"))
	}))
	for _, tc := range []struct {
		name   string
		codes  []int
		status int
		body   string
	}{
		{"404 listed", []int{404}, 200, "/?z x-code=404"},
		{"404 not listed", []int{503}, 404, "/y?z x-code="},
	} {
		svc := backendOf("fallback", []string{pages}, func(p *annotations.Proxy) {
			p.Upstream = &annotations.Upstream{CustomHTTPErrors: tc.codes}
		})
		s := snap(1, "a.test", backendOf("app", []string{pages}))
		s.DefaultBackend, s.DefaultService = &svc, &svc
		_, srv := front(t, Options{}, s)
		if res := get(t, client(t), srv, "other.test", "/y?z"); res.status != tc.status || res.body != tc.body {
			t.Errorf("%s: unmatched host: %d %q, want %d %q", tc.name, res.status, res.body, tc.status, tc.body)
		}
	}
}

// TestDisableProxyInterceptErrors mirrors ingress-nginx's
// disable-proxy-intercept-errors e2e case: the endpoint's listed 404
// reaches the client unchanged, while Weir's own 502 (nginx's error_page,
// which proxy_intercept_errors does not govern) is still replaced.
func TestDisableProxyInterceptErrors(t *testing.T) {
	t.Parallel()
	app := addr(backend(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "app 404")
	}))
	custom := errorPages(t, "custom")
	route := func(eps []string, pass bool) snapshot.Backend {
		be := backendOf("app", eps, func(p *annotations.Proxy) {
			p.Upstream = &annotations.Upstream{CustomHTTPErrors: []int{404, 502}, DefaultBackend: "errors", NoInterceptErrors: pass}
		})
		eb := backendOf("errors", []string{custom})
		be.ErrorBackend = &eb
		return be
	}
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{
		{Host: "pass.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: route([]string{app}, true)}}},
		{Host: "down.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: route([]string{refusedAddr(t)}, true)}}},
		{Host: "intercept.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: route([]string{app}, false)}}},
	}}
	_, srv := front(t, Options{}, s)
	c := client(t)
	if res := get(t, c, srv, "pass.test", "/status/404"); res.err != nil || res.status != 404 || res.body != "app 404" {
		t.Errorf("pass.test: %d %q %v, want the endpoint's 404", res.status, res.body, res.err)
	}
	if res := get(t, c, srv, "intercept.test", "/status/404"); res.err != nil || res.status != 404 || !strings.Contains(res.body, `"from":"custom"`) {
		t.Errorf("intercept.test: %d %q %v, want the error backend's 404", res.status, res.body, res.err)
	}
	if res := get(t, c, srv, "down.test", "/"); res.err != nil || res.status != 502 || !strings.Contains(res.body, `"code":"502"`) {
		t.Errorf("down.test: %d %q %v, want Weir's 502 replaced by the error backend", res.status, res.body, res.err)
	}
}

// TestCustomHTTPErrorsHSTS: over HTTPS, a custom error page carries no
// HSTS of Weir's: ingress-nginx serves it from a named location
// (@custom_<upstream>_<code>, nginx.tmpl's CUSTOM_ERRORS) that has no
// header_filter_by_lua, so lua_ingress.lua's header() does not run for it,
// whether the error backend is the route's default-backend Service or the
// default backend (which has HSTS for its own requests). A route without
// endpoints served by its default-backend Service is proxied there from
// its own location (controller.go switches the location's backend) and
// keeps HSTS, as does a status that is not intercepted.
func TestCustomHTTPErrorsHSTS(t *testing.T) {
	t.Parallel()
	app := addr(backend(t, func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/status/"))
		w.WriteHeader(code)
	}))
	custom, global := errorPages(t, "custom"), errorPages(t, "global")
	const hsts = "max-age=600"
	route := func(eps []string, errorBackend bool) snapshot.Backend {
		be := backendOf("app", eps, withErrors(404))
		if errorBackend {
			eb := backendOf("errors", []string{custom})
			be.ErrorBackend = &eb
		}
		return be
	}
	def := backendOf("default", []string{global})
	s := &snapshot.Snapshot{Version: 1, HSTS: hsts, DefaultBackend: &def, Servers: []snapshot.Server{
		{Host: "a.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: route([]string{app}, true)}}},
		{Host: "global.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: route([]string{app}, false)}}},
		{Host: "empty.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: route([]string{}, true)}}},
	}}
	checkHSTS(t, s, []hstsCase{ // redirect_test.go
		{http.MethodGet, "a.test", "/status/404", 404, ""},
		{http.MethodGet, "global.test", "/status/404", 404, ""},
		{http.MethodGet, "empty.test", "/", 503, hsts},
		{http.MethodGet, "a.test", "/status/500", 500, hsts},
	})
}

// TestCustomHTTPErrorsLogValues checks the upstream variables of a request
// whose answer custom-http-errors intercepted, as nginx 1.22 writes them
// after the internal redirect to the @custom_ location: the location's
// attempt, " : ", the error page's (ngx_http_upstream_addr_variable's
// separator); the intercepted answer read no body (length 0). A route
// without endpoints served by its default-backend Service logs that
// Service's attempt alone. $proxy_upstream_name is the one the @custom_
// location or the location sets: ingress-nginx's
// custom-default-backend-<namespace>-<service> upstream of the annotation's
// Service (controller.go), else upstream-default-backend.
func TestCustomHTTPErrorsLogValues(t *testing.T) {
	t.Parallel()
	app := addr(backend(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "app body")
	}))
	custom := addr(backend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }))
	route := func(eps []string) snapshot.Backend {
		be := backendOf("app", eps, withErrors(404, 502, 503))
		eb := backendOf("errors", []string{custom})
		be.ErrorBackend = &eb
		return be
	}
	refused := refusedAddr(t)
	global := route([]string{app})
	global.ErrorBackend = nil
	def := backendOf("default", []string{custom})
	s := &snapshot.Snapshot{Version: 1, DefaultBackend: &def, DefaultService: &def, Servers: []snapshot.Server{
		{Host: "global.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: global}}},
		{Host: "a.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: route([]string{app})}}},
		{Host: "down.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: route([]string{refused})}}},
		{Host: "empty.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: route([]string{})}}},
	}}
	var buf syncBuffer
	s = withLogFormat(t, s, map[string]string{"log-format-upstream": "$proxy_upstream_name|$status|$upstream_addr|$upstream_status|$upstream_response_length|$upstream_response_time"})
	_, srv := front(t, Options{AccessLog: &buf}, s)
	c := client(t)
	for _, tc := range []struct{ host, want string }{
		{"a.test", `^custom-default-backend-ns-errors\|200\|` + regexp.QuoteMeta(app+" : "+custom) + `\|404 : 200\|0 : 5\|\d+\.\d{3} : \d+\.\d{3}$`},
		// The lone refused endpoint is tried proxy-next-upstream-tries (3)
		// times, as ingress-nginx's balancer picks it again.
		{"down.test", `^custom-default-backend-ns-errors\|200\|` + regexp.QuoteMeta(strings.Repeat(refused+", ", 2)+refused+" : "+custom) + `\|502, 502, 502 : 200\|0, 0, 0 : 5\|\d+\.\d{3}, \d+\.\d{3}, \d+\.\d{3} : \d+\.\d{3}$`},
		{"empty.test", `^custom-default-backend-ns-errors\|200\|` + regexp.QuoteMeta(custom) + `\|200\|5\|\d+\.\d{3}$`},
		{"global.test", `^upstream-default-backend\|200\|` + regexp.QuoteMeta(app+" : "+custom) + `\|404 : 200\|0 : 5\|\d+\.\d{3} : \d+\.\d{3}$`},
	} {
		line := logRequest(t, c, srv.URL+"/x", tc.host, &buf, nil)
		if !regexp.MustCompile(tc.want).MatchString(line) {
			t.Errorf("%s: line %q, want it to match %s", tc.host, line, tc.want)
		}
	}
}

// TestCustomHTTPErrorsLogInternalDefault: an answer custom-http-errors
// intercepts with no default backend Service is ingress-nginx's internal
// default backend's 404, through @custom_upstream-default-backend_<code>,
// whose $proxy_upstream_name the line carries; the location's attempt
// keeps its own status (nginx 1.22.1: "500 : 404", the internal server's
// attempt after " : ", which Weir does not have).
func TestCustomHTTPErrorsLogInternalDefault(t *testing.T) {
	t.Parallel()
	app := addr(backend(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, "app body")
	}))
	s := snap(1, "app.test", backendOf("app", []string{app}, withErrors(500)))
	var buf syncBuffer
	s = withLogFormat(t, s, map[string]string{"log-format-upstream": "$proxy_upstream_name|$status|$upstream_addr|$upstream_status|$upstream_response_length"})
	_, srv := front(t, Options{AccessLog: &buf}, s)
	line := logRequest(t, client(t), srv.URL+"/x", "app.test", &buf, nil)
	if want := "upstream-default-backend|404|" + app + "|500|0"; line != want {
		t.Errorf("line %q, want %q", line, want)
	}
}

// TestCustomHTTPErrorsUpstreamFields checks the forwarding fields of a
// custom error page's request against nginx.tmpl's @custom_ location, read
// side by side with nginx 1.22.1: X-Forwarded-For is the client address and
// Host $best_http_host; the route location's other forwarding fields are
// not set, so the client's own pass as they came (its Proxy field aside);
// no X-Format without an Accept; X-Original-URI is $request_uri, an
// absolute-form target's path on. It is HTTP/1.0 with Connection: close,
// nginx's defaults, which the @custom_ location does not change.
func TestCustomHTTPErrorsUpstreamFields(t *testing.T) {
	app := addr(backend(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) }))
	got := make(chan http.Header, 1)
	pages := addr(backend(t, func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Clone()
		h.Set("Host", r.Host)
		h.Set("Proto", r.Proto)
		got <- h
		io.WriteString(w, "page")
	}))
	be := backendOf("app", []string{app}, withErrors(404))
	eb := backendOf("errors", []string{pages})
	be.ErrorBackend = &eb
	_, srv := front(t, Options{}, snap(1, "a.test", be))
	raw := "GET http://a.test/s/404?q=1 HTTP/1.1\r\nHost: b.test\r\nX-Forwarded-Host: evil\r\nX-Real-IP: 1.2.3.4\r\n" +
		"X-Scheme: zz\r\nX-Forwarded-Port: 1\r\nProxy: http://p\r\nConnection: close\r\n\r\n"
	if resp, body := rawExchange(t, addr(srv), raw); resp.StatusCode != 200 || body != "page" {
		t.Fatalf("status %d body %q, want the error page's 200", resp.StatusCode, body)
	}
	h := <-got
	want := map[string]string{
		"Host": "a.test", "X-Forwarded-For": "127.0.0.1", "X-Forwarded-Host": "evil", "X-Real-Ip": "1.2.3.4",
		"X-Scheme": "zz", "X-Forwarded-Port": "1", "X-Original-Uri": "/s/404?q=1", "X-Code": "404",
		"Proto": "HTTP/1.0", "Connection": "close", // nginx's proxy_http_version and Connection defaults
	}
	// The absolute-form target's host, not the Host line (httpHost); nginx
	// sends Host: b.test.
	for k, v := range want {
		if h.Get(k) != v {
			t.Errorf("%s: %q, want %q", k, h.Get(k), v)
		}
	}
	for _, k := range []string{"X-Forwarded-Proto", "X-Forwarded-Scheme", "X-Original-Forwarded-Host", "X-Original-Forwarded-For", "X-Format", "Proxy"} {
		if v, ok := h[k]; ok {
			t.Errorf("%s: %q, want none", k, v)
		}
	}
}

// TestCustomHTTPErrorsDenied: the 503 of a location ingress-nginx denies
// (custom-headers that do not resolve, source ranges that do not parse)
// follows the ConfigMap's custom-http-errors alone, to the default backend,
// as nginx.tmpl's "return 503" in place of the location's error_page lines
// leaves only the http-level ones; a client block-cidrs refuses gets nginx's
// 403 page from the @custom_ location's deny. Read side by side with nginx
// 1.22.1.
func TestCustomHTTPErrorsDenied(t *testing.T) {
	custom, global := errorPages(t, "custom"), errorPages(t, "global")
	denied := func(codes ...int) snapshot.Backend {
		be := backendOf("app", []string{custom}, withErrors(codes...))
		be.Proxy.CustomHeaders = &annotations.CustomHeaders{Invalid: "configmap ns/missing not found"}
		eb := backendOf("errors", []string{custom})
		be.ErrorBackend = &eb
		return be
	}
	badRanges := backendOf("app", []string{custom}, withErrors(404))
	badRanges.Proxy.SourceRange = &annotations.SourceRange{InvalidAllow: "10.0.0.300/8"}
	def := backendOf("default", []string{global})
	build := func(g annotations.Global) *snapshot.Snapshot {
		return &snapshot.Snapshot{Version: 1, DefaultBackend: &def, DefaultService: &def, Global: g, Servers: []snapshot.Server{
			{Host: "a.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: denied(404)}}},
			{Host: "own.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: denied(503)}}},
			{Host: "ranges.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: badRanges}}},
		}}
	}
	page503 := h1guard.ErrorPage(http.StatusServiceUnavailable)
	for _, tc := range []struct {
		name, host string
		global     annotations.Global
		status     int
		body       string // a substring
	}{
		{"configmap lists 503", "a.test", annotations.Global{CustomHTTPErrors: []int{503}}, 503, `"from":"global"`},
		{"source ranges", "ranges.test", annotations.Global{CustomHTTPErrors: []int{503}}, 503, `"from":"global"`},
		{"configmap lists none", "a.test", annotations.Global{}, 503, page503},
		{"annotation alone lists 503", "own.test", annotations.Global{}, 503, page503},
		{"blocked client", "a.test", annotations.Global{CustomHTTPErrors: []int{503}, Block: annotations.Block{CIDRs: []string{"127.0.0.0/8"}}},
			403, h1guard.ErrorPage(http.StatusForbidden)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := front(t, Options{}, build(tc.global))
			res := get(t, client(t), srv, tc.host, "/x")
			if res.status != tc.status || !strings.Contains(res.body, tc.body) {
				t.Errorf("got %d %q, want %d with %q", res.status, res.body, tc.status, tc.body)
			}
			if strings.Contains(tc.body, "global") && !strings.Contains(res.body, `"code":"503"`) {
				t.Errorf("page %q, want X-Code 503", res.body)
			}
		})
	}
}

// TestCustomHTTPErrorsLimits: the refusals of limit-rps/limit-rpm
// (limit_req) go through the route's custom-http-errors, as nginx sends
// limit_req's status to the location's error_page (read side by side with
// nginx 1.22.1: X-Code 503, the request's URI in X-Original-URI); a client
// block-cidrs refuses gets nginx's 403 page from the @custom_ location.
func TestCustomHTTPErrorsLimits(t *testing.T) {
	app := addr(backend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "app") }))
	custom := errorPages(t, "custom")
	for _, tc := range []struct {
		name   string
		block  []string
		status int
		body   string
	}{
		{"limited", nil, 503, `"original":"/second"`},
		{"limited and blocked", []string{"127.0.0.0/8"}, 403, h1guard.ErrorPage(http.StatusForbidden)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := backendOf("app", []string{app}, withErrors(503), func(p *annotations.Proxy) {
				p.RateLimit = &annotations.RateLimit{RPM: 1, BurstMultiplier: 1}
			})
			eb := backendOf("errors", []string{custom})
			be.ErrorBackend = &eb
			s := snap(1, "a.test", be)
			s.Global.Block.CIDRs = tc.block
			_, srv := front(t, Options{}, s)
			c := client(t)
			for range 2 { // the rate and the burst: 200, or block-cidrs' 403
				if res := get(t, c, srv, "a.test", "/first"); res.status != 200 && tc.block == nil {
					t.Fatalf("first: %d %q, want the app's 200", res.status, res.body)
				}
			}
			res := get(t, c, srv, "a.test", "/second")
			if res.status != tc.status || !strings.Contains(res.body, tc.body) {
				t.Errorf("got %d %q, want %d with %q", res.status, res.body, tc.status, tc.body)
			}
		})
	}
}

// TestCustomHTTPErrorsClose: a declared body over proxy-body-size goes
// through custom-http-errors when it lists 413, with the fields of nginx's
// find-config phase (no $namespace, $ingress_name, $service_name or
// $service_port yet); after a 413 or an intercepted 500 the HTTP/1
// connection ends, as nginx's special response for those codes ends
// keep-alive whatever page answers (read side by side with nginx 1.22.1).
func TestCustomHTTPErrorsClose(t *testing.T) {
	app := addr(backend(t, func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/status/"))
		w.WriteHeader(code)
	}))
	be := backendOf("app", []string{app}, withErrors(413, 500, 404), func(p *annotations.Proxy) { p.BodySizeBytes = 4 })
	eb := backendOf("errors", []string{errorPages(t, "custom")})
	be.ErrorBackend = &eb
	var buf syncBuffer
	_, srv := front(t, Options{AccessLog: &buf}, withLogFormat(t, snap(1, "a.test", be), map[string]string{"log-format-upstream": "$status $proxy_upstream_name"}))
	for _, tc := range []struct {
		name, raw string
		want      []string // in the page
		close     bool
	}{
		{"413", "POST /x HTTP/1.1\r\nHost: a.test\r\nContent-Length: 8\r\n\r\n12345678", []string{`"code":"413"`, `"namespace":""`, `"service":""`, `"original":"/x"`}, true},
		{"500", "GET /status/500 HTTP/1.1\r\nHost: a.test\r\n\r\n", []string{`"code":"500"`, `"service":"app"`}, true},
		// Read over the limit: after the location's set lines.
		{"413 chunked", "POST /x HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n0\r\n\r\n",
			[]string{`"code":"413"`, `"service":"app"`, `"original":"/x"`}, true},
		{"404", "GET /status/404 HTTP/1.1\r\nHost: a.test\r\n\r\n", []string{`"code":"404"`}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := rawExchange(t, addr(srv), tc.raw)
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("page %q, want %s", body, w)
				}
			}
			if resp.Close != tc.close {
				t.Errorf("Connection %q: close %v, want %v", resp.Header.Get("Connection"), resp.Close, tc.close)
			}
		})
	}
	// The @custom_ location's set names the upstream, find-config or not
	// (the error page answers its X-Code). The lines are found by status:
	// a 413's line is written once its connection's lingering close ends,
	// which may be after the next request's.
	waitFor(t, "four access-log lines", func() bool { return strings.Count(buf.String(), "\n") == 4 })
	n := 0
	for _, line := range strings.Split(buf.String(), "\n") {
		if strings.HasPrefix(line, "413 ") {
			n++
			if want := "413 custom-default-backend-ns-errors"; line != want {
				t.Errorf("413's line %q, want %q", line, want)
			}
		}
	}
	if n != 2 {
		t.Errorf("access log %q: %d lines of a 413, want 2", buf.String(), n)
	}
}

// TestCustomHTTPErrorsBlockedLog: block-cidrs' 403 on a route listing 403
// goes to its error page, whose @custom_ location refuses it again (nginx's
// 403 page) after setting $proxy_upstream_name: nginx 1.22.1 logs the error
// page's upstream and no attempt.
func TestCustomHTTPErrorsBlockedLog(t *testing.T) {
	app := addr(backend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "app") }))
	be := backendOf("app", []string{app}, withErrors(403))
	eb := backendOf("errors", []string{errorPages(t, "custom")})
	be.ErrorBackend = &eb
	s := withLogFormat(t, snap(1, "a.test", be), map[string]string{"log-format-upstream": "$status $proxy_upstream_name $upstream_addr $upstream_status"})
	s.Servers = append(s.Servers, snapshot.Server{Host: "b.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: backendOf("app", []string{app})}}})
	s.Global.Block.CIDRs = []string{"127.0.0.0/8"}
	var buf syncBuffer
	_, srv := front(t, Options{AccessLog: &buf}, s)
	for _, host := range []string{"a.test", "b.test"} {
		if res := get(t, client(t), srv, host, "/x"); res.status != 403 || res.body != h1guard.ErrorPage(http.StatusForbidden) {
			t.Errorf("%s: %d %q, want nginx's 403 page", host, res.status, res.body)
		}
	}
	waitFor(t, "two access-log lines", func() bool { return strings.Count(buf.String(), "\n") == 2 })
	if got, want := buf.String(), "403 custom-default-backend-ns-errors - -\n403 ns-app-http - -\n"; got != want {
		t.Errorf("lines %q, want %q", got, want)
	}
}

// TestCustomHTTPErrorsNoEndpointsIntercepted: the answer of the
// default-backend Service that serves a route without endpoints goes
// through the route's custom-http-errors, as that location's
// proxy_intercept_errors and error_page lines apply to it: a listed status
// (the usual error-pages backend answers X-Code's) sends the request to
// the @custom_ page, rewritten to "/" with X-Original-URI, once. Read side
// by side with nginx 1.22.1 ("a : a", "503 : 503" in the access log).
func TestCustomHTTPErrorsNoEndpointsIntercepted(t *testing.T) {
	be := backendOf("app", []string{}, withErrors(503))
	eb := backendOf("errors", []string{errorPages(t, "custom")})
	be.ErrorBackend = &eb
	var buf syncBuffer
	_, srv := front(t, Options{AccessLog: &buf}, withLogFormat(t, snap(1, "a.test", be), map[string]string{"log-format-upstream": "$status $upstream_status $proxy_upstream_name"}))
	res := get(t, client(t), srv, "a.test", "/p?q=1")
	for _, w := range []string{`"code":"503"`, `"uri":"/?q=1"`, `"original":"/p?q=1"`, `"service":"app"`} {
		if !strings.Contains(res.body, w) {
			t.Errorf("page %q, want %s", res.body, w)
		}
	}
	if res.status != 503 {
		t.Errorf("status %d, want the error page's 503", res.status)
	}
	waitFor(t, "the access-log line", func() bool { return strings.HasSuffix(buf.String(), "\n") })
	if got, want := buf.String(), "503 503 : 503 custom-default-backend-ns-errors\n"; got != want {
		t.Errorf("line %q, want %q", got, want)
	}
}

// TestNoEndpointsStandIn: a route without endpoints is served by its
// default-backend Service from the route's own location, as ingress-nginx's
// custom-default-backend- upstream that the location's proxy_pass reaches
// (nginx 1.22.1, location ~* "^/app(/|$)(.*)" with rewrite "(?i)/app(/|$)(.*)"
// /new/$2 break: GET /app/x?q=1 reached it as /new/x?q=1; with proxy_pass
// https://, over TLS): the request's method and body, the location's
// rewrite-target and its backend-protocol; X-Code 503 all the same.
func TestNoEndpointsStandIn(t *testing.T) {
	t.Parallel()
	pages := errorPages(t, "pages")
	tlsPages := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "tls="+strconv.FormatBool(r.TLS != nil)+" code="+r.Header.Get("X-Code")+" uri="+r.RequestURI)
	}))
	t.Cleanup(tlsPages.Close)
	standIn := func(eps []string, opts ...func(*annotations.Proxy)) snapshot.Backend {
		be := backendOf("app", nil, append([]func(*annotations.Proxy){withErrors()}, opts...)...)
		eb := backendOf("errors", eps)
		be.ErrorBackend = &eb
		return be
	}
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{
		{Host: "rw.test", UseRegex: true, Paths: []snapshot.Path{{Path: "/app(/|$)(.*)", Match: snapshot.MatchRegex,
			Backend: standIn([]string{pages}, withRewrite(annotations.Rewrite{Target: "/new/$2"}))}}},
		{Host: "tls.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix,
			Backend: standIn([]string{addr(tlsPages)}, func(p *annotations.Proxy) { p.Upstream.Protocol = annotations.ProtocolHTTPS })}}},
	}}
	_, srv := front(t, Options{}, s)
	c := client(t)
	var got map[string]string
	res := do(t, c, srv, http.MethodPost, "rw.test", "/app/x?q=1", strings.NewReader("hello"))
	if err := json.Unmarshal([]byte(res.body), &got); err != nil || res.status != 503 || got["uri"] != "/new/x?q=1" ||
		got["method"] != http.MethodPost || got["body"] != "hello" || got["code"] != "503" || got["hasOriginal"] != "false" {
		t.Errorf("POST rw.test/app/x?q=1: %d %q, want the Service's answer to POST /new/x?q=1 with its body, X-Code 503", res.status, res.body)
	}
	if res := get(t, c, srv, "tls.test", "/t"); res.status != 200 || res.body != "tls=true code=503 uri=/t" {
		t.Errorf("GET tls.test/t with backend-protocol HTTPS: %d %q, want 200 %q", res.status, res.body, "tls=true code=503 uri=/t")
	}
}

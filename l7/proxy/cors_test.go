package proxy

import (
	"io"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/weir-lb/weir/l7/h1server"
	"github.com/weir-lb/weir/l7/h1server/h1servertest"
	"github.com/weir-lb/weir/userspace/annotations"
)

func corsOf(origins ...string) *annotations.CORS {
	return &annotations.CORS{AllowOrigin: origins, AllowMethods: annotations.DefaultCORSAllowMethods,
		AllowHeaders: annotations.DefaultCORSAllowHeaders, AllowCredentials: true, MaxAge: annotations.DefaultCORSMaxAge}
}

// TestCORS: nginx.tmpl's CORS block: a matching Origin (case aside, "*."
// one label) gets the Access-Control-* headers, over the upstream's; its
// OPTIONS gets 204 from Weir, before the allow-list; another origin gets
// nothing and its OPTIONS reaches the upstream.
func TestCORS(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Access-Control-Allow-Origin", "https://upstream.test")
		io.WriteString(w, "ok")
	})
	c := corsOf("https://a.test", "https://*.b.test")
	c.ExposeHeaders = "X-Total"
	_, srv := front(t, Options{}, snap(1, "app.test", backendOf("app", []string{addr(up)}, func(p *annotations.Proxy) {
		p.CORS = c
		p.SourceRange = &annotations.SourceRange{Allow: []string{"192.0.2.0/24"}} // refuses 127.0.0.1
	})))
	send := func(method, origin string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+"/", nil)
		req.Host = "app.test"
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := client(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	want := func(origin string) http.Header {
		return http.Header{
			"Access-Control-Allow-Origin":      {origin},
			"Access-Control-Allow-Credentials": {"true"},
			"Access-Control-Allow-Methods":     {"GET, PUT, POST, DELETE, PATCH, OPTIONS"},
			"Access-Control-Allow-Headers":     {"DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization"},
			"Access-Control-Expose-Headers":    {"X-Total"},
			"Access-Control-Max-Age":           {"1728000"},
		}
	}
	corsHeaders := func(h http.Header) http.Header {
		out := http.Header{}
		for k, v := range h {
			if len(k) > 15 && k[:15] == "Access-Control-" {
				out[k] = v
			}
		}
		return out
	}
	resp := send(http.MethodOptions, "https://x.b.test")
	// ingress-nginx sets Content-Type and Content-Length on its 204 with
	// more_set_headers: nginx 1.22's HTTP/1 header filter drops the
	// Content-Type of its own 204 and writes the Content-Length (read off
	// nginx with headers-more loaded: "Content-Length: 0").
	// (net/http's server drops a 204's Content-Length.)
	_, hasType := resp.Header["Content-Type"]
	wantLength := "0"
	if h1servertest.Kind() == h1server.KindNet {
		wantLength = ""
	}
	if resp.StatusCode != http.StatusNoContent || hasType || resp.Header.Get("Content-Length") != wantLength {
		t.Errorf("preflight: %d, %v; want 204 with Content-Length %q, without Content-Type", resp.StatusCode, resp.Header, wantLength)
	}
	if diff := cmp.Diff(want("https://x.b.test"), corsHeaders(resp.Header)); diff != "" {
		t.Errorf("preflight headers (-want +got):\n%s", diff)
	}
	resp = send(http.MethodGet, "HTTPS://A.test")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("GET from a matching origin, client outside the allow-list: %d, want 403", resp.StatusCode)
	}
	if diff := cmp.Diff(want("HTTPS://A.test"), corsHeaders(resp.Header)); diff != "" {
		t.Errorf("403's headers (-want +got):\n%s", diff)
	}
	if hits.Load() != 0 {
		t.Fatalf("the upstream was reached %d times", hits.Load())
	}

	_, open := front(t, Options{}, snap(1, "app.test", backendOf("app", []string{addr(up)}, func(p *annotations.Proxy) { p.CORS = c })))
	srv = open
	resp = send(http.MethodGet, "https://a.test")
	if diff := cmp.Diff(want("https://a.test"), corsHeaders(resp.Header)); resp.StatusCode != 200 || diff != "" {
		t.Errorf("GET from a matching origin: %d, headers (-want +got):\n%s", resp.StatusCode, diff)
	}
	for _, origin := range []string{"https://evil.test", "https://x.y.b.test", "https://a.test.evil", "http://a.test", ""} {
		before := hits.Load()
		resp = send(http.MethodOptions, origin)
		got := corsHeaders(resp.Header)
		if resp.StatusCode != 200 || hits.Load() != before+1 || len(got) != 1 || got.Get("Access-Control-Allow-Origin") != "https://upstream.test" {
			t.Errorf("OPTIONS from %q: %d, upstream reached %v, CORS headers %v; want the upstream's answer alone", origin, resp.StatusCode, hits.Load() > before, got)
		}
	}

	star := corsOf("*")
	star.AllowCredentials = false
	_, any := front(t, Options{}, snap(1, "app.test", backendOf("app", []string{addr(up)}, func(p *annotations.Proxy) { p.CORS = star })))
	srv = any
	resp = send(http.MethodOptions, "")
	w := want("*")
	w.Del("Access-Control-Allow-Credentials")
	w.Del("Access-Control-Expose-Headers")
	if diff := cmp.Diff(w, corsHeaders(resp.Header)); resp.StatusCode != 204 || diff != "" {
		t.Errorf("cors-allow-origin *, OPTIONS without Origin: %d, headers (-want +got):\n%s", resp.StatusCode, diff)
	}
}

// TestCORSFieldOrder: the head of a preflight and of a proxied response
// from a matching Origin, line by line, as nginx 1.22.1 with headers-more
// wrote them for nginx.tmpl's CORS block (Server left out, which
// ingress-nginx clears): the Access-Control-* lines in the template's
// order after the upstream's fields, an upstream's
// Access-Control-Allow-Origin replaced in place, custom-headers' fields
// before them (the location's more_set_headers, applied before the CORS
// "if" block's), and the preflight's "Content-Length: 0" last, as
// more_set_headers added it. net/http's
// server writes the fields by name, and no Content-Length on a 204.
func TestCORSFieldOrder(t *testing.T) {
	t.Parallel()
	up := cannedUpstream(t, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\n"+
		"Access-Control-Allow-Origin: upstream-value\r\nVary: Accept-Encoding\r\nConnection: close\r\n\r\nok")
	c := corsOf("https://origin.cors.com:8080")
	c.ExposeHeaders = "X-A, X-B"
	route := func(endpoint string) string {
		_, srv := front(t, Options{}, snap(1, "app.test", backendOf("app", []string{endpoint}, func(p *annotations.Proxy) {
			p.CORS = c
			p.CustomHeaders = &annotations.CustomHeaders{Headers: []annotations.Header{{Name: "X-Custom", Value: "c"}, {Name: "X-Request-Id", Value: "r"}}}
		})))
		return srv.Listener.Addr().String()
	}
	srv, down := route(up), route(refusedAddr(t))
	cors := []string{
		"Access-Control-Allow-Origin: https://origin.cors.com:8080",
		"Access-Control-Allow-Credentials: true",
		"Access-Control-Allow-Methods: GET, PUT, POST, DELETE, PATCH, OPTIONS",
		"Access-Control-Allow-Headers: DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization",
		"Access-Control-Expose-Headers: X-A, X-B",
		"Access-Control-Max-Age: 1728000",
	}
	custom := []string{"X-Custom: c", "X-Request-ID: r"}
	preflight := slices.Concat([]string{"Connection: close"}, custom, cors, []string{"Content-Length: 0"})
	get := slices.Concat([]string{"Content-Type: text/html", "Content-Length: 2", "Connection: close", cors[0], "Vary: Accept-Encoding"}, custom, cors[1:])
	// Weir's own 502 (nginx 1.22.1's for a closed port had the same order).
	bad := slices.Concat([]string{"Content-Type: text/html", "Content-Length: 150", "Connection: close"}, custom, cors)
	if h1servertest.Kind() == h1server.KindNet {
		custom = []string{"X-Custom: c", "X-Request-Id: r"}
		bad = append(slices.Sorted(slices.Values(slices.Concat(cors, custom, []string{"Content-Length: 150", "Content-Type: text/html"}))), "Connection: close")
		preflight = append(slices.Sorted(slices.Values(slices.Concat(cors, custom))), "Connection: close")
		get = append(slices.Sorted(slices.Values(slices.Concat(cors, custom, []string{"Vary: Accept-Encoding", "Content-Length: 2", "Content-Type: text/html"}))), "Connection: close")
	}
	for _, tc := range []struct {
		srv, method, status string
		want                []string
	}{
		{srv, "OPTIONS", "HTTP/1.1 204 No Content", preflight},
		{srv, "GET", "HTTP/1.1 200 OK", get},
		{down, "GET", "HTTP/1.1 502 Bad Gateway", bad},
	} {
		status, fields := rawHead(t, tc.srv,
			tc.method+" / HTTP/1.1\r\nHost: app.test\r\nOrigin: https://origin.cors.com:8080\r\nConnection: close\r\n\r\n")
		if diff := cmp.Diff(append([]string{tc.status}, tc.want...), append([]string{status}, fields...)); diff != "" {
			t.Errorf("%s from a matching Origin: head (-want +got):\n%s", tc.method, diff)
		}
	}
}

package proxy

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// TestConfiguredHeaders: hide-headers removes the upstream's header,
// add-headers and custom-headers replace the upstream's; proxy-set-headers
// and connection-proxy-header reach the upstream, the variables of
// proxy-set-headers expanded as nginx's proxy_set_header, a value empty
// once expanded removing the header; enable-access-log "false" writes no line.
func TestConfiguredHeaders(t *testing.T) {
	t.Parallel()
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Powered-By", "php")
		h.Set("X-Frame-Options", "SAMEORIGIN")
		h.Set("My-Header", "upstream")
		h["Got-Connection"] = r.Header["Connection"]
		h["Got-X-Client"] = r.Header["X-Client"]
		h["Got-User-Agent"] = r.Header["User-Agent"]
		h["Got-X-Nothing"] = r.Header["X-Nothing"]
		io.WriteString(w, "ok")
	})
	quiet := backendOf("quiet", []string{addr(up)}, func(p *annotations.Proxy) {
		p.CustomHeaders = &annotations.CustomHeaders{ConfigMap: "default/custom", Headers: []annotations.Header{{Name: "My-Header", Value: "42"}}}
		p.ConnectionHeader = "keep-alive"
		p.AccessLogOff = true
	})
	loud := backendOf("loud", []string{addr(up)})
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{
		{Host: "quiet.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: quiet}}},
		{Host: "loud.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: loud}}},
	}}
	s.Global.HideHeaders = []string{"x-powered-by"}
	s.Global.ResponseHeaders = []annotations.Header{{Name: "X-Frame-Options", Value: "DENY"}}
	s.Global.UpstreamHeaders = []annotations.Header{{Name: "X-Client", Value: "$remote_addr ${literal_dollar}"}, {Name: "User-Agent", Value: "$http_x_none"}, {Name: "X-Nothing", Value: "$cookie_none"}}
	var logs syncBuffer
	p, srv := front(t, Options{AccessLog: &logs}, s)
	_ = p
	c := client(t)
	res := get(t, c, srv, "quiet.test", "/")
	if res.err != nil || res.status != 200 {
		t.Fatalf("GET: %d, %v", res.status, res.err)
	}
	h := res.header
	checks := []struct {
		name string
		want []string
	}{
		{"X-Powered-By", nil},
		{"X-Frame-Options", []string{"DENY"}},
		{"My-Header", []string{"42"}},
		{"Got-Connection", []string{"keep-alive"}},
		{"Got-X-Client", []string{"127.0.0.1 $"}},
		{"Got-X-Nothing", nil},
		{"Got-User-Agent", nil},
	}
	for _, c := range checks {
		if got := h[c.name]; strings.Join(got, "|") != strings.Join(c.want, "|") || (got == nil) != (c.want == nil) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	if res := get(t, c, srv, "loud.test", "/"); res.status != 200 || res.header.Get("My-Header") != "upstream" || res.header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("route without custom-headers: %d, My-Header %q, X-Frame-Options %q; want the upstream's and DENY", res.status, res.header.Get("My-Header"), res.header.Get("X-Frame-Options"))
	}
	// Weir's own responses carry them too (more_set_headers).
	denied := quiet
	denied.Proxy.SourceRange = &annotations.SourceRange{Allow: []string{"192.0.2.0/24"}}
	s2 := snap(2, "denied.test", denied)
	s2.Global = s.Global
	_, dsrv := front(t, Options{}, s2)
	if res := get(t, c, dsrv, "denied.test", "/"); res.status != 403 || res.header.Get("X-Frame-Options") != "DENY" || res.header.Get("My-Header") != "42" {
		t.Errorf("403 of the allow-list: %d, X-Frame-Options %q, My-Header %q; want DENY and 42", res.status, res.header.Get("X-Frame-Options"), res.header.Get("My-Header"))
	}
	// So do the answers of no location: the 404 of a host no rule names
	// (ingress-nginx's default server, under the same http{} block).
	if res := get(t, c, dsrv, "nowhere.test", "/"); res.status != 404 || res.header.Get("X-Frame-Options") != "DENY" || res.header.Get("My-Header") != "" {
		t.Errorf("404 of no host: %d, X-Frame-Options %q, My-Header %q; want DENY and no custom-headers", res.status, res.header.Get("X-Frame-Options"), res.header.Get("My-Header"))
	}
	waitFor(t, "the access-log line of loud.test", func() bool { return strings.Contains(logs.String(), `"loud.test"`) })
	if strings.Contains(logs.String(), "quiet.test") {
		t.Errorf("enable-access-log false: a line was written:\n%s", logs.String())
	}
}

// TestAddHeadersVariables: add-headers is more_set_headers in
// ingress-nginx's http{}, whose values nginx evaluates per response (read
// off nginx 1.22 with headers-more): variables are expanded, on Weir's own
// answers too (the CORS preflight, the 404 of a host no rule names), and a
// value that is empty, as written or once expanded, removes the header.
func TestAddHeadersVariables(t *testing.T) {
	t.Parallel()
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Gone", "upstream")
		w.Header().Set("X-Empty", "upstream")
		w.Header().Set("Got-Request-Id", r.Header.Get("X-Request-Id"))
		io.WriteString(w, "ok")
	})
	be := backendOf("app", []string{addr(up)}, func(p *annotations.Proxy) { p.CORS = corsOf("*") })
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{
		{Host: "app.test", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: be}}},
	}}
	s.Global.ResponseHeaders = []annotations.Header{
		{Name: "X-Host", Value: "$host"},
		{Name: "X-Where", Value: "${scheme}://${host}$request_uri from $remote_addr"},
		{Name: "X-Id", Value: "$request_id"},
		{Name: "X-Req-Id", Value: "$req_id"},
		{Name: "X-Gone", Value: "$http_x_nothing"},
		{Name: "X-Empty", Value: ""},
		{Name: "X-Price", Value: "${literal_dollar}5"},
		{Name: "X-Static", Value: "static"},
	}
	_, srv := front(t, Options{}, s)
	c := client(t)
	for _, tc := range []struct {
		name, method, host string
		status             int
		want               map[string]string // "": absent
	}{
		{"proxied", http.MethodGet, "app.test", 200, map[string]string{"X-Host": "app.test", "X-Where": "http://app.test/p?q=1 from 127.0.0.1", "X-Gone": "", "X-Empty": "", "X-Price": "$5", "X-Static": "static"}},
		{"preflight", http.MethodOptions, "APP.test", 204, map[string]string{"X-Host": "app.test", "X-Gone": "", "X-Empty": "", "X-Static": "static"}},
		{"no rule", http.MethodGet, "other.test", 404, map[string]string{"X-Host": "other.test", "X-Where": "http://other.test/p?q=1 from 127.0.0.1"}},
	} {
		res := do(t, c, srv, tc.method, tc.host, "/p?q=1", nil)
		if res.err != nil || res.status != tc.status {
			t.Fatalf("%s: %d, %v; want %d", tc.name, res.status, res.err, tc.status)
		}
		for k, want := range tc.want {
			if got, ok := res.header[k]; want == "" && ok || want != "" && (len(got) != 1 || got[0] != want) {
				t.Errorf("%s: %s: %q, want %q", tc.name, k, got, want)
			}
		}
		if id := res.header.Get("X-Id"); len(id) != 32 {
			t.Errorf("%s: X-Id %q, want a request id", tc.name, id)
		} else if got := res.header.Get("Got-Request-Id"); tc.status == 200 && got != id {
			t.Errorf("%s: X-Id %q, the upstream got X-Request-ID %q", tc.name, id, got)
		} else if got := res.header.Get("X-Req-Id"); got != id {
			t.Errorf("%s: X-Req-Id %q, want X-Id's %q", tc.name, got, id)
		}
	}
}

// TestHideContentType: hide-headers Content-Type leaves an upstream's
// response untyped, as nginx 1.22.1 sends it (proxy_hide_header
// Content-Type, an upstream answering "Content-Type: text/plain": no
// Content-Type line), not with a type the server sniffs from the body; its
// plain head is relayed from its lines (relayFields), the header's fields
// known until hide-headers removes one.
func TestHideContentType(t *testing.T) {
	t.Parallel()
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "ok\n")
	})
	s := snap(1, "app.test", backendOf("app", []string{addr(up)}))
	s.Global.HideHeaders = []string{"Content-Type"}
	_, srv := front(t, Options{}, s)
	res := get(t, client(t), srv, "app.test", "/")
	if res.err != nil || res.status != 200 {
		t.Fatalf("GET: %d, %v", res.status, res.err)
	}
	if ct, ok := res.header["Content-Type"]; ok {
		t.Errorf("Content-Type %q, want none", ct)
	}
}

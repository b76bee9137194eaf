package proxy

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/weir-lb/weir/userspace/annotations"
)

// TestAllowBackendServerHeader: allow-backend-server-header passes the
// upstream's Server (nginx's proxy_pass_header Server) only with
// server-tokens, as ingress-nginx, whose more_clear_headers Server removes
// it otherwise; a response whose upstream sent none has none (nginx 1.22.1
// answers so: its proxy adds an empty Server line, passed and not written);
// Weir's own responses keep Weir's.
func TestAllowBackendServerHeader(t *testing.T) {
	t.Parallel()
	withServer := backend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/with" {
			w.Header().Set("Server", "upstream/1.0")
		}
		w.Write([]byte("ok"))
	})
	p, srv := front(t, Options{}, nil)
	c := client(t)
	tests := []struct {
		name                  string
		g                     annotations.Global
		with, without, own404 string
	}{
		{"defaults", annotations.Global{}, "", "", ""},
		{"allow without server-tokens", annotations.Global{AllowBackendServerHeader: true}, "", "", ""},
		{"server-tokens", annotations.Global{ServerTokens: true}, serverToken(), serverToken(), serverToken()},
		{"both", annotations.Global{ServerTokens: true, AllowBackendServerHeader: true}, "upstream/1.0", "", serverToken()},
	}
	for i, tc := range tests {
		applyGlobal(t, p, uint64(i+1), addr(withServer), tc.g)
		for _, x := range []struct{ host, path, want string }{
			{"foo.com", "/with", tc.with}, {"foo.com", "/without", tc.without}, {"nope.test", "/", tc.own404},
		} {
			res := get(t, c, srv, x.host, x.path)
			if got := strings.Join(res.header.Values("Server"), ","); res.err != nil || got != x.want {
				t.Errorf("%s: GET %s%s: Server %q (%v), want %q", tc.name, x.host, x.path, got, res.err, x.want)
			}
		}
	}
}

// TestNginxHiddenResponseHeaders: as nginx's default proxy_hide_header
// (ingress-nginx sets none of its own), an upstream's X-Pad and the five
// X-Accel-* fields nginx acts on never reach the client, over the plain
// path and the compressing one; another X-Accel-* field passes.
func TestNginxHiddenResponseHeaders(t *testing.T) {
	t.Parallel()
	hidden := []string{"X-Pad", "X-Accel-Expires", "X-Accel-Redirect", "X-Accel-Limit-Rate", "X-Accel-Buffering", "X-Accel-Charset"}
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		for _, k := range hidden {
			w.Header().Set(k, "1")
		}
		w.Header().Set("X-Accel-Other", "kept")
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(strings.Repeat("ok", 300)))
	})
	p, srv := front(t, Options{}, nil)
	c := client(t)
	for i, g := range []annotations.Global{{}, {Compress: annotations.Compress{Gzip: true}}} {
		applyGlobal(t, p, uint64(i+1), addr(up), g)
		res := get(t, c, srv, "foo.com", "/")
		if res.err != nil || res.status != 200 {
			t.Fatalf("gzip %v: GET: %d %v", g.Compress.Gzip, res.status, res.err)
		}
		for _, k := range hidden {
			if v, ok := res.header[k]; ok {
				t.Errorf("gzip %v: client got %s: %q", g.Compress.Gzip, k, v)
			}
		}
		if got := res.header.Get("X-Accel-Other"); got != "kept" {
			t.Errorf("gzip %v: X-Accel-Other %q, want \"kept\"", g.Compress.Gzip, got)
		}
	}
}

// TestHiddenFromConfig: nginx's default proxy_hide_header list (X-Pad, the
// X-Accel-* fields nginx acts on) hides the upstream's fields only; the same
// names set by add-headers or custom-headers reach the client. nginx 1.22.1
// with headers-more, proxying to an upstream that sent "X-Pad: up-pad" and
// "X-Accel-Buffering: up", under http{}'s more_set_headers "X-Pad:
// from-config" and the location's more_set_headers "X-Accel-Charset:
// from-location", answered "X-Pad: from-config" and "X-Accel-Charset:
// from-location" and neither upstream field.
func TestHiddenFromConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		upstream []string // fields the upstream adds, each with the value "up"
		global   []annotations.Header
		custom   []annotations.Header
		want     map[string]string // "" the field is absent
	}{
		{name: "add-headers", global: []annotations.Header{{Name: "X-Pad", Value: "1"}, {Name: "X-Kept", Value: "k"}},
			want: map[string]string{"X-Pad": "1", "X-Kept": "k"}},
		{name: "custom-headers", custom: []annotations.Header{{Name: "X-Accel-Charset", Value: "1"}, {Name: "X-Kept", Value: "k"}},
			want: map[string]string{"X-Accel-Charset": "1", "X-Kept": "k"}},
		{name: "custom-headers, upstream's hidden", upstream: []string{"X-Accel-Buffering", "X-Pad"},
			custom: []annotations.Header{{Name: "X-Accel-Expires", Value: "1"}, {Name: "X-Kept", Value: "k"}},
			want:   map[string]string{"X-Accel-Expires": "1", "X-Accel-Buffering": "", "X-Pad": "", "X-Kept": "k"}},
		{name: "the upstream's replaced", upstream: []string{"X-Pad", "X-Accel-Charset", "X-Accel-Other"},
			global: []annotations.Header{{Name: "X-Pad", Value: "from-config"}},
			custom: []annotations.Header{{Name: "X-Accel-Charset", Value: "from-location"}},
			want:   map[string]string{"X-Pad": "from-config", "X-Accel-Charset": "from-location", "X-Accel-Other": "up"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			up := backend(t, func(w http.ResponseWriter, r *http.Request) {
				for _, k := range tc.upstream {
					w.Header().Set(k, "up")
				}
				io.WriteString(w, "ok")
			})
			s := snap(1, "foo.com", backendOf("up", []string{addr(up)}, func(p *annotations.Proxy) {
				if tc.custom != nil {
					p.CustomHeaders = &annotations.CustomHeaders{Headers: tc.custom}
				}
			}))
			s.Global.ResponseHeaders = tc.global
			_, srv := front(t, Options{}, s)
			res := get(t, client(t), srv, "foo.com", "/")
			if res.err != nil || res.status != 200 {
				t.Fatalf("GET: %d %v", res.status, res.err)
			}
			for k, want := range tc.want {
				if got := strings.Join(res.header[k], ","); got != want {
					t.Errorf("client got %s %q, want %q", k, got, want)
				}
			}
		})
	}
}

package proxy

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/weir-lb/weir/userspace/annotations"
)

func TestSourceRangeVerdict(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		sr     annotations.SourceRange
		client string
		want   string
	}{
		{name: "no lists", client: "10.0.0.1", want: ""},
		{name: "inside allow", sr: annotations.SourceRange{Allow: []string{"10.0.0.0/8"}}, client: "10.2.3.4", want: ""},
		{name: "outside allow", sr: annotations.SourceRange{Allow: []string{"10.0.0.0/8"}}, client: "11.0.0.1", want: "allow"},
		{name: "in deny", sr: annotations.SourceRange{Deny: []string{"10.0.0.0/8"}}, client: "10.0.0.1", want: "deny"},
		{name: "outside deny", sr: annotations.SourceRange{Deny: []string{"10.0.0.0/8"}}, client: "192.0.2.1", want: ""},
		{name: "deny before allow", sr: annotations.SourceRange{Allow: []string{"10.0.0.0/8"}, Deny: []string{"10.1.0.0/16"}}, client: "10.1.0.1", want: "deny"},
		{name: "ipv6 allow", sr: annotations.SourceRange{Allow: []string{"2001:db8::/32"}}, client: "2001:db8::7", want: ""},
		{name: "ipv6 outside allow", sr: annotations.SourceRange{Allow: []string{"2001:db8::/32"}}, client: "::1", want: "allow"},
		{name: "ipv4 client v6 list", sr: annotations.SourceRange{Allow: []string{"::/0"}}, client: "10.0.0.1", want: "allow"},
		{name: "mapped client", sr: annotations.SourceRange{Allow: []string{"10.0.0.0/8"}}, client: "[::ffff:10.0.0.1]:1", want: ""},
		{name: "garbage client refused by allow", sr: annotations.SourceRange{Allow: []string{"0.0.0.0/0"}}, client: "@", want: "allow"},
		{name: "garbage client refused by deny", sr: annotations.SourceRange{Deny: []string{"10.0.0.0/8"}}, client: "@", want: "deny"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.client
			if _, err := netip.ParseAddr(tc.client); err == nil {
				r.RemoteAddr = netip.AddrPortFrom(netip.MustParseAddr(tc.client), 4000).String()
			}
			if got := compileSourceRange(&tc.sr).verdict(parseClientAddr(clientIP(r.RemoteAddr))); got != tc.want {
				t.Errorf("verdict = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSourceRangeServeHTTP(t *testing.T) {
	t.Parallel()
	up := backend(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	reg := prometheus.NewRegistry()
	var logs bytes.Buffer
	p := New(Options{Registry: reg, AccessLog: &logs})
	t.Cleanup(p.Close)
	withRange := func(sr *annotations.SourceRange) func(*annotations.Proxy) {
		return func(pr *annotations.Proxy) { pr.SourceRange = sr }
	}
	tests := []struct {
		name   string
		sr     *annotations.SourceRange
		status int
	}{
		{name: "allow excludes client", sr: &annotations.SourceRange{Allow: []string{"10.0.0.0/8"}}, status: http.StatusForbidden},
		{name: "allow includes client", sr: &annotations.SourceRange{Allow: []string{"127.0.0.0/8"}}, status: http.StatusOK},
		{name: "deny", sr: &annotations.SourceRange{Deny: []string{"127.0.0.1/32"}}, status: http.StatusForbidden},
		{name: "none", status: http.StatusOK},
		{name: "invalid allow list denies everyone", sr: &annotations.SourceRange{InvalidAllow: "bad"}, status: http.StatusServiceUnavailable},
		{name: "invalid deny list denies everyone", sr: &annotations.SourceRange{Allow: []string{"127.0.0.0/8"}, InvalidDeny: "bad"}, status: http.StatusServiceUnavailable},
	}
	for i, tc := range tests {
		if err := p.Apply(snap(uint64(i+1), "", backendOf("web", []string{addr(up)}, withRange(tc.sr)))); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		logs.Reset()
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "http://a.example/x", nil)
		r.RemoteAddr = "127.0.0.1:5555"
		p.ServeHTTP(w, r)
		if w.Code != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, w.Code, tc.status)
		}
		var line struct {
			Status  int    `json:"status"`
			Ingress string `json:"ingress"`
		}
		if err := json.Unmarshal(logs.Bytes(), &line); err != nil || line.Status != tc.status || line.Ingress != "ing-web" {
			t.Errorf("%s: access log %q (%v)", tc.name, logs.String(), err)
		}
	}
	m := testutil.ToFloat64
	sr := p.sources.denied
	if got := m(sr.WithLabelValues("ns", "ing-web", "allow")); got != 1 {
		t.Errorf("allow denials = %v, want 1", got)
	}
	if got := m(sr.WithLabelValues("ns", "ing-web", "deny")); got != 1 {
		t.Errorf("deny denials = %v, want 1", got)
	}
	if got := m(sr.WithLabelValues("ns", "ing-web", "invalid")); got != 2 {
		t.Errorf("invalid-list denials = %v, want 2", got)
	}
}

package proxy

import (
	"net/http"
	"testing"

	"github.com/weir-lb/weir/userspace/annotations"
)

// TestGlobalBlocks: block-user-agents and block-referers answer 403 on every
// host before routing (a host without a route too); block-cidrs answers 403
// to a blocked client address, before a 404; other requests pass. Values are
// ingress-nginx's e2e test's (test/e2e/settings/global_access_block.go).
func TestGlobalBlocks(t *testing.T) {
	t.Parallel()
	be := backend(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	s := snap(1, "a.test", backendOf("a", []string{addr(be)}))
	s.Global.Block = annotations.Block{
		UserAgents: []string{`~*chrome\/68\.0\.3440\.106\ safari\/537\.36`, "AlphaBot"},
		Referers:   []string{`~*example\.com`, "qwerty"},
	}
	p, srv := front(t, Options{}, s)
	c := client(t)
	send := func(host string, h http.Header) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host, req.Header = host, h
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	chrome := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/68.0.3440.106 Safari/537.36"
	iphone := "Mozilla/5.0 (iPhone; CPU iPhone OS 11_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/11.0 Mobile/15E148 Safari/604.1"
	for _, tc := range []struct {
		host   string
		header http.Header
		want   int
	}{
		{"a.test", http.Header{"User-Agent": {chrome}}, 403},
		{"a.test", http.Header{"User-Agent": {"AlphaBot"}}, 403},
		{"other.test", http.Header{"User-Agent": {"AlphaBot"}}, 403},
		{"a.test", http.Header{"User-Agent": {iphone}}, 200},
		{"a.test", http.Header{"Referer": {"example.com"}}, 403},
		{"a.test", http.Header{"Referer": {"qwerty"}}, 403},
		{"a.test", http.Header{"Referer": {"qwerty123"}}, 200},
		{"other.test", http.Header{"Referer": {"qwerty123"}}, 404},
	} {
		if got := send(tc.host, tc.header); got != tc.want {
			t.Errorf("GET %s with %v: status %d, want %d", tc.host, tc.header, got, tc.want)
		}
	}

	s = snap(2, "a.test", backendOf("a", []string{addr(be)}))
	s.Global.Block = annotations.Block{CIDRs: []string{"172.16.0.0/12", "127.0.0.0/8"}}
	if err := p.Apply(s); err != nil {
		t.Fatal(err)
	}
	if got := send("a.test", nil); got != 403 {
		t.Errorf("client 127.0.0.1 in block-cidrs: status %d, want 403", got)
	}
	if got := send("other.test", nil); got != 403 {
		t.Errorf("client 127.0.0.1 in block-cidrs, host without a route: status %d, want 403 (access phase before the 404)", got)
	}
	s = snap(3, "a.test", backendOf("a", []string{addr(be)}))
	s.Global.Block = annotations.Block{CIDRs: []string{"10.0.0.0/8"}}
	if err := p.Apply(s); err != nil {
		t.Fatal(err)
	}
	if got := send("a.test", nil); got != 200 {
		t.Errorf("client 127.0.0.1 outside block-cidrs: status %d, want 200", got)
	}
}

package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestSourceRange checks the source-range annotations through Weir with a
// real client on 127.0.0.1: an allow list excluding it → 403, one including
// 127.0.0.0/8 → 200, a deny list → 403; each 403 counted and access-logged.
func TestSourceRange(t *testing.T) {
	web := newBackend(t, "web", nil)
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"svc.yaml":   service("web", web.port),
		"ing.yaml": ingress("excluded", "excluded.test", "web", "whitelist-source-range", "10.0.0.0/8, 2001:db8::/32") +
			ingress("included", "included.test", "web", "allowlist-source-range", "127.0.0.0/8") +
			ingress("denied", "denied.test", "web", "denylist-source-range", "192.0.2.0/24,127.0.0.1"),
	})
	for _, tc := range []struct {
		host   string
		status int
	}{
		{"excluded.test", http.StatusForbidden},
		{"included.test", http.StatusOK},
		{"denied.test", http.StatusForbidden},
	} {
		if got := w.get(tc.host, "/").status; got != tc.status {
			t.Errorf("GET %s: status %d, want %d", tc.host, got, tc.status)
		}
	}
	if strings.Count(w.access.String(), `"status":403`) != 2 {
		t.Errorf("access log holds %d lines with status 403, want 2:\n%s", strings.Count(w.access.String(), `"status":403`), w.access.String())
	}
	resp, err := client.Get("http://" + w.d.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatalf("get /metrics: %v", err)
	}
	body := readAll(t, resp)
	for _, want := range []string{
		`weir_source_range_denied_total{ingress="excluded",list="allow",namespace="default"} 1`,
		`weir_source_range_denied_total{ingress="denied",list="deny",namespace="default"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(w.logs.String(), "source-range") {
		t.Errorf("source-range annotations warned about:\n%s", w.logs.String())
	}
}

package annotations

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseConnLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		ann      map[string]string
		want     *ConnLimit
		wantErrs []string
	}{
		{name: "none"},
		{name: "limit", ann: map[string]string{"limit-connections": "2"}, want: &ConnLimit{Connections: 2}},
		{name: "zero is no limit", ann: map[string]string{"limit-connections": "0"}},
		{
			name: "allowlist wins over whitelist",
			ann:  map[string]string{"limit-connections": "5", "limit-allowlist": "10.0.0.0/8, 127.0.0.1", "limit-whitelist": "192.168.0.0/16"},
			want: &ConnLimit{Connections: 5, Allowlist: []string{"10.0.0.0/8", "127.0.0.1/32"}},
		},
		{
			name: "whitelist",
			ann:  map[string]string{"limit-connections": "5", "limit-whitelist": "192.168.0.0/16"},
			want: &ConnLimit{Connections: 5, Allowlist: []string{"192.168.0.0/16"}},
		},
		{
			name:     "invalid limit: none, as ingress-nginx",
			ann:      map[string]string{"limit-connections": "two"},
			wantErrs: []string{`annotation nginx.ingress.kubernetes.io/limit-connections: value "two": must be a non-negative integer`},
		},
		{
			name: "invalid allowlist exempts nobody",
			ann:  map[string]string{"limit-connections": "1", "limit-allowlist": "10.0.0.0/8;127.0.0.1"},
			want: &ConnLimit{Connections: 1},
			wantErrs: []string{`annotation nginx.ingress.kubernetes.io/limit-allowlist: value "10.0.0.0/8;127.0.0.1": ` +
				`invalid entries ["10.0.0.0/8;127.0.0.1"]; nobody is exempt from limit-connections, limit-rps and limit-rpm: the allowlist fails closed`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, got := parseShort(tc.ann)
			if diff := cmp.Diff(tc.want, cfg.Proxy.ConnLimit); diff != "" {
				t.Errorf("ConnLimit (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantErrs, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
	g, errs := ParseGlobal(map[string]string{"limit-conn-status-code": "429"})
	if g.LimitConnStatusCode() != 429 || len(errs) != 0 {
		t.Errorf("limit-conn-status-code 429: %d, %v", g.LimitConnStatusCode(), errs)
	}
	g, errs = ParseGlobal(map[string]string{"limit-conn-status-code": "200"})
	if g.LimitConnStatusCode() != 503 || len(errs) != 1 {
		t.Errorf("limit-conn-status-code 200: %d, %v; want the default 503 and an error", g.LimitConnStatusCode(), errs)
	}
}

func TestParseRateLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		ann         map[string]string
		want        *RateLimit
		rate, after int
		wantErrs    []string
	}{
		{name: "none"},
		{name: "rps", ann: map[string]string{"limit-rps": "10"}, want: &RateLimit{RPS: 10, BurstMultiplier: 5}},
		{
			name: "rpm with multiplier and the shared allowlist",
			ann:  map[string]string{"limit-rpm": "30", "limit-burst-multiplier": "2", "limit-whitelist": "10.0.0.0/8"},
			want: &RateLimit{RPM: 30, BurstMultiplier: 2, Allowlist: []string{"10.0.0.0/8"}},
		},
		{name: "multiplier alone sets no limit", ann: map[string]string{"limit-burst-multiplier": "3"}},
		{
			name:     "invalid multiplier is 5",
			ann:      map[string]string{"limit-rps": "1", "limit-burst-multiplier": "x"},
			want:     &RateLimit{RPS: 1, BurstMultiplier: 5},
			wantErrs: []string{`annotation nginx.ingress.kubernetes.io/limit-burst-multiplier: value "x": must be a non-negative integer`},
		},
		{
			name:     "invalid rps: none",
			ann:      map[string]string{"limit-rps": "-1"},
			wantErrs: []string{`annotation nginx.ingress.kubernetes.io/limit-rps: value "-1": must be a non-negative integer`},
		},
		{
			name: "invalid allowlist exempts nobody, one warning",
			ann:  map[string]string{"limit-rps": "1", "limit-allowlist": "nope"},
			want: &RateLimit{RPS: 1, BurstMultiplier: 5},
			wantErrs: []string{`annotation nginx.ingress.kubernetes.io/limit-allowlist: value "nope": ` +
				`invalid entries ["nope"]; nobody is exempt from limit-connections, limit-rps and limit-rpm: the allowlist fails closed`},
		},
		{name: "limit-rate", ann: map[string]string{"limit-rate": "100", "limit-rate-after": "50"}, rate: 100, after: 50},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, got := parseShort(tc.ann)
			if diff := cmp.Diff(tc.want, cfg.Proxy.RateLimit); diff != "" {
				t.Errorf("RateLimit (-want +got):\n%s", diff)
			}
			if cfg.Proxy.LimitRateKiB != tc.rate || cfg.Proxy.LimitRateAfterKiB != tc.after {
				t.Errorf("limit-rate, limit-rate-after = %d, %d; want %d, %d", cfg.Proxy.LimitRateKiB, cfg.Proxy.LimitRateAfterKiB, tc.rate, tc.after)
			}
			if diff := cmp.Diff(tc.wantErrs, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLimitRateConfigMap: limit-rate and limit-rate-after are ConfigMap
// defaults an annotation overrides; limit-req-status-code is a Global.
func TestLimitRateConfigMap(t *testing.T) {
	t.Parallel()
	def, errs := ParseDefaults(map[string]string{"limit-rate": "8", "limit-rate-after": "4"})
	if len(errs) != 0 || def.LimitRateKiB != 8 || def.LimitRateAfterKiB != 4 {
		t.Fatalf("ParseDefaults: %d, %d, %v; want 8, 4", def.LimitRateKiB, def.LimitRateAfterKiB, errs)
	}
	cfg, _ := Parse(map[string]string{Prefix + "limit-rate": "2"}, def)
	if cfg.Proxy.LimitRateKiB != 2 || cfg.Proxy.LimitRateAfterKiB != 4 {
		t.Errorf("annotation over ConfigMap: %d, %d; want 2, 4", cfg.Proxy.LimitRateKiB, cfg.Proxy.LimitRateAfterKiB)
	}
	g, errs := ParseGlobal(map[string]string{"limit-req-status-code": "429"})
	if len(errs) != 0 || g.LimitReqStatusCode() != 429 {
		t.Errorf("limit-req-status-code 429: %d, %v", g.LimitReqStatusCode(), errs)
	}
	if g, _ := ParseGlobal(nil); g.LimitReqStatusCode() != 503 {
		t.Errorf("limit-req-status-code default: %d, want 503", g.LimitReqStatusCode())
	}
}

// parseShort is Parse of ann, whose keys lack Prefix, over DefaultProxy,
// with the errors' texts.
func parseShort(ann map[string]string) (Config, []string) {
	cfg, errs := Parse(prefixed(ann), DefaultProxy())
	var texts []string
	for _, err := range errs {
		texts = append(texts, err.Error())
	}
	return cfg, texts
}

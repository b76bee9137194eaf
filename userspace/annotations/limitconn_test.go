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
				`invalid entries ["10.0.0.0/8;127.0.0.1"]; nobody is exempt from limit-connections: the allowlist fails closed`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ann := prefixed(tc.ann)
			cfg, errs := Parse(ann, DefaultProxy())
			if diff := cmp.Diff(tc.want, cfg.Proxy.ConnLimit); diff != "" {
				t.Errorf("ConnLimit (-want +got):\n%s", diff)
			}
			var got []string
			for _, err := range errs {
				got = append(got, err.Error())
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

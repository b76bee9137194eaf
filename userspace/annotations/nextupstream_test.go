package annotations

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseNextUpstream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		ann      map[string]string
		want     Proxy
		wantErrs []string
	}{
		{name: "defaults", want: DefaultProxy()},
		{
			name: "set",
			ann: map[string]string{
				Prefix + "proxy-next-upstream":         "error  http_502 non_idempotent",
				Prefix + "proxy-next-upstream-tries":   "5",
				Prefix + "proxy-next-upstream-timeout": "10",
			},
			want: withProxy(func(p *Proxy) {
				p.NextUpstream = NextError | NextHTTP502 | NextNonIdempotent
				p.NextUpstreamTries = 5
				p.NextUpstreamTimeoutSeconds = 10
			}),
		},
		{
			name: "off and unlimited",
			ann: map[string]string{
				Prefix + "proxy-next-upstream":       "off",
				Prefix + "proxy-next-upstream-tries": "0",
			},
			want: withProxy(func(p *Proxy) { p.NextUpstream, p.NextUpstreamTries = 0, 0 }),
		},
		{
			name: "invalid keeps defaults",
			ann: map[string]string{
				Prefix + "proxy-next-upstream":         "error http_418",
				Prefix + "proxy-next-upstream-tries":   "-1",
				Prefix + "proxy-next-upstream-timeout": "5s",
			},
			want: DefaultProxy(),
			wantErrs: []string{
				`annotation nginx.ingress.kubernetes.io/proxy-next-upstream: value "error http_418": unknown condition "http_418"`,
				`annotation nginx.ingress.kubernetes.io/proxy-next-upstream-timeout: value "5s": must be a non-negative integer`,
				`annotation nginx.ingress.kubernetes.io/proxy-next-upstream-tries: value "-1": must be a non-negative integer`,
			},
		},
		{
			name:     "off with a condition",
			ann:      map[string]string{Prefix + "proxy-next-upstream": "off error"},
			want:     DefaultProxy(),
			wantErrs: []string{`annotation nginx.ingress.kubernetes.io/proxy-next-upstream: value "off error": "off" cannot be combined with conditions`},
		},
		{
			name:     "empty",
			ann:      map[string]string{Prefix + "proxy-next-upstream": " "},
			want:     DefaultProxy(),
			wantErrs: []string{`annotation nginx.ingress.kubernetes.io/proxy-next-upstream: value " ": must name at least one condition, or "off"`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, errs := Parse(tc.ann, DefaultProxy())
			if diff := cmp.Diff(tc.want, got.Proxy); diff != "" {
				t.Errorf("Parse (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantErrs, errStrings(t, errs)); diff != "" {
				t.Errorf("Parse errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNextUpstreamDefaultsFromConfigMap(t *testing.T) {
	t.Parallel()
	got, errs := ParseDefaults(map[string]string{"proxy-next-upstream": "error timeout http_503", "proxy-next-upstream-tries": "2"})
	want := withProxy(func(p *Proxy) { p.NextUpstream, p.NextUpstreamTries = NextError|NextTimeout|NextHTTP503, 2 })
	if diff := cmp.Diff(want, got); diff != "" || errs != nil {
		t.Errorf("ParseDefaults (-want +got):\n%s\nerrors: %v", diff, errs)
	}
}

// TestNextUpstreamJSON checks the round trip through the Snapshot's JSON,
// which is how workers receive it.
func TestNextUpstreamJSON(t *testing.T) {
	t.Parallel()
	for _, n := range []NextUpstream{0, NextError | NextTimeout, NextHTTP500 | NextHTTP429 | NextNonIdempotent} {
		b, err := json.Marshal(n)
		if err != nil {
			t.Fatalf("marshal %v: %v", n, err)
		}
		var got NextUpstream
		if err := json.Unmarshal(b, &got); err != nil || got != n {
			t.Errorf("%s: round trip = %v, %v; want %v", b, got, err, n)
		}
	}
	if b, _ := json.Marshal(NextError | NextTimeout); string(b) != `"error timeout"` {
		t.Errorf("default marshals as %s, want \"error timeout\"", b)
	}
}

func TestStatus(t *testing.T) {
	t.Parallel()
	for code, want := range map[int]NextUpstream{500: NextHTTP500, 502: NextHTTP502, 503: NextHTTP503, 504: NextHTTP504, 403: NextHTTP403, 404: NextHTTP404, 429: NextHTTP429, 200: 0, 501: 0} {
		if got := Status(code); got != want {
			t.Errorf("Status(%d) = %v, want %v", code, got, want)
		}
	}
}

// TestRetryNonIdempotent checks the ConfigMap key as ingress-nginx's
// buildNextUpstream applies it: non_idempotent joins every location's
// proxy_next_upstream, an Ingress's own value included.
func TestRetryNonIdempotent(t *testing.T) {
	t.Parallel()
	defaults, errs := ParseDefaults(map[string]string{"retry-non-idempotent": "true", "proxy-next-upstream": "error"})
	if errs != nil || defaults.NextUpstream != NextError|NextNonIdempotent {
		t.Fatalf("ParseDefaults: %v %v, want error non_idempotent", defaults.NextUpstream, errs)
	}
	cfg, errs := Parse(map[string]string{Prefix + "proxy-next-upstream": "timeout http_502"}, defaults)
	if errs != nil || cfg.Proxy.NextUpstream != NextTimeout|NextHTTP502|NextNonIdempotent {
		t.Errorf("Parse: %v %v, want timeout http_502 non_idempotent", cfg.Proxy.NextUpstream, errs)
	}
	_, errs = ParseDefaults(map[string]string{"retry-non-idempotent": "yes"})
	if diff := cmp.Diff([]string{`configmap key retry-non-idempotent: value "yes": must be "true" or "false"`}, errStrings(t, errs)); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	if _, errs := Parse(map[string]string{Prefix + "retry-non-idempotent": "true"}, DefaultProxy()); len(errs) != 1 {
		t.Errorf("the annotation is ConfigMap only; Parse errors %v", errs)
	}
}

package annotations

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseCanary(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		ann      map[string]string
		want     Canary
		wantErrs []string
	}{
		{name: "none"},
		{
			name: "canary false",
			ann:  map[string]string{"canary": "false"},
		},
		{
			name: "enabled with defaults",
			ann:  map[string]string{"canary": "true"},
			want: Canary{Enabled: true, WeightTotal: 100},
		},
		{
			name: "every rule",
			ann: map[string]string{
				"canary": "true", "canary-by-header": "X-Canary", "canary-by-header-value": "yes",
				"canary-by-header-pattern": "^b.*", "canary-by-cookie": "beta",
				"canary-weight": "250", "canary-weight-total": "1000",
			},
			want: Canary{
				Enabled: true, Header: "X-Canary", HeaderValue: "yes", HeaderPattern: "^b.*",
				Cookie: "beta", Weight: 250, WeightTotal: 1000,
			},
		},
		{
			name: "canary annotations without canary true are rejected",
			ann:  map[string]string{"canary-by-header": "X-Canary", "canary-weight": "50"},
			wantErrs: []string{
				`annotation nginx.ingress.kubernetes.io/canary-by-header: value "X-Canary": requires nginx.ingress.kubernetes.io/canary: "true"; ignored`,
				`annotation nginx.ingress.kubernetes.io/canary-weight: value "50": requires nginx.ingress.kubernetes.io/canary: "true"; ignored`,
			},
		},
		{
			// ingress-nginx validates canary-by-header-value with
			// parser.BasicCharsRegex (spaces removed) and ignores a value
			// that fails: the header then routes by always/never only.
			name: "header value outside ingress-nginx's characters is ignored",
			ann:  map[string]string{"canary": "true", "canary-by-header": "X-Canary", "canary-by-header-value": "a@b"},
			want: Canary{Enabled: true, Header: "X-Canary", WeightTotal: 100},
			wantErrs: []string{
				`annotation nginx.ingress.kubernetes.io/canary-by-header-value: value "a@b": may hold only letters, digits, spaces and "-._~/:"; ignored`,
			},
		},
		{
			name: "header value with a space and a version",
			ann:  map[string]string{"canary": "true", "canary-by-header": "X-Canary", "canary-by-header-value": " v1.2/beta test "},
			want: Canary{Enabled: true, Header: "X-Canary", HeaderValue: "v1.2/beta test", WeightTotal: 100},
		},
		{
			// ingress-nginx's canary parser refuses a disabled canary only
			// when it sets a weight above 0 or a non-empty header, header
			// value, pattern or cookie (canary/main_test.go "canary disabled
			// and no weight").
			name: "disabled canary with empty settings is silent",
			ann:  map[string]string{"canary": "false", "canary-weight": "0", "canary-weight-total": "100", "canary-by-header": "", "canary-by-cookie": ""},
		},
		{
			name: "canary invalid value counts as false",
			ann:  map[string]string{"canary": "yes", "canary-weight": "50"},
			wantErrs: []string{
				`annotation nginx.ingress.kubernetes.io/canary: value "yes": must be "true" or "false"`,
				`annotation nginx.ingress.kubernetes.io/canary-weight: value "50": requires nginx.ingress.kubernetes.io/canary: "true"; ignored`,
			},
		},
		{
			name:     "weight over total is clamped",
			ann:      map[string]string{"canary": "true", "canary-weight": "150"},
			want:     Canary{Enabled: true, Weight: 100, WeightTotal: 100},
			wantErrs: []string{`annotation nginx.ingress.kubernetes.io/canary-weight: value "150": exceeds canary-weight-total 100; clamped to it`},
		},
		{
			// balancer.lua: a canary-weight-total below 100 counts as 100.
			name: "total below 100 counts as 100",
			ann:  map[string]string{"canary": "true", "canary-weight": "80", "canary-weight-total": "10"},
			want: Canary{Enabled: true, Weight: 80, WeightTotal: 10},
		},
		{
			name:     "weight over a total below 100 is clamped to 100",
			ann:      map[string]string{"canary": "true", "canary-weight": "150", "canary-weight-total": "50"},
			want:     Canary{Enabled: true, Weight: 100, WeightTotal: 50},
			wantErrs: []string{`annotation nginx.ingress.kubernetes.io/canary-weight: value "150": exceeds canary-weight-total 100; clamped to it`},
		},
		{
			name:     "negative weight is clamped to 0",
			ann:      map[string]string{"canary": "true", "canary-weight": "-5"},
			want:     Canary{Enabled: true, WeightTotal: 100},
			wantErrs: []string{`annotation nginx.ingress.kubernetes.io/canary-weight: value "-5": is negative; 0 used`},
		},
		{
			name:     "non-integer weight",
			ann:      map[string]string{"canary": "true", "canary-weight": "12.5"},
			want:     Canary{Enabled: true, WeightTotal: 100},
			wantErrs: []string{`annotation nginx.ingress.kubernetes.io/canary-weight: value "12.5": must be an integer; 0 used`},
		},
		{
			name: "invalid total falls back to 100 and clamps against it",
			ann:  map[string]string{"canary": "true", "canary-weight": "500", "canary-weight-total": "0"},
			want: Canary{Enabled: true, Weight: 100, WeightTotal: 100},
			wantErrs: []string{
				`annotation nginx.ingress.kubernetes.io/canary-weight: value "500": exceeds canary-weight-total 100; clamped to it`,
				`annotation nginx.ingress.kubernetes.io/canary-weight-total: value "0": must be positive; 100 used`,
			},
		},
		{
			name:     "invalid pattern is reported and kept",
			ann:      map[string]string{"canary": "true", "canary-by-header": "X-Canary", "canary-by-header-pattern": "a(b"},
			want:     Canary{Enabled: true, Header: "X-Canary", HeaderPattern: "a(b", WeightTotal: 100},
			wantErrs: []string{"annotation nginx.ingress.kubernetes.io/canary-by-header-pattern: value \"a(b\": invalid regular expression (error parsing regexp: missing closing ): `a(b`); requests with the header go to the main backend"},
		},
		{
			name: "invalid header and cookie names are ignored",
			ann:  map[string]string{"canary": "true", "canary-by-header": "X Canary", "canary-by-cookie": "a;b"},
			want: Canary{Enabled: true, WeightTotal: 100},
			wantErrs: []string{
				`annotation nginx.ingress.kubernetes.io/canary-by-cookie: value "a;b": is not a valid header or cookie name; ignored`,
				`annotation nginx.ingress.kubernetes.io/canary-by-header: value "X Canary": is not a valid header or cookie name; ignored`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ann := prefixed(tc.ann)
			got, errs := Parse(ann, DefaultProxy())
			if diff := cmp.Diff(tc.want, got.Canary); diff != "" {
				t.Errorf("Parse canary (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantErrs, errStrings(t, errs)); diff != "" {
				t.Errorf("Parse errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCanaryIgnored(t *testing.T) {
	t.Parallel()
	got := CanaryIgnored(map[string]string{
		Prefix + "canary": "true", Prefix + "canary-weight": "5", Prefix + "load-balance": "round_robin", Prefix + "service-upstream": "true",
		Prefix + "proxy-read-timeout": "5", Prefix + "use-regex": "true", Prefix + "rewrite-target": "/",
		"example.com/x": "y",
	})
	want := []string{Prefix + "proxy-read-timeout", Prefix + "rewrite-target", Prefix + "use-regex"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CanaryIgnored (-want +got):\n%s", diff)
	}
	// ingress-nginx's canary upstream takes upstream-hash-by* from its own
	// Ingress, and its affinity from the main rule, or none with
	// "legacy": the canary Ingress's own is ignored either way.
	balance := map[string]string{
		Prefix + "canary": "true", Prefix + "upstream-hash-by": "$request_uri", Prefix + "upstream-hash-by-subset": "true",
		Prefix + "affinity": "cookie", Prefix + "session-cookie-name": "c",
	}
	got = CanaryIgnored(balance)
	want = []string{Prefix + "affinity", Prefix + "session-cookie-name"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CanaryIgnored, sticky (-want +got):\n%s", diff)
	}
	balance[Prefix+"affinity-canary-behavior"] = "legacy"
	balance[Prefix+"affinity-mode"] = "persistent"
	want = []string{Prefix + "affinity", Prefix + "affinity-mode", Prefix + "session-cookie-name"}
	if diff := cmp.Diff(want, CanaryIgnored(balance)); diff != "" {
		t.Errorf("CanaryIgnored, legacy (-want +got):\n%s", diff)
	}
}

// TestCanaryEnabled checks that CanaryEnabled agrees with Parse on whether
// an Ingress is a canary.
func TestCanaryEnabled(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"true", "True", "1", "false", "0", "", "yes", " true"} {
		ann := map[string]string{Prefix + "canary": v}
		cfg, _ := Parse(ann, Proxy{})
		if got := CanaryEnabled(ann); got != cfg.Canary.Enabled {
			t.Errorf("CanaryEnabled(canary: %q) = %v, Parse says %v", v, got, cfg.Canary.Enabled)
		}
	}
	if CanaryEnabled(nil) {
		t.Error("CanaryEnabled(nil) = true")
	}
}

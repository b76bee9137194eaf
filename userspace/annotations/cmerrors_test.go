package annotations

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestConfigMapCustomHTTPErrors follows ingress-nginx's ReadConfig: the
// ConfigMap's custom-http-errors is split on commas, an entry that is not
// a number or not from 300 to 599 is skipped with a warning, and the others
// still apply (TestMergeConfigMapToStruct's "300,400,demo" gives 300 and
// 400); the annotation keeps its stricter 4xx/5xx rule.
func TestConfigMapCustomHTTPErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value    string
		want     []int
		wantWarn bool
	}{
		{value: "404,503", want: []int{404, 503}},
		{value: " 404 , 503 ,", want: []int{404, 503}},
		{value: "300,400,demo", want: []int{300, 400}, wantWarn: true},
		{value: "200,300,345,500,555,999", want: []int{300, 345, 500, 555}, wantWarn: true},
		{value: "demo", wantWarn: true},
	}
	for _, tc := range tests {
		t.Run(tc.value, func(t *testing.T) {
			t.Parallel()
			defaults, errs := ParseDefaults(map[string]string{"custom-http-errors": tc.value})
			var warned bool
			for _, err := range errs {
				var e *Error
				if errors.As(err, &e) && e.Annotation == "custom-http-errors" {
					warned = true
				}
			}
			if warned != tc.wantWarn {
				t.Errorf("warned = %v (%v), want %v", warned, errs, tc.wantWarn)
			}
			var got []int
			if defaults.Upstream != nil {
				got = defaults.Upstream.CustomHTTPErrors
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("CustomHTTPErrors (-want +got):\n%s", diff)
			}
		})
	}
}

// TestConfigMapBoolSyntax follows ingress-nginx's ReadConfig, which decodes
// every boolean key with mapstructure's weak typing (strconv.ParseBool):
// "True", "1", "t" are true and "F", "0" false, for the redirect and
// retry keys as for the others.
func TestConfigMapBoolSyntax(t *testing.T) {
	t.Parallel()
	keys := []string{"retry-non-idempotent", "relative-redirects", "preserve-trailing-slash", "use-port-in-redirects"}
	for _, key := range keys {
		for v, want := range map[string]bool{"True": true, "1": true, "t": true, "F": false, "0": false} {
			p, errs := ParseDefaults(map[string]string{key: v})
			if len(errs) != 0 {
				t.Errorf("%s=%q: errors %v, want none", key, v, errs)
				continue
			}
			var got bool
			switch key {
			case "retry-non-idempotent":
				got = p.RetryNonIdempotent
			default:
				if p.Rewrite != nil {
					got = map[string]bool{"relative-redirects": p.Rewrite.RelativeRedirects,
						"preserve-trailing-slash": p.Rewrite.PreserveTrailingSlash, "use-port-in-redirects": p.Rewrite.UsePortInRedirects}[key]
				}
			}
			if got != want {
				t.Errorf("%s=%q: %v, want %v", key, v, got, want)
			}
		}
	}
}

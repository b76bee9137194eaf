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

package annotations

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// parseOver parses the annotations ann (keys without Prefix) over the
// defaults of the ConfigMap data cm, and returns the keys (without Prefix)
// rejected.
func parseOver(tb testing.TB, cm, ann map[string]string) (Config, []string) {
	tb.Helper()
	defaults, errs := ParseDefaults(cm)
	if len(errs) > 0 {
		tb.Fatalf("ParseDefaults: %v", errs)
	}
	full := map[string]string{}
	for k, v := range ann {
		full[Prefix+k] = v
	}
	cfg, errs := Parse(full, defaults)
	var rejected []string
	for _, err := range errs {
		var e *Error
		if !errors.As(err, &e) {
			tb.Fatalf("unexpected error %v", err)
		}
		rejected = append(rejected, e.Annotation[len(Prefix):])
	}
	return cfg, rejected
}

func TestParseHeaderRewrites(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cm, ann  map[string]string
		want     *Upstream
		wantRule *HeaderRewrite // Redirect's; nil: none
		wantErrs []string
	}{
		{name: "defaults are off"},
		{name: "off", ann: map[string]string{"proxy-redirect-from": "off", "proxy-cookie-domain": "off", "proxy-cookie-path": "off"}},
		{name: "redirect pair", ann: map[string]string{"proxy-redirect-from": "http://internal/", "proxy-redirect-to": "https://example.com/app/"},
			want:     &Upstream{RedirectFrom: "http://internal/", RedirectTo: "https://example.com/app/"},
			wantRule: &HeaderRewrite{From: "http://internal/", To: "https://example.com/app/"}},
		{name: "redirect from without to is nginx's default", ann: map[string]string{"proxy-redirect-from": "http://internal/"},
			want: &Upstream{RedirectFrom: "http://internal/"}, wantRule: &HeaderRewrite{From: RedirectDefault, To: "/"}},
		{name: "redirect default", ann: map[string]string{"proxy-redirect-from": "default", "proxy-redirect-to": "x"},
			want: &Upstream{RedirectFrom: "default", RedirectTo: "x"}, wantRule: &HeaderRewrite{From: RedirectDefault, To: "/"}},
		{name: "redirect from the configmap, to from the ingress", cm: map[string]string{"proxy-redirect-from": "http://a/"},
			ann:  map[string]string{"proxy-redirect-to": "/b/"},
			want: &Upstream{RedirectFrom: "http://a/", RedirectTo: "/b/"}, wantRule: &HeaderRewrite{From: "http://a/", To: "/b/"}},
		{name: "ingress off over the configmap", cm: map[string]string{"proxy-cookie-path": "/a/ /b/"}, ann: map[string]string{"proxy-cookie-path": "off"},
			want: &Upstream{}},
		{name: "cookies", ann: map[string]string{"proxy-cookie-domain": "Internal.Test  example.com", "proxy-cookie-path": "/one/ /"},
			want: &Upstream{CookieDomain: &HeaderRewrite{From: "Internal.Test", To: "example.com"}, CookiePath: &HeaderRewrite{From: "/one/", To: "/"}}},
		{name: "regex", ann: map[string]string{"proxy-cookie-path": "~/o.e/ /"}, want: &Upstream{CookiePath: &HeaderRewrite{From: "~/o.e/", To: "/"}}},
		{name: "invalid values keep the configmap's", cm: map[string]string{"proxy-cookie-domain": "a b"},
			ann: map[string]string{
				"proxy-redirect-from": "http://a/ http://b/", "proxy-redirect-to": "$host", "proxy-cookie-domain": "a",
				"proxy-cookie-path": "/a /b /c",
			},
			want:     &Upstream{CookieDomain: &HeaderRewrite{From: "a", To: "b"}},
			wantErrs: []string{"proxy-cookie-domain", "proxy-cookie-path", "proxy-redirect-from", "proxy-redirect-to"}},
		{name: "cookie domain refuses url characters", ann: map[string]string{"proxy-cookie-domain": "a?b c"}, wantErrs: []string{"proxy-cookie-domain"}},
		{name: "bad regex", ann: map[string]string{"proxy-cookie-path": "~/a/(? /"}, wantErrs: []string{"proxy-cookie-path"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, rejected := parseOver(t, tc.cm, tc.ann)
			if diff := cmp.Diff(tc.want, cfg.Proxy.Upstream); diff != "" {
				t.Errorf("Upstream (-want +got):\n%s", diff)
			}
			rule, ok := cfg.Proxy.Upstream.Redirect()
			if got := map[bool]*HeaderRewrite{true: &rule}[ok]; !cmp.Equal(tc.wantRule, got) {
				t.Errorf("Redirect() = %v, %v; want %v", rule, ok, tc.wantRule)
			}
			want := tc.wantRule != nil || tc.want != nil && (tc.want.CookieDomain != nil || tc.want.CookiePath != nil)
			if cfg.Proxy.Upstream.RewritesHeaders() != want {
				t.Errorf("RewritesHeaders() = %v, want %v", !want, want)
			}
			if diff := cmp.Diff(tc.wantErrs, rejected); diff != "" {
				t.Errorf("rejected (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDisableProxyInterceptErrors follows ingress-nginx's template: the
// location writes proxy_intercept_errors on only for its own
// custom-http-errors without the annotation, and the http level writes it
// for the ConfigMap's custom-http-errors without the ConfigMap's key.
func TestDisableProxyInterceptErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cm, ann  map[string]string
		want     bool // NoInterceptErrors
		wantErrs []string
	}{
		{name: "default"},
		{name: "annotation with own errors", ann: map[string]string{"custom-http-errors": "404", "disable-proxy-intercept-errors": "true"}, want: true},
		{name: "annotation false", ann: map[string]string{"custom-http-errors": "404", "disable-proxy-intercept-errors": "false"}},
		{name: "annotation without own errors does nothing", cm: map[string]string{"custom-http-errors": "404"},
			ann: map[string]string{"disable-proxy-intercept-errors": "true"}},
		{name: "configmap's intercept is inherited", cm: map[string]string{"custom-http-errors": "503"},
			ann: map[string]string{"custom-http-errors": "404", "disable-proxy-intercept-errors": "true"}},
		{name: "both disabled", cm: map[string]string{"custom-http-errors": "503", "disable-proxy-intercept-errors": "true"},
			ann: map[string]string{"custom-http-errors": "404", "disable-proxy-intercept-errors": "true"}, want: true},
		{name: "configmap key for the configmap's list", cm: map[string]string{"custom-http-errors": "503", "disable-proxy-intercept-errors": "true"}, want: true},
		{name: "own errors without the annotation intercept", cm: map[string]string{"custom-http-errors": "503", "disable-proxy-intercept-errors": "true"},
			ann: map[string]string{"custom-http-errors": "404"}},
		{name: "invalid is false", ann: map[string]string{"custom-http-errors": "404", "disable-proxy-intercept-errors": "yes"},
			wantErrs: []string{"disable-proxy-intercept-errors"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, rejected := parseOver(t, tc.cm, tc.ann)
			if got := cfg.Proxy.Upstream.PassesErrors(); got != tc.want {
				t.Errorf("PassesErrors() = %v, want %v", got, tc.want)
			}
			if diff := cmp.Diff(tc.wantErrs, rejected); diff != "" {
				t.Errorf("rejected (-want +got):\n%s", diff)
			}
		})
	}
}

package annotations

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseSSL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		ann      map[string]string
		defaults SSL
		want     SSL
		wantErrs []string
	}{
		{name: "nil", defaults: DefaultSSL(), want: SSL{Redirect: true}},
		{
			name:     "ssl-redirect false",
			ann:      map[string]string{Prefix + "ssl-redirect": "false"},
			defaults: DefaultSSL(),
			want:     SSL{},
		},
		{
			name:     "force-ssl-redirect",
			ann:      map[string]string{Prefix + "force-ssl-redirect": "true"},
			defaults: DefaultSSL(),
			want:     SSL{Redirect: true, ForceRedirect: true},
		},
		{
			name:     "annotation overrides configmap default",
			ann:      map[string]string{Prefix + "ssl-redirect": "true"},
			defaults: SSL{},
			want:     SSL{Redirect: true},
		},
		{
			name:     "invalid keeps default",
			ann:      map[string]string{Prefix + "ssl-redirect": "no", Prefix + "force-ssl-redirect": "on"},
			defaults: DefaultSSL(),
			want:     SSL{Redirect: true},
			wantErrs: []string{
				`annotation nginx.ingress.kubernetes.io/ssl-redirect: value "no": must be "true" or "false"`,
				`annotation nginx.ingress.kubernetes.io/force-ssl-redirect: value "on": must be "true" or "false"`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, errs := ParseSSL(tc.ann, tc.defaults)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseSSL (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantErrs, errStrings(t, errs)); diff != "" {
				t.Errorf("ParseSSL errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseTLSDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		data       map[string]string
		wantSSL    SSL
		wantHSTS   HSTS
		wantHeader string
		wantErrs   []string
	}{
		{
			name: "nil", wantSSL: DefaultSSL(), wantHSTS: DefaultHSTS(),
			wantHeader: "max-age=31536000; includeSubDomains",
		},
		{
			name: "all set",
			data: map[string]string{
				"ssl-redirect": "false", "force-ssl-redirect": "true",
				"hsts": "true", "hsts-max-age": "600", "hsts-include-subdomains": "false", "hsts-preload": "true",
			},
			wantSSL:    SSL{ForceRedirect: true},
			wantHSTS:   HSTS{Enabled: true, MaxAgeSeconds: 600, Preload: true},
			wantHeader: "max-age=600; preload",
		},
		{
			name:     "hsts off",
			data:     map[string]string{"hsts": "false"},
			wantSSL:  DefaultSSL(),
			wantHSTS: HSTS{MaxAgeSeconds: 31536000, IncludeSubdomains: true},
		},
		{
			name:       "invalid values keep defaults",
			data:       map[string]string{"hsts": "yes", "hsts-max-age": "-1", "ssl-redirect": "off"},
			wantSSL:    DefaultSSL(),
			wantHSTS:   DefaultHSTS(),
			wantHeader: "max-age=31536000; includeSubDomains",
			wantErrs: []string{
				`configmap key ssl-redirect: value "off": must be "true" or "false"`,
				`configmap key hsts: value "yes": must be "true" or "false"`,
				`configmap key hsts-max-age: value "-1": must be a non-negative integer number of seconds`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, h, errs := ParseTLSDefaults(tc.data)
			if diff := cmp.Diff(tc.wantSSL, s); diff != "" {
				t.Errorf("SSL (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantHSTS, h); diff != "" {
				t.Errorf("HSTS (-want +got):\n%s", diff)
			}
			if got := h.Header(); got != tc.wantHeader {
				t.Errorf("Header() = %q, want %q", got, tc.wantHeader)
			}
			if diff := cmp.Diff(tc.wantErrs, errStrings(t, errs)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSSLMetaDefaults checks that the documented defaults are the ones
// DefaultSSL and DefaultHSTS return, and that an hsts annotation is
// reported as unsupported: it exists only as a ConfigMap key.
func TestSSLMetaDefaults(t *testing.T) {
	t.Parallel()
	data := map[string]string{}
	for _, m := range append(append([]Meta{}, sslMeta...), hstsMeta...) {
		data[m.Key] = m.Default
	}
	s, h, errs := ParseTLSDefaults(data)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	if diff := cmp.Diff(DefaultSSL(), s); diff != "" {
		t.Errorf("documented defaults differ from DefaultSSL (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(DefaultHSTS(), h); diff != "" {
		t.Errorf("documented defaults differ from DefaultHSTS (-want +got):\n%s", diff)
	}
	_, perrs := Parse(map[string]string{Prefix + "hsts": "true", Prefix + "ssl-redirect": "false"}, DefaultProxy())
	want := []string{`annotation nginx.ingress.kubernetes.io/hsts is not supported by Weir; ignored (a controller ConfigMap key only)`}
	if diff := cmp.Diff(want, errStrings(t, perrs)); diff != "" {
		t.Errorf("Parse errors (-want +got):\n%s", diff)
	}
}

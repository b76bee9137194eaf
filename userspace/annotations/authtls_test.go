package annotations

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseAuthTLS(t *testing.T) {
	t.Parallel()
	def := func(f func(*AuthTLS)) *AuthTLS {
		a := &AuthTLS{Secret: "default/ca", VerifyClient: VerifyOn, VerifyDepth: 1}
		if f != nil {
			f(a)
		}
		return a
	}
	tests := []struct {
		name     string
		ann      map[string]string
		want     *AuthTLS
		wantErrs []string // substrings, in order
		denied   bool
	}{
		{name: "none"},
		{name: "empty secret is none", ann: map[string]string{"auth-tls-secret": ""}},
		{name: "defaults", ann: map[string]string{"auth-tls-secret": "default/ca"}, want: def(nil)},
		{name: "own namespace", ann: map[string]string{"auth-tls-secret": "/ca"}, want: def(func(a *AuthTLS) { a.Secret = "/ca" })},
		{
			name: "every key",
			ann: map[string]string{
				"auth-tls-secret": "default/ca", "auth-tls-verify-client": "optional_no_ca", "auth-tls-verify-depth": "2",
				"auth-tls-error-page": "http://example.com/error", "auth-tls-pass-certificate-to-upstream": "true",
				"auth-tls-match-cn": "CN=(a|b)",
			},
			want: def(func(a *AuthTLS) {
				a.VerifyClient, a.VerifyDepth, a.ErrorPage, a.PassCertificate, a.MatchCN = VerifyOptionalNoCA, 2, "http://example.com/error", true, "CN=(a|b)"
			}),
		},
		{name: "depth 0 is 1", ann: map[string]string{"auth-tls-secret": "default/ca", "auth-tls-verify-depth": "0"}, want: def(nil)},
		{
			name: "invalid verify-client is on", ann: map[string]string{"auth-tls-secret": "default/ca", "auth-tls-verify-client": "maybe"},
			want: def(nil), wantErrs: []string{`auth-tls-verify-client: value "maybe": must be "on", "off", "optional" or "optional_no_ca"; "on" is used`},
		},
		{
			name: "invalid depth is 1", ann: map[string]string{"auth-tls-secret": "default/ca", "auth-tls-verify-depth": "-2"},
			want: def(nil), wantErrs: []string{`auth-tls-verify-depth: value "-2": must be an integer from 0 to 100; 1 is used`},
		},
		{
			name: "secret without namespace separator denies", ann: map[string]string{"auth-tls-secret": "ca"},
			want: def(func(a *AuthTLS) { a.Secret = "ca" }), wantErrs: []string{`auth-tls-secret: value "ca": must be namespace/name; the hosts`}, denied: true,
		},
		{
			name: "match-cn without CN= denies", ann: map[string]string{"auth-tls-secret": "default/ca", "auth-tls-match-cn": "client"},
			want: def(nil), wantErrs: []string{`auth-tls-match-cn: value "client": must start with "CN="`}, denied: true,
		},
		{
			name: "bad regex denies", ann: map[string]string{"auth-tls-secret": "default/ca", "auth-tls-match-cn": "CN=("},
			want: def(nil), wantErrs: []string{`is not a valid regular expression`}, denied: true,
		},
		{
			name: "bad pass-certificate denies", ann: map[string]string{"auth-tls-secret": "default/ca", "auth-tls-pass-certificate-to-upstream": "yes"},
			want: def(nil), wantErrs: []string{`must be "true" or "false"`}, denied: true,
		},
		{
			name: "bad error page denies", ann: map[string]string{"auth-tls-secret": "default/ca", "auth-tls-error-page": "javascript:alert(1)"},
			want: def(nil), wantErrs: []string{`must be a URL or a path`}, denied: true,
		},
		{
			name: "invalid keys are reported without a secret", ann: map[string]string{"auth-tls-verify-depth": "x"},
			wantErrs: []string{`auth-tls-verify-depth: value "x"`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ann := map[string]string{}
			for k, v := range tc.ann {
				ann[Prefix+k] = v
			}
			cfg, errs := Parse(ann, DefaultProxy())
			got := cfg.AuthTLS
			if got != nil && tc.denied != (got.Invalid != "") {
				t.Errorf("Invalid = %q, want denied %v", got.Invalid, tc.denied)
			}
			if got != nil {
				c := *got
				c.Invalid = ""
				got = &c
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("AuthTLS (-want +got):\n%s", diff)
			}
			if len(errs) != len(tc.wantErrs) {
				t.Fatalf("errors %v, want %d", errs, len(tc.wantErrs))
			}
			for i, err := range errs {
				if !strings.Contains(err.Error(), tc.wantErrs[i]) {
					t.Errorf("error %q lacks %q", err, tc.wantErrs[i])
				}
				if tc.denied && !errors.Is(err, ErrFailsClosed) {
					t.Errorf("error %q does not wrap ErrFailsClosed", err)
				}
			}
		})
	}
}

func TestParseSSLCipherAndPassthrough(t *testing.T) {
	t.Parallel()
	cfg, errs := Parse(map[string]string{
		Prefix + "ssl-ciphers":               "ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-GCM-SHA256",
		Prefix + "ssl-prefer-server-ciphers": "false",
		Prefix + "ssl-passthrough":           "true",
	}, DefaultProxy())
	want := SSLCipher{Ciphers: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}, PreferServerCiphers: "off"}
	if diff := cmp.Diff(want, cfg.SSLCipher); diff != "" {
		t.Errorf("SSLCipher (-want +got):\n%s", diff)
	}
	if !cfg.SSLPassthrough {
		t.Error("SSLPassthrough false")
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "DHE-RSA-AES128-GCM-SHA256 is not supported by Go") {
		t.Errorf("errors %v, want one about the DHE suite", errs)
	}

	cfg, errs = Parse(map[string]string{Prefix + "ssl-ciphers": "MEDIUM", Prefix + "ssl-passthrough": "yes"}, DefaultProxy())
	if cfg.SSLCipher.Ciphers != nil || cfg.SSLPassthrough {
		t.Errorf("got %+v, passthrough %v; want the configmap's suites, no passthrough", cfg.SSLCipher, cfg.SSLPassthrough)
	}
	if len(errs) != 3 {
		t.Errorf("errors %v, want 3 (an alias of nothing Go has, nothing usable, passthrough)", errs)
	}
}

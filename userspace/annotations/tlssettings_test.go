package annotations

import (
	"crypto/tls"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseTLSSettings(t *testing.T) {
	t.Parallel()
	def := DefaultTLSSettings()
	with := defaultTLSWith
	tests := []struct {
		name     string
		data     map[string]string
		want     TLSSettings
		wantErrs []string
		nothing  bool // the last error wraps ErrNothingUsable
	}{
		{name: "nil", want: def},
		{
			name: "ingress-nginx defaults",
			data: map[string]string{
				"ssl-protocols":  "TLSv1.2 TLSv1.3",
				"ssl-ciphers":    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384",
				"ssl-ecdh-curve": "auto",
			},
			want: def,
			wantErrs: []string{
				`configmap key ssl-ciphers: value "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384": cipher DHE-RSA-AES128-GCM-SHA256 is not supported by Go (no DHE key exchange); ignored`,
				`configmap key ssl-ciphers: value "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384": cipher DHE-RSA-AES256-GCM-SHA384 is not supported by Go (no DHE key exchange); ignored`,
			},
		},
		{
			name: "documented defaults parse to the defaults",
			data: map[string]string{"ssl-protocols": DefaultSSLProtocols, "ssl-ciphers": DefaultSSLCiphers, "ssl-ecdh-curve": DefaultSSLECDHCurve},
			want: def,
		},
		{
			name: "tls 1.3 only, one suite, two curves",
			data: map[string]string{"ssl-protocols": "TLSv1.3", "ssl-ciphers": "ECDHE-RSA-AES256-GCM-SHA384", "ssl-ecdh-curve": "X25519:secp384r1"},
			want: TLSSettings{MinVersion: tls.VersionTLS13, MaxVersion: tls.VersionTLS13,
				CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384}, CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP384}},
		},
		{
			name: "a gap in the versions and SSLv3",
			data: map[string]string{"ssl-protocols": "SSLv3 tlsv1 TLSv1.3"},
			want: with(func(s *TLSSettings) { s.MinVersion = tls.VersionTLS10 }),
			wantErrs: []string{
				`configmap key ssl-protocols: value "SSLv3 tlsv1 TLSv1.3": protocol SSLv3 is not supported by Go; ignored`,
				`configmap key ssl-protocols: value "SSLv3 tlsv1 TLSv1.3": TLS 1.1 is not listed but enabled: Go serves every version from TLS 1.0 to TLS 1.3`,
				`configmap key ssl-protocols: value "SSLv3 tlsv1 TLSv1.3": TLS 1.2 is not listed but enabled: Go serves every version from TLS 1.0 to TLS 1.3`,
			},
		},
		{
			name:     "no usable protocol keeps the default",
			data:     map[string]string{"ssl-protocols": "TLSv2"},
			want:     def,
			wantErrs: []string{`configmap key ssl-protocols: value "TLSv2": unknown protocol "TLSv2"; ignored`, `configmap key ssl-protocols: value "TLSv2": no TLS version Go supports: nothing usable remains; the default is kept`},
			nothing:  true,
		},
		{
			name: "openssl syntax: exclusions, aliases of nothing Go has, tls 1.3 names, insecure suites",
			data: map[string]string{"ssl-ciphers": "!RC4-SHA:MEDIUM:ECDHE-RSA-AES128-SHA:RC4-SHA,kEDH+AESGCM TLS_AES_128_GCM_SHA256:AES128-SHA:-AES128-SHA:DES-CBC3-SHA:!aNULL:@STRENGTH:+AES128-SHA"},
			want: with(func(s *TLSSettings) {
				s.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA}
			}),
			wantErrs: []string{
				`configmap key ssl-ciphers: value "!RC4-SHA:MEDIUM:ECDHE-RSA-AES128-SHA:RC4-SHA,kEDH+AESGCM TLS_AES_128_GCM_SHA256:AES128-SHA:-AES128-SHA:DES-CBC3-SHA:!aNULL:@STRENGTH:+AES128-SHA": OpenSSL cipher rule MEDIUM selects no suite Go supports; ignored`,
				`configmap key ssl-ciphers: value "!RC4-SHA:MEDIUM:ECDHE-RSA-AES128-SHA:RC4-SHA,kEDH+AESGCM TLS_AES_128_GCM_SHA256:AES128-SHA:-AES128-SHA:DES-CBC3-SHA:!aNULL:@STRENGTH:+AES128-SHA": OpenSSL cipher rule kEDH+AESGCM selects no suite Go supports; ignored`,
				`configmap key ssl-ciphers: value "!RC4-SHA:MEDIUM:ECDHE-RSA-AES128-SHA:RC4-SHA,kEDH+AESGCM TLS_AES_128_GCM_SHA256:AES128-SHA:-AES128-SHA:DES-CBC3-SHA:!aNULL:@STRENGTH:+AES128-SHA": cipher TLS_AES_128_GCM_SHA256 is a TLS 1.3 suite, which Go does not let a server choose (it always enables TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384 and TLS_CHACHA20_POLY1305_SHA256); ignored`,
				`configmap key ssl-ciphers: value "!RC4-SHA:MEDIUM:ECDHE-RSA-AES128-SHA:RC4-SHA,kEDH+AESGCM TLS_AES_128_GCM_SHA256:AES128-SHA:-AES128-SHA:DES-CBC3-SHA:!aNULL:@STRENGTH:+AES128-SHA": cipher TLS_RSA_WITH_3DES_EDE_CBC_SHA is insecure; enabled as listed`,
			},
		},
		{
			name:     "no usable cipher keeps the default",
			data:     map[string]string{"ssl-ciphers": "CAMELLIA128-SHA"},
			want:     def,
			wantErrs: []string{`configmap key ssl-ciphers: value "CAMELLIA128-SHA": cipher CAMELLIA128-SHA is not supported by Go; ignored`, `configmap key ssl-ciphers: value "CAMELLIA128-SHA": no cipher suite Go supports: nothing usable remains; the default is kept`},
			nothing:  true,
		},
		{
			name: "curve aliases, duplicates and unsupported groups",
			data: map[string]string{"ssl-ecdh-curve": "X448:prime256v1:P-256:SECP521R1:X25519MLKEM768"},
			want: with(func(s *TLSSettings) {
				s.CurvePreferences = []tls.CurveID{tls.CurveP256, tls.CurveP521, tls.X25519MLKEM768}
			}),
			wantErrs: []string{`configmap key ssl-ecdh-curve: value "X448:prime256v1:P-256:SECP521R1:X25519MLKEM768": curve "X448" is not supported by Go; ignored`},
		},
		{
			name:     "no usable curve keeps the default",
			data:     map[string]string{"ssl-ecdh-curve": "brainpoolP256r1"},
			want:     def,
			wantErrs: []string{`configmap key ssl-ecdh-curve: value "brainpoolP256r1": curve "brainpoolP256r1" is not supported by Go; ignored`, `configmap key ssl-ecdh-curve: value "brainpoolP256r1": no curve Go supports: nothing usable remains; the default is kept`},
			nothing:  true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, errs := ParseTLSSettings(tc.data)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("settings (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantErrs, errStrings(t, errs)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if n := len(errs); tc.nothing != (n > 0 && errors.Is(errs[n-1], ErrNothingUsable)) {
				t.Errorf("last error %v: wraps ErrNothingUsable is not %v", errs, tc.nothing)
			}
		})
	}
}

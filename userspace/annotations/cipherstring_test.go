package annotations

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestParseCiphersLikeOpenSSL checks OpenSSL cipher strings against what
// nginx's ssl_ciphers enables with OpenSSL 3.0 (`openssl ciphers -s
// -tls1_2 STRING`, Debian's 3.0.19), restricted to the suites Go has, in
// the order parseCiphers lists them (Go ignores the order).
func TestParseCiphersLikeOpenSSL(t *testing.T) {
	t.Parallel()
	const (
		eeAES128GCM = "ECDHE-ECDSA-AES128-GCM-SHA256"
		erAES128GCM = "ECDHE-RSA-AES128-GCM-SHA256"
		eeAES256GCM = "ECDHE-ECDSA-AES256-GCM-SHA384"
		erAES256GCM = "ECDHE-RSA-AES256-GCM-SHA384"
		eeCHACHA    = "ECDHE-ECDSA-CHACHA20-POLY1305"
		erCHACHA    = "ECDHE-RSA-CHACHA20-POLY1305"
		eeAES128    = "ECDHE-ECDSA-AES128-SHA"
		erAES128    = "ECDHE-RSA-AES128-SHA"
		eeAES256    = "ECDHE-ECDSA-AES256-SHA"
		erAES256    = "ECDHE-RSA-AES256-SHA"
		eeAES128256 = "ECDHE-ECDSA-AES128-SHA256"
		erAES128256 = "ECDHE-RSA-AES128-SHA256"
		rAES128GCM  = "AES128-GCM-SHA256"
		rAES256GCM  = "AES256-GCM-SHA384"
		rAES128     = "AES128-SHA"
		rAES256     = "AES256-SHA"
		rAES128256  = "AES128-SHA256"
	)
	all := []string{eeAES128GCM, erAES128GCM, eeAES256GCM, erAES256GCM, eeCHACHA, erCHACHA, eeAES128, erAES128, eeAES256, erAES256,
		eeAES128256, erAES128256, rAES128GCM, rAES256GCM, rAES128, rAES256, rAES128256}
	ecdhe, rsaKx := all[:12], all[12:]
	for _, tc := range []struct {
		in   string
		want []string // nil: nothing usable
	}{
		{"ALL", all},
		{"DEFAULT", all},
		{"DEFAULT@SECLEVEL=0", all},
		{"HIGH:!aNULL:!MD5", all}, // nginx's own default
		{"ALL:!aNULL:!EXPORT56:RC4+RSA:+HIGH:+MEDIUM:+LOW:+SSLv2:+EXP", all},                     // ingress-nginx's e2e
		{"ALL:!aNULL:!EXPORT56:RC4+RSA@STRENGTH:+HIGH@SECLEVEL=0:+MEDIUM:+LOW:+SSLv2:+EXP", all}, // ingress-nginx's e2e
		{"FIPS", []string{eeAES128GCM, erAES128GCM, eeAES256GCM, erAES256GCM, eeAES128, erAES128, eeAES256, erAES256, eeAES128256, erAES128256,
			rAES128GCM, rAES256GCM, rAES128, rAES256, rAES128256}},
		{"ECDHE", ecdhe}, {"EECDH", ecdhe}, {"kEECDH", ecdhe}, {"ECDH", ecdhe},
		{"RSA", rsaKx}, {"kRSA+aRSA", rsaKx}, {"DEFAULT:!ECDHE", rsaKx},
		{"ECDHE+AESGCM", []string{eeAES128GCM, erAES128GCM, eeAES256GCM, erAES256GCM}},
		{"EECDH+AESGCM:EDH+AESGCM", []string{eeAES128GCM, erAES128GCM, eeAES256GCM, erAES256GCM}},
		{"ECDHE+CHACHA20", []string{eeCHACHA, erCHACHA}},
		{"aRSA", []string{erAES128GCM, erAES256GCM, erCHACHA, erAES128, erAES256, erAES128256, rAES128GCM, rAES256GCM, rAES128, rAES256, rAES128256}},
		{"HIGH+ECDSA", []string{eeAES128GCM, eeAES256GCM, eeCHACHA, eeAES128, eeAES256, eeAES128256}},
		{"AES256", []string{eeAES256GCM, erAES256GCM, eeAES256, erAES256, rAES256GCM, rAES256}},
		{"SHA1", []string{eeAES128, erAES128, eeAES256, erAES256, rAES128, rAES256}},
		{"SHA256", []string{eeAES128256, erAES128256, rAES128256}},
		{"AES128+SHA1", []string{eeAES128, erAES128, rAES128}},
		{"ECDHE+AES+SHA1", []string{eeAES128, erAES128, eeAES256, erAES256}},
		{"TLSv1", []string{eeAES128, erAES128, eeAES256, erAES256}},
		{"SSLv3", []string{rAES128, rAES256}},
		{"TLSv1.2", []string{eeAES128GCM, erAES128GCM, eeAES256GCM, erAES256GCM, eeCHACHA, erCHACHA, eeAES128256, erAES128256, rAES128GCM, rAES256GCM, rAES128256}},
		{"HIGH:!aNULL:!MD5:!TLSv1.2", []string{eeAES128, erAES128, eeAES256, erAES256, rAES128, rAES256}},
		{"ECDHE:-AES128-SHA:AES128", append(append([]string{}, ecdhe...), rAES128GCM, rAES128, rAES128256)},
		{"ECDHE:!AES128:AES128", []string{eeAES256GCM, erAES256GCM, eeCHACHA, erCHACHA, eeAES256, erAES256}},
		{"ECDHE+AES128:!SHA1", []string{eeAES128GCM, erAES128GCM, eeAES128256, erAES128256}},
		{"ECDHE:-ECDSA:aECDSA+AESGCM", []string{erAES128GCM, erAES256GCM, erCHACHA, erAES128, erAES256, erAES128256, eeAES128GCM, eeAES256GCM}},
		{"ECDHE-RSA-AES128-SHA+AES", []string{erAES128}},
		{"kRSA+AESGCM@STRENGTH", []string{rAES128GCM, rAES256GCM}},
		{"FOO:AES128-SHA", []string{rAES128}},
		{"CHACHA20 AES128-SHA", []string{eeCHACHA, erCHACHA, rAES128}},
		{"MEDIUM", nil}, {"3DES", nil}, {"RC4", nil}, {"CAMELLIA", nil}, {"ECDHE+FOO", nil}, {"SHA384", nil}, {"TLSv1.1", nil},
	} {
		got, err := parseCiphers(tc.in, nil)
		var names []string
		for _, id := range got {
			names = append(names, strings.TrimPrefix(strings.ReplaceAll(tls.CipherSuiteName(id), "_", "-"), "TLS-"))
		}
		var want []string
		for _, n := range tc.want {
			for _, s := range cipherSuites {
				if s.name == n {
					want = append(want, strings.TrimPrefix(strings.ReplaceAll(tls.CipherSuiteName(s.id), "_", "-"), "TLS-"))
				}
			}
		}
		if diff := cmp.Diff(want, names); diff != "" || (err != nil) != (tc.want == nil) {
			t.Errorf("%q: error %v, suites (-want +got):\n%s", tc.in, err, diff)
		}
	}
}

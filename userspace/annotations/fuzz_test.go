package annotations

import (
	"crypto/tls"
	"errors"
	"slices"
	"strings"
	"testing"
)

// metaOf returns the Meta of key (without Prefix), or nil.
func metaOf(key string) *Meta {
	for _, t := range tables() {
		for i := range t {
			if t[i].Key == key {
				return &t[i]
			}
		}
	}
	return nil
}

// FuzzParse runs every family's parser (Parse and ParseSSL for an Ingress's
// annotations; ParseDefaults, ParseTLSDefaults and ParseTLSSettings for the
// ConfigMap) over one key and value. A canary-* key also gets canary:
// "true", so that its own parser runs. Properties: no panic; every error is an *Error naming the
// key and the value as written; a value its Meta.Validate rejects is never
// accepted silently (documented validator and parser agree); the
// TLSSettings are always usable by crypto/tls.
func FuzzParse(f *testing.F) {
	// Every key with its default and with values a parser may take as
	// missing or as a number: blank, spaces, zero, negative, garbage.
	for _, t := range tables() {
		for _, m := range t {
			f.Add(m.Key, m.Default)
			for _, v := range []string{"", " ", "0", "-1", "x", "true", "/", "a/b"} {
				f.Add(m.Key, v)
			}
		}
	}
	for _, s := range [][2]string{
		{"proxy-body-size", "8m"}, {"proxy-body-size", "9223372036854775807k"}, {"proxy-body-size", " 1g "},
		{"proxy-read-timeout", "99999999999999999999"}, {"proxy-read-timeout", "+5"}, {"proxy-connect-timeout", "0"},
		{"whitelist-source-range", "10.0.0.0/8, ::ffff:10.0.0.1/120,,fe80::1%eth0"}, {"denylist-source-range", ","},
		{"allowlist-source-range", "::ffff:1.2.3.4/95"}, {"canary-weight", "-1"}, {"canary-weight", "1000"},
		{"canary-weight-total", "0"}, {"canary-by-header-pattern", "(a+)+$"}, {"canary-by-header-pattern", "["},
		{"canary-by-header", "X Bad"}, {"canary-by-cookie", "\x00"}, {"use-regex", "yes"},
		{"hsts-max-age", "-1"}, {"load-balance", "ewma"}, {"server-snippet", "return 200;"}, {"affinity", "cookie"},
		{"", ""}, {"canary", "TRUE"}, {"ssl-protocols", "SSLv3 TLSv1 TLSv1.3 TLSv9"}, {"ssl-protocols", ""},
		{"ssl-ciphers", "HIGH:!aNULL:!MD5"}, {"ssl-ciphers", "!AES128-SHA:AES128-SHA:-x:+y:@STRENGTH:DHE-RSA-AES128-GCM-SHA256,TLS_AES_128_GCM_SHA256 RC4-SHA"},
		{"ssl-ecdh-curve", "X448:prime256v1::secp384r1:P-256"}, {"ssl-ecdh-curve", " auto"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		ann := map[string]string{Prefix + key: value}
		if strings.HasPrefix(key, "canary-") {
			ann[Prefix+"canary"] = "true"
		}
		checkErrs := func(what, name string, configMap bool, errs []error) (named bool) {
			t.Helper()
			for _, err := range errs {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("%s: error %v is %T, not an *Error", what, err, err)
				}
				if e.ConfigMap != configMap {
					t.Errorf("%s: %v: ConfigMap = %v, want %v", what, err, e.ConfigMap, configMap)
				}
				if v, ok := ann[e.Annotation]; !configMap && (!ok || v != e.Value) {
					t.Errorf("%s: %v names %q = %q, not an annotation given", what, err, e.Annotation, e.Value)
				}
				if !strings.Contains(err.Error(), e.Annotation) {
					t.Errorf("%s: %q does not name %s", what, err.Error(), e.Annotation)
				}
				if e.Annotation == name && e.Value == value {
					named = true
				}
			}
			return named
		}
		_, errs := Parse(ann, DefaultProxy())
		reported := checkErrs("Parse", Prefix+key, false, errs)
		_, sslErrs := ParseSSL(ann, DefaultSSL())
		reported = checkErrs("ParseSSL", Prefix+key, false, sslErrs) || reported

		data := map[string]string{key: value}
		_, cmErrs := ParseDefaults(data)
		cmReported := checkErrs("ParseDefaults", key, true, cmErrs)
		_, _, tlsErrs := ParseTLSDefaults(data)
		cmReported = checkErrs("ParseTLSDefaults", key, true, tlsErrs) || cmReported
		_, globalErrs := ParseGlobal(data)
		cmReported = checkErrs("ParseGlobal", key, true, globalErrs) || cmReported
		settings, settingsErrs := ParseTLSSettings(data)
		cmReported = checkErrs("ParseTLSSettings", key, true, settingsErrs) || cmReported
		checkTLSSettings(t, settings)
		_, refusalErrs := RefusalPolicyFrom(data, true)
		cmReported = checkErrs("RefusalPolicyFrom", key, true, refusalErrs) || cmReported

		m := metaOf(key)
		if m == nil {
			return
		}
		if err := m.ValidateIn(value, false); err != nil && !m.ConfigMapOnly && !reported {
			t.Errorf("annotation %s: %q rejected by Meta.Validate (%v) but Parse accepts it silently", key, value, err)
		}
		if err := m.ValidateIn(value, true); err != nil && m.ConfigMap && !cmReported {
			t.Errorf("configmap key %s: %q rejected by Meta.Validate (%v) but accepted silently", key, value, err)
		}
	})
}

// checkTLSSettings fails unless s is usable by crypto/tls: versions it
// implements in order, at least one suite, all of them Go's.
func checkTLSSettings(t *testing.T, s TLSSettings) {
	t.Helper()
	if s.MinVersion < tls.VersionTLS10 || s.MaxVersion > tls.VersionTLS13 || s.MinVersion > s.MaxVersion {
		t.Errorf("versions %x to %x", s.MinVersion, s.MaxVersion)
	}
	if len(s.CipherSuites) == 0 {
		t.Error("no cipher suite")
	}
	for _, id := range s.CipherSuites {
		if !slices.ContainsFunc(append(tls.CipherSuites(), tls.InsecureCipherSuites()...), func(c *tls.CipherSuite) bool { return c.ID == id }) {
			t.Errorf("suite %x is not one of Go's", id)
		}
	}
	if s.CurvePreferences != nil && len(s.CurvePreferences) == 0 {
		t.Error("an empty, non-nil curve list")
	}
}

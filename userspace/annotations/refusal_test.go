package annotations

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// risky and invalid are ingress-nginx's messages for a group and a key.
func risky(group string) string {
	return "annotation group " + group + " contains risky annotation based on ingress configuration"
}

func invalid(key string) string { return "annotation " + Prefix + key + " contains invalid value" }

func TestRefusal(t *testing.T) {
	t.Parallel()
	def := DefaultRefusalPolicy()
	at := func(level Risk) RefusalPolicy { p := def; p.Level = level; return p }
	noValidation := def
	noValidation.Validate = false
	blocklist := func(words string) RefusalPolicy { p := def; p.Blocklist = words; return p }
	a := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[Prefix+kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name string
		ann  map[string]string
		p    RefusalPolicy
		want string // "" means served
	}{
		{name: "nil", ann: nil, p: def},
		{name: "valid values", ann: a("proxy-body-size", "8m", "server-alias", "a.example.com", "load-balance", "ewma"), p: def},

		// Risk (settings/validations, badannotationvalues: snippets need Critical).
		{name: "configuration snippet at High", ann: a("configuration-snippet", "return 200;"), p: def, want: risky("ConfigurationSnippet")},
		{name: "configuration snippet at Critical", ann: a("configuration-snippet", "return 200;"), p: at(RiskCritical)},
		{name: "server snippet", ann: a("server-snippet", "x"), p: def, want: risky("ServerSnippet")},
		{name: "auth snippet", ann: a("auth-snippet", "x"), p: def, want: risky("ExternalAuth")},
		{name: "stream snippet", ann: a("stream-snippet", "x"), p: def, want: risky("StreamSnippet")},
		{name: "modsecurity snippet", ann: a("modsecurity-snippet", "x"), p: def, want: risky("ModSecurity")},
		{name: "empty snippet is risky too", ann: a("server-snippet", ""), p: def, want: risky("ServerSnippet")},
		{name: "snippet without validation", ann: a("server-snippet", "x"), p: noValidation, want: risky("ServerSnippet")},
		// CheckAnnotationRisk trims the prefix only when it is there.
		{name: "unprefixed snippet key", ann: map[string]string{"configuration-snippet": "x"}, p: def, want: risky("ConfigurationSnippet")},
		{name: "other prefix", ann: map[string]string{"example.com/configuration-snippet": "x"}, p: def},
		{name: "High at Medium", ann: a("server-alias", "a.example.com"), p: at(RiskMedium), want: risky("Aliases")},
		{name: "High at High", ann: a("server-alias", "a.example.com"), p: def},
		{name: "Medium at Low", ann: a("proxy-body-size", "1m"), p: at(RiskLow), want: risky("Proxy")},
		{name: "Low at Low", ann: a("proxy-connect-timeout", "5"), p: at(RiskLow)},
		{name: "alias is as risky", ann: a("whitelist-source-range", "10.0.0.0/8"), p: at(RiskLow), want: risky("Allowlist")},
		{name: "unknown annotation", ann: a("no-such-annotation", "x"), p: at(RiskLow)},

		// Validation where the parser passes the error on.
		{name: "connection header invalid", ann: a("connection-proxy-header", "a;}"), p: def, want: invalid("connection-proxy-header")},
		{name: "connection header without validation", ann: a("connection-proxy-header", "a;}"), p: noValidation},
		{name: "connection header spaces removed", ann: a("connection-proxy-header", " keep-alive "), p: def},
		{name: "connection header is case sensitive", ann: a("connection-proxy-header", "Close"), p: def, want: invalid("connection-proxy-header")},
		{name: "empty value is not validated", ann: a("connection-proxy-header", ""), p: def},
		{name: "invalid proxy timeout falls back", ann: a("proxy-connect-timeout", "50k", "proxy-read-timeout", "x"), p: def},
		{name: "invalid limit-rps", ann: a("limit-rps", "50k"), p: def, want: invalid("limit-rps")},
		{name: "invalid limit-rate falls back", ann: a("limit-rate", "50k"), p: def},
		{name: "limit-allowlist", ann: a("limit-allowlist", "10.0.0.0/8, 192.0.2.1"), p: def},
		{name: "limit-allowlist trailing comma", ann: a("limit-allowlist", "10.0.0.0/8,"), p: def, want: invalid("limit-allowlist")},
		{name: "limit-whitelist alias named", ann: a("limit-whitelist", "nope"), p: def, want: invalid("limit-whitelist")},
		{name: "empty key reads the alias", ann: a("limit-allowlist", "", "limit-whitelist", "nope"), p: def, want: invalid("limit-whitelist")},
		{name: "set key hides the alias", ann: a("limit-allowlist", "10.0.0.1", "limit-whitelist", "nope"), p: def},
		{name: "leading zero address", ann: a("limit-allowlist", "010.0.0.1"), p: def, want: invalid("limit-allowlist")},
		{name: "invalid allowlist denies, not refuses", ann: a("allowlist-source-range", "nope"), p: def},
		{name: "load-balance case sensitive", ann: a("load-balance", "EWMA"), p: def, want: invalid("load-balance")},
		{name: "load-balance trimmed", ann: a("load-balance", " round_robin "), p: def},
		{name: "backend-protocol falls back", ann: a("backend-protocol", "nope"), p: def},
		{name: "body buffer size", ann: a("client-body-buffer-size", "10 K"), p: def},
		// e2e annotations/clientbodybuffersize.go "should not set
		// client_body_buffer_size to invalid 1b": 1b passes the validator
		// (200); proxy.go "should not set proxy client-max-body-size to
		// incorrect value": 15r falls back.
		{name: "body buffer size 1b", ann: a("client-body-buffer-size", "1b"), p: def},
		{name: "proxy body size 15r falls back", ann: a("proxy-body-size", "15r"), p: def},
		{name: "body buffer size fraction", ann: a("client-body-buffer-size", "1.5m"), p: def, want: invalid("client-body-buffer-size")},
		{name: "body buffer size unit only", ann: a("client-body-buffer-size", "k"), p: def, want: invalid("client-body-buffer-size")},
		{name: "x-forwarded-prefix spaces removed", ann: a("x-forwarded-prefix", "/a b"), p: def},
		{name: "x-forwarded-prefix invalid", ann: a("x-forwarded-prefix", "/a;b"), p: def, want: invalid("x-forwarded-prefix")},
		{name: "x-forwarded-prefix two slashes lead", ann: a("x-forwarded-prefix", "//a/$1"), p: def},
		{name: "default-backend", ann: a("default-backend", "my-svc"), p: def},
		{name: "default-backend capital", ann: a("default-backend", "My-svc"), p: def, want: invalid("default-backend")},
		{name: "default-backend digit first", ann: a("default-backend", "1svc"), p: def, want: invalid("default-backend")},
		{name: "server-alias list", ann: a("server-alias", "a.example.com, *.b.example.com,~^www\\d+\\.example\\.com$"), p: def},
		{name: "server-alias invalid", ann: a("server-alias", "a.example.com;b"), p: def, want: invalid("server-alias")},
		{name: "upstream-vhost inner space", ann: a("upstream-vhost", "a b"), p: def, want: invalid("upstream-vhost")},
		{name: "upstream-vhost outer space", ann: a("upstream-vhost", " a.b "), p: def},
		{name: "ssl-passthrough yes", ann: a("ssl-passthrough", "yes"), p: def, want: invalid("ssl-passthrough")},
		{name: "ssl-passthrough empty", ann: a("ssl-passthrough", ""), p: def},
		{name: "ssl-ciphers", ann: a("ssl-ciphers", "ECDHE-RSA-AES128-GCM-SHA256:@SECLEVEL=2"), p: def},
		{name: "ssl-ciphers invalid", ann: a("ssl-ciphers", "AES;"), p: def, want: invalid("ssl-ciphers")},
		{name: "custom-http-errors", ann: a("custom-http-errors", "404, 503"), p: def},
		{name: "custom-http-errors 3xx", ann: a("custom-http-errors", "301"), p: def, want: invalid("custom-http-errors")},
		{name: "http2-push-preload", ann: a("http2-push-preload", "sure"), p: def, want: invalid("http2-push-preload")},
		{name: "upstream-hash-by variable", ann: a("upstream-hash-by", "$request_uri"), p: def},
		{name: "upstream-hash-by invalid", ann: a("upstream-hash-by", "$a;b"), p: def, want: invalid("upstream-hash-by")},
		{name: "upstream-hash-by-subset-size", ann: a("upstream-hash-by-subset-size", "three"), p: def, want: invalid("upstream-hash-by-subset-size")},
		{name: "upstream-hash-by empty stops", ann: a("upstream-hash-by", " ", "upstream-hash-by-subset", "x"), p: def},
		{name: "fastcgi-index", ann: a("fastcgi-index", "index.php;"), p: def, want: invalid("fastcgi-index")},
		{name: "proxy-ssl-secret", ann: a("proxy-ssl-secret", "ns/a;b"), p: def, want: invalid("proxy-ssl-secret")},
		{name: "proxy-ssl-name falls back", ann: a("proxy-ssl-name", "a;b"), p: def},
		{name: "auth-url", ann: a("auth-url", "http://a.example.com/auth?x=$host"), p: def},
		{name: "auth-url invalid", ann: a("auth-url", "http://a;b"), p: def, want: invalid("auth-url")},
		{name: "auth-method falls back", ann: a("auth-url", "http://a.example.com", "auth-method", "FETCH"), p: def},
		{name: "canary falls back", ann: a("canary", "maybe", "canary-weight", "x"), p: def},
		{name: "cors falls back", ann: a("enable-cors", "true", "cors-allow-origin", "a;b"), p: def},
		{name: "rewrite-target falls back", ann: a("rewrite-target", "/a;b"), p: def},

		// Parsers that read a key only after another.
		{name: "auth-type invalid", ann: a("auth-type", "ntlm"), p: def, want: invalid("auth-type")},
		{name: "auth-type unanchored", ann: a("auth-type", "basically"), p: def},
		{name: "auth-realm invalid", ann: a("auth-type", "basic", "auth-secret", "s", "auth-realm", "a;b"), p: def, want: invalid("auth-realm")},
		{name: "auth-realm without auth-type", ann: a("auth-realm", "a;b"), p: def},
		{name: "auth-realm behind a bad secret name", ann: a("auth-type", "basic", "auth-secret", "a/b/c", "auth-realm", "a;b"), p: def},
		{name: "auth-secret-type invalid", ann: a("auth-type", "basic", "auth-secret-type", "file"), p: def, want: invalid("auth-secret-type")},
		{name: "auth-tls-match-cn invalid", ann: a("auth-tls-secret", "ns/ca", "auth-tls-match-cn", "CN=("), p: def, want: invalid("auth-tls-match-cn")},
		{name: "auth-tls-match-cn prefix", ann: a("auth-tls-secret", "ns/ca", "auth-tls-match-cn", "cn=a"), p: def, want: invalid("auth-tls-match-cn")},
		{name: "auth-tls-match-cn behind a name without namespace", ann: a("auth-tls-secret", "ca", "auth-tls-match-cn", "CN=("), p: def},
		{name: "auth-tls-verify-client falls back", ann: a("auth-tls-secret", "ns/ca", "auth-tls-verify-client", "maybe"), p: def},
		{name: "auth-tls-error-page invalid", ann: a("auth-tls-secret", "ns/ca", "auth-tls-error-page", "http://a/b?c"), p: def, want: invalid("auth-tls-error-page")},
		{name: "opentelemetry operation name", ann: a("enable-opentelemetry", "true", "opentelemetry-operation-name", "a;b"), p: def, want: invalid("opentelemetry-operation-name")},
		{name: "opentelemetry off", ann: a("enable-opentelemetry", "false", "opentelemetry-operation-name", "a;b"), p: def},
		{name: "permanent redirect invalid", ann: a("permanent-redirect", "https://a.example.com/a b"), p: def, want: invalid("permanent-redirect")},
		{name: "permanent redirect code", ann: a("permanent-redirect", "https://a.example.com", "permanent-redirect-code", "30x"), p: def, want: invalid("permanent-redirect-code")},
		{name: "temporal redirect ends the parse", ann: a("temporal-redirect", "https://a.example.com", "permanent-redirect", "a b"), p: def},
		{name: "temporal redirect code", ann: a("temporal-redirect", "https://a.example.com", "temporal-redirect-code", "x"), p: def, want: invalid("temporal-redirect-code")},
		{name: "empty bool stops the redirect parse", ann: a("from-to-www-redirect", "", "permanent-redirect", "a b"), p: def},
		{name: "from-to-www-redirect invalid", ann: a("from-to-www-redirect", "yes"), p: def, want: invalid("from-to-www-redirect")},

		// The blocklist (settings/badannotationvalues.go, admission.go).
		{name: "blocked brace", ann: a("configuration-snippet", "\n# abc { }"), p: blocklist("something_forbidden,otherthing_forbidden,{"),
			want: Prefix + "configuration-snippet annotation contains invalid word {"},
		{name: "blocked lua", ann: a("connection-proxy-header", "set_by_lua"), p: blocklist("set_by_lua"),
			want: Prefix + "connection-proxy-header annotation contains invalid word set_by_lua"},
		{name: "blocklist before validation", ann: a("connection-proxy-header", "a;}"), p: blocklist("}"),
			want: Prefix + "connection-proxy-header annotation contains invalid word }"},
		{name: "not blocked", ann: a("proxy-body-size", "1m"), p: blocklist("something_forbidden,otherthing_forbidden")},
		{name: "blocklist ignores other prefixes", ann: map[string]string{"example.com/x": "forbidden"}, p: blocklist("forbidden")},
		{name: "blocklist words keep inner spaces", ann: a("proxy-body-size", "1m", "use-regex", "true b"), p: blocklist("x, b"),
			want: Prefix + "use-regex annotation contains invalid word  b"},
		{name: "blocklist word with a space", ann: a("use-regex", "b"), p: blocklist("x, b")},
		{name: "empty word blocks every value", ann: a("use-regex", "true"), p: blocklist("x,"), want: Prefix + "use-regex annotation contains invalid word "},
		{name: "blocklist without validation", ann: a("use-regex", "x"), p: func() RefusalPolicy { p := noValidation; p.Blocklist = "x"; return p }(),
			want: Prefix + "use-regex annotation contains invalid word x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := ""
			if err := Refusal(tc.ann, tc.p); err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("Refusal(%q) = %q, want %q", tc.ann, got, tc.want)
			}
		})
	}
}

// regexpAll matches every text: ValidateRegex's CR and LF check alone.
var regexpAll = regexp.MustCompile(``)

func TestValidators(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		v     func(string) error
		ok    []string
		notOK []string
	}{
		{name: "size", v: validRegex(nginxSizeRegex, true), ok: []string{"0", "10", "10b", "10K", "1 0 m", "5G"}, notOK: []string{"", "k", "1.5m", "10t", "-1", "10kk"}},
		{name: "basic chars", v: validRegex(nginxBasicCharsRegex, true), ok: []string{"", "ns/name", "a.b_c~d:e-f", "a b"}, notOK: []string{"a;b", "a$b", "a\tb", "a\nb"}},
		{name: "chars with space", v: validRegex(nginxCharsWithSpace, false), ok: []string{"my realm", ""}, notOK: []string{"a\"b", "a\nb"}},
		{name: "url", v: validRegex(nginxURLIsValidRegex, false), ok: []string{"https://a.example.com:8443/p?a=b&c=d,e"}, notOK: []string{"a b", "a#b", "a$b"}},
		{name: "url with variables", v: validRegex(nginxURLWithNginxVariable, true), ok: []string{"http://a/$host$request_uri", "a, b"}, notOK: []string{"a;b", "a{b}"}},
		{name: "path with capture", v: validRegex(nginxRegexPathWithCapture, false), ok: []string{"/a/$1", "a/b", ""}, notOK: []string{"/a b", "/(a)"}},
		{name: "headers", v: validRegex(nginxHeadersVariable, true), ok: []string{"X-A, X_B"}, notOK: []string{"X:A"}},
		{name: "nginx variable", v: validRegex(nginxVariable, true), ok: []string{"${host}_$uri"}, notOK: []string{"$a.b"}},
		{name: "cookie domain", v: validRegex(nginxCookieDomain, false), ok: []string{"off", "a.example b.example"}, notOK: []string{"a", "off off off", " off"}},
		{name: "next upstream", v: validRegex(nginxUpstreamNext, false), ok: []string{"error timeout http_502", "off"}, notOK: []string{"error,timeout", "http_501", ""}},
		{name: "affinity expires unanchored", v: validRegex(nginxAffinityCookieExpires, false), ok: []string{"0", "3600", "-5", "0abc", "abc5"}, notOK: []string{"abc", "-0"}},
		{name: "hash by", v: validRegex(nginxHashBy, true), ok: []string{"$remote_addr", "${a}-b"}, notOK: []string{"$a.b", "$a;"}},
		{name: "malicious after removal", v: validRegex(regexpAll, true), ok: []string{"anything at all"}, notOK: []string{"a\rb", "a\n"}},
		{name: "server name", v: validServerName, ok: []string{"*.example.com", " a.b ", "~^(www)\\d+$"}, notOK: []string{"a b", "a;b", "a#b"}},
		{name: "server names", v: validServerNames, ok: []string{"a.com, b.com", "a.com,"}, notOK: []string{"a.com,b;c"}},
		{name: "options case-insensitive", v: validOptions([]string{"none", "lax"}, false, true), ok: []string{"None", " LAX "}, notOK: []string{"strict", "no ne"}},
		{name: "options case-sensitive", v: validOptions([]string{"on"}, true, false), ok: []string{"on"}, notOK: []string{"On", " on"}},
		{name: "bool", v: validBool, ok: []string{"true", "1", "F", "TRUE", "False"}, notOK: []string{"yes", "on", " true", ""}},
		{name: "int", v: validInt, ok: []string{"0", "-5", "+5", "50000"}, notOK: []string{"50k", "1.5", " 5", ""}},
		{name: "cidrs", v: validCIDRs, ok: []string{"", "10.0.0.0/8", " 10.0.0.1 , ::1/128", "2001:db8::/32"}, notOK: []string{"10.0.0.0/33", "10.0.0.0/8,", "x", "01.0.0.1"}},
		{name: "service name", v: validServiceName, ok: []string{"a", "my-svc-2"}, notOK: []string{"", "My", "2a", "a-", "a.b", strings.Repeat("a", 64)}},
		{name: "common name", v: validCommonName, ok: []string{"CN=a.example.com", "CN=^(a|b)$", "CN="}, notOK: []string{"cn=a", "CN=(", " CN=a"}},
		{name: "null", v: validNull, ok: []string{"", "return 200;"}},
		{name: "auth type unanchored", v: validRegex(nginxAuthTypeRegex, true), ok: []string{"basic", "digest", "xbasicx", "ba sic"}, notOK: []string{"Basic", "ntlm"}},
		{name: "cors origin", v: validRegex(nginxCORSOriginValidator, true), ok: []string{"*", "https://a.example.com, http://*.b.com:8080", "null", ""}, notOK: []string{"https://a.com/x", "*,https://a.com"}},
		{name: "ssl cipher", v: validRegex(nginxSSLCipher, true), ok: []string{"HIGH:!aNULL:@STRENGTH", "DEFAULT@SECLEVEL=0"}, notOK: []string{"DEFAULT@SECLEVEL=6", "A;B"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, v := range tc.ok {
				if err := tc.v(v); err != nil {
					t.Errorf("%q: %v, want accepted", v, err)
				}
			}
			for _, v := range tc.notOK {
				if tc.v(v) == nil {
					t.Errorf("%q accepted, want rejected", v)
				}
			}
		})
	}
}

func TestParseRisk(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want Risk
		ok   bool
	}{
		{"Critical", RiskCritical, true}, {"CRITICAL", RiskCritical, true}, {"high", RiskHigh, true},
		{"Medium", RiskMedium, true}, {"low", RiskLow, true}, {"", RiskLow, false}, {"Highest", RiskLow, false}, {" High", RiskLow, false},
	} {
		got, ok := ParseRisk(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseRisk(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestRefusalPolicyFrom(t *testing.T) {
	t.Parallel()
	p, errs := RefusalPolicyFrom(nil, true)
	if diff := cmp.Diff(DefaultRefusalPolicy(), p); diff != "" || len(errs) != 0 {
		t.Errorf("nil data (-want +got):\n%s%v", diff, errs)
	}
	p, errs = RefusalPolicyFrom(map[string]string{"annotations-risk-level": "critical", "annotation-value-word-blocklist": "a,b"}, false)
	if want := (RefusalPolicy{Level: RiskCritical, Blocklist: "a,b"}); p != want || len(errs) != 0 {
		t.Errorf("got %+v %v, want %+v", p, errs, want)
	}
	p, errs = RefusalPolicyFrom(map[string]string{"annotations-risk-level": "Hihg"}, true)
	if p.Level != RiskLow || len(errs) != 1 || !strings.Contains(errs[0].Error(), `configmap key annotations-risk-level: value "Hihg"`) {
		t.Errorf("misspelt level: got %+v %v, want Low and one error", p, errs)
	}
}

// TestNginxGroupsCoverKeys asserts that the table holds every annotation
// key of ingress-nginx's tables (testdata, extracted from its sources) and
// no other, once each, in groups sorted by name.
func TestNginxGroupsCoverKeys(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/nginx_annotation_keys.txt")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			want = append(want, l)
		}
	}
	if diff := cmp.Diff(want, NginxAnnotationKeys()); diff != "" {
		t.Errorf("keys (-ingress-nginx +table):\n%s", diff)
	}
	seen := map[string]bool{}
	for i, g := range nginxGroups {
		if i > 0 && nginxGroups[i-1].name >= g.name {
			t.Errorf("group %s after %s: not sorted", g.name, nginxGroups[i-1].name)
		}
		for _, e := range g.entries {
			for _, k := range append([]string{e.key}, e.aliases...) {
				if seen[k] {
					t.Errorf("%s twice", k)
				}
				seen[k] = true
			}
			if e.validate == nil {
				t.Errorf("%s has no validator", e.key)
			}
		}
	}
	// Every key an Ingress may set names a documented annotation.
	for _, k := range want {
		if AnnotationEntry(k).Status == "" {
			t.Errorf("%s: not in the annotation inventory", k)
		}
	}
}

// TestNginxGroupsRead runs every parse function over every key set to a
// value no validator accepts (and to one all accept): each key read has
// an entry (a missing one would panic), and the verdict names a key of the
// group.
func TestNginxGroupsRead(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"\n;", "1"} {
		ann := map[string]string{}
		for _, k := range NginxAnnotationKeys() {
			ann[Prefix+k] = v
		}
		ann[Prefix+"enable-opentelemetry"], ann[Prefix+"auth-type"] = "true", "basic"
		ann[Prefix+"auth-tls-secret"], ann[Prefix+"auth-secret"] = "ns/s", "s"
		for _, g := range nginxGroups {
			if g.parse == nil {
				continue
			}
			err := g.parse(annReader{ann: ann, validate: true})
			var keys []string
			for _, e := range g.entries {
				keys = append(keys, e.key)
				keys = append(keys, e.aliases...)
			}
			if iv, ok := err.(*invalidValueError); ok && !slices.Contains(keys, strings.TrimPrefix(iv.annotation, Prefix)) {
				t.Errorf("%s: %v names another group's key", g.name, err)
			}
		}
	}
}

// BenchmarkRefusal is Refusal on an Ingress's annotations as Serves runs it
// for every Ingress at every build: typical served ones, and a refused one.
func BenchmarkRefusal(b *testing.B) {
	p := DefaultRefusalPolicy()
	for _, bc := range []struct {
		name string
		ann  map[string]string
	}{
		{"none", nil},
		{"typical", map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{}", Prefix + "proxy-body-size": "8m",
			Prefix + "proxy-read-timeout": "60", Prefix + "ssl-redirect": "false", Prefix + "use-regex": "true"}},
		{"validated", map[string]string{Prefix + "load-balance": "ewma", Prefix + "limit-rps": "10", Prefix + "server-alias": "a.example.com",
			Prefix + "permanent-redirect": "https://a.example.com/"}},
		{"snippet", map[string]string{Prefix + "configuration-snippet": "return 200;", Prefix + "proxy-body-size": "8m"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = Refusal(bc.ann, p)
			}
		})
	}
}

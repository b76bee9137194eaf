package annotations

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseBalance(t *testing.T) {
	t.Parallel()
	def := func(f func(*Balance)) *Balance {
		b := &Balance{CookieName: DefaultCookieName, HashBySubsetSize: 3}
		f(b)
		return b
	}
	tests := []struct {
		name     string
		ann      map[string]string
		want     *Balance
		wantErrs []string
	}{
		{name: "none", ann: map[string]string{Prefix + "session-cookie-name": "x"}},
		{
			name: "hash by with subset",
			ann: map[string]string{
				Prefix + "upstream-hash-by":             "$host$request_uri",
				Prefix + "upstream-hash-by-subset":      "true",
				Prefix + "upstream-hash-by-subset-size": "5",
			},
			want: def(func(b *Balance) { b.HashBy, b.HashBySubset, b.HashBySubsetSize = "$host$request_uri", true, 5 }),
		},
		{
			name: "hash by invalid",
			ann: map[string]string{
				Prefix + "upstream-hash-by":             "$request_uri;x",
				Prefix + "upstream-hash-by-subset-size": "-1",
			},
			wantErrs: []string{
				`annotation nginx.ingress.kubernetes.io/upstream-hash-by: value "$request_uri;x": may hold only letters, digits and "-_${}"`,
				`annotation nginx.ingress.kubernetes.io/upstream-hash-by-subset-size: value "-1": must be at least 1`,
			},
		},
		{
			// ingress-nginx's upstreamhashby parser takes 0 as the default 3.
			name: "subset size 0 is the default",
			ann: map[string]string{
				Prefix + "upstream-hash-by":             "$request_uri",
				Prefix + "upstream-hash-by-subset":      "true",
				Prefix + "upstream-hash-by-subset-size": "0",
			},
			want: def(func(b *Balance) { b.HashBy, b.HashBySubset = "$request_uri", true }),
		},
		{
			name:     "hash by unknown variable",
			ann:      map[string]string{Prefix + "upstream-hash-by": "$upstream_addr"},
			wantErrs: []string{`annotation nginx.ingress.kubernetes.io/upstream-hash-by: value "$upstream_addr": variable $upstream_addr is not one Weir evaluates`},
		},
		{
			name: "cookie affinity, every attribute",
			ann: map[string]string{
				Prefix + "affinity":                                 "cookie",
				Prefix + "affinity-mode":                            "persistent",
				Prefix + "session-cookie-name":                      "route",
				Prefix + "session-cookie-path":                      "/app",
				Prefix + "session-cookie-domain":                    "foo.com",
				Prefix + "session-cookie-expires":                   "172800",
				Prefix + "session-cookie-max-age":                   "-1",
				Prefix + "session-cookie-secure":                    "true",
				Prefix + "session-cookie-samesite":                  "None",
				Prefix + "session-cookie-conditional-samesite-none": "true",
				Prefix + "session-cookie-change-on-failure":         "true",
			},
			want: &Balance{
				HashBySubsetSize: 3, Cookie: true, Persistent: true, CookieName: "route", CookiePath: "/app", CookieDomain: "foo.com",
				CookieExpires: "172800", CookieMaxAge: "-1", CookieSecure: true, CookieSameSite: "None",
				CookieConditionalSameSiteNone: true, CookieChangeOnFailure: true,
			},
		},
		{
			// ingress-nginx accepts any case and passes the trimmed value to
			// lua-resty-cookie (sticky.lua), whose bake leaves out a
			// SameSite that is not exactly None, Lax or Strict.
			name: "samesite in another case is left out",
			ann: map[string]string{
				Prefix + "affinity":                "cookie",
				Prefix + "session-cookie-samesite": " lax ",
			},
			want: def(func(b *Balance) { b.Cookie = true }),
			wantErrs: []string{
				`annotation nginx.ingress.kubernetes.io/session-cookie-samesite: value " lax ": is not written None, Lax or Strict: as ingress-nginx's lua-resty-cookie, no SameSite attribute is written`,
			},
		},
		{
			name: "samesite trimmed",
			ann: map[string]string{
				Prefix + "affinity":                "cookie",
				Prefix + "session-cookie-samesite": " Strict ",
			},
			want: def(func(b *Balance) { b.Cookie, b.CookieSameSite = true, "Strict" }),
		},
		{
			// ingress-nginx's validators leave out spaces (BasicCharsRegex,
			// URLIsValidRegex, affinityCookieExpiresRegex) and the value
			// used is trimmed; its expression for expires and max-age is
			// unanchored and the balancer reads the value with Lua's
			// tonumber, which prints back as %.14g.
			name: "cookie values read as ingress-nginx reads them",
			ann: map[string]string{
				Prefix + "affinity":               "cookie",
				Prefix + "session-cookie-name":    " my:cookie/1 ",
				Prefix + "session-cookie-path":    " /a b ",
				Prefix + "session-cookie-domain":  "foo.bar:80",
				Prefix + "session-cookie-expires": " 1.9e3 ",
				Prefix + "session-cookie-max-age": "007",
			},
			want: def(func(b *Balance) {
				b.Cookie, b.CookieName, b.CookiePath, b.CookieDomain = true, "my:cookie/1", "/a b", "foo.bar:80"
				b.CookieExpires, b.CookieMaxAge = "1900", "7"
			}),
		},
		{
			name: "cookie seconds as Lua reads them",
			ann: map[string]string{
				Prefix + "affinity":               "cookie",
				Prefix + "session-cookie-expires": "-1.5",
				Prefix + "session-cookie-max-age": "0x10",
			},
			want: def(func(b *Balance) { b.Cookie, b.CookieExpires, b.CookieMaxAge = true, "-2", "16" }),
		},
		{
			// ingress-nginx's ValidateOptions for affinity, affinity-mode
			// and affinity-canary-behavior is case-sensitive: "Cookie" is
			// no affinity, "Persistent" balanced, "Legacy" sticky.
			name: "affinity options are case-sensitive",
			ann: map[string]string{
				Prefix + "affinity":                 "Cookie",
				Prefix + "affinity-mode":            "Persistent",
				Prefix + "affinity-canary-behavior": "Legacy",
			},
			wantErrs: []string{
				`annotation nginx.ingress.kubernetes.io/affinity: value "Cookie": must be one of cookie`,
				`annotation nginx.ingress.kubernetes.io/affinity-canary-behavior: value "Legacy": must be one of sticky, legacy`,
				`annotation nginx.ingress.kubernetes.io/affinity-mode: value "Persistent": must be one of balanced, persistent`,
			},
		},
		{
			name: "affinity options trimmed",
			ann: map[string]string{
				Prefix + "affinity":      " cookie ",
				Prefix + "affinity-mode": "persistent ",
			},
			want: def(func(b *Balance) { b.Cookie, b.Persistent = true, true }),
		},
		{
			name: "cookie affinity, invalid values keep defaults",
			ann: map[string]string{
				Prefix + "affinity":                "cookie",
				Prefix + "affinity-mode":           "sticky",
				Prefix + "session-cookie-name":     "a;b",
				Prefix + "session-cookie-path":     "/a;b",
				Prefix + "session-cookie-expires":  "0abc",
				Prefix + "session-cookie-max-age":  "1h",
				Prefix + "session-cookie-samesite": "sometimes",
			},
			want: def(func(b *Balance) { b.Cookie = true }),
			wantErrs: []string{
				`annotation nginx.ingress.kubernetes.io/affinity-mode: value "sticky": must be one of balanced, persistent`,
				`annotation nginx.ingress.kubernetes.io/session-cookie-expires: value "0abc": is not a number Lua reads (ingress-nginx's balancer fails on it)`,
				`annotation nginx.ingress.kubernetes.io/session-cookie-max-age: value "1h": must be an integer number of seconds`,
				`annotation nginx.ingress.kubernetes.io/session-cookie-name: value "a;b": may hold only letters, digits, spaces and "-._~/:"`,
				`annotation nginx.ingress.kubernetes.io/session-cookie-path: value "/a;b": may hold only letters, digits, spaces and "-._~/:,?&="`,
				`annotation nginx.ingress.kubernetes.io/session-cookie-samesite: value "sometimes": must be None, Lax or Strict`,
			},
		},
		{
			name:     "unknown affinity type",
			ann:      map[string]string{Prefix + "affinity": "ip"},
			wantErrs: []string{`annotation nginx.ingress.kubernetes.io/affinity: value "ip": must be one of cookie`},
		},
		{
			name: "use-regex without session-cookie-path",
			ann:  map[string]string{Prefix + "affinity": "cookie", Prefix + "use-regex": "true"},
			want: def(func(b *Balance) { b.Cookie = true }),
			wantErrs: []string{
				`annotation nginx.ingress.kubernetes.io/session-cookie-path: value "": session-cookie-path should be set when use-regex is true; the cookie's path is the rule's path as written`,
			},
		},
		{
			name: "legacy canary behaviour",
			ann:  map[string]string{Prefix + "affinity-canary-behavior": "legacy"},
			want: def(func(b *Balance) { b.CanaryLegacy = true }),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, errs := Parse(tc.ann, DefaultProxy())
			if diff := cmp.Diff(tc.want, got.Proxy.Balance); diff != "" {
				t.Errorf("Balance (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantErrs, errStrings(t, errs)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseHashBy(t *testing.T) {
	t.Parallel()
	v := func(s string) HashPart { return HashPart{Text: s, Var: true} }
	x := func(s string) HashPart { return HashPart{Text: s} }
	tests := []struct {
		in   string
		want []HashPart
		err  bool
	}{
		{in: "$request_uri", want: []HashPart{v("request_uri")}},
		{in: "$host$request_uri", want: []HashPart{v("host"), v("request_uri")}},
		{in: "${request_uri}-text-value", want: []HashPart{v("request_uri"), x("-text-value")}},
		{in: "$http_x_user$cookie_session${arg_id}", want: []HashPart{v("http_x_user"), v("cookie_session"), v("arg_id")}},
		{in: "text", want: []HashPart{x("text")}},
		{in: "a$-${}b", want: []HashPart{x("a$-${}b")}},
		{in: "${remote_addr", want: []HashPart{x("${remote_addr")}}, // braces unclosed: text
		{in: "$remote_addr}", want: []HashPart{v("remote_addr"), x("}")}},
		{in: "$binary_remote_addr", want: []HashPart{v("binary_remote_addr")}},
		{in: "$document_uri$is_args$server_protocol$request", want: []HashPart{v("document_uri"), v("is_args"), v("server_protocol"), v("request")}},
		{in: "$1", err: true},
		{in: "$request_uri/x", err: true},
	}
	for _, tc := range tests {
		got, err := ParseHashBy(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("ParseHashBy(%q) error %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" && !tc.err {
			t.Errorf("ParseHashBy(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

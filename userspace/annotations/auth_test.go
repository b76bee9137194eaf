package annotations

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseAuth(t *testing.T) {
	t.Parallel()
	ext := func(f func(*ExternalAuth)) *ExternalAuth {
		e := &ExternalAuth{URL: "http://auth.example/check", SigninRedirectParam: "rd", KeepaliveRequests: 1000,
			KeepaliveTimeoutSeconds: 60, CacheDuration: []string{DefaultAuthCacheDuration}}
		if f != nil {
			f(e)
		}
		return e
	}
	global := DefaultProxy()
	global.Auth = &Auth{External: ext(func(e *ExternalAuth) { e.URL, e.Global = "http://global/auth", true })}
	badGlobal := DefaultProxy()
	badGlobal.Auth = &Auth{External: &ExternalAuth{URL: "nope", Global: true}, Invalid: "configmap key global-auth-url: bad"}
	tests := []struct {
		name     string
		defaults Proxy
		ann      map[string]string
		want     *Auth
		wantErrs []string // substrings, in order
	}{
		{name: "none", defaults: DefaultProxy()},
		{name: "basic", defaults: DefaultProxy(),
			ann:  map[string]string{"auth-type": "basic", "auth-secret": "users", "auth-realm": "Authentication Required - foo"},
			want: &Auth{Basic: &BasicAuth{Realm: "Authentication Required - foo", Secret: "users"}}},
		{name: "digest map namespaced", defaults: DefaultProxy(),
			ann:  map[string]string{"auth-type": "digest", "auth-secret": "ns/users", "auth-secret-type": "auth-map"},
			want: &Auth{Basic: &BasicAuth{Digest: true, Secret: "ns/users", SecretMap: true}}},
		{name: "bad type fails closed", defaults: DefaultProxy(),
			ann:      map[string]string{"auth-type": "ntlm", "auth-secret": "users"},
			want:     &Auth{Invalid: `annotation nginx.ingress.kubernetes.io/auth-type: value "ntlm": must be "basic" or "digest"; the route is denied (503): authentication fails closed`},
			wantErrs: []string{"auth-type"}},
		{name: "no secret fails closed", defaults: DefaultProxy(),
			ann:      map[string]string{"auth-type": "basic"},
			want:     &Auth{Basic: &BasicAuth{}, Invalid: `annotation nginx.ingress.kubernetes.io/auth-type: value "basic": needs auth-secret; the route is denied (503): authentication fails closed`},
			wantErrs: []string{"needs auth-secret"}},
		{name: "secret alone is ignored", defaults: DefaultProxy(), ann: map[string]string{"auth-secret": "users"}},
		{name: "bad realm fails closed", defaults: DefaultProxy(),
			ann:      map[string]string{"auth-type": "basic", "auth-secret": "u", "auth-realm": `a" b`},
			want:     &Auth{Basic: &BasicAuth{Secret: "u"}, Invalid: `annotation nginx.ingress.kubernetes.io/auth-realm: value "a\" b": may hold only letters, digits, spaces and /-._~:; the route is denied (503): authentication fails closed`},
			wantErrs: []string{"auth-realm"}},
		{name: "bad secret type", defaults: DefaultProxy(),
			ann:      map[string]string{"auth-type": "basic", "auth-secret": "u", "auth-secret-type": "file"},
			want:     &Auth{Basic: &BasicAuth{Secret: "u"}, Invalid: `annotation nginx.ingress.kubernetes.io/auth-secret-type: value "file": must be "auth-file" or "auth-map"; the route is denied (503): authentication fails closed`},
			wantErrs: []string{"auth-secret-type"}},
		{name: "external full", defaults: DefaultProxy(),
			ann: map[string]string{"auth-url": "http://auth.example/check", "auth-method": "POST", "auth-signin": "https://$host/start?x=1",
				"auth-signin-redirect-param": "next", "auth-response-headers": "X-User, X-Email,,", "auth-request-redirect": "/after",
				"auth-proxy-set-headers": "hdrs", "auth-cache-key": "$remote_user$http_authorization", "auth-cache-duration": "200 5m, 401 30s",
				"auth-always-set-cookie": "true", "auth-keepalive": "10", "auth-keepalive-timeout": "30", "auth-snippet": "x"},
			want: &Auth{External: ext(func(e *ExternalAuth) {
				e.Method, e.Signin, e.SigninRedirectParam = "POST", "https://$host/start?x=1", "next"
				e.ResponseHeaders, e.RequestRedirect, e.ProxySetHeadersFrom = []string{"X-User", "X-Email"}, "/after", "hdrs"
				e.CacheKey, e.CacheDuration, e.AlwaysSetCookie = "$remote_user$http_authorization", []string{"200 5m", "401 30s"}, true
				e.KeepaliveConnections, e.KeepaliveTimeoutSeconds = 10, 30
			})},
			wantErrs: []string{"auth-snippet: snippet annotations are never applied"}},
		{name: "keepalive off when timeout is 0", defaults: DefaultProxy(),
			ann:  map[string]string{"auth-url": "http://auth.example/check", "auth-keepalive": "10", "auth-keepalive-timeout": "0"},
			want: &Auth{External: ext(func(e *ExternalAuth) { e.KeepaliveTimeoutSeconds = 0 })}},
		{name: "keepalive off with a variable host", defaults: DefaultProxy(),
			ann:  map[string]string{"auth-url": "http://$host/path", "auth-keepalive": "123"},
			want: &Auth{External: ext(func(e *ExternalAuth) { e.URL = "http://$host/path" })}},
		{name: "keepalive kept with a variable path", defaults: DefaultProxy(),
			ann:  map[string]string{"auth-url": "http://auth.example/$host", "auth-keepalive": "123"},
			want: &Auth{External: ext(func(e *ExternalAuth) { e.URL, e.KeepaliveConnections = "http://auth.example/$host", 123 })}},
		{name: "bad url fails closed", defaults: DefaultProxy(),
			ann:      map[string]string{"auth-url": "ftp://x/"},
			want:     &Auth{External: ext(func(e *ExternalAuth) { e.URL = "ftp://x/" }), Invalid: `annotation nginx.ingress.kubernetes.io/auth-url: value "ftp://x/": must be an absolute http or https URL; the route is denied (503): authentication fails closed`},
			wantErrs: []string{"auth-url"}},
		{name: "double dot host fails closed", defaults: DefaultProxy(),
			ann: map[string]string{"auth-url": "https://invalid..auth.url"}, wantErrs: []string{"invalid url host"}},
		{name: "control character in request redirect fails closed", defaults: DefaultProxy(),
			ann: map[string]string{"auth-url": "http://auth.example/check", "auth-request-redirect": "/a\r\nX-Evil: 1"}, wantErrs: []string{"control characters"}},
		{name: "bad response header fails closed", defaults: DefaultProxy(),
			ann:      map[string]string{"auth-url": "http://auth.example/check", "auth-response-headers": "X-Ok, X Bad"},
			wantErrs: []string{"auth-response-headers"}},
		{name: "unknown variable fails closed", defaults: DefaultProxy(),
			ann:      map[string]string{"auth-url": "http://auth.example/check?u=$upstream_addr"},
			wantErrs: []string{"$upstream_addr is not supported"}},
		{name: "bad signin and cache key are ignored", defaults: DefaultProxy(),
			ann:      map[string]string{"auth-url": "http://auth.example/check", "auth-signin": "nope", "auth-cache-key": "$upstream_addr"},
			want:     &Auth{External: ext(nil)},
			wantErrs: []string{"auth-cache-key", "auth-signin"}},
		{name: "method alone is reported", defaults: DefaultProxy(),
			ann: map[string]string{"auth-method": "get"}, wantErrs: []string{"auth-method"}},
		{name: "global applies", defaults: global, want: global.Auth},
		{name: "global off", defaults: global, ann: map[string]string{"enable-global-auth": "false"}},
		{name: "own url replaces global", defaults: global, ann: map[string]string{"auth-url": "http://auth.example/check"},
			want: &Auth{External: ext(nil)}},
		{name: "invalid global denies", defaults: badGlobal, want: badGlobal.Auth},
		{name: "invalid global off", defaults: badGlobal, ann: map[string]string{"enable-global-auth": "false"}},
		{name: "invalid global replaced", defaults: badGlobal, ann: map[string]string{"auth-url": "http://auth.example/check"},
			want: &Auth{External: ext(nil)}},
		{name: "satisfy any", defaults: DefaultProxy(), ann: map[string]string{"satisfy": "any"}, want: &Auth{SatisfyAny: true}},
		{name: "satisfy other is all", defaults: DefaultProxy(), ann: map[string]string{"satisfy": "some"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ann := prefixed(tc.ann)
			cfg, errs := Parse(ann, tc.defaults)
			got := cfg.Proxy.Auth
			if tc.want != nil || got == nil || len(tc.wantErrs) == 0 {
				if d := cmp.Diff(tc.want, got); d != "" {
					t.Errorf("Auth (-want +got):\n%s", d)
				}
			} else if got.Invalid == "" {
				t.Errorf("Auth.Invalid empty for %v", errs)
			}
			if len(errs) != len(tc.wantErrs) {
				t.Fatalf("errors = %v, want %d", errs, len(tc.wantErrs))
			}
			for i, err := range errs {
				if !strings.Contains(err.Error(), tc.wantErrs[i]) {
					t.Errorf("error %d = %v, want it to contain %q", i, err, tc.wantErrs[i])
				}
				if strings.Contains(tc.wantErrs[i], "denied") || got != nil && got.Invalid != "" && !errors.Is(err, ErrFailsClosed) && !errors.Is(err, ErrSnippet) {
					t.Errorf("error %v does not wrap ErrFailsClosed", err)
				}
			}
		})
	}
}

func TestParseGlobalAuth(t *testing.T) {
	t.Parallel()
	p, errs := ParseDefaults(map[string]string{"global-auth-url": "https://auth/check?rd=$escaped_request_uri", "global-auth-response-headers": "X-User",
		"global-auth-signin": "https://auth/start", "global-auth-cache-key": "$http_cookie", "global-auth-always-set-cookie": "true"})
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	want := &Auth{External: &ExternalAuth{URL: "https://auth/check?rd=$escaped_request_uri", Signin: "https://auth/start", SigninRedirectParam: "rd",
		ResponseHeaders: []string{"X-User"}, CacheKey: "$http_cookie", CacheDuration: []string{DefaultAuthCacheDuration}, AlwaysSetCookie: true,
		KeepaliveRequests: 1000, KeepaliveTimeoutSeconds: 60, Global: true}}
	if d := cmp.Diff(want, p.Auth); d != "" {
		t.Errorf("Auth (-want +got):\n%s", d)
	}
	p, errs = ParseDefaults(map[string]string{"global-auth-url": "not a url", "global-auth-snippet": "x"})
	if p.Auth == nil || p.Auth.Invalid == "" || len(errs) != 2 || !errors.Is(errs[0], ErrFailsClosed) || !errors.Is(errs[1], ErrSnippet) {
		t.Errorf("invalid global-auth-url: Auth %+v, errors %v; want it denied", p.Auth, errs)
	}
}

func TestParseVars(t *testing.T) {
	t.Parallel()
	v, err := ParseVars("https://$host/x?rd=${escaped_request_uri}&c=$cookie_sid$http_x_a")
	if err != nil {
		t.Fatal(err)
	}
	got := v.Expand(func(n string) string { return "<" + n + ">" })
	if want := "https://<host>/x?rd=<escaped_request_uri>&c=<cookie_sid><http_x_a>"; got != want {
		t.Errorf("Expand = %q, want %q", got, want)
	}
	for _, bad := range []string{"$", "a$-", "${host", "$upstream_addr", "$http_"} {
		if _, err := ParseVars(bad); err == nil {
			t.Errorf("ParseVars(%q) accepted", bad)
		}
	}
}

// prefixed returns ann with Prefix before every key.
func prefixed(ann map[string]string) map[string]string {
	out := make(map[string]string, len(ann))
	for k, v := range ann {
		out[Prefix+k] = v
	}
	return out
}

func TestNoAuthLocations(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		value string // "-": unset
		path  string
		want  bool
	}{
		{"-", "/.well-known/acme-challenge/tok", true},
		{"-", "/", false},
		{"", "/.well-known/acme-challenge/tok", false},
		{" /public, ,/static", "/static/app.js", true},
		{"/public,/static", "/.well-known/acme-challenge/x", false},
	} {
		data := map[string]string{}
		if tc.value != "-" {
			data["no-auth-locations"] = tc.value
		}
		g, errs := ParseGlobal(data)
		if len(errs) != 0 {
			t.Fatal(errs)
		}
		if got := g.NoAuth(tc.path); got != tc.want {
			t.Errorf("no-auth-locations %q: NoAuth(%q) = %v, want %v", tc.value, tc.path, got, tc.want)
		}
	}
}

// TestParseGlobalAuthLenient follows ingress-nginx's ReadConfig tests
// (TestGlobalExternalAuthMethodParsing, ...ResponseHeadersParsing,
// ...CacheDurationParsing, ...AlwaysSetCookie): an invalid
// global-auth-method, response header name, cache duration or
// always-set-cookie is dropped with a warning, the default kept, and the
// routes are still authenticated, not denied.
func TestParseGlobalAuthLenient(t *testing.T) {
	t.Parallel()
	const url = "http://bar.foo.com/external-auth"
	tests := []struct {
		key, value string
		check      func(*ExternalAuth) bool
	}{
		{"global-auth-method", "FOO", func(e *ExternalAuth) bool { return e.Method == "" }},
		{"global-auth-response-headers", "1 2", func(e *ExternalAuth) bool { return len(e.ResponseHeaders) == 0 }},
		{"global-auth-response-headers", "h1,1+2,,h2", func(e *ExternalAuth) bool { return cmp.Equal(e.ResponseHeaders, []string{"h1", "h2"}) }},
		{"global-auth-cache-duration", "5m, xaxax", func(e *ExternalAuth) bool { return cmp.Equal(e.CacheDuration, []string{DefaultAuthCacheDuration}) }},
		{"global-auth-cache-duration", "200", func(e *ExternalAuth) bool { return cmp.Equal(e.CacheDuration, []string{DefaultAuthCacheDuration}) }},
		{"global-auth-always-set-cookie", "error string", func(e *ExternalAuth) bool { return !e.AlwaysSetCookie }},
	}
	for _, tc := range tests {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			t.Parallel()
			p, errs := ParseDefaults(map[string]string{"global-auth-url": url, tc.key: tc.value})
			if p.Auth == nil || p.Auth.External == nil {
				t.Fatalf("Auth = %+v, want global auth kept", p.Auth)
			}
			if p.Auth.Invalid != "" {
				t.Errorf("Invalid = %q, want the routes authenticated, not denied", p.Auth.Invalid)
			}
			if !tc.check(p.Auth.External) {
				t.Errorf("External = %+v, want the invalid value dropped", p.Auth.External)
			}
			if len(errs) != 1 || errors.Is(errs[0], ErrFailsClosed) {
				t.Errorf("errors = %v, want one warning that does not fail closed", errs)
			}
		})
	}
	p, errs := ParseDefaults(map[string]string{"global-auth-url": url, "global-auth-always-set-cookie": "1"})
	if len(errs) != 0 || p.Auth == nil || !p.Auth.External.AlwaysSetCookie {
		t.Errorf("always-set-cookie \"1\": Auth %+v, errors %v; want true, as strconv.ParseBool", p.Auth, errs)
	}
}

package annotations

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestParseRewrite compares the rewrite and redirect families with
// ingress-nginx's rewrite, redirect, alias, upstreamvhost and
// xforwardedprefix parsers.
func TestParseRewrite(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		ann      map[string]string
		want     *Rewrite
		wantHost Host
		wantErrs []string
	}{
		{name: "none"},
		{
			name: "rewrite target with captures and prefix",
			ann:  map[string]string{"rewrite-target": "/$2", "x-forwarded-prefix": "/something"},
			want: &Rewrite{Target: "/$2", XForwardedPrefix: "/something"},
		},
		{
			name:     "rewrite target with an nginx variable",
			ann:      map[string]string{"rewrite-target": "/$host/x"},
			wantErrs: []string{`annotation nginx.ingress.kubernetes.io/rewrite-target: value "/$host/x": "$" must be followed by a group number 1 to 9 (nginx variables are not supported)`},
		},
		{
			name:     "rewrite target with a query",
			ann:      map[string]string{"rewrite-target": "/a?b=c"},
			wantErrs: []string{`annotation nginx.ingress.kubernetes.io/rewrite-target: value "/a?b=c": may hold only letters, digits, "-._~/:" and $1..$9`},
		},
		{
			name:     "app root",
			ann:      map[string]string{"app-root": "/foo"},
			wantHost: Host{AppRoot: "/foo"},
		},
		{
			name:     "app root must be a path",
			ann:      map[string]string{"app-root": "http://foo.com/bar"},
			wantErrs: []string{`annotation nginx.ingress.kubernetes.io/app-root: value "http://foo.com/bar": must be a path starting with "/"`},
		},
		{
			name: "permanent redirect, default code",
			ann:  map[string]string{"permanent-redirect": "http://redirect.example.com"},
			want: &Rewrite{RedirectURL: "http://redirect.example.com", RedirectCode: 301},
		},
		{
			name: "permanent redirect, custom code",
			ann:  map[string]string{"permanent-redirect": "https://x.example.com/a?b=c", "permanent-redirect-code": "308"},
			want: &Rewrite{RedirectURL: "https://x.example.com/a?b=c", RedirectCode: 308},
		},
		{
			name:     "permanent redirect, code out of range",
			ann:      map[string]string{"permanent-redirect": "http://x.example.com", "permanent-redirect-code": "200"},
			want:     &Rewrite{RedirectURL: "http://x.example.com", RedirectCode: 301},
			wantErrs: []string{`annotation nginx.ingress.kubernetes.io/permanent-redirect-code: value "200": must be a status from 300 to 308; 301 used`},
		},
		{
			name: "temporal redirect wins",
			ann: map[string]string{"permanent-redirect": "http://p.example.com", "temporal-redirect": "http://t.example.com",
				"temporal-redirect-code": "307"},
			want: &Rewrite{RedirectURL: "http://t.example.com", RedirectCode: 307},
		},
		{
			name:     "temporal redirect, 308 is not temporal",
			ann:      map[string]string{"temporal-redirect": "http://t.example.com", "temporal-redirect-code": "308"},
			want:     &Rewrite{RedirectURL: "http://t.example.com", RedirectCode: 302},
			wantErrs: []string{`annotation nginx.ingress.kubernetes.io/temporal-redirect-code: value "308": must be a status from 300 to 307; 302 used`},
		},
		{
			name:     "redirect to another scheme is refused",
			ann:      map[string]string{"permanent-redirect": "ftp://x.example.com"},
			wantErrs: []string{`annotation nginx.ingress.kubernetes.io/permanent-redirect: value "ftp://x.example.com": must be an http:// or https:// URL or a path starting with "/"; no redirect`},
		},
		{
			name: "permanent redirect to a path",
			ann:  map[string]string{"permanent-redirect": "/new-location", "relative-redirects": "true"},
			want: &Rewrite{RedirectURL: "/new-location", RedirectCode: 301, RelativeRedirects: true},
		},
		{
			name:     "temporal redirect must be a URL, as ingress-nginx's isValidURL",
			ann:      map[string]string{"temporal-redirect": "/new-location"},
			wantErrs: []string{`annotation nginx.ingress.kubernetes.io/temporal-redirect: value "/new-location": must be an http:// or https:// URL; no redirect`},
		},
		{
			name:     "aliases",
			ann:      map[string]string{"server-alias": "B.example.com, a.example.com,,b.example.com"},
			wantHost: Host{Aliases: []string{"a.example.com", "b.example.com"}},
		},
		{
			name:     "aliases with a wildcard and a regular expression",
			ann:      map[string]string{"server-alias": `a.example.com,*.Example.com,~^www\d+\.example\.com$`},
			wantHost: Host{Aliases: []string{"*.example.com", "a.example.com"}},
			wantErrs: []string{`annotation nginx.ingress.kubernetes.io/server-alias: value "a.example.com,*.Example.com,~^www\\d+\\.example\\.com$": entries ["~^www\\d+\\.example\\.com$"] are not host names or *.wildcards (regular expressions are not supported); ignored`},
		},
		{
			name: "upstream vhost and redirect flags",
			ann: map[string]string{"upstream-vhost": "internal.example.com:8080", "from-to-www-redirect": "true",
				"preserve-trailing-slash": "true", "use-port-in-redirects": "true", "relative-redirects": "true"},
			want:     &Rewrite{UpstreamVhost: "internal.example.com:8080", PreserveTrailingSlash: true, UsePortInRedirects: true, RelativeRedirects: true},
			wantHost: Host{FromToWWW: true},
		},
		{
			// nginx evaluates proxy_set_header Host "<value>": the
			// location's variables and the request's are kept for the
			// build and the proxy.
			name: "upstream vhost with variables",
			ann:  map[string]string{"upstream-vhost": "$service_name.${namespace}.svc:$service_port-$host"},
			want: &Rewrite{UpstreamVhost: "$service_name.${namespace}.svc:$service_port-$host"},
		},
		{
			name:     "upstream vhost with a variable Weir does not know",
			ann:      map[string]string{"upstream-vhost": "$location_path.example.com"},
			wantErrs: []string{`annotation nginx.ingress.kubernetes.io/upstream-vhost: value "$location_path.example.com": variable $location_path is not supported`},
		},
		{
			name:     "upstream vhost that is no host name",
			ann:      map[string]string{"upstream-vhost": "a b"},
			wantErrs: []string{`annotation nginx.ingress.kubernetes.io/upstream-vhost: value "a b": must be a host name, optionally with a port, or hold nginx variables`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ann := map[string]string{}
			for k, v := range tc.ann {
				ann[Prefix+k] = v
			}
			got, errs := Parse(ann, DefaultProxy())
			if diff := cmp.Diff(tc.want, got.Proxy.Rewrite); diff != "" {
				t.Errorf("Parse rewrite (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantHost, got.Host); diff != "" {
				t.Errorf("Parse host (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantErrs, errStrings(t, errs)); diff != "" {
				t.Errorf("Parse errors (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseRewriteDefaults checks the ConfigMap keys of the family and that
// an Ingress's values apply over them without changing the shared default.
func TestParseRewriteDefaults(t *testing.T) {
	t.Parallel()
	p, errs := ParseDefaults(map[string]string{"use-port-in-redirects": "true", "preserve-trailing-slash": "yes"})
	if diff := cmp.Diff(&Rewrite{UsePortInRedirects: true}, p.Rewrite); diff != "" {
		t.Errorf("ParseDefaults rewrite (-want +got):\n%s", diff)
	}
	want := []string{`configmap key preserve-trailing-slash: value "yes": must be "true" or "false"`}
	if diff := cmp.Diff(want, errStrings(t, errs)); diff != "" {
		t.Errorf("ParseDefaults errors (-want +got):\n%s", diff)
	}
	got, _ := Parse(map[string]string{Prefix + "rewrite-target": "/x", Prefix + "use-port-in-redirects": "false"}, p)
	if diff := cmp.Diff(&Rewrite{Target: "/x"}, got.Proxy.Rewrite); diff != "" {
		t.Errorf("Parse over defaults (-want +got):\n%s", diff)
	}
	if !p.Rewrite.UsePortInRedirects {
		t.Error("Parse modified the defaults' Rewrite")
	}
	// The ConfigMap's relative-redirects is absolute_redirect off in
	// http{}: ingress-nginx's annotation only adds it to a location, so
	// "false" there leaves the redirects relative.
	rel, _ := ParseDefaults(map[string]string{"relative-redirects": "true"})
	got, _ = Parse(map[string]string{Prefix + "relative-redirects": "false", Prefix + "permanent-redirect": "/new"}, rel)
	if diff := cmp.Diff(&Rewrite{RedirectURL: "/new", RedirectCode: 301, RelativeRedirects: true}, got.Proxy.Rewrite); diff != "" {
		t.Errorf("Parse relative-redirects false over the ConfigMap's true (-want +got):\n%s", diff)
	}
}

// TestHTTPRedirectCode checks the ConfigMap's http-redirect-code: the
// statuses ingress-nginx accepts, 308 otherwise.
func TestHTTPRedirectCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		v       string
		want    int
		wantErr bool
	}{{"301", 301, false}, {"302", 302, false}, {"+307", 307, false}, {" 307", 308, true}, {"0x12d", 308, true}, {"", 308, true}, {"303", 308, true}, {"x", 308, true}} {
		g, errs := ParseGlobal(map[string]string{"http-redirect-code": tc.v})
		if got := g.HTTPRedirectCode(); got != tc.want || (len(errs) > 0) != tc.wantErr {
			t.Errorf("http-redirect-code %q: %d, errors %v; want %d, error %v", tc.v, got, errs, tc.want, tc.wantErr)
		}
	}
	if got := (Global{}).HTTPRedirectCode(); got != 308 {
		t.Errorf("default http-redirect-code %d, want 308", got)
	}
}

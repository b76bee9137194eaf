package annotations

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseSourceRange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    []string
		wantBad []string
	}{
		{name: "empty", in: ""},
		{name: "cidrs and addresses", in: "10.0.0.0/8, 192.168.1.7 ,2001:db8::/32,::1", want: []string{"10.0.0.0/8", "192.168.1.7/32", "2001:db8::/32", "::1/128"}},
		{name: "host bits cleared", in: "10.1.2.3/8,2001:db8::5/64", want: []string{"10.0.0.0/8", "2001:db8::/64"}},
		{name: "mapped unmapped", in: "::ffff:10.0.0.1,::ffff:10.0.0.0/104", want: []string{"10.0.0.1/32", "10.0.0.0/8"}},
		{name: "duplicates and empty entries", in: "10.0.0.0/8,,10.0.0.1/8, ", want: []string{"10.0.0.0/8"}},
		{name: "bad entries", in: "10.0.0.0/33,foo,1.2.3.4,fe80::1%eth0,10.0.0.0/8/8", want: []string{"1.2.3.4/32"}, wantBad: []string{"10.0.0.0/33", "foo", "fe80::1%eth0", "10.0.0.0/8/8"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, bad := ParseSourceRange(tc.in)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("prefixes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantBad, bad); diff != "" {
				t.Errorf("bad (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseSourceRangeAnnotations(t *testing.T) {
	t.Parallel()
	cmDefaults := DefaultProxy()
	cmDefaults.SourceRange = &SourceRange{Allow: []string{"10.0.0.0/8"}, Deny: []string{"10.9.0.0/16"}}
	tests := []struct {
		name     string
		defaults Proxy
		ann      map[string]string
		want     *SourceRange
		wantErrs []string
	}{
		{name: "none", defaults: DefaultProxy()},
		{
			name:     "whitelist",
			defaults: DefaultProxy(),
			ann:      map[string]string{Prefix + "whitelist-source-range": "10.0.0.0/8,127.0.0.1"},
			want:     &SourceRange{Allow: []string{"10.0.0.0/8", "127.0.0.1/32"}},
		},
		{
			name:     "allowlist wins over whitelist",
			defaults: DefaultProxy(),
			ann: map[string]string{
				Prefix + "whitelist-source-range": "10.0.0.0/8",
				Prefix + "allowlist-source-range": "192.168.0.0/16",
			},
			want: &SourceRange{Allow: []string{"192.168.0.0/16"}},
		},
		{
			name:     "deny",
			defaults: DefaultProxy(),
			ann:      map[string]string{Prefix + "denylist-source-range": "2001:db8::/32"},
			want:     &SourceRange{Deny: []string{"2001:db8::/32"}},
		},
		{
			name:     "invalid entry denies",
			defaults: DefaultProxy(),
			ann:      map[string]string{Prefix + "denylist-source-range": "10.0.0.0/8,bogus"},
			want:     &SourceRange{InvalidDeny: `annotation nginx.ingress.kubernetes.io/denylist-source-range: value "10.0.0.0/8,bogus": entry "bogus" is not a CIDR or an IP address; the route is denied (503): access control fails closed`},
			wantErrs: []string{`annotation nginx.ingress.kubernetes.io/denylist-source-range: value "10.0.0.0/8,bogus": entry "bogus" is not a CIDR or an IP address; the route is denied (503): access control fails closed`},
		},
		{
			name:     "semicolon separator denies",
			defaults: DefaultProxy(),
			ann:      map[string]string{Prefix + "whitelist-source-range": "10.0.0.0/8;192.168.0.0/16"},
			want:     &SourceRange{InvalidAllow: `annotation nginx.ingress.kubernetes.io/whitelist-source-range: value "10.0.0.0/8;192.168.0.0/16": entry "10.0.0.0/8;192.168.0.0/16" is not a CIDR or an IP address; the route is denied (503): access control fails closed`},
			wantErrs: []string{`annotation nginx.ingress.kubernetes.io/whitelist-source-range: value "10.0.0.0/8;192.168.0.0/16": entry "10.0.0.0/8;192.168.0.0/16" is not a CIDR or an IP address; the route is denied (503): access control fails closed`},
		},
		{
			name:     "trailing comma denies",
			defaults: DefaultProxy(),
			ann:      map[string]string{Prefix + "allowlist-source-range": "127.0.0.0/8,"},
			want:     &SourceRange{InvalidAllow: `annotation nginx.ingress.kubernetes.io/allowlist-source-range: value "127.0.0.0/8,": entry "" is not a CIDR or an IP address; the route is denied (503): access control fails closed`},
			wantErrs: []string{`annotation nginx.ingress.kubernetes.io/allowlist-source-range: value "127.0.0.0/8,": entry "" is not a CIDR or an IP address; the route is denied (503): access control fails closed`},
		},
		{
			name:     "empty value denies",
			defaults: DefaultProxy(),
			ann:      map[string]string{Prefix + "denylist-source-range": ""},
			want:     &SourceRange{InvalidDeny: `annotation nginx.ingress.kubernetes.io/denylist-source-range: value "": entry "" is not a CIDR or an IP address; the route is denied (503): access control fails closed`},
			wantErrs: []string{`annotation nginx.ingress.kubernetes.io/denylist-source-range: value "": entry "" is not a CIDR or an IP address; the route is denied (503): access control fails closed`},
		},
		{
			name:     "valid annotation replaces an invalid configmap allow list, not an invalid deny list",
			defaults: Proxy{SourceRange: &SourceRange{InvalidAllow: "cm allow", InvalidDeny: "cm deny"}},
			ann:      map[string]string{Prefix + "whitelist-source-range": "127.0.0.0/8"},
			want:     &SourceRange{Allow: []string{"127.0.0.0/8"}, InvalidDeny: "cm deny"},
		},
		{name: "configmap defaults inherited", defaults: cmDefaults, want: cmDefaults.SourceRange},
		{
			name:     "annotation replaces the configmap list",
			defaults: cmDefaults,
			ann:      map[string]string{Prefix + "whitelist-source-range": "127.0.0.0/8"},
			want:     &SourceRange{Allow: []string{"127.0.0.0/8"}, Deny: []string{"10.9.0.0/16"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			before := cmDefaults.SourceRange.Allow[0]
			cfg, errs := Parse(tc.ann, tc.defaults)
			if diff := cmp.Diff(tc.want, cfg.Proxy.SourceRange); diff != "" {
				t.Errorf("source range (-want +got):\n%s", diff)
			}
			var got []string
			for _, err := range errs {
				got = append(got, err.Error())
			}
			if diff := cmp.Diff(tc.wantErrs, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if cmDefaults.SourceRange.Allow[0] != before {
				t.Errorf("defaults modified")
			}
		})
	}
}

func TestParseDefaultsSourceRange(t *testing.T) {
	t.Parallel()
	p, errs := ParseDefaults(map[string]string{
		"whitelist-source-range": "10.0.0.0/8, x",
		"denylist-source-range":  "10.1.0.0/16,,",
	})
	const msg = `configmap key whitelist-source-range: value "10.0.0.0/8, x": entry "x" is not a CIDR or an IP address; the route is denied (503): access control fails closed`
	want := &SourceRange{Deny: []string{"10.1.0.0/16"}, InvalidAllow: msg}
	if diff := cmp.Diff(want, p.SourceRange); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if len(errs) != 1 || errs[0].Error() != msg || !errors.Is(errs[0], ErrDenied) {
		t.Errorf("errors: %v", errs)
	}
	if !p.SourceRange.IsZero() && p.SourceRange.Denied() != msg {
		t.Errorf("Denied() = %q", p.SourceRange.Denied())
	}
}

package snapshot

import (
	"bytes"
	"reflect"
	"slices"

	"github.com/weir-lb/weir/userspace/annotations"
)

// Equal reports whether s and o are the same Server: same Host, UseRegex,
// TLS and Paths (backends, endpoints, proxy settings and canaries included), a nil
// slice differing from an empty one as it does in their JSON.
//
// Snapshots are immutable, so two Servers whose Paths share one backing
// array are equal without comparing them: that is the case of a Server
// carried from one Snapshot to the next by Delta.Apply, and it makes Equal
// O(1) there. Otherwise it compares field by field (TestEqualCoversEveryField
// fails when a field is added and not compared here).
func (s *Server) Equal(o *Server) bool {
	if s == o {
		return true
	}
	if s == nil || o == nil || s.Host != o.Host || s.UseRegex != o.UseRegex || len(s.Paths) != len(o.Paths) ||
		(s.Paths == nil) != (o.Paths == nil) || !s.TLS.equal(o.TLS) || s.AppRoot != o.AppRoot ||
		s.RedirectFrom != o.RedirectFrom || !strsEqual(s.Aliases, o.Aliases) || !strsEqual(s.NoTLSAliases, o.NoTLSAliases) {
		return false
	}
	if len(s.Paths) == 0 || &s.Paths[0] == &o.Paths[0] {
		return true
	}
	for i := range s.Paths {
		if !s.Paths[i].equal(&o.Paths[i]) {
			return false
		}
	}
	return true
}

func (p *Path) equal(o *Path) bool {
	if p.Path != o.Path || p.Match != o.Match || p.SlashRedirect != o.SlashRedirect || p.CookiePath != o.CookiePath || !p.Backend.equal(&o.Backend) ||
		len(p.Canaries) != len(o.Canaries) || (p.Canaries == nil) != (o.Canaries == nil) {
		return false
	}
	for i := range p.Canaries {
		a, b := &p.Canaries[i], &o.Canaries[i]
		if a.Header != b.Header || a.HeaderValue != b.HeaderValue || a.HeaderPattern != b.HeaderPattern ||
			a.Cookie != b.Cookie || a.Weight != b.Weight || a.WeightTotal != b.WeightTotal || !a.Backend.equal(&b.Backend) {
			return false
		}
	}
	return true
}

func (b *Backend) equal(o *Backend) bool {
	return b.Ingress == o.Ingress && b.Service == o.Service && b.Port == o.Port && strsEqual(b.Endpoints, o.Endpoints) &&
		b.Unavailable == o.Unavailable && b.DefaultUpstream == o.DefaultUpstream && proxyEqual(&b.Proxy, &o.Proxy) && b.SSLRedirect == o.SSLRedirect && b.ForceSSLRedirect == o.ForceSSLRedirect &&
		upstreamTLSEqual(b.UpstreamTLS, o.UpstreamTLS) && (b.ErrorBackend == nil) == (o.ErrorBackend == nil) &&
		(b.ErrorBackend == nil || b.ErrorBackend.equal(o.ErrorBackend))
}

func upstreamTLSEqual(a, b *UpstreamTLS) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Secret == b.Secret && a.Denied == b.Denied && bytes.Equal(a.CertPEM, b.CertPEM) &&
		bytes.Equal(a.KeyPEM, b.KeyPEM) && bytes.Equal(a.CAPEM, b.CAPEM)
}

func proxyEqual(a, b *annotations.Proxy) bool {
	// Everything but the pointers compares with ==: a field that is not
	// comparable would stop this from compiling.
	x, y := *a, *b
	x.SourceRange, y.SourceRange = nil, nil
	x.ConnLimit, y.ConnLimit = nil, nil
	x.Balance, y.Balance = nil, nil
	x.Rewrite, y.Rewrite = nil, nil
	x.Auth, y.Auth = nil, nil
	x.Upstream, y.Upstream = nil, nil
	x.RateLimit, y.RateLimit = nil, nil
	x.CORS, y.CORS = nil, nil
	x.CustomHeaders, y.CustomHeaders = nil, nil
	x.Mirror, y.Mirror = nil, nil
	if x != y || !ptrEqual(a.Balance, b.Balance) || !ptrEqual(a.Rewrite, b.Rewrite) || !annotations.AuthEqual(a.Auth, b.Auth) ||
		!annotations.UpstreamEqual(a.Upstream, b.Upstream) ||
		!deepPtrEqual(a.RateLimit, b.RateLimit) || !deepPtrEqual(a.CORS, b.CORS) ||
		!deepPtrEqual(a.CustomHeaders, b.CustomHeaders) || !deepPtrEqual(a.Mirror, b.Mirror) {
		return false
	}
	if c, d := a.ConnLimit, b.ConnLimit; c == nil || d == nil {
		if c != d {
			return false
		}
	} else if c.Connections != d.Connections || !strsEqual(c.Allowlist, d.Allowlist) {
		return false
	}
	r, s := a.SourceRange, b.SourceRange
	if r == nil || s == nil {
		return r == s
	}
	return strsEqual(r.Allow, s.Allow) && strsEqual(r.Deny, s.Deny) && r.InvalidAllow == s.InvalidAllow && r.InvalidDeny == s.InvalidDeny
}

// ptrEqual reports whether a and b are both nil or point to equal values.
func ptrEqual[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// deepPtrEqual is ptrEqual for values with slices (nil and empty slices
// differ, as in strsEqual).
func deepPtrEqual[T any](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return reflect.DeepEqual(*a, *b)
}

func strsEqual(a, b []string) bool {
	return (a == nil) == (b == nil) && slices.Equal(a, b)
}

// equal reports whether c and o are the same certificate: same Secret,
// Hosts and material (by Digest when both have one).
func (c *Certificate) equal(o *Certificate) bool {
	if c.Secret != o.Secret || !strsEqual(c.Hosts, o.Hosts) || c.Digest != o.Digest {
		return false
	}
	if c.Digest != "" {
		return true
	}
	return (c.CertPEM == nil) == (o.CertPEM == nil) && bytes.Equal(c.CertPEM, o.CertPEM) &&
		(c.KeyPEM == nil) == (o.KeyPEM == nil) && bytes.Equal(c.KeyPEM, o.KeyPEM)
}

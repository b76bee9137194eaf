package annotations

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// SourceRange is the typed configuration of the source-range family: which
// client addresses a route serves. Deny is checked before Allow. Both lists
// hold normalised prefixes ("10.0.0.0/8", "2001:db8::/32", a bare address
// as "/32" or "/128"), de-duplicated, in the order written.
type SourceRange struct {
	// Allow is allowlist-source-range, else whitelist-source-range: when
	// non-empty, a client outside every prefix gets 403. Nil means any
	// client. Default nil (or the ConfigMap's whitelist-source-range).
	Allow []string `json:"allow,omitempty"`
	// Deny is denylist-source-range: a client inside any prefix gets 403.
	// Nil means none. Default nil (or the ConfigMap's denylist-source-range).
	Deny []string `json:"deny,omitempty"`
}

// IsZero reports whether neither list restricts anything.
func (s SourceRange) IsZero() bool { return len(s.Allow) == 0 && len(s.Deny) == 0 }

// sourceRangeMeta is the metadata table of the source-range family.
var sourceRangeMeta = []Meta{
	{
		Key: "whitelist-source-range", ConfigMap: true,
		Doc:      "Comma-separated CIDRs or addresses (IPv4 or IPv6) allowed to reach the route; any other client gets 403. Invalid entries are dropped with a warning. On a listener port where every route has the same list, the XDP program drops other sources before the kernel stack.",
		Validate: validateSourceRange,
	},
	{
		Key:      "allowlist-source-range",
		Doc:      "Newer name of `whitelist-source-range`; wins when both are set.",
		Validate: validateSourceRange,
	},
	{
		Key: "denylist-source-range", ConfigMap: true,
		Doc:      "Comma-separated CIDRs or addresses (IPv4 or IPv6) refused with 403, checked before the allow list. On a listener port where every route has the same list, the XDP program drops them before the kernel stack.",
		Validate: validateSourceRange,
	},
}

// errNoValidEntry is the reason for a source-range value none of whose
// entries is a CIDR or an address.
var errNoValidEntry = errors.New("no valid CIDR or address; the annotation is ignored")

func validateSourceRange(v string) error {
	_, bad := ParseSourceRange(v)
	if len(bad) > 0 {
		return fmt.Errorf("invalid entries %q", bad)
	}
	return nil
}

// ParseSourceRange splits a comma-separated list of CIDRs or addresses into
// normalised prefixes (host bits cleared, a bare address as a /32 or /128,
// IPv4-mapped IPv6 as IPv4), de-duplicated in the order written. Empty
// entries are skipped; the entries that are neither are returned as bad.
func ParseSourceRange(v string) (prefixes, bad []string) {
	seen := map[string]bool{}
	for _, e := range strings.Split(v, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		p, ok := parsePrefix(e)
		if !ok {
			bad = append(bad, e)
			continue
		}
		s := p.String()
		if !seen[s] {
			seen[s] = true
			prefixes = append(prefixes, s)
		}
	}
	return prefixes, bad
}

func parsePrefix(e string) (netip.Prefix, bool) {
	if !strings.Contains(e, "/") {
		a, err := netip.ParseAddr(e)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, false
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	p, err := netip.ParsePrefix(e)
	if err != nil {
		return netip.Prefix{}, false
	}
	if a := p.Addr(); a.Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, false
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), true
}

// parseSourceRange applies the source-range family to *dst, replacing it
// by a new SourceRange when a list changes (*dst may be shared). allowKeys
// are the keys naming the allow list, the winning one first. An entry that
// is not a CIDR or an address is dropped and reported through wrap; a value
// with no valid entry leaves the list unchanged.
func parseSourceRange(get lookup, dst **SourceRange, wrap func(key, value string, err error) error, allowKeys ...string) []error {
	var s SourceRange
	if *dst != nil {
		s = **dst
	}
	defer func() {
		switch {
		case s.IsZero():
			*dst = nil
		case *dst == nil || !slices.Equal(s.Allow, (*dst).Allow) || !slices.Equal(s.Deny, (*dst).Deny):
			*dst = &s
		}
	}()
	var errs []error
	list := func(key string, dst *[]string) {
		v, ok := get(key)
		if !ok {
			return
		}
		prefixes, bad := ParseSourceRange(v)
		for _, e := range bad {
			errs = append(errs, wrap(key, v, fmt.Errorf("entry %q is not a CIDR or an IP address; dropped", e)))
		}
		if len(prefixes) == 0 {
			errs = append(errs, wrap(key, v, errNoValidEntry))
			return
		}
		*dst = prefixes
	}
	for _, k := range allowKeys {
		if _, ok := get(k); ok {
			list(k, &s.Allow)
			break
		}
	}
	list("denylist-source-range", &s.Deny)
	return errs
}

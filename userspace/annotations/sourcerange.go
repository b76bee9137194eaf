package annotations

import (
	"cmp"
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
//
// Access control fails closed: a list whose value does not parse denies
// the route (every request gets 503, as ingress-nginx answers a location it
// denies) instead of being dropped.
type SourceRange struct {
	// Allow is allowlist-source-range, else whitelist-source-range: when
	// non-empty, a client outside every prefix gets 403. Nil means any
	// client. Default nil (or the ConfigMap's whitelist-source-range).
	Allow []string `json:"allow,omitempty"`
	// Deny is denylist-source-range: a client inside any prefix gets 403.
	// Nil means none. Default nil (or the ConfigMap's denylist-source-range).
	Deny []string `json:"deny,omitempty"`
	// InvalidAllow, when not empty, is why the allow list's value was
	// rejected (the key and value, the bad entry): the route is denied.
	// An allow list the Ingress sets validly replaces an invalid one
	// inherited from the ConfigMap. Default "".
	InvalidAllow string `json:"invalidAllow,omitempty"`
	// InvalidDeny is InvalidAllow for the deny list. Default "".
	InvalidDeny string `json:"invalidDeny,omitempty"`
}

// IsZero reports whether neither list restricts anything.
func (s SourceRange) IsZero() bool {
	return len(s.Allow) == 0 && len(s.Deny) == 0 && s.Denied() == ""
}

// Denied returns why the route is denied to every client (a list that did
// not parse), or "" when the lists apply.
func (s SourceRange) Denied() string { return cmp.Or(s.InvalidDeny, s.InvalidAllow) }

// sourceRangeMeta is the metadata table of the source-range family.
var sourceRangeMeta = []Meta{
	{
		Key: "whitelist-source-range", ConfigMap: true,
		Doc:               "Comma-separated CIDRs or addresses (IPv4 or IPv6) allowed to reach the route; any other client gets 403. Fails closed, as ingress-nginx: a value with any invalid entry (an empty one included, e.g. `10.0.0.0/8;192.168.0.0/16` or a trailing comma) denies the route, which answers 503, with an InvalidAnnotation warning and Event; an invalid ConfigMap value (where empty entries are skipped) denies every route that does not set its own list. On a listener port where every route has the same list, the XDP program drops other sources before the kernel stack.",
		Validate:          validateSourceRange,
		ValidateConfigMap: validateConfigMapSourceRange,
	},
	{
		Key:      "allowlist-source-range",
		Doc:      "Newer name of `whitelist-source-range`; wins when both are set. Fails closed the same way.",
		Validate: validateSourceRange,
	},
	{
		Key: "denylist-source-range", ConfigMap: true,
		Doc:               "Comma-separated CIDRs or addresses (IPv4 or IPv6) refused with 403, checked before the allow list. Fails closed like `whitelist-source-range`: an invalid value denies the route (503). On a listener port where every route has the same list, the XDP program drops them before the kernel stack.",
		Validate:          validateSourceRange,
		ValidateConfigMap: validateConfigMapSourceRange,
	},
}

// ErrFailsClosed marks a rejected value whose setting fails closed instead
// of keeping a default: access control denies, trust trusts nobody.
var ErrFailsClosed = errors.New("fails closed")

// ErrDenied marks a source-range value that does not parse: the routes it
// applies to are denied (503) until it is fixed. It wraps ErrFailsClosed.
var ErrDenied = fmt.Errorf("denied (503): access control %w", ErrFailsClosed)

// validateSourceRange accepts the default "" (no list) and a list whose
// every entry is a CIDR or an address.
func validateSourceRange(v string) error {
	if v == "" {
		return nil
	}
	return sourceRangeError(parseSourceRangeList(v, true))
}

// validateConfigMapSourceRange is validateSourceRange for the ConfigMap,
// which skips empty entries.
func validateConfigMapSourceRange(v string) error {
	return sourceRangeError(ParseSourceRange(v))
}

func sourceRangeError(_, bad []string) error {
	if len(bad) > 0 {
		return fmt.Errorf("invalid entries %q", bad)
	}
	return nil
}

// ParseSourceRange splits a comma-separated list of CIDRs or addresses into
// normalised prefixes (host bits cleared, a bare address as a /32 or /128,
// IPv4-mapped IPv6 as IPv4), de-duplicated in the order written. Empty
// entries are skipped, as in ingress-nginx's ConfigMap; the entries that are
// neither are returned as bad.
func ParseSourceRange(v string) (prefixes, bad []string) { return parseSourceRangeList(v, false) }

// parseSourceRangeList is ParseSourceRange; strict reports an empty entry
// (or an empty value) as bad, as ingress-nginx's annotation validation
// does.
func parseSourceRangeList(v string, strict bool) (prefixes, bad []string) {
	seen := map[string]bool{}
	for _, e := range strings.Split(v, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			if strict {
				bad = append(bad, e)
			}
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
// are the keys naming the allow list, the winning one first; strict is for
// annotations (see parseSourceRangeList). A value with an entry that is not
// a CIDR or an address fails closed: the list is emptied and the reason
// kept in InvalidAllow or InvalidDeny, so the routes are denied, and an
// error wrapping ErrDenied is reported through wrap.
func parseSourceRange(get lookup, dst **SourceRange, wrap func(key, value string, err error) error, strict bool, allowKeys ...string) []error {
	var s SourceRange
	if *dst != nil {
		s = **dst
	}
	defer func() {
		switch {
		case s.IsZero():
			*dst = nil
		case *dst == nil || s.InvalidAllow != (*dst).InvalidAllow || s.InvalidDeny != (*dst).InvalidDeny ||
			!slices.Equal(s.Allow, (*dst).Allow) || !slices.Equal(s.Deny, (*dst).Deny):
			*dst = &s
		}
	}()
	var errs []error
	list := func(key string, dst *[]string, invalid *string) {
		v, ok := get(key)
		if !ok {
			return
		}
		prefixes, bad := parseSourceRangeList(v, strict)
		if len(bad) > 0 {
			err := wrap(key, v, fmt.Errorf("entry %q is not a CIDR or an IP address; the route is %w", bad[0], ErrDenied))
			errs = append(errs, err)
			*dst, *invalid = nil, err.Error()
			return
		}
		*dst, *invalid = prefixes, ""
	}
	for _, k := range allowKeys {
		if _, ok := get(k); ok {
			list(k, &s.Allow, &s.InvalidAllow)
			break
		}
	}
	list("denylist-source-range", &s.Deny, &s.InvalidDeny)
	return errs
}

package annotations

import (
	"fmt"
	"regexp"
	"strings"
)

// Block is the controller ConfigMap's global filters: block-cidrs,
// block-user-agents and block-referers. A request they match gets 403 on
// every server, as ingress-nginx's http-level `deny` and its
// `if ($block_ua)` / `if ($block_ref)` server rules. The zero value blocks
// nothing.
type Block struct {
	// CIDRs are block-cidrs, normalised prefixes: client addresses refused
	// in the access phase. Nil means none.
	CIDRs []string `json:"cidrs,omitempty"`
	// UserAgents are block-user-agents entries as nginx's map reads them:
	// a string matches the whole User-Agent ignoring case, "~re" is a
	// case-sensitive and "~*re" a case-insensitive regular expression
	// searched in it. Nil means none.
	UserAgents []string `json:"userAgents,omitempty"`
	// Referers are block-referers entries, read as UserAgents are, against
	// the Referer header. Nil means none.
	Referers []string `json:"referers,omitempty"`
}

var blockMeta = []Meta{
	{
		Key: "block-cidrs", Default: "", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "Comma-separated CIDRs or addresses refused with 403 on every host (nginx's http-level `deny`), in the access phase: after the redirects. An invalid entry is dropped with an `InvalidConfigMapValue` warning; the others still block. Weir applies them on routes with their own source ranges too, where nginx's inheritance would skip them.",
		Validate: func(v string) error { _, err := parseBlockCIDRs(v); return err },
	},
	{
		Key: "block-user-agents", Default: "", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "Comma-separated `User-Agent` values refused with 403 on every host before routing, as nginx's `map`: a plain entry matches the whole value ignoring case, `~re` is a case-sensitive and `~*re` a case-insensitive regular expression (RE2: no backreferences or lookaround). An invalid entry is dropped with a warning.",
		Validate: func(v string) error { _, err := parseBlockPatterns(v); return err },
	},
	{
		Key: "block-referers", Default: "", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "Comma-separated `Referer` values refused with 403 on every host before routing, read as `block-user-agents`.",
		Validate: func(v string) error { _, err := parseBlockPatterns(v); return err },
	},
}

// parseBlock reads the block-* keys of data into b.
func parseBlock(data map[string]string, b *Block, wrap func(key, value string, err error)) {
	if v, ok := data["block-cidrs"]; ok {
		ps, err := parseBlockCIDRs(v)
		if err != nil {
			wrap("block-cidrs", v, err)
		}
		b.CIDRs = ps
	}
	for _, k := range []struct {
		key string
		dst *[]string
	}{{"block-user-agents", &b.UserAgents}, {"block-referers", &b.Referers}} {
		if v, ok := data[k.key]; ok {
			ps, err := parseBlockPatterns(v)
			if err != nil {
				wrap(k.key, v, err)
			}
			*k.dst = ps
		}
	}
}

// parseBlockCIDRs returns the valid prefixes of a comma-separated list and
// an error naming the invalid entries, which are dropped.
func parseBlockCIDRs(v string) ([]string, error) {
	prefixes, bad := ParseSourceRange(v)
	if len(bad) > 0 {
		return prefixes, fmt.Errorf("entries %q are not CIDRs or IP addresses and block nothing", bad)
	}
	return prefixes, nil
}

// parseBlockPatterns returns the valid entries of a comma-separated list
// (trimmed, empty ones skipped, as ingress-nginx's template trims them) and
// an error naming the invalid regular expressions, which are dropped.
func parseBlockPatterns(v string) ([]string, error) {
	var ok, bad []string
	for _, e := range strings.Split(v, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if _, err := CompileBlockPattern(e); err != nil {
			bad = append(bad, e)
			continue
		}
		ok = append(ok, e)
	}
	if len(bad) > 0 {
		return ok, fmt.Errorf("entries %q are not valid regular expressions and block nothing", bad)
	}
	return ok, nil
}

// BlockMatcher reports whether a header value matches one block-* entry.
type BlockMatcher func(value string) bool

// CompileBlockPattern compiles one block-user-agents or block-referers
// entry as nginx's map reads it: "~re" case-sensitive, "~*re"
// case-insensitive regular expressions found anywhere in the value, any
// other string equal to the whole value ignoring case. Expressions are
// RE2, which reads PCRE's escapes of punctuation and spaces alike.
func CompileBlockPattern(e string) (BlockMatcher, error) {
	re, isRE := strings.CutPrefix(e, "~")
	if !isRE {
		return func(v string) bool { return strings.EqualFold(v, e) }, nil
	}
	flags := ""
	if r, ok := strings.CutPrefix(re, "*"); ok {
		re, flags = r, "(?i)"
	}
	c, err := regexp.Compile(flags + re)
	if err != nil {
		return nil, fmt.Errorf("compile block pattern %q: %w", e, err)
	}
	return c.MatchString, nil
}

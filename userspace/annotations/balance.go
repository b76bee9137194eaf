package annotations

import (
	"errors"
	"fmt"
	"strings"
)

// Balance is the per-Ingress configuration of the hash and session-affinity
// families (upstream-hash-by*, affinity, affinity-mode,
// affinity-canary-behavior, session-cookie-*). Every field is comparable, so
// a Balance compares with ==. As in ingress-nginx, cookie affinity takes
// precedence over upstream-hash-by, which takes precedence over
// load-balance.
type Balance struct {
	// HashBy is upstream-hash-by: the nginx variables and text whose value
	// is hashed onto the endpoints' consistent-hash ring (see
	// ParseHashBy). "" means none (the default).
	HashBy string `json:"hashBy,omitempty"`
	// HashBySubset is upstream-hash-by-subset: the key selects a subset of
	// HashBySubsetSize endpoints and a random one of them serves. Default
	// false.
	HashBySubset bool `json:"hashBySubset,omitempty"`
	// HashBySubsetSize is upstream-hash-by-subset-size, at least 1.
	// Default 3.
	HashBySubsetSize int `json:"hashBySubsetSize,omitempty"`

	// Cookie is true for affinity "cookie", the only affinity type; false
	// means no session affinity (the default).
	Cookie bool `json:"cookie,omitempty"`
	// Persistent is affinity-mode "persistent": the cookie names its
	// endpoint for good. False is "balanced" (the default): the cookie holds
	// a key hashed onto the endpoints' ring, so some sessions move when
	// endpoints are added.
	Persistent bool `json:"persistent,omitempty"`
	// CanaryLegacy is affinity-canary-behavior "legacy": a canary of this
	// Ingress has this Ingress's own affinity, not the main rule's (none
	// unless it sets affinity). False is "sticky" (the default): the canary
	// keeps the main rule's affinity, so a client served by the canary
	// stays on it.
	CanaryLegacy bool `json:"canaryLegacy,omitempty"`
	// CookieName is session-cookie-name. Default "INGRESSCOOKIE".
	CookieName string `json:"cookieName,omitempty"`
	// CookiePath is session-cookie-path; "" means the path of the rule.
	CookiePath string `json:"cookiePath,omitempty"`
	// CookieDomain is session-cookie-domain; "" means no Domain attribute.
	CookieDomain string `json:"cookieDomain,omitempty"`
	// CookieExpires is session-cookie-expires in seconds from now, as an
	// integer text; "" means no Expires attribute.
	CookieExpires string `json:"cookieExpires,omitempty"`
	// CookieMaxAge is session-cookie-max-age in seconds, as an integer text;
	// "" means no Max-Age attribute.
	CookieMaxAge string `json:"cookieMaxAge,omitempty"`
	// CookieSecure is session-cookie-secure: always mark the cookie Secure.
	// False (the default) marks it Secure on HTTPS requests only.
	CookieSecure bool `json:"cookieSecure,omitempty"`
	// CookieSameSite is session-cookie-samesite as written (None, Lax or
	// Strict in any case), or "" for no SameSite attribute (the default).
	CookieSameSite string `json:"cookieSameSite,omitempty"`
	// CookieConditionalSameSiteNone is
	// session-cookie-conditional-samesite-none: omit SameSite=None for the
	// user agents known to reject it. Default false.
	CookieConditionalSameSiteNone bool `json:"cookieConditionalSameSiteNone,omitempty"`
	// CookieChangeOnFailure is session-cookie-change-on-failure: when the
	// request's sticky endpoint failed and the request is passed to
	// another, the cookie is changed to name that one. Default false.
	CookieChangeOnFailure bool `json:"cookieChangeOnFailure,omitempty"`
}

// DefaultCookieName is the session cookie's name when session-cookie-name
// is not set, as in ingress-nginx.
const DefaultCookieName = "INGRESSCOOKIE"

// balanceMeta is the metadata table of the hash and affinity families.
var balanceMeta = []Meta{
	{
		Key: "upstream-hash-by", Default: "",
		Doc:      "Consistent hashing of the requests onto the endpoints (ingress-nginx's chash ring: 160 CRC32 points per endpoint) by nginx variables and text, e.g. `$request_uri`, `$host$request_uri`, `${remote_addr}-x`. Variables: `request_uri`, `uri`, `document_uri`, `args`, `query_string`, `is_args`, `host`, `remote_addr`, `binary_remote_addr`, `scheme`, `request_method`, `server_protocol`, `request`, `http_<name>`, `cookie_<name>`, `arg_<name>`; another is rejected with a warning and the Ingress is balanced by `load-balance`.",
		Validate: func(v string) error { _, err := ParseHashBy(v); return err },
	},
	{
		Key: "upstream-hash-by-subset", Default: "false",
		Doc:      "`\"true\"`: the hash selects a subset of endpoints, and a random endpoint of the subset serves.",
		Validate: func(v string) error { _, err := parseBool(v); return err },
	},
	{
		Key: "upstream-hash-by-subset-size", Default: "3",
		Doc:      "Endpoints per subset of `upstream-hash-by-subset`; 0 means the default, as in ingress-nginx.",
		Validate: func(v string) error { _, err := parseSubsetSize(v); return err },
	},
	{
		Key: "affinity", Default: "",
		Doc:      "`cookie` pins a client to an endpoint by a session cookie; the only type. It takes precedence over `upstream-hash-by` and `load-balance`. See [Session affinity](#session-affinity).",
		Validate: func(v string) error { return oneOf(v, "", "cookie") },
	},
	{
		Key: "affinity-mode", Default: "balanced",
		Doc:      "`balanced`: the cookie holds a key hashed onto the endpoints, so some sessions move to an endpoint added; `persistent`: the cookie names its endpoint until that endpoint is gone.",
		Validate: func(v string) error { return oneOf(v, "balanced", "persistent") },
	},
	{
		Key: "affinity-canary-behavior", Default: "sticky",
		Doc:      "On a canary Ingress: `sticky` gives the canary the main rule's affinity, so a client the canary served stays on it; `legacy` gives it the canary Ingress's own (none unless it sets `affinity`).",
		Validate: func(v string) error { return oneOf(v, "sticky", "legacy") },
	},
	{
		Key: "session-cookie-name", Default: DefaultCookieName,
		Doc:      "Name of the affinity cookie (letters, digits, `-._~`); an invalid name is replaced by the default with a warning.",
		Validate: func(v string) error { return charsIn(v, cookieNameChars) },
	},
	{
		Key: "session-cookie-path", Default: "",
		Doc:      "Path attribute of the affinity cookie; default the path of the rule (set it when the paths are regular expressions).",
		Validate: func(v string) error { return charsIn(v, cookiePathChars) },
	},
	{
		Key: "session-cookie-domain", Default: "",
		Doc:      "Domain attribute of the affinity cookie; default none.",
		Validate: func(v string) error { return charsIn(v, cookieNameChars) },
	},
	{
		Key: "session-cookie-expires", Default: "",
		Doc:      "Seconds from now written as the cookie's Expires date (nginx's cookie time format); default none, a session cookie.",
		Validate: validateCookieSeconds,
	},
	{
		Key: "session-cookie-max-age", Default: "",
		Doc:      "Max-Age attribute of the affinity cookie, in seconds; default none.",
		Validate: validateCookieSeconds,
	},
	{
		Key: "session-cookie-secure", Default: "false",
		Doc:      "`\"true\"` marks the cookie Secure on every request; otherwise it is Secure on HTTPS requests only.",
		Validate: func(v string) error { _, err := parseBool(v); return err },
	},
	{
		Key: "session-cookie-samesite", Default: "",
		Doc:      "SameSite attribute of the cookie: `None`, `Lax` or `Strict`, any case, written as given (`session-cookie-conditional-samesite-none` applies to `None` only, as ingress-nginx's); default none.",
		Validate: func(v string) error { _, err := parseSameSite(v); return err },
	},
	{
		Key: "session-cookie-conditional-samesite-none", Default: "false",
		Doc:      "`\"true\"` omits `SameSite=None` for the user agents known to reject it (Chrome 50 to 69, iOS 12, macOS 10.14 Safari).",
		Validate: func(v string) error { _, err := parseBool(v); return err },
	},
	{
		Key: "session-cookie-change-on-failure", Default: "false",
		Doc:      "`\"true\"`: when the sticky endpoint fails and the request is passed to another (`proxy-next-upstream`), the cookie names the new one; otherwise the cookie is kept.",
		Validate: func(v string) error { _, err := parseBool(v); return err },
	},
}

const (
	cookieNameChars = "-._~"
	cookiePathChars = "-._~/:,?&="
)

// charsIn accepts letters, digits and the bytes of extra.
func charsIn(v, extra string) error {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || strings.IndexByte(extra, c) >= 0 {
			continue
		}
		return fmt.Errorf("may hold only letters, digits and %q", extra)
	}
	return nil
}

// oneOf accepts one of opts, surrounding spaces ignored; case counts, as in
// ingress-nginx (parser.ValidateOptions with caseSensitive).
func oneOf(v string, opts ...string) error {
	v = strings.TrimSpace(v)
	for _, o := range opts {
		if v == o {
			return nil
		}
	}
	return fmt.Errorf("must be one of %s", strings.Trim(strings.Join(opts, ", "), ", "))
}

// validateCookieSeconds accepts "" (none), "0" or a non-zero integer
// without leading zeros, as ingress-nginx's expression for
// session-cookie-expires and -max-age means to.
func validateCookieSeconds(v string) error {
	if v == "" {
		return nil
	}
	digits := strings.TrimPrefix(v, "-")
	if v == "0" || (digits != "" && digits[0] != '0' && strings.Trim(digits, "0123456789") == "" && len(digits) <= 12) {
		return nil
	}
	return errors.New("must be an integer number of seconds")
}

// defaultSubsetSize is upstream-hash-by-subset-size's default.
const defaultSubsetSize = 3

// parseSubsetSize reads upstream-hash-by-subset-size: 0 means the default,
// as ingress-nginx's upstreamhashby parser takes it.
func parseSubsetSize(v string) (int, error) {
	n, err := parseInt(v)
	if err != nil {
		return 0, err
	}
	switch {
	case n == 0:
		return defaultSubsetSize, nil
	case n < 0:
		return 0, errors.New("must be at least 1")
	}
	return n, nil
}

// parseSameSite returns the SameSite attribute's value for v: None, Lax or
// Strict in any case, trimmed, "" for none. The value is kept as written:
// ingress-nginx's sticky.lua writes it so, and withholds SameSite=None from
// incompatible browsers only when it is exactly "None".
func parseSameSite(v string) (string, error) {
	v = strings.TrimSpace(v)
	switch strings.ToLower(v) {
	case "", "none", "lax", "strict":
		return v, nil
	}
	return "", errors.New("must be None, Lax or Strict")
}

// parseBalance applies the hash and affinity families to *dst, which is
// nil when the Ingress sets neither. Rejected values are reported through
// wrap and leave their defaults: an invalid upstream-hash-by means no
// hashing, an invalid affinity no affinity.
func parseBalance(get lookup, dst **Balance, wrap func(key, value string, err error) error) []error {
	b := Balance{CookieName: DefaultCookieName, HashBySubsetSize: defaultSubsetSize}
	var errs []error
	str := func(key string, dst *string, norm func(string) string) {
		v, ok := get(key)
		if !ok {
			return
		}
		for _, m := range balanceMeta {
			if m.Key == key {
				if err := m.Validate(v); err != nil {
					errs = append(errs, wrap(key, v, err))
					return
				}
			}
		}
		*dst = norm(v)
	}
	same := func(v string) string { return v }
	trim := strings.TrimSpace
	var affinity, mode, canary string
	str("upstream-hash-by", &b.HashBy, same)
	str("affinity", &affinity, trim)
	str("affinity-mode", &mode, trim)
	str("affinity-canary-behavior", &canary, trim)
	str("session-cookie-name", &b.CookieName, same)
	str("session-cookie-path", &b.CookiePath, same)
	str("session-cookie-domain", &b.CookieDomain, same)
	str("session-cookie-expires", &b.CookieExpires, same)
	str("session-cookie-max-age", &b.CookieMaxAge, same)
	str("session-cookie-samesite", &b.CookieSameSite, func(v string) string { s, _ := parseSameSite(v); return s })
	if b.CookieName == "" {
		b.CookieName = DefaultCookieName
	}
	b.Cookie, b.Persistent, b.CanaryLegacy = affinity == "cookie", mode == "persistent", canary == "legacy"
	errs = append(errs, joinErrs(
		setParsed(get, wrap, "upstream-hash-by-subset", parseBool, &b.HashBySubset),
		setParsed(get, wrap, "upstream-hash-by-subset-size", parseSubsetSize, &b.HashBySubsetSize),
		setParsed(get, wrap, "session-cookie-secure", parseBool, &b.CookieSecure),
		setParsed(get, wrap, "session-cookie-conditional-samesite-none", parseBool, &b.CookieConditionalSameSiteNone),
		setParsed(get, wrap, "session-cookie-change-on-failure", parseBool, &b.CookieChangeOnFailure),
	)...)
	if b.HashBy != "" || b.Cookie || b.CanaryLegacy {
		*dst = &b
	}
	return errs
}

// HashPart is one element of an upstream-hash-by expression: a variable
// name (Var true), or literal text.
type HashPart struct {
	// Text is the variable's name as written, without "$" and braces,
	// when Var is true; else the literal text.
	Text string
	// Var is true for a variable.
	Var bool
}

// ParseHashBy splits an upstream-hash-by expression into its parts as
// ingress-nginx's parse_complex_value does: "$name" and "${name}" are
// variables (name: letters, digits, "_"), anything else is text. The
// expression may hold only letters, digits and "-_${}", and every variable
// must be one Weir evaluates (see balanceMeta); else it is an error.
func ParseHashBy(v string) ([]HashPart, error) {
	if err := charsIn(v, "-_${}"); err != nil {
		return nil, err
	}
	var parts []HashPart
	text := func(s string) {
		if n := len(parts); n > 0 && !parts[n-1].Var {
			parts[n-1].Text += s
			return
		}
		parts = append(parts, HashPart{Text: s})
	}
	for len(v) > 0 {
		if v[0] != '$' {
			i := strings.IndexByte(v, '$')
			if i < 0 {
				i = len(v)
			}
			text(v[:i])
			v = v[i:]
			continue
		}
		name, rest := "", v[1:]
		if strings.HasPrefix(rest, "{") {
			if end := strings.IndexByte(rest, '}'); end > 1 && isVarName(rest[1:end]) {
				name, rest = rest[1:end], rest[end+1:]
			}
		} else {
			n := 0
			for n < len(rest) && isVarByte(rest[n]) {
				n++
			}
			name, rest = rest[:n], rest[n:]
		}
		if name == "" {
			text("$")
			v = v[1:]
			continue
		}
		if !HashVarKnown(name) {
			return nil, fmt.Errorf("variable $%s is not one Weir evaluates", name)
		}
		parts = append(parts, HashPart{Text: name, Var: true})
		v = rest
	}
	return parts, nil
}

// HashVarKnown reports whether name (any case) is a variable of
// upstream-hash-by that Weir evaluates.
func HashVarKnown(name string) bool {
	name = strings.ToLower(name)
	switch name {
	case "request_uri", "uri", "args", "query_string", "host", "remote_addr", "scheme", "request_method",
		"binary_remote_addr", "document_uri", "is_args", "server_protocol", "request":
		return true
	}
	for _, p := range []string{"http_", "cookie_", "arg_"} {
		if rest, ok := strings.CutPrefix(name, p); ok && rest != "" {
			return true
		}
	}
	return false
}

func isVarByte(c byte) bool {
	return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c == '_'
}

func isVarName(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isVarByte(s[i]) {
			return false
		}
	}
	return s != ""
}

// regexCookiePath warns, as ingress-nginx does, about cookie affinity on an
// Ingress with use-regex and no session-cookie-path: the cookie's path is
// then the rule's regular expression, which browsers take literally. The
// message holds ingress-nginx's own words, which users and tests look for
// in the log.
func regexCookiePath(cfg *Config) []error {
	if b := cfg.Proxy.Balance; cfg.UseRegex && b != nil && b.Cookie && b.CookiePath == "" {
		return []error{&Error{Annotation: Prefix + "session-cookie-path", Err: errors.New("session-cookie-path should be set when use-regex is true; the cookie's path is the rule's path as written")}}
	}
	return nil
}

package annotations

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
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
	// Ingress has no cookie affinity, neither the main rule's nor this
	// Ingress's own, as in ingress-nginx (unless a sticky canary shares
	// its Service port, whose affinity it then shares). False is "sticky" (the default): the canary
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
	// integer text (the value as Lua reads it, rounded down); "" means no
	// Expires attribute.
	CookieExpires string `json:"cookieExpires,omitempty"`
	// CookieMaxAge is session-cookie-max-age in seconds as Lua prints the
	// number the value reads as ("007" is "7"); "" means no Max-Age
	// attribute.
	CookieMaxAge string `json:"cookieMaxAge,omitempty"`
	// CookieSecure is session-cookie-secure: always mark the cookie Secure.
	// False (the default) marks it Secure on HTTPS requests only.
	CookieSecure bool `json:"cookieSecure,omitempty"`
	// CookieSameSite is session-cookie-samesite: None, Lax or Strict, or ""
	// for no SameSite attribute (the default, and what another case such
	// as "lax" gives, as lua-resty-cookie leaves it out).
	CookieSameSite string `json:"cookieSameSite,omitempty"`
	// CookieConditionalSameSiteNone is
	// session-cookie-conditional-samesite-none: omit SameSite=None for the
	// user agents known to reject it. Default false.
	CookieConditionalSameSiteNone bool `json:"cookieConditionalSameSiteNone,omitempty"`
	// CookieChangeOnFailure is session-cookie-change-on-failure: when the
	// request's sticky endpoint failed and the request is passed on, it
	// goes to another endpoint and the cookie is changed to name that one.
	// False (the default): every try goes to the sticky endpoint again.
	CookieChangeOnFailure bool `json:"cookieChangeOnFailure,omitempty"`
}

// DefaultCookieName is the session cookie's name when session-cookie-name
// is not set, as in ingress-nginx.
const DefaultCookieName = "INGRESSCOOKIE"

// balanceMeta is the metadata table of the hash and affinity families.
var balanceMeta = []Meta{
	{
		Key: "upstream-hash-by", Default: "",
		Doc:      "Consistent hashing of the requests onto the endpoints (ingress-nginx's chash ring: 160 CRC32 points per endpoint) by nginx variables and text, e.g. `$request_uri`, `$host$request_uri`, `${remote_addr}-x`. Variables: `request_uri`, `uri`, `document_uri`, `args`, `query_string`, `is_args`, `host`, `remote_addr`, `binary_remote_addr`, `scheme`, `request_method`, `server_protocol`, `request`, `http_<name>`, `cookie_<name>`, `arg_<name>`; another is rejected with a warning and the Ingress is balanced by `load-balance`. As in ingress-nginx, a Service port is one upstream: every Ingress routing there is hashed as the oldest one says, `upstream-hash-by-subset*` included (see [Settings per Service port](#settings-per-service-port)).",
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
		Doc:      "`cookie` pins a client to an endpoint by a session cookie; the only type. It takes precedence over `upstream-hash-by` and `load-balance`, and, as in ingress-nginx, over the balancing of every rule routed to the same Service port, though only this Ingress's paths set the cookie (see [Load balancing](#load-balancing)). See [Session affinity](#session-affinity).",
		Validate: func(v string) error { return oneOf(v, "", "cookie") },
	},
	{
		Key: "affinity-mode", Default: "balanced",
		Doc:      "`balanced`: the cookie holds a key hashed onto the endpoints, so some sessions move to an endpoint added; `persistent`: the cookie names its endpoint until that endpoint is gone. Without `affinity` it does nothing by itself, but, as in ingress-nginx, the oldest Ingress that writes it, with or without `affinity`, decides the mode of the cookie affinity another Ingress gives the same Service port.",
		Validate: func(v string) error { return oneOf(v, "balanced", "persistent") },
	},
	{
		Key: "affinity-canary-behavior", Default: "sticky",
		Doc:      "On a canary Ingress: `sticky` gives the canary the main rule's affinity, so a client the canary served stays on it; `legacy` gives it none, as in ingress-nginx: the canary Ingress's own `affinity` and `session-cookie-*` are ignored too (unless a sticky canary routes to the same Service port: that one upstream then has the affinity the sticky canary took).",
		Validate: func(v string) error { return oneOf(v, "sticky", "legacy") },
	},
	{
		Key: "session-cookie-name", Default: DefaultCookieName,
		Doc:      "Name of the affinity cookie: letters, digits, `-._~/:` and inner spaces, surrounding spaces trimmed (ingress-nginx's check); an invalid name is replaced by the default with a warning.",
		Validate: func(v string) error { return spacedCharsIn(v, cookieNameChars) },
	},
	{
		Key: "session-cookie-path", Default: "",
		Doc:      "Path attribute of the affinity cookie (letters, digits, `-._~/:,?&=` and inner spaces); default the path of the rule as written (set it when the paths are regular expressions).",
		Validate: func(v string) error { return spacedCharsIn(v, cookiePathChars) },
	},
	{
		Key: "session-cookie-domain", Default: "",
		Doc:      "Domain attribute of the affinity cookie (letters, digits, `-._~/:` and inner spaces); default none.",
		Validate: func(v string) error { return spacedCharsIn(v, cookieNameChars) },
	},
	{
		Key: "session-cookie-expires", Default: "",
		Doc:      "Seconds from now written as the cookie's Expires date (nginx's cookie time format); default none, a session cookie. A number as Lua reads it (`007`, `1.5`, `1e3`, `0x10`), rounded down, as ingress-nginx's balancer; one it cannot read is rejected with a warning (ingress-nginx's balancer fails on it).",
		Validate: func(v string) error { _, _, err := cookieSeconds(v, true); return err },
	},
	{
		Key: "session-cookie-max-age", Default: "",
		Doc:      "Max-Age attribute of the affinity cookie, in seconds; default none. Written as Lua prints the number (`007` as `7`), as ingress-nginx's balancer; a value it cannot read is rejected with a warning.",
		Validate: func(v string) error { _, _, err := cookieSeconds(v, false); return err },
	},
	{
		Key: "session-cookie-secure", Default: "false",
		Doc:      "`\"true\"` marks the cookie Secure on every request; otherwise it is Secure on HTTPS requests only.",
		Validate: func(v string) error { _, err := parseBool(v); return err },
	},
	{
		Key: "session-cookie-samesite", Default: "",
		Doc:      "SameSite attribute of the cookie: `None`, `Lax` or `Strict`; default none. Another case (`lax`) is accepted but, as by ingress-nginx's lua-resty-cookie, no SameSite attribute is written, with a warning.",
		Validate: func(v string) error { _, err := parseSameSite(v); return err },
	},
	{
		Key: "session-cookie-conditional-samesite-none", Default: "false",
		Doc:      "`\"true\"` omits `SameSite=None` for the user agents known to reject it (Chrome 50 to 69, iOS 12, macOS 10.14 Safari).",
		Validate: func(v string) error { _, err := parseBool(v); return err },
	},
	{
		Key: "session-cookie-change-on-failure", Default: "false",
		Doc:      "`\"true\"`: when the sticky endpoint fails and `proxy-next-upstream` passes the request on, it goes to another endpoint and the cookie is changed to name it; otherwise, as in ingress-nginx, every try goes to the endpoint the cookie names again (a refused connection: 502) and the cookie is kept.",
		Validate: func(v string) error { _, err := parseBool(v); return err },
	},
}

const (
	// cookieNameChars are the bytes besides letters and digits of
	// ingress-nginx's BasicCharsRegex, which checks session-cookie-name
	// and -domain.
	cookieNameChars = "-._~/:"
	// cookiePathChars are those of its URLIsValidRegex, which checks
	// session-cookie-path.
	cookiePathChars = "-._~/:,?&="
)

// spacedCharsIn is ingress-nginx's ValidateRegex with removeSpace: the
// spaces of v are left out, the rest must be letters, digits and the bytes
// of extra. The value used is then v with its surrounding spaces trimmed
// (the annotation parser's normalizeString), inner spaces kept.
func spacedCharsIn(v, extra string) error {
	if err := charsIn(strings.ReplaceAll(v, " ", ""), extra); err != nil {
		return fmt.Errorf("may hold only letters, digits, spaces and %q", extra)
	}
	return nil
}

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

// cookieSecondsRE is ingress-nginx's affinityCookieExpiresRegex, which
// checks session-cookie-expires and -max-age, unanchored as it is there:
// "007" and "1.5" pass.
var cookieSecondsRE = regexp.MustCompile(`(^0|-?[1-9]\d*$)`)

// cookieSeconds checks session-cookie-expires (removeSpace) or
// session-cookie-max-age as ingress-nginx does (its validator on the value,
// spaces left out with removeSpace, then the expression again on the
// trimmed value), and reads the trimmed value as its balancer does, with
// Lua's tonumber: it returns the number, rounded down (the seconds an
// Expires date adds), and as Lua's tostring prints it (the Max-Age
// written). A value tonumber cannot read, which makes ingress-nginx's
// balancer fail, is an error, as is one of 10^12 seconds or more. ""
// means none: text is "".
func cookieSeconds(v string, removeSpace bool) (floor int64, text string, err error) {
	if v == "" {
		return 0, "", nil
	}
	checked := v
	if removeSpace {
		checked = strings.ReplaceAll(v, " ", "")
	}
	v = strings.TrimSpace(v)
	if !cookieSecondsRE.MatchString(checked) || !cookieSecondsRE.MatchString(v) || strings.ContainsAny(v, "\r\n") {
		return 0, "", errors.New("must be an integer number of seconds")
	}
	f, ok := luaNumber(v)
	switch {
	case !ok:
		return 0, "", errors.New("is not a number Lua reads (ingress-nginx's balancer fails on it)")
	case math.Abs(f) >= 1e12:
		return 0, "", errors.New("must be less than 10^12 seconds")
	}
	return int64(math.Floor(f)), strconv.FormatFloat(f, 'g', 14, 64), nil
}

// luaDecimal is the decimal form of a number that LuaJIT's tonumber reads
// (after an optional sign).
var luaDecimal = regexp.MustCompile(`^(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$`)

// luaNumber is LuaJIT's tonumber of a trimmed string in its decimal and
// hexadecimal integer forms, with an optional sign: "007" is 7, "1e3" is
// 1000, "0x10" is 16. It reports false for anything else.
func luaNumber(s string) (float64, bool) {
	neg := strings.HasPrefix(s, "-")
	if neg || strings.HasPrefix(s, "+") {
		s = s[1:]
	}
	var f float64
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		u, err := strconv.ParseUint(h, 16, 64)
		if err != nil || strings.ContainsRune(h, '_') {
			return 0, false
		}
		f = float64(u)
	} else {
		if !luaDecimal.MatchString(s) {
			return 0, false
		}
		var err error
		if f, err = strconv.ParseFloat(s, 64); err != nil {
			return 0, false
		}
	}
	if neg {
		f = -f
	}
	return f, true
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

// parseSameSite checks session-cookie-samesite as ingress-nginx does:
// None, Lax or Strict in any case, trimmed; "" for none.
func parseSameSite(v string) (string, error) {
	v = strings.TrimSpace(v)
	switch strings.ToLower(v) {
	case "", "none", "lax", "strict":
		return v, nil
	}
	return "", errors.New("must be None, Lax or Strict")
}

// errSameSiteCase is the warning for a session-cookie-samesite that
// ingress-nginx accepts but whose attribute lua-resty-cookie (sticky.lua's
// cookie:set) leaves out: any case but None, Lax or Strict.
var errSameSiteCase = errors.New("is not written None, Lax or Strict: as ingress-nginx's lua-resty-cookie, no SameSite attribute is written")

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
	trim := strings.TrimSpace
	seconds := func(removeSpace, floor bool) func(string) string {
		return func(v string) string {
			n, text, _ := cookieSeconds(v, removeSpace)
			if floor && text != "" {
				return strconv.FormatInt(n, 10)
			}
			return text
		}
	}
	var affinity, mode, canary string
	str("upstream-hash-by", &b.HashBy, func(v string) string { return v })
	str("affinity", &affinity, trim)
	str("affinity-mode", &mode, trim)
	str("affinity-canary-behavior", &canary, trim)
	str("session-cookie-name", &b.CookieName, trim)
	str("session-cookie-path", &b.CookiePath, trim)
	str("session-cookie-domain", &b.CookieDomain, trim)
	str("session-cookie-expires", &b.CookieExpires, seconds(true, true))
	str("session-cookie-max-age", &b.CookieMaxAge, seconds(false, false))
	str("session-cookie-samesite", &b.CookieSameSite, trim)
	if s := b.CookieSameSite; s != "" && s != "None" && s != "Lax" && s != "Strict" {
		v, _ := get("session-cookie-samesite")
		errs = append(errs, wrap("session-cookie-samesite", v, errSameSiteCase))
		b.CookieSameSite = ""
	}
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

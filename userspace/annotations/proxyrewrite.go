package annotations

import (
	"errors"
	"regexp"
	"strings"
)

// HeaderRewrite is one of nginx's response header rewrites: proxy_redirect,
// proxy_cookie_domain or proxy_cookie_path with a text and its replacement.
type HeaderRewrite struct {
	// From is the text matched: a prefix of the Location or Refresh URL
	// (proxy_redirect, case-sensitive), the whole domain attribute of a
	// Set-Cookie header without its leading dot (proxy_cookie_domain,
	// case-insensitive) or a prefix of its path attribute
	// (proxy_cookie_path, case-sensitive). A From starting with "~" is a
	// case-sensitive regular expression (the rest of it) whose match
	// anywhere in the value replaces the whole value, as nginx's.
	From string `json:"from"`
	// To replaces what From matched.
	To string `json:"to"`
}

// RedirectDefault is the From of proxy-redirect-from "default": nginx's
// "proxy_redirect default" in ingress-nginx's locations, whose proxy_pass
// is <scheme>://upstream_balancer without a URI, replaces the prefix
// "<scheme>://upstream_balancer/" with "/".
const RedirectDefault = "default"

// Redirect returns the proxy_redirect rule that ingress-nginx's template
// writes for RedirectFrom and RedirectTo; ok is false for none
// ("proxy_redirect off", the default). From is RedirectDefault for nginx's
// default rule (proxy-redirect-from "default", or a proxy-redirect-from
// whose proxy-redirect-to is "off": the template then writes nothing and
// nginx's default applies). u may be nil.
func (u *Upstream) Redirect() (r HeaderRewrite, ok bool) {
	if u == nil || u.RedirectFrom == "" || u.RedirectFrom == "off" {
		return HeaderRewrite{}, false
	}
	if u.RedirectFrom == RedirectDefault || u.RedirectTo == "" || u.RedirectTo == "off" {
		return HeaderRewrite{From: RedirectDefault, To: "/"}, true
	}
	return HeaderRewrite{From: u.RedirectFrom, To: u.RedirectTo}, true
}

// RewritesHeaders reports whether a response's Location, Refresh or
// Set-Cookie headers are rewritten on the route; u may be nil.
func (u *Upstream) RewritesHeaders() bool {
	if u == nil {
		return false
	}
	_, ok := u.Redirect()
	return ok || u.CookieDomain != nil || u.CookiePath != nil
}

// headerRewriteMeta is the metadata table of proxy-redirect-from and -to,
// proxy-cookie-domain and proxy-cookie-path.
var headerRewriteMeta = []Meta{
	{
		Key: "proxy-redirect-from", Default: "off", ConfigMap: true,
		Doc:      "Text replaced by `proxy-redirect-to` at the start of the `Location` and `Refresh` (after `url=`) headers of the endpoint's responses, case-sensitively (nginx's `proxy_redirect`); `~` starts a regular expression whose match replaces the whole URL. `off` rewrites nothing; `default` (or any text with `proxy-redirect-to` `off`, as ingress-nginx's template then writes nothing) replaces `http://upstream_balancer/` (`https://` for HTTPS routes) with `/`. Not for GRPC and GRPCS routes (grpc_pass has no such rewrite).",
		Validate: func(v string) error { _, err := parseRedirectText(v); return err },
	},
	{
		Key: "proxy-redirect-to", Default: "off", ConfigMap: true,
		Doc:      "Replacement of `proxy-redirect-from`'s text; `off` with a text in `proxy-redirect-from` means nginx's default rule.",
		Validate: func(v string) error { _, err := parseRedirectText(v); return err },
	},
	{
		Key: "proxy-cookie-domain", Default: "off", ConfigMap: true,
		Doc:      "`<from> <to>`: the `domain` attribute of the endpoint's `Set-Cookie` headers equal to `<from>` (case-insensitively, a leading dot ignored and kept) becomes `<to>` (nginx's `proxy_cookie_domain`); `~` starts a regular expression. A cookie rewritten is written again with its attributes separated by `; `, as nginx. `off` rewrites nothing.",
		Validate: func(v string) error { _, err := parseCookieDomain(v); return err },
	},
	{
		Key: "proxy-cookie-path", Default: "off", ConfigMap: true,
		Doc:      "`<from> <to>`: the start `<from>` of the `path` attribute of the endpoint's `Set-Cookie` headers becomes `<to>`, case-sensitively (nginx's `proxy_cookie_path`); `~` starts a regular expression. `off` rewrites nothing.",
		Validate: func(v string) error { _, err := parseCookiePath(v); return err },
	},
}

var (
	// redirectTextRe is ingress-nginx's URLIsValidRegex, which its
	// proxy-redirect-* and proxy-cookie-path validators use.
	redirectTextRe = regexp.MustCompile(`^[\-._~a-zA-Z0-9/:,?&=]+$`)
	// cookieDomainTextRe is the character class of ingress-nginx's
	// cookieDomainRegex.
	cookieDomainTextRe = regexp.MustCompile(`^[\-._~a-zA-Z0-9/:]+$`)
)

// parseRedirectText reads proxy-redirect-from or -to: one word of
// ingress-nginx's URL characters, "default" included; "off" is "". Spaces
// would split nginx's directive and fail its configuration, so they are
// refused.
func parseRedirectText(v string) (string, error) {
	v = strings.TrimSpace(v)
	if !redirectTextRe.MatchString(v) {
		return "", errors.New("must be one word of letters, digits and -._~/:,?&=")
	}
	if v == "off" {
		return "", nil
	}
	return v, validateRewriteRegex(v)
}

// parseCookieDomain reads proxy-cookie-domain: "off" (nil) or "<from> <to>".
func parseCookieDomain(v string) (*HeaderRewrite, error) {
	return parseCookieRewrite(v, cookieDomainTextRe, "letters, digits and -._~/:")
}

// parseCookiePath reads proxy-cookie-path: "off" (nil) or "<from> <to>".
func parseCookiePath(v string) (*HeaderRewrite, error) {
	return parseCookieRewrite(v, redirectTextRe, "letters, digits and -._~/:,?&=")
}

func parseCookieRewrite(v string, chars *regexp.Regexp, what string) (*HeaderRewrite, error) {
	f := strings.Fields(v)
	if len(f) == 1 && f[0] == "off" {
		return nil, nil
	}
	if len(f) != 2 || !chars.MatchString(f[0]) || !chars.MatchString(f[1]) {
		return nil, errors.New(`must be "off" or two words ("<from> <to>") of ` + what)
	}
	if err := validateRewriteRegex(f[0]); err != nil {
		return nil, err
	}
	return &HeaderRewrite{From: f[0], To: f[1]}, nil
}

// validateRewriteRegex checks the regular expression of a From starting
// with "~".
func validateRewriteRegex(from string) error {
	re, ok := strings.CutPrefix(from, "~")
	if !ok {
		return nil
	}
	if _, err := regexp.Compile(re); err != nil {
		return errors.New("must be a valid regular expression after ~")
	}
	return nil
}

// parseRewrites reads the keys of headerRewriteMeta into out; a rejected value
// keeps the previous one (the ConfigMap's, else the default).
func parseRewrites(get lookup, out *Upstream, wrap func(key, value string, err error) error) []error {
	cookie := func(key string, parse func(string) (*HeaderRewrite, error), dst **HeaderRewrite) error {
		return setParsed(get, wrap, key, parse, dst)
	}
	return joinErrs(
		setParsed(get, wrap, "proxy-redirect-from", parseRedirectText, &out.RedirectFrom),
		setParsed(get, wrap, "proxy-redirect-to", parseRedirectText, &out.RedirectTo),
		cookie("proxy-cookie-domain", parseCookieDomain, &out.CookieDomain),
		cookie("proxy-cookie-path", parseCookiePath, &out.CookiePath),
	)
}

// rewriteEqual reports whether a and b (either may be nil) are the same.
func rewriteEqual(a, b *HeaderRewrite) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

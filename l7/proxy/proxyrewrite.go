package proxy

import (
	"net/http"
	"regexp"
	"strings"

	"github.com/weir-lb/weir/userspace/annotations"
)

// proxy-redirect-from/-to, proxy-cookie-domain and proxy-cookie-path, as
// nginx's proxy_redirect, proxy_cookie_domain and proxy_cookie_path in
// ingress-nginx's locations: they edit the endpoint's response header
// before anything of Weir's is set (hide-headers, add-headers, ...). They
// apply to HTTP, HTTPS and H2C routes; GRPC and GRPCS routes are served
// by nginx's grpc_pass, which has no such rewrites.

// rewriteRegexps caches the compiled regular expressions of "~" rules,
// keyed by their Snapshot's rule (at most maxCachedSourceRanges of them).
var rewriteRegexps ptrCache[annotations.HeaderRewrite, *regexp.Regexp]

// compileRewrite compiles the regular expression of a "~" rule; nil (never
// expected: the annotations package checked it) matches nothing.
func compileRewrite(r *annotations.HeaderRewrite) *regexp.Regexp {
	re, _ := regexp.Compile(strings.TrimPrefix(r.From, "~"))
	return re
}

// rewriteUpstreamHeaders applies u's rewrites to the endpoint's response
// header h; u may be nil.
func rewriteUpstreamHeaders(u *annotations.Upstream, h http.Header) {
	if !u.RewritesHeaders() || u.Protocol == annotations.ProtocolGRPC || u.Protocol == annotations.ProtocolGRPCS {
		return
	}
	if rule, ok := u.Redirect(); ok {
		if rule.From == annotations.RedirectDefault {
			scheme := "http://"
			if u.Protocol.TLS() {
				scheme = "https://"
			}
			rule.From = scheme + "upstream_balancer/"
		}
		rewriteRedirects(h, &rule)
	}
	if u.CookieDomain != nil || u.CookiePath != nil {
		for i, c := range h["Set-Cookie"] {
			h["Set-Cookie"][i] = rewriteCookie(c, u.CookieDomain, u.CookiePath)
		}
	}
}

// rewriteRedirects applies a proxy_redirect rule to the Location headers
// (the whole value) and the Refresh headers (what follows the first
// "url=", case-insensitively) of h.
func rewriteRedirects(h http.Header, rule *annotations.HeaderRewrite) {
	for i, v := range h["Location"] {
		h["Location"][i], _ = rewritePrefix(v, 0, rule, pathMatch)
	}
	for i, v := range h["Refresh"] {
		if at := indexFold(v, "url="); at >= 0 {
			h["Refresh"][i], _ = rewritePrefix(v, at+len("url="), rule, pathMatch)
		}
	}
}

// match kinds of rewritePrefix.
const (
	pathMatch   = iota // From is a prefix, compared byte for byte
	domainMatch        // From is the whole value, without its leading dot, any case
)

// rewritePrefix returns v with rule applied to v[at:], as nginx's rewrite
// handlers, and whether rule matched: a text From replaces the prefix it
// matches (pathMatch) or the whole domain (domainMatch); a "~" From that
// matches anywhere replaces all of v[at:].
func rewritePrefix(v string, at int, rule *annotations.HeaderRewrite, kind int) (string, bool) {
	val := v[at:]
	if strings.HasPrefix(rule.From, "~") {
		if re := rewriteRegexps.get(rule, compileRewrite); re != nil && re.MatchString(val) {
			return v[:at] + rule.To, true
		}
		return v, false
	}
	switch kind {
	case domainMatch:
		if strings.HasPrefix(val, ".") {
			at++
			val = val[1:]
		}
		if strings.EqualFold(val, strings.TrimPrefix(rule.From, ".")) {
			return v[:at] + rule.To, true
		}
	default:
		if strings.HasPrefix(val, rule.From) {
			return v[:at] + rule.To + val[len(rule.From):], true
		}
	}
	return v, false
}

// indexFold returns the index of the first ASCII-case-insensitive
// occurrence of lower (a lower-case ASCII string) in s, or -1.
func indexFold(s, lower string) int {
	for i := 0; i+len(lower) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(lower)], lower) {
			return i
		}
	}
	return -1
}

// cookieAttr is one "key=value" (or "key") of a Set-Cookie header, its
// surrounding spaces removed, as nginx's ngx_http_proxy_parse_cookie.
type cookieAttr struct {
	key, value string
	hasValue   bool
}

// rewriteCookie applies proxy_cookie_domain (domain) and proxy_cookie_path
// (path), either may be nil, to the domain and path attributes of one
// Set-Cookie value. As nginx, a cookie whose first part has no "=" is left
// alone, and a cookie changed is written again from its attributes,
// separated by "; ".
func rewriteCookie(c string, domain, path *annotations.HeaderRewrite) string {
	if !strings.Contains(c, ";") {
		return c // no attributes
	}
	attrs := parseCookieAttrs(c)
	if !attrs[0].hasValue {
		return c
	}
	changed := false
	for i := 1; i < len(attrs); i++ {
		a := &attrs[i]
		if !a.hasValue {
			continue
		}
		var rule *annotations.HeaderRewrite
		kind := pathMatch
		switch {
		case domain != nil && strings.EqualFold(a.key, "domain"):
			rule, kind = domain, domainMatch
		case path != nil && strings.EqualFold(a.key, "path"):
			rule = path
		default:
			continue
		}
		if v, ok := rewritePrefix(a.value, 0, rule, kind); ok {
			a.value, changed = v, true
		}
	}
	if !changed {
		return c
	}
	var b strings.Builder
	for i, a := range attrs {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(a.key)
		if a.hasValue {
			b.WriteByte('=')
			b.WriteString(a.value)
		}
	}
	return b.String()
}

// parseCookieAttrs splits a Set-Cookie value at each ";" into attributes,
// as nginx: spaces around keys and values are removed.
func parseCookieAttrs(c string) []cookieAttr {
	attrs := make([]cookieAttr, 0, strings.Count(c, ";")+1)
	for part := range strings.SplitSeq(c, ";") {
		k, v, ok := strings.Cut(strings.TrimLeft(part, " "), "=")
		a := cookieAttr{key: strings.TrimRight(k, " "), hasValue: ok}
		if ok {
			a.value = strings.Trim(v, " ")
		}
		attrs = append(attrs, a)
	}
	return attrs
}

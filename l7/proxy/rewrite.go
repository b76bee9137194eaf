package proxy

import (
	"net/http"
	"strings"
)

// rewriteUpstream applies the route's rewrite family to the upstream
// request out of in: upstream-vhost replaces the Host header, its request
// variables expanded (route.UpstreamVhost; one that expands to nothing
// leaves the client's, where nginx would send no Host); when the
// route rewrites, the path becomes the rewrite-target with the groups of
// the route's path matched against the request's normalised path ($uri),
// sent escaped, with the query as the client sent it, and
// x-forwarded-prefix is sent as X-Forwarded-Prefix. A path the expression
// does not match is sent as it is, as nginx's rewrite leaves it.
func rewriteUpstream(in, out *http.Request, ex *exchange) {
	route := ex.route
	rw := route.Backend.Proxy.Rewrite
	if rw == nil {
		return
	}
	switch {
	case route.UpstreamVhost != nil:
		if v := route.UpstreamVhost.Expand(ex.vars(in)); v != "" {
			out.Host = v
		}
	case rw.UpstreamVhost != "":
		out.Host = rw.UpstreamVhost
	}
	if route.Rewrite == nil {
		return
	}
	uri := requestPath(in)
	m := route.Rewrite.FindStringSubmatchIndex(uri)
	if m != nil {
		out.URL.Path = expand(rw.Target, uri, m)
		if !strings.HasPrefix(out.URL.Path, "/") {
			out.URL.Path = "/" + out.URL.Path
		}
		out.URL.RawPath, out.URL.Opaque = "", ""
	}
	if rw.XForwardedPrefix != "" {
		out.Header["X-Forwarded-Prefix"] = []string{expand(rw.XForwardedPrefix, uri, m)}
	}
}

// expand returns template with each $1..$9 replaced by that group of the
// match m of s (FindStringSubmatchIndex), "" for a group that did not
// take part or does not exist, as nginx's captures in a rewrite.
func expand(template, s string, m []int) string { return expandCaptures(template, s, m, false) }

// expandCaptures is expand, with each group escaped (escapeCapture) when
// escape is set.
func expandCaptures(template, s string, m []int, escape bool) string {
	if !strings.Contains(template, "$") {
		return template
	}
	var b strings.Builder
	for i := 0; i < len(template); i++ {
		c := template[i]
		if c != '$' || i+1 == len(template) || template[i+1] < '1' || template[i+1] > '9' {
			b.WriteByte(c)
			continue
		}
		g := int(template[i+1] - '0')
		i++
		if 2*g+1 < len(m) && m[2*g] >= 0 {
			if escape {
				escapeCapture(&b, s[m[2*g]:m[2*g+1]])
			} else {
				b.WriteString(s[m[2*g]:m[2*g+1]])
			}
		}
	}
	return b.String()
}

// escapeCapture writes the group v to b with what nginx 1.22 escapes in a
// capture of a rewrite to a URL (checked on it): control bytes, space,
// bytes above 0x7e and " # % < > \ ^ ` { | }, as %XX in upper case.
func escapeCapture(b *strings.Builder, v string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c > ' ' && c < 0x7f && !strings.ContainsRune(`"#%<>\^`+"`{|}", rune(c)) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
}

// quotedURI reports whether the path of r's target, as the client sent
// it, has a %-escape or a '+': nginx's quoted_uri and plus_in_uri, under
// which the captures of a rewrite to a URL are escaped, since $uri, which
// the expression matched, holds them decoded.
func quotedURI(r *http.Request) bool {
	t := requestURI(r)
	if i := strings.IndexByte(t, '?'); i >= 0 {
		t = t[:i]
	}
	return strings.ContainsAny(t, "%+")
}

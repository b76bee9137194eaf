package proxy

import (
	"net/http"
	"net/textproto"
)

// Version is the version Weir names in the Server header with server-tokens
// "true" ("weir/" + Version); "" names no version ("weir"). cmd/weir sets
// it at start from the build.
var Version string

// serverHeader sets the Server header of a response whose header is h: none
// by default (nginx's server_tokens off with more_clear_headers Server),
// "weir/VERSION" with server-tokens. Date is removed: the server writes its
// own.
func (g *globalConfig) serverHeader(h http.Header) {
	delete(h, "Date")
	delete(h, "Server")
	if g.ServerTokens {
		h["Server"] = []string{serverToken()}
	}
}

// upstreamServerHeader is serverHeader for a proxied response, whose
// upstream's header is upstream (h itself, for one edited in place): the
// upstream's Server and Date are removed, as nginx's default
// proxy_hide_header. With server-tokens and allow-backend-server-header
// (nginx's proxy_pass_header Server) upstream's Server lines are the
// response's, and a response without any has no Server at all: nginx's
// proxy gives such a response an empty Server line, which is passed, keeps
// nginx from writing its own, and is not written. upstream is read
// only then: by default the lookup, a map access of each response (some
// 130 instructions under callgrind), would find lines that are dropped.
// held is what relay knows of h (heldFields; zero: nothing): a Date or
// Server h is known not to hold is not deleted.
func (g *globalConfig) upstreamServerHeader(h, upstream http.Header, held heldFields) {
	if held&heldKnown != 0 && held&heldServer == 0 && !g.ServerTokens {
		return // h holds neither: serverHeader would delete nothing
	}
	if !g.ServerTokens || !g.AllowBackendServerHeader {
		g.serverHeader(h)
		return
	}
	up := upstream["Server"] // before h changes: upstream may be h
	delete(h, "Date")
	if len(up) == 0 {
		delete(h, "Server")
		return
	}
	h["Server"] = up
}

// serverToken is the Server header value with server-tokens.
func serverToken() string {
	if Version == "" {
		return "weir"
	}
	return "weir/" + Version
}

// hideNginxDefault removes from h, an upstream's header, the fields of
// nginx's default proxy_hide_header list besides Date and Server: X-Pad and
// the X-Accel-* fields nginx acts on (ingress-nginx adds to the list,
// hide-headers, but never removes from it). Another X-Accel-* field passes,
// as with nginx. Weir does not act on them (no internal redirect, rate or
// buffering change): it only keeps the client from seeing the upstream's,
// as nginx's clients never do. add-headers or custom-headers may set them
// (nginx 1.22.1 with headers-more sends those).
func hideNginxDefault(h http.Header) {
	for k := range h {
		if mayBeHidden(k) && nginxHidden(k, true) {
			delete(h, k)
		}
	}
}

// nginxHidden reports whether the field name k is one of hideNginxDefault's;
// canonical: k is known canonical, else it is canonicalised first.
func nginxHidden(k string, canonical bool) bool {
	if !canonical {
		k = textproto.CanonicalMIMEHeaderKey(k)
	}
	switch k {
	case "X-Pad", "X-Accel-Expires", "X-Accel-Redirect", "X-Accel-Limit-Rate", "X-Accel-Buffering", "X-Accel-Charset":
		return true
	}
	return false
}

// mayBeHidden reports whether the field name k may be one of
// hideNginxDefault's: it is as long as "X-Pad" and starts with "X-" or
// "x-".
func mayBeHidden(k string) bool {
	return len(k) >= len("X-Pad") && k[0]|0x20 == 'x' && k[1] == '-'
}

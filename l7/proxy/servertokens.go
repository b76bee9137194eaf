package proxy

import "net/http"

// Version is the version Weir names in the Server header with server-tokens
// "true" ("weir/" + Version); "" names no version ("weir"). cmd/weir sets
// it at start from the build.
var Version string

// serverHeader sets the Server header of a response whose header is h: none
// by default (nginx's server_tokens off with more_clear_headers Server),
// "weir/VERSION" with server-tokens. The upstream's Server and Date are
// removed, as nginx's default proxy_hide_header: the server writes its own
// Date; so are the other fields that list hides (hideNginxDefault). With
// server-tokens and allow-backend-server-header, a Server header already in
// h (the upstream's, nginx's proxy_pass_header Server) stays.
func (g *globalConfig) serverHeader(h http.Header) {
	delete(h, "Date")
	hideNginxDefault(h)
	if g.ServerTokens && g.AllowBackendServerHeader && len(h["Server"]) > 0 {
		if len(h["Server"]) > 1 { // Weir's, set before the upstream's was added
			h["Server"] = h["Server"][len(h["Server"])-1:]
		}
		return
	}
	delete(h, "Server")
	if g.ServerTokens {
		h["Server"] = []string{serverToken()}
	}
}

// serverToken is the Server header value with server-tokens.
func serverToken() string {
	if Version == "" {
		return "weir"
	}
	return "weir/" + Version
}

// hideNginxDefault removes from h the fields of nginx's default
// proxy_hide_header list besides Date and Server: X-Pad and the X-Accel-*
// fields nginx acts on (ingress-nginx adds to the list, hide-headers, but
// never removes from it). Another X-Accel-* field passes, as with nginx.
// Weir does not act on them (no internal redirect, rate or buffering
// change): it only keeps the client from seeing them, as nginx's clients
// never do.
func hideNginxDefault(h http.Header) {
	for k := range h {
		if len(k) < len("X-Pad") || k[0] != 'X' || k[1] != '-' {
			continue // the common case: one comparison per field
		}
		switch k {
		case "X-Pad", "X-Accel-Expires", "X-Accel-Redirect", "X-Accel-Limit-Rate", "X-Accel-Buffering", "X-Accel-Charset":
			delete(h, k)
		}
	}
}

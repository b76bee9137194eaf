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
// Date.
func (g *globalConfig) serverHeader(h http.Header) {
	delete(h, "Server")
	delete(h, "Date")
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

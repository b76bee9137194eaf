package proxy

import (
	"net/http"
	"net/textproto"

	"github.com/weir-lb/weir/l7/router"
	"github.com/weir-lb/weir/userspace/annotations"
)

// routeHeaders sets add-headers and the route's custom-headers on h.
func (p *Proxy) routeHeaders(h http.Header, route *router.Route) {
	setHeaders(h, p.liveGlobal().ResponseHeaders)
	if ch := route.Backend.Proxy.CustomHeaders; ch != nil {
		setHeaders(h, ch.Headers)
	}
}

// responseHeaders edits an upstream's response header h once the
// upstream's fields are in it, as nginx's proxy_redirect,
// proxy_cookie_domain and proxy_cookie_path (proxyrewrite.go),
// proxy_hide_header and more_set_headers: the route's Location, Refresh
// and Set-Cookie rewrites apply, hide-headers are removed (neither touches
// the affinity cookie, see takeSticky), then add-headers,
// custom-headers and the CORS headers (cors.go) are set, replacing the
// upstream's; last, on an HTTPS request r, the route's HSTS (ownHSTS).
func (p *Proxy) responseHeaders(ex *exchange, r *http.Request, h http.Header) {
	sticky := takeSticky(ex, h) // balance.go
	rewriteUpstreamHeaders(ex.route.Backend.Proxy.Upstream, h)
	g := p.liveGlobal()
	for _, k := range g.HideHeaders {
		h.Del(k)
	}
	putSticky(h, sticky)
	p.routeHeaders(h, ex.route)
	if ex.cors != nil {
		setCORS(h, ex.cors, ex.corsOrigin)
	}
	if !ex.errorPage {
		ownHSTS(h, r, g.hsts)
	}
}

// requestHeaders edits the request to the upstream, after Weir's own
// forwarding headers: connection-proxy-header, then proxy-set-headers (an
// empty value removes the header: nginx sends none).
func (p *Proxy) requestHeaders(ex *exchange, out *http.Request) {
	if c := ex.route.Backend.Proxy.ConnectionHeader; c != "" {
		out.Header.Set("Connection", c)
	}
	for _, hd := range p.liveGlobal().UpstreamHeaders {
		switch k := textproto.CanonicalMIMEHeaderKey(hd.Name); {
		case hd.Value == "" && k == "User-Agent":
			out.Header.Set(k, "") // as outgoing: Go's default is not sent
		case hd.Value == "":
			out.Header.Del(k)
		default:
			out.Header.Set(k, hd.Value)
		}
	}
}

// removeResponseHops removes from an upstream's response header h the
// fields nginx's proxy does not relay: Connection, Keep-Alive and
// Transfer-Encoding (ngx_http_upstream.c's ngx_http_upstream_headers_in
// ignores them; the framing is the server's to write). Unlike a request's
// (removeRequestHopHeaders), the fields the Connection header names stay, and so
// do Upgrade, Te, Trailer and the Proxy-* fields, as nginx relays them to
// an HTTP/1 client. To an HTTP/2 client (h2), Proxy-Connection and Upgrade
// go too: nginx's HTTP/2 header filter leaves out those connection-
// specific fields, which an HTTP/2 peer may take for a malformed response.
func removeResponseHops(h http.Header, h2 bool) {
	delete(h, "Connection")
	delete(h, "Keep-Alive")
	delete(h, "Transfer-Encoding")
	if h2 {
		delete(h, "Proxy-Connection")
		delete(h, "Upgrade")
	}
}

func setHeaders(h http.Header, hs []annotations.Header) {
	for _, hd := range hs {
		h[textproto.CanonicalMIMEHeaderKey(hd.Name)] = []string{hd.Value}
	}
}

package proxy

import (
	"net/http"
	"net/textproto"
	"strings"

	"github.com/weir-lb/weir/l7/router"
	"github.com/weir-lb/weir/userspace/annotations"
)

// routeHeaders sets add-headers (for r) and the route's custom-headers on
// h. It reports whether there were any: h may have changed.
func (p *Proxy) routeHeaders(h http.Header, route *router.Route, ex *exchange, r *http.Request) bool {
	add := p.liveGlobal().addHeaders
	add.set(h, ex, r)
	ch := route.Backend.Proxy.CustomHeaders
	if ch != nil {
		setHeaders(h, ch.Headers)
	}
	return len(add) > 0 || ch != nil
}

// responseHeaders edits an upstream's response header h once the
// upstream's fields are in it, as nginx's proxy_redirect,
// proxy_cookie_domain and proxy_cookie_path (proxyrewrite.go),
// proxy_hide_header and more_set_headers: the route's Location, Refresh
// and Set-Cookie rewrites apply, hide-headers are removed (neither touches
// the affinity cookie, see takeSticky), then add-headers,
// custom-headers and the CORS headers (cors.go) are set, replacing the
// upstream's; last, on an HTTPS request r, the route's HSTS (ownHSTS).
// It reports whether a Location was made absolute (redirectedLocation),
// which nginx writes in another place of the head (absoluteLocation).
// held is what relay knows of h (heldFields; zero: nothing): the rewrites
// are skipped when h has none of the fields they rewrite; it returns what
// is known after, nothing once hide-headers, add-headers or custom-headers
// may have changed any field (CORS and HSTS set only their own).
func (p *Proxy) responseHeaders(ex *exchange, r *http.Request, h http.Header, held heldFields) (absolute bool, after heldFields) {
	sticky := takeSticky(ex, h) // balance.go
	if held&heldKnown == 0 || held&(heldLocation|heldRefresh|heldSetCookie) != 0 {
		if i := rewriteUpstreamHeaders(ex.route.Backend.Proxy.Upstream, h); i >= 0 {
			absolute = redirectedLocation(r, ex.route, h["Location"], i)
		}
	}
	g := p.liveGlobal()
	for _, k := range g.HideHeaders {
		h.Del(k)
	}
	putSticky(h, sticky)
	if p.routeHeaders(h, ex.route, ex, r) || len(g.HideHeaders) > 0 {
		held = 0
	}
	if ex.cors != nil {
		setCORS(h, ex.cors, ex.corsOrigin)
	}
	if !ex.errorPage {
		ownHSTS(h, r, g.hsts)
	}
	return absolute, held
}

// redirectedLocation makes loc[i], the last Location value proxy_redirect
// rewrote (nginx's headers_out.location), absolute when it starts with
// "/", as nginx's header filter does unless absolute_redirect is off
// (relative-redirects), with the port under use-port-in-redirects
// (port_in_redirect), and reports whether it did: nginx turned
// proxy-redirect-to "/" of "http://up.test/foo" into
// "http://<Host>/foo". An endpoint's own "/" Location, which no rule
// rewrote, is relayed as it came.
func redirectedLocation(r *http.Request, route *router.Route, loc []string, i int) bool {
	rw := route.Backend.Proxy.Rewrite
	if i >= len(loc) || !strings.HasPrefix(loc[i], "/") || rw != nil && rw.RelativeRedirects {
		return false
	}
	loc[i] = absoluteRedirect(r, loc[i], rw != nil && rw.UsePortInRedirects)
	return true
}

// requestHeaders edits the request out to the upstream of r, after Weir's
// own forwarding headers: connection-proxy-header, then proxy-set-headers
// (headerSet: their variables expanded, an empty value removing the
// header: nginx sends none).
func (p *Proxy) requestHeaders(ex *exchange, r, out *http.Request) {
	if ex.errorPage {
		return // the @custom_ location sets its own (rewriteErrorPage)
	}
	if c := ex.route.Backend.Proxy.ConnectionHeader; c != "" {
		out.Header.Set("Connection", c)
	}
	p.liveGlobal().setHeaders.set(out.Header, ex, r)
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

// headerSet is add-headers or proxy-set-headers compiled. ingress-nginx
// renders the first as more_set_headers in http{}, the second as
// proxy_set_header in each location, without escaping "$" (it does in
// custom-headers, whose values are literal): nginx evaluates their values
// per request, so their variables ($host, $request_id, $remote_addr, ...)
// are expanded, and a value that comes out empty removes the header, as
// headers-more clears it and as proxy_set_header sends none.
type headerSet []setHeader

type setHeader struct {
	name string // canonical
	// value is a literal value (nil: the empty one). set puts this very
	// slice in every response's header, allocation-free: code that edits
	// a header after set replaces its slice (Set, a new append), never
	// writes into it.
	value []string
	vars  annotations.Vars // the value's variables; nil for a literal
	// empty is the header's value when it is empty: nil removes it;
	// {""} for the User-Agent of an upstream request, so that Go's
	// default is not sent either.
	empty []string
}

// compileHeaders compiles hs, whose values the snapshot build checked
// (annotations.ParseVars); a value that does not parse is sent as written.
// upstream: the headers of the request to the upstream.
func compileHeaders(hs []annotations.Header, upstream bool) headerSet {
	out := make(headerSet, 0, len(hs))
	for _, hd := range hs {
		c := setHeader{name: textproto.CanonicalMIMEHeaderKey(hd.Name)}
		if v, err := annotations.ParseVars(hd.Value); err == nil && v.HasVars() {
			c.vars = v
		} else if hd.Value != "" {
			c.value = []string{hd.Value}
		}
		if upstream && c.name == "User-Agent" {
			c.empty = []string{""}
		}
		out = append(out, c)
	}
	return out
}

// set sets the headers of s on h, their variables those of r.
func (s headerSet) set(h http.Header, ex *exchange, r *http.Request) {
	for i := range s {
		c := &s[i]
		v := c.value
		if c.vars != nil {
			if x := c.vars.Expand(ex.vars(r)); x != "" {
				v = []string{x}
			}
		}
		if v == nil {
			v = c.empty
		}
		if v == nil {
			delete(h, c.name)
			continue
		}
		h[c.name] = v
	}
}

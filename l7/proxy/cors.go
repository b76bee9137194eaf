package proxy

import (
	"net/http"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"

	"github.com/weir-lb/weir/l7/h1server"
	"github.com/weir-lb/weir/l7/router"
	"github.com/weir-lb/weir/userspace/annotations"
)

// compiledCORS is an annotations.CORS ready for requests.
type compiledCORS struct {
	any    bool           // cors-allow-origin "*"
	origin *regexp.Regexp // the origins; nil: none matches
	// header are the headers of a matching request's response, but
	// Access-Control-Allow-Origin.
	header http.Header
}

// compileCORS builds ingress-nginx's origin match (buildCorsOriginRegex):
// each origin literal, its first "*" one DNS label, without regard to
// case. ingress-nginx anchors the alternation at the end only; Weir
// anchors it at both ends, so that "https://evil.test/https://a.test"
// does not pass for "https://a.test".
func compileCORS(c *annotations.CORS) *compiledCORS {
	cc := &compiledCORS{header: http.Header{}}
	var alts []string
	for _, o := range c.AllowOrigin {
		if o == "*" {
			cc.any = true
			break
		}
		alts = append(alts, "("+strings.Replace(regexp.QuoteMeta(o), `\*`, `[A-Za-z0-9\-]+`, 1)+")")
	}
	if !cc.any && len(alts) > 0 {
		cc.origin = regexp.MustCompile("(?i)^(" + strings.Join(alts, "|") + ")$")
	}
	h := cc.header
	if c.AllowCredentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	h.Set("Access-Control-Allow-Methods", c.AllowMethods)
	h.Set("Access-Control-Allow-Headers", c.AllowHeaders)
	if c.ExposeHeaders != "" {
		h.Set("Access-Control-Expose-Headers", c.ExposeHeaders)
	}
	h.Set("Access-Control-Max-Age", strconv.Itoa(c.MaxAge))
	return cc
}

// cors applies the route's enable-cors: for a request whose Origin
// matches (any request with cors-allow-origin "*") it sets the
// Access-Control-* headers, kept in ex for the upstream's response
// (responseHeaders), and answers an OPTIONS request 204 at once, returning
// true. A request that does not match gets nothing and goes on, OPTIONS
// included.
func (p *Proxy) cors(w *responseRecorder, r *http.Request, route *router.Route, ex *exchange) bool {
	c := route.Backend.Proxy.CORS
	if c == nil {
		return false
	}
	cc := p.corsCache.get(c, compileCORS)
	origin := "*"
	if !cc.any {
		origin = r.Header.Get("Origin")
		if cc.origin == nil || !cc.origin.MatchString(origin) {
			return false
		}
	}
	ex.cors, ex.corsOrigin = cc, origin
	setCORS(w.Header(), cc, origin)
	if r.Method != http.MethodOptions {
		// The order of Weir's own answer on the route (an error, a
		// redirect, a refusal; nginx 1.22.1's 502 of a closed port too);
		// relay sets the upstream's response's own.
		w.relayFieldOrder(p.corsOrder(nil, route))
		return false
	}
	// ingress-nginx's template sets Content-Type (text/plain
	// charset=UTF-8) and Content-Length (0) before its "return 204".
	// nginx's HTTP/1 header filter (ngx_http_header_filter) drops the
	// Content-Type of a 204 of its own, but writes the Content-Length
	// field more_set_headers added to the list; its HTTP/2 one sends
	// neither.
	// That Content-Length is a more_set_headers line, written with the
	// others, after the Access-Control-* lines (nginx 1.22.1: "...
	// Access-Control-Max-Age: 1728000", "Content-Length: 0").
	if r.ProtoMajor == 1 {
		w.Header()["Content-Length"] = corsPreflightLength
		w.listedLength()
	}
	w.relayFieldOrder(p.corsOrder(nil, route, corsLengthField))
	w.WriteHeader(http.StatusNoContent)
	return true
}

// corsPreflightLength is the Content-Length of an HTTP/1 preflight's 204.
var corsPreflightLength = []string{"0"}

// corsFieldOrder is the order of nginx.tmpl's more_set_headers lines of
// the CORS block.
var corsFieldOrder = []h1server.FieldName{
	{Name: "Access-Control-Allow-Origin"},
	{Name: "Access-Control-Allow-Credentials"},
	{Name: "Access-Control-Allow-Methods"},
	{Name: "Access-Control-Allow-Headers"},
	{Name: "Access-Control-Expose-Headers"},
	{Name: "Access-Control-Max-Age"},
}

// corsLengthField is the preflight's Content-Length, set after the CORS
// block's fields.
var corsLengthField = h1server.FieldName{Name: "Content-Length"}

// corsOrder is the order of the fields of a response to a request CORS
// matched on route, as nginx 1.22.1 with headers-more wrote them: base
// (the upstream's fields as they came; nil for Weir's own answer), then
// the more_set_headers lines in the order nginx applies them, add-headers
// (http{}), custom-headers (the location), the CORS block
// (corsFieldOrder), then tail; a field already named keeps its first
// place (more_set_headers replaces a field in place). base's array is not
// written.
func (p *Proxy) corsOrder(base []h1server.FieldName, route *router.Route, tail ...h1server.FieldName) []h1server.FieldName {
	add := p.liveGlobal().addHeaders
	var custom []annotations.Header
	if ch := route.Backend.Proxy.CustomHeaders; ch != nil {
		custom = ch.Headers
	}
	order := make([]h1server.FieldName, 0, len(base)+len(add)+len(custom)+len(corsFieldOrder)+len(tail))
	order = append(order, base...)
	for _, s := range add {
		order = append(order, h1server.FieldName{Name: s.name, Wire: h1server.WireName(s.name)})
	}
	for _, hd := range custom {
		k := textproto.CanonicalMIMEHeaderKey(hd.Name)
		order = append(order, h1server.FieldName{Name: k, Wire: h1server.WireName(k)})
	}
	order = append(order, corsFieldOrder...)
	return append(order, tail...)
}
func setCORS(h http.Header, cc *compiledCORS, origin string) {
	h.Set("Access-Control-Allow-Origin", origin)
	for k, v := range cc.header {
		h[k] = v
	}
}

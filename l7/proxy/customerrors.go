package proxy

import (
	"context"
	"net/http"
	"slices"
	"strconv"

	"github.com/weir-lb/weir/l7/router"
)

// custom-http-errors and default-backend, as ingress-nginx's
// proxy_intercept_errors and its @custom_<upstream>_<code> locations: a
// response whose status the route lists (the endpoint's, or Weir's own
// 502, 503 or 504) is dropped unread and the request is sent instead,
// without its body and with its path rewritten to "/" (the query kept), to
// the route's default-backend Service, else to the Snapshot's
// DefaultService (--default-backend-service: ingress-nginx's
// upstream-default-backend, even where a rule-less Ingress's
// spec.defaultBackend is the catch-all), with X-Code (the status), X-Format (the Accept header),
// X-Original-URI, X-Namespace, X-Ingress-Name, X-Service-Name,
// X-Service-Port and X-Request-ID, X-Forwarded-For and Host but none of the
// route's other forwarding fields (rewriteErrorPage). Its answer, whatever its status, is the
// response; it is not intercepted again. A default-backend Service without
// endpoints is passed over for the default backend, as ingress-nginx keeps
// only a custom backend with endpoints; without a default backend with
// endpoints, the answer is nginx's 404 page: ingress-nginx's
// upstream-default-backend is then its internal server on 127.0.0.1:8181,
// which answers every request "return 404".
//
// A route without endpoints whose Ingress has default-backend is served by
// that Service instead of answering 503, with the same headers and X-Code
// 503 but without X-Original-URI, as ingress-nginx's
// custom-default-backend- upstream, which the route's own location
// proxies to (router.Route.StandIn): with the request's method and body,
// the location's rewrite-target, and its backend-protocol, proxy-ssl-* and
// the rest of its upstream settings (nginx 1.22.1, that location with
// rewrite "(?i)/app(/|$)(.*)" /new/$2 break and proxy_pass https://: GET
// /app/x?q=1 reached the Service as /new/x?q=1 over TLS); that answer is
// intercepted as the route's endpoint's would be (exchange.location).
//
// Over HTTPS a custom error page has no HSTS of Weir's (the upstream's own
// passes): ingress-nginx serves it from a named location
// (@custom_<upstream>_<code>) without lua_ingress.lua's header filter. A
// route without endpoints served by its default-backend Service keeps the
// route's HSTS: it is proxied from the route's own location.

// intercept serves the error route of ex for an endpoint's response of
// status code when the route lists it in custom-http-errors and does not
// pass the endpoint's errors (disable-proxy-intercept-errors, nginx's
// proxy_intercept_errors off); it reports whether it did.
func (p *Proxy) intercept(rec *responseRecorder, r *http.Request, code int, ex *exchange) bool {
	if lr := ex.location(); lr != nil && lr.Backend.Proxy.Upstream.PassesErrors() {
		return false
	}
	return p.interceptOwn(rec, r, code, ex)
}

// location is the route whose nginx location ex's request is in: the
// route of the request a default-backend Service serves for want of
// endpoints (noEndpoints: the same location proxies to it, so its
// proxy_intercept_errors and error_page lines apply to that answer), else
// ex's own.
func (ex *exchange) location() *router.Route {
	if ex.origin != nil {
		return ex.origin.route
	}
	return ex.route
}

// ownError answers Weir's own error status as nginx's special response:
// the error route of ex when the route lists status in custom-http-errors
// (interceptOwn), else nginx's error page.
func (p *Proxy) ownError(rec *responseRecorder, r *http.Request, ex *exchange, status int) {
	if !p.interceptOwn(rec, r, status, ex) {
		writeError(rec, status)
	}
}

// interceptOwn serves the error route of ex for Weir's own response of
// status code (502, 503, 504, and the access phase's 401, 403, 500 and
// 503, source ranges' included: nginx's error_page, whatever proxy_intercept_errors says) when the
// route lists it in custom-http-errors; it reports whether it did.
func (p *Proxy) interceptOwn(rec *responseRecorder, r *http.Request, code int, ex *exchange) bool {
	lr := ex.location()
	if ex.intercepted || lr == nil || !lr.Backend.Proxy.Upstream.Intercepts(code) {
		return false
	}
	if p.blockedErrorPage(rec, ex, lr.ErrorRoute) {
		return true
	}
	// The endpoint's status too: nginx finalizes an intercepted
	// response with it (ngx_http_upstream_intercept_errors).
	closeAfter(rec, code)
	if er := lr.ErrorRoute; er != nil && p.serveErrorRoute(rec, r, code, ex, er, true) {
		return true
	}
	p.defaultErrorPage(rec, r, code, ex)
	return true
}

// defaultErrorPage serves @custom_upstream-default-backend_<code> for ex:
// the Snapshot's DefaultService, else ingress-nginx's internal default
// backend's 404. The catch-all's own answer is no exception: nginx's
// default server "_" inherits the http-level proxy_intercept_errors and
// error_page lines of the ConfigMap's custom-http-errors, so a listed
// status of --default-backend-service for an unmatched host is asked
// again of that Service, rewritten to "/" with X-Code (nginx 1.22.1: 200
// "/?z x-code=404" for GET other.test/y?z of a Service answering 404
// without X-Code).
func (p *Proxy) defaultErrorPage(rec *responseRecorder, r *http.Request, code int, ex *exchange) {
	var fb *router.Route
	if rt := p.router.Load(); rt != nil {
		fb = rt.ErrorPages()
	}
	if fb == nil || !p.serveErrorRoute(rec, r, code, ex, fb, true) {
		// ingress-nginx's internal default backend, through a
		// @custom_ location: no HSTS (serveErrorRoute). The access log
		// keeps the attempt's own status, and the location's upstream
		// name (logformat.go).
		ex.intercepted = true
		ex.passOn(code)
		delete(rec.Header(), "Strict-Transport-Security")
		writeError(rec, http.StatusNotFound)
	}
}

// atErrorPage reports whether ex's request ended in one of nginx's
// @custom_<upstream>_<code> locations (an error page, nginx's 404 page of
// the internal default backend, or the 403 of its inherited deny). Such a
// named location sets no access_log of its own: the http-level one logs
// the request whatever its first location said (enable-access-log
// "false", or the default server's off without
// enable-access-log-for-default-backend). nginx 1.22.1, location "/" with
// access_log off whose 404 went to @custom_upstream-default-backend_404,
// wrote 127.0.0.1 "GET /y?z HTTP/1.1" 200 404 : 200 upstream-default-backend.
func (ex *exchange) atErrorPage() bool {
	for e := ex; e != nil; e = e.redirect {
		if e.intercepted || e.errorPage {
			return true
		}
	}
	return false
}

// deniedError answers the 503 of a location ingress-nginx denies (an
// upstream.go upstreamDenial, or source ranges that do not parse):
// nginx.tmpl writes "return 503" in place of the location's settings, its
// error_page lines included, so the http-level ones of the ConfigMap's
// custom-http-errors apply, to @custom_upstream-default-backend_503
// whatever the route's own list and default-backend say; else nginx's 503
// page; a client block-cidrs refuses gets its 403 there (blockedErrorPage).
func (p *Proxy) deniedError(rec *responseRecorder, r *http.Request, ex *exchange) {
	const code = http.StatusServiceUnavailable
	g := p.liveGlobal()
	if !slices.Contains(g.CustomHTTPErrors, code) {
		writeError(rec, code)
		return
	}
	if !p.blockedErrorPage(rec, ex, nil) {
		p.defaultErrorPage(rec, r, code, ex)
	}
}

// blockedErrorPage answers nginx's 403 page for a client block-cidrs
// refuses, as a @custom_ location's access phase does (its inherited
// http-level deny; recursive_error_pages off): an error page comes before
// the location's own deny only after a refusal of an earlier phase (a
// denied location's return, limit_req, limit_conn), or to the 403 of that
// deny. It reports whether it answered. The access log has the error
// page's upstream name ($proxy_upstream_name, which the @custom_ location
// sets before its deny): er's, a default-backend Service with endpoints,
// else upstream-default-backend (er nil).
func (p *Proxy) blockedErrorPage(rec *responseRecorder, ex *exchange, er *router.Route) bool {
	rule := p.liveGlobal().block.blockedAddrRule(ex.fwd.remote)
	if rule == "" {
		return false
	}
	ex.intercepted = true
	if er != nil && er.Pool != nil && er.Pool.Len() > 0 {
		ex.redirect = &exchange{route: er} // nothing tried: only its name is logged
	}
	return p.block(rec, rule)
}

// internalDefault answers a request of a host's root location of
// upstream-default-backend when the Snapshot has no DefaultService: as
// ingress-nginx's internal default backend (127.0.0.1:8181, "return
// 404"), whose answer comes back through the location, so its
// custom-http-errors and response headers (custom-headers, CORS, HSTS)
// apply.
func (p *Proxy) internalDefault(rec *responseRecorder, r *http.Request, ex *exchange) {
	if p.intercept(rec, r, http.StatusNotFound, ex) {
		return
	}
	p.responseHeaders(ex, r, rec.Header(), 0)
	writeError(rec, http.StatusNotFound)
}

// noEndpoints serves a route without upstreams from its default-backend
// Service, else reads the body for a mirror's copy (nginx's mirror came
// first) and intercepts the 503; it reports whether it answered.
func (p *Proxy) noEndpoints(rec *responseRecorder, r *http.Request, ex *exchange) bool {
	if er := ex.route.StandIn; er != nil && !ex.intercepted && p.serveErrorRoute(rec, r, http.StatusServiceUnavailable, ex, er, false) {
		return true
	}
	mirrorRead(r) // mirror.go
	return p.interceptOwn(rec, r, http.StatusServiceUnavailable, ex)
}

// serveErrorRoute forwards r to er for status code of ex's route, rewritten
// to "/" with X-Original-URI and without its body when rewrite is set (an
// error page), else as it came (a stand-in); it reports false, having
// sent nothing, when er has no upstream.
func (p *Proxy) serveErrorRoute(rec *responseRecorder, r *http.Request, code int, ex *exchange, er *router.Route, rewrite bool) bool {
	up, ok := er.Pool.Next()
	if !ok {
		return false
	}
	ex2 := &exchange{start: ex.start, requestID: ex.requestID, fwd: ex.fwd, route: er, pool: er.Pool,
		timeouts: timeoutsOf(er.Backend), intercepted: rewrite, errorPage: rewrite,
		sticky: ex.sticky} // the affinity cookies stay in rec's header, as in nginx's headers_out
	if !rewrite {
		ex2.origin = ex // its answer may go to the location's error page (location)
	}
	if rewrite {
		// nginx's @custom_ location has no header filter of
		// ingress-nginx's: the HSTS the route's location set goes.
		delete(rec.Header(), "Strict-Transport-Security")
	}
	ex2.use(up)
	defer func() { ex2.upstream.InFlight.Add(-1) }()
	r2 := r.Clone(context.WithValue(r.Context(), exchangeKey{}, ex2))
	if rewrite {
		r2.Body, r2.ContentLength = http.NoBody, 0
		r2.TransferEncoding = nil
		r2.Header.Del("Content-Length")
	}
	be := ex.location().Backend
	h := r2.Header
	// An empty value is no field, as nginx sends none (no Accept, no
	// service of a host's root location, generate-request-id "false").
	h.Set("X-Code", strconv.Itoa(code))
	setOrDelete(h, "X-Format", r.Header.Get("Accept"))
	if rewrite {
		setOrDelete(h, "X-Original-URI", requestURI(r)) // of an absolute-form target, its path on
		r2.URL.Path, r2.URL.RawPath = "/", ""
	}
	ns, ing, svc, port := be.Ingress.Namespace, be.Ingress.Name, be.Service, be.Port
	if ex.findConfig {
		// Answered in nginx's find-config phase (a declared body over
		// proxy-body-size), before the location's set lines: $namespace,
		// $ingress_name, $service_name and $service_port are empty.
		ns, ing, svc, port = "", "", "", ""
	}
	setOrDelete(h, "X-Namespace", ns)
	setOrDelete(h, "X-Ingress-Name", ing)
	setOrDelete(h, "X-Service-Name", svc)
	setOrDelete(h, "X-Service-Port", port)
	setOrDelete(h, "X-Request-ID", ex.requestID)
	ex.passOn(code)
	ex.redirect = ex2
	p.forward(rec, r2, ex2)
	if err, why := ex2.failure(); err != nil {
		ex.fail(err, why)
	}
	return true
}

// rewriteErrorPage prepares out, the request of a custom error page
// (ex.errorPage), as nginx.tmpl's @custom_<upstream>_<code> location's
// proxy_set_header lines do: the fields serveErrorRoute set, X-Forwarded-For
// the client address alone ($remote_addr) and Host $best_http_host. That
// location sets none of the route location's forwarding fields
// (X-Real-IP, X-Forwarded-Host, -Port, -Proto, -Scheme, X-Scheme,
// X-Original-Forwarded-*) nor proxy-set-headers: the client's own pass as
// they came. Its Proxy field does not (as the route's, the httpoxy
// mitigation: Weir's choice, where the @custom_ location passes it).
func rewriteErrorPage(out *http.Request, ex *exchange) {
	rewriteTarget(out, ex)
	delete(out.Header, "Proxy")
	setOrDelete(out.Header, "X-Forwarded-For", ex.fwd.remoteText)
}

// passOn records the attempt of ex whose answer (code) a custom error
// replaces, for the access log: no body read, as nginx's before its
// internal redirect. Nothing when no attempt answered.
func (ex *exchange) passOn(code int) {
	if n := len(ex.tried); n > 0 && len(ex.passed) < n {
		ex.timing.done()
		ex.passed = append(ex.passed, passedAttempt{status: code, time: max(ex.timing.response, 0)})
	}
}

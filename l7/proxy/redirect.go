package proxy

import (
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/weir-lb/weir/l7/h1guard"
	"github.com/weir-lb/weir/l7/router"
)

// tlsPolicy applies the route's TLS settings before proxying. A request of
// a route with SSLRedirect (router.SSLRedirect: not through an alias
// without a certificate, unless ForceSSLRedirect) whose rule path is not in
// no-tls-redirect-locations (by prefix, as ingress-nginx's
// isLocationInLocationList: "/.well-known/acme-challenge" by default, so
// that cert-manager's HTTP-01 solver routes answer over plain HTTP) and whose scheme ($pass_access_scheme: the
// connection's, or X-Forwarded-Proto with use-forwarded-headers) is "http"
// gets a 308 (http-redirect-code) to the same host ($best_http_host) and
// $request_uri (as sent: requestURI) over HTTPS,
// without a trailing slash unless preserve-trailing-slash (as
// lua_ingress.lua), with the port under use-port-in-redirects, and
// tlsPolicy returns true: the request is done. (HSTS is set before, by
// ServeHTTP, as soon as a route matched.)
func (p *Proxy) tlsPolicy(w http.ResponseWriter, r *http.Request, hs router.Host, f *forwarding, route *router.Route) bool {
	be := route.Backend
	if f.scheme != "http" || !hs.SSLRedirect(route) || p.liveGlobal().noTLSRedirect(route, requestPath(r)) {
		return false
	}
	uri, withPort := requestURI(r), false
	if rw := be.Proxy.Rewrite; rw != nil {
		withPort = rw.UsePortInRedirects
		if !rw.PreserveTrailingSlash {
			uri = strings.TrimSuffix(uri, "/")
		}
	} else {
		uri = strings.TrimSuffix(uri, "/")
	}
	writeRedirect(w, p.liveGlobal().redirectCode, httpsURL(f.host, uri, p.httpsPort, withPort), "")
	return true
}

// ownHSTS makes hsts (the Snapshot's, for every route, the default
// backend and Weir's own 404 of a host no rule names) the only Strict-Transport-Security
// of an HTTPS response whose upstream header fields are in h, as
// ingress-nginx's header filter (lua_ingress.header) sets it over the
// upstream's; "" sets none. Run after hide-headers, which only remove the
// upstream's fields (proxy_hide_header).
func ownHSTS(h http.Header, r *http.Request, hsts string) {
	if r.TLS != nil && hsts != "" {
		h["Strict-Transport-Security"] = hstsValues(hsts)
	}
}

// hstsLast is the header value hstsValues returned last.
var hstsLast atomic.Pointer[[]string]

// hstsValues returns []string{v}, the same slice while v is the same (every
// route of a configuration has one HSTS value, nearly always): no
// allocation per HTTPS request. Its capacity is its length, so that a
// field added to it copies it; nothing writes a header value in place.
func hstsValues(v string) []string {
	if p := hstsLast.Load(); p != nil && (*p)[0] == v {
		return *p
	}
	vv := []string{v}
	hstsLast.Store(&vv)
	return vv
}

// httpsURL is the HTTPS URL of host and requestURI (path and query as
// sent); only when withPort is set (use-port-in-redirects) with httpsPort,
// 443 when 0. As lua_ingress.lua, which writes listen_ports.https only
// under use_port_in_redirects: an HTTPS listener on another port than 443
// is assumed to be reached as 443 through a Service or a load balancer.
// host is $best_http_host as sent (its case and a trailing dot kept, as
// lua_ingress.lua's redirect_host) up to its first ':'; a bracketed IPv6
// address keeps its brackets (redirect_host would cut it at its first ':').
func httpsURL(host, requestURI string, httpsPort int, withPort bool) string {
	if strings.HasPrefix(host, "[") {
		if i := strings.IndexByte(host, ']'); i > 0 {
			host = host[:i+1]
		}
	} else {
		host, _, _ = strings.Cut(host, ":")
	}
	if withPort {
		if httpsPort == 0 {
			httpsPort = 443
		}
		host += ":" + strconv.Itoa(httpsPort)
	}
	return "https://" + host + requestURI
}

// hostRedirect answers the redirects of nginx's server level, before any
// path matches, and returns true when it did:
//
//   - a from-to-www-redirect name (ingress-nginx's redirect server and
//     ngx_srv_redirect.lua): http-redirect-code (308) to $scheme://<host>:$server_port followed
//     by $request_uri without its trailing slash; with use-forwarded-headers
//     the scheme and port are X-Forwarded-Proto's and X-Forwarded-Port's.
//   - app-root: a request whose path is "/" gets 302 to
//     $scheme://$http_host<app-root> (nginx.tmpl's "if ($uri = /)"):
//     the connection's scheme and the Host line (httpHost: of an
//     absolute-form target too, whose URL only routed the request).
func (p *Proxy) hostRedirect(w http.ResponseWriter, r *http.Request, hs router.Host, f *forwarding) bool {
	to, appRoot := hs.HostLevel()
	switch {
	case to != "":
		port := localPort(r)
		if p.liveGlobal().UseForwardedHeaders {
			if v, ok := headerValue(r.Header, "X-Forwarded-Port"); ok {
				port = v
			}
		}
		writeRedirect(w, p.liveGlobal().redirectCode, f.scheme+"://"+to+":"+port+strings.TrimSuffix(requestURI(r), "/"), "")
		return true
	case appRoot != "" && requestPath(r) == "/":
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		writeRedirect(w, http.StatusFound, scheme+"://"+httpHost(r)+appRoot, "")
		return true
	}
	return false
}

// locationRedirect answers the redirects of nginx's location rewrite phase
// that come before ssl-redirect (which is Lua, run at the end of the phase),
// and returns true when it did: permanent-redirect or temporal-redirect
// (nginx's return <code> <url>), then a rewrite-target starting with
// http:// or https:// (nginx's rewrite to a URL: 302, the query appended).
func (p *Proxy) locationRedirect(w *responseRecorder, r *http.Request, route *router.Route) bool {
	rw := route.Backend.Proxy.Rewrite
	if rw == nil {
		return false
	}
	target := ""
	code := rw.RedirectCode
	switch {
	case rw.RedirectURL != "":
		target = rw.RedirectURL
		if target[0] == '/' && !rw.RelativeRedirects {
			target = absoluteRedirect(r, target, rw.UsePortInRedirects)
			w.absoluteLocation()
		}
	case route.Rewrite != nil && (strings.HasPrefix(rw.Target, "http://") || strings.HasPrefix(rw.Target, "https://")):
		uri := requestPath(r)
		m := route.Rewrite.FindStringSubmatchIndex(uri)
		if m == nil {
			return false
		}
		// The groups come from the decoded path: escaped as nginx does,
		// no control byte or space of them reaches the Location.
		target, code = expandCaptures(rw.Target, uri, m, quotedURI(r)), http.StatusFound
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
	default:
		return false
	}
	writeRedirect(w, code, target, p.liveGlobal().contentType)
	return true
}

// absoluteRedirect makes the path target absolute as nginx's header filter
// does under absolute_redirect on: the connection's scheme, the request's
// host (lower-cased, without its port; the local address when it has
// none, as nginx for an HTTP/1.0 request without Host: nginx 1.22.1
// answered one with "http://127.0.0.1/new-location", where server_name
// is not used under server_name_in_redirect off), the local port when
// withPort (port_in_redirect on) and it is not the scheme's default, then
// target. A local IPv6 address is written in brackets (nginx writes it
// bare, which no client can parse).
func absoluteRedirect(r *http.Request, target string, withPort bool) string {
	scheme, defPort := "http://", "80"
	if r.TLS != nil {
		scheme, defPort = "https://", "443"
	}
	host := router.NormalizeHost(r.Host)
	if host == "" {
		host = localIP(r)
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port := localPort(r); withPort && port != defPort {
		host += ":" + port
	}
	return scheme + host + target
}

// requestURI is nginx's $request_uri: the target of the request line as
// the client sent it, bytes net/url would escape ('"', UTF-8) kept; of an
// absolute-form target ("http://host/p?q") the part from the path on, "/"
// when it has no path, as nginx's parser starts its unparsed URI there.
func requestURI(r *http.Request) string {
	t := r.RequestURI
	if t != "" && t[0] == '/' {
		return t
	}
	if _, rest, ok := strings.Cut(t, "://"); ok {
		if i := strings.IndexAny(rest, "/?"); i >= 0 && rest[i] == '/' {
			return rest[i:]
		} else if i < 0 {
			return "/"
		}
	}
	return r.URL.RequestURI()
}

// writeRedirect answers code as nginx's return does: for 301, 302, 303,
// 307 and 308 a Location of target and nginx's page for the status; for
// another status (300, 304, 305, 306) target is the body, without a
// Location, of type defaultType (nginx's default_type, default-type; ""
// means text/html).
func writeRedirect(w http.ResponseWriter, code int, target, defaultType string) {
	h := w.Header()
	h.Set("Content-Type", "text/html")
	body := target
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		h.Set("Location", target)
		body = h1guard.ErrorPage(code)
	default:
		if defaultType != "" {
			h.Set("Content-Type", defaultType)
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	if code != http.StatusNotModified {
		_, _ = w.Write([]byte(body))
	}
}

// slashRedirect answers a request for the path of a Prefix rule that ended
// in "/" (router.Route.SlashRedirect) as nginx's auto_redirect of the
// location "path/" does, once it has chosen the location and before any
// phase of it runs: 301 to the path with the slash, the query appended,
// absolute unless relative-redirects, with the port only under the
// location's use-port-in-redirects (nginx 1.22.1 answered "/trail?x=1" of
// a rule "/trail/" with 301 and "http://mix.test/trail/?x=1" under
// ingress-nginx's port_in_redirect off).
func (p *Proxy) slashRedirect(w *responseRecorder, r *http.Request, route *router.Route) {
	target := route.Path + "/"
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	rw := route.Backend.Proxy.Rewrite
	if rw == nil || !rw.RelativeRedirects {
		target = absoluteRedirect(r, target, rw != nil && rw.UsePortInRedirects)
		w.absoluteLocation()
	}
	writeRedirect(w, http.StatusMovedPermanently, target, p.liveGlobal().contentType)
}

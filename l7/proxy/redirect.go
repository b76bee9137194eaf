package proxy

import (
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/weir-lb/weir/l7/router"
)

// acmeChallengePath is never redirected to HTTPS, as ingress-nginx's
// no-tls-redirect-locations default: an ACME HTTP-01 challenge must be
// answered over plain HTTP.
const acmeChallengePath = "/.well-known/acme-challenge"

// tlsPolicy applies the route's TLS settings before proxying. A request of
// a route with SSLRedirect whose scheme ($pass_access_scheme: the
// connection's, or X-Forwarded-Proto with use-forwarded-headers) is "http"
// gets a 308 (http-redirect-code) to the same host ($best_http_host) and path+query over HTTPS,
// without a trailing slash unless preserve-trailing-slash (as
// lua_ingress.lua), with the port under use-port-in-redirects, and
// tlsPolicy returns true: the request is done. An HTTPS request of a route with HSTS
// gets the Strict-Transport-Security header (written before the upstream's
// headers, so browsers, which heed the first, use Weir's).
func (p *Proxy) tlsPolicy(w http.ResponseWriter, r *http.Request, f *forwarding, route *router.Route) bool {
	be := route.Backend
	if r.TLS != nil && be.HSTS != "" {
		w.Header().Set("Strict-Transport-Security", be.HSTS)
	}
	if f.scheme != "http" || !be.SSLRedirect || strings.HasPrefix(matchPath(r.URL.Path), acmeChallengePath) {
		return false
	}
	uri, withPort := r.URL.RequestURI(), false
	if rw := be.Proxy.Rewrite; rw != nil {
		withPort = rw.UsePortInRedirects
		if !rw.PreserveTrailingSlash {
			uri = strings.TrimSuffix(uri, "/")
		}
	} else {
		uri = strings.TrimSuffix(uri, "/")
	}
	writeRedirect(w, p.liveGlobal().HTTPRedirectCode(), httpsURL(f.host, uri, p.httpsPort, withPort))
	return true
}

// httpsURL is the HTTPS URL of host (without its port) and requestURI
// (path and query as sent), with httpsPort unless it is 0 or 443, or, when
// withPort is set (use-port-in-redirects), with httpsPort, 443 when 0.
func httpsURL(host, requestURI string, httpsPort int, withPort bool) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if withPort && httpsPort == 0 {
		httpsPort = 443
	}
	if httpsPort != 0 && (httpsPort != 443 || withPort) {
		host += ":" + strconv.Itoa(httpsPort)
	}
	return "https://" + host + requestURI
}

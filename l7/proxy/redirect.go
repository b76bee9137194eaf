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
// gets a 308 to the same host ($best_http_host) and path+query over HTTPS,
// and tlsPolicy
// returns true: the request is done. An HTTPS request of a route with HSTS
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
	w.Header().Set("Location", httpsURL(f.host, r.URL.RequestURI(), p.httpsPort))
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(http.StatusPermanentRedirect)
	_, _ = w.Write([]byte("<html>\r\n<head><title>308 Permanent Redirect</title></head>\r\n<body>\r\n<center><h1>308 Permanent Redirect</h1></center>\r\n</body>\r\n</html>\r\n"))
	return true
}

// httpsURL is the HTTPS URL of host (without its port) and requestURI
// (path and query as sent), with httpsPort unless it is 0 or 443.
func httpsURL(host, requestURI string, httpsPort int) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if httpsPort != 0 && httpsPort != 443 {
		host += ":" + strconv.Itoa(httpsPort)
	}
	return "https://" + host + requestURI
}

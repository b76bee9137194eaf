package proxy

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/weir-lb/weir/l7/router"
)

// hostRedirect answers the redirects of nginx's server level, before any
// path matches, and returns true when it did:
//
//   - a from-to-www-redirect name (ingress-nginx's redirect server and
//     ngx_srv_redirect.lua): http-redirect-code (308) to $scheme://<host>:$server_port followed
//     by $request_uri without its trailing slash; with use-forwarded-headers
//     the scheme and port are X-Forwarded-Proto's and X-Forwarded-Port's.
//   - app-root: a request whose path is "/" gets 302 to
//     $scheme://$http_host<app-root> (nginx.tmpl's "if ($uri = /)").
func (p *Proxy) hostRedirect(w http.ResponseWriter, r *http.Request, rt *router.Router, f *forwarding) bool {
	to, appRoot := rt.HostLevel(r.Host)
	switch {
	case to != "":
		port := localPort(r)
		if p.liveGlobal().UseForwardedHeaders {
			if v, ok := headerValue(r.Header, "X-Forwarded-Port"); ok {
				port = v
			}
		}
		writeRedirect(w, p.liveGlobal().HTTPRedirectCode(), f.scheme+"://"+to+":"+port+strings.TrimSuffix(requestURI(r), "/"))
		return true
	case appRoot != "" && matchPath(r.URL.Path) == "/":
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		writeRedirect(w, http.StatusFound, scheme+"://"+r.Host+appRoot)
		return true
	}
	return false
}

// locationRedirect answers the redirects of nginx's location rewrite phase
// that come before ssl-redirect (which is Lua, run at the end of the phase),
// and returns true when it did: permanent-redirect or temporal-redirect
// (nginx's return <code> <url>), then a rewrite-target starting with
// http:// or https:// (nginx's rewrite to a URL: 302, the query appended).
// An HTTPS response gets the route's HSTS header, as every response does.
func (p *Proxy) locationRedirect(w http.ResponseWriter, r *http.Request, route *router.Route) bool {
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
			target = absoluteRedirect(r, route.Host, target, rw.UsePortInRedirects)
		}
	case route.Rewrite != nil && (strings.HasPrefix(rw.Target, "http://") || strings.HasPrefix(rw.Target, "https://")):
		uri := matchPath(r.URL.Path)
		m := route.Rewrite.FindStringSubmatchIndex(uri)
		if m == nil {
			return false
		}
		target, code = expand(rw.Target, uri, m), http.StatusFound
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
	default:
		return false
	}
	if r.TLS != nil && route.Backend.HSTS != "" {
		w.Header().Set("Strict-Transport-Security", route.Backend.HSTS)
	}
	writeRedirect(w, code, target)
	return true
}

// rewriteUpstream applies the route's rewrite family to the upstream
// request out of in: upstream-vhost replaces the Host header; when the
// route rewrites, the path becomes the rewrite-target with the groups of
// the route's path matched against the request's normalised path ($uri),
// sent escaped, with the query as the client sent it, and
// x-forwarded-prefix is sent as X-Forwarded-Prefix. A path the expression
// does not match is sent as it is, as nginx's rewrite leaves it.
func rewriteUpstream(in, out *http.Request, route *router.Route) {
	rw := route.Backend.Proxy.Rewrite
	if rw == nil {
		return
	}
	if rw.UpstreamVhost != "" {
		out.Host = rw.UpstreamVhost
	}
	if route.Rewrite == nil {
		return
	}
	uri := matchPath(in.URL.Path)
	m := route.Rewrite.FindStringSubmatchIndex(uri)
	if m != nil {
		out.URL.Path = expand(rw.Target, uri, m)
		if !strings.HasPrefix(out.URL.Path, "/") {
			out.URL.Path = "/" + out.URL.Path
		}
		out.URL.RawPath, out.URL.Opaque = "", ""
	}
	if rw.XForwardedPrefix != "" {
		out.Header["X-Forwarded-Prefix"] = []string{expand(rw.XForwardedPrefix, uri, m)}
	}
}

// expand returns template with each $1..$9 replaced by that group of the
// match m of s (FindStringSubmatchIndex), "" for a group that did not
// take part or does not exist, as nginx's captures in a rewrite.
func expand(template, s string, m []int) string {
	if !strings.Contains(template, "$") {
		return template
	}
	var b strings.Builder
	for i := 0; i < len(template); i++ {
		c := template[i]
		if c != '$' || i+1 == len(template) || template[i+1] < '1' || template[i+1] > '9' {
			b.WriteByte(c)
			continue
		}
		g := int(template[i+1] - '0')
		i++
		if 2*g+1 < len(m) && m[2*g] >= 0 {
			b.WriteString(s[m[2*g]:m[2*g+1]])
		}
	}
	return b.String()
}

// absoluteRedirect makes the path target absolute as nginx's header filter
// does under absolute_redirect on: the connection's scheme, the request's
// host (lower-cased, without its port; serverHost when it has none), the
// local port when withPort (port_in_redirect on) and it is not the
// scheme's default, then target.
func absoluteRedirect(r *http.Request, serverHost, target string, withPort bool) string {
	scheme, defPort := "http://", "80"
	if r.TLS != nil {
		scheme, defPort = "https://", "443"
	}
	host := router.NormalizeHost(r.Host)
	if host == "" {
		host = serverHost
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
// the client sent it.
func requestURI(r *http.Request) string {
	if r.RequestURI != "" && r.RequestURI[0] == '/' {
		return r.RequestURI
	}
	return r.URL.RequestURI()
}

// writeRedirect answers code as nginx's return does: for 301, 302, 303,
// 307 and 308 a Location of target and nginx's page for the status; for
// another status (300, 304, 305, 306) target is the body, without a
// Location.
func writeRedirect(w http.ResponseWriter, code int, target string) {
	h := w.Header()
	h.Set("Content-Type", "text/html")
	body := target
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		h.Set("Location", target)
		status := strconv.Itoa(code) + " " + http.StatusText(code)
		body = "<html>\r\n<head><title>" + status + "</title></head>\r\n<body>\r\n<center><h1>" + status +
			"</h1></center>\r\n</body>\r\n</html>\r\n"
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	if code != http.StatusNotModified {
		_, _ = w.Write([]byte(body))
	}
}

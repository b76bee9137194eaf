package proxy

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/weir-lb/weir/l7/router"
	"github.com/weir-lb/weir/userspace/annotations"
)

// pickUpstream selects the upstream of pool for r after the upstreams ex
// tried, or among all once all were tried (router.Pool.Pick: round robin,
// ewma, upstream-hash-by or cookie affinity) and, when the pick is a new
// sticky choice on a route that sets the cookie (router.Route.CookiePath)
// for a host ingress-nginx sets it for (exchange.noStickyCookie), adds the
// affinity cookie that names it to w, after one added for an earlier
// attempt. It reports false when pool has no upstream.
func (p *Proxy) pickUpstream(w http.ResponseWriter, r *http.Request, ex *exchange, pool *router.Pool) (*router.Upstream, bool) {
	tried := ex.tried
	if len(tried) >= pool.Len() {
		// Every upstream was tried and proxy-next-upstream-tries allows
		// more: the balancer picks among all again, as ingress-nginx's
		// round robin (which never skips a tried peer) and ewma (which
		// starts over once all were tried) do: "a, b, a" for two
		// failing endpoints, "a, a, a" for one.
		tried = nil
	}
	if pool.Plain() {
		return pool.NextExcept(tried)
	}
	remote := ex.fwd.remoteText
	if ex.fwd.remote.IsValid() {
		remote = ex.fwd.remote.String()
	}
	up, cookie, ok := pool.Pick(r, remote, tried)
	if !ok || cookie == "" || ex.route.CookiePath == "" || ex.noStickyCookie {
		return up, ok
	}
	be := ex.route.Backend
	for _, c := range ex.route.Canaries {
		if c.Pool == pool {
			be = c.Backend
		}
	}
	if b := be.Proxy.Balance; b != nil && b.Cookie {
		addAffinityCookie(w.Header(), affinityCookie(b, cookie, ex.route.CookiePath, r, time.Now()))
		ex.sticky = len(w.Header()["Set-Cookie"])
	}
	return up, ok
}

// takeSticky removes from h the affinity cookies that lead its Set-Cookie
// lines (exchange.sticky) and returns them, nil when there are none, for
// putSticky to put back: nginx's proxy_cookie_domain, proxy_cookie_path
// and proxy_hide_header edit the upstream's fields, not the cookie
// ingress-nginx's balancer set.
func takeSticky(ex *exchange, h http.Header) []string {
	n, lines := ex.sticky, h["Set-Cookie"]
	if n == 0 || len(lines) < n {
		return nil
	}
	if h["Set-Cookie"] = lines[n:]; len(lines) == n {
		delete(h, "Set-Cookie")
	}
	return lines[:n:n]
}

// putSticky puts the affinity cookies takeSticky took back first.
func putSticky(h http.Header, own []string) {
	if own != nil {
		h["Set-Cookie"] = append(own, h["Set-Cookie"]...)
	}
}

// addAffinityCookie adds the Set-Cookie line c to h unless h has it
// already, as lua-resty-cookie's set: a request whose attempts each chose a
// new endpoint (proxy-next-upstream) gets a cookie for each, the last one
// naming the endpoint that answered, as from ingress-nginx.
func addAffinityCookie(h http.Header, c string) {
	for _, v := range h["Set-Cookie"] {
		if v == c {
			return
		}
	}
	h["Set-Cookie"] = append(h["Set-Cookie"], c)
}

// affinityCookie is the Set-Cookie value of ingress-nginx's sticky
// balancer for the cookie value v (lua-resty-cookie's attribute order):
// Expires (session-cookie-expires from now), Max-Age, Domain, Path
// (session-cookie-path, else the rule's path), Secure (always with
// session-cookie-secure, else on HTTPS requests), HttpOnly, SameSite
// (dropped for the user agents that reject None when
// session-cookie-conditional-samesite-none says so).
func affinityCookie(b *annotations.Balance, v, rulePath string, r *http.Request, now time.Time) string {
	var s strings.Builder
	s.WriteString(b.CookieName + "=" + v)
	if b.CookieExpires != "" {
		if n, err := strconv.ParseInt(b.CookieExpires, 10, 64); err == nil {
			s.WriteString("; Expires=" + cookieTime(now.Add(time.Duration(n)*time.Second)))
		}
	}
	if b.CookieMaxAge != "" {
		s.WriteString("; Max-Age=" + b.CookieMaxAge)
	}
	if b.CookieDomain != "" {
		s.WriteString("; Domain=" + b.CookieDomain)
	}
	path := b.CookiePath
	if path == "" {
		path = rulePath
	}
	s.WriteString("; Path=" + path)
	if b.CookieSecure || r.TLS != nil {
		s.WriteString("; Secure")
	}
	s.WriteString("; HttpOnly")
	sameSite := b.CookieSameSite
	if sameSite == "None" && b.CookieConditionalSameSiteNone && !sameSiteNoneCompatible(r.UserAgent()) {
		sameSite = ""
	}
	if sameSite != "" {
		s.WriteString("; SameSite=" + sameSite)
	}
	return s.String()
}

// cookieTime is nginx's ngx_http_cookie_time: a two-digit year up to 2037,
// four digits after.
func cookieTime(t time.Time) string {
	t = t.UTC()
	if t.Year() > 2037 {
		return t.Format("Mon, 02-Jan-2006 15:04:05 GMT")
	}
	return t.Format("Mon, 02-Jan-06 15:04:05 GMT")
}

// sameSiteNoneCompatible is ingress-nginx's same_site_none_compatible: false
// for the user agents known to reject a SameSite=None cookie.
func sameSiteNoneCompatible(ua string) bool {
	has := func(s string) bool { return strings.Contains(ua, s) }
	switch {
	case has("Chrome/4"), has("Chrome/5"), has("Chrome/6"), has("CPU iPhone OS 12"), has("iPad; CPU OS 12"):
		return false
	case has("Macintosh") && has("Intel Mac OS X 10_14") && has("Safari") && !has("Chrome"):
		return false
	}
	return true
}

// observeUpstream gives the pool of a request the time its last upstream
// took, connect plus response time as ingress-nginx's ewma after_balance
// (router.Pool.Observe).
func observeUpstream(ex *exchange) {
	if ex.pool == nil || ex.upstream == nil || ex.timing.start.IsZero() {
		return
	}
	ex.timing.done()
	ex.pool.Observe(ex.upstream, max(ex.timing.connect, 0)+max(ex.timing.response, 0))
}

package proxy

import (
	"cmp"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-lb/weir/l7/h1guard"
	"github.com/weir-lb/weir/l7/router"
	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/htpasswd"
)

// authenticator runs the access phase of a route as nginx does with
// ingress-nginx's configuration: the source ranges (allow/deny), basic or
// digest authentication (auth_basic, auth_digest) and external
// authentication (auth_request), in that order, combined by satisfy.
//
//   - A route whose source ranges or authentication did not parse answers
//     503 to everyone, whatever satisfy says (ingress-nginx denies the
//     location before the access phase).
//   - satisfy all: the first that refuses answers (403, 401 with a
//     challenge, the auth service's 401 or 403).
//   - satisfy any: the first that grants lets the request through, without
//     running the others (an allow list grants when it holds the client;
//     a deny list alone never grants). When none grants, 401 if any said
//     401, else 403. An external auth error (500) answers at once.
//
// A 401 of a route with auth-signin becomes a 302 to it.
type authenticator struct {
	basic  ptrCache[annotations.BasicAuth, *compiledBasic]
	digest digestNonces
	ext    ptrCache[annotations.ExternalAuth, *compiledExternal]
	cache  authCache
	mu     sync.Mutex
	trans  map[transportKey]*http.Transport // by keep-alive settings
	denied *prometheus.CounterVec           // nil: no metrics
	// timeout bounds connecting to an auth service and then waiting for
	// its answer's head: nginx's default proxy_connect_timeout and
	// proxy_read_timeout, which hold in ingress-nginx's auth location
	// whatever the route's proxy-*-timeout (set in its own location only).
	timeout time.Duration
}

// nginxProxyTimeout is nginx's default proxy_connect_timeout,
// proxy_send_timeout and proxy_read_timeout.
const nginxProxyTimeout = 60 * time.Second

// newAuthenticator returns the access phase; reg nil means no metrics.
func newAuthenticator(reg *prometheus.Registry) *authenticator {
	a := &authenticator{trans: map[transportKey]*http.Transport{}, timeout: nginxProxyTimeout}
	if reg != nil {
		a.denied = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_auth_denied_total",
			Help: "Requests refused by authentication, by Ingress and by status: 401 and 403 (refused), 500 (the authentication service failed), 503 (the configuration is invalid: the route is denied).",
		}, []string{"namespace", "ingress", "status"})
		reg.MustRegister(a.denied)
	}
	return a
}

// accessPhase runs the access phase of route for r. It returns true when it
// answered the request (refused it); otherwise r's headers are ready for
// the upstream (Authorization removed after basic authentication, the
// auth-response-headers set) and rec adds the auth service's cookies.
func (p *Proxy) accessPhase(rec *responseRecorder, r *http.Request, ex *exchange, route *router.Route) bool {
	a := route.Backend.Proxy.Auth
	// no-auth-locations lift the authentication, not a denial.
	if a == nil || a.Invalid == "" && (a.Basic == nil && a.External == nil || p.liveGlobal().noAuth(route, requestPath(r))) {
		if a != nil && a.External != nil {
			// Unlike nginx, which sets no auth-response-headers in such a
			// location and so passes the client's: a backend that takes
			// them from the auth service must not get them forged.
			for _, h := range a.External.ResponseHeaders {
				r.Header.Del(h)
			}
		}
		switch status := p.sources.reject(ex.fwd.remote, route); status {
		case 0:
		case http.StatusServiceUnavailable: // a denied location's (customerrors.go)
			p.deniedError(rec, r, ex)
			return true
		default:
			p.ownError(rec, r, ex, status)
			return true
		}
		return false
	}
	au := p.auth
	// conns are the idle connections kept to the auth service: auth-keepalive
	// as ingress-nginx applies it, only with use-http2 "false". There its
	// access_by_lua (ngx_conf_external_auth.lua, ngx.location.capture)
	// replaces auth_request: only a 200 grants (another 2xx is a 500), its
	// 401 carries no WWW-Authenticate of the service, and $auth_cookie is
	// set by a 200 only, added without always whatever
	// auth-always-set-cookie says.
	var conns int
	if a.External != nil && !p.ServesHTTP2() {
		conns = a.External.KeepaliveConnections
	}
	lua := conns > 0
	alwaysSetCookie := a.External != nil && a.External.AlwaysSetCookie && !lua
	srcStatus, list, granted := p.sources.verdict(ex.fwd.remote, route)
	refuse := func(status int, challenges, cookies []string) bool {
		au.count(route, status)
		p.writeRefusal(rec, r, ex, a, status, challenges, cookies, alwaysSetCookie)
		return true
	}
	switch {
	case srcStatus == http.StatusServiceUnavailable:
		p.sources.count(route, list)
		p.deniedError(rec, r, ex) // customerrors.go
		return true
	case a.Invalid != "":
		return refuse(http.StatusServiceUnavailable, nil, nil)
	case srcStatus != 0 && !a.SatisfyAny:
		p.sources.count(route, list)
		p.ownError(rec, r, ex, srcStatus)
		return true
	}
	// pass readies r for the upstream: proxy_set_header Authorization ""
	// after basic authentication, and the auth-response-headers from the
	// service's answer (none when it was not asked).
	pass := func(res *authResult) bool {
		if a.Basic != nil {
			r.Header.Del("Authorization")
		}
		if a.External == nil {
			return false
		}
		// $upstream_http_<name> of nginx 1.23 and later: the answer's
		// fields of that name joined by ", " (1.22 took the first).
		for _, h := range a.External.ResponseHeaders {
			r.Header.Del(h)
			if v := strings.Join(res.headers.Values(h), ", "); res.status == http.StatusOK && v != "" {
				r.Header.Set(h, v)
			}
		}
		if res.status == http.StatusOK {
			rec.addCookies(res.headers.Values("Set-Cookie"), alwaysSetCookie)
		}
		return false
	}
	var none authResult
	if granted && a.SatisfyAny {
		return pass(&none)
	}
	// Under satisfy any, status is nginx's access code so far (a 401
	// sticks) and challenges the WWW-Authenticate lines every refusal so
	// far left in the response headers, whatever the final status.
	status := srcStatus
	var challenges, cookies []string
	if a.Basic != nil {
		ok, ch := au.checkBasic(a.Basic, r)
		switch {
		case ok && a.SatisfyAny:
			return pass(&none)
		case !ok && !a.SatisfyAny:
			return refuse(http.StatusUnauthorized, ch.Values("Www-Authenticate"), nil)
		case !ok:
			status, challenges = http.StatusUnauthorized, ch.Values("Www-Authenticate")
		}
	}
	if a.External != nil {
		res := au.external(r, ex, route, a.External, conns)
		if lua && res.status == http.StatusOK && res.code != http.StatusOK {
			res.status = http.StatusInternalServerError
		}
		if res.status == http.StatusOK {
			return pass(&res)
		}
		if res.status == http.StatusUnauthorized && !lua { // auth_request copies the challenge on 401 only
			challenges = append(slices.Clip(challenges), res.headers.Values("Www-Authenticate")...)
		}
		if !lua {
			cookies = res.headers.Values("Set-Cookie")
		}
		switch {
		case res.status == http.StatusInternalServerError || !a.SatisfyAny:
			return refuse(res.status, challenges, cookies)
		case status != http.StatusUnauthorized:
			status = res.status
		}
	}
	if status == 0 {
		return pass(&none)
	}
	return refuse(status, challenges, cookies)
}

// writeRefusal answers status: a 302 to auth-signin for a 401 (nginx's
// error_page 401 = @signin, which comes first in ingress-nginx's
// location); else the default backend's page when the route lists status
// in custom-http-errors (its error_page ... = @custom_...); else 401, 403,
// 500 or 503 as nginx's error pages. Every one carries challenges, the
// WWW-Authenticate lines the access phase left (basic or digest
// authentication's, the auth service's on its 401), as nginx's headers
// keep them whatever the final status. cookies are the auth service's
// Set-Cookie, added where nginx's add_header would (with always: to any
// status): not to the default backend's page, which a location without
// that add_header serves.
func (p *Proxy) writeRefusal(rec *responseRecorder, r *http.Request, ex *exchange, a *annotations.Auth, status int, challenges, cookies []string, always bool) {
	for _, v := range challenges {
		rec.Header().Add("Www-Authenticate", v)
	}
	if status == http.StatusUnauthorized && a.External != nil && a.External.Signin != "" {
		rec.addCookies(cookies, always)
		c := p.auth.compiledExt(a.External)
		loc := c.signin.Expand(ex.vars(r))
		if c.signinSep != "" {
			loc += c.signinSep + c.signinParam + "=" + ex.fwd.scheme + "://" + httpHost(r) + escapeURIComponent(requestURI(r))
		}
		rec.Header().Set("Location", loc)
		rec.Header().Set("Content-Type", "text/html")
		rec.WriteHeader(http.StatusFound)
		_, _ = io.WriteString(rec, h1guard.ErrorPage(http.StatusFound))
		return
	}
	if p.interceptOwn(rec, r, status, ex) { // customerrors.go
		return
	}
	rec.addCookies(cookies, always)
	writeError(rec, status)
}

// signinSeparator is how ingress-nginx's buildAuthSignURL extends the
// auth-signin annotation as written (before nginx expands its variables)
// with param=$pass_access_scheme://$http_host$escaped_request_uri: "?"
// when it has no query, "&" when its query lacks param, "" (nothing
// added) when param has a value there.
func signinSeparator(signin, param string) string {
	u, err := url.Parse(signin)
	if err != nil {
		return ""
	}
	switch q := u.Query(); {
	case len(q) == 0:
		return "?"
	case q.Get(param) != "":
		return ""
	}
	return "&"
}

// escapeURIComponent escapes s as set-misc 0.33's set_escape_uri (the
// module ingress-nginx builds in): control bytes, space, bytes from 0x7f
// and "#%&+/:;<=>?[\]^{} as %XX; letters, digits and !$'()*,-.@_`|~
// are kept.
func escapeURIComponent(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"#%&+/:;<=>?[\]^{}`, c) >= 0 {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func (au *authenticator) count(route *router.Route, status int) {
	if au.denied != nil {
		ing := route.Backend.Ingress
		au.denied.WithLabelValues(ing.Namespace, ing.Name, strconv.Itoa(status)).Inc()
	}
}

// compiledBasic is a BasicAuth's user file: the first entry of each user
// counts, as nginx reads the file top down.
type compiledBasic struct {
	users     map[string]string
	challenge http.Header
}

func compileBasic(b *annotations.BasicAuth) *compiledBasic {
	c := &compiledBasic{users: make(map[string]string, len(b.Users)), challenge: http.Header{}}
	for _, line := range b.Users {
		user, hash, _ := strings.Cut(line, ":")
		if _, dup := c.users[user]; !dup {
			c.users[user] = hash
		}
	}
	c.challenge.Set("Www-Authenticate", `Basic realm="`+b.Realm+`"`)
	return c
}

// checkBasic reports whether r's Authorization header holds a user of b
// with its password; when not, the challenge to send.
func (au *authenticator) checkBasic(b *annotations.BasicAuth, r *http.Request) (bool, http.Header) {
	authz := r.Header.Get("Authorization")
	if b.Digest {
		return au.checkDigest(b, authz, r.Method, r.RequestURI)
	}
	c := au.basic.get(b, compileBasic)
	user, pass, ok := basicCredentials(authz)
	hash, known := c.users[user]
	if !ok || !known || !htpasswd.Verify(hash, pass) {
		return false, c.challenge
	}
	return true, nil
}

// authResult is the auth service's answer: 200 for any 2xx, 401, 403, or
// 500 for anything else (no answer included), with its headers and its
// status code as sent (0: no answer).
type authResult struct {
	status  int
	code    int
	headers http.Header
}

// compiledExternal is an ExternalAuth with its variables parsed.
type compiledExternal struct {
	url, signin, cacheKey annotations.Vars
	signinSep             string // see signinSeparator
	signinParam           string // auth-signin-redirect-param, "rd" when empty
	requestRedirect       annotations.Vars
	setHeaders            [][2]string
	cacheFor              map[int]time.Duration
}

func compileExternal(e *annotations.ExternalAuth) *compiledExternal {
	c := &compiledExternal{}
	c.url, _ = annotations.ParseVars(e.URL)
	c.signin, _ = annotations.ParseVars(e.Signin)
	c.signinParam = cmp.Or(e.SigninRedirectParam, "rd")
	c.signinSep = signinSeparator(e.Signin, c.signinParam)
	c.cacheKey, _ = annotations.ParseVars(e.CacheKey)
	c.requestRedirect = annotations.Vars{{Text: e.RequestRedirect}}
	for _, h := range e.ProxySetHeaders {
		name, v, _ := strings.Cut(h, ": ")
		c.setHeaders = append(c.setHeaders, [2]string{name, v})
	}
	if e.CacheKey != "" {
		c.cacheFor = cacheDurations(e.CacheDuration)
	}
	return c
}

func (au *authenticator) compiledExt(e *annotations.ExternalAuth) *compiledExternal {
	return au.ext.get(e, compileExternal)
}

// external asks the auth service of e about r, or its cached answer,
// keeping conns idle connections to it (auth-keepalive as applied).
func (au *authenticator) external(r *http.Request, ex *exchange, route *router.Route, e *annotations.ExternalAuth, conns int) authResult {
	c := au.compiledExt(e)
	vars := ex.vars(r)
	var key string
	if c.cacheFor != nil {
		key = route.Host + "\x00" + route.Path + "\x00" + e.URL + "\x00" + c.cacheKey.Expand(vars)
		if res, ok := au.cache.get(key, r.Header); ok {
			return res
		}
	}
	res := au.subrequest(r, ex, e, c, vars, conns)
	if c.cacheFor != nil {
		au.cache.put(key, res, cacheTTL(res.headers, res.code, c.cacheFor, time.Now()), r.Header)
	}
	return res
}

// subrequest sends the auth request, as ingress-nginx's auth location:
// the client's headers without its body, and the headers of nginx.tmpl.
// conns
// are the idle connections kept to the service; 0 closes each.
func (au *authenticator) subrequest(r *http.Request, ex *exchange, e *annotations.ExternalAuth, c *compiledExternal, vars func(string) string, conns int) authResult {
	fail := authResult{status: http.StatusInternalServerError, headers: http.Header{}}
	target := c.url.Expand(vars)
	method := e.Method
	if method == "" {
		method = http.MethodGet // an nginx subrequest's method
	}
	req, err := http.NewRequestWithContext(r.Context(), method, target, nil)
	if err != nil {
		return fail
	}
	h := r.Header.Clone()
	removeRequestHopHeaders(h)
	h.Del("Content-Length")
	h.Del("X-Forwarded-Proto")
	h.Del("Expect") // nginx's proxy module sends Expect ""
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = []string{""} // Go's client would send its own
	}
	if ex.requestID != "" { // generate-request-id "false": nginx sends no empty header
		h.Set("X-Request-Id", ex.requestID)
	} else {
		h.Del("X-Request-Id")
	}
	if e.Method != "" {
		h.Set("X-Original-Uri", requestURI(r))
		setOrDelete(h, "X-Scheme", ex.fwd.scheme) // "" with use-forwarded-headers and an empty X-Forwarded-Proto
	}
	if f := &ex.fwd; f.ppHeader != "" {
		// more_set_input_headers changed the client's request, which
		// the subrequest passes on.
		setOrDelete(h, f.ppHeader, f.ppForwardedFor)
	}
	req.Host = req.URL.Hostname() // proxy_set_header Host, the URL's host without its port
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	h.Set("X-Original-Url", scheme+"://"+httpHost(r)+requestURI(r))
	h.Set("X-Original-Method", r.Method)
	h.Set("X-Sent-From", "nginx-ingress-controller")
	h.Set("X-Real-Ip", ex.fwd.remoteText)
	h.Set("X-Forwarded-For", ex.fwd.forwardedFor)
	redirect := requestURI(r)
	if e.RequestRedirect != "" {
		redirect = e.RequestRedirect
	}
	h.Set("X-Auth-Request-Redirect", redirect)
	for _, kv := range c.setHeaders {
		setOrDelete(h, kv[0], kv[1])
	}
	req.Header = h
	req.Close = conns == 0
	resp, err := au.transport(conns, e.KeepaliveTimeoutSeconds).RoundTrip(req)
	if err != nil {
		return fail
	}
	resp.Body.Close() // nginx's auth_request reads no body
	res := authResult{code: resp.StatusCode, headers: resp.Header}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		res.status = http.StatusOK
	case resp.StatusCode == http.StatusUnauthorized, resp.StatusCode == http.StatusForbidden:
		res.status = resp.StatusCode
	default:
		res.status = http.StatusInternalServerError
	}
	return res
}

// transportKey selects a Transport by keep-alive settings.
type transportKey struct {
	conns, idleSeconds int
}

// transport returns the Transport keeping conns idle connections for
// idleSeconds (auth-keepalive, auth-keepalive-timeout): one per distinct
// setting, so idle connections outlive a configuration change.
func (au *authenticator) transport(conns, idleSeconds int) *http.Transport {
	k := transportKey{conns, idleSeconds}
	au.mu.Lock()
	defer au.mu.Unlock()
	t := au.trans[k]
	if t == nil {
		d := &net.Dialer{Timeout: au.timeout}
		// Unlike nginx's proxy_ssl_verify off, an https auth service's
		// certificate is verified: its answer grants access.
		// DisableCompression: nginx sends the client's Accept-Encoding
		// or none, never a gzip of its own.
		// TLSHandshakeTimeout: nginx bounds an upstream's SSL handshake by
		// proxy_connect_timeout too (zero would wait for ever).
		t = &http.Transport{DialContext: d.DialContext, DisableCompression: true, ResponseHeaderTimeout: au.timeout,
			TLSHandshakeTimeout: au.timeout,
			MaxIdleConnsPerHost: max(k.conns, 1), DisableKeepAlives: k.conns == 0,
			IdleConnTimeout: time.Duration(k.idleSeconds) * time.Second}
		au.trans[k] = t
	}
	return t
}

// close closes the idle connections to the auth services.
func (au *authenticator) close() {
	au.mu.Lock()
	defer au.mu.Unlock()
	for _, t := range au.trans {
		t.CloseIdleConnections()
	}
}

// vars returns the values of the nginx variables annotations.ParseVars
// accepts, for r.
func (ex *exchange) vars(r *http.Request) func(string) string {
	return func(name string) string {
		switch name {
		case "host":
			return router.HostVar(r.Host)
		case "http_host":
			return httpHost(r)
		case "best_http_host":
			return ex.fwd.host
		case "request_uri":
			return requestURI(r)
		case "escaped_request_uri":
			return escapeURIComponent(requestURI(r))
		case "uri":
			return r.URL.Path
		case "args", "query_string":
			return r.URL.RawQuery
		case "scheme":
			if r.TLS != nil {
				return "https"
			}
			return "http"
		case "pass_access_scheme":
			return ex.fwd.scheme
		case "request_method":
			return r.Method
		case "remote_addr":
			return ex.fwd.remoteText
		case "remote_user":
			return basicUser(r.Header.Get("Authorization"))
		case "server_port":
			return localPort(r)
		case "request_id", "req_id": // ingress-nginx's map: X-Request-ID, else $request_id
			return ex.requestID
		case "literal_dollar":
			return "$" // ingress-nginx's geo $literal_dollar
		}
		switch {
		case strings.HasPrefix(name, "http_"):
			return strings.Join(r.Header.Values(strings.ReplaceAll(name[5:], "_", "-")), ", ")
		case strings.HasPrefix(name, "cookie_"):
			if c, err := r.Cookie(name[7:]); err == nil {
				return c.Value
			}
		case strings.HasPrefix(name, "arg_"):
			return r.URL.Query().Get(name[4:])
		}
		return ""
	}
}

// basicUser is $remote_user: the user of a Basic Authorization header.
func basicUser(authz string) string {
	if user, _, ok := basicCredentials(authz); ok {
		return user
	}
	return ""
}

// basicCredentials reads a Basic Authorization header as nginx's
// ngx_http_auth_basic_user: "Basic " in any case, spaces, then base64 as
// ngx_decode_base64 takes it (padding optional, what follows the first
// "=" ignored, a length of 4n+1 refused), split at the first colon; no
// colon or an empty user is not ok.
func basicCredentials(authz string) (user, pass string, ok bool) {
	const prefix = "Basic "
	if len(authz) < len(prefix) || !strings.EqualFold(authz[:len(prefix)], prefix) {
		return "", "", false
	}
	enc := strings.TrimRight(strings.TrimLeft(authz[len(prefix):], " "), " \t")
	enc, _, _ = strings.Cut(enc, "=")
	if enc == "" || len(enc)%4 == 1 {
		return "", "", false
	}
	raw, err := base64.RawStdEncoding.DecodeString(enc)
	if err != nil {
		return "", "", false
	}
	user, pass, ok = strings.Cut(string(raw), ":")
	return user, pass, ok && user != ""
}

// addCookies makes rec add the auth service's Set-Cookie lines to the
// response, as ingress-nginx's add_header Set-Cookie $auth_cookie: with
// always, to any status; else to 200, 201, 204, 206, 301, 302, 303, 304,
// 307 and 308 only.
func (w *responseRecorder) addCookies(cookies []string, always bool) {
	if len(cookies) == 0 {
		return
	}
	w.beforeHeader = func(h http.Header, status int) {
		switch status {
		case 200, 201, 204, 206, 301, 302, 303, 304, 307, 308:
		default:
			if !always {
				return
			}
		}
		for _, c := range cookies {
			h.Add("Set-Cookie", c)
		}
	}
}

// cacheDurations reads auth-cache-duration entries ("200 202 401 5m"; a
// duration alone is for 200, 301 and 302, as proxy_cache_valid) into how
// long each status is cached.
func cacheDurations(entries []string) map[int]time.Duration {
	out := map[int]time.Duration{}
	for _, e := range entries {
		f := strings.Fields(e)
		if len(f) == 0 {
			continue
		}
		d := nginxDuration(f[len(f)-1])
		codes := f[:len(f)-1]
		if len(codes) == 0 {
			codes = []string{"200", "301", "302"}
		}
		for _, c := range codes {
			n, err := strconv.Atoi(c)
			if err == nil {
				if _, set := out[n]; !set {
					out[n] = d
				}
			}
		}
	}
	return out
}

// nginxDuration reads "5m", "30s", "100ms", "1h", "1d", "1w", "1M", "1y".
func nginxDuration(s string) time.Duration {
	units := []struct {
		suffix string
		d      time.Duration
	}{{"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour},
		{"d", 24 * time.Hour}, {"w", 7 * 24 * time.Hour}, {"M", 30 * 24 * time.Hour}, {"y", 365 * 24 * time.Hour}}
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			if v, err := strconv.Atoi(n); err == nil {
				return time.Duration(v) * u.d
			}
		}
	}
	return 0
}

// authCache holds answers of auth services by key until they expire. It
// is dropped whole when it reaches maxAuthCacheEntries, after the expired
// entries are swept.
type authCache struct {
	mu sync.Mutex
	m  map[string]cachedAuth
}

type cachedAuth struct {
	res     authResult
	expires time.Time
	variant string // the request's values of the answer's Vary fields
}

const maxAuthCacheEntries = 10000

// get returns the answer cached under key for a request with header h: a
// miss when the answer's Vary names a field whose value in h differs from
// the cached request's, as nginx keeps the variants of a key apart.
func (c *authCache) get(key string, h http.Header) (authResult, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || time.Now().After(e.expires) || e.variant != variantOf(e.res.headers, h) {
		return authResult{}, false
	}
	return e.res, true
}

// variantOf is the values in h of the fields that answer's Vary names
// ("" when it names none).
func variantOf(answer, h http.Header) string {
	var b strings.Builder
	for _, name := range answer.Values("Vary") {
		for f := range strings.SplitSeq(name, ",") {
			f = strings.TrimSpace(f)
			b.WriteString(f)
			b.WriteByte(0)
			b.WriteString(strings.Join(h.Values(f), ","))
			b.WriteByte(0)
		}
	}
	return b.String()
}

// cacheTTL is how long nginx's proxy_cache keeps an auth service's answer
// with header h and status code (0: no answer) under auth-cache-duration's
// times by status (durations): the answer's own X-Accel-Expires, else its
// Cache-Control s-maxage or max-age, else its Expires, rank above them, as
// nginx ranks them above proxy_cache_valid. It is 0 (not cached) for what
// nginx does not cache: an answer with Set-Cookie (a client's session must
// never reach another client of the same cache key), Cache-Control
// no-cache, no-store or private, Vary "*", or a time already past.
func cacheTTL(h http.Header, code int, durations map[int]time.Duration, now time.Time) time.Duration {
	if code == 0 || len(h.Values("Set-Cookie")) > 0 {
		return 0
	}
	for _, v := range h.Values("Vary") {
		for f := range strings.SplitSeq(v, ",") {
			if strings.TrimSpace(f) == "*" {
				return 0
			}
		}
	}
	if v := h.Get("X-Accel-Expires"); v != "" {
		abs, isAbs := strings.CutPrefix(v, "@")
		if n, err := strconv.ParseInt(abs, 10, 64); err == nil && n >= 0 {
			if isAbs {
				return max(time.Unix(n, 0).Sub(now), 0)
			}
			return time.Duration(n) * time.Second // 0: not cached
		}
	}
	if v := strings.ToLower(strings.Join(h.Values("Cache-Control"), ",")); v != "" {
		if strings.Contains(v, "no-cache") || strings.Contains(v, "no-store") || strings.Contains(v, "private") {
			return 0
		}
		i := strings.Index(v, "s-maxage=")
		if i >= 0 {
			i += len("s-maxage=")
		} else if i = strings.Index(v, "max-age="); i >= 0 {
			i += len("max-age=")
		}
		if i >= 0 {
			end := i
			for end < len(v) && '0' <= v[end] && v[end] <= '9' {
				end++
			}
			n, err := strconv.ParseInt(v[i:end], 10, 64)
			if err != nil || n <= 0 {
				return 0
			}
			return time.Duration(n) * time.Second
		}
	}
	if v := h.Get("Expires"); v != "" {
		t, err := http.ParseTime(v)
		if err != nil || !t.After(now) {
			return 0
		}
		return t.Sub(now)
	}
	return durations[code]
}

// put caches res under key for d (not at all when d is 0), for the
// requests whose header matches h in the fields res's Vary names.
func (c *authCache) put(key string, res authResult, d time.Duration, h http.Header) {
	if d <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if c.m == nil {
		c.m = map[string]cachedAuth{}
	}
	if len(c.m) >= maxAuthCacheEntries {
		for k, e := range c.m {
			if now.After(e.expires) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= maxAuthCacheEntries {
			clear(c.m)
		}
	}
	c.m[key] = cachedAuth{res: res, expires: now.Add(d), variant: variantOf(res.headers, h)}
}

// setOrDelete is nginx's proxy_set_header name value: a value that is
// empty sends no such header.
func setOrDelete(h http.Header, name, value string) {
	if value == "" {
		h.Del(name)
		return
	}
	h.Set(name, value)
}

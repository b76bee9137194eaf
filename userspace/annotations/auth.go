package annotations

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"strings"
)

// Auth is the typed configuration of the authentication family: basic or
// digest authentication against a Secret (auth-type, auth-secret,
// auth-secret-type, auth-realm), external authentication by a subrequest
// (auth-url and the auth-* keys around it, or the ConfigMap's
// global-auth-*), and satisfy, how they combine with the source ranges.
//
// Access control fails closed: a value that does not parse, or a Secret or
// ConfigMap that cannot be read, denies the route (503, as ingress-nginx
// answers a location it denies), whatever satisfy says.
type Auth struct {
	// Basic is auth-type with its Secret; nil means none (the default).
	Basic *BasicAuth `json:"basic,omitempty"`
	// External is auth-url, or the ConfigMap's global-auth-url for an
	// Ingress that keeps enable-global-auth; nil means none (the default).
	External *ExternalAuth `json:"external,omitempty"`
	// SatisfyAny is satisfy "any": a request passes when the source ranges
	// or the authentication let it through. Default false ("all": both
	// must).
	SatisfyAny bool `json:"satisfyAny,omitempty"`
	// Invalid, when not empty, is why the route is denied to everyone
	// (503). Default "".
	Invalid string `json:"invalid,omitempty"`
}

// BasicAuth is nginx's auth_basic (or auth_digest) with the user file made
// from a Secret.
type BasicAuth struct {
	// Digest is auth-type "digest"; false is "basic".
	Digest bool `json:"digest,omitempty"`
	// Realm is auth-realm. Default "".
	Realm string `json:"realm"`
	// Secret is auth-secret as written; the snapshot build makes it
	// namespace/name (see ObjectKey).
	Secret string `json:"secret"`
	// SecretMap is auth-secret-type "auth-map" (each key of the Secret a
	// user, its value the hash); false is "auth-file" (the Secret's key
	// auth holds an htpasswd file). Default false.
	SecretMap bool `json:"secretMap,omitempty"`
	// Users are the entries of the Secret, "user:hash" (for digest
	// "user:realm:HA1"), in the order of the file (auth-map: by user); set
	// by the snapshot build from the Secret. Nil until then.
	Users []string `json:"users,omitempty"`
}

// ExternalAuth is ingress-nginx's auth_request location.
type ExternalAuth struct {
	// URL is auth-url: where the subrequest goes, with nginx variables
	// expanded per request (see ParseVars).
	URL string `json:"url"`
	// Method is auth-method; "" sends GET, as an nginx subrequest.
	Method string `json:"method,omitempty"`
	// Signin is auth-signin: a 401 from the service becomes a 302 to it,
	// with the request's URL in SigninRedirectParam. "" means none.
	Signin string `json:"signin,omitempty"`
	// SigninRedirectParam is auth-signin-redirect-param. Default "rd".
	SigninRedirectParam string `json:"signinRedirectParam,omitempty"`
	// ResponseHeaders is auth-response-headers: headers copied from the
	// service's 2xx answer to the upstream request (absent: removed).
	ResponseHeaders []string `json:"responseHeaders,omitempty"`
	// RequestRedirect is auth-request-redirect, sent to the service as
	// X-Auth-Request-Redirect; "" sends the request URI.
	RequestRedirect string `json:"requestRedirect,omitempty"`
	// ProxySetHeadersFrom is auth-proxy-set-headers: the ConfigMap whose
	// data are headers sent to the service, as written; the snapshot build
	// makes it namespace/name (see ObjectKey). "" means none.
	ProxySetHeadersFrom string `json:"proxySetHeadersFrom,omitempty"`
	// ProxySetHeaders are that ConfigMap's data as "Name: value", sorted;
	// set by the snapshot build.
	ProxySetHeaders []string `json:"proxySetHeaders,omitempty"`
	// CacheKey is auth-cache-key, with nginx variables; "" caches nothing.
	CacheKey string `json:"cacheKey,omitempty"`
	// CacheDuration is auth-cache-duration: "codes... duration" entries.
	// Default ["200 202 401 5m"].
	CacheDuration []string `json:"cacheDuration,omitempty"`
	// AlwaysSetCookie is auth-always-set-cookie: the service's Set-Cookie
	// reaches the client whatever the final status. Default false.
	AlwaysSetCookie bool `json:"alwaysSetCookie,omitempty"`
	// KeepaliveConnections is auth-keepalive: idle connections kept to
	// the service. Default 0 (a new connection per subrequest). The proxy
	// applies it only with use-http2 "false" (TLSSettings.HTTP2Off), as
	// ingress-nginx.
	KeepaliveConnections int `json:"keepaliveConnections,omitempty"`
	// KeepaliveRequests is auth-keepalive-requests. Default 1000.
	KeepaliveRequests int `json:"keepaliveRequests,omitempty"`
	// KeepaliveTimeoutSeconds is auth-keepalive-timeout. Default 60.
	KeepaliveTimeoutSeconds int `json:"keepaliveTimeoutSeconds,omitempty"`
	// Global is true when the settings are the ConfigMap's global-auth-*.
	Global bool `json:"global,omitempty"`
}

// DefaultAuthCacheDuration is auth-cache-duration's default.
const DefaultAuthCacheDuration = "200 202 401 5m"

const authDenied = "the route is denied (503)"

// authMeta is the metadata table of the authentication family.
var authMeta = []Meta{
	{Key: "auth-type", Doc: "`basic` or `digest`: authenticate against `auth-secret` (nginx's `auth_basic` / `auth_digest`). 401 with `WWW-Authenticate` otherwise; the Authorization header is not passed upstream. Fails closed: another value, a missing or unreadable Secret denies the route (503) with a warning.", Validate: validateAuthType},
	{Key: "auth-secret", Doc: "The Secret (`name` or `namespace/name`; another namespace is refused unless the ConfigMap's `allow-cross-namespace-resources` is `\"true\"`) holding the users. Any Secret type.", Validate: validateObjectName},
	{Key: "auth-secret-type", Default: "auth-file", Doc: "`auth-file`: the Secret's key `auth` is an htpasswd file; `auth-map`: each key is a user, its value the hash. Hashes: bcrypt (`$2y$`, `$2a$`, `$2b$`), apr1 (`$apr1$`), `{SHA}`, and `{PLAIN}`; a DES or glibc crypt(3) entry is refused with a warning (that user cannot log in).", Validate: validateAuthSecretType},
	{Key: "auth-realm", Doc: "The realm of the `WWW-Authenticate` challenge: letters, digits, spaces and `/-._~:` (ingress-nginx's CharsWithSpace). Fails closed on another value (ingress-nginx would drop the authentication).", Validate: validateRealm},
	{Key: "auth-url", Doc: "External authentication: every request is first sent (headers only, as ingress-nginx's auth location: X-Original-URL, X-Original-Method, X-Sent-From, X-Real-IP, X-Forwarded-For, X-Auth-Request-Redirect, X-Request-ID, the client's headers) to this URL; 2xx lets it through, 401 and 403 are answered as is, anything else (unreachable, no answer within nginx's default 60 s to connect and 60 s to answer, whatever the route's proxy timeouts) is 500. nginx variables such as `$host` and `$escaped_request_uri` are expanded. Fails closed on an invalid value (503).", Validate: validateAuthURL},
	{Key: "auth-method", Doc: "The method of the authentication subrequest; none sends GET, as nginx's subrequest. Fails closed.", Validate: validateAuthMethod},
	{Key: "auth-signin", Doc: "Where a 401 of the authentication service redirects (302), with the request's URL in `auth-signin-redirect-param`. An invalid value is ignored with a warning, as ingress-nginx.", Validate: validateAuthURL},
	{Key: "auth-signin-redirect-param", Default: "rd", Doc: "The query parameter of `auth-signin` carrying the original URL. An invalid value is ignored with a warning.", Validate: validateQueryParam},
	{Key: "auth-response-headers", Doc: "Comma-separated headers copied from the authentication service's 2xx answer to the upstream request; one it does not send is removed from the request. Fails closed.", Validate: func(v string) error { _, err := parseHeaderList(v); return err }},
	{Key: "auth-request-redirect", Doc: "The X-Auth-Request-Redirect sent to the authentication service; none sends the request URI.", Validate: validateHeaderValue},
	{Key: "auth-proxy-set-headers", Doc: "A ConfigMap (same namespace) whose data are headers sent to the authentication service. Its values are sent literally (nginx variables are not expanded). Fails closed when missing or when a key is not a header name.", Validate: validateObjectName},
	{Key: "auth-cache-key", Doc: "Caches the authentication service's answers by this key (nginx variables expanded, e.g. `$remote_user$http_authorization`), per host and route, for `auth-cache-duration`. An invalid value (an unsupported variable) is ignored with a warning: nothing is cached.", Validate: func(v string) error { _, err := ParseVars(v); return err }},
	{Key: "auth-cache-duration", Default: DefaultAuthCacheDuration, Doc: "Comma-separated `[code ...] duration` entries: how long answers of each status are cached under `auth-cache-key`.", Validate: func(v string) error { _, err := parseCacheDurations(v); return err }},
	{Key: "auth-always-set-cookie", Default: "false", Doc: "Pass the authentication service's Set-Cookie to the client whatever the status (otherwise only with 200, 201, 204, 206, 301, 302, 303, 304, 307, 308).", Validate: func(v string) error { _, err := parseBool(v); return err }},
	{Key: "auth-keepalive", Default: "0", Doc: "Idle keep-alive connections kept to the authentication service; 0 opens a connection per subrequest. Applied only with the ConfigMap's `use-http2: \"false\"` and an `auth-url` whose host has no variable, as ingress-nginx (with HTTP/2 on, its default, every subrequest opens a connection). Where it applies, the answers are read as ingress-nginx's Lua subrequest reads them: only a 200 grants (another 2xx is a 500), a 401 carries no WWW-Authenticate of the service, and the service's Set-Cookie comes with a 200 only and never with `auth-always-set-cookie`'s always.", Validate: validateInt},
	{Key: "auth-keepalive-requests", Default: "1000", Doc: "Accepted for compatibility; a value of 0 or less turns `auth-keepalive` off.", Validate: validateInt},
	{Key: "auth-keepalive-timeout", Default: "60", Doc: "Seconds an idle keep-alive connection to the authentication service is kept; 0 or less turns `auth-keepalive` off.", Validate: validateInt},
	{Key: "auth-keepalive-share-vars", Default: "false", Doc: "Accepted for compatibility; Weir always shares the subrequest's results with the request.", Validate: func(v string) error { _, err := parseBool(v); return err }},
	{Key: "enable-global-auth", Default: "true", Doc: "`false` exempts the Ingress from the ConfigMap's `global-auth-url`.", Validate: func(v string) error { _, err := parseBool(v); return err }},
	{Key: "satisfy", Default: "all", Doc: "`any`: a request passes when the source ranges or the authentication let it through; `all`: both must. Another value is `all`, as ingress-nginx.", Validate: func(string) error { return nil }},
	{Key: "global-auth-url", ConfigMap: true, ConfigMapOnly: true, Doc: "`auth-url` for every route that sets none and keeps `enable-global-auth`. An invalid value denies those routes (503): ingress-nginx would drop it and leave them open.", Validate: validateAuthURL},
	{Key: "global-auth-method", ConfigMap: true, ConfigMapOnly: true, Doc: "`auth-method` of `global-auth-url`. An invalid method is ignored with a warning (GET), as ingress-nginx: the routes are still authenticated.", Validate: validateAuthMethod},
	{Key: "global-auth-signin", ConfigMap: true, ConfigMapOnly: true, Doc: "`auth-signin` of `global-auth-url`.", Validate: validateAuthURL},
	{Key: "global-auth-signin-redirect-param", ConfigMap: true, ConfigMapOnly: true, Default: "rd", Doc: "`auth-signin-redirect-param` of `global-auth-url`.", Validate: validateQueryParam},
	{Key: "global-auth-response-headers", ConfigMap: true, ConfigMapOnly: true, Doc: "`auth-response-headers` of `global-auth-url`. An invalid name is skipped with a warning, the others kept, as ingress-nginx.", Validate: func(v string) error { _, err := parseHeaderList(v); return err }},
	{Key: "global-auth-request-redirect", ConfigMap: true, ConfigMapOnly: true, Doc: "`auth-request-redirect` of `global-auth-url`.", Validate: validateHeaderValue},
	{Key: "global-auth-cache-key", ConfigMap: true, ConfigMapOnly: true, Doc: "`auth-cache-key` of `global-auth-url`.", Validate: func(v string) error { _, err := ParseVars(v); return err }},
	{Key: "global-auth-cache-duration", ConfigMap: true, ConfigMapOnly: true, Default: DefaultAuthCacheDuration, Doc: "`auth-cache-duration` of `global-auth-url`. An invalid value keeps the default with a warning, as ingress-nginx.", Validate: func(v string) error { _, err := parseCacheDurations(v); return err }},
	{Key: "global-auth-always-set-cookie", ConfigMap: true, ConfigMapOnly: true, Default: "false", Doc: "`auth-always-set-cookie` of `global-auth-url` (`\"true\"`, `\"1\"`...). An invalid value (as ingress-nginx's `strconv.ParseBool`: `\" true\"` and `\"\"` are) is false with a warning, as ingress-nginx.", Validate: func(v string) error { _, err := parseBool(v); return err }},
}

var (
	methodRe  = regexp.MustCompile(`^(GET|HEAD|POST|PUT|PATCH|DELETE|CONNECT|OPTIONS|TRACE)$`)
	headerRe  = regexp.MustCompile(`^[a-zA-Z\d\-_]+$`)
	objectRe  = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)
	paramRe   = regexp.MustCompile(`^[A-Za-z0-9_.~-]+$`)
	codeRe    = regexp.MustCompile(`^\d{3}$`)
	durRe     = regexp.MustCompile(`^\d+(ms|s|m|h|d|w|M|y)$`)
	intDigits = regexp.MustCompile(`^-?\d+$`)
	realmRe   = regexp.MustCompile(`^[/\-._~a-zA-Z0-9: ]*$`)
)

func validateAuthType(v string) error {
	if v == "" {
		return nil // unset
	}
	if v != "basic" && v != "digest" {
		return errors.New(`must be "basic" or "digest"`)
	}
	return nil
}

func validateRealm(v string) error {
	if !realmRe.MatchString(v) {
		return errors.New("may hold only letters, digits, spaces and /-._~:")
	}
	return nil
}

func validateAuthSecretType(v string) error {
	if v == "" {
		return nil // unset
	}
	if v != "auth-file" && v != "auth-map" {
		return errors.New(`must be "auth-file" or "auth-map"`)
	}
	return nil
}

func validateObjectName(v string) error {
	if v == "" {
		return nil // unset
	}
	if !objectRe.MatchString(v) {
		return errors.New("must be a name or namespace/name")
	}
	return nil
}

func validateAuthMethod(v string) error {
	if v == "" {
		return nil // unset
	}
	if !methodRe.MatchString(v) {
		return errors.New("must be an HTTP method in capitals (GET, HEAD, POST, ...)")
	}
	return nil
}

func validateQueryParam(v string) error {
	if v == "" {
		return nil // unset
	}
	if !paramRe.MatchString(v) {
		return errors.New("must be a query parameter name")
	}
	return nil
}

func validateInt(v string) error {
	if v == "" {
		return nil // unset
	}
	if !intDigits.MatchString(strings.TrimSpace(v)) {
		return errors.New("must be an integer")
	}
	return nil
}

// validateAuthURL accepts an absolute http or https URL with a host,
// nginx variables allowed (see ParseVars).
func validateAuthURL(v string) error {
	if v == "" {
		return nil // unset
	}
	vars, err := ParseVars(v)
	if err != nil {
		return err
	}
	// Check the URL's shape with every variable replaced by a letter.
	u, err := url.Parse(vars.Expand(func(string) string { return "x" }))
	if err != nil || u.Host == "" || u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("must be an absolute http or https URL")
	}
	if h := u.Hostname(); h == "" || strings.Contains(h, "..") || strings.Trim(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:") != "" {
		return errors.New("invalid url host") // as ingress-nginx's StringToURL
	}
	return nil
}

// parseHeaderList splits a comma-separated list of header names, empty
// entries skipped.
func parseHeaderList(v string) ([]string, error) {
	var out []string
	for _, h := range strings.Split(v, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if !headerRe.MatchString(h) {
			return nil, fmt.Errorf("%q is not a header name", h)
		}
		out = append(out, h)
	}
	return out, nil
}

// validHeaderNames is parseHeaderList that skips the invalid names instead
// of refusing the list, as ingress-nginx reads global-auth-response-headers.
func validHeaderNames(v string) []string {
	var out []string
	for _, h := range splitList(v) {
		if headerRe.MatchString(h) {
			out = append(out, h)
		}
	}
	return out
}

// parseCacheDurations splits auth-cache-duration: entries of status codes
// followed by one nginx duration ("200 202 401 5m", "5m" for 200, 301 and
// 302). Empty yields the default.
func parseCacheDurations(v string) ([]string, error) {
	var out []string
	for _, e := range strings.Split(v, ",") {
		e = strings.Join(strings.Fields(e), " ")
		if e == "" {
			continue
		}
		f := strings.Fields(e)
		for _, c := range f[:len(f)-1] {
			if !codeRe.MatchString(c) {
				return nil, fmt.Errorf("entry %q: %q is not a status code", e, c)
			}
		}
		if !durRe.MatchString(f[len(f)-1]) {
			return nil, fmt.Errorf("entry %q does not end with a duration (e.g. 5m)", e)
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		out = []string{DefaultAuthCacheDuration}
	}
	return out, nil
}

// ObjectKey resolves auth-secret or auth-proxy-set-headers (a name, or
// namespace/name) for an Ingress of namespace ns into namespace/name; a key
// in another namespace is refused unless crossNamespace
// (allow-cross-namespace-resources, default false as ingress-nginx's).
func ObjectKey(v, ns string, crossNamespace bool) (string, error) {
	if on, name, ok := strings.Cut(v, "/"); ok {
		if on != ns && !crossNamespace {
			return "", errors.New("cross-namespace references are not allowed")
		}
		return on + "/" + name, nil
	}
	return ns + "/" + v, nil
}

// authGet is get with an empty value read as unset, as ingress-nginx's
// parser reads an empty annotation.
func authGet(get lookup) lookup {
	return func(key string) (string, bool) {
		v, ok := get(key)
		return v, ok && strings.TrimSpace(v) != ""
	}
}

// reportIgnored reports the keys of table (the ConfigMap's when configMap)
// set to a value their Validate rejects and that the parse did not read
// (their family is off), unless already in errs.
func reportIgnored(get lookup, table []Meta, configMap bool, wrap func(key, value string, err error) error, errs []error) []error {
	reported := map[string]bool{}
	for _, e := range errs {
		reported[e.(*Error).Annotation] = true
	}
	for _, m := range table {
		v, ok := get(m.Key)
		if !ok || m.ConfigMapOnly != configMap {
			continue
		}
		if err := m.Validate(v); err != nil {
			if e := wrap(m.Key, v, fmt.Errorf("%w; ignored", err)).(*Error); !reported[e.Annotation] {
				errs = append(errs, e)
			}
		}
	}
	return errs
}

// parseAuth applies the authentication family to *dst over the defaults
// in it (the ConfigMap's global-auth-*), replacing it by a new Auth when
// anything changes (*dst may be shared). Object names are kept as written
// (see ObjectKey).
func parseAuth(raw lookup, dst **Auth, wrap func(key, value string, err error) error) []error {
	get := authGet(raw)
	var a Auth
	if *dst != nil {
		a = **dst
	}
	// An inherited Invalid is global-auth-url's: it holds while that does.
	globalInvalid := a.Invalid
	a.Invalid = ""
	var errs []error
	deny := func(key, v string, err error) {
		e := wrap(key, v, fmt.Errorf("%w; %s: authentication %w", err, authDenied, ErrFailsClosed))
		errs = append(errs, e)
		if a.Invalid == "" {
			a.Invalid = e.Error()
		}
	}
	if v, ok := get("enable-global-auth"); ok {
		on, err := parseBool(v)
		if err != nil {
			errs = append(errs, wrap("enable-global-auth", v, fmt.Errorf("%w; global authentication kept", err)))
		} else if !on && a.External != nil && a.External.Global {
			a.External = nil
		}
	}
	if v, ok := get("satisfy"); ok {
		a.SatisfyAny = strings.TrimSpace(v) == "any"
	}
	if t, ok := get("auth-type"); ok {
		a.Basic = nil
		if err := validateAuthType(t); err != nil {
			deny("auth-type", t, err)
		} else {
			b := &BasicAuth{Digest: t == "digest"}
			if realm, ok := raw("auth-realm"); ok {
				if err := validateRealm(realm); err != nil {
					deny("auth-realm", realm, err)
				} else {
					b.Realm = realm
				}
			}
			if st, ok := get("auth-secret-type"); ok {
				if err := validateAuthSecretType(st); err != nil {
					deny("auth-secret-type", st, err)
				}
				b.SecretMap = st == "auth-map"
			}
			if s, ok := get("auth-secret"); !ok {
				deny("auth-type", t, errors.New("needs auth-secret"))
			} else if err := validateObjectName(s); err != nil {
				deny("auth-secret", s, err)
			} else {
				b.Secret = s
			}
			a.Basic = b
		}
	}
	if _, ok := get("auth-url"); ok {
		a.External = parseExternal(get, "auth-", deny)
	}
	if a.Invalid == "" && a.External != nil && a.External.Global {
		a.Invalid = globalInvalid
	}
	errs = reportIgnored(raw, authMeta, false, wrap, errs)
	switch {
	case a == Auth{}:
		*dst = nil
	case *dst == nil || !authEqual(&a, *dst):
		*dst = &a
	}
	return errs
}

// parseExternal reads auth-url (prefix "auth-") or global-auth-url (prefix
// "global-auth-") and the keys around it; a value that fails closed is
// reported through deny. It returns nil without a URL.
func parseExternal(get lookup, prefix string, deny func(key, v string, err error)) *ExternalAuth {
	u, ok := get(prefix + "url")
	if !ok {
		return nil
	}
	e := &ExternalAuth{URL: strings.TrimSpace(u), SigninRedirectParam: "rd", KeepaliveRequests: 1000, KeepaliveTimeoutSeconds: 60, Global: prefix != "auth-"}
	if err := validateAuthURL(e.URL); err != nil {
		deny(prefix+"url", u, err)
	}
	// A value that does not fail closed is left out, and reported by
	// reportIgnored, as ingress-nginx ignores an invalid auth-signin,
	// auth-signin-redirect-param or auth-cache-key with a warning.
	str := func(key string, validate func(string) error, failsClosed bool, dst *string) {
		if v, ok := get(prefix + key); ok {
			if err := validate(v); err != nil {
				if failsClosed {
					deny(prefix+key, v, err)
				}
				return
			}
			*dst = v
		}
	}
	// ingress-nginx's ReadConfig drops an invalid global-auth-method,
	// global-auth-response-headers entry, global-auth-cache-duration or
	// global-auth-always-set-cookie with a warning and keeps authenticating
	// (with the default); the annotations' parser refuses the whole auth-url.
	global := prefix != "auth-"
	str("method", validateAuthMethod, !global, &e.Method)
	str("signin", validateAuthURL, false, &e.Signin)
	str("signin-redirect-param", validateQueryParam, false, &e.SigninRedirectParam)
	str("request-redirect", validateHeaderValue, true, &e.RequestRedirect)
	str("cache-key", func(v string) error { _, err := ParseVars(v); return err }, false, &e.CacheKey)
	if v, ok := get(prefix + "response-headers"); ok {
		hs, err := parseHeaderList(v)
		switch {
		case err != nil && global:
			hs = validHeaderNames(v)
		case err != nil:
			deny(prefix+"response-headers", v, err)
		}
		e.ResponseHeaders = hs
	}
	durs := ""
	if v, ok := get(prefix + "cache-duration"); ok {
		durs = v
	}
	var err error
	if e.CacheDuration, err = parseCacheDurations(durs); err != nil {
		if global {
			e.CacheDuration = []string{DefaultAuthCacheDuration}
		} else {
			deny(prefix+"cache-duration", durs, err)
		}
	}
	if v, ok := get(prefix + "always-set-cookie"); ok {
		// ReadConfig's global-auth-always-set-cookie is strconv.ParseBool
		// too, by hand: no space, and "" is not false but an error (false
		// all the same).
		b, err := parseBool(v)
		if err != nil && !global {
			deny(prefix+"always-set-cookie", v, err)
		}
		e.AlwaysSetCookie = b && err == nil
	}
	if prefix != "auth-" {
		return e
	}
	if v, ok := get("auth-proxy-set-headers"); ok {
		if err := validateObjectName(v); err != nil {
			deny("auth-proxy-set-headers", v, err)
		} else {
			e.ProxySetHeadersFrom = v
		}
	}
	ints := []struct {
		key string
		dst *int
	}{{"auth-keepalive", &e.KeepaliveConnections}, {"auth-keepalive-requests", &e.KeepaliveRequests}, {"auth-keepalive-timeout", &e.KeepaliveTimeoutSeconds}}
	for _, k := range ints {
		if v, ok := get(k.key); ok {
			if validateInt(v) == nil {
				_, _ = fmt.Sscan(strings.TrimSpace(v), k.dst)
			}
		}
	}
	if e.KeepaliveConnections < 0 || e.KeepaliveRequests <= 0 || e.KeepaliveTimeoutSeconds <= 0 || urlHostHasVariable(e.URL) {
		// ingress-nginx's upstream block cannot name a variable host:
		// "contains $ in the host:port part, setting auth-keepalive to 0".
		e.KeepaliveConnections = 0
	}
	return e
}

// urlHostHasVariable reports whether the host:port of u, an absolute URL,
// names an nginx variable ('$').
func urlHostHasVariable(u string) bool {
	_, rest, ok := strings.Cut(u, "://")
	if !ok {
		return false
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	return strings.IndexByte(rest, '$') >= 0
}

// parseGlobalAuth reads the ConfigMap's global-auth-* keys into *dst.
func parseGlobalAuth(raw lookup, dst **Auth, wrap func(key, value string, err error) error) []error {
	get := authGet(raw)
	var errs []error
	a := Auth{}
	deny := func(key, v string, err error) {
		e := wrap(key, v, fmt.Errorf("%w; routes under global-auth-url are denied (503): authentication %w", err, ErrFailsClosed))
		errs = append(errs, e)
		if a.Invalid == "" {
			a.Invalid = e.Error()
		}
	}
	a.External = parseExternal(get, "global-auth-", deny)
	if v, ok := raw("global-auth-snippet"); ok {
		errs = append(errs, wrap("global-auth-snippet", v, ErrSnippet))
	}
	if a.External != nil {
		*dst = &a
	}
	return reportIgnored(raw, authMeta, true, wrap, errs)
}

// authEqual reports whether a and b hold the same settings.
func authEqual(a, b *Auth) bool { return reflect.DeepEqual(a, b) }

// AuthEqual reports whether a and b hold the same settings (nil only
// equals nil).
func AuthEqual(a, b *Auth) bool { return authEqual(a, b) }

// validateHeaderValue refuses control characters, which no header value
// may hold.
func validateHeaderValue(v string) error {
	if !ValidHeaderValue(v) {
		return errors.New("must not hold control characters")
	}
	return nil
}

// ValidHeaderValue reports whether v may be sent as a header value: no
// control character but tab.
func ValidHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// ValidHeaderName reports whether name may be a header of
// auth-response-headers or a key of the auth-proxy-set-headers ConfigMap,
// as ingress-nginx's ValidHeader.
func ValidHeaderName(name string) bool { return headerRe.MatchString(name) }

// AuthObjectNames returns, as written, the auth-secret of ann when
// auth-type is set and the auth-proxy-set-headers ConfigMap when auth-url
// is set ("" for none): the objects a build reads.
func AuthObjectNames(ann map[string]string) (secret, configMap string) {
	if _, ok := ann[Prefix+"auth-type"]; ok {
		secret = ann[Prefix+"auth-secret"]
	}
	if _, ok := ann[Prefix+"auth-url"]; ok {
		configMap = ann[Prefix+"auth-proxy-set-headers"]
	}
	return secret, configMap
}

// DefaultNoAuthLocations is no-auth-locations' default: ACME HTTP-01
// challenges are answered without authentication.
const DefaultNoAuthLocations = "/.well-known/acme-challenge"

// parseLocationList splits no-auth-locations; empty entries are skipped
// and an empty list is not nil.
func parseLocationList(v string) ([]string, error) {
	out := []string{}
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out, nil
}

// NoAuth reports whether the rule path is served without authentication:
// it starts with an entry of no-auth-locations (the default when unset),
// as ingress-nginx's isLocationInLocationList.
func (g Global) NoAuth(path string) bool {
	return InLocations(path, g.NoAuthLocations, DefaultNoAuthLocations)
}

// InLocations reports whether path starts with an entry of list, or with
// def when list is nil (an empty list that is not nil holds nothing), as
// ingress-nginx's isLocationInLocationList over a ConfigMap list that has
// a default (no-auth-locations, no-tls-redirect-locations). The proxy
// calls it with Global's fields instead of Global's value-receiver methods,
// which copy the whole Global each request.
func InLocations(path string, list []string, def string) bool {
	if list == nil {
		return strings.HasPrefix(path, def)
	}
	for _, l := range list {
		if strings.HasPrefix(path, l) {
			return true
		}
	}
	return false
}

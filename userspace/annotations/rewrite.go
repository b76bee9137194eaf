package annotations

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Rewrite is the typed configuration of the rewrite and redirect families
// of one Ingress's paths (rewrite-target, x-forwarded-prefix,
// upstream-vhost, permanent-redirect, temporal-redirect and their codes,
// preserve-trailing-slash, use-port-in-redirects, relative-redirects). The
// zero value changes nothing; Proxy holds it as a pointer, nil when zero.
type Rewrite struct {
	// Target is rewrite-target: the upstream request's path becomes Target
	// with $1..$9 replaced by the groups of the rule's path matched, as a
	// case-insensitive regular expression, against the request's path
	// (nginx's rewrite "(?i)<path>" <target> break). The query is kept. A
	// Target starting with http:// or https:// is a 302 redirect there.
	// "" means none. Default "".
	Target string `json:"target,omitempty"`
	// XForwardedPrefix is x-forwarded-prefix: the X-Forwarded-Prefix header
	// sent upstream, with $1..$9 replaced as in Target, when Target
	// rewrites. "" means none. Default "".
	XForwardedPrefix string `json:"xForwardedPrefix,omitempty"`
	// UpstreamVhost is upstream-vhost: the Host header sent upstream
	// instead of the client's, with nginx variables: the location's
	// ($namespace, $ingress_name, $service_name, $service_port) resolved by
	// the snapshot build, the request's (ParseVars) expanded per request.
	// "" means the client's. Default "".
	UpstreamVhost string `json:"upstreamVhost,omitempty"`
	// RedirectURL is temporal-redirect, else permanent-redirect: every
	// request of the route is answered RedirectCode with Location
	// RedirectURL instead of being proxied. "" means none. Default "".
	RedirectURL string `json:"redirectURL,omitempty"`
	// RedirectCode is the status of RedirectURL: temporal-redirect-code
	// (300 to 307, default 302) or permanent-redirect-code (300 to 308,
	// default 301).
	RedirectCode int `json:"redirectCode,omitempty"`
	// PreserveTrailingSlash keeps a trailing slash of the path in the
	// Location of ssl-redirect (preserve-trailing-slash). Default false:
	// "/a/" redirects to "https://host/a", as ingress-nginx.
	PreserveTrailingSlash bool `json:"preserveTrailingSlash,omitempty"`
	// UsePortInRedirects writes the HTTPS port, 443 included, in the
	// Location of ssl-redirect, and the listener's port, unless the
	// scheme's default, in a permanent-redirect to a path made absolute
	// (use-port-in-redirects: nginx's port_in_redirect and lua_ingress.lua).
	// Default false.
	UsePortInRedirects bool `json:"usePortInRedirects,omitempty"`
	// RelativeRedirects is relative-redirects (nginx's absolute_redirect
	// off): a permanent-redirect to a path is sent as that path rather
	// than made absolute. Default false.
	RelativeRedirects bool `json:"relativeRedirects,omitempty"`
}

// Host is the typed configuration of the annotations of one Ingress that
// apply to its hosts rather than to its paths (nginx server level).
type Host struct {
	// AppRoot is app-root: a request for "/" of the Ingress's hosts is
	// answered 302 to $scheme://$http_host<AppRoot>, whatever the paths.
	// "" means none. Default "".
	AppRoot string
	// Aliases are server-alias: more host names, exact or "*." wildcards
	// matching at any depth (nginx's wildcard server_name), served as the Ingress's hosts are, lower-cased,
	// sorted, de-duplicated. Nil means none.
	Aliases []string
	// FromToWWW is from-to-www-redirect: requests for www.<host> (or, for
	// a host www.<name>, for <name>) are redirected to the host with 308.
	// Default false.
	FromToWWW bool
}

// rewriteMeta is the metadata table of the rewrite and redirect families.
var rewriteMeta = []Meta{
	{
		Key:      "rewrite-target",
		Doc:      "Path the upstream request is sent with instead of the client's: `$1`..`$9` are the groups of the rule's path, which then (on every path of the host, as ingress-nginx) matches as a case-insensitive regular expression; the query is kept. A target starting with `http://` or `https://` answers 302 to it. nginx variables (`$host`...) are not supported: such a value is rejected with a warning, as any invalid one, and nothing is rewritten.",
		Validate: func(v string) error { _, err := parseTarget(v); return err },
	},
	{
		Key:      "x-forwarded-prefix",
		Doc:      "Value of the `X-Forwarded-Prefix` header sent upstream when `rewrite-target` rewrites the path; `$1`..`$9` as in the target.",
		Validate: func(v string) error { _, err := parseTarget(strings.ReplaceAll(v, " ", "")); return err },
	},
	{
		Key:      "app-root",
		Doc:      "Path that a request for `/` of the Ingress's hosts is redirected to with 302 (`$scheme://$http_host<app-root>`: the connection's scheme and the `Host` line as sent), before any path matches, as ingress-nginx's server-level rule. Must start with `/`. When several Ingresses of a host set one, the one nginx answers with wins: that of the Ingress whose location comes first in ingress-nginx's order (longest path first, a `Prefix` path counted with a trailing `/`, then the greater path; the host's root `/` belongs to its oldest Ingress), the others reported.",
		Validate: func(v string) error { _, err := parseAppRoot(v); return err },
	},
	{
		Key:      "permanent-redirect",
		Doc:      "An http:// or https:// URL, or a path starting with `/`, that every request of the Ingress's paths is redirected to (301 by default) instead of being proxied. A path is made absolute as nginx does (`$scheme://<Host without port><path>`, with the listener's port when `use-port-in-redirects` and it is not the scheme's default) unless `relative-redirects`. `temporal-redirect` wins when both are set.",
		Validate: validatePermanentURL,
	},
	{
		Key: "permanent-redirect-code", Default: "301",
		Doc:      "Status of `permanent-redirect`, 300 to 308; another value is 301, with a warning.",
		Validate: func(v string) error { _, err := parseRedirectCode(v, 308); return err },
	},
	{
		Key:      "temporal-redirect",
		Doc:      "An http:// or https:// URL that every request of the Ingress's paths is redirected to (302 by default) instead of being proxied; wins over `permanent-redirect`.",
		Validate: validateRedirectURL,
	},
	{
		Key: "temporal-redirect-code", Default: "302",
		Doc:      "Status of `temporal-redirect`, 300 to 307; another value is 302, with a warning.",
		Validate: func(v string) error { _, err := parseRedirectCode(v, 307); return err },
	},
	{
		Key: "from-to-www-redirect", Default: "false",
		Doc:      "`\"true\"` redirects requests for `www.<host>` to `<host>` (or from `<host>` to `www.<host>` when the host starts with `www.`) with 308, over HTTP and HTTPS (the host's certificate is served when it covers the other name), keeping the path without a trailing slash and the query, with the port. Not when the other name is itself a host of an Ingress.",
		Validate: func(v string) error { _, err := parseBool(v); return err },
	},
	{
		Key: "preserve-trailing-slash", Default: "false", ConfigMap: true,
		Doc:               "`\"true\"` keeps a trailing slash of the path in the Location of `ssl-redirect`; by default `/a/` redirects to `https://<host>/a`.",
		Validate:          validateBool,
		ValidateConfigMap: validateConfigBool,
	},
	{
		Key: "use-port-in-redirects", Default: "false", ConfigMap: true,
		Doc:               "`\"true\"` writes the HTTPS port (443 included) in the Location of `ssl-redirect` (`\"false\"`: no port, whatever `--https-port` is, as ingress-nginx), and the listener's port (unless 80 for HTTP, 443 for HTTPS) in a `permanent-redirect` to a path.",
		Validate:          validateBool,
		ValidateConfigMap: validateConfigBool,
	},
	{
		Key: "relative-redirects", Default: "false", ConfigMap: true,
		Doc:               "`\"true\"` (the ConfigMap key: for every Ingress, whose annotation `\"false\"` does not turn it off, as nginx's `absolute_redirect off` in `http{}`) sends a `permanent-redirect` to a path, the redirect of a Prefix path ending in `/` and a `Location` that `proxy-redirect-from`/`-to` rewrote to a path as that path (nginx's `absolute_redirect off`) instead of `$scheme://<host><path>` (the local address without a Host). Every other redirect Weir issues has an absolute target, as in ingress-nginx.",
		Validate:          validateBool,
		ValidateConfigMap: validateConfigBool,
	},
	{
		Key:      "server-alias",
		Doc:      "Comma-separated host names served exactly as the Ingress's host is, its paths, app-root and settings included (an alias names one server: the Ingress's first host in name order, as text, when it has several). A name may be a wildcard `*.example.com`, matching at any depth (`a.b.example.com` too) as nginx's wildcard `server_name` does, and before any wildcard host (which ingress-nginx writes as a one-label regular expression). A name that is a host of an Ingress, or an alias of a host whose name sorts before as text (a `*.` wildcard before letters: ingress-nginx writes its servers in that order, and nginx keeps a name two servers list for the first), stays theirs (warning). Regular-expression names (`~...`) are not supported (warning; the others are kept).",
		Validate: func(v string) error { _, err := parseAliases(v); return err },
	},
	{
		Key:      "upstream-vhost",
		Doc:      "Host header sent upstream instead of the client's (`X-Forwarded-Host` stays the client's `Host`). nginx variables are expanded: the location's `$namespace`, `$ingress_name`, `$service_name` and `$service_port` (the Ingress's, and the rule's Service and port as written: `upstream-vhost: $service_name.$namespace.svc.cluster.local`) and the request's that `auth-url` accepts (`$host`, `$http_<name>`, ...); a value naming another variable (`$location_path`, ...) is rejected with a warning (the client's `Host` is sent). Differs from ingress-nginx: a value that expands to nothing sends the client's `Host`, where nginx sends no `Host` line.",
		Validate: func(v string) error { _, err := parseVhost(v); return err },
	},
}

// pathWithCapture is ingress-nginx's RegexPathWithCapture: rewrite-target,
// x-forwarded-prefix and app-root may hold only these characters.
var pathWithCapture = regexp.MustCompile(`^/?[\-._~a-zA-Z0-9/:$]*$`)

// redirectURLChars is ingress-nginx's URLIsValidRegex, the characters of a
// permanent-redirect or temporal-redirect URL.
var redirectURLChars = regexp.MustCompile(`^[\-._~a-zA-Z0-9/:,?&=]*$`)

// parseTarget accepts a path of pathWithCapture characters whose "$" are
// each followed by a group number 1 to 9.
func parseTarget(v string) (string, error) {
	if !pathWithCapture.MatchString(v) {
		return "", errors.New("may hold only letters, digits, \"-._~/:\" and $1..$9")
	}
	for i := 0; i < len(v); i++ {
		if v[i] == '$' && (i+1 == len(v) || v[i+1] < '1' || v[i+1] > '9') {
			return "", errors.New("\"$\" must be followed by a group number 1 to 9 (nginx variables are not supported)")
		}
	}
	return v, nil
}

// parseAppRoot accepts a path (starting with "/") of pathWithCapture
// characters without "$", and "" (none).
func parseAppRoot(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	if !pathWithCapture.MatchString(v) || strings.Contains(v, "$") {
		return "", errors.New("may hold only letters, digits and \"-._~/:\"")
	}
	u, err := url.ParseRequestURI(v)
	if err != nil || u.IsAbs() || !strings.HasPrefix(v, "/") {
		return "", errors.New("must be a path starting with \"/\"")
	}
	return v, nil
}

// validateRedirectURL accepts an http or https URL of redirectURLChars
// characters, and "" (no redirect).
func validateRedirectURL(v string) error {
	if v == "" {
		return nil
	}
	if !redirectURLChars.MatchString(v) {
		return errors.New("may hold only letters, digits and \"-._~/:,?&=\"")
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an http:// or https:// URL")
	}
	return nil
}

// validatePermanentURL is validateRedirectURL that also accepts a path
// starting with "/": ingress-nginx checks the scheme of temporal-redirect
// only, and nginx makes a path absolute unless relative-redirects.
func validatePermanentURL(v string) error {
	if strings.HasPrefix(v, "/") {
		if !redirectURLChars.MatchString(v) {
			return errors.New("may hold only letters, digits and \"-._~/:,?&=\"")
		}
		return nil
	}
	if err := validateRedirectURL(v); err != nil {
		return errors.New("must be an http:// or https:// URL or a path starting with \"/\"")
	}
	return nil
}

// parseHTTPRedirectCode accepts the statuses ingress-nginx accepts for
// http-redirect-code, read by hand as ReadConfig reads it (configAtoi:
// "+301" is 301, " 301" and "0x12d" are refused): 301, 302, 307 and 308.
func parseHTTPRedirectCode(v string) (int, error) {
	n, err := configAtoi(v)
	switch {
	case err != nil:
	case n == 301, n == 302, n == 307, n == 308:
		return int(n), nil
	}
	return 0, errors.New("must be 301, 302, 307 or 308")
}

// parseRedirectCode accepts an integer status from 300 to highest.
func parseRedirectCode(v string, highest int) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 300 || n > highest {
		return 0, fmt.Errorf("must be a status from 300 to %d", highest)
	}
	return n, nil
}

// parseAliases splits a comma-separated list of host names, exact or
// "*." wildcards (one label, as Ingress hosts), trimmed and lower-cased,
// sorted and de-duplicated; empty entries are skipped. Another entry (an
// nginx regular expression, "~...") is an error naming it; the valid names
// are returned with it.
func parseAliases(v string) ([]string, error) {
	var out, bad []string
	for _, a := range strings.Split(v, ",") {
		a = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(a)), ".")
		switch {
		case a == "":
		case !ValidHostName(strings.TrimPrefix(a, "*.")):
			bad = append(bad, a)
		default:
			out = append(out, a)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(bad) > 0 {
		return out, fmt.Errorf("entries %q are not host names or *.wildcards (regular expressions are not supported); ignored", bad)
	}
	return out, nil
}

// parseVhost accepts a host name, optionally with a port, without nginx
// variables, and "" (the client's Host).
func parseVhost(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", nil
	}
	if strings.IndexByte(v, '$') >= 0 {
		if _, err := parseLocationVars(v); err != nil {
			return "", err
		}
		return v, nil
	}
	h := v
	if host, port, err := splitPort(v); err == nil {
		h = host
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", errors.New("has an invalid port")
		}
	}
	if !ValidHostName(strings.ToLower(h)) {
		return "", errors.New("must be a host name, optionally with a port, or hold nginx variables")
	}
	return v, nil
}

// splitPort splits "host:port"; an error means there is no port.
func splitPort(v string) (string, string, error) {
	i := strings.LastIndexByte(v, ':')
	if i < 0 {
		return "", "", errors.New("no port")
	}
	return v[:i], v[i+1:], nil
}

// ValidHostName reports whether h is a lower-case DNS-1123 subdomain.
func ValidHostName(h string) bool {
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// parseRewriteDefaults applies the ConfigMap keys of the rewrite family
// (preserve-trailing-slash, use-port-in-redirects, relative-redirects) to
// p.Rewrite.
func parseRewriteDefaults(get lookup, p *Proxy, wrap func(key, value string, err error) error) []error {
	rw := Rewrite{}
	if p.Rewrite != nil {
		rw = *p.Rewrite
	}
	errs := rewriteBools(get, &rw, wrap, configBool)
	p.Rewrite = rewriteOrNil(rw)
	return errs
}

// rewriteBools reads the family's booleans into rw by boolean
// (parseTrimmedBool for annotations, configBool for the ConfigMap).
func rewriteBools(get lookup, rw *Rewrite, wrap func(key, value string, err error) error, boolean func(string) (bool, error)) []error {
	return joinErrs(
		setParsed(get, wrap, "preserve-trailing-slash", boolean, &rw.PreserveTrailingSlash),
		setParsed(get, wrap, "use-port-in-redirects", boolean, &rw.UsePortInRedirects),
		setParsed(get, wrap, "relative-redirects", boolean, &rw.RelativeRedirects),
	)
}

func rewriteOrNil(rw Rewrite) *Rewrite {
	if rw == (Rewrite{}) {
		return nil
	}
	return &rw
}

// parseRewrite applies the rewrite and redirect families of one Ingress to
// p.Rewrite (a copy: the defaults' value is shared) and h. A rejected value
// leaves the default in place, except a rejected redirect URL, which sets
// no redirect.
func parseRewrite(get lookup, p *Proxy, h *Host, wrap func(key, value string, err error) error) []error {
	rw := Rewrite{}
	if p.Rewrite != nil {
		rw = *p.Rewrite
	}
	relative := rw.RelativeRedirects
	errs := rewriteBools(get, &rw, wrap, parseTrimmedBool)
	// The ConfigMap's relative-redirects is nginx's absolute_redirect off
	// in http{}, which every location inherits: the annotation can turn
	// it on (the location's absolute_redirect off), not off again.
	rw.RelativeRedirects = rw.RelativeRedirects || relative
	errs = append(errs, joinErrs(
		setParsed(get, wrap, "rewrite-target", parseTarget, &rw.Target),
		setParsed(get, wrap, "x-forwarded-prefix", func(v string) (string, error) { return parseTarget(strings.ReplaceAll(v, " ", "")) }, &rw.XForwardedPrefix),
		setParsed(get, wrap, "upstream-vhost", parseVhost, &rw.UpstreamVhost),
		setParsed(get, wrap, "app-root", parseAppRoot, &h.AppRoot),
		setParsed(get, wrap, "from-to-www-redirect", parseBool, &h.FromToWWW),
	)...)
	if v, ok := get("server-alias"); ok {
		aliases, err := parseAliases(v)
		if err != nil {
			errs = append(errs, wrap("server-alias", v, err))
		}
		h.Aliases = aliases
	}
	// temporal-redirect wins over permanent-redirect, as ingress-nginx's
	// redirect parser reads it first. A code is checked whenever it is
	// set, its redirect or not, so a bad one is reported either way.
	redirected := false
	for _, r := range [...]struct {
		key      string
		code     int
		max      int
		validate func(string) error
	}{{"temporal-redirect", 302, 307, validateRedirectURL}, {"permanent-redirect", 301, 308, validatePermanentURL}} {
		code := r.code
		if c, ok := get(r.key + "-code"); ok {
			if n, err := parseRedirectCode(c, r.max); err != nil {
				errs = append(errs, wrap(r.key+"-code", c, fmt.Errorf("%w; %d used", err, r.code)))
			} else {
				code = n
			}
		}
		u, ok := get(r.key)
		if redirected || !ok || u == "" {
			continue
		}
		if err := r.validate(u); err != nil {
			errs = append(errs, wrap(r.key, u, fmt.Errorf("%w; no redirect", err)))
			continue
		}
		rw.RedirectURL, rw.RedirectCode, redirected = u, code, true
	}
	p.Rewrite = rewriteOrNil(rw)
	return errs
}

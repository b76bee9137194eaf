package annotations

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Header is one header field Weir sets, its value literal: Weir expands no
// nginx variable ("$remote_addr" is sent as written).
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// CustomHeaders is custom-headers: the response headers of a ConfigMap,
// set on every upstream response of the Ingress's routes (more_set_headers).
type CustomHeaders struct {
	// ConfigMap is the annotation's value, "namespace/name" (a name alone
	// names no ConfigMap, as ingress-nginx's store key).
	ConfigMap string `json:"configMap"`
	// Headers are the ConfigMap's data, sorted by name; snapshot.Build
	// fills them.
	Headers []Header `json:"headers,omitempty"`
	// Invalid says why the ConfigMap cannot be used (missing, a bad name or
	// value, a header not in global-allowed-response-headers); the routes
	// then answer 503, as ingress-nginx denies the location. Empty when
	// valid.
	Invalid string `json:"invalid,omitempty"`
}

// ingress-nginx's checks of custom headers (customheaders/main.go).
var (
	headerValueRegexp = regexp.MustCompile(`^[a-zA-Z\d_ :;.,\\/"'?!(){}\[\]@<>=\-+*#$&\x60|~^%]+$`)
	connectionRegexp  = regexp.MustCompile(`^(close|keep-alive)?$`) // ingress-nginx's, and "" for none
)

var validateConnection = matching(connectionRegexp, `"close" or "keep-alive"`)

// CheckHeader reports why name: value cannot be a custom header, nil when
// it can (ingress-nginx's ValidHeader and ValidValue).
func CheckHeader(name, value string) error {
	if !ValidHeaderName(name) {
		return errors.New("invalid header name " + strconvQuote(name))
	}
	if !headerValueRegexp.MatchString(value) {
		return errors.New("invalid value of header " + name)
	}
	return nil
}

func strconvQuote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

// headersMeta is the metadata table of the header annotations and
// ConfigMap keys.
var headersMeta = []Meta{
	{
		Key:      "custom-headers",
		Doc:      "`namespace/name` of a ConfigMap whose data are response headers set on every upstream response of the Ingress (replacing the upstream's), values literal; a name without its namespace finds none, as ingress-nginx's store. Every name must be in `global-allowed-response-headers`; a missing ConfigMap, a bad name or value, a header not allowed, or a ConfigMap of another namespace without the ConfigMap's `allow-cross-namespace-resources` (ingress-nginx documents only the Ingress's namespace as allowed) makes the routes answer 503 (ingress-nginx denies the location), with a warning.",
		Validate: validateConfigMapRef,
	},
	{
		Key:      "connection-proxy-header",
		Doc:      "`close` or `keep-alive`: the `Connection` header sent to the upstream (by default Weir sends none on its keep-alive connections, as ingress-nginx with upstream keep-alive). Another value is ignored, with a warning.",
		Validate: validateConnection,
	},
	{
		Key: "enable-access-log", Default: "true",
		Doc:      "`\"false\"`: no access-log line for the requests of the Ingress's routes, but for those `custom-http-errors` sends to an error page (nginx's `@custom_` location has the http-level `access_log`).",
		Validate: func(v string) error { _, err := parseBool(v); return err },
	},
	{
		Key: "add-headers", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "`namespace/name` of a ConfigMap whose data are response headers set on every response (replacing the upstream's), Weir's own too: its error pages, redirects, refusals and the 404 of a host no rule names, as ingress-nginx's `more_set_headers` in `http{}`. Values are evaluated per response as nginx's: its nginx variables, the ones `auth-url` accepts (`$host`, `$request_id`, `$remote_addr`, `$http_<name>`, ...), are expanded, and a value empty as written or once expanded removes the header; a header naming another variable is skipped with a warning. A missing ConfigMap adds none, with a warning.",
		Validate: validateConfigMapRef,
	},
	{
		Key: "proxy-set-headers", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "`namespace/name` of a ConfigMap whose data are request headers set on every request to an upstream, after Weir's own. Values are evaluated per request as nginx's `proxy_set_header`: its nginx variables, the ones `auth-url` accepts (`$host`, `$remote_addr`, `$request_uri`, `$http_<name>`, ...), are expanded, and a value empty as written or once expanded removes the header, as nginx sends none; a header naming another variable is skipped with a warning. A missing ConfigMap sets none, with a warning.",
		Validate: validateConfigMapRef,
	},
	{
		Key: "hide-headers", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "Comma-separated header names removed from every upstream response (nginx's `proxy_hide_header`).",
		Validate: func(string) error { return nil },
	},
	{
		Key: "global-allowed-response-headers", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "Comma-separated header names that `custom-headers` may set; an invalid name is skipped with a warning.",
		Validate: func(v string) error { _, err := parseHeaderNames(v); return err },
	},
}

// configMapRef is validateConfigMapRef as a parser.
func configMapRef(v string) (string, error) { return v, validateConfigMapRef(v) }

// validateConfigMapRef accepts "name", "namespace/name" or "" (none).
func validateConfigMapRef(v string) error {
	if v == "" {
		return nil
	}
	ns, name, ok := strings.Cut(v, "/")
	if !ok {
		ns, name = "x", v
	}
	if !dnsName.MatchString(ns) || !dnsName.MatchString(name) {
		return errors.New(`must be "namespace/name" of a ConfigMap`)
	}
	return nil
}

var dnsName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)

// splitList splits a comma-separated list, trimming spaces and skipping
// empty entries.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// parseHeaderNames splits a list of header names; an invalid one is
// skipped and reported.
func parseHeaderNames(v string) ([]string, error) {
	var names, bad []string
	for _, n := range splitList(v) {
		if ValidHeaderName(n) {
			names = append(names, n)
		} else {
			bad = append(bad, n)
		}
	}
	if len(bad) > 0 {
		return names, fmt.Errorf("invalid header names %q skipped: the list %w", bad, ErrFailsClosed)
	}
	return names, nil
}

// parseHeaders reads custom-headers, connection-proxy-header and
// enable-access-log into p.
func parseHeaders(get lookup, p *Proxy, wrap func(key, value string, err error) error) []error {
	var ref string
	on := true
	errs := joinErrs(
		setParsed(get, wrap, "custom-headers", configMapRef, &ref),
		setParsed(get, wrap, "connection-proxy-header", func(v string) (string, error) {
			return v, validateConnection(v)
		}, &p.ConnectionHeader),
		setParsed(get, wrap, "enable-access-log", parseBool, &on),
	)
	p.AccessLogOff = !on
	if ref != "" {
		p.CustomHeaders = &CustomHeaders{ConfigMap: ref}
	}
	return errs
}

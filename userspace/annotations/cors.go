package annotations

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// CORS is the enable-cors family, as ingress-nginx's CORS block of
// nginx.tmpl: for a request whose Origin matches AllowOrigin the response
// carries the Access-Control-* headers (replacing the upstream's), and an
// OPTIONS request is answered 204 at once (nginx's rewrite phase, before
// the limits, the allow-lists and the redirects).
type CORS struct {
	// AllowOrigin is cors-allow-origin: ["*"] (any origin, answered
	// "Access-Control-Allow-Origin: *", the default), or origins matched
	// without regard to case, each with at most one "*" standing for one
	// DNS label ("https://*.example.com"). Empty matches no origin.
	AllowOrigin []string `json:"allowOrigin"`
	// AllowMethods is cors-allow-methods. Default "GET, PUT, POST, DELETE,
	// PATCH, OPTIONS".
	AllowMethods string `json:"allowMethods"`
	// AllowHeaders is cors-allow-headers. Default
	// DefaultCORSAllowHeaders.
	AllowHeaders string `json:"allowHeaders"`
	// ExposeHeaders is cors-expose-headers. Default "" (no header).
	ExposeHeaders string `json:"exposeHeaders,omitempty"`
	// AllowCredentials is cors-allow-credentials. Default true.
	AllowCredentials bool `json:"allowCredentials"`
	// MaxAge is cors-max-age, in seconds. Default 1728000.
	MaxAge int `json:"maxAge"`
}

// The defaults of the CORS family, ingress-nginx's.
const (
	DefaultCORSAllowMethods = "GET, PUT, POST, DELETE, PATCH, OPTIONS"
	DefaultCORSAllowHeaders = "DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization"
	DefaultCORSMaxAge       = 1728000
)

// ingress-nginx's validation of the CORS values (cors/main.go).
var (
	corsOriginRegex  = regexp.MustCompile(`^([a-z]+://(\*\.)?[A-Za-z0-9\-.]*(:\d+)?|\*|null)?$`)
	corsMethodsRegex = regexp.MustCompile(`^([A-Za-z]+,?\s?)+$`)
	corsExposeRegex  = regexp.MustCompile(`^(([A-Za-z0-9\-\_]+|\*),?\s?)+$`)
)

func matching(re *regexp.Regexp, what string) func(string) error {
	return func(v string) error {
		if !re.MatchString(v) {
			return fmt.Errorf("must be %s", what)
		}
		return nil
	}
}

// corsText reads a text value of the enable-cors family as ingress-nginx's
// parser does: trimmed (normalizeString), refused when it holds a line
// break (its MaliciousRegex: re's \s would take one) or does not match re.
func corsText(re *regexp.Regexp, what string) func(string) (string, error) {
	return func(v string) (string, error) {
		v = strings.TrimSpace(v)
		if strings.ContainsAny(v, "\r\n") || !re.MatchString(v) {
			return "", fmt.Errorf("must be %s", what)
		}
		return v, nil
	}
}

var (
	parseCORSMethods = corsText(corsMethodsRegex, "a comma-separated list of methods")
	// ingress-nginx's HeadersVariable, which its refusal table shares.
	parseCORSHeaders = corsText(nginxHeadersVariable, "a comma-separated list of header names")
	corsExposeList   = corsText(corsExposeRegex, `a comma-separated list of header names or "*"`)
)

func validateCORSMethods(v string) error { _, err := parseCORSMethods(v); return err }
func validateCORSHeaders(v string) error { _, err := parseCORSHeaders(v); return err }

func init() {
	for i := range corsMeta {
		corsMeta[i].Validate = blankIsDefault(corsMeta[i].Validate)
	}
}

// parseCORSExpose accepts "" (no header) or a list.
func parseCORSExpose(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	return corsExposeList(v)
}

func validateCORSExpose(v string) error { _, err := parseCORSExpose(v); return err }

// blankIsDefault accepts a blank value, which parseCORS takes as missing
// (the default, silently, as ingress-nginx), and checks any other with f.
func blankIsDefault(f func(string) error) func(string) error {
	return func(v string) error {
		if strings.TrimSpace(v) == "" {
			return nil
		}
		return f(v)
	}
}

// corsMeta is the metadata table of the enable-cors family; a blank value
// of any of them is its default (blankIsDefault, applied in init).
var corsMeta = []Meta{
	{Key: "enable-cors", Default: "false", Doc: "Answers CORS: the `Access-Control-*` headers on the responses to a matching `Origin` (replacing the upstream's), and `204` to its `OPTIONS` requests at once, before limits, allow-lists and redirects, as ingress-nginx's CORS block.", Validate: func(v string) error { _, err := parseBool(v); return err }},
	{Key: "cors-allow-origin", Default: "*", Doc: "Comma-separated origins (`https://app.example.com`, `https://*.example.com` for one label, `http://localhost:8080`), matched without regard to case; `*` is any origin and answers `Access-Control-Allow-Origin: *`. An invalid entry (no scheme, a path, an upper-case scheme) is skipped with a warning, the others still matching; none left matches no origin (ingress-nginx answers any origin, `*`, once one entry is outside its pattern).", Validate: validateCORSOrigins},
	{Key: "cors-allow-methods", Default: DefaultCORSAllowMethods, Doc: "`Access-Control-Allow-Methods`. An invalid value is the default, with a warning.", Validate: validateCORSMethods},
	{Key: "cors-allow-headers", Default: DefaultCORSAllowHeaders, Doc: "`Access-Control-Allow-Headers`. An invalid value is the default, with a warning.", Validate: validateCORSHeaders},
	{Key: "cors-expose-headers", Doc: "`Access-Control-Expose-Headers`; none when empty. An invalid value is none, with a warning.", Validate: validateCORSExpose},
	{Key: "cors-allow-credentials", Default: "true", Doc: "Sends `Access-Control-Allow-Credentials: true`.", Validate: func(v string) error { _, err := parseBool(v); return err }},
	{Key: "cors-max-age", Default: "1728000", Doc: "`Access-Control-Max-Age`, in seconds: an integer as ingress-nginx takes it, a sign allowed (`-1` is sent as written). An invalid value is the default, with a warning.", Validate: func(v string) error { _, err := parseCORSMaxAge(v); return err }},
}

// parseCORSMaxAge reads cors-max-age as ingress-nginx's parser
// (strconv.Atoi): a sign is allowed, spaces are not.
func parseCORSMaxAge(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, errors.New("must be an integer")
	}
	return n, nil
}

// parseCORSOrigins splits cors-allow-origin; bad are the entries skipped.
func parseCORSOrigins(v string) (origins, bad []string) {
	origins = []string{}
	for _, o := range strings.Split(v, ",") {
		o = strings.TrimSpace(o)
		switch {
		case o == "":
		case o == "*":
			return []string{"*"}, bad
		case !corsOriginRegex.MatchString(o):
			bad = append(bad, o)
		default:
			origins = append(origins, o)
		}
	}
	return origins, bad
}

func validateCORSOrigins(v string) error {
	if _, bad := parseCORSOrigins(v); len(bad) > 0 {
		return fmt.Errorf("invalid origins %q", bad)
	}
	return nil
}

// parseCORS reads the enable-cors family into dst (nil: no CORS).
func parseCORS(get lookup, dst **CORS, wrap func(key, value string, err error) error) []error {
	var on bool
	errs := joinErrs(setParsed(get, wrap, "enable-cors", parseBool, &on))
	c := &CORS{AllowOrigin: []string{"*"}, AllowMethods: DefaultCORSAllowMethods, AllowHeaders: DefaultCORSAllowHeaders, AllowCredentials: true, MaxAge: DefaultCORSMaxAge}
	// A blank value is ingress-nginx's missing one: the default.
	raw := get
	get = func(key string) (string, bool) {
		v, ok := raw(key)
		return v, ok && strings.TrimSpace(v) != ""
	}
	if v, ok := get("cors-allow-origin"); ok {
		var bad []string
		c.AllowOrigin, bad = parseCORSOrigins(v)
		if len(bad) > 0 {
			errs = append(errs, wrap("cors-allow-origin", v, fmt.Errorf("invalid origins %q skipped", bad)))
		}
	}
	errs = append(errs, joinErrs(
		setParsed(get, wrap, "cors-allow-methods", parseCORSMethods, &c.AllowMethods),
		setParsed(get, wrap, "cors-allow-headers", parseCORSHeaders, &c.AllowHeaders),
		setParsed(get, wrap, "cors-expose-headers", parseCORSExpose, &c.ExposeHeaders),
		setParsed(get, wrap, "cors-allow-credentials", parseBool, &c.AllowCredentials),
		setParsed(get, wrap, "cors-max-age", parseCORSMaxAge, &c.MaxAge),
	)...)
	if on {
		*dst = c
	}
	return errs
}

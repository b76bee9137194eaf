package annotations

import (
	"errors"
	"strconv"
	"strings"
)

// SSL is the typed configuration of the ssl-redirect family, per Ingress.
// Global defaults come from the controller ConfigMap's keys of the same
// names.
type SSL struct {
	// Redirect sends plain HTTP requests for a host with TLS (a host in the
	// spec.tls of a served Ingress) to HTTPS with 308 (ssl-redirect).
	// Default true.
	Redirect bool
	// ForceRedirect sends plain HTTP requests to HTTPS with 308 even for a
	// host without TLS (force-ssl-redirect). Default false.
	ForceRedirect bool
}

// DefaultSSL returns the defaults documented on SSL.
func DefaultSSL() SSL { return SSL{Redirect: true} }

// HSTS is the Strict-Transport-Security setting of the controller ConfigMap
// (keys hsts, hsts-max-age, hsts-include-subdomains, hsts-preload, as in
// ingress-nginx). There is no per-Ingress annotation.
type HSTS struct {
	// Enabled adds the header to every HTTPS response of a route or of the
	// default backend, the host having TLS or not (hsts), as ingress-nginx.
	// Default true.
	Enabled bool
	// MaxAgeSeconds is the max-age directive (hsts-max-age). Default
	// 31536000 (one year).
	MaxAgeSeconds int64
	// IncludeSubdomains adds includeSubDomains (hsts-include-subdomains).
	// Default true.
	IncludeSubdomains bool
	// Preload adds preload (hsts-preload). Default false.
	Preload bool
}

// DefaultHSTS returns the defaults documented on HSTS.
func DefaultHSTS() HSTS {
	return HSTS{Enabled: true, MaxAgeSeconds: 31536000, IncludeSubdomains: true}
}

// Header returns the value of the Strict-Transport-Security header, or ""
// when h is not Enabled: "max-age=31536000; includeSubDomains" by default.
func (h HSTS) Header() string {
	if !h.Enabled {
		return ""
	}
	v := "max-age=" + strconv.FormatInt(h.MaxAgeSeconds, 10)
	if h.IncludeSubdomains {
		v += "; includeSubDomains"
	}
	if h.Preload {
		v += "; preload"
	}
	return v
}

// sslMeta is the metadata table of the ssl-redirect family.
var sslMeta = []Meta{
	{
		Key: "ssl-redirect", Default: "true", ConfigMap: true,
		Doc:               "`\"true\"` answers plain HTTP requests for a host with TLS (one whose certificate, its own or the default one, a `spec.tls` settles: see TLS) with a 308 redirect to HTTPS; per Ingress, for its paths.",
		Validate:          validateTrimmedBool,
		ValidateConfigMap: validateConfigBool,
	},
	{
		Key: "force-ssl-redirect", Default: "false", ConfigMap: true,
		Doc:               "`\"true\"` redirects plain HTTP to HTTPS with 308 even for a host without TLS.",
		Validate:          validateTrimmedBool,
		ValidateConfigMap: validateConfigBool,
	},
}

// hstsMeta is the metadata table of the HSTS settings; they exist only as
// controller ConfigMap keys.
var hstsMeta = []Meta{
	{
		Key: "hsts", Default: "true", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "`\"true\"` adds `Strict-Transport-Security` to every HTTPS response of a rule or of the default backend, for a host with TLS or one served the default certificate.",
		Validate: validateConfigBool,
	},
	{
		Key: "hsts-max-age", Default: "31536000", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "The `max-age` of the HSTS header, in seconds.",
		Validate: func(v string) error { _, err := parseMaxAge(v); return err },
	},
	{
		Key: "hsts-include-subdomains", Default: "true", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "`\"true\"` adds `includeSubDomains` to the HSTS header.",
		Validate: validateConfigBool,
	},
	{
		Key: "hsts-preload", Default: "false", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "`\"true\"` adds `preload` to the HSTS header.",
		Validate: validateConfigBool,
	},
}

// ParseSSL reads the ssl-redirect family of one Ingress's annotations over
// defaults (usually from ParseTLSDefaults). A nil map yields defaults. A
// rejected value is returned as an *Error and leaves the default in place.
func ParseSSL(ann map[string]string, defaults SSL) (SSL, []error) {
	get := func(key string) (string, bool) {
		v, ok := ann[Prefix+key]
		return v, ok
	}
	wrap := func(key, value string, err error) error {
		return &Error{Annotation: Prefix + key, Value: value, Err: err}
	}
	s := defaults
	errs := parseSSL(get, &s, wrap, parseTrimmedBool)
	return s, errs
}

// ParseTLSDefaults reads the global TLS settings from the data of the
// controller ConfigMap: ssl-redirect, force-ssl-redirect, hsts,
// hsts-max-age, hsts-include-subdomains and hsts-preload. A nil map yields
// DefaultSSL and DefaultHSTS. A rejected value is returned as an *Error with
// ConfigMap set and the built-in default is kept.
func ParseTLSDefaults(data map[string]string) (SSL, HSTS, []error) {
	get := func(key string) (string, bool) {
		v, ok := data[key]
		return v, ok
	}
	wrap := func(key, value string, err error) error {
		return &Error{Annotation: key, Value: value, ConfigMap: true, Err: err}
	}
	s, h := DefaultSSL(), DefaultHSTS()
	errs := parseSSL(get, &s, wrap, configBool)
	boolKey := func(key string, dst *bool) {
		if v, ok := get(key); ok {
			b, err := configBool(v)
			if err != nil {
				errs = append(errs, wrap(key, v, err))
				return
			}
			*dst = b
		}
	}
	boolKey("hsts", &h.Enabled)
	boolKey("hsts-include-subdomains", &h.IncludeSubdomains)
	boolKey("hsts-preload", &h.Preload)
	if v, ok := get("hsts-max-age"); ok {
		n, err := parseMaxAge(v)
		if err != nil {
			errs = append(errs, wrap("hsts-max-age", v, err))
		} else {
			h.MaxAgeSeconds = n
		}
	}
	return s, h, errs
}

// parseSSL applies the ssl-redirect family to s, read by boolean
// (parseTrimmedBool for annotations, configBool for the ConfigMap). A
// rejected value leaves its field unchanged.
func parseSSL(get lookup, s *SSL, wrap func(key, value string, err error) error, boolean func(string) (bool, error)) []error {
	var errs []error
	for _, f := range []struct {
		key string
		dst *bool
	}{{"ssl-redirect", &s.Redirect}, {"force-ssl-redirect", &s.ForceRedirect}} {
		v, ok := get(f.key)
		if !ok {
			continue
		}
		b, err := boolean(v)
		if err != nil {
			errs = append(errs, wrap(f.key, v, err))
			continue
		}
		*f.dst = b
	}
	return errs
}

// parseMaxAge accepts a non-negative integer number of seconds; 0 tells
// browsers to forget the host's HSTS policy.
func parseMaxAge(v string) (int64, error) {
	v = strings.TrimSpace(v)
	if v == "" || strings.Trim(v, "0123456789") != "" {
		return 0, errors.New("must be a non-negative integer number of seconds")
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, errors.New("is too large")
	}
	return n, nil
}

// validateTrimmedBool is the validator of the bool keys of this family,
// whose parsers ignore surrounding spaces.
func validateTrimmedBool(v string) error {
	_, err := parseBool(strings.TrimSpace(v))
	return err
}

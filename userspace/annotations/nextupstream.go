package annotations

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// NextUpstream is the set of conditions under which a request is passed to
// the next endpoint (nginx's proxy_next_upstream), one bit per condition.
// The zero value is "off": no request is passed on. It is written in JSON
// (and in the annotation) as nginx spells it: "error timeout http_502".
type NextUpstream uint16

// The conditions of NextUpstream, as nginx names them.
const (
	// NextError: an error connecting to the endpoint, sending it the
	// request or reading its response header.
	NextError NextUpstream = 1 << iota
	// NextTimeout: a timeout connecting, sending the request or reading
	// the response header.
	NextTimeout
	// NextInvalidHeader: an empty or invalid response header.
	NextInvalidHeader
	NextHTTP500
	NextHTTP502
	NextHTTP503
	NextHTTP504
	NextHTTP403
	NextHTTP404
	NextHTTP429
	// NextNonIdempotent lets a POST, LOCK or PATCH request that was sent
	// be passed on too; without it only those not yet sent are.
	NextNonIdempotent
)

// nextUpstreamNames are the condition names in nginx's order.
var nextUpstreamNames = []struct {
	name string
	bit  NextUpstream
}{
	{"error", NextError}, {"timeout", NextTimeout}, {"invalid_header", NextInvalidHeader},
	{"http_500", NextHTTP500}, {"http_502", NextHTTP502}, {"http_503", NextHTTP503},
	{"http_504", NextHTTP504}, {"http_403", NextHTTP403}, {"http_404", NextHTTP404},
	{"http_429", NextHTTP429}, {"non_idempotent", NextNonIdempotent},
}

// Status returns the condition of an upstream response status, 0 for a
// status no condition names.
func Status(code int) NextUpstream {
	switch code {
	case 500:
		return NextHTTP500
	case 502:
		return NextHTTP502
	case 503:
		return NextHTTP503
	case 504:
		return NextHTTP504
	case 403:
		return NextHTTP403
	case 404:
		return NextHTTP404
	case 429:
		return NextHTTP429
	}
	return 0
}

// Has reports whether every condition of c is in n.
func (n NextUpstream) Has(c NextUpstream) bool { return c != 0 && n&c == c }

// String returns n as nginx writes it: names separated by spaces, "off"
// for none.
func (n NextUpstream) String() string {
	var names []string
	for _, c := range nextUpstreamNames {
		if n&c.bit != 0 {
			names = append(names, c.name)
		}
	}
	if len(names) == 0 {
		return "off"
	}
	return strings.Join(names, " ")
}

// MarshalText implements encoding.TextMarshaler: n.String().
func (n NextUpstream) MarshalText() ([]byte, error) { return []byte(n.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseNextUpstream.
func (n *NextUpstream) UnmarshalText(b []byte) error {
	v, err := ParseNextUpstream(string(b))
	if err != nil {
		return err
	}
	*n = v
	return nil
}

// ParseNextUpstream reads nginx's proxy_next_upstream syntax: condition
// names separated by spaces, or "off" alone.
func ParseNextUpstream(v string) (NextUpstream, error) {
	fields := strings.Fields(v)
	if len(fields) == 0 {
		return 0, errors.New(`must name at least one condition, or "off"`)
	}
	var n NextUpstream
	for _, f := range fields {
		if f == "off" {
			if len(fields) > 1 {
				return 0, errors.New(`"off" cannot be combined with conditions`)
			}
			return 0, nil
		}
		bit := NextUpstream(0)
		for _, c := range nextUpstreamNames {
			if c.name == f {
				bit = c.bit
			}
		}
		if bit == 0 {
			return 0, fmt.Errorf("unknown condition %q", f)
		}
		n |= bit
	}
	return n, nil
}

// nextUpstreamMeta is the metadata table of the next-upstream family.
var nextUpstreamMeta = []Meta{
	{
		Key: "proxy-next-upstream", Default: "error timeout", ConfigMap: true,
		Doc: "When a request is passed to the next endpoint, in nginx's `proxy_next_upstream` syntax: any of `error`, `timeout`, `invalid_header`, `http_500`, `http_502`, `http_503`, `http_504`, `http_403`, `http_404`, `http_429`, `non_idempotent`, or `off`. " +
			"Never once the response has started to the client or the request body was consumed; a sent POST, LOCK or PATCH only with `non_idempotent`.",
		Validate: func(v string) error { _, err := ParseNextUpstream(v); return err },
	},
	{
		Key: "proxy-next-upstream-tries", Default: "3", ConfigMap: true,
		Doc:               "Most attempts for one request, the first included; an endpoint is tried again once every one was (one failing endpoint: tried this many times), as ingress-nginx's balancer. \"0\" tries each endpoint once (ingress-nginx would retry without end).",
		Validate:          func(v string) error { _, err := parseCount(v); return err },
		ValidateConfigMap: validateConfigCount,
	},
	{
		Key: "proxy-next-upstream-timeout", Default: "0", ConfigMap: true,
		Doc:               "Seconds after the first attempt past which a request is no longer passed to the next endpoint; \"0\" means no limit.",
		Validate:          func(v string) error { _, err := parseCount(v); return err },
		ValidateConfigMap: validateConfigCount,
	},
	{
		Key: "retry-non-idempotent", Default: "false", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "`\"true\"` adds `non_idempotent` to every `proxy-next-upstream`, the Ingresses' own included, as ingress-nginx does.",
		Validate: validateConfigBool,
	},
}

// parseNextUpstream applies the next-upstream family to p, the integers
// read by count (parseCount for annotations, configCount for the
// ConfigMap). A rejected value leaves p's field unchanged.
func parseNextUpstream(get lookup, p *Proxy, wrap func(key, value string, err error) error, count func(string) (int, error)) []error {
	errs := joinErrs(
		setParsed(get, wrap, "proxy-next-upstream", ParseNextUpstream, &p.NextUpstream),
		setParsed(get, wrap, "proxy-next-upstream-tries", count, &p.NextUpstreamTries),
		setParsed(get, wrap, "proxy-next-upstream-timeout", count, &p.NextUpstreamTimeoutSeconds),
	)
	if p.RetryNonIdempotent {
		p.NextUpstream |= NextNonIdempotent
	}
	return errs
}

// parseRetryNonIdempotent applies the retry-non-idempotent ConfigMap key to
// p, before parseNextUpstream.
func parseRetryNonIdempotent(get lookup, p *Proxy, wrap func(key, value string, err error) error) []error {
	return joinErrs(setParsed(get, wrap, "retry-non-idempotent", configBool, &p.RetryNonIdempotent))
}

// parseCount accepts a non-negative integer, digits only ("3", not "+3").
// Surrounding spaces are ignored.
func parseCount(v string) (int, error) {
	v = strings.TrimSpace(v)
	if v == "" || strings.Trim(v, "0123456789") != "" {
		return 0, errors.New("must be a non-negative integer")
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n > maxSeconds {
		return 0, fmt.Errorf("must be at most %d", maxSeconds)
	}
	return int(n), nil
}

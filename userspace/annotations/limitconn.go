package annotations

import (
	"fmt"
)

// ConnLimit is limit-connections with its allowlist: the requests in flight
// from one client address to the routes of one Ingress, counted across
// every worker of the node, as ingress-nginx's limit_conn with a zone per
// Ingress keyed by $binary_remote_addr (the client address after the
// real-IP rules). A request past the limit gets the ConfigMap's
// limit-conn-status-code (503).
type ConnLimit struct {
	// Connections is limit-connections: the requests in flight allowed per
	// client address (each HTTP/2 stream counts, as in nginx). At least 1.
	Connections int `json:"connections"`
	// Allowlist is limit-allowlist, else limit-whitelist: normalised
	// prefixes of the clients the limit does not apply to. Nil means none.
	Allowlist []string `json:"allowlist,omitempty"`
}

// limitConnMeta is the metadata table of the limit-connections family.
var limitConnMeta = []Meta{
	{
		Key: "limit-connections", Default: "0",
		Doc:      "Requests in flight (each HTTP/2 stream counts, as nginx's `limit_conn`) allowed from one client address to the routes of the Ingress, counted across every worker of the node; more get `limit-conn-status-code` (503). `\"0\"` means no limit. An invalid value sets no limit, with an InvalidAnnotation warning (ingress-nginx then sets none either).",
		Validate: func(v string) error { _, err := parseCount(v); return err },
	},
	{
		Key:      "limit-allowlist",
		Doc:      "Comma-separated CIDRs or addresses (of the client address after the real-IP rules) that `limit-connections`, `limit-rps` and `limit-rpm` do not apply to. An invalid value exempts nobody (fails closed), with a warning.",
		Validate: validateSourceRange,
	},
	{
		Key:      "limit-whitelist",
		Doc:      "Older name of `limit-allowlist`, read when it is not set.",
		Validate: validateSourceRange,
	},
}

// parseConnLimit reads the limit-connections family into dst (nil: no
// limit).
func parseConnLimit(get lookup, dst **ConnLimit, wrap func(key, value string, err error) error) []error {
	var n int
	errs := joinErrs(setParsed(get, wrap, "limit-connections", parseCount, &n))
	allow, err := limitAllowlist(get, wrap)
	if err != nil {
		errs = append(errs, err)
	}
	if n > 0 {
		*dst = &ConnLimit{Connections: n, Allowlist: allow}
	}
	return errs
}

// limitAllowlist reads limit-allowlist, else limit-whitelist: the clients
// that limit-connections, limit-rps and limit-rpm do not count (nginx's geo
// map of the Ingress's rate limit zones). An invalid list exempts nobody
// and is returned as an error through wrap.
func limitAllowlist(get lookup, wrap func(key, value string, err error) error) ([]string, error) {
	key := "limit-allowlist"
	v, ok := get(key)
	if !ok {
		key = "limit-whitelist"
		v, ok = get(key)
	}
	if !ok || v == "" {
		return nil, nil
	}
	prefixes, bad := parseSourceRangeList(v, true)
	if len(bad) > 0 {
		return nil, wrap(key, v, fmt.Errorf("invalid entries %q; nobody is exempt from limit-connections, limit-rps and limit-rpm: the allowlist %w", bad, ErrFailsClosed))
	}
	return prefixes, nil
}

// parseLimitConnStatus accepts an HTTP error status, 400 to 599, as
// nginx's limit_conn_status.
func parseLimitConnStatus(v string) (int, error) {
	return configRange(configInt, v, 400, 599, "a status code from 400 to 599")
}

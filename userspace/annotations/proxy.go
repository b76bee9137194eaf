// Package annotations parses the nginx.ingress.kubernetes.io/* annotations of
// an Ingress into typed configuration. It is the only place in Weir that reads
// annotation strings; one small parser per annotation family, each with a
// metadata table from which the README's annotation table is generated.
package annotations

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Prefix is the prefix of every annotation Weir reads, as in ingress-nginx.
const Prefix = "nginx.ingress.kubernetes.io/"

// Proxy is the typed configuration of the proxy family of annotations, per
// Ingress. Global defaults come from the controller ConfigMap's keys of the
// same names.
type Proxy struct {
	// ConnectTimeoutSeconds bounds establishing the upstream connection
	// (proxy-connect-timeout). Default 5.
	ConnectTimeoutSeconds int `json:"connectTimeoutSeconds"`
	// ReadTimeoutSeconds bounds the wait between two successive reads from
	// the upstream, the response header included (proxy-read-timeout).
	// Default 60.
	ReadTimeoutSeconds int `json:"readTimeoutSeconds"`
	// SendTimeoutSeconds bounds the wait between two successive writes to
	// the upstream (proxy-send-timeout). Default 60.
	SendTimeoutSeconds int `json:"sendTimeoutSeconds"`
	// BodySizeBytes is the largest request body accepted; larger gets 413
	// (proxy-body-size, "1m"). 0 means unlimited. Default 1048576.
	BodySizeBytes int64 `json:"bodySizeBytes"`
	// LoadBalance is the balancing algorithm (load-balance):
	// "round_robin" or "ewma". Default "round_robin".
	LoadBalance string `json:"loadBalance"`
	// SourceRange is the source-range family (whitelist-source-range,
	// allowlist-source-range, denylist-source-range). Nil means any client
	// (the default). It is a pointer, shared and never modified once
	// parsed, so that Proxy stays comparable.
	SourceRange *SourceRange `json:"sourceRange,omitempty"`
	// Balance is the hash and session-affinity families (upstream-hash-by*,
	// affinity*, session-cookie-*), which take precedence over LoadBalance.
	// Nil means neither (the default). A pointer for the reason SourceRange
	// is; Balance itself is comparable.
	Balance *Balance `json:"balance,omitempty"`
	// ConnLimit is limit-connections with limit-allowlist. Nil means no
	// limit (the default). A pointer for the reason SourceRange is.
	ConnLimit *ConnLimit `json:"connLimit,omitempty"`
	// RateLimit is limit-rps and limit-rpm with limit-burst-multiplier and
	// limit-allowlist. Nil means no limit (the default). A pointer for the
	// reason SourceRange is.
	RateLimit *RateLimit `json:"rateLimit,omitempty"`
	// LimitRateKiB is limit-rate: the bandwidth of each response body, in
	// KiB per second. 0 (the default) means none.
	LimitRateKiB int `json:"limitRateKiB,omitempty"`
	// LimitRateAfterKiB is limit-rate-after: the KiB of each response body
	// sent before LimitRateKiB applies. Default 0.
	LimitRateAfterKiB int `json:"limitRateAfterKiB,omitempty"`
	// CORS is the enable-cors family. Nil means no CORS (the default). A
	// pointer for the reason SourceRange is.
	CORS *CORS `json:"cors,omitempty"`
	// CustomHeaders is custom-headers. Nil means none (the default).
	CustomHeaders *CustomHeaders `json:"customHeaders,omitempty"`
	// ConnectionHeader is connection-proxy-header: the Connection header
	// sent upstream. "" (the default) sends none.
	ConnectionHeader string `json:"connectionHeader,omitempty"`
	// AccessLogOff is enable-access-log "false": no access-log line for
	// the route's requests. Default false.
	AccessLogOff bool `json:"accessLogOff,omitempty"`
	// Mirror is the mirror family. Nil means no mirror (the default).
	Mirror *Mirror `json:"mirror,omitempty"`
	// Auth is the authentication family (auth.go). Nil means none (the
	// default, or the ConfigMap's global-auth-url). A pointer for the
	// reason SourceRange is.
	Auth *Auth `json:"auth,omitempty"`
	// NextUpstream is when a failed request is passed to the next endpoint
	// (proxy-next-upstream). Default NextError|NextTimeout ("error
	// timeout"); the zero value is "off".
	NextUpstream NextUpstream `json:"nextUpstream"`
	// NextUpstreamTries bounds the attempts for one request, the first
	// included (proxy-next-upstream-tries); an endpoint is tried again once
	// every one was. 0 tries each endpoint once. Default 3.
	NextUpstreamTries int `json:"nextUpstreamTries"`
	// NextUpstreamTimeoutSeconds bounds the time after the first attempt
	// during which a request may be passed on
	// (proxy-next-upstream-timeout); 0 means no limit. Default 0.
	NextUpstreamTimeoutSeconds int `json:"nextUpstreamTimeoutSeconds"`
	// Rewrite is the rewrite and redirect families (rewrite.go). Nil means
	// none of them is set (the default). A pointer for the reason
	// SourceRange is.
	Rewrite *Rewrite `json:"rewrite,omitempty"`
	// RetryNonIdempotent is the ConfigMap's retry-non-idempotent: add
	// NextNonIdempotent to NextUpstream whatever the Ingress sets. Default
	// false.
	RetryNonIdempotent bool `json:"retryNonIdempotent,omitempty"`
	// Upstream is the backend family (backend-protocol, proxy-ssl-*). Nil
	// means HTTP without TLS settings (the default). A pointer for the
	// reason SourceRange is.
	Upstream *Upstream `json:"upstream,omitempty"`
}

// DefaultProxy returns the defaults documented on Proxy.
func DefaultProxy() Proxy {
	return Proxy{
		ConnectTimeoutSeconds: 5,
		ReadTimeoutSeconds:    60,
		SendTimeoutSeconds:    60,
		BodySizeBytes:         1 << 20,
		LoadBalance:           "round_robin",
		NextUpstream:          NextError | NextTimeout,
		NextUpstreamTries:     3,
	}
}

// secondsDoc ends the docs of the proxy timeouts.
const secondsDoc = " A whole number of seconds: an annotation reads it as ingress-nginx's (`+5` is 5, `010` is 10), the ConfigMap as ingress-nginx's ConfigMap decoder (also `0x1e` is 30, `010` is 8). Another value, or under 1, is refused with a warning, and the ConfigMap's value (for an annotation) or the default applies, the other keys still do. (ingress-nginx writes `0`, which times out at once in nginx: 504 to every request for connect and read.)"

// maxSeconds caps timeouts so that a duration in nanoseconds never
// overflows downstream.
const maxSeconds = 1<<31 - 1

// proxyMeta is the metadata table of the proxy family.
var proxyMeta = []Meta{
	{
		Key: "proxy-connect-timeout", Default: "5", ConfigMap: true,
		Doc:               "Seconds allowed to establish the connection to an endpoint." + secondsDoc,
		Validate:          func(v string) error { _, err := parseSeconds(v); return err },
		ValidateConfigMap: func(v string) error { _, err := parseConfigSeconds(v); return err },
	},
	{
		Key: "proxy-read-timeout", Default: "60", ConfigMap: true,
		Doc:               "Seconds allowed between two successive reads from the endpoint, the response header included." + secondsDoc,
		Validate:          func(v string) error { _, err := parseSeconds(v); return err },
		ValidateConfigMap: func(v string) error { _, err := parseConfigSeconds(v); return err },
	},
	{
		Key: "proxy-send-timeout", Default: "60", ConfigMap: true,
		Doc:               "Seconds allowed between two successive writes to the endpoint." + secondsDoc,
		Validate:          func(v string) error { _, err := parseSeconds(v); return err },
		ValidateConfigMap: func(v string) error { _, err := parseConfigSeconds(v); return err },
	},
	{
		Key: "proxy-body-size", Default: "1m", ConfigMap: true,
		Doc:      "Largest request body accepted, in nginx size syntax (bytes, or a k, m or g suffix); larger gets 413. \"0\" means unlimited. A number with a `b` suffix (`10b`), which ingress-nginx accepts but its template does not write, is nginx's own default, 1m, whatever the ConfigMap's value.",
		Validate: func(v string) error { _, err := parseBodySize(v); return err },
	},
}

// parseProxy applies the proxy family to p, the timeouts read by seconds
// (parseSeconds for annotations, parseConfigSeconds for the ConfigMap).
// Values that fail leave p's field unchanged and are reported through wrap.
func parseProxy(get lookup, p *Proxy, wrap func(key, value string, err error) error, seconds func(string) (int, error)) []error {
	return joinErrs(
		setParsed(get, wrap, "proxy-connect-timeout", seconds, &p.ConnectTimeoutSeconds),
		setParsed(get, wrap, "proxy-read-timeout", seconds, &p.ReadTimeoutSeconds),
		setParsed(get, wrap, "proxy-send-timeout", seconds, &p.SendTimeoutSeconds),
		setParsed(get, wrap, "proxy-body-size", parseBodySize, &p.BodySizeBytes),
	)
}

// setParsed sets dst to the value of key parsed by parse, when key is set.
// A rejected value leaves dst unchanged and is returned through wrap.
func setParsed[T any](get lookup, wrap func(key, value string, err error) error, key string, parse func(string) (T, error), dst *T) error {
	v, ok := get(key)
	if !ok {
		return nil
	}
	x, err := parse(v)
	if err != nil {
		return wrap(key, v, err)
	}
	*dst = x
	return nil
}

// joinErrs returns the non-nil errors of errs, nil when there are none.
func joinErrs(errs ...error) []error {
	var out []error
	for _, err := range errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// parseSeconds reads an annotation's number of seconds as ingress-nginx's
// parser.GetIntAnnotation does (strconv.Atoi): decimal digits with an
// optional sign, so "+5" is 5 and "010" is 10; "5s" is refused (the
// ConfigMap's value applies). Surrounding spaces are ignored.
func parseSeconds(v string) (int, error) {
	return checkSeconds(strconv.ParseInt(strings.TrimSpace(v), 10, 64))
}

// parseConfigSeconds reads the controller ConfigMap's number of seconds as
// ingress-nginx's ReadConfig does (configInt): "+5" is 5, "0x1e" 30, "010"
// 8 (octal) and "1_0" 10; "50k", "5s" and " 5" are refused, as "" (0 for
// ingress-nginx), and the built-in default applies while the other keys
// still do.
func parseConfigSeconds(v string) (int, error) {
	return checkSeconds(configInt(v))
}

// checkSeconds accepts from 1 to maxSeconds seconds. Zero or less is
// refused where ingress-nginx writes it: nginx 1.22.1 with
// proxy_connect_timeout or proxy_read_timeout 0s answers every request
// 504 at once, and refuses a negative value, so ingress-nginx keeps its
// previous configuration.
func checkSeconds(n int64, err error) (int, error) {
	switch {
	case errors.Is(err, strconv.ErrRange) || err == nil && n > maxSeconds:
		return 0, fmt.Errorf("must be at most %d seconds", maxSeconds)
	case err != nil:
		return 0, errors.New("must be an integer number of seconds")
	case n < 1:
		return 0, errors.New("must be at least 1 second")
	}
	return int(n), nil
}

// nginxBodySize is nginx's default client_max_body_size, 1m.
const nginxBodySize = 1 << 20

// parseBodySize is proxy-body-size's parseSize. A number with a b or B
// suffix passes ingress-nginx's validator (SizeRegex, `\d+[bkmg]?`, case
// folded) but not its template's isValidByteSize (`\d+[kKmMgG]?`): the
// location gets no client_max_body_size, and nginx's default applies
// (nginxBodySize), not the ConfigMap's proxy-body-size.
func parseBodySize(v string) (int64, error) {
	t := strings.TrimSpace(v)
	if n := len(t); n > 1 && (t[n-1] == 'b' || t[n-1] == 'B') && strings.Trim(t[:n-1], "0123456789") == "" {
		return nginxBodySize, nil
	}
	return parseSize(v)
}

// parseSize accepts nginx's size syntax: a number of bytes, optionally
// followed by k or K (KiB), m or M (MiB), g or G (GiB). "0" means unlimited.
func parseSize(v string) (int64, error) {
	v = strings.TrimSpace(v)
	shift := 0
	switch {
	case strings.HasSuffix(v, "k"), strings.HasSuffix(v, "K"):
		shift = 10
	case strings.HasSuffix(v, "m"), strings.HasSuffix(v, "M"):
		shift = 20
	case strings.HasSuffix(v, "g"), strings.HasSuffix(v, "G"):
		shift = 30
	}
	digits := v
	if shift > 0 {
		digits = v[:len(v)-1]
	}
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return 0, errors.New("must be a size in bytes with an optional k, m or g suffix")
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n > math.MaxInt64>>shift {
		return 0, errors.New("is too large")
	}
	return n << shift, nil
}

package annotations

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Meta describes one annotation Weir reads. Every family keeps a table of
// them; Parse uses it to tell known keys from unknown ones and Markdown
// renders the README's annotation table from it.
type Meta struct {
	// Key is the annotation name without Prefix, e.g. "proxy-read-timeout".
	Key string
	// Default is the value used when neither the Ingress nor the controller
	// ConfigMap sets the key, as it would be written in the annotation.
	Default string
	// Doc is a one-sentence description for the README.
	Doc string
	// ConfigMap is true when the controller ConfigMap's key of the same name
	// sets the global default that the annotation overrides.
	ConfigMap bool
	// ConfigMapOnly is true for a controller ConfigMap key with no
	// annotation of the same name (e.g. hsts); Parse warns about such an
	// annotation as unsupported.
	ConfigMapOnly bool
	// Validate returns nil when the value is accepted, or the reason it is
	// not. It never returns an *Error; the caller wraps it.
	Validate func(string) error
	// ValidateConfigMap is Validate for the controller ConfigMap's key where
	// the ConfigMap reads the value differently (source ranges skip empty
	// entries there). Nil means Validate.
	ValidateConfigMap func(string) error
}

// ValidateIn validates v as the ConfigMap's value of the key when configMap
// is true, else as the annotation's.
func (m *Meta) ValidateIn(v string, configMap bool) error {
	if configMap && m.ValidateConfigMap != nil {
		return m.ValidateConfigMap(v)
	}
	return m.Validate(v)
}

// Error is a rejected or ignored annotation (or controller ConfigMap key):
// it names the key, the value and the reason. Err is one of the sentinel
// errors of this package or a validation reason.
type Error struct {
	// Annotation is the full annotation name (with Prefix), or the
	// ConfigMap key when ConfigMap is true.
	Annotation string
	// Value is the value as written.
	Value string
	// ConfigMap is true when the value came from the controller ConfigMap
	// rather than an Ingress annotation.
	ConfigMap bool
	// Err is the reason.
	Err error
}

// ErrUnsupported marks an nginx.ingress.kubernetes.io/* annotation that
// Weir does not implement; it is ignored.
var ErrUnsupported = errors.New("is not supported by Weir; ignored")

// ErrSnippet marks a *-snippet annotation: raw nginx configuration that Weir
// never applies.
var ErrSnippet = errors.New("snippet annotations are never applied")

// Error implements error.
func (e *Error) Error() string {
	what := "annotation " + e.Annotation
	if e.ConfigMap {
		what = "configmap key " + e.Annotation
	}
	switch {
	case errors.Is(e.Err, ErrUnsupported), errors.Is(e.Err, ErrUnappliedKey):
		return what + " " + e.Err.Error()
	case errors.Is(e.Err, ErrSnippet):
		return what + ": " + e.Err.Error()
	}
	return fmt.Sprintf("%s: value %q: %v", what, e.Value, e.Err)
}

// Unwrap returns the reason.
func (e *Error) Unwrap() error { return e.Err }

// Config is the typed configuration of one Ingress's annotations.
type Config struct {
	// Proxy holds the proxy and load-balance families, over the ConfigMap
	// defaults given to Parse.
	Proxy Proxy
	// UseRegex is use-regex: match the non-Exact paths of the Ingress's
	// hosts as regular expressions. Default false.
	UseRegex bool
	// AffinityMode is affinity-mode as written, trimmed, when valid
	// ("balanced" or "persistent"); "" when not written or invalid (the
	// default). Of the Ingresses routing to a Service port with cookie
	// affinity, the oldest that writes one decides the mode, with or
	// without affinity itself, as in ingress-nginx.
	AffinityMode string
	// Canary is the canary family; zero when the Ingress is not a canary.
	Canary Canary
	// Host holds the annotations that apply to the Ingress's hosts
	// (app-root, server-alias, from-to-www-redirect); zero means none.
	Host Host
	// AuthTLS is the auth-tls family; nil when auth-tls-secret is not set.
	AuthTLS *AuthTLS
	// SSLCipher is ssl-ciphers and ssl-prefer-server-ciphers; zero when
	// neither is set.
	SSLCipher SSLCipher
	// SSLPassthrough is ssl-passthrough. Default false.
	SSLPassthrough bool
}

// tables lists the metadata tables of every family Weir implements.
func tables() [][]Meta {
	return [][]Meta{proxyMeta, nextUpstreamMeta, loadBalanceMeta, balanceMeta, sourceRangeMeta, limitConnMeta, regexMeta, sslMeta, hstsMeta, tlsMeta, canaryMeta, rewriteMeta, globalMeta, blockMeta, authTLSMeta, sslCipherMeta, sslPassthroughMeta, authMeta, upstreamMeta, errorsMeta, tuningMeta, headerRewriteMeta, streamMeta, compressMeta, rateLimitMeta, corsMeta, headersMeta, mirrorMeta, logFormatMeta, requestLogMeta, refusalMeta}
}

// knownLater lists annotations (without Prefix) that a coming version of
// Weir implements and that are safe to pass over meanwhile; they are not
// warned about. A key matches an entry equal
// to it, or an entry ending in "*" that it starts with.
var knownLater = []string{}

func isKnownLater(key string) bool {
	for _, k := range knownLater {
		if p, ok := strings.CutSuffix(k, "*"); ok {
			if strings.HasPrefix(key, p) {
				return true
			}
		} else if key == k {
			return true
		}
	}
	return false
}

func isKnown(key string) bool {
	for _, t := range tables() {
		for _, m := range t {
			if m.Key == key && !m.ConfigMapOnly {
				return true
			}
		}
	}
	return false
}

// lookup reads one key from a map of annotations or ConfigMap data.
type lookup func(key string) (string, bool)

// Parse reads the nginx.ingress.kubernetes.io/* annotations of one Ingress
// over defaults (usually the result of ParseDefaults). A nil map yields
// defaults. Every rejected value, unsupported annotation and snippet is
// returned as an *Error, sorted by annotation; a rejected value leaves the
// default in place.
func Parse(ann map[string]string, defaults Proxy) (Config, []error) {
	get := func(key string) (string, bool) {
		v, ok := ann[Prefix+key]
		return v, ok
	}
	wrap := func(key, value string, err error) error {
		return &Error{Annotation: Prefix + key, Value: value, Err: err}
	}
	cfg := Config{Proxy: defaults}
	var errs []error
	errs = append(errs, parseProxy(get, &cfg.Proxy, wrap, parseSeconds)...)
	errs = append(errs, parseNextUpstream(get, &cfg.Proxy, wrap, parseCount)...)
	errs = append(errs, parseLoadBalance(get, &cfg.Proxy, wrap)...)
	errs = append(errs, parseBalance(get, &cfg.Proxy.Balance, wrap)...)
	if v, ok := get("affinity-mode"); ok {
		if oneOf(v, "balanced", "persistent") == nil {
			cfg.AffinityMode = strings.TrimSpace(v)
		}
	}
	errs = append(errs, parseSourceRange(get, &cfg.Proxy.SourceRange, wrap, true, "allowlist-source-range", "whitelist-source-range")...)
	errs = append(errs, parseConnLimit(get, &cfg.Proxy.ConnLimit, wrap)...)
	errs = append(errs, parseRateLimit(get, &cfg.Proxy.RateLimit, wrap)...)
	errs = append(errs, parseLimitRate(get, &cfg.Proxy, wrap, parseCount)...)
	errs = append(errs, parseCORS(get, &cfg.Proxy.CORS, wrap)...)
	errs = append(errs, parseHeaders(get, &cfg.Proxy, wrap)...)
	errs = append(errs, parseMirror(get, &cfg.Proxy.Mirror, wrap)...)
	errs = append(errs, parseAuth(get, &cfg.Proxy.Auth, wrap)...)
	errs = append(errs, parseRegex(get, &cfg.UseRegex, wrap)...)
	errs = append(errs, parseCanary(get, &cfg.Canary, wrap)...)
	errs = append(errs, regexCookiePath(&cfg)...)
	errs = append(errs, parseRewrite(get, &cfg.Proxy, &cfg.Host, wrap)...)
	errs = append(errs, parseAuthTLS(get, &cfg.AuthTLS, wrap)...)
	errs = append(errs, parseSSLCipher(get, &cfg.SSLCipher, wrap)...)
	errs = append(errs, parseSSLPassthrough(get, &cfg.SSLPassthrough, wrap)...)
	errs = append(errs, parseUpstream(get, &cfg.Proxy.Upstream, wrap)...)
	errs = append(errs, unknown(ann)...)
	sort.SliceStable(errs, func(i, j int) bool {
		return errs[i].(*Error).Annotation < errs[j].(*Error).Annotation
	})
	return cfg, errs
}

// refusedSwitches are the refused annotations that only switch a feature
// on: set to false, they ask for what Weir does.
var refusedSwitches = map[string]bool{
	"enable-modsecurity": true, "enable-owasp-core-rules": true, "enable-opentelemetry": true,
	"opentelemetry-trust-incoming-span": true, "http2-push-preload": true, "enable-rewrite-log": true,
}

// isFalse reports whether v is a boolean annotation's false.
func isFalse(v string) bool {
	b, err := parseBool(v)
	return err == nil && !b
}

// unknown reports every annotation under Prefix that no family reads, but
// a refused switch set off (refusedSwitches).
func unknown(ann map[string]string) []error {
	var errs []error
	for k, v := range ann {
		key, ok := strings.CutPrefix(k, Prefix)
		if !ok || isKnown(key) {
			continue
		}
		switch {
		case strings.HasSuffix(key, "-snippet"):
			errs = append(errs, &Error{Annotation: k, Value: v, Err: ErrSnippet})
		case isKnownLater(key):
		case refusedSwitches[key] && isFalse(v):
			// Off is what Weir does: nothing to report, nothing for
			// the webhook to refuse.
		default:
			errs = append(errs, &Error{Annotation: k, Value: v, Err: unsupportedReason(key)})
		}
	}
	return errs
}

// ParseDefaults reads the global proxy settings from the data of the
// controller ConfigMap (ingress-nginx's keys: proxy-connect-timeout,
// proxy-read-timeout, proxy-send-timeout, proxy-body-size,
// proxy-next-upstream, proxy-next-upstream-tries, proxy-next-upstream-timeout,
// retry-non-idempotent, load-balance, whitelist-source-range, denylist-source-range,
// preserve-trailing-slash, use-port-in-redirects, relative-redirects).
// Other keys are ignored. A nil map yields DefaultProxy. A rejected value is
// returned as an *Error with ConfigMap set and the built-in default is kept.
func ParseDefaults(data map[string]string) (Proxy, []error) {
	get := func(key string) (string, bool) {
		v, ok := data[key]
		return v, ok
	}
	wrap := func(key, value string, err error) error {
		return &Error{Annotation: key, Value: value, ConfigMap: true, Err: err}
	}
	p := DefaultProxy()
	var errs []error
	errs = append(errs, parseProxy(get, &p, wrap, parseConfigSeconds)...)
	errs = append(errs, parseRetryNonIdempotent(get, &p, wrap)...)
	errs = append(errs, parseNextUpstream(get, &p, wrap, configCount)...)
	errs = append(errs, parseLoadBalance(get, &p, wrap)...)
	errs = append(errs, parseLimitRate(get, &p, wrap, configCount)...)
	errs = append(errs, parseSourceRange(get, &p.SourceRange, wrap, false, "whitelist-source-range")...)
	errs = append(errs, parseRewriteDefaults(get, &p, wrap)...)
	errs = append(errs, parseGlobalAuth(get, &p.Auth, wrap)...)
	errs = append(errs, parseConfigMapUpstream(get, &p.Upstream, wrap)...)
	return p, errs
}

// Markdown renders the annotation table of the README: every annotation
// ingress-nginx documents and every one Weir reads, sorted by key, with its
// status, its default and its description (or the difference, or the reason
// Weir does not apply it).
func Markdown() string {
	var b strings.Builder
	b.WriteString("| Annotation | Status | Default | ConfigMap key | Description |\n")
	b.WriteString("|---|---|---|---|---|\n")
	for _, e := range Inventory() {
		cm := ""
		if e.Meta != nil && e.Meta.ConfigMap {
			cm = "`" + e.Key + "`"
		}
		fmt.Fprintf(&b, "| `%s%s` | %s | %s | %s | %s |\n", Prefix, e.Key, e.Status, defaultCell(e), cm, describe(e))
	}
	return b.String()
}

// ConfigMapMarkdown renders the README's table of the controller
// ConfigMap's keys: every key ingress-nginx documents and every one Weir
// reads, sorted, with its status, default and description or reason.
func ConfigMapMarkdown() string {
	var b strings.Builder
	b.WriteString("| ConfigMap key | Status | Default | Description |\n")
	b.WriteString("|---|---|---|---|\n")
	for _, e := range ConfigMapInventory() {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", e.Key, e.Status, defaultCell(e), describe(e))
	}
	return b.String()
}

func defaultCell(e Entry) string {
	if e.Meta == nil || e.Meta.Default == "" {
		return "—" // none
	}
	return "`" + e.Meta.Default + "`"
}

func describe(e Entry) string {
	switch {
	case e.Meta == nil:
		return capitalize(e.Note) + "."
	case e.Note != "":
		return e.Meta.Doc + " Differs from ingress-nginx: " + e.Note + "."
	}
	return e.Meta.Doc
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

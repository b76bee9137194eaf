package annotations

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Support says what Weir does with one annotation or ConfigMap key that
// ingress-nginx documents.
type Support string

// The statuses of Inventory and ConfigMapInventory.
const (
	// StatusSupported: an annotation Weir reads (a row of the Meta tables)
	// and applies as ingress-nginx does.
	StatusSupported Support = "supported"
	// StatusPartial: read and applied, with a difference the entry's Note
	// states.
	StatusPartial Support = "partial"
	// StatusPlanned: not read yet; being implemented. An Ingress that sets
	// it gets an UnsupportedAnnotation warning meanwhile.
	StatusPlanned Support = "planned"
	// StatusRefused: never applied, for the reason in Note; an Ingress or
	// ConfigMap that sets it gets a warning.
	StatusRefused Support = "refused"
	// StatusApplied: a ConfigMap key Weir reads (a row of the Meta tables
	// with ConfigMap set).
	StatusApplied Support = "applied"
	// StatusIgnored: a ConfigMap key Weir does not apply (yet); the
	// ConfigMap gets an UnsupportedConfigMapKey warning when it is set.
	StatusIgnored Support = "ignored"
)

// Changes reports whether setting a key of support s makes Weir behave
// differently from ingress-nginx (everything but supported and applied).
func (s Support) Changes() bool { return s != StatusSupported && s != StatusApplied }

// Entry is one documented annotation or ConfigMap key and its status.
type Entry struct {
	// Key is the name without Prefix.
	Key string
	// Status is derived: supported or applied when a Meta table reads the
	// key, else the inventory's.
	Status Support
	// Note is the difference (partial) or the reason (refused, ignored).
	Note string
	// Inert marks an ignored ConfigMap key that tunes nginx internals only
	// (hash sizes, worker processes, log paths): ignoring it changes nothing
	// a client sees.
	Inert bool
	// Meta is the Meta row when Weir reads the key, else nil.
	Meta *Meta
}

// Reasons of the refused and ignored entries.
const (
	whySnippet     = "snippets (raw nginx configuration) are never applied"
	whyModSecurity = "Weir has no ModSecurity web application firewall"
	whyTracing     = "Weir exports no OpenTelemetry traces"
	whyFastCGI     = "Weir proxies HTTP, HTTPS and gRPC only, not FastCGI"
	whyPush        = "HTTP/2 server push is obsolete (removed from nginx 1.25.1 and the browsers)"
	whyNotYet      = "not implemented in Weir yet"
	whyNoLua       = "Weir runs no Lua"
	whyGeoIP       = "Weir has no GeoIP module"
	whyNginx       = "tunes nginx internals; Weir has no equivalent and needs none"
	whyLogs        = "Weir logs to standard output (--access-log, --log-format)"
)

// documentedAnnotations lists every annotation ingress-nginx documents
// (docs/user-guide/nginx-configuration/annotations.md) or reads (its
// internal/ingress/annotations parsers), without Prefix.
var documentedAnnotations = []string{
	"affinity", "affinity-canary-behavior", "affinity-mode", "allowlist-source-range", "app-root",
	"auth-always-set-cookie", "auth-cache-duration", "auth-cache-key", "auth-keepalive", "auth-keepalive-requests",
	"auth-keepalive-share-vars", "auth-keepalive-timeout", "auth-method", "auth-proxy-set-headers", "auth-realm",
	"auth-request-redirect", "auth-response-headers", "auth-secret", "auth-secret-type", "auth-signin",
	"auth-signin-redirect-param", "auth-snippet", "auth-tls-error-page", "auth-tls-match-cn",
	"auth-tls-pass-certificate-to-upstream", "auth-tls-secret", "auth-tls-verify-client", "auth-tls-verify-depth",
	"auth-type", "auth-url", "backend-protocol", "canary", "canary-by-cookie", "canary-by-header",
	"canary-by-header-pattern", "canary-by-header-value", "canary-weight", "canary-weight-total",
	"client-body-buffer-size", "configuration-snippet", "connection-proxy-header", "cors-allow-credentials",
	"cors-allow-headers", "cors-allow-methods", "cors-allow-origin", "cors-expose-headers", "cors-max-age",
	"custom-headers", "custom-http-errors", "default-backend", "denylist-source-range", "disable-proxy-intercept-errors",
	"enable-access-log", "enable-cors", "enable-global-auth", "enable-modsecurity", "enable-opentelemetry",
	"enable-owasp-core-rules", "enable-rewrite-log", "fastcgi-index", "fastcgi-params-configmap", "force-ssl-redirect",
	"from-to-www-redirect", "http2-push-preload", "limit-allowlist", "limit-burst-multiplier", "limit-connections",
	"limit-rate", "limit-rate-after", "limit-rpm", "limit-rps", "limit-whitelist", "load-balance", "mirror-host",
	"mirror-request-body", "mirror-target", "modsecurity-snippet", "modsecurity-transaction-id",
	"opentelemetry-operation-name", "opentelemetry-trust-incoming-span", "permanent-redirect", "permanent-redirect-code",
	"preserve-trailing-slash", "proxy-body-size", "proxy-buffer-size", "proxy-buffering", "proxy-buffers-number",
	"proxy-busy-buffers-size", "proxy-connect-timeout", "proxy-cookie-domain", "proxy-cookie-path", "proxy-http-version",
	"proxy-max-temp-file-size", "proxy-next-upstream", "proxy-next-upstream-timeout", "proxy-next-upstream-tries",
	"proxy-read-timeout", "proxy-redirect-from", "proxy-redirect-to", "proxy-request-buffering", "proxy-send-timeout",
	"proxy-ssl-ciphers", "proxy-ssl-name", "proxy-ssl-protocols", "proxy-ssl-secret", "proxy-ssl-server-name",
	"proxy-ssl-verify", "proxy-ssl-verify-depth", "rewrite-target", "satisfy", "server-alias", "server-snippet",
	"service-upstream", "session-cookie-change-on-failure", "session-cookie-conditional-samesite-none",
	"session-cookie-domain", "session-cookie-expires", "session-cookie-max-age", "session-cookie-name",
	"session-cookie-path", "session-cookie-samesite", "session-cookie-secure", "ssl-ciphers", "ssl-passthrough",
	"ssl-prefer-server-ciphers", "ssl-redirect", "stream-snippet", "temporal-redirect", "temporal-redirect-code",
	"upstream-hash-by", "upstream-hash-by-subset", "upstream-hash-by-subset-size", "upstream-vhost",
	"use-port-in-redirects", "use-regex", "whitelist-source-range", "x-forwarded-prefix",
}

// plannedAnnotations are being implemented; a key that a Meta table reads
// is supported whatever this list says, so a family's rows make it so.
var plannedAnnotations = []string{}

// refusedAnnotations maps the annotations Weir does not apply to the reason.
var refusedAnnotations = map[string]string{
	"configuration-snippet":             whySnippet,
	"server-snippet":                    whySnippet,
	"stream-snippet":                    whySnippet,
	"auth-snippet":                      whySnippet,
	"modsecurity-snippet":               whySnippet,
	"enable-modsecurity":                whyModSecurity,
	"enable-owasp-core-rules":           whyModSecurity,
	"modsecurity-transaction-id":        whyModSecurity,
	"enable-opentelemetry":              whyTracing,
	"opentelemetry-trust-incoming-span": whyTracing,
	"opentelemetry-operation-name":      whyTracing,
	"fastcgi-index":                     whyFastCGI,
	"fastcgi-params-configmap":          whyFastCGI,
	"http2-push-preload":                whyPush,
	"enable-rewrite-log":                "nginx's rewrite debug log has no equivalent in Weir",
	"proxy-buffers-number":              "sizes nginx's pool of response buffers; Weir relays each response through one buffer (proxy-buffering) and has no such pool",
	"proxy-busy-buffers-size":           "sizes nginx's busy response buffers; Weir relays each response through one buffer (proxy-buffering) and has no such pool",
}

// partialAnnotations maps the annotations Weir reads with a difference to it.
var partialAnnotations = map[string]string{
	"ssl-prefer-server-ciphers": "accepted and validated; Go always picks the cipher suite by its own preference order",
	"proxy-max-temp-file-size":  "accepted and validated; a buffered request body spills to an unlinked temporary file without this cap",
	"auth-keepalive-requests":   "accepted; only a value of 0 or less changes anything (auth-keepalive off)",
	"auth-keepalive-share-vars": "accepted; Weir always shares the subrequest's results with the request",
	"upstream-hash-by":          "variables Weir does not know are refused with a warning (ingress-nginx hashes an empty value)",
}

// Inventory returns every annotation ingress-nginx documents, and every one
// Weir reads, with its status, sorted by key.
func Inventory() []Entry {
	return inventory(documentedAnnotations, func(m Meta) bool { return !m.ConfigMapOnly }, AnnotationEntry)
}

// inventory returns the entries of the documented keys and of those the
// Meta rows that reads selects read, sorted by key.
func inventory(documented []string, reads func(Meta) bool, entry func(string) Entry) []Entry {
	keys := slices.Clone(documented)
	for _, t := range tables() {
		for _, m := range t {
			if reads(m) {
				keys = append(keys, m.Key)
			}
		}
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	out := make([]Entry, 0, len(keys))
	for _, k := range keys {
		out = append(out, entry(k))
	}
	return out
}

// AnnotationEntry returns the status of the annotation key (without
// Prefix); Status is "" for a key that ingress-nginx does not know and Weir
// does not read.
func AnnotationEntry(key string) Entry {
	e := Entry{Key: key, Meta: metaFor(key, false)}
	switch {
	case e.Meta != nil && partialAnnotations[key] != "":
		e.Status, e.Note = StatusPartial, partialAnnotations[key]
	case e.Meta != nil:
		e.Status = StatusSupported
	case refusedAnnotations[key] != "":
		e.Status, e.Note = StatusRefused, refusedAnnotations[key]
	case slices.Contains(plannedAnnotations, key):
		e.Status, e.Note = StatusPlanned, "being implemented; until then ignored with an UnsupportedAnnotation warning"
	}
	return e
}

// metaFor returns the Meta row reading key as an annotation (configMap
// false) or as a controller ConfigMap key (configMap true), or nil.
func metaFor(key string, configMap bool) *Meta {
	for _, t := range tables() {
		for i := range t {
			m := &t[i]
			if m.Key != key {
				continue
			}
			if configMap && m.ConfigMap || !configMap && !m.ConfigMapOnly {
				return m
			}
		}
	}
	return nil
}

// unsupportedReason returns ErrUnsupported, with the reason when Weir
// refuses the annotation key or plans it.
func unsupportedReason(key string) error {
	switch e := AnnotationEntry(key); e.Status {
	case StatusRefused:
		return fmt.Errorf("%w (%s)", ErrUnsupported, e.Note)
	case StatusPlanned:
		return fmt.Errorf("%w (%s)", ErrUnsupported, whyNotYet)
	case "":
		if metaFor(key, true) != nil {
			return fmt.Errorf("%w (a controller ConfigMap key only)", ErrUnsupported)
		}
		return fmt.Errorf("%w (not an annotation ingress-nginx documents)", ErrUnsupported)
	}
	return ErrUnsupported
}

// ErrUnappliedKey marks a controller ConfigMap key that Weir does not
// apply; it is ignored.
var ErrUnappliedKey = errors.New("is not applied by Weir; ignored")

// documentedConfigMapKeys lists every key of ingress-nginx's controller
// ConfigMap (docs/user-guide/nginx-configuration/configmap.md's table, and
// the two its config.go reads beyond it: enable-auth-access-log and
// ssl-early-data).
var documentedConfigMapKeys = []string{
	"access-log-params", "access-log-path", "add-headers", "allow-backend-server-header",
	"allow-cross-namespace-resources", "allow-snippet-annotations", "annotation-value-word-blocklist",
	"annotations-risk-level", "bind-address", "block-cidrs", "block-referers", "block-user-agents", "brotli-level",
	"brotli-min-length", "brotli-types", "client-body-buffer-size", "client-body-timeout", "client-header-buffer-size",
	"client-header-timeout", "compute-full-forwarded-for", "custom-http-errors", "debug-connections", "default-type",
	"denylist-source-range", "disable-access-log", "disable-ipv6", "disable-ipv6-dns",
	"enable-access-log-for-default-backend", "enable-aio-write", "enable-auth-access-log", "enable-brotli", "enable-modsecurity",
	"enable-multi-accept", "enable-ocsp", "enable-opentelemetry", "enable-owasp-modsecurity-crs", "enable-real-ip",
	"enable-serial-reloads", "enable-syslog", "enable-underscores-in-headers", "error-log-level", "error-log-path",
	"force-ssl-redirect", "forwarded-for-header", "forwarded-for-proxy-protocol-header", "generate-request-id",
	"geoip2-autoreload-in-minutes", "global-allowed-response-headers", "global-auth-cache-duration",
	"global-auth-cache-key", "global-auth-method", "global-auth-request-redirect", "global-auth-response-headers",
	"global-auth-signin", "global-auth-signin-redirect-param", "global-auth-snippet", "global-auth-url",
	"grpc-buffer-size-kb", "gzip-disable", "gzip-level", "gzip-min-length", "gzip-types", "hide-headers", "hsts",
	"hsts-include-subdomains", "hsts-max-age", "hsts-preload", "http-access-log-path", "http-redirect-code",
	"http-snippet", "http2-max-concurrent-streams", "http2-max-field-size", "http2-max-header-size",
	"http2-max-requests", "ignore-invalid-headers", "jaeger-baggage-header", "jaeger-collector-host",
	"jaeger-collector-port", "jaeger-debug-header", "jaeger-endpoint", "jaeger-propagation-format",
	"jaeger-sampler-host", "jaeger-sampler-param", "jaeger-sampler-port", "jaeger-sampler-type", "jaeger-service-name",
	"jaeger-trace-baggage-header-prefix", "jaeger-trace-context-header-name", "keep-alive", "keep-alive-requests",
	"large-client-header-buffers", "limit-conn-status-code", "limit-conn-zone-variable", "limit-rate",
	"limit-rate-after", "limit-req-status-code", "load-balance", "location-snippet", "log-format-escape-json",
	"log-format-escape-none", "log-format-stream", "log-format-upstream", "lua-shared-dicts", "main-snippet",
	"map-hash-bucket-size", "max-worker-connections", "max-worker-open-files", "modsecurity-snippet",
	"nginx-status-ipv4-whitelist", "nginx-status-ipv6-whitelist", "no-auth-locations", "no-tls-redirect-locations",
	"opentelemetry-config", "opentelemetry-operation-name", "opentelemetry-trust-incoming-span",
	"otel-max-export-batch-size", "otel-max-queuesize", "otel-sampler", "otel-sampler-parent-based",
	"otel-sampler-ratio", "otel-schedule-delay-millis", "otel-service-name", "otlp-collector-host",
	"otlp-collector-port", "proxy-add-original-uri-header", "proxy-body-size", "proxy-buffer-size", "proxy-buffering",
	"proxy-buffers-number", "proxy-busy-buffers-size", "proxy-connect-timeout", "proxy-cookie-domain",
	"proxy-cookie-path", "proxy-headers-hash-bucket-size", "proxy-headers-hash-max-size", "proxy-next-upstream",
	"proxy-next-upstream-timeout", "proxy-next-upstream-tries", "proxy-protocol-header-timeout", "proxy-read-timeout",
	"proxy-real-ip-cidr", "proxy-redirect-from", "proxy-request-buffering", "proxy-send-timeout", "proxy-set-headers",
	"proxy-ssl-location-only", "proxy-stream-next-upstream", "proxy-stream-next-upstream-timeout",
	"proxy-stream-next-upstream-tries", "proxy-stream-responses", "proxy-stream-timeout", "relative-redirects",
	"retry-non-idempotent", "reuse-port", "server-name-hash-bucket-size", "server-name-hash-max-size",
	"server-snippet", "server-tokens", "service-upstream", "skip-access-log-urls", "ssl-buffer-size", "ssl-ciphers",
	"ssl-dh-param", "ssl-early-data", "ssl-ecdh-curve", "ssl-protocols", "ssl-redirect", "ssl-reject-handshake", "ssl-session-cache",
	"ssl-session-cache-size", "ssl-session-ticket-key", "ssl-session-tickets", "ssl-session-timeout",
	"stream-access-log-path", "stream-snippet", "strict-validate-path-type", "syslog-host", "syslog-port",
	"upstream-keepalive-connections", "upstream-keepalive-requests", "upstream-keepalive-time",
	"upstream-keepalive-timeout", "use-forwarded-headers", "use-geoip", "use-geoip2", "use-gzip", "use-http2",
	"use-proxy-protocol", "variables-hash-bucket-size", "variables-hash-max-size", "whitelist-source-range",
	"worker-cpu-affinity", "worker-processes", "worker-shutdown-timeout",
}

// refusedConfigMapKeys maps the ConfigMap keys Weir never applies to the
// reason; a key ending in "*" names every key it starts.
var refusedConfigMapKeys = map[string]string{
	"http-snippet": whySnippet, "location-snippet": whySnippet, "main-snippet": whySnippet,
	"server-snippet": whySnippet, "stream-snippet": whySnippet, "global-auth-snippet": whySnippet,
	"modsecurity-snippet": whySnippet, "enable-modsecurity": whyModSecurity,
	"enable-owasp-modsecurity-crs": whyModSecurity, "lua-shared-dicts": whyNoLua,
	"enable-opentelemetry": whyTracing, "opentelemetry-*": whyTracing, "otel-*": whyTracing, "otlp-*": whyTracing,
	"jaeger-*": whyTracing, "use-geoip": whyGeoIP, "use-geoip2": whyGeoIP, "geoip2-autoreload-in-minutes": whyGeoIP,
}

// inertConfigMapKeys tune nginx internals or its log files: Weir ignores
// them, and nothing a client sees changes.
var inertConfigMapKeys = map[string]string{
	"map-hash-bucket-size": whyNginx, "server-name-hash-bucket-size": whyNginx, "server-name-hash-max-size": whyNginx,
	"proxy-headers-hash-bucket-size": whyNginx, "proxy-headers-hash-max-size": whyNginx,
	"variables-hash-bucket-size": whyNginx, "variables-hash-max-size": whyNginx, "worker-processes": whyNginx,
	"worker-cpu-affinity": whyNginx, "enable-multi-accept": whyNginx, "enable-aio-write": whyNginx,
	"reuse-port": whyNginx, "enable-serial-reloads": whyNginx, "max-worker-open-files": whyNginx,
	"debug-connections": whyNginx, "error-log-level": whyNginx, "ssl-buffer-size": whyNginx,
	"http2-max-field-size":        whyNginx + " (deprecated in favour of large-client-header-buffers)",
	"http2-max-header-size":       whyNginx + " (deprecated in favour of large-client-header-buffers)",
	"nginx-status-ipv4-whitelist": "Weir has no nginx status page", "nginx-status-ipv6-whitelist": "Weir has no nginx status page",
	"access-log-path": whyLogs, "error-log-path": whyLogs, "http-access-log-path": whyLogs,
	"stream-access-log-path": whyLogs, "access-log-params": whyLogs, "enable-syslog": whyLogs, "syslog-host": whyLogs,
	"syslog-port": whyLogs,
}

// whyNoPool is why the keys sizing nginx's response buffers change nothing
// in Weir.
const whyNoPool = "sizes nginx's pool of response buffers; Weir relays each response through one buffer (proxy-buffering) and has no such pool"

// inertBufferKeys are the ConfigMap keys that size nginx's buffers, and
// the HTTP/2 one nginx itself ignores: ignoring them changes nothing a
// client sees.
var inertBufferKeys = map[string]string{
	"proxy-buffers-number":      whyNoPool,
	"proxy-busy-buffers-size":   whyNoPool,
	"grpc-buffer-size-kb":       "sizes nginx's buffer for gRPC responses (written only above its default 0); Weir relays gRPC responses frame by frame through Go's HTTP/2 transport and has no such buffer, so a response header whose HPACK block exceeds nginx's default (one 4k page), which nginx answers 502 (upstream sent too big header), is relayed",
	"client-header-buffer-size": "sizes nginx's first buffer for a request head (1k); a longer head moves to `large-client-header-buffers` buffers, whose limits Weir applies (414 for the request line, 400 for a header line or the head), so the key changes only memory: nothing a client sees",
	"http2-max-requests":        "deprecated in ingress-nginx and written only above its default 0; nginx since 1.19.7 ignores `http2_max_requests` as obsolete (`keep-alive-requests` is its replacement), so it changes nothing there either",
}

// unappliedConfigMapKeys maps the ConfigMap keys Weir does not apply, and
// that would change what a client sees, to the reason and what Weir does
// instead.
var unappliedConfigMapKeys = map[string]string{
	"http2-max-concurrent-streams": "Go's HTTP/2 server takes its SETTINGS from the server, fixed when it starts serving, before the ConfigMap is read; it cannot change them while it serves. Every HTTP/2 client connection allows 128 concurrent streams, ingress-nginx's default",
	"bind-address":                 "Weir's listening sockets are opened at start and never rebound on a configuration change (so that no connection is refused during one); the address is the `--bind-address` flag (default: all addresses, IPv4 and IPv6), one address",
	"enable-auth-access-log":       "with `\"true\"` ingress-nginx writes an access-log line for each external-auth subrequest (its auth location's `access_log off` goes, and `log_subrequest` is on); Weir logs the client's request only, as with the default `\"false\"`",
	"disable-ipv6":                 "Weir's listening sockets are opened at start and never rebound on a configuration change; `--bind-address=0.0.0.0` listens on IPv4 only, as this key does",
}

// partialConfigMapKeys maps the ConfigMap keys Weir applies with a
// difference to it.
var partialConfigMapKeys = map[string]string{
	"max-worker-connections":              "counts client connections only, not upstream ones",
	"forwarded-for-proxy-protocol-header": "a client's own header of that name is never read for the client address: nginx's realip module reads it in its first phase, before headers-more replaces it, so behind a trusted balancer a client names its own address there; Weir takes the value ingress-nginx's map computes, and sends that",
	"ignore-invalid-headers":              "a name that is not an HTTP token (with `@`, `/`, `(`, `\"`...) gets 400 whatever the value, where nginx drops it (or passes it with `\"false\"`): Weir's HTTP servers do not accept such a name. nginx too answers 400 to a space or a control byte in a name",
	"ssl-session-cache":                   "Go's crypto/tls server has no session-ID cache (it resumes only from tickets): with ssl-session-tickets \"false\" (the default) TLS 1.3 sessions resume from tickets, as nginx's from its cache, and TLS 1.2 sessions, which nginx resumes by session ID, do not",
}

// ConfigMapInventory returns every controller ConfigMap key ingress-nginx
// documents, and every one Weir reads, with its status, sorted by key.
// allow-snippet-annotations is applied: Weir accepts it and it is always
// false.
func ConfigMapInventory() []Entry {
	return inventory(documentedConfigMapKeys, func(m Meta) bool { return m.ConfigMap }, ConfigMapEntry)
}

// ConfigMapEntry returns the status of the controller ConfigMap's key;
// every key has one: a key no list names is ignored.
func ConfigMapEntry(key string) Entry {
	e := Entry{Key: key, Meta: metaFor(key, true)}
	switch {
	case key == "allow-snippet-annotations":
		e.Status, e.Note = StatusPartial, "accepted and always false: "+whySnippet
	case e.Meta != nil && partialConfigMapKeys[key] != "":
		e.Status, e.Note = StatusPartial, partialConfigMapKeys[key]
	case e.Meta != nil:
		e.Status = StatusApplied
	case refusedConfigMap(key) != "":
		e.Status, e.Note = StatusRefused, refusedConfigMap(key)
	case unappliedTLSKeys[key] != "":
		e.Status, e.Note = StatusIgnored, unappliedTLSKeys[key]
	case inertConfigMapKeys[key] != "":
		e.Status, e.Note, e.Inert = StatusIgnored, inertConfigMapKeys[key], true
	case inertBufferKeys[key] != "":
		e.Status, e.Note, e.Inert = StatusIgnored, inertBufferKeys[key], true
	case unappliedConfigMapKeys[key] != "":
		e.Status, e.Note = StatusIgnored, unappliedConfigMapKeys[key]
	case slices.Contains(documentedConfigMapKeys, key):
		e.Status, e.Note = StatusIgnored, whyNotYet
	default:
		e.Status, e.Note = StatusIgnored, "not an ingress-nginx ConfigMap key"
	}
	return e
}

func refusedConfigMap(key string) string {
	if r := refusedConfigMapKeys[key]; r != "" {
		return r
	}
	for k, r := range refusedConfigMapKeys {
		if p, ok := strings.CutSuffix(k, "*"); ok && strings.HasPrefix(key, p) {
			return r
		}
	}
	return ""
}

// CheckConfigMap reports, as *Error values with ConfigMap set and
// ErrUnappliedKey, every key of the controller ConfigMap's data that Weir
// does not apply, with the reason, sorted by key; and
// allow-snippet-annotations set to true, which Weir keeps false.
func CheckConfigMap(data map[string]string) []error {
	var errs []error
	for k, v := range data {
		e := ConfigMapEntry(k)
		switch {
		case k == "allow-snippet-annotations":
			if b, err := configBool(v); err != nil {
				errs = append(errs, &Error{Annotation: k, Value: v, ConfigMap: true, Err: err})
			} else if b {
				errs = append(errs, &Error{Annotation: k, Value: v, ConfigMap: true, Err: fmt.Errorf("%w: Weir keeps it false, %s", ErrUnappliedKey, whySnippet)})
			}
		case e.Status == StatusRefused || e.Status == StatusIgnored:
			errs = append(errs, &Error{Annotation: k, Value: v, ConfigMap: true, Err: fmt.Errorf("%w (%s)", ErrUnappliedKey, e.Note)})
		}
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].(*Error).Annotation < errs[j].(*Error).Annotation })
	return errs
}

package annotations

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/textproto"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Global is the typed configuration of the controller ConfigMap's global
// settings: those that are not per-route defaults (ingress-nginx's keys of
// the http block). Every field's zero value means its default, so the zero
// Global is the built-in configuration and a Snapshot built without a
// ConfigMap carries none; the methods return the effective values.
//
// To add a setting: a field here (zero means default), its row in
// globalMeta, its parsing in ParseGlobal, and where needed a method giving
// the effective value.
type Global struct {
	// UseForwardedHeaders is use-forwarded-headers: trust the client's
	// X-Forwarded-Proto, X-Forwarded-Host and X-Forwarded-Port, and take the
	// client address from forwarded-for-header (real IP). Default false:
	// they come from the connection.
	UseForwardedHeaders bool `json:"useForwardedHeaders,omitempty"`
	// ComputeFullForwardedFor is compute-full-forwarded-for: with
	// UseForwardedHeaders, X-Forwarded-For is the client's value with the
	// connection's address appended, instead of the client address alone.
	// Default false.
	ComputeFullForwardedFor bool `json:"computeFullForwardedFor,omitempty"`
	// ForwardedForHeader is forwarded-for-header: the header the real-IP
	// rules read the client address from, and X-Original-Forwarded-For
	// copies. "" means "X-Forwarded-For".
	ForwardedForHeader string `json:"forwardedForHeader,omitempty"`
	// ForwardedHostHeader is forwarded-host-header: the header
	// X-Original-Forwarded-Host copies. "" means "X-Forwarded-Host".
	ForwardedHostHeader string `json:"forwardedHostHeader,omitempty"`
	// ProxyRealIPCIDR is proxy-real-ip-cidr, normalised prefixes: the peers
	// whose forwarded-for header (or PROXY protocol address) is trusted.
	// Nil means the default, 0.0.0.0/0 (every IPv4 peer, as nginx's
	// set_real_ip_from 0.0.0.0/0); empty and not nil means none (a value
	// with an invalid entry: trust fails closed).
	ProxyRealIPCIDR []string `json:"proxyRealIPCIDR,omitzero"`
	// EnableRealIP is enable-real-ip: take the client address from
	// forwarded-for-header of trusted peers even without
	// UseForwardedHeaders. Default false.
	EnableRealIP bool `json:"enableRealIP,omitempty"`
	// UseProxyProtocol is use-proxy-protocol: every connection to the HTTP
	// and HTTPS listeners starts with a PROXY protocol header. Default
	// false.
	UseProxyProtocol bool `json:"useProxyProtocol,omitempty"`
	// HeaderBufferCount and HeaderBufferSize are
	// large-client-header-buffers ("4 8k"): a request line longer than
	// HeaderBufferSize gets 414, a header line longer gets 400, and the
	// request line and headers together must fit HeaderBufferCount
	// buffers. 0 means the default, 4 and 8192.
	HeaderBufferCount int `json:"headerBufferCount,omitempty"`
	HeaderBufferSize  int `json:"headerBufferSize,omitempty"`
	// WorkerShutdownTimeout is worker-shutdown-timeout: how long requests in
	// flight and WebSockets may go on once Weir drains at shutdown. 0 means
	// the --worker-shutdown-timeout flag's value (default 240s, as
	// ingress-nginx's ConfigMap).
	WorkerShutdownTimeout time.Duration `json:"workerShutdownTimeout,omitempty"`
	// KeepAlive is keep-alive: the seconds a client connection is kept
	// idle between two requests (nginx's keepalive_timeout). Nil means the
	// default, 75; 0 disables keep-alive (every response Connection:
	// close).
	KeepAlive *int `json:"keepAlive,omitempty"`
	// KeepAliveRequests is keep-alive-requests: the response to a
	// connection's KeepAliveRequests-th request closes it (nginx's
	// keepalive_requests). Nil means the default, 1000.
	KeepAliveRequests *int `json:"keepAliveRequests,omitempty"`
	// UpstreamKeepaliveConnections is upstream-keepalive-connections: the
	// idle keep-alive connections to upstreams one worker keeps, all
	// upstreams together, the least recently used closed first (nginx's
	// keepalive cache). Nil means the default, 320; 0 disables keep-alive
	// to upstreams (every request "Connection: close" on a new connection).
	UpstreamKeepaliveConnections *int `json:"upstreamKeepaliveConnections,omitempty"`
	// UpstreamKeepaliveTimeout is upstream-keepalive-timeout: an idle
	// upstream connection is closed after it. 0 means the default, 60s.
	UpstreamKeepaliveTimeout time.Duration `json:"upstreamKeepaliveTimeout,omitempty"`
	// UpstreamKeepaliveTime is upstream-keepalive-time: an upstream
	// connection that has existed this long is closed after its current
	// request instead of being kept (nginx's keepalive_time). 0 means the
	// default, 1h.
	UpstreamKeepaliveTime time.Duration `json:"upstreamKeepaliveTime,omitempty"`
	// UpstreamKeepaliveRequests is upstream-keepalive-requests: an upstream
	// connection is closed after the response to its
	// UpstreamKeepaliveRequests-th request. Nil means the default, 10000;
	// 0 serves one request per connection.
	UpstreamKeepaliveRequests *int `json:"upstreamKeepaliveRequests,omitempty"`
	// MaxWorkerConnections is max-worker-connections: the client
	// connections one worker holds open at once (nginx's
	// worker_connections); at the cap the worker stops accepting. Nil
	// means the default, 16384; 0 means three quarters of the open-file
	// limit less 1024 (ingress-nginx's derivation from
	// max-worker-open-files "0").
	MaxWorkerConnections *int `json:"maxWorkerConnections,omitempty"`
	// LimitConnStatus is limit-conn-status-code: the status of a request
	// past limit-connections. 0 means the default, 503.
	LimitConnStatus int `json:"limitConnStatus,omitempty"`
	// LimitReqStatus is limit-req-status-code: the status of a request
	// past limit-rps or limit-rpm. 0 means the default, 503.
	LimitReqStatus int `json:"limitReqStatus,omitempty"`
	// AddHeaders is add-headers: "namespace/name" of the ConfigMap of
	// response headers. "" means none.
	AddHeaders string `json:"addHeaders,omitempty"`
	// ProxySetHeaders is proxy-set-headers: "namespace/name" of the
	// ConfigMap of upstream request headers. "" means none.
	ProxySetHeaders string `json:"proxySetHeaders,omitempty"`
	// HideHeaders is hide-headers: header names removed from upstream
	// responses. Nil means none.
	HideHeaders []string `json:"hideHeaders,omitempty"`
	// AllowedResponseHeaders is global-allowed-response-headers: the
	// names custom-headers may set. Nil means none.
	AllowedResponseHeaders []string `json:"allowedResponseHeaders,omitempty"`
	// ResponseHeaders and UpstreamHeaders are the data of the AddHeaders
	// and ProxySetHeaders ConfigMaps, sorted by name, filled by
	// snapshot.Build. Nil means none.
	ResponseHeaders []Header `json:"responseHeaders,omitempty"`
	UpstreamHeaders []Header `json:"upstreamHeaders,omitempty"`
	// HTTPRedirect is http-redirect-code: the status of ssl-redirect and
	// from-to-www-redirect redirects, 301, 302, 307 or 308. 0 means the
	// default, 308.
	HTTPRedirect int `json:"httpRedirect,omitempty"`
	// NoAuthLocations is no-auth-locations: the rule paths, by prefix,
	// served without authentication (see NoAuth). Nil means the default,
	// ["/.well-known/acme-challenge"]; empty and not nil means none.
	NoAuthLocations []string `json:"noAuthLocations,omitzero"`
	// NoTLSRedirectLocations is no-tls-redirect-locations: the rule paths,
	// by prefix, never redirected to HTTPS (see NoTLSRedirect). Nil means
	// the default, ["/.well-known/acme-challenge"]; empty and not nil means
	// none.
	NoTLSRedirectLocations []string `json:"noTLSRedirectLocations,omitzero"`
	// TLS is ssl-protocols, ssl-ciphers, ssl-ecdh-curve and the
	// ssl-session-* keys and ssl-reject-handshake (ParseTLSSettings).
	// The zero value means Weir's defaults (DefaultTLSSettings).
	TLS TLSSettings `json:"tls,omitzero"`
	// Block is block-cidrs, block-user-agents and block-referers. The zero
	// value blocks nothing.
	Block Block `json:"block,omitzero"`
	// Stream is the proxy-stream-* settings of the TCP and UDP services.
	// The zero value means every default.
	Stream Stream `json:"stream,omitzero"`
	// Compress is use-gzip, gzip-*, enable-brotli and brotli-*. The zero
	// value compresses nothing.
	Compress Compress `json:"compress,omitzero"`
	// ServerTokens is server-tokens: responses carry "Server: weir/VERSION".
	// Default false: no Server header at all, the upstream's removed.
	ServerTokens bool `json:"serverTokens,omitempty"`
	// AllowBackendServerHeader is allow-backend-server-header: with
	// ServerTokens, a proxied response keeps the upstream's Server header
	// (nginx's proxy_pass_header Server). Default false. Without
	// ServerTokens it changes nothing: ingress-nginx's more_clear_headers
	// Server removes the upstream's too.
	AllowBackendServerHeader bool `json:"allowBackendServerHeader,omitempty"`
	// DefaultType is default-type: the Content-Type of the responses Weir
	// writes from a text of its own without a type (nginx's default_type).
	// "" means the default, "text/html".
	DefaultType string `json:"defaultType,omitempty"`
	// DefaultBodySize is proxy-body-size, the ConfigMap's, when it is valid
	// and not nginx's 1m: the client_max_body_size of ingress-nginx's
	// default server, which answers the hosts no rule names (the routes
	// have it in their Proxy). Nil means 1m; an invalid value is 1m too,
	// as the template then writes none (its warning is ParseDefaults').
	DefaultBodySize *int64 `json:"defaultBodySize,omitempty"`
	// CustomHTTPErrors is custom-http-errors, the ConfigMap's valid
	// codes: ingress-nginx's http-level error_page lines, which a location
	// it denies (nginx.tmpl's "return 503" in place of the location's own
	// error_page lines) still follows to @custom_upstream-default-backend_.
	// The routes have the list in their Proxy. Nil means none (the
	// default); an invalid entry's warning is ParseDefaults'.
	CustomHTTPErrors []int `json:"customHTTPErrors,omitempty"`
	// ClientHeaderTimeout is client-header-timeout: how long a client may
	// take to send a request head (nginx's client_header_timeout); past it
	// the connection is closed. 0 means the default, 60s.
	ClientHeaderTimeout time.Duration `json:"clientHeaderTimeout,omitempty"`
	// ClientBodyTimeout is client-body-timeout: how long a client may send
	// nothing of its request body between two reads (nginx's
	// client_body_timeout); past it the request gets 408. 0 means the
	// default, 60s.
	ClientBodyTimeout time.Duration `json:"clientBodyTimeout,omitempty"`
	// DisableAccessLog is disable-access-log: no access-log line at all.
	// Default false.
	DisableAccessLog bool `json:"disableAccessLog,omitempty"`
	// DisableHTTPAccessLog is disable-http-access-log: no access-log line
	// for HTTP requests (ingress-nginx's access_log off in its http block).
	// Default false.
	DisableHTTPAccessLog bool `json:"disableHTTPAccessLog,omitempty"`
	// DisableStreamAccessLog is disable-stream-access-log: no access-log
	// line for TCP and UDP service sessions (access_log off in its stream
	// block). Default false.
	DisableStreamAccessLog bool `json:"disableStreamAccessLog,omitempty"`
	// LogFormat is log-format-upstream, log-format-escape-json and
	// log-format-escape-none. The zero value keeps Weir's JSON line.
	LogFormat LogFormat `json:"logFormat,omitzero"`
	// Logs is generate-request-id, skip-access-log-urls and
	// enable-access-log-for-default-backend. The zero value is their
	// defaults.
	Logs RequestLog `json:"logs,omitzero"`
	// EnableUnderscoresInHeaders is enable-underscores-in-headers (nginx's
	// underscores_in_headers): a request header name with '_' is valid.
	// Default false: such a name is invalid, so dropped while
	// ignore-invalid-headers is on.
	EnableUnderscoresInHeaders bool `json:"enableUnderscoresInHeaders,omitempty"`
	// KeepInvalidHeaders is ignore-invalid-headers "false" (nginx's
	// ignore_invalid_headers off): request header fields whose names nginx
	// finds invalid are kept. Default false: they are dropped (see
	// InvalidHeaderName).
	KeepInvalidHeaders bool `json:"keepInvalidHeaders,omitempty"`
	// ProxyAddOriginalURIHeader is proxy-add-original-uri-header: the
	// upstream request carries X-Original-URI, the client's request target
	// ($request_uri). Default false: the client's own X-Original-URI, if
	// any, passes unchanged.
	ProxyAddOriginalURIHeader bool `json:"proxyAddOriginalURIHeader,omitempty"`
	// ProxyProtocolHeaderTimeout is proxy-protocol-header-timeout: with
	// use-proxy-protocol and SSLPassthroughProxy, the PROXY header of a
	// connection to the HTTPS listener must arrive within it. 0 means the
	// default, 5s.
	ProxyProtocolHeaderTimeout time.Duration `json:"proxyProtocolHeaderTimeout,omitempty"`
	// SSLPassthroughProxy is not a ConfigMap key: snapshot.Build sets it
	// when Weir runs with --enable-ssl-passthrough, where the HTTPS
	// listener reads each ClientHello before TLS, as ingress-nginx's TLS
	// proxy in front of nginx does; that proxy reads the PROXY header
	// under ProxyProtocolHeaderTimeout, nginx under client-header-timeout.
	// Default false.
	SSLPassthroughProxy bool `json:"sslPassthroughProxy,omitempty"`
	// LaxPathType is strict-validate-path-type "false": a path of pathType
	// Exact or Prefix with bytes ingress-nginx's rule refuses only warns.
	// Default false: the admission webhook refuses its Ingress.
	LaxPathType bool `json:"laxPathType,omitempty"`
	// AllowCrossNamespaceResources is allow-cross-namespace-resources: the
	// Secrets and ConfigMaps of auth-secret, auth-tls-secret,
	// proxy-ssl-secret and auth-proxy-set-headers may be in another
	// namespace than their Ingress. Default false: such a reference denies
	// the route, with a warning.
	AllowCrossNamespaceResources bool `json:"allowCrossNamespaceResources,omitempty"`
	// ProxySSLLocationOnly is proxy-ssl-location-only "true": the
	// proxy-ssl-* annotations apply to the routes of the Ingress that sets
	// them only. Default false: as ingress-nginx's server block, those of
	// the first Ingress of a host with a ca.crt also apply to the host's
	// other routes, line by line where they set none of their own.
	ProxySSLLocationOnly bool `json:"proxySSLLocationOnly,omitempty"`
	// ForwardedForProxyProtocolHeader is
	// forwarded-for-proxy-protocol-header, canonical: with
	// UseForwardedHeaders and UseProxyProtocol both on, the request header
	// ingress-nginx sets (and so sends upstream) to the client's
	// forwarded-for header when the PROXY header's address is trusted,
	// else to that address. "" means "X-Forwarded-For-Proxy-Protocol".
	ForwardedForProxyProtocolHeader string `json:"forwardedForProxyProtocolHeader,omitempty"`
	// LimitConnZoneVariable is limit-conn-zone-variable: the nginx
	// variables whose value keys limit-connections, limit-rps and
	// limit-rpm (a request whose value is empty is not counted). ""
	// means the default, $binary_remote_addr: the client address.
	LimitConnZoneVariable string `json:"limitConnZoneVariable,omitempty"`
}

// DefaultLimitConnZoneVariable is limit-conn-zone-variable's default.
const DefaultLimitConnZoneVariable = "$binary_remote_addr"

// parseLimitConnZoneVariable parses limit-conn-zone-variable: "" for the
// default, else the value, whose variables must be ones Weir computes
// (ParseVars).
func parseLimitConnZoneVariable(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == DefaultLimitConnZoneVariable {
		return "", nil
	}
	if v == "" {
		return "", errors.New("must name nginx variables, such as $binary_remote_addr")
	}
	if _, err := ParseVars(v); err != nil {
		return "", err
	}
	return v, nil
}

// DefaultForwardedForProxyProtocolHeader is
// forwarded-for-proxy-protocol-header's default.
const DefaultForwardedForProxyProtocolHeader = "X-Forwarded-For-Proxy-Protocol"

// ForwardedForProxyProtocol returns the forwarded-for-proxy-protocol-header
// name, canonical ("X-Forwarded-For-Proxy-Protocol" by default).
func (g Global) ForwardedForProxyProtocol() string {
	if g.ForwardedForProxyProtocolHeader == "" {
		return DefaultForwardedForProxyProtocolHeader
	}
	return g.ForwardedForProxyProtocolHeader
}

// DefaultProxyProtocolHeaderTimeout is proxy-protocol-header-timeout's
// default.
const DefaultProxyProtocolHeaderTimeout = 5 * time.Second

// HTTPSProxyProtocolTimeout returns how long the PROXY header of a
// connection to the HTTPS listener may take: with SSLPassthroughProxy,
// ProxyProtocolHeaderTimeout (default 5s); else ClientHeaderTimeout, 0
// meaning its default, as nginx reads the header under
// client_header_timeout.
func (g Global) HTTPSProxyProtocolTimeout() time.Duration {
	if !g.SSLPassthroughProxy {
		return g.ClientHeaderTimeout
	}
	if g.ProxyProtocolHeaderTimeout > 0 {
		return g.ProxyProtocolHeaderTimeout
	}
	return DefaultProxyProtocolHeaderTimeout
}

// parseGoDuration parses a positive Go duration ("5s", "500ms"), as
// ingress-nginx reads proxy-protocol-header-timeout (time.ParseDuration:
// a bare number is refused).
func parseGoDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil || d <= 0 {
		return 0, errors.New("must be a positive duration with its unit, such as 5s or 500ms")
	}
	return d, nil
}

// InvalidHeaderName reports whether nginx finds the request header name
// invalid (ngx_http_parse_header_line, ngx_http_v2_validate_header): a
// byte other than a letter, a digit or '-', or '_' unless underscores is
// true (enable-underscores-in-headers).
func InvalidHeaderName(name string, underscores bool) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-':
		case c == '_' && underscores:
		default:
			return true
		}
	}
	return false
}

// Defaults of the Global settings whose zero value stands for another.
const (
	DefaultForwardedForHeader = "X-Forwarded-For"
	// DefaultForwardedHostHeader is forwarded-host-header's default.
	DefaultForwardedHostHeader = "X-Forwarded-Host"
	DefaultProxyRealIPCIDR     = "0.0.0.0/0"
	DefaultHeaderBufferCount   = 4
	DefaultHeaderBufferSize    = 8 << 10
	// DefaultLimitConnStatus is limit-conn-status-code's default.
	DefaultLimitConnStatus = 503
	// DefaultLimitReqStatus is limit-req-status-code's default.
	DefaultLimitReqStatus = 503
	// DefaultKeepAlive is keep-alive's default, in seconds.
	DefaultKeepAlive = 75
	// DefaultKeepAliveRequests is keep-alive-requests' default.
	DefaultKeepAliveRequests = 1000
	// DefaultUpstreamKeepaliveConnections is
	// upstream-keepalive-connections' default.
	DefaultUpstreamKeepaliveConnections = 320
	// DefaultUpstreamKeepaliveTimeout is upstream-keepalive-timeout's
	// default.
	DefaultUpstreamKeepaliveTimeout = 60 * time.Second
	// DefaultUpstreamKeepaliveRequests is upstream-keepalive-requests'
	// default.
	DefaultUpstreamKeepaliveRequests = 10000
	// DefaultUpstreamKeepaliveTime is upstream-keepalive-time's default.
	DefaultUpstreamKeepaliveTime = time.Hour
	// DefaultDefaultType is default-type's default.
	DefaultDefaultType = "text/html"
	// DefaultMaxWorkerConnections is max-worker-connections' default.
	DefaultMaxWorkerConnections = 16384
	// DefaultHTTP2MaxConcurrentStreams is http2-max-concurrent-streams'
	// default, nginx's http2_max_concurrent_streams: the streams one
	// HTTP/2 client connection may have open at once.
	DefaultHTTP2MaxConcurrentStreams = 128
)

// IsZero reports whether g is the built-in configuration (every field
// zero). It covers any field added later.
func (g Global) IsZero() bool { return reflect.ValueOf(g).IsZero() }

// ForwardedFor returns the forwarded-for header name, canonical
// ("X-Forwarded-For" by default).
func (g Global) ForwardedFor() string {
	if g.ForwardedForHeader == "" {
		return DefaultForwardedForHeader
	}
	return g.ForwardedForHeader
}

// ForwardedHost returns the forwarded-host header name, canonical
// ("X-Forwarded-Host" by default).
func (g Global) ForwardedHost() string {
	if g.ForwardedHostHeader == "" {
		return DefaultForwardedHostHeader
	}
	return g.ForwardedHostHeader
}

// RealIPFrom returns the trusted proxy prefixes: ProxyRealIPCIDR, or
// [0.0.0.0/0] when it is nil.
func (g Global) RealIPFrom() []string {
	if g.ProxyRealIPCIDR == nil {
		return []string{DefaultProxyRealIPCIDR}
	}
	return g.ProxyRealIPCIDR
}

// RealIP reports whether the client address is taken from trusted peers'
// headers or PROXY protocol (nginx's realip module is on): with
// use-forwarded-headers, use-proxy-protocol or enable-real-ip.
func (g Global) RealIP() bool { return g.UseForwardedHeaders || g.UseProxyProtocol || g.EnableRealIP }

// HeaderBuffers returns large-client-header-buffers: the number of buffers
// and the size of each (default 4 and 8192).
func (g Global) HeaderBuffers() (count, size int) {
	count, size = g.HeaderBufferCount, g.HeaderBufferSize
	if count == 0 {
		count = DefaultHeaderBufferCount
	}
	if size == 0 {
		size = DefaultHeaderBufferSize
	}
	return count, size
}

// KeepAliveSettings returns keep-alive (seconds, 0: disabled) and
// keep-alive-requests, their defaults (75 and 1000) when unset.
func (g Global) KeepAliveSettings() (seconds, requests int) {
	return valueOr(g.KeepAlive, DefaultKeepAlive), valueOr(g.KeepAliveRequests, DefaultKeepAliveRequests)
}

// UpstreamKeepalive returns upstream-keepalive-connections (0: no
// keep-alive to upstreams), upstream-keepalive-timeout and
// upstream-keepalive-requests, their defaults (320, 60s and 10000) when
// unset.
func (g Global) UpstreamKeepalive() (conns int, timeout time.Duration, requests int) {
	timeout = g.UpstreamKeepaliveTimeout
	if timeout == 0 {
		timeout = DefaultUpstreamKeepaliveTimeout
	}
	return valueOr(g.UpstreamKeepaliveConnections, DefaultUpstreamKeepaliveConnections), timeout,
		valueOr(g.UpstreamKeepaliveRequests, DefaultUpstreamKeepaliveRequests)
}

// UpstreamKeepaliveLifetime returns upstream-keepalive-time, 1h when
// unset.
func (g Global) UpstreamKeepaliveLifetime() time.Duration {
	if g.UpstreamKeepaliveTime == 0 {
		return DefaultUpstreamKeepaliveTime
	}
	return g.UpstreamKeepaliveTime
}

// ContentType returns default-type, "text/html" when unset.
func (g Global) ContentType() string {
	if g.DefaultType == "" {
		return DefaultDefaultType
	}
	return g.DefaultType
}

// DefaultBodySizeBytes returns DefaultBodySize, 1m (1048576) when nil;
// 0 means unlimited.
func (g Global) DefaultBodySizeBytes() int64 {
	if g.DefaultBodySize == nil {
		return nginxBodySize
	}
	return *g.DefaultBodySize
}

// WorkerConnections returns max-worker-connections, 16384 when unset; 0
// stands for the open-file limit's derivation, which the worker makes.
func (g Global) WorkerConnections() int {
	return valueOr(g.MaxWorkerConnections, DefaultMaxWorkerConnections)
}

// LimitReqStatusCode returns limit-req-status-code, 503 when unset.
func (g Global) LimitReqStatusCode() int {
	if g.LimitReqStatus == 0 {
		return DefaultLimitReqStatus
	}
	return g.LimitReqStatus
}

// LimitConnStatusCode returns limit-conn-status-code, 503 when unset.
func (g Global) LimitConnStatusCode() int {
	if g.LimitConnStatus == 0 {
		return DefaultLimitConnStatus
	}
	return g.LimitConnStatus
}

// HTTPRedirectCode returns http-redirect-code, 308 when unset.
func (g Global) HTTPRedirectCode() int {
	if g.HTTPRedirect == 0 {
		return http.StatusPermanentRedirect
	}
	return g.HTTPRedirect
}

// valueOr returns *p, or def when p is nil.
func valueOr(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

// globalMeta is the metadata table of the Global settings; they exist only
// as controller ConfigMap keys.
var globalMeta = []Meta{
	{
		Key: "use-forwarded-headers", Default: "false", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "`\"true\"` trusts the client's `X-Forwarded-Proto`, `X-Forwarded-Host` and `X-Forwarded-Port` (passed on, and the upstream `Host` is the first `X-Forwarded-Host`) and takes the client address from `forwarded-for-header` of peers in `proxy-real-ip-cidr`: for Weir behind another L7 proxy. `\"false\"`: all from the connection, the client's `X-Forwarded-For` passed as `X-Original-Forwarded-For`.",
		Validate: validateConfigBool,
	},
	{
		Key: "compute-full-forwarded-for", Default: "false", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "With `use-forwarded-headers`, `\"true\"` sends `X-Forwarded-For` as the client's value with the connection's address appended (with `use-proxy-protocol`, the PROXY header's source address, trusted or not), instead of the client address alone.",
		Validate: validateConfigBool,
	},
	{
		Key: "forwarded-for-header", Default: DefaultForwardedForHeader, ConfigMap: true, ConfigMapOnly: true,
		Doc:      "Header the client address is taken from (rightmost address not in `proxy-real-ip-cidr`, as nginx's `real_ip_recursive on`) when real IP is on, and that `X-Original-Forwarded-For` copies.",
		Validate: validateHeaderName,
	},
	{
		Key: "forwarded-host-header", Default: DefaultForwardedHostHeader, ConfigMap: true, ConfigMapOnly: true,
		Doc:      "Header that `X-Original-Forwarded-Host` copies (the upstream `Host` with `use-forwarded-headers` is still the first `X-Forwarded-Host`, as in ingress-nginx).",
		Validate: validateHeaderName,
	},
	{
		Key: "proxy-real-ip-cidr", Default: DefaultProxyRealIPCIDR, ConfigMap: true, ConfigMapOnly: true,
		Doc:      "Comma-separated CIDRs or addresses of the proxies whose `forwarded-for-header` (or PROXY protocol address) is trusted. An invalid entry trusts no proxy (fails closed) with an `InvalidConfigMapValue` warning. The default matches IPv4 peers only, as nginx's `set_real_ip_from 0.0.0.0/0`.",
		Validate: func(v string) error { _, err := parseCIDRList(v); return err },
	},
	{
		Key: "enable-real-ip", Default: "false", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "`\"true\"` takes the client address from `forwarded-for-header` of peers in `proxy-real-ip-cidr` without trusting the other forwarded headers.",
		Validate: validateConfigBool,
	},
	{
		Key: "use-proxy-protocol", Default: "false", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "`\"true\"` expects a PROXY protocol header (v1 or v2) on every connection to the HTTP and HTTPS listeners; the client address is its source address when the peer is in `proxy-real-ip-cidr`.",
		Validate: validateConfigBool,
	},
	{
		Key: "server-tokens", Default: "false", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "`\"true\"` gives every response, Weir's own included, `Server: weir/VERSION`; `\"false\"` sends no `Server` header at all (nginx's `server_tokens off` with `more_clear_headers Server`). The upstream's `Server` and `Date` are never passed on, as nginx's default `proxy_hide_header`.",
		Validate: validateConfigBool,
	},
	{
		Key: "allow-backend-server-header", Default: "false", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "`\"true\"` passes the upstream's `Server` header instead of Weir's (nginx's `proxy_pass_header Server`); a response whose upstream sent none has no `Server` at all (nginx's proxy gives it an empty one, which stops nginx writing its own and is not sent). As ingress-nginx, it takes effect only with `server-tokens: \"true\"`: otherwise every `Server` header is removed, the upstream's too.",
		Validate: validateConfigBool,
	},
	{
		Key: "default-type", Default: DefaultDefaultType, ConfigMap: true, ConfigMapOnly: true,
		Doc:      "`Content-Type` of the responses Weir writes from a text with no type of its own (nginx's `default_type`): the 403 of `auth-tls-match-cn` (`return 403 \"client certificate unauthorized\"`) and the redirect annotations' responses with a status other than 301, 302, 303, 307 and 308, whose body is the target. nginx's error pages and redirects stay `text/html`; a proxied response is never given one. Unlike nginx, Weir does not pick the type from the URI's extension (`mime.types`).",
		Validate: validateMediaType,
	},
	{
		Key: "large-client-header-buffers", Default: "4 8k", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "Number and size (nginx size syntax) of the buffers for a request line and headers: a longer request line gets 414, a longer header line 400. An HTTP/2 request whose header fields (names and values) total more than all the buffers, or with a field longer than one buffer, is reset without an answer, as nginx ends the connection.",
		Validate: func(v string) error { _, _, err := parseBuffers(v); return err },
	},
	{
		Key: "keep-alive", Default: "75", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "Seconds a client connection, HTTP/1 or HTTP/2, is kept idle between two requests (nginx's `keepalive_timeout`); a request whose first bytes arrived by then gets `client_header_timeout` (60 s) for its head. `\"0\"` disables keep-alive: every HTTP/1 response carries `Connection: close`.",
		Validate: validateConfigCount,
	},
	{
		Key: "keep-alive-requests", Default: "1000", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "Requests one client connection serves (nginx's `keepalive_requests`; a request with `Upgrade` that gets no 101 counts, as in nginx): on HTTP/1 the response to the last carries `Connection: close` and the connection closes; on HTTP/2 (TLS or h2c) the last stream's response comes with a GOAWAY, and the client's next request opens a new connection.",
		Validate: validateConfigCount,
	},
	{
		Key: "upstream-keepalive-connections", Default: "320", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "Idle keep-alive connections to upstreams one worker (the proxy, with `--workers 0`) keeps, all upstreams together: parking one more closes the least recently used (nginx's `keepalive` cache). `\"0\"`: no keep-alive to upstreams, every request goes on a new connection with `Connection: close`, as ingress-nginx then omits `keepalive`. HTTP/1 upstreams; HTTP/2 and gRPC upstreams keep their own pool.",
		Validate: validateConfigCount,
	},
	{
		Key: "upstream-keepalive-timeout", Default: "60", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "How long an idle upstream connection is kept before it is closed (nginx's `keepalive_timeout` in the upstream block), in seconds: an integer, as ingress-nginx's (`60s` or `1m` keeps the default).",
		Validate: func(v string) error { _, err := configDuration(v); return err },
	},
	{
		Key: "upstream-keepalive-time", Default: "1h", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "How long an upstream connection may be used: once it has existed this long it is closed after the response of its current request instead of being kept (nginx's `keepalive_time` in the upstream block; nginx time syntax: `1h`, `30m`, or seconds).",
		Validate: func(v string) error { _, err := parseNginxTime(v); return err },
	},
	{
		Key: "upstream-keepalive-requests", Default: "10000", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "Requests one upstream connection serves: it is closed after the response to the last (nginx's `keepalive_requests` in the upstream block). `\"0\"` serves one request per connection.",
		Validate: validateConfigCount,
	},
	{
		Key: "max-worker-connections", Default: "16384", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "Client connections one worker (the proxy, with `--workers 0`) holds open at once, WebSockets included (nginx's `worker_connections`, which also counts upstream connections: Weir counts client connections only). At the cap the worker stops accepting: new connections wait in the kernel's accept queue. `\"0\"`: three quarters of the open-file limit less 1024 (at least 768), as ingress-nginx derives it. Counted in `weir_client_connections` and `weir_client_connections_capped_total`.",
		Validate: validateConfigCount,
	},
	{
		Key: "limit-conn-status-code", Default: "503", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "Status (400 to 599) of a request refused by `limit-connections`.",
		Validate: func(v string) error { _, err := parseLimitConnStatus(v); return err },
	},
	{
		Key: "limit-req-status-code", Default: "503", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "Status (400 to 599) of a request refused by `limit-rps` or `limit-rpm`.",
		Validate: func(v string) error { _, err := parseLimitConnStatus(v); return err },
	},
	{
		Key: "http-redirect-code", Default: "308", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "Status of the `ssl-redirect`, `force-ssl-redirect` and `from-to-www-redirect` redirects: 301, 302, 307 or 308.",
		Validate: func(v string) error { _, err := parseHTTPRedirectCode(v); return err },
	},
	{
		Key: "no-auth-locations", Default: DefaultNoAuthLocations, ConfigMap: true, ConfigMapOnly: true,
		Doc:      "Comma-separated path prefixes: the rules whose path (that of nginx's location for the rule: a Prefix rule `/a` is the locations `= /a` and `/a/`) starts with one are served without authentication (auth-type, auth-url, global-auth-url), as ingress-nginx's; the source ranges still apply. Unlike ingress-nginx, the client's own fields named by the route's `auth-response-headers` are removed there, so a backend that trusts them (set by the auth service elsewhere) never gets them forged.",
		Validate: func(string) error { return nil },
	},
	{
		Key: "worker-shutdown-timeout", Default: "240s", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "How long requests in flight and WebSockets may go on once Weir drains at shutdown (nginx time syntax: `240s`, `4m`, or seconds); then WebSockets get a close frame (1001) and what remains is closed. Read when the drain starts; overrides `--worker-shutdown-timeout`.",
		Validate: func(v string) error { _, err := parseNginxTime(v); return err },
	},
	{
		Key: "client-header-timeout", Default: "60", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "How long a client may take to send a request head (nginx's `client_header_timeout`), in seconds: an integer, as ingress-nginx's (`60s` or `1m` keeps the default). It runs from the accept for a connection's first request, from its first bytes for the next; past it the connection is closed without a response. A TLS handshake on the HTTPS listener is held to it too, from the accept, as nginx reads one under `client_header_timeout`. Applied live with the HTTP/1 server `--http1-server=weir` (the default); `--http1-server=net` keeps 60s for request heads.",
		Validate: func(v string) error { _, err := configDuration(v); return err },
	},
	{
		Key: "client-body-timeout", Default: "60", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "How long a client may send nothing of its request body between two reads (nginx's `client_body_timeout`), in seconds: an integer, as ingress-nginx's (`60s` or `1m` keeps the default); past it the request is logged 408 and its connection reset without an answer.",
		Validate: func(v string) error { _, err := configDuration(v); return err },
	},
	{
		Key: "enable-underscores-in-headers", Default: "false", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "`\"true\"` accepts `_` in request header names (nginx's `underscores_in_headers`). `\"false\"`: a name with `_` is invalid, so with `ignore-invalid-headers` on the field is dropped before routing, logging and proxying, HTTP/1 and HTTP/2 alike.",
		Validate: validateConfigBool,
	},
	{
		Key: "ignore-invalid-headers", Default: "true", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "`\"true\"` drops request header fields whose names nginx finds invalid (a byte other than a letter, a digit or `-`, and `_` unless `enable-underscores-in-headers`) instead of passing them on (nginx's `ignore_invalid_headers`), HTTP/1 and HTTP/2 alike. `\"false\"` keeps them.",
		Validate: validateConfigBool,
	},
	{
		Key: "proxy-add-original-uri-header", Default: "false", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "`\"true\"` sends the upstream `X-Original-URI` with the client's request target, path and query as received (`$request_uri`), replacing any the client sent.",
		Validate: validateConfigBool,
	},
	{
		Key: "proxy-protocol-header-timeout", Default: "5s", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "With `use-proxy-protocol` and `--enable-ssl-passthrough`, how long the PROXY header of a connection to the HTTPS listener may take (a Go duration: `5s`, `500ms`); a late one closes the connection. As ingress-nginx, where the TLS proxy that passthrough puts in front of nginx reads the header; without passthrough the header is read under `client-header-timeout`, as nginx does.",
		Validate: func(v string) error { _, err := parseGoDuration(v); return err },
	},
	{
		Key: "strict-validate-path-type", Default: "true", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "`\"true\"`: a path of pathType `Exact` or `Prefix` must be `/` followed by letters, digits, `.`, `_`, `-` and `/` only (ingress-nginx's rule); another is warned about (`InvalidPathType`) and the admission webhook refuses its Ingress. The path is still served, as ingress-nginx's sync serves it. `\"false\"`: the warning (`PathTypeNotStrict`) only.",
		Validate: validateConfigBool,
	},
	{
		Key: "allow-cross-namespace-resources", Default: "false", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "`\"true\"` lets `auth-secret`, `auth-tls-secret`, `proxy-ssl-secret`, `auth-proxy-set-headers` and `custom-headers` name a Secret or ConfigMap of another namespace (`namespace/name`). `\"false\"`: such a reference denies the route (403 for `auth-tls-secret`, 503 for the others), with an `InvalidAnnotation`, `InvalidAuth` or `InvalidHeaders` warning, as ingress-nginx refuses it (`custom-headers`: as ingress-nginx documents it; its code reads any namespace).",
		Validate: validateConfigBool,
	},
	{
		Key: "proxy-ssl-location-only", Default: "false", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "`\"false\"`: as ingress-nginx's server block, the `proxy-ssl-*` settings of the first Ingress of a host (oldest first) whose `proxy-ssl-secret` has a `ca.crt` also apply to the HTTPS and GRPCS routes of the host's other Ingresses, each setting where the route has none of its own (trusted CAs, ciphers, protocols, verification and depth without a `ca.crt` of its own; the client certificate without a pair of its own; the name and SNI only when that Ingress sets `proxy-ssl-name`). `\"true\"`: each Ingress's routes only.",
		Validate: validateConfigBool,
	},
	{
		Key: "forwarded-for-proxy-protocol-header", Default: DefaultForwardedForProxyProtocolHeader, ConfigMap: true, ConfigMapOnly: true,
		Doc:      "With `use-forwarded-headers` and `use-proxy-protocol` both `\"true\"`: the header the upstream request carries (replacing the client's), as ingress-nginx sets it for its realip module: the client's `forwarded-for-header` when the PROXY header's source address is in `proxy-real-ip-cidr`, else that address; none when that is empty. The client address is the one nginx derives from it, starting from the balancer's address: a trusted source without `forwarded-for-header` leaves the balancer's.",
		Validate: validateHeaderName,
	},
	{
		Key: "limit-conn-zone-variable", Default: DefaultLimitConnZoneVariable, ConfigMap: true, ConfigMapOnly: true,
		Doc:      "What `limit-connections`, `limit-rps` and `limit-rpm` count by: the client address (`$binary_remote_addr`, or `$remote_addr`), or other nginx variables (`$http_x_api_key`, `$host`, `$cookie_NAME`, `$arg_NAME`...; the ones `auth-url` accepts) and text; a request whose key is empty is not counted, as nginx's. The limit allowlists still match the client address.",
		Validate: func(v string) error { _, err := parseLimitConnZoneVariable(v); return err },
	},
	{
		Key: "disable-access-log", Default: "false", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "`\"true\"` writes no access-log line at all, whatever `enable-access-log` says.",
		Validate: validateConfigBool,
	},
	{
		Key: "disable-http-access-log", Default: "false", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "`\"true\"` writes no access-log line for HTTP requests, whatever `enable-access-log` says; TCP and UDP service sessions are still logged.",
		Validate: validateConfigBool,
	},
	{
		Key: "disable-stream-access-log", Default: "false", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "`\"true\"` writes no access-log line for TCP and UDP service sessions; HTTP requests are still logged.",
		Validate: validateConfigBool,
	},
}

// ShutdownTimeout returns WorkerShutdownTimeout, or flag when it is 0.
func (g Global) ShutdownTimeout(flag time.Duration) time.Duration {
	if g.WorkerShutdownTimeout > 0 {
		return g.WorkerShutdownTimeout
	}
	return flag
}

// parseNginxTime parses a positive nginx time as nginx 1.22.1 reads the
// directive ingress-nginx writes the key into, unquoted (ngx_parse_time
// for a time in milliseconds): parts of digits and a unit, the units in
// decreasing order, each once: w, d, h, m, s, ms ("240s", "4m", "1h30m",
// "1s500ms", "1d"); a number alone, or last after a larger unit, is
// seconds ("30", "1m30"). Surrounding spaces are ignored (nginx reads
// the directive's tokens); a sign, a fraction, a space inside ("1h 30m",
// two arguments to nginx), "us" or "y" is refused, as nginx refuses them.
func parseNginxTime(v string) (time.Duration, error) { return parseNginxTimeIn(v, false) }

// parseNginxSeconds is parseNginxTime for a directive nginx reads in
// seconds (ssl_session_timeout): y and M (365 and 30 days) too, ms not.
func parseNginxSeconds(v string) (time.Duration, error) { return parseNginxTimeIn(v, true) }

// nginxTimeUnits are ngx_parse_time's units, largest first.
var nginxTimeUnits = []struct {
	name string
	d    time.Duration
}{{"y", 365 * 24 * time.Hour}, {"M", 30 * 24 * time.Hour}, {"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour},
	{"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}, {"ms", time.Millisecond}}

// nginxSecondsUnit is the index of "s" in nginxTimeUnits.
const nginxSecondsUnit = 6

func parseNginxTimeIn(v string, sec bool) (time.Duration, error) {
	bad := errors.New("must be a positive time such as 240s, 4m or 30")
	t := strings.TrimSpace(v)
	first, last := 2, len(nginxTimeUnits)-1 // w to ms
	if sec {
		first, last = 0, nginxSecondsUnit // y to s
	}
	const most = time.Duration(maxSeconds) * time.Second
	var total time.Duration
	for next := first; t != ""; {
		i := 0
		for i < len(t) && t[i] >= '0' && t[i] <= '9' {
			i++
		}
		if i == 0 || i > 10 {
			return 0, bad
		}
		n, _ := strconv.ParseInt(t[:i], 10, 64)
		t = t[i:]
		u := -1
		for j := next; j <= last && t != ""; j++ {
			name := nginxTimeUnits[j].name
			if strings.HasPrefix(t, name) && !(name == "m" && strings.HasPrefix(t, "ms")) {
				u = j
				break
			}
		}
		switch {
		case u >= 0:
			t = t[len(nginxTimeUnits[u].name):]
		case t == "" && next <= nginxSecondsUnit:
			u = nginxSecondsUnit // a number alone is seconds
		default:
			return 0, bad
		}
		if time.Duration(n) > (most-total)/nginxTimeUnits[u].d {
			return 0, bad
		}
		total += time.Duration(n) * nginxTimeUnits[u].d
		next = u + 1
	}
	if total <= 0 {
		return 0, bad
	}
	return total, nil
}

func validateMediaType(v string) error { _, err := parseMediaType(v); return err }

// parseMediaType accepts a media type as nginx's default_type takes it, a
// type/subtype with optional parameters ("text/html",
// "text/plain; charset=utf-8"), trimmed.
func parseMediaType(v string) (string, error) {
	v = strings.TrimSpace(v)
	if _, _, err := mime.ParseMediaType(v); err != nil || !strings.Contains(v, "/") {
		return "", errors.New(`must be a media type such as "text/html"`)
	}
	return v, nil
}

func validateBool(v string) error { _, err := parseTrimmedBool(v); return err }

// parseTrimmedBool accepts what strconv.ParseBool accepts ("true", "1",
// "t", "False", ...), surrounding spaces ignored. The ConfigMap's
// booleans are read by configBool.
func parseTrimmedBool(v string) (bool, error) { return parseBool(strings.TrimSpace(v)) }

// validateHeaderName accepts a non-empty HTTP token.
func validateHeaderName(v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("must be a header name")
	}
	return validateToken(strings.TrimSpace(v))
}

// parseCIDRList splits a comma-separated list of CIDRs or addresses
// (empty entries skipped, as ingress-nginx's splitAndTrimSpace) into
// normalised prefixes; any other entry is an error.
func parseCIDRList(v string) ([]string, error) {
	prefixes, bad := ParseSourceRange(v)
	if len(bad) > 0 {
		return nil, fmt.Errorf("entry %q is not a CIDR or an IP address", bad[0])
	}
	if prefixes == nil {
		prefixes = []string{}
	}
	return prefixes, nil
}

// parseBuffers parses nginx's "number size" syntax of
// large_client_header_buffers ("4 8k").
func parseBuffers(v string) (count, size int, err error) {
	f := strings.Fields(v)
	if len(f) != 2 {
		return 0, 0, errors.New(`must be a number of buffers and a size, as "4 8k"`)
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 1 || n > 1<<16 {
		return 0, 0, errors.New("the number of buffers must be an integer from 1 to 65536")
	}
	s, err := parseSize(f[1])
	if err != nil || s < 1 || s > 1<<30 {
		return 0, 0, errors.New("the buffer size must be from 1 byte to 1g, in nginx size syntax")
	}
	return n, int(s), nil
}

// globalKey parses data[key], when present, with parse, and gives set the
// value or wrap the error.
func globalKey[T any](data map[string]string, key string, parse func(string) (T, error), wrap func(key, value string, err error), set func(T)) {
	v, ok := data[key]
	if !ok {
		return
	}
	x, err := parse(v)
	if err != nil {
		wrap(key, v, err)
		return
	}
	set(x)
}

// ParseGlobal reads the Global settings from the data of the controller
// ConfigMap. A nil map yields the zero Global (every default). A rejected
// value is returned as an *Error with ConfigMap set and its default is
// kept, except proxy-real-ip-cidr, which then trusts no proxy.
func ParseGlobal(data map[string]string) (Global, []error) {
	var g Global
	var errs []error
	wrap := func(key, value string, err error) {
		errs = append(errs, &Error{Annotation: key, Value: value, ConfigMap: true, Err: err})
	}
	boolKey := func(key string, dst *bool) {
		globalKey(data, key, configBool, wrap, func(b bool) { *dst = b })
	}
	countKey := func(key string, dst **int) {
		globalKey(data, key, configCount, wrap, func(n int) { *dst = &n })
	}
	boolKey("use-forwarded-headers", &g.UseForwardedHeaders)
	boolKey("compute-full-forwarded-for", &g.ComputeFullForwardedFor)
	boolKey("enable-real-ip", &g.EnableRealIP)
	boolKey("use-proxy-protocol", &g.UseProxyProtocol)
	boolKey("server-tokens", &g.ServerTokens)
	boolKey("allow-backend-server-header", &g.AllowBackendServerHeader)
	globalKey(data, "default-type", parseMediaType, wrap, func(v string) {
		if v != DefaultDefaultType {
			g.DefaultType = v
		}
	})
	if n, err := parseBodySize(data["proxy-body-size"]); err == nil && n != nginxBodySize {
		g.DefaultBodySize = &n
	}
	if codes, _ := parseConfigMapHTTPErrors(data["custom-http-errors"]); len(codes) > 0 {
		g.CustomHTTPErrors = slices.Clip(codes)
	}
	boolKey("disable-access-log", &g.DisableAccessLog)
	boolKey("disable-http-access-log", &g.DisableHTTPAccessLog)
	boolKey("disable-stream-access-log", &g.DisableStreamAccessLog)
	boolKey("enable-underscores-in-headers", &g.EnableUnderscoresInHeaders)
	boolKey("proxy-add-original-uri-header", &g.ProxyAddOriginalURIHeader)
	globalKey(data, "ignore-invalid-headers", configBool, wrap, func(b bool) { g.KeepInvalidHeaders = !b })
	globalKey(data, "strict-validate-path-type", configBool, wrap, func(b bool) { g.LaxPathType = !b })
	boolKey("allow-cross-namespace-resources", &g.AllowCrossNamespaceResources)
	boolKey("proxy-ssl-location-only", &g.ProxySSLLocationOnly)
	globalKey(data, "limit-conn-zone-variable", parseLimitConnZoneVariable, wrap, func(v string) { g.LimitConnZoneVariable = v })
	// headerKey sets *dst to the canonical header name of key, "" for def.
	headerKey := func(key, def string, dst *string) {
		globalKey(data, key, func(v string) (string, error) {
			if err := validateHeaderName(v); err != nil {
				return "", err
			}
			if h := textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(v)); h != def {
				return h, nil
			}
			return "", nil
		}, wrap, func(h string) { *dst = h })
	}
	headerKey("forwarded-for-header", DefaultForwardedForHeader, &g.ForwardedForHeader)
	headerKey("forwarded-host-header", DefaultForwardedHostHeader, &g.ForwardedHostHeader)
	headerKey("forwarded-for-proxy-protocol-header", DefaultForwardedForProxyProtocolHeader, &g.ForwardedForProxyProtocolHeader)
	if v, ok := data["proxy-real-ip-cidr"]; ok {
		ps, err := parseCIDRList(v)
		if err != nil {
			wrap("proxy-real-ip-cidr", v, fmt.Errorf("%w; no proxy is trusted: trust %w", err, ErrFailsClosed))
			ps = []string{}
		}
		g.ProxyRealIPCIDR = ps
	}
	if v, ok := data["large-client-header-buffers"]; ok {
		n, s, err := parseBuffers(v)
		if err != nil {
			wrap("large-client-header-buffers", v, err)
		} else {
			g.HeaderBufferCount, g.HeaderBufferSize = n, s
		}
	}
	globalKey(data, "worker-shutdown-timeout", parseNginxTime, wrap, func(d time.Duration) { g.WorkerShutdownTimeout = d })
	globalKey(data, "client-header-timeout", configDuration, wrap, func(d time.Duration) { g.ClientHeaderTimeout = d })
	globalKey(data, "client-body-timeout", configDuration, wrap, func(d time.Duration) { g.ClientBodyTimeout = d })
	globalKey(data, "proxy-protocol-header-timeout", parseGoDuration, wrap, func(d time.Duration) { g.ProxyProtocolHeaderTimeout = d })
	countKey("keep-alive", &g.KeepAlive)
	countKey("keep-alive-requests", &g.KeepAliveRequests)
	countKey("max-worker-connections", &g.MaxWorkerConnections)
	countKey("upstream-keepalive-connections", &g.UpstreamKeepaliveConnections)
	globalKey(data, "upstream-keepalive-timeout", configDuration, wrap, func(d time.Duration) { g.UpstreamKeepaliveTimeout = d })
	countKey("upstream-keepalive-requests", &g.UpstreamKeepaliveRequests)
	globalKey(data, "upstream-keepalive-time", parseNginxTime, wrap, func(d time.Duration) { g.UpstreamKeepaliveTime = d })
	globalKey(data, "limit-conn-status-code", parseLimitConnStatus, wrap, func(n int) { g.LimitConnStatus = n })
	globalKey(data, "limit-req-status-code", parseLimitConnStatus, wrap, func(n int) { g.LimitReqStatus = n })
	globalKey(data, "add-headers", configMapRef, wrap, func(v string) { g.AddHeaders = v })
	globalKey(data, "proxy-set-headers", configMapRef, wrap, func(v string) { g.ProxySetHeaders = v })
	globalKey(data, "hide-headers", func(v string) ([]string, error) { return splitList(v), nil }, wrap, func(v []string) { g.HideHeaders = v })
	if v, ok := data["global-allowed-response-headers"]; ok {
		names, err := parseHeaderNames(v)
		if err != nil {
			wrap("global-allowed-response-headers", v, err)
		}
		g.AllowedResponseHeaders = names
	}
	globalKey(data, "http-redirect-code", parseHTTPRedirectCode, wrap, func(n int) { g.HTTPRedirect = n })
	globalKey(data, "no-auth-locations", parseLocationList, wrap, func(l []string) { g.NoAuthLocations = l })
	globalKey(data, "no-tls-redirect-locations", parseLocationList, wrap, func(l []string) { g.NoTLSRedirectLocations = l })
	parseBlock(data, &g.Block, wrap)
	parseStream(data, &g.Stream, wrap)
	parseCompress(data, &g.Compress, wrap)
	parseLogFormat(data, &g.LogFormat, wrap)
	parseRequestLog(data, &g, wrap)
	for _, key := range tlsSettingsKeys {
		if _, ok := data[key]; ok {
			var tlsErrs []error
			g.TLS, tlsErrs = ParseTLSSettings(data)
			errs = append(errs, tlsErrs...)
			break
		}
	}
	return g, errs
}

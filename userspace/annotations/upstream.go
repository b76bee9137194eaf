package annotations

import (
	"crypto/tls"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Protocol is how a route speaks to its endpoints (backend-protocol).
type Protocol string

// The backend protocols Weir implements. ingress-nginx's AJP and FCGI are
// refused with a warning (HTTP is used).
const (
	// ProtocolHTTP is HTTP/1.1 in clear text (the default).
	ProtocolHTTP Protocol = "HTTP"
	// ProtocolHTTPS is HTTP/1.1 over TLS.
	ProtocolHTTPS Protocol = "HTTPS"
	// ProtocolGRPC is gRPC: HTTP/2 in clear text (prior knowledge).
	ProtocolGRPC Protocol = "GRPC"
	// ProtocolGRPCS is gRPC over TLS (HTTP/2 by ALPN).
	ProtocolGRPCS Protocol = "GRPCS"
	// ProtocolH2C is HTTP/2 in clear text (prior knowledge) for any
	// request; not in ingress-nginx.
	ProtocolH2C Protocol = "H2C"
	// ProtocolAutoHTTP is HTTP/1.1 over TLS for a request that came over
	// TLS, in clear text for one that did not: nginx's proxy_pass
	// $scheme:// (For resolves it per request).
	ProtocolAutoHTTP Protocol = "AUTO_HTTP"
)

// For is the protocol of a request that came over TLS (https) or not:
// AUTO_HTTP is HTTPS or HTTP by it, any other protocol itself.
func (p Protocol) For(https bool) Protocol {
	switch {
	case p != ProtocolAutoHTTP:
		return p
	case https:
		return ProtocolHTTPS
	}
	return ProtocolHTTP
}

// TLS reports whether the protocol runs over TLS.
func (p Protocol) TLS() bool { return p == ProtocolHTTPS || p == ProtocolGRPCS }

// HTTP2 reports whether the protocol is HTTP/2.
func (p Protocol) HTTP2() bool { return p == ProtocolGRPC || p == ProtocolGRPCS || p == ProtocolH2C }

// Upstream is the typed configuration of the backend family of annotations:
// the protocol to the endpoints and its TLS client settings. The zero value
// is HTTP without TLS settings.
type Upstream struct {
	// Protocol is backend-protocol. "" means ProtocolHTTP (the default).
	Protocol Protocol `json:"protocol,omitempty"`
	// SSL is the proxy-ssl-* family; it applies to HTTPS and GRPCS only,
	// and only with a proxy-ssl-secret, as in ingress-nginx. Nil means
	// none (the default): the endpoint's certificate is not verified, no
	// client certificate is sent, no SNI.
	SSL *ProxySSL `json:"ssl,omitempty"`
	// CustomHTTPErrors is custom-http-errors: responses with these
	// statuses (from the endpoint or Weir's own 502, 503, 504) are
	// replaced by the default backend's answer to a request carrying
	// ingress-nginx's X-Code, X-Format, X-Original-URI, X-Namespace,
	// X-Ingress-Name, X-Service-Name, X-Service-Port and X-Request-ID.
	// Nil means none (the default, or the ConfigMap's).
	CustomHTTPErrors []int `json:"customHTTPErrors,omitempty"`
	// DefaultBackend is default-backend: the name of a Service of the
	// Ingress's namespace, on its first port, that answers the
	// CustomHTTPErrors and the requests of routes without endpoints. ""
	// means the Snapshot's default backend. Default "".
	DefaultBackend string `json:"defaultBackend,omitempty"`
	// ServiceUpstream is service-upstream "true": the Service's ClusterIP
	// and port is the route's single endpoint (kube-proxy balances).
	// Without a ClusterIP the endpoints are used, with a warning. Default
	// false.
	ServiceUpstream bool `json:"serviceUpstream,omitempty"`
	// HTTP10 is proxy-http-version "1.0": requests go upstream as
	// HTTP/1.0 with "Connection: close", bodies of unknown length read
	// whole first, and the connection is not reused. Default false ("1.1").
	HTTP10 bool `json:"http10,omitempty"`
	// Buffering is proxy-buffering "on": the response body reaches the
	// client through the server's write buffer, flushed when full or at
	// the end (streamed responses still flush each write). Off (the
	// default) flushes each read of the body to the client at once, as
	// nginx's unbuffered proxying.
	Buffering bool `json:"buffering,omitempty"`
	// NoRequestBuffering is proxy-request-buffering "off": the request
	// body is streamed to the endpoint as it arrives. On (the default)
	// reads the whole body before connecting, in memory up to
	// ClientBodyBufferSize and in a temporary file beyond.
	NoRequestBuffering bool `json:"noRequestBuffering,omitempty"`
	// ClientBodyBufferSize is client-body-buffer-size in bytes: the part of
	// a buffered request body kept in memory. 0 means 8k (the default).
	ClientBodyBufferSize int64 `json:"clientBodyBufferSize,omitempty"`
	// ProxyBufferSize is proxy-buffer-size in bytes: the largest response
	// header an endpoint may send (a larger one is a 502, nginx's "upstream
	// sent too big header"); for HTTP and HTTPS routes. 0 means 4k (the
	// default).
	ProxyBufferSize int64 `json:"proxyBufferSize,omitempty"`
	// RedirectFrom and RedirectTo are proxy-redirect-from and
	// proxy-redirect-to ("" is "off", the default of both); Redirect
	// returns the rule they make.
	RedirectFrom string `json:"redirectFrom,omitempty"`
	RedirectTo   string `json:"redirectTo,omitempty"`
	// CookieDomain is proxy-cookie-domain; nil is "off" (the default).
	CookieDomain *HeaderRewrite `json:"cookieDomain,omitempty"`
	// CookiePath is proxy-cookie-path; nil is "off" (the default).
	CookiePath *HeaderRewrite `json:"cookiePath,omitempty"`
	// NoInterceptErrors is disable-proxy-intercept-errors "true" (nginx's
	// proxy_intercept_errors off): the endpoint's responses are passed to
	// the client whatever their status; Weir's own 502, 503 and 504 are
	// still replaced (nginx's error_page). As ingress-nginx, the
	// annotation applies only with the Ingress's own custom-http-errors,
	// and not when the ConfigMap's custom-http-errors intercept (its
	// http-level proxy_intercept_errors on is inherited); the ConfigMap's
	// key applies to the routes whose list is the ConfigMap's. Default
	// false.
	NoInterceptErrors bool `json:"noInterceptErrors,omitempty"`
}

// Defaults of the sizes of Upstream.
const (
	DefaultClientBodyBufferSize = 8 << 10
	DefaultProxyBufferSize      = 4 << 10
)

// BodyBufferSize returns ClientBodyBufferSize or its default; u may be nil.
func (u *Upstream) BodyBufferSize() int64 {
	if u == nil || u.ClientBodyBufferSize <= 0 {
		return DefaultClientBodyBufferSize
	}
	return u.ClientBodyBufferSize
}

// BuffersResponse reports whether proxy-buffering is on; u may be nil.
func (u *Upstream) BuffersResponse() bool { return u != nil && u.Buffering }

// HeaderLimit returns ProxyBufferSize or its default; u may be nil.
func (u *Upstream) HeaderLimit() int64 {
	if u == nil || u.ProxyBufferSize <= 0 {
		return DefaultProxyBufferSize
	}
	return u.ProxyBufferSize
}

// ProxySSL is the proxy-ssl-* family: TLS client settings towards the
// endpoints of an HTTPS or GRPCS route.
type ProxySSL struct {
	// Secret is proxy-ssl-secret, "namespace/name" of a Secret with
	// tls.crt and tls.key (the client certificate, optional) and ca.crt
	// (the CAs that verify the endpoint, optional).
	Secret string `json:"secret"`
	// Verify is proxy-ssl-verify "on": the endpoint's certificate must
	// chain to ca.crt and match ServerName. Default false.
	Verify bool `json:"verify,omitempty"`
	// VerifyDepth is proxy-ssl-verify-depth: the most intermediate
	// certificates between the endpoint's and a CA of ca.crt. Default 1.
	VerifyDepth int `json:"verifyDepth"`
	// Name is proxy-ssl-name: the name verified and, with ServerNameOn,
	// sent as SNI. "" means nginx's $proxy_host, which ingress-nginx makes
	// "upstream_balancer". Default "".
	Name string `json:"name,omitempty"`
	// ServerNameOn is proxy-ssl-server-name "on": send Name as SNI.
	// Default false.
	ServerNameOn bool `json:"serverName,omitempty"`
	// MinVersion and MaxVersion bound the TLS versions
	// (proxy-ssl-protocols). Default TLS 1.2 only.
	MinVersion uint16 `json:"minVersion"`
	MaxVersion uint16 `json:"maxVersion"`
	// CipherSuites are the TLS 1.2 suites offered (proxy-ssl-ciphers).
	// Nil ("DEFAULT", the default) means OpenSSL's DEFAULT
	// (OpenSSLDefaultCiphers), as nginx's.
	CipherSuites []uint16 `json:"cipherSuites,omitempty"`
}

// ProxySSLDefaultName is the name an endpoint's certificate is verified
// against without proxy-ssl-name: nginx's $proxy_host in ingress-nginx's
// configuration.
const ProxySSLDefaultName = "upstream_balancer"

// VerifyName returns the name verified and sent as SNI: Name, else
// ProxySSLDefaultName.
func (s *ProxySSL) VerifyName() string {
	if s.Name != "" {
		return s.Name
	}
	return ProxySSLDefaultName
}

// upstreamMeta is the metadata table of the backend family.
var upstreamMeta = []Meta{
	{
		Key: "backend-protocol", Default: "HTTP",
		Doc:      "Protocol to the endpoints: `HTTP`, `HTTPS` (HTTP/1.1 over TLS), `GRPC` (HTTP/2 in clear text), `GRPCS` (HTTP/2 over TLS), `H2C` (HTTP/2 in clear text for any request, a Weir addition) or `AUTO_HTTP` (HTTPS for a request that came over TLS, HTTP for one that did not: nginx's `proxy_pass $scheme://`). Case-insensitive. `AJP` and `FCGI` are refused with a warning and HTTP is used.",
		Validate: func(v string) error { _, err := parseProtocol(v); return err },
	},
	{
		Key:      "proxy-ssl-secret",
		Doc:      "`namespace/name` of a Secret (any type) in the Ingress's namespace with `ca.crt` (CAs for `proxy-ssl-verify`) and/or `tls.crt`/`tls.key` (client certificate sent to HTTPS and GRPCS endpoints, only beside a `ca.crt`, as ingress-nginx: a pair alone sends none, with a warning). The other proxy-ssl-* annotations apply only with it, as in ingress-nginx. A missing or invalid Secret, or one in another namespace, denies the route (503) with a warning.",
		Validate: validateSecretRef,
	},
	{
		Key: "proxy-ssl-verify", Default: "off",
		Doc:      "`on` verifies the endpoint's certificate against `ca.crt` and `proxy-ssl-name` as OpenSSL does for nginx: the chain must end at a self-signed CA of `ca.crt` (its other certificates serve as intermediates); a failed verification answers 502. `on` with a Secret without `ca.crt` denies the route (503): ingress-nginx would not verify, Weir fails closed.",
		Validate: validateOnOff,
	},
	{
		Key: "proxy-ssl-verify-depth", Default: "1",
		Doc:      "Most intermediate certificates between the endpoint's certificate and the self-signed CA of `ca.crt` its chain ends at (OpenSSL's verify depth: `1` takes one intermediate, `2` two); `0` means 1, as in ingress-nginx.",
		Validate: func(v string) error { _, err := parseVerifyDepth(v); return err },
	},
	{
		Key:      "proxy-ssl-name",
		Doc:      "Name the endpoint's certificate is verified against and, with `proxy-ssl-server-name`, sent as SNI. Without it nginx's `$proxy_host` is used, `upstream_balancer` in ingress-nginx. Letters, digits, `.`, `-`, `_` and `*`; nginx variables (`$host`), which ingress-nginx passes to nginx, are refused with a warning and the default is used.",
		Validate: validateServerName,
	},
	{
		Key: "proxy-ssl-server-name", Default: "off",
		Doc:      "`on` sends `proxy-ssl-name` (or `upstream_balancer`) as SNI to the endpoint.",
		Validate: validateOnOff,
	},
	{
		Key: "proxy-ssl-protocols", Default: "TLSv1.2",
		Doc:      "TLS versions to the endpoint, space-separated (`TLSv1.2`, `TLSv1.3`), when the `proxy-ssl-secret` has a `ca.crt`: without one ingress-nginx writes no `proxy_ssl_protocols` and nginx's default, TLS 1.2 and 1.3, applies.",
		Validate: validateProxySSLProtocols,
	},
	{
		Key: "proxy-ssl-ciphers", Default: "DEFAULT",
		Doc:      "TLS 1.2 cipher suites to the endpoint, an OpenSSL cipher string read as `ssl-ciphers` is (names, aliases such as `HIGH`, exclusions); `DEFAULT` is OpenSSL's, as nginx's (RSA key exchange and CBC suites included), also without the annotation or a Secret. As `proxy-ssl-protocols`, only with a `ca.crt` in the Secret. Rules that select nothing Go has are left out; when none remains, `DEFAULT` is used with a warning.",
		Validate: validateProxySSLCiphers,
	},
}

// errorsMeta is the metadata table of custom-http-errors and
// default-backend.
var errorsMeta = []Meta{
	{
		Key: "custom-http-errors", ConfigMap: true,
		Doc:               "Comma-separated 4xx and 5xx statuses whose responses (from the endpoint, Weir's own 502, 503 and 504, or the 401, 403, 500 and 503 of the source ranges and authentication unless `auth-signin` redirects the 401) are replaced by the answer of `default-backend` (else the default backend) to the request rewritten to `/`, with ingress-nginx's `X-Code`, `X-Format`, `X-Original-URI`, `X-Namespace`, `X-Ingress-Name`, `X-Service-Name`, `X-Service-Port` and `X-Request-ID` headers. A `default-backend` Service without endpoints is passed over; with no default backend with endpoints the answer is nginx's 404 page, as ingress-nginx's internal default backend answers. An invalid annotation is refused whole; the ConfigMap's list, as ingress-nginx's, also takes 3xx statuses and skips an entry that is not a status from 300 to 599 with a warning, the others applying.",
		Validate:          func(v string) error { _, err := parseHTTPErrors(v); return err },
		ValidateConfigMap: func(v string) error { _, err := parseConfigMapHTTPErrors(v); return err },
	},
	{
		Key: "disable-proxy-intercept-errors", Default: "false", ConfigMap: true,
		Doc:               "`true` passes the endpoint's responses to the client whatever their status instead of replacing those of `custom-http-errors` (nginx's `proxy_intercept_errors off`); Weir's own 502, 503 and 504 are still replaced. As ingress-nginx, the annotation applies only with the Ingress's own `custom-http-errors`, and not while the ConfigMap's `custom-http-errors` intercept without its `disable-proxy-intercept-errors` (their http-level `proxy_intercept_errors on` is inherited). The ConfigMap key applies to routes that use the ConfigMap's list.",
		Validate:          validateBool,
		ValidateConfigMap: validateConfigBool,
	},
	{
		Key:      "default-backend",
		Doc:      "Service of the Ingress's namespace (on its first port) that answers `custom-http-errors` and the requests of routes whose Service has no endpoints (with `X-Code: 503`, from the route's own location: its rewrite and upstream settings apply).",
		Validate: validateServiceName,
	},
}

// tuningMeta is the metadata table of the upstream tuning keys.
var tuningMeta = []Meta{
	{
		Key: "service-upstream", Default: "false", ConfigMap: true,
		Doc:               "`true` sends the route's requests to the Service's ClusterIP and port (one endpoint, balanced by kube-proxy) instead of its endpoints; a Service without ClusterIP keeps its endpoints, with a warning. The ConfigMap key is the default of every Ingress that does not set the annotation.",
		Validate:          validateBool,
		ValidateConfigMap: validateConfigBool,
	},
	{
		Key: "proxy-http-version", Default: "1.1", ConfigMap: true,
		Doc:      "`1.0` sends requests upstream as HTTP/1.0 (a body of unknown length is read whole first) without a `Connection` field of Weir's own, as ingress-nginx (`close` with `upstream-keepalive-connections` \"0\"), and does not reuse the connection; HTTP and HTTPS routes.",
		Validate: func(v string) error { _, err := parseHTTPVersion(v); return err },
	},
	{
		Key: "proxy-buffering", Default: "off", ConfigMap: true,
		Doc:      "`off` flushes each read of the response body to the client at once (nginx's unbuffered proxying); `on` lets writes coalesce in the server's buffer, flushed when full or at the end (streamed responses still flush each write). Weir never spools a response to disk.",
		Validate: validateOnOff,
	},
	{
		Key: "proxy-request-buffering", Default: "on", ConfigMap: true,
		Doc:      "`on` reads the whole request body (within `proxy-body-size`) before connecting to the endpoint, in memory up to `client-body-buffer-size` and in a temporary file beyond; such a body may be sent again to the next endpoint. `off` streams it as it arrives. A protocol upgrade's body (a `Content-Length` up to 64 KiB) is always read whole and sent with the handshake; a chunked or larger one makes it a plain request.",
		Validate: validateOnOff,
	},
	{
		Key: "client-body-buffer-size", Default: "8k", ConfigMap: true,
		Doc:      "Part of a buffered request body kept in memory; the rest goes to a temporary file.",
		Validate: func(v string) error { _, err := parsePositiveSize(v); return err },
	},
	{
		Key: "proxy-buffer-size", Default: "4k", ConfigMap: true,
		Doc:      "Largest response header an endpoint may send on HTTP and HTTPS routes; a larger one answers 502 (nginx's \"upstream sent too big header\").",
		Validate: func(v string) error { _, err := parsePositiveSize(v); return err },
	},
	{
		Key: "proxy-max-temp-file-size", Default: "1024m", ConfigMap: true,
		Doc:      "Accepted and checked; no effect: Weir streams responses and never writes them to a temporary file.",
		Validate: func(v string) error { _, err := parseSize(v); return err },
	},
}

var (
	protocolRe        = regexp.MustCompile(`^(TLSv1\.2|TLSv1\.3| )*$`)
	serverNameRe      = regexp.MustCompile(`^(?i)[a-z0-9*._\-]+$`) // "_" as ingress-nginx's ValidateServerName (upstream_balancer)
	secretNameRe      = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)
	errProtocolRefuse = errors.New("is not supported by Weir; HTTP is used")
)

// parseProtocol reads backend-protocol, case-insensitively.
func parseProtocol(v string) (Protocol, error) {
	switch p := Protocol(strings.ToUpper(strings.TrimSpace(v))); p {
	case ProtocolHTTP, ProtocolHTTPS, ProtocolGRPC, ProtocolGRPCS, ProtocolH2C, ProtocolAutoHTTP:
		return p, nil
	case "AJP", "FCGI":
		return "", fmt.Errorf("protocol %s %w", p, errProtocolRefuse)
	}
	return "", errors.New("must be HTTP, HTTPS, AUTO_HTTP, GRPC, GRPCS or H2C; HTTP is used")
}

var httpErrorsRe = regexp.MustCompile(`^(?:[4,5]\d{2},?)*$`)

// parseHTTPErrors reads custom-http-errors as ingress-nginx: 4xx and 5xx
// codes separated by commas (spaces removed first).
func parseHTTPErrors(v string) ([]int, error) {
	v = strings.ReplaceAll(v, " ", "")
	if !httpErrorsRe.MatchString(v) {
		return nil, errors.New("must be 4xx or 5xx status codes separated by commas")
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		if n, err := strconv.Atoi(f); err == nil && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// parseConfigMapHTTPErrors reads the ConfigMap's custom-http-errors as
// ingress-nginx's ReadConfig does, more leniently than the annotation:
// comma-separated entries, trimmed, of which one that is not a number or
// not from 300 to 599 is skipped (and reported) while the others apply.
func parseConfigMapHTTPErrors(v string) ([]int, error) {
	var out []int
	var bad []string
	for _, f := range splitList(v) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 300 || n > 599 {
			bad = append(bad, f)
			continue
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	if len(bad) > 0 {
		return out, fmt.Errorf("entries %q skipped: must be status codes from 300 to 599", bad)
	}
	return out, nil
}

func validateServiceName(v string) error {
	if v = strings.TrimSpace(v); v != "" && !secretNameRe.MatchString(v) {
		return errors.New("must be the name of a Service")
	}
	return nil
}

// parseHTTPVersion reads proxy-http-version: true for "1.0".
func parseHTTPVersion(v string) (bool, error) {
	switch strings.TrimSpace(v) {
	case "1.0":
		return true, nil
	case "1.1":
		return false, nil
	}
	return false, errors.New(`must be "1.0" or "1.1"`)
}

// parsePositiveSize is parseSize without 0.
func parsePositiveSize(v string) (int64, error) {
	n, err := parseSize(v)
	if err == nil && n == 0 {
		err = errors.New("must be more than 0")
	}
	return n, err
}

// validateOnOff accepts "on" or "off", surrounding spaces ignored as
// ingress-nginx's validators do.
func validateOnOff(v string) error {
	if v = strings.TrimSpace(v); v != "on" && v != "off" {
		return errors.New(`must be "on" or "off"`)
	}
	return nil
}

func validateServerName(v string) error {
	if v = strings.TrimSpace(v); v != "" && !serverNameRe.MatchString(v) {
		return errors.New("must be a server name")
	}
	return nil
}

// validateSecretRef accepts "namespace/name", as ingress-nginx, and ""
// or blanks (none).
func validateSecretRef(v string) error {
	if v = strings.TrimSpace(v); v == "" {
		return nil
	}
	ns, name, ok := strings.Cut(v, "/")
	if !ok || !secretNameRe.MatchString(ns) || !secretNameRe.MatchString(name) {
		return errors.New("must be namespace/name of a Secret")
	}
	return nil
}

func validateProxySSLProtocols(v string) error {
	if !protocolRe.MatchString(v) || strings.TrimSpace(v) == "" {
		return errors.New(`must list TLSv1.2 and/or TLSv1.3, separated by spaces`)
	}
	return nil
}

func validateProxySSLCiphers(v string) error {
	if !nginxProxySSLCiphers.MatchString(v) { // ingress-nginx's, as its refusal table checks it
		return errors.New("must be an OpenSSL cipher list")
	}
	return nil
}

// parseUpstream applies the backend family to *u, allocating it when an
// annotation of the family is set.
func parseUpstream(get lookup, u **Upstream, wrap func(key, value string, err error) error) []error {
	var errs []error
	out := Upstream{}
	if *u != nil {
		out = **u
	}
	set := false
	// ingress-nginx's http-level proxy_intercept_errors: the ConfigMap's
	// custom-http-errors without its disable-proxy-intercept-errors.
	httpIntercepts := len(out.CustomHTTPErrors) > 0 && !out.NoInterceptErrors
	ownErrors := false
	if v, ok := get("backend-protocol"); ok {
		p, err := parseProtocol(v)
		if err != nil {
			errs = append(errs, wrap("backend-protocol", v, err))
		} else if p != ProtocolHTTP {
			out.Protocol, set = p, true
		}
	}
	if v, ok := get("custom-http-errors"); ok {
		codes, err := parseHTTPErrors(v)
		if err != nil {
			errs = append(errs, wrap("custom-http-errors", v, err))
		} else {
			out.CustomHTTPErrors, set = slices.Clip(codes), true
			ownErrors = len(codes) > 0
		}
	}
	if v, ok := get("disable-proxy-intercept-errors"); ok {
		b, err := parseTrimmedBool(v)
		if err != nil {
			errs = append(errs, wrap("disable-proxy-intercept-errors", v, err))
		}
		if ownErrors {
			out.NoInterceptErrors = b && !httpIntercepts
		}
	} else if ownErrors {
		out.NoInterceptErrors = false
	}
	if v, ok := get("default-backend"); ok {
		if err := validateServiceName(strings.TrimSpace(v)); err != nil {
			errs = append(errs, wrap("default-backend", v, err))
		} else if v = strings.TrimSpace(v); v != "" {
			out.DefaultBackend, set = v, true
		}
	}
	if v, ok := get("service-upstream"); ok {
		b, err := parseTrimmedBool(v)
		if err != nil {
			errs = append(errs, wrap("service-upstream", v, err))
		} else {
			out.ServiceUpstream, set = b, set || b != out.ServiceUpstream
		}
	}
	tset, terrs := parseTuning(get, &out, wrap)
	errs = append(errs, terrs...)
	set = set || tset
	ssl, sslErrs := parseProxySSL(get, wrap)
	errs = append(errs, sslErrs...)
	if ssl != nil {
		out.SSL, set = ssl, true
	}
	if set {
		*u = &out
	}
	return errs
}

// parseProxySSL reads the proxy-ssl-* family; nil without proxy-ssl-secret
// (the other keys' values are still checked).
// A rejected value of the other keys keeps its default, as ingress-nginx.
// An unusable secret reference keeps the Secret as written: Build denies
// the route, failing closed.
func parseProxySSL(get lookup, wrap func(key, value string, err error) error) (*ProxySSL, []error) {
	var errs []error
	secret, hasSecret := get("proxy-ssl-secret")
	hasSecret = hasSecret && strings.TrimSpace(secret) != ""
	s := &ProxySSL{Secret: strings.TrimSpace(secret), VerifyDepth: 1, MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12}
	if err := validateSecretRef(s.Secret); err != nil && hasSecret {
		errs = append(errs, wrap("proxy-ssl-secret", secret, fmt.Errorf("%w; the route is denied (503)", err)))
	}
	onOff := func(key string, dst *bool) {
		if v, ok := get(key); ok {
			if err := validateOnOff(v); err != nil {
				errs = append(errs, wrap(key, v, err))
			} else {
				*dst = strings.TrimSpace(v) == "on"
			}
		}
	}
	onOff("proxy-ssl-verify", &s.Verify)
	onOff("proxy-ssl-server-name", &s.ServerNameOn)
	if err := setParsed(get, wrap, "proxy-ssl-verify-depth", parseVerifyDepth, &s.VerifyDepth); err != nil {
		errs = append(errs, err)
	}
	if v, ok := get("proxy-ssl-name"); ok {
		// ingress-nginx's ValidateServerName trims the value, and nginx
		// reads proxy_ssl_name without the blanks around it.
		if err := validateServerName(v); err != nil {
			errs = append(errs, wrap("proxy-ssl-name", v, err))
		} else {
			s.Name = strings.TrimSpace(v)
		}
	}
	if v, ok := get("proxy-ssl-protocols"); ok {
		vers, err := parseProtocols(v, nil)
		if err == nil {
			err = validateProxySSLProtocols(v)
		}
		if err != nil {
			errs = append(errs, wrap("proxy-ssl-protocols", v, err))
		} else {
			s.MinVersion, s.MaxVersion = vers[0], vers[1]
		}
	}
	if v, ok := get("proxy-ssl-ciphers"); ok && v != "DEFAULT" {
		var suites []uint16
		err := validateProxySSLCiphers(v)
		if err == nil {
			suites, err = parseCiphers(v, nil)
		}
		if err != nil {
			errs = append(errs, wrap("proxy-ssl-ciphers", v, fmt.Errorf("%w; OpenSSL's DEFAULT suites are used", err)))
		} else {
			s.CipherSuites = slices.Clip(suites)
		}
	}
	if !hasSecret {
		return nil, errs // the values are checked all the same
	}
	return s, errs
}

// UpstreamEqual reports whether a and b (either may be nil) are the same
// configuration.
func UpstreamEqual(a, b *Upstream) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Protocol != b.Protocol || a.ServiceUpstream != b.ServiceUpstream || a.HTTP10 != b.HTTP10 || a.Buffering != b.Buffering ||
		a.NoRequestBuffering != b.NoRequestBuffering || a.ClientBodyBufferSize != b.ClientBodyBufferSize ||
		a.ProxyBufferSize != b.ProxyBufferSize || a.DefaultBackend != b.DefaultBackend || !slices.Equal(a.CustomHTTPErrors, b.CustomHTTPErrors) ||
		(a.CustomHTTPErrors == nil) != (b.CustomHTTPErrors == nil) || a.NoInterceptErrors != b.NoInterceptErrors || a.RedirectFrom != b.RedirectFrom || a.RedirectTo != b.RedirectTo ||
		!rewriteEqual(a.CookieDomain, b.CookieDomain) || !rewriteEqual(a.CookiePath, b.CookiePath) {
		return false
	}
	x, y := a.SSL, b.SSL
	if x == nil || y == nil {
		return x == y
	}
	return x.Secret == y.Secret && x.Verify == y.Verify && x.VerifyDepth == y.VerifyDepth && x.Name == y.Name &&
		x.ServerNameOn == y.ServerNameOn && x.MinVersion == y.MinVersion && x.MaxVersion == y.MaxVersion &&
		slices.Equal(x.CipherSuites, y.CipherSuites)
}

// Intercepts reports whether a response of status code is replaced
// (custom-http-errors); an endpoint's response is only when
// PassesErrors is false.
func (u *Upstream) Intercepts(code int) bool {
	return u != nil && slices.Contains(u.CustomHTTPErrors, code)
}

// PassesErrors reports whether the endpoint's responses reach the client
// whatever their status (NoInterceptErrors); u may be nil.
func (u *Upstream) PassesErrors() bool { return u != nil && u.NoInterceptErrors }

// parseConfigMapUpstream reads the ConfigMap's custom-http-errors and
// tuning keys into *u.
func parseConfigMapUpstream(get lookup, u **Upstream, wrap func(key, value string, err error) error) []error {
	out := Upstream{}
	set, errs := parseTuning(get, &out, wrap)
	if v, ok := get("custom-http-errors"); ok {
		codes, err := parseConfigMapHTTPErrors(v)
		if err != nil {
			errs = append(errs, wrap("custom-http-errors", v, err))
		}
		if len(codes) > 0 {
			out.CustomHTTPErrors, set = slices.Clip(codes), true
		}
	}
	if v, ok := get("disable-proxy-intercept-errors"); ok {
		if b, err := configBool(v); err != nil {
			errs = append(errs, wrap("disable-proxy-intercept-errors", v, err))
		} else if b {
			out.NoInterceptErrors, set = true, true
		}
	}
	if v, ok := get("service-upstream"); ok {
		if b, err := configBool(v); err != nil {
			errs = append(errs, wrap("service-upstream", v, err))
		} else if b {
			out.ServiceUpstream, set = true, true
		}
	}
	if set {
		*u = &out
	}
	return errs
}

// parseTuning reads the keys of tuningMeta that the ConfigMap shares into
// out, and reports whether one changed it.
func parseTuning(get lookup, out *Upstream, wrap func(key, value string, err error) error) (bool, []error) {
	before := *out
	var errs []error
	onOff := func(key string, dst *bool, on bool) {
		if v, ok := get(key); ok {
			if err := validateOnOff(strings.TrimSpace(v)); err != nil {
				errs = append(errs, wrap(key, v, err))
			} else {
				*dst = (strings.TrimSpace(v) == "on") == on
			}
		}
	}
	onOff("proxy-buffering", &out.Buffering, true)
	onOff("proxy-request-buffering", &out.NoRequestBuffering, false)
	errs = append(errs, joinErrs(
		setParsed(get, wrap, "proxy-http-version", parseHTTPVersion, &out.HTTP10),
		setParsed(get, wrap, "client-body-buffer-size", parsePositiveSize, &out.ClientBodyBufferSize),
		setParsed(get, wrap, "proxy-buffer-size", parsePositiveSize, &out.ProxyBufferSize),
	)...)
	errs = append(errs, parseRewrites(get, out, wrap)...) // proxyrewrite.go
	if v, ok := get("proxy-max-temp-file-size"); ok {
		if _, err := parseSize(v); err != nil {
			errs = append(errs, wrap("proxy-max-temp-file-size", v, err))
		}
	}
	return !UpstreamEqual(&before, out), errs
}

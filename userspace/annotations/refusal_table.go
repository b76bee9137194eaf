package annotations

import "strings"

// nginxGroups are ingress-nginx's annotation parsers (HEAD of
// kubernetes/ingress-nginx, internal/ingress/annotations/*/main.go), sorted
// by their name in NewAnnotationFactory, each with its table (key,
// validator, risk, aliases) and, for those whose Parse can return a
// validation error, the reads of its Parse in order and what it does with
// each error. The comments name the parser package.
var nginxGroups = []nginxGroup{
	{name: "Aliases", entries: []nginxEntry{ // alias
		{key: "server-alias", validate: validServerNames, risk: RiskHigh},
	}, parse: readStr("server-alias")},
	{name: "Allowlist", entries: []nginxEntry{ // ipallowlist: a bad value denies the location
		{key: "allowlist-source-range", validate: validCIDRs, risk: RiskMedium, aliases: []string{"whitelist-source-range"}},
	}},
	{name: "BackendProtocol", entries: []nginxEntry{ // backendprotocol: falls back to HTTP
		{key: "backend-protocol", validate: validOptions(nginxBackendProtocols, false, true), risk: RiskLow},
	}},
	{name: "BasicDigestAuth", entries: []nginxEntry{ // auth
		{key: "auth-secret", validate: validRegex(nginxBasicCharsRegex, true), risk: RiskMedium},
		{key: "auth-secret-type", validate: validRegex(nginxAuthSecretTypeRegex, true), risk: RiskLow},
		{key: "auth-realm", validate: validRegex(nginxCharsWithSpace, false), risk: RiskMedium},
		{key: "auth-type", validate: validRegex(nginxAuthTypeRegex, true), risk: RiskLow},
	}, parse: parseNginxBasicAuth},
	{name: "Canary", entries: []nginxEntry{ // canary: every bad value falls back to its default
		{key: "canary", validate: validBool, risk: RiskLow},
		{key: "canary-weight", validate: validInt, risk: RiskLow},
		{key: "canary-weight-total", validate: validInt, risk: RiskLow},
		{key: "canary-by-header", validate: validRegex(nginxBasicCharsRegex, true), risk: RiskMedium},
		{key: "canary-by-header-value", validate: validRegex(nginxBasicCharsRegex, true), risk: RiskMedium},
		{key: "canary-by-header-pattern", validate: validRegex(nginxIsValidRegex, false), risk: RiskMedium},
		{key: "canary-by-cookie", validate: validRegex(nginxBasicCharsRegex, true), risk: RiskMedium},
	}},
	{name: "CertificateAuth", entries: []nginxEntry{ // authtls
		{key: "auth-tls-secret", validate: validRegex(nginxBasicCharsRegex, true), risk: RiskMedium},
		{key: "auth-tls-verify-client", validate: validRegex(nginxAuthVerifyClientRegex, true), risk: RiskMedium},
		{key: "auth-tls-verify-depth", validate: validInt, risk: RiskLow},
		{key: "auth-tls-error-page", validate: validRegex(errorPageRegex, true), risk: RiskHigh},
		{key: "auth-tls-pass-certificate-to-upstream", validate: validBool, risk: RiskLow},
		{key: "auth-tls-match-cn", validate: validCommonName, risk: RiskHigh},
	}, parse: parseNginxAuthTLS},
	{name: "ClientBodyBufferSize", entries: []nginxEntry{ // clientbodybuffersize
		{key: "client-body-buffer-size", validate: validRegex(nginxSizeRegex, true), risk: RiskLow},
	}, parse: readStr("client-body-buffer-size")},
	{name: "ConfigurationSnippet", entries: []nginxEntry{ // snippet
		{key: "configuration-snippet", validate: validNull, risk: RiskCritical},
	}},
	{name: "Connection", entries: []nginxEntry{ // connection
		{key: "connection-proxy-header", validate: validRegex(nginxConnectionHeader, true), risk: RiskLow},
	}, parse: readStr("connection-proxy-header")},
	{name: "CorsConfig", entries: []nginxEntry{ // cors: every bad value falls back to its default
		{key: "enable-cors", validate: validBool, risk: RiskLow},
		{key: "cors-allow-origin", validate: validRegex(nginxCORSOriginValidator, true), risk: RiskMedium},
		{key: "cors-allow-headers", validate: validRegex(nginxHeadersVariable, true), risk: RiskMedium},
		{key: "cors-allow-methods", validate: validRegex(corsMethodsRegex, true), risk: RiskMedium},
		{key: "cors-allow-credentials", validate: validBool, risk: RiskLow},
		{key: "cors-expose-headers", validate: validRegex(corsExposeRegex, true), risk: RiskMedium},
		{key: "cors-max-age", validate: validInt, risk: RiskLow},
	}},
	{name: "CustomHTTPErrors", entries: []nginxEntry{ // customhttperrors
		{key: "custom-http-errors", validate: validRegex(httpErrorsRe, true), risk: RiskLow},
	}, parse: readStr("custom-http-errors")},
	{name: "CustomHeaders", entries: []nginxEntry{ // customheaders: a bad name is ignored
		{key: "custom-headers", validate: validRegex(nginxBasicCharsRegex, true), risk: RiskMedium},
	}},
	{name: "DefaultBackend", entries: []nginxEntry{ // defaultbackend
		{key: "default-backend", validate: validServiceName, risk: RiskLow},
	}, parse: readStr("default-backend")},
	{name: "Denylist", entries: []nginxEntry{ // ipdenylist: a bad value denies the location
		{key: "denylist-source-range", validate: validCIDRs, risk: RiskMedium},
	}},
	{name: "DisableProxyInterceptErrors", entries: []nginxEntry{ // disableproxyintercepterrors
		{key: "disable-proxy-intercept-errors", validate: validBool, risk: RiskLow},
	}},
	{name: "EnableGlobalAuth", entries: []nginxEntry{ // authreqglobal
		{key: "enable-global-auth", validate: validBool, risk: RiskLow},
	}},
	{name: "ExternalAuth", entries: []nginxEntry{ // authreq: past auth-url, bad values deny or fall back
		{key: "auth-url", validate: validRegex(nginxURLWithNginxVariable, true), risk: RiskHigh},
		{key: "auth-method", validate: validRegex(methodRe, true), risk: RiskLow},
		{key: "auth-signin", validate: validRegex(nginxURLWithNginxVariable, true), risk: RiskHigh},
		{key: "auth-signin-redirect-param", validate: validRegex(nginxURLIsValidRegex, true), risk: RiskMedium},
		{key: "auth-snippet", validate: validNull, risk: RiskCritical},
		{key: "auth-cache-key", validate: validRegex(nginxVariable, true), risk: RiskMedium},
		{key: "auth-keepalive", validate: validInt, risk: RiskLow},
		{key: "auth-keepalive-share-vars", validate: validBool, risk: RiskLow},
		{key: "auth-keepalive-requests", validate: validInt, risk: RiskLow},
		{key: "auth-keepalive-timeout", validate: validInt, risk: RiskLow},
		{key: "auth-cache-duration", validate: validRegex(nginxExtendedCharsRegex, false), risk: RiskMedium},
		{key: "auth-response-headers", validate: validRegex(nginxHeadersVariable, true), risk: RiskMedium},
		{key: "auth-proxy-set-headers", validate: validRegex(nginxBasicCharsRegex, true), risk: RiskMedium},
		{key: "auth-request-redirect", validate: validRegex(nginxURLIsValidRegex, true), risk: RiskMedium},
		{key: "auth-always-set-cookie", validate: validBool, risk: RiskLow},
	}, parse: readStr("auth-url")},
	{name: "FastCGI", entries: []nginxEntry{ // fastcgi
		{key: "fastcgi-index", validate: validRegex(nginxFastCGIIndex, true), risk: RiskMedium},
		{key: "fastcgi-params-configmap", validate: validRegex(nginxBasicCharsRegex, true), risk: RiskMedium},
	}, parse: func(r annReader) error {
		return firstInvalid(r, annReader.str, "fastcgi-index", "fastcgi-params-configmap")
	}},
	{name: "HTTP2PushPreload", entries: []nginxEntry{ // http2pushpreload
		{key: "http2-push-preload", validate: validBool, risk: RiskLow},
	}, parse: readBool("http2-push-preload")},
	{name: "LoadBalancing", entries: []nginxEntry{ // loadbalancing
		{key: "load-balance", validate: validOptions(nginxLoadBalanceAlgorithms, true, true), risk: RiskLow},
	}, parse: readStr("load-balance")},
	{name: "Logs", entries: []nginxEntry{ // log
		{key: "enable-access-log", validate: validBool, risk: RiskLow},
		{key: "enable-rewrite-log", validate: validBool, risk: RiskLow},
	}},
	{name: "Mirror", entries: []nginxEntry{ // mirror: bad values fall back
		{key: "mirror-request-body", validate: validRegex(nginxOnOffRegex, true), risk: RiskLow},
		{key: "mirror-target", validate: validServerName, risk: RiskHigh},
		{key: "mirror-host", validate: validServerName, risk: RiskHigh},
	}},
	{name: "ModSecurity", entries: []nginxEntry{ // modsecurity
		{key: "enable-modsecurity", validate: validBool, risk: RiskLow},
		{key: "enable-owasp-core-rules", validate: validBool, risk: RiskLow},
		{key: "modsecurity-transaction-id", validate: validRegex(nginxVariable, true), risk: RiskHigh},
		{key: "modsecurity-snippet", validate: validNull, risk: RiskCritical},
	}},
	{name: "Opentelemetry", entries: []nginxEntry{ // opentelemetry
		{key: "enable-opentelemetry", validate: validBool, risk: RiskLow},
		{key: "opentelemetry-trust-incoming-span", validate: validBool, risk: RiskLow},
		{key: "opentelemetry-operation-name", validate: validRegex(nginxOperationName, true), risk: RiskMedium},
	}, parse: func(r annReader) error {
		// The operation name is read only when tracing is enabled.
		if on, err := r.boolean("enable-opentelemetry"); err != nil || !on {
			return nil
		}
		_, err := r.str("opentelemetry-operation-name")
		return onlyInvalid(err)
	}},
	{name: "Proxy", entries: []nginxEntry{ // proxy: every bad value falls back to the ConfigMap's
		{key: "proxy-connect-timeout", validate: validInt, risk: RiskLow},
		{key: "proxy-send-timeout", validate: validInt, risk: RiskLow},
		{key: "proxy-read-timeout", validate: validInt, risk: RiskLow},
		{key: "proxy-buffers-number", validate: validInt, risk: RiskLow},
		{key: "proxy-buffer-size", validate: validRegex(nginxSizeRegex, true), risk: RiskLow},
		{key: "proxy-busy-buffers-size", validate: validRegex(nginxSizeRegex, true), risk: RiskLow},
		{key: "proxy-cookie-path", validate: validRegex(nginxURLIsValidRegex, true), risk: RiskMedium},
		{key: "proxy-cookie-domain", validate: validRegex(nginxCookieDomain, false), risk: RiskMedium},
		{key: "proxy-body-size", validate: validRegex(nginxSizeRegex, true), risk: RiskMedium},
		{key: "proxy-next-upstream", validate: validRegex(nginxUpstreamNext, false), risk: RiskMedium},
		{key: "proxy-next-upstream-timeout", validate: validInt, risk: RiskLow},
		{key: "proxy-next-upstream-tries", validate: validInt, risk: RiskLow},
		{key: "proxy-request-buffering", validate: validOptions([]string{"on", "off"}, true, true), risk: RiskLow},
		{key: "proxy-redirect-from", validate: validRegex(nginxURLIsValidRegex, true), risk: RiskMedium},
		{key: "proxy-redirect-to", validate: validRegex(nginxURLIsValidRegex, true), risk: RiskMedium},
		{key: "proxy-buffering", validate: validOptions([]string{"on", "off"}, true, true), risk: RiskLow},
		{key: "proxy-http-version", validate: validOptions([]string{"1.0", "1.1"}, true, true), risk: RiskLow},
		{key: "proxy-max-temp-file-size", validate: validRegex(nginxSizeRegex, true), risk: RiskLow},
	}},
	{name: "ProxySSL", entries: []nginxEntry{ // proxyssl: past the Secret, bad values fall back
		{key: "proxy-ssl-secret", validate: validRegex(nginxBasicCharsRegex, true), risk: RiskMedium},
		{key: "proxy-ssl-ciphers", validate: validRegex(nginxProxySSLCiphers, true), risk: RiskMedium},
		{key: "proxy-ssl-protocols", validate: validRegex(protocolRe, true), risk: RiskLow},
		{key: "proxy-ssl-name", validate: validServerName, risk: RiskHigh},
		{key: "proxy-ssl-verify", validate: validRegex(nginxOnOffRegex, true), risk: RiskLow},
		{key: "proxy-ssl-verify-depth", validate: validInt, risk: RiskLow},
		{key: "proxy-ssl-server-name", validate: validRegex(nginxOnOffRegex, true), risk: RiskLow},
	}, parse: readStr("proxy-ssl-secret")},
	{name: "RateLimit", entries: []nginxEntry{ // ratelimit
		{key: "limit-rate", validate: validInt, risk: RiskLow},
		{key: "limit-rate-after", validate: validInt, risk: RiskLow},
		{key: "limit-rpm", validate: validInt, risk: RiskLow},
		{key: "limit-rps", validate: validInt, risk: RiskLow},
		{key: "limit-connections", validate: validInt, risk: RiskLow},
		{key: "limit-burst-multiplier", validate: validInt, risk: RiskLow},
		{key: "limit-allowlist", validate: validCIDRs, risk: RiskLow, aliases: []string{"limit-whitelist"}},
	}, parse: func(r annReader) error {
		if err := firstInvalid(r, annReader.integer, "limit-rpm", "limit-rps", "limit-connections"); err != nil {
			return err
		}
		_, err := r.str("limit-allowlist")
		return onlyInvalid(err)
	}},
	{name: "Redirect", entries: []nginxEntry{ // redirect
		{key: "from-to-www-redirect", validate: validBool, risk: RiskLow},
		{key: "temporal-redirect", validate: validRegex(nginxURLIsValidRegex, false), risk: RiskMedium},
		{key: "temporal-redirect-code", validate: validInt, risk: RiskLow},
		{key: "permanent-redirect", validate: validRegex(nginxURLIsValidRegex, false), risk: RiskMedium},
		{key: "permanent-redirect-code", validate: validInt, risk: RiskLow},
		{key: "relative-redirects", validate: validBool, risk: RiskLow},
	}, parse: parseNginxRedirect},
	{name: "Rewrite", entries: []nginxEntry{ // rewrite: every bad value falls back
		{key: "rewrite-target", validate: validRegex(nginxRegexPathWithCapture, false), risk: RiskMedium},
		{key: "ssl-redirect", validate: validBool, risk: RiskLow},
		{key: "preserve-trailing-slash", validate: validBool, risk: RiskMedium},
		{key: "force-ssl-redirect", validate: validBool, risk: RiskMedium},
		{key: "use-regex", validate: validBool, risk: RiskLow},
		{key: "app-root", validate: validRegex(nginxRegexPathWithCapture, false), risk: RiskMedium},
	}},
	{name: "SSLCipher", entries: []nginxEntry{ // sslcipher
		{key: "ssl-prefer-server-ciphers", validate: validBool, risk: RiskLow},
		{key: "ssl-ciphers", validate: validRegex(nginxSSLCipher, true), risk: RiskLow},
	}, parse: func(r annReader) error {
		_, err := r.str("ssl-ciphers")
		return onlyInvalid(err)
	}},
	{name: "SSLPassthrough", entries: []nginxEntry{ // sslpassthrough
		{key: "ssl-passthrough", validate: validBool, risk: RiskLow},
	}, parse: readBool("ssl-passthrough")},
	{name: "Satisfy", entries: []nginxEntry{ // satisfy
		{key: "satisfy", validate: validOptions([]string{"any", "all"}, true, true), risk: RiskLow},
	}},
	{name: "ServerSnippet", entries: []nginxEntry{ // serversnippet
		{key: "server-snippet", validate: validNull, risk: RiskCritical},
	}},
	{name: "ServiceUpstream", entries: []nginxEntry{ // serviceupstream
		{key: "service-upstream", validate: validBool, risk: RiskLow},
	}},
	{name: "SessionAffinity", entries: []nginxEntry{ // sessionaffinity: every bad value falls back
		{key: "affinity", validate: validOptions([]string{"cookie"}, true, true), risk: RiskLow},
		{key: "affinity-mode", validate: validOptions([]string{"balanced", "persistent"}, true, true), risk: RiskMedium},
		{key: "affinity-canary-behavior", validate: validOptions([]string{"sticky", "legacy"}, true, true), risk: RiskLow},
		{key: "session-cookie-name", validate: validRegex(nginxBasicCharsRegex, true), risk: RiskMedium},
		{key: "session-cookie-secure", validate: validBool, risk: RiskLow},
		{key: "session-cookie-expires", validate: validRegex(nginxAffinityCookieExpires, true), risk: RiskMedium},
		{key: "session-cookie-max-age", validate: validRegex(nginxAffinityCookieExpires, false), risk: RiskMedium},
		{key: "session-cookie-path", validate: validRegex(nginxURLIsValidRegex, true), risk: RiskMedium},
		{key: "session-cookie-domain", validate: validRegex(nginxBasicCharsRegex, true), risk: RiskMedium},
		{key: "session-cookie-samesite", validate: validOptions([]string{"none", "lax", "strict"}, false, true), risk: RiskLow},
		{key: "session-cookie-conditional-samesite-none", validate: validBool, risk: RiskLow},
		{key: "session-cookie-change-on-failure", validate: validBool, risk: RiskLow},
	}},
	{name: "StreamSnippet", entries: []nginxEntry{ // streamsnippet
		{key: "stream-snippet", validate: validNull, risk: RiskCritical},
	}},
	{name: "UpstreamHashBy", entries: []nginxEntry{ // upstreamhashby
		{key: "upstream-hash-by", validate: validRegex(nginxHashBy, true), risk: RiskHigh},
		{key: "upstream-hash-by-subset", validate: validBool, risk: RiskLow},
		{key: "upstream-hash-by-subset-size", validate: validInt, risk: RiskLow},
	}, parse: func(r annReader) error {
		if _, err := r.str("upstream-hash-by"); notMissing(err) != nil {
			return err
		}
		if _, err := r.boolean("upstream-hash-by-subset"); notMissing(err) != nil {
			return err
		}
		_, err := r.integer("upstream-hash-by-subset-size")
		return notMissing(err)
	}},
	{name: "UpstreamVhost", entries: []nginxEntry{ // upstreamvhost
		{key: "upstream-vhost", validate: validServerName, risk: RiskLow},
	}, parse: readStr("upstream-vhost")},
	{name: "UsePortInRedirects", entries: []nginxEntry{ // portinredirect
		{key: "use-port-in-redirects", validate: validBool, risk: RiskLow},
	}},
	{name: "XForwardedPrefix", entries: []nginxEntry{ // xforwardedprefix
		{key: "x-forwarded-prefix", validate: validRegex(nginxRegexPathWithCapture, true), risk: RiskMedium},
	}, parse: readStr("x-forwarded-prefix")},
}

// parseNginxBasicAuth is the auth parser's Parse up to auth-realm: auth-type
// first (nothing else is read without it), auth-secret-type, then, once
// the Secret is named well (and, in ingress-nginx, found), auth-realm.
func parseNginxBasicAuth(r annReader) error {
	at, err := r.str("auth-type")
	if err != nil {
		return err
	}
	if !nginxAuthTypeRegex.MatchString(at) {
		return errDenied
	}
	if _, err := r.str("auth-secret-type"); isInvalid(err) {
		return err
	}
	s, err := r.str("auth-secret")
	if err != nil || strings.Count(s, "/") > 1 { // cache.SplitMetaNamespaceKey
		return errDenied
	}
	_, err = r.str("auth-realm")
	return onlyInvalid(err)
}

// parseNginxAuthTLS is the authtls parser's Parse: auth-tls-secret, then, once
// it reads as namespace/name (and, in ingress-nginx, the certificate is
// found), the error page, the pass-certificate flag and the CN match.
func parseNginxAuthTLS(r annReader) error {
	s, err := r.str("auth-tls-secret")
	if err != nil {
		return err
	}
	if strings.Count(s, "/") != 1 { // k8s.ParseNameNS
		return errDenied
	}
	if _, err := r.str("auth-tls-error-page"); isInvalid(err) {
		return err
	}
	if _, err := r.boolean("auth-tls-pass-certificate-to-upstream"); isInvalid(err) {
		return err
	}
	_, err = r.str("auth-tls-match-cn")
	return onlyInvalid(err)
}

// parseNginxRedirect is the redirect parser's Parse: every error but a missing
// annotation stops it; the temporal redirect, when set, ends it before the
// permanent one is read.
func parseNginxRedirect(r annReader) error {
	if _, err := r.boolean("from-to-www-redirect"); notMissing(err) != nil {
		return err
	}
	if _, err := r.boolean("relative-redirects"); notMissing(err) != nil {
		return err
	}
	tr, err := r.str("temporal-redirect")
	if notMissing(err) != nil {
		return err
	}
	if tr != "" {
		_, err := r.integer("temporal-redirect-code")
		return notMissing(err)
	}
	if _, err := r.str("permanent-redirect"); notMissing(err) != nil {
		return err
	}
	_, err = r.integer("permanent-redirect-code")
	return notMissing(err)
}

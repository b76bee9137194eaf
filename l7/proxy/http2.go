package proxy

import (
	"net/http"

	"github.com/weir-lb/weir/userspace/annotations"
)

// HTTP2Config returns the HTTP/2 settings of Weir's client-facing servers
// (http.Server.HTTP2, HTTPS and h2c alike): nginx's, where Go's defaults
// differ. MaxConcurrentStreams is http2-max-concurrent-streams' default,
// 128 (Go's own is 250). Go's HTTP/2 server reads them for each new
// connection from the http.Server, which cannot change while it serves,
// so the ConfigMap key is not applied (annotations' inventory says so).
// PermitProhibitedCipherSuites is true: nginx does not enforce RFC 7540's
// list of TLS 1.2 suites HTTP/2 must not use, so a client that negotiated
// h2 over a CBC suite (ssl-ciphers ALL or HIGH enable them) is served
// HTTP/2, where Go's default is a GOAWAY INADEQUATE_SECURITY.
func HTTP2Config() *http.HTTP2Config {
	return &http.HTTP2Config{MaxConcurrentStreams: annotations.DefaultHTTP2MaxConcurrentStreams, PermitProhibitedCipherSuites: true}
}

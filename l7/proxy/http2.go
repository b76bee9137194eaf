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

// MaxHeaderBytes is the http.Server.MaxHeaderBytes of Weir's client-facing
// servers: 64 KiB, twice large-client-header-buffers' default total (4 8k).
// Go's HTTP/2 server takes it as the largest header list it reads (names,
// values and 32 bytes a field, as RFC 7541 counts) and the longest string
// it decodes: a field declared longer ends the connection (GOAWAY
// COMPRESSION_ERROR) before a byte of it is held, where Go's default of 1
// MiB let a client make Weir hold a megabyte a connection until
// keep-alive. Weir refuses what nginx refuses below it (400 and 414, the
// request's own check of large-client-header-buffers); a key set above
// 32 KiB in all applies to HTTP/2 up to this bound, which is fixed while
// the server runs, as HTTP2Config's settings are. Weir's HTTP/1 server
// applies large-client-header-buffers alone; net/http's
// (--http1-server=net) reads an HTTP/1 head up to this plus 4 KiB too,
// and answers 431 past it.
const MaxHeaderBytes = 64 << 10

package proxy

import (
	"net/http"

	"github.com/weir-lb/weir/userspace/annotations"
)

// dropInvalidHeaders removes from h the request header fields whose names
// nginx finds invalid, as nginx's ignore_invalid_headers on does while it
// parses the head (HTTP/1) or the header block (HTTP/2): nothing after it
// (routing, canary, logging, the upstream request) sees them. Names with
// '_' are invalid unless enable-underscores-in-headers; with
// ignore-invalid-headers "false" every field is kept.
func (g *globalConfig) dropInvalidHeaders(h http.Header) {
	if g.KeepInvalidHeaders {
		return
	}
	for k := range h {
		if annotations.InvalidHeaderName(k, g.EnableUnderscoresInHeaders) {
			delete(h, k)
		}
	}
}

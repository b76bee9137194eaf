package h1guard

import (
	"bytes"
	"net/http"
)

// h2cPreface is the client connection preface of HTTP/2 with prior
// knowledge (RFC 9113, section 3.4).
var h2cPreface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

// h2cStart looks, while TakesH2C, at the first bytes of a plain
// connection: the HTTP/2 preface makes the connection pass unchecked
// (net/http serves it HTTP/2, as nginx's "http2 on" detects the preface on
// a clear-text listener), a prefix of it waits for more. It reports
// whether it decided (then head returns err).
func (c *conn) h2cStart() (bool, error) {
	if c.tls != nil || c.requests > 0 || c.R != 0 || !c.g.TakesH2C() {
		return false, nil
	}
	complete, prefix := H2CPreface(c.Buf[c.R:c.W])
	if !complete && !prefix {
		return false, nil
	}
	if prefix {
		return true, c.Fill(c.Conn, len(h2cPreface))
	}
	c.parsing = false
	c.st = stPass
	return true, nil
}

// Handler refuses the HTTP/2 requests checkHTTP2 refuses, as TLSHandler
// does, and calls h: the handler of a clear-text listener with Options.H2C.
func (g *Guard) Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor >= 2 && g.refuseHTTP2(w, r) {
			return
		}
		h.ServeHTTP(w, r)
	})
}

// ClearTextProtocols returns the protocols of a clear-text listener with
// Options.H2C: HTTP/1.1, and HTTP/2 with prior knowledge.
func ClearTextProtocols() *http.Protocols {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	return &p
}

// H2C reports whether the guard was made with Options.H2C: its clear-text
// listener takes HTTP/2 with prior knowledge too.
func (g *Guard) H2C() bool { return g.h2c }

// HTTP2Source, when Options.Source implements it too, says whether the
// live configuration serves HTTP/2 (use-http2).
type HTTP2Source interface {
	ServesHTTP2() bool
}

// TakesH2C reports whether a clear-text connection that opens now with the
// HTTP/2 preface is served HTTP/2: the guard was made with Options.H2C and
// Options.Source, if it is an HTTP2Source, serves HTTP/2. Otherwise the
// preface is read as an HTTP/1 head ("PRI * HTTP/2.0": 400, the asterisk
// target), as nginx reads it on a listener without http2.
func (g *Guard) TakesH2C() bool {
	if !g.h2c {
		return false
	}
	s, ok := g.source.(HTTP2Source)
	return !ok || s.ServesHTTP2()
}

// H2CPreface reports whether b, the first bytes of a clear-text
// connection, start the HTTP/2 client preface (complete) or may still
// (prefix: more bytes needed to know).
func H2CPreface(b []byte) (complete, prefix bool) {
	n := min(len(b), len(h2cPreface))
	if !bytes.Equal(b[:n], h2cPreface[:n]) {
		return false, false
	}
	return n == len(h2cPreface), n < len(h2cPreface)
}

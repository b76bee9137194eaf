package h1guard

import (
	"net"
	"net/http"
)

// plainHTTPPage is nginx's page for a plain HTTP request sent to an HTTPS
// port (ngx_http_special_response.c, ngx_http_error_497_page): titled
// with the reason, headed "400 Bad Request".
var plainHTTPPage = pageOf("400 The plain HTTP request was sent to HTTPS port", "400 Bad Request",
	"The plain HTTP request was sent to HTTPS port")

// answerPlainHTTP answers the connection c of the TLS listener whose
// client sent first, instead of a TLS record, the bytes first: as nginx
// (ngx_http_ssl_handshake takes a first byte other than 0x16 or 0x80 for
// plain HTTP), it reads the request head and checks it as any other, so a
// malformed one gets the answer of its fault; a valid one gets 400 with
// the page of nginx's internal 497 (ngx_http_process_request). Either is
// counted, sent with Connection: close (the header alone to HEAD), and
// followed by the linger of every refusal. c's deadline bounds the read.
func (g *Guard) answerPlainHTTP(c net.Conn, first []byte) {
	lim := g.Limits()
	buf := make([]byte, 0, 1024)
	buf = append(buf, first...)
	var (
		h    Head
		done bool
		err  error
	)
	for {
		h, done, err = ParseHead(buf, lim)
		if done || err != nil {
			break
		}
		if len(buf) == cap(buf) {
			if len(buf) > lim.withDefaults().maxHead() {
				// ParseHead refuses a head over its buffers; this only
				// bounds the buffer should it not.
				err = rejHeaderLarge
				break
			}
			buf = append(buf, make([]byte, len(buf))...)[:len(buf)]
		}
		n, rerr := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if rerr != nil && n == 0 {
			// The client left or its time ran out: nginx closes without
			// an answer, and logs the request.
			if g.LogsRefusals() {
				g.logRefusal(newRefusal(UnfinishedStatus(rerr), buf, c, nil))
			}
			return
		}
	}
	rej := rejPlainHTTP
	if err != nil {
		var ok bool
		if rej, ok = err.(*Reject); !ok {
			return
		}
	}
	g.count(c.RemoteAddr().String(), rej)
	headOnly := h.Method.Len > 0 && string(h.Method.Of(buf)) == http.MethodHead
	pc := &conn{Conn: c, g: g, headOnly: headOnly}
	if g.LogsRefusals() {
		// Logged as plain HTTP: nginx's $scheme of it is "http".
		pc.refused = newRefusal(rej.Status, buf, c, nil)
		pc.refused.Reject = rej
	}
	pc.answer(rej)
}

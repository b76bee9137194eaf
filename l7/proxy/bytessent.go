package proxy

import (
	"net/http"

	"golang.org/x/net/http2/hpack"

	"github.com/weir-lb/weir/l7/h1guard"
)

// bytesSent is nginx's $bytes_sent: every byte of the response the client
// gets, its head (status line, every field line, those the server adds
// itself, the blank line) and its body as bodySent counts it; none for a
// 499, which is never sent. The access log's $bytes_sent and the
// response_size and bytes_sent histograms (ingress-nginx's monitor.lua
// takes both from $bytes_sent) are this one figure.
//
// It is exact on l7/h1server, which says the length of the head it wrote
// (headSender); an estimate elsewhere: netHTTPHead on net/http's HTTP/1
// server, http2Sent over HTTP/2.
func bytesSent(r *http.Request, ex *exchange, rec *responseRecorder, status int) int64 {
	switch {
	case status == statusClientClosed:
		return 0 // recorded, never sent
	case rec.head > 0:
		return rec.head + bodySent(r, rec, status) // a tunnel's head as written
	case r.ProtoMajor >= 2:
		return http2Sent(r, ex, rec, status)
	}
	if hs, ok := rec.ResponseWriter.(headSender); ok {
		return hs.HeadSent() + bodySent(r, rec, status)
	}
	return netHTTPHead(r, rec, status) + bodySent(r, rec, status)
}

// headSender is l7/h1server's response writer, which says how long the
// head it wrote is (composing it if the handler left it unwritten).
type headSender interface{ HeadSent() int64 }

// Lengths of the field lines net/http's HTTP/1 server adds to a head.
const (
	dateLine      = len("Date: Mon, 02 Jan 2006 15:04:05 GMT\r\n")
	closeLine     = len("Connection: close\r\n")
	keepAliveLine = len("Connection: keep-alive\r\n")
	chunkedLine   = len("Transfer-Encoding: chunked\r\n")
)

// netHTTPHeld is net/http's bufferBeforeChunkingSize: the most body its
// HTTP/1 server holds before it writes the head; a body it still holds
// when the handler returns gets a Content-Length of the server's own.
const netHTTPHeld = 2048

// netHTTPHead is the head net/http's HTTP/1 server writes for rec (and the
// last chunk of a chunked body), as the handler can tell it before the
// server writes it (once the handler returns), measured on Go 1.26's
// server (TestNetHTTPHeadIsTheWire): the status line; the fields the
// handler set, but for a 304 its Content-Type and for any answer without
// a body its Content-Length and Transfer-Encoding, which the server drops;
// the Date line unless it set one; a Content-Length line of the server's
// own for a body without one that rec never flushed and that fits
// netHTTPHeld (none to HEAD without a body written, nor where no body is
// allowed): "Content-Length: 0" for no body, to HTTP/1.0 clients too; the
// Connection line (close to an HTTP/1.1 client whose connection closes
// unless the handler's says close; keep-alive to an HTTP/1.0 keep-alive
// client whose answer has a length, answers HEAD or has no body, unless
// the handler set one); to an HTTP/1.1 client a Transfer-Encoding line
// and the last chunk for a body that has no length then (flushed, or
// longer), where an HTTP/1.0 client gets the body unframed until the
// connection closes; and the blank line. Left out: the chunk-size lines of
// a chunked body (one per write that reached the server, which depends on
// the flushes and, under compression, on the compressor's writes), a
// Content-Type net/http sniffs for a body that has none, trailers, and a
// Connection: close the server adds for a request body it did not read.
func netHTTPHead(r *http.Request, rec *responseRecorder, status int) int64 {
	h := rec.Header()
	var n int64
	switch {
	case rec.statusLine != "":
		n = int64(len("HTTP/1.1 ")+len(rec.statusLine)) + 2
	case status >= 100 && status <= 999:
		n = int64(len(h1guard.StatusLine(status)))
	default:
		n = int64(len("HTTP/1.1 000 \r\n"))
	}
	withBody := bodyAllowed(status)
	for k, vs := range h {
		if !withBody && (k == "Content-Length" || k == "Transfer-Encoding" || k == "Content-Type" && status == http.StatusNotModified) {
			continue // suppressed by the server
		}
		for _, v := range vs {
			n += int64(len(k)+2+len(v)) + 2
		}
	}
	if _, ok := h["Date"]; !ok {
		n += int64(dateLine)
	}
	head := r.Method == http.MethodHead
	hasLength := firstValue(h, "Content-Length") != ""
	if !hasLength && withBody && !rec.flushed && rec.bytes <= netHTTPHeld && (!head || rec.bytes > 0) {
		n += int64(len("Content-Length: \r\n") + decimalLen(rec.bytes))
		hasLength = true
	}
	_, ownConnection := h["Connection"]
	switch {
	case r.ProtoMinor == 0:
		if !r.Close && (hasLength || head || !withBody) && !ownConnection {
			n += int64(keepAliveLine)
		}
	case r.Close && !headerHasToken(h["Connection"], "close"):
		n += int64(closeLine)
	}
	if r.ProtoMinor >= 1 && !hasLength && !head && withBody {
		n += int64(chunkedLine + len(lastChunk))
	}
	return n + 2
}

// decimalLen is the number of decimal digits of n >= 0.
func decimalLen(n int64) int {
	d := 1
	for ; n >= 10; n /= 10 {
		d++
	}
	return d
}

// lastChunk ends a chunked body.
const lastChunk = "0\r\n\r\n"

// HTTP/2 frames as nginx 1.22 sends a response (ngx_http_v2_filter_module),
// whose $bytes_sent counts each frame it queues, its 9-byte header and its
// payload, and whose $body_bytes_sent the DATA payloads only.
const (
	h2FrameHeader = 9
	// h2ProxiedFrame is the most body a DATA frame of a proxied response
	// carries under ingress-nginx's proxy-buffering off: the upstream's
	// bytes go out as read into a proxy-buffer-size buffer (4k).
	h2ProxiedFrame = 4096
	// h2OwnFrame is the most body a DATA frame of nginx's own page
	// carries (the default SETTINGS_MAX_FRAME_SIZE).
	h2OwnFrame = 16384
	// h2Date is nginx's date field: an indexed name, a length and the
	// Huffman-coded date (22 bytes, 21 or 23 for some digits).
	h2Date = 24
)

// http2Sent is nginx's $bytes_sent of an HTTP/2 response, estimated as
// nginx 1.22 would frame rec's: a HEADERS frame with http2Block's HPACK
// block, which ends the stream when there is no body (HEAD, 1xx, 204,
// 304, a Content-Length of 0), then DATA frames. A proxied answer,
// ingress-nginx's internal default backend's 404 included, comes in
// frames of up to h2ProxiedFrame bytes and an empty one that ends the
// stream; nginx's own page in frames of up to h2OwnFrame, the last ending
// the stream. The figure is nginx's for the same header and body: within
// a byte or two (the date's Huffman code), and 9 bytes a frame off when
// the upstream's reads split the body otherwise (nginx 1.22.1 sent
// "xxxxxxxxxx" and "xxxxxxxxxxx" of a chunked upstream in one frame or
// two, run after run). Weir's own HTTP/2 framing (net/http's) is not what
// it counts.
func http2Sent(r *http.Request, ex *exchange, rec *responseRecorder, status int) int64 {
	h := rec.Header()
	n := int64(h2FrameHeader) + http2Block(h, status)
	body := rec.bytes
	if r.Method == http.MethodHead || !bodyAllowed(status) || body == 0 && firstValue(h, "Content-Length") == "0" {
		return n
	}
	if ex.upstream != nil || ex.route != nil && defaultUpstream(ex.route) {
		return n + body + h2FrameHeader*((body+h2ProxiedFrame-1)/h2ProxiedFrame+1)
	}
	return n + body + h2FrameHeader*max((body+h2OwnFrame-1)/h2OwnFrame, 1)
}

// bodyAllowed reports whether a response of status has a body.
func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// http2Block is the HPACK block nginx 1.22 writes for header h and status
// (ngx_http_v2_header_filter): :status indexed (one byte) when HPACK's
// static table has it, else a literal of 5 bytes; its date; the fields
// nginx keeps apart (Content-Type, Content-Length, Last-Modified, Server,
// Date) with the static table's name, the others (Location among them)
// with a literal lower-case name; every string Huffman-coded when that is
// shorter, and no field indexed (nginx adds none to the dynamic table).
// nginx 1.22.1 wrote the block of a relayed 301 in 108 bytes: ":status"
// 5, "date" 24, "content-length: 0" 3, "location" 30 and
// "strict-transport-security" 46, as this counts them.
func http2Block(h http.Header, status int) int64 {
	var n int64 = 5
	switch status {
	case 200, 204, 206, 304, 400, 404, 500:
		n = 1
	}
	if _, ok := h["Date"]; !ok {
		n += h2Date
	}
	for k, vs := range h {
		for _, v := range vs {
			switch k {
			case "Content-Type", "Content-Length", "Last-Modified", "Server", "Date":
				n += 1 + hpackString(v, false)
			default:
				n += 1 + hpackString(k, true) + hpackString(v, false)
			}
		}
	}
	return n
}

// huffmanBits is the length in bits of each byte's HPACK Huffman code.
var huffmanBits = func() (t [256]uint8) {
	var eight [8]byte
	for c := range t {
		for i := range eight {
			eight[i] = byte(c)
		}
		t[c] = uint8(hpack.HuffmanEncodeLength(string(eight[:]))) // 8 codes of n bits: n bytes
	}
	return t
}()

// hpackString is the bytes of s as an HPACK string literal, as nginx
// writes it: Huffman-coded when that is shorter, lower-cased when lower
// (a field name); its length's prefix counted.
func hpackString(s string, lower bool) int64 {
	var bits int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if lower && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		bits += int64(huffmanBits[c])
	}
	n := (bits + 7) / 8
	if n >= int64(len(s)) {
		n = int64(len(s))
	}
	return n + hpackIntLen(n, 7)
}

// hpackIntLen is the bytes of n as an HPACK integer with a prefix of
// prefix bits.
func hpackIntLen(n int64, prefix uint) int64 {
	limit := int64(1)<<prefix - 1
	if n < limit {
		return 1
	}
	l := int64(1)
	for n -= limit; n >= 128; n >>= 7 {
		l++
	}
	return l + 1
}

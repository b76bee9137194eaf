package h1server

import (
	"bufio"
	"errors"
	"math/bits"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/weir-lb/weir/l7/h1guard"
)

// bufferSize is the response bytes held before a write: a response this
// small, head and body, goes out in one write once the handler returns.
const bufferSize = 4096

// response is the http.ResponseWriter of a connection, reused request
// after request.
type response struct {
	c      *conn
	req    *http.Request
	header http.Header

	status      int
	wroteHeader bool // WriteHeader was called (a final status)
	headSent    bool // the head is in out (or went out)
	chunking    bool
	noBody      bool  // HEAD, 1xx, 204, 304: the body is dropped
	clen        int64 // declared Content-Length, -1: none
	written     int64
	framing     int64 // chunk-size lines and CRLFs written of the body (BodyFraming)
	headLen     int64 // bytes of the final head sendHead wrote (HeadSent)
	// held: HeadSent composed the head, which only finish, once the
	// handler returned, sends; a handler that aborts (panics) after it
	// sends nothing, and a Write, Flush or Hijack after it is refused.
	held        bool
	continued   bool // the 100 Continue was sent (BodyFraming)
	closeAfter  bool
	wantsClose  bool
	keepAlive10 bool
	trailers    []string // declared in the Trailer header
	// relayed is the next status line's text after "HTTP/1.1 ", as
	// SetStatusLine set it ("": the server's own for the code).
	relayed string
	// order is SetFieldOrder's copy, for the next head (empty: none), in
	// bufs' array while it holds it.
	order []FieldName
	// absLocation is SetAbsoluteLocation's: the Location field goes
	// before Transfer-Encoding and Connection (rankLocation).
	absLocation bool
	// listedLength is SetListedLength's: the Content-Length field is
	// placed as the fields after nginx's own are.
	listedLength bool

	pre    []byte      // body written before the head was (bufferSize at most)
	out    []byte      // bytes to write to the client
	bufs   *outBuffer  // pre's, out's and order's arrays, from outBuffers; nil between requests
	fields []headField // the header's fields, as scanHeader found them
}

// headField is a field of the response header: its name and values as the
// map holds them, which of the fields sendHead may drop or writes first it
// is, where it goes in the head (rank) and the name it is written with.
type headField struct {
	name string
	wire string
	vv   []string
	kind fieldKind
	rank uint32
}

// fieldKind names the fields sendHead may drop (Del) by their canonical
// names, and those nginx writes before the others; fieldOther is any
// other.
type fieldKind uint8

const (
	fieldOther fieldKind = iota
	fieldContentLength
	fieldTransferEncoding
	fieldConnection
	fieldContentType
	fieldServer
	fieldDate
)

// Ranks of the fields in a head, ngx_http_header_filter's order: nginx's
// own fields first (rankOf, with a Location nginx made absolute at
// rankLocation), then gzip's Vary (rankVary), then those SetFieldOrder
// named from rankOrdered on, in its order, then the rest (rankRest) by
// name, and last gzip's Content-Encoding (rankLast).
const (
	rankLocation = 5
	rankVary     = 8
	rankOrdered  = 9
	rankRest     = 1 << 30
	rankLast     = rankRest + 1
)

// rankOf is where a field of kind k goes among nginx's own: Server, Date,
// Content-Type, Content-Length, Transfer-Encoding, Connection.
var rankOf = [...]uint32{
	fieldServer:           1,
	fieldDate:             2,
	fieldContentType:      3,
	fieldContentLength:    4,
	fieldTransferEncoding: 6,
	fieldConnection:       7,
	fieldOther:            rankRest,
}

// FieldName is a response header field's key in the header map (its
// canonical name, Name) and the name the client gets it with: Wire, or
// Name when Wire is "".
type FieldName struct{ Name, Wire string }

var (
	_ http.Flusher  = (*response)(nil)
	_ http.Hijacker = (*response)(nil)
)

func (w *response) reset(req *http.Request, wantsClose, keepAlive10 bool) {
	clear(w.header)
	// Zeroed in place, then set: a literal with fields is built in a
	// stack temporary (232 bytes, zeroed) and copied over.
	c, header, pre, out, bufs, fields, trailers, order := w.c, w.header, w.pre[:0], w.out[:0], w.bufs, w.fields[:0], w.trailers[:0], w.order[:0]
	*w = response{}
	w.c, w.req, w.header, w.clen, w.wantsClose, w.keepAlive10 = c, req, header, -1, wantsClose, keepAlive10
	w.pre, w.out, w.bufs, w.fields, w.trailers, w.order = pre, out, bufs, fields, trailers, order
}

// SetStatusLine sets the text of the next status line written after
// "HTTP/1.1 ", code and reason ("200 Custom Text"), as nginx relays an
// upstream's status line (ngx_http_proxy_process_status_line: its
// headers_out.status_line) instead of writing its own for the code. It
// applies to the next WriteHeader (a 1xx's or the final one) when line
// starts with that call's code, followed by a space or nothing; else, and
// by default, the status line is nginx's own (h1guard.StatusLine). A CR or
// LF in line is written as a space. The proxy finds it with a type
// assertion: it is no part of http.ResponseWriter.
func (w *response) SetStatusLine(line string) { w.relayed = line }

// SetAbsoluteLocation has the Location field written where nginx writes
// a Location it made absolute itself (ngx_http_header_filter under
// absolute_redirect: the "/" target of a return, of a location's
// auto-redirect, or of proxy_redirect's rewrite): after Content-Length,
// before Transfer-Encoding and Connection, instead of among the fields
// that follow them. It applies to the response's heads. The proxy finds
// it with a type assertion: it is no part of http.ResponseWriter.
func (w *response) SetAbsoluteLocation() { w.absLocation = true }

// SetListedLength has the Content-Length field written among the fields
// that follow nginx's own, at its place in SetFieldOrder's order (else by
// name), instead of after Content-Type: where nginx writes a
// Content-Length that more_set_headers added to a response of its own
// (ingress-nginx's CORS preflight, "Content-Length: 0" before "return
// 204"; nginx 1.22.1 wrote it after the Access-Control-* lines). It
// applies to the response's heads. The proxy finds it with a type
// assertion: it is no part of http.ResponseWriter.
func (w *response) SetListedLength() { w.listedLength = true }

// SetFieldOrder has the next head's fields written in the order and with
// the names nginx relays an upstream's (ngx_http_header_filter): first
// nginx's own fields, Server, Date, Content-Type, Content-Length,
// Transfer-Encoding and Connection, with their canonical names; then the
// header's fields named in order, in that order (a name given twice at its
// first place, all its values together) and spelled as order says; then
// the fields order does not name, by name. Without it, and for the fields
// it does not name, the fields after nginx's own are written by name, with
// the names nginx gives those it writes itself (WWW-Authenticate, ETag:
// wireName) or their keys. order is copied; it applies to the next head
// only. The proxy finds it with a type assertion: it is no part of
// http.ResponseWriter.
func (w *response) SetFieldOrder(order []FieldName) {
	if len(order) > maxOrder && cap(w.order) <= maxOrder {
		w.order = make([]FieldName, 0, len(order)) // not the pooled array's
	}
	w.order = append(w.order[:0], order...)
}

// lastChunk is what finish writes after a chunked body without trailers;
// continueLine what writeContinue sends.
const (
	lastChunk    = "0\r\n\r\n"
	continueLine = "HTTP/1.1 100 Continue\r\n\r\n"
)

// BodyFraming returns the bytes the client gets besides the response's
// head and body data, which nginx's $body_bytes_sent counts (the bytes
// sent on the connection less the head's): the 100 Continue sent for the
// request, and the chunked framing of the body, its chunk-size lines and
// CRLFs and the last chunk finish writes (trailer fields not counted).
// Before the head is sent, the body held is counted as the one chunk it
// becomes when the handler set Transfer-Encoding: chunked for an HTTP/1.1
// client; without it the head gets a Content-Length once the handler
// returns. The proxy finds it with a type assertion: it is no part of
// http.ResponseWriter.
func (w *response) BodyFraming() int64 {
	var n int64
	if w.continued {
		n = int64(len(continueLine))
	}
	return n + w.chunkFraming()
}

// chunkFraming is BodyFraming's chunked framing; 0 for a body that is not
// chunked.
func (w *response) chunkFraming() int64 {
	if w.headSent {
		if !w.chunking {
			return 0
		}
		return w.framing + int64(len(lastChunk))
	}
	te := w.header["Transfer-Encoding"]
	if len(te) == 0 || te[0] != "chunked" || w.req.ProtoMinor < 1 || w.req.Method == http.MethodHead ||
		!bodyAllowed(w.status) || w.status == http.StatusNoContent {
		return 0
	}
	n := int64(len(lastChunk))
	if len(w.pre) > 0 {
		n += int64(bits.Len(uint(len(w.pre)))+3)/4 + 4 // its size in hex, two CRLFs
	}
	return n
}

// RequestFraming returns the bytes the client sent of the request that
// are not body data: its head as received and the chunked framing of its
// body read so far (chunk-size lines, CRLFs, trailer), so that the proxy's
// $request_length counts them as nginx's does (the bytes read of the
// request). The proxy finds it with a type assertion: it is no part of
// http.ResponseWriter.
func (w *response) RequestFraming() int64 { return w.c.headLen + w.c.body.framing.Load() }

// errHeadHeld refuses a Write, Flush or Hijack after HeadSent composed the
// head.
var errHeadHeld = errors.New("h1server: response written after HeadSent")

// HeadSent returns the bytes of the response's final head as written:
// its status line, every field line, those the server adds itself (Date,
// Content-Type, Content-Length, Transfer-Encoding, Connection) included,
// and the blank line; with the body data and BodyFraming's bytes they are
// the bytes the client gets, which nginx's $bytes_sent counts. A head not
// written yet (a body small enough to be held, or none) is composed now,
// with the body held, as it is once the handler returns: call it when the
// handler writes nothing more (the proxy does as it logs the request, also
// as a panic, http.ErrAbortHandler, goes by): such a head is held for the
// handler's return, the only way it reaches the client; the exchange of a
// handler that panics gets none of it, and a later Write, Flush or Hijack
// is refused with an error. 0 after Hijack when no head was written. The
// proxy finds it with a type assertion: it is no part of
// http.ResponseWriter.
func (w *response) HeadSent() int64 {
	if !w.headSent && !w.c.hijacked {
		if !w.wroteHeader {
			w.WriteHeader(http.StatusOK)
		}
		w.sendHead(true)
		w.held = true
	}
	return w.headLen
}

// Header returns the response header map.
func (w *response) Header() http.Header { return w.header }

// WriteHeader sends a 1xx at once, else sets the status of the response.
func (w *response) WriteHeader(code int) {
	if w.c.hijacked || w.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic("invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		w.writeInterim(code)
		return
	}
	w.wroteHeader = true
	w.status = code
	// The canonical name indexes the map as Get and Del would, without
	// canonicalising it again.
	if cl := first(w.header["Content-Length"]); cl != "" {
		if v, err := parseContentLength(cl); err == nil && v >= 0 {
			w.clen = v
		} else {
			w.c.srv.logf("http: invalid Content-Length of %q", cl)
			delete(w.header, "Content-Length")
		}
	}
}

// parseContentLength is strconv.ParseInt(cl, 10, 64): up to 18 digits,
// which cannot overflow, summed by h1guard.ParseLength (some 110
// instructions fewer than ParseInt for a short length), anything else (a
// sign, more digits, other bytes) by ParseInt itself.
func parseContentLength(cl string) (int64, error) {
	if v, ok := h1guard.ParseLength(cl); ok {
		return v, nil
	}
	return strconv.ParseInt(cl, 10, 64)
}

// writeInterim sends a 1xx response with the header set so far. A 100
// Continue counts in BodyFraming as writeContinue's does: the proxy sends
// one to a request without a body, which nginx counts in $body_bytes_sent.
func (w *response) writeInterim(code int) {
	if code == http.StatusContinue {
		w.c.body.expect = false
		w.continued = true
	}
	b := w.statusLine(w.out, code)
	w.scanHeader()
	b, _ = w.appendFields(b, 0, rankLast, 0, false)
	w.out = append(b, "\r\n"...)
	_ = w.flushOut()
}

// writeContinue answers Expect: 100-continue before the first body read,
// unless the response began.
func (w *response) writeContinue() {
	if w.wroteHeader || w.c.werr != nil {
		return
	}
	w.out = append(w.out, continueLine...)
	w.continued = true
	_ = w.flushOut()
}

// Write writes body bytes, after the head with status 200 if none was set.
func (w *response) Write(p []byte) (int, error) {
	if w.c.hijacked {
		return 0, http.ErrHijacked
	}
	if w.held {
		return 0, errHeadHeld
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	w.written += int64(len(p))
	if w.clen != -1 && w.written > w.clen {
		return 0, http.ErrContentLength
	}
	if !w.headSent {
		if len(w.pre)+len(p) <= bufferSize {
			w.pre = append(w.pre, p...)
			return len(p), nil
		}
		w.sendHead(false)
	}
	if w.noBody {
		return len(p), nil
	}
	if err := w.body(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// body appends p to the output, framed, writing when it is full.
func (w *response) body(p []byte) error {
	if w.c.werr != nil {
		return w.c.werr
	}
	if w.chunking {
		n := len(w.out)
		w.out = strconv.AppendInt(w.out, int64(len(p)), 16)
		w.out = append(w.out, "\r\n"...)
		w.framing += int64(len(w.out)-n) + 2 // and the chunk's closing CRLF
	}
	if len(w.out)+len(p) <= bufferSize {
		w.out = append(w.out, p...)
	} else {
		if err := w.writev(p); err != nil {
			return err
		}
	}
	if w.chunking {
		w.out = append(w.out, "\r\n"...)
	}
	return nil
}

// writev writes the output then p, in one system call on a TCP connection.
func (w *response) writev(p []byte) error {
	if len(w.out) == 0 {
		return w.write(p)
	}
	var err error
	if w.c.clearWriteDeadline(); w.c.wdlPend.Load() {
		_, err = w.c.write(w.out, p) // sockwrite.go
	} else {
		bufs := net.Buffers{w.out, p}
		_, err = bufs.WriteTo(w.c.rwc)
	}
	w.out = w.out[:0]
	return w.fail(err)
}

func (w *response) write(p []byte) error {
	if w.c.werr != nil {
		return w.c.werr
	}
	var err error
	if w.c.clearWriteDeadline(); w.c.wdlPend.Load() {
		_, err = w.c.write(p, nil) // sockwrite.go
	} else {
		_, err = w.c.rwc.Write(p)
	}
	return w.fail(err)
}

func (w *response) fail(err error) error {
	if err != nil && w.c.werr == nil {
		w.c.werr = err
		w.c.cancel()
	}
	return err
}

// flushOut writes the output held.
func (w *response) flushOut() error {
	if len(w.out) == 0 {
		return w.c.werr
	}
	err := w.write(w.out)
	w.out = w.out[:0]
	return err
}

// Flush sends the head and the body written so far.
func (w *response) Flush() { _ = w.FlushError() }

// FlushError is Flush, with the write's error.
func (w *response) FlushError() error {
	if w.c.hijacked {
		return http.ErrHijacked
	}
	if w.held {
		return errHeadHeld
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.headSent {
		w.sendHead(false)
	}
	return w.flushOut()
}

// Hijack hands the connection over (a protocol upgrade).
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.c.hijacked {
		return nil, nil, http.ErrHijacked
	}
	if w.held {
		return nil, nil, errHeadHeld
	}
	if w.wroteHeader && !w.headSent {
		w.sendHead(false)
	}
	if err := w.flushOut(); err != nil {
		return nil, nil, err
	}
	return w.c.hijack()
}

// SetReadDeadline sets the connection's read deadline
// (http.ResponseController).
func (w *response) SetReadDeadline(t time.Time) error { return w.c.rwc.SetReadDeadline(t) }

// Started returns the request's start as the Server read the clock at
// the wake that found its head's first bytes (time.Now's, with its
// monotonic reading), as nginx's $request_time counts from the time it
// cached at that wake; zero when the Server read none for it (the
// connection's first request, one that came behind another, or any not
// read armed): the handler reads the clock itself.
func (w *response) Started() time.Time { return w.c.armed.start }

// PeerAddr returns parse(remote), for the request's RemoteAddr as the
// handler reads it (a client address's text and its parse, say): for the
// connection's address, computed once per connection. parse must depend on
// its argument alone, be the same function for every call, and return a
// text found in its argument.
func (w *response) PeerAddr(remote string, parse func(string) (string, netip.Addr)) (string, netip.Addr) {
	c := w.c
	if remote != c.remote {
		return parse(remote)
	}
	if !c.peerSet {
		text, a := parse(remote)
		i := 0 // l7/proxy's text of "a.b.c.d:port" is a prefix
		if !strings.HasPrefix(remote, text) {
			i = strings.Index(remote, text)
		}
		if i < 0 || i+len(text) > 255 {
			return text, a // no memo: parsed each request
		}
		c.peer, c.peerLo, c.peerHi, c.peerSet = a, uint8(i), uint8(i+len(text)), true
	}
	return c.remote[c.peerLo:c.peerHi], c.peer
}

// SetWriteDeadline sets the connection's write deadline
// (http.ResponseController).
func (w *response) SetWriteDeadline(t time.Time) error { return w.c.setWriteDeadline(t) }

// EnableFullDuplex is a no-op: the body stays readable while the response is
// written, as net/http's full duplex mode.
func (w *response) EnableFullDuplex() error { return nil }

// finish completes the response once the handler returned.
func (w *response) finish() {
	w.held = false // the handler returned: a head HeadSent composed goes out
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.headSent {
		w.sendHead(true)
	}
	if w.clen != -1 && w.written < w.clen && !w.noBody {
		// A short body: the client would wait for the rest.
		w.closeAfter = true
	}
	if w.chunking {
		w.out = append(w.out, "0\r\n"...)
		w.out = w.appendTrailers(w.out)
		w.out = append(w.out, "\r\n"...)
	}
	_ = w.flushOut()
	if cap(w.out) > 2*bufferSize {
		w.out = nil // a large head is not kept by an idle connection
	}
}

// sendHead puts the head and the body held before it in the output, with
// net/http's rules for Content-Length, chunking, Date, Content-Type and
// Connection. done: the handler returned, the body held is all of it.
//
// The header is read in one pass (scanHeader): each field net/http's rules
// look at is found under its canonical name, as Get finds it, and a field
// they drop is deleted from the map under that name, as Del deletes it.
func (w *response) sendHead(done bool) {
	w.headSent = true
	h := w.header
	p := w.pre
	isHEAD := w.req.Method == http.MethodHead
	code := w.status
	var setCL, setConn, setTE, setCT string

	sc := w.scanHeader()
	trailers := sc.trailerPrefix
	for _, v := range sc.trailer {
		trailers = true
		for part := range strings.SplitSeq(v, ",") {
			if k := http.CanonicalHeaderKey(strings.Trim(part, " \t")); k != "" {
				switch k {
				case "Transfer-Encoding", "Trailer", "Content-Length":
				default:
					w.trailers = append(w.trailers, k)
				}
			}
		}
	}
	var dropped uint8 // 1<<fieldKind of the fields deleted
	drop := func(k fieldKind, name string) {
		if sc.has&(1<<k) != 0 {
			delete(h, name)
			sc.has &^= 1 << k
			dropped |= 1 << k
		}
	}
	te := first(sc.te)
	hasTE := te != ""
	if done && !trailers && !hasTE && bodyAllowed(code) && first(sc.cl) == "" && (!isHEAD || len(p) > 0) {
		w.clen = int64(len(p))
		setCL = strconv.Itoa(len(p))
	}
	keepAlives := w.c.srv.keepAlives()
	if w.keepAlive10 && keepAlives && (first(sc.cl) != "" || setCL != "") && first(sc.conn) == "keep-alive" {
		w.closeAfter = false
	}
	hasCL := w.clen != -1
	if w.keepAlive10 && (isHEAD || hasCL || !bodyAllowed(code)) {
		if sc.has&(1<<fieldConnection) == 0 {
			setConn = "keep-alive"
		}
	} else if w.req.ProtoMinor == 0 || w.wantsClose {
		w.closeAfter = true
	}
	if first(sc.conn) == "close" || !keepAlives {
		w.closeAfter = true
	}
	if w.c.body.expect {
		// The client was not told to send its body.
		w.closeAfter = true
	}
	if w.req.ContentLength != 0 && !w.closeAfter {
		// The rest of an unread body is read away after the response, as
		// nginx's discarded body (conn.serveRequest): waiting for it here
		// would hold the response back for as long as the client stalls.
		if !w.c.body.discardable(maxPostHandlerReadBytes) {
			w.closeAfter = true
			drop(fieldConnection, "Connection")
			sc.conn = nil
			setConn = "close"
		}
	}
	if bodyAllowed(code) {
		if first(sc.ce) == "" && sc.has&(1<<fieldContentType) == 0 && !hasTE && len(p) > 0 {
			setCT = http.DetectContentType(p)
		}
	} else {
		// A 304 keeps the Content-Type and Content-Length it was given (the
		// representation's, RFC 9110 section 8.6), as nginx relays an
		// upstream's where net/http drops them; a 1xx has no length. A 204
		// keeps a "Content-Length: 0", as nginx sends one: an upstream's
		// (its header filter keeps a relayed status line's fields) and
		// more_set_headers' on its own "return 204" (ingress-nginx's CORS
		// preflight); another length of a 204 is dropped, where nginx
		// would relay a length no body follows.
		if code != http.StatusNotModified && (code != http.StatusNoContent || first(sc.cl) != "0") {
			drop(fieldContentLength, "Content-Length")
		}
		drop(fieldTransferEncoding, "Transfer-Encoding")
		hasTE = false
	}
	if hasCL && hasTE && te != "identity" {
		drop(fieldContentLength, "Content-Length")
		hasCL = false
	}
	switch {
	case isHEAD || !bodyAllowed(code) || code == http.StatusNoContent:
		w.noBody = true
		drop(fieldTransferEncoding, "Transfer-Encoding")
	case hasCL:
		drop(fieldTransferEncoding, "Transfer-Encoding")
	case w.req.ProtoMinor >= 1:
		if hasTE && te == "identity" {
			w.closeAfter = true
			drop(fieldTransferEncoding, "Transfer-Encoding")
		} else {
			w.chunking = true
			setTE = "chunked"
			if hasTE && te == "chunked" {
				drop(fieldTransferEncoding, "Transfer-Encoding")
			}
		}
	default:
		w.closeAfter = true
		drop(fieldTransferEncoding, "Transfer-Encoding")
	}
	if w.chunking && code == http.StatusNoContent {
		w.chunking = false
		setTE = ""
	}
	if w.closeAfter && (!keepAlives || !hasToken(sc.conn, "close")) {
		// HTTP/1.0 too, where close is the default: nginx says it to
		// every client whose connection it closes (ngx_http_header_filter).
		drop(fieldConnection, "Connection")
		setConn = "close"
	} else if !w.closeAfter && setConn == "" && sc.has&(1<<fieldConnection) == 0 {
		// An HTTP/1.1 client is told too that its connection stays open,
		// as nginx tells every client it keeps (ngx_http_header_filter:
		// r->keepalive).
		setConn = "keep-alive"
	}

	// ngx_http_header_filter's order: Server, Date, Content-Type,
	// Content-Length, Transfer-Encoding, Connection, then the rest.
	start := len(w.out)
	b := w.statusLine(w.out, code)
	b, i := w.appendFields(b, 0, rankOf[fieldServer], dropped, true)
	if !sc.date {
		b = append(b, "Date: "...)
		b = appendDateNow(b)
		b = append(b, "\r\n"...)
	}
	b, i = w.appendFields(b, i, rankOf[fieldContentType], dropped, true)
	if setCT != "" {
		b = append(append(append(b, "Content-Type: "...), setCT...), "\r\n"...)
	}
	b, i = w.appendFields(b, i, rankOf[fieldContentLength], dropped, true)
	if setCL != "" {
		b = append(append(append(b, "Content-Length: "...), setCL...), "\r\n"...)
	}
	b, i = w.appendFields(b, i, rankOf[fieldTransferEncoding], dropped, true)
	if setTE != "" {
		b = append(append(append(b, "Transfer-Encoding: "...), setTE...), "\r\n"...)
	}
	b, i = w.appendFields(b, i, rankOf[fieldConnection], dropped, true)
	if setConn != "" {
		b = append(append(append(b, "Connection: "...), setConn...), "\r\n"...)
	}
	b, _ = w.appendFields(b, i, rankLast, dropped, true)
	w.out = append(b, "\r\n"...)
	w.headLen = int64(len(w.out) - start)
	w.pre = w.pre[:0]
	if len(p) > 0 && !w.noBody {
		_ = w.body(p)
	}
}

// headerScan is what sendHead reads of the header: the values of the
// fields net/http's rules look at, under their canonical names (nil: no
// such key), and which keys are there.
type headerScan struct {
	cl, te, conn, ce, trailer []string
	has                       uint8 // 1<<fieldKind of the droppable fields present
	date                      bool  // a Date key, even with no value
	trailerPrefix             bool  // a key with http.TrailerPrefix
}

// scanHeader puts the header's fields in w.fields in the order they are
// written (SetFieldOrder), each with the name it is written with, and
// returns what sendHead reads of them: one pass over the map, no lookup.
func (w *response) scanHeader() headerScan {
	var sc headerScan
	fields := w.fields[:0]
	for k, vv := range w.header {
		kind := fieldOther
		switch k {
		case "Content-Length":
			kind, sc.cl = fieldContentLength, vv
		case "Transfer-Encoding":
			kind, sc.te = fieldTransferEncoding, vv
		case "Connection":
			kind, sc.conn = fieldConnection, vv
		case "Content-Type":
			kind = fieldContentType
		case "Content-Encoding":
			sc.ce = vv
		case "Trailer":
			sc.trailer = vv
		case "Date":
			kind, sc.date = fieldDate, true
		case "Server":
			kind = fieldServer
		default:
			if strings.HasPrefix(k, http.TrailerPrefix) {
				sc.trailerPrefix = true
			}
		}
		if kind != fieldOther {
			sc.has |= 1 << kind
		}
		f := headField{name: k, wire: k, vv: vv, kind: kind, rank: rankOf[kind]}
		if kind == fieldOther || kind == fieldContentLength && w.listedLength {
			f.rank, f.wire = w.place(k)
		}
		fields = append(fields, f)
	}
	// By insertion: a head's few fields cost fewer moves than
	// slices.SortFunc's calls.
	for i := 1; i < len(fields); i++ {
		f := fields[i]
		j := i
		for ; j > 0 && (fields[j-1].rank > f.rank || fields[j-1].rank == f.rank && fields[j-1].name > f.name); j-- {
			fields[j] = fields[j-1]
		}
		fields[j] = f
	}
	w.fields = fields
	return sc
}

// place returns the rank and name of the field k that is not one of
// nginx's own: its place and spelling in w.order, else rankRest and
// wireName's. A Vary or Content-Encoding not in w.order is the
// compression's, which nginx writes after Connection (gzip_vary's line)
// and after every other field (the gzip filter's, which runs after
// add_header and more_set_headers).
func (w *response) place(k string) (uint32, string) {
	if w.absLocation && k == "Location" {
		return rankLocation, k
	}
	for i, o := range w.order {
		if o.Name == k {
			if o.Wire != "" {
				return rankOrdered + uint32(i), o.Wire
			}
			return rankOrdered + uint32(i), k
		}
	}
	switch k {
	case "Vary":
		return rankVary, k
	case "Content-Encoding":
		return rankLast, k
	}
	return rankRest, wireName(k)
}

// WireName is the name nginx writes the field k (canonical) with when it
// sets the field itself or a configuration names it (wireName): the proxy
// names Weir's own fields so in SetFieldOrder's order.
func WireName(k string) string { return wireName(k) }

// wireName is the name nginx writes the field k (canonical) with when it
// sets the field itself or a configuration names it, where that is not k:
// WWW-Authenticate (auth_basic and auth_request's challenge), ETag, and
// the usual spellings of fields an add-headers ConfigMap sets.
func wireName(k string) string {
	switch k {
	case "Www-Authenticate":
		return "WWW-Authenticate"
	case "Etag":
		return "ETag"
	case "X-Xss-Protection":
		return "X-XSS-Protection"
	case "X-Ua-Compatible":
		return "X-UA-Compatible"
	case "X-Dns-Prefetch-Control":
		return "X-DNS-Prefetch-Control"
	case "X-Request-Id":
		return "X-Request-ID"
	case "Content-Md5":
		return "Content-MD5"
	}
	return k
}

// first is the first of vv, or "": Header.Get's value.
func first(vv []string) string {
	if len(vv) == 0 {
		return ""
	}
	return vv[0]
}

// statusLine appends the status line of code: HTTP/1.1 whatever the
// request's version, as nginx's ngx_http_header_filter writes it (an
// HTTP/1.0 client reads a 1.1 status line: RFC 9110 section 6.2, the
// server's own version), with the text SetStatusLine set when it is
// code's, else nginx's own for code. The text set is used once.
func (w *response) statusLine(b []byte, code int) []byte {
	line := w.relayed
	w.relayed = ""
	if len(line) >= 3 && line[0] == byte('0'+code/100) && line[1] == byte('0'+code/10%10) &&
		line[2] == byte('0'+code%10) && (len(line) == 3 || line[3] == ' ') {
		b = append(b, "HTTP/1.1 "...)
		b = appendValue(b, line)
		return append(b, "\r\n"...)
	}
	return append(b, h1guard.StatusLine(code)...)
}

// appendFields appends the fields scanHeader found from the i-th on, up
// to the first whose rank is past upTo, but those dropped (1<<fieldKind)
// and, when noTrailers, the TrailerPrefix ones; it returns the index of
// the first field it did not reach.
func (w *response) appendFields(b []byte, i int, upTo uint32, dropped uint8, noTrailers bool) ([]byte, int) {
	for ; i < len(w.fields); i++ {
		f := &w.fields[i]
		if f.rank > upTo {
			break
		}
		if dropped&(1<<f.kind) != 0 || noTrailers && strings.HasPrefix(f.name, http.TrailerPrefix) {
			continue
		}
		b = appendField(b, f.wire, f.vv)
	}
	return b, i
}

// appendField appends the lines of name's values, each with its newlines
// made spaces, as net/http writes them; an invalid name is left out.
func appendField(b []byte, name string, vv []string) []byte {
	if !commonName(name) && !h1guard.ValidFieldName(name) {
		return b
	}
	for _, v := range vv {
		if len(v) > 0 && (mayTrim(v[0]) || mayTrim(v[len(v)-1])) {
			v = strings.TrimSpace(v)
		}
		b = append(b, name...)
		b = append(b, ": "...)
		b = appendValue(b, v)
		b = append(b, "\r\n"...)
	}
	return b
}

// mayTrim reports whether strings.TrimSpace may trim a value that starts
// or ends with c: an ASCII space or control byte, or a byte of a
// multi-byte rune (a Unicode space). A value whose two ends are neither is
// its own TrimSpace, and most are, so appendField calls it only for the
// others.
func mayTrim(c byte) bool { return c <= ' ' || c >= utf8.RuneSelf }

// commonName reports whether name is one of the names responses carry
// most, all valid tokens (TestCommonNames): appendField need not check
// them byte by byte. A switch on a string compares its length first.
func commonName(name string) bool {
	switch name {
	case "Content-Length", "Content-Type", "Date", "Server", "Connection", "Keep-Alive", "Last-Modified", "Etag",
		"Cache-Control", "Accept-Ranges", "Vary", "Location", "Set-Cookie", "Expires", "Strict-Transport-Security":
		return true
	}
	return false
}

// appendValue appends v with CR and LF made spaces: its runs without them
// in one copy each, not byte by byte. Its leading bytes are searched eight
// at a time for one under 0x0e (CR and LF are 0x0d and 0x0a), byte by byte
// from the first word that has one.
func appendValue(b []byte, v string) []byte {
	i := 0
	for i+8 <= len(v) && !h1guard.HasByteUnder(h1guard.Word(v, i), 0x0e) {
		i += 8
	}
	for {
		for i < len(v) && v[i] != '\r' && v[i] != '\n' {
			i++
		}
		b = append(b, v[:i]...)
		if i == len(v) {
			return b
		}
		b = append(b, ' ')
		v, i = v[i+1:], 0
	}
}

// appendTrailers appends the trailer fields after the last chunk: the
// declared names' values and the TrailerPrefix ones.
func (w *response) appendTrailers(b []byte) []byte {
	for _, k := range w.trailers {
		if vv := w.header[k]; len(vv) > 0 {
			b = appendField(b, k, vv)
		}
	}
	for k, vv := range w.header {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
			b = appendField(b, name, vv)
		}
	}
	return b
}

// bodyAllowed reports whether a response with status code may have a body.
func bodyAllowed(code int) bool {
	switch {
	case code >= 100 && code <= 199:
		return false
	case code == http.StatusNoContent, code == http.StatusNotModified:
		return false
	}
	return true
}

// httpDate is the Date field value of one second.
type httpDate struct {
	sec int64
	b   [len(http.TimeFormat)]byte
	// from and until are the second on monoNow's clock, when
	// appendDateNow read it: [from, until); both 0 when appendDate made
	// it of a time given.
	from, until time.Duration
}

// dateCache is the Date of the second last formatted: a response formats
// the time once a second, not once per response (nginx caches it too).
var dateCache atomic.Pointer[httpDate]

// appendDate appends now as an HTTP Date value.
func appendDate(b []byte, now time.Time) []byte {
	sec := now.Unix()
	if d := dateCache.Load(); d != nil && d.sec == sec {
		return append(b, d.b[:]...)
	}
	return append(b, cacheDate(now, 0, 0).b[:]...)
}

// appendDateNow appends the time now as an HTTP Date value: within the
// cached second, told by one read of the monotonic clock, where
// time.Now's reads the wall clock too (nginx's Date is its cached time,
// read once per event-loop wake). A step of the wall clock shows from
// the next second on.
func appendDateNow(b []byte) []byte {
	m := monoNow()
	if d := dateCache.Load(); d != nil && m >= d.from && m < d.until {
		return append(b, d.b[:]...)
	}
	now := time.Now()
	from := now.Sub(monoBase) - time.Duration(now.Nanosecond())
	return append(b, cacheDate(now, from, from+time.Second).b[:]...)
}

// cacheDate formats now's second into dateCache, as the second
// [from, until) of monoNow's clock, and returns it.
func cacheDate(now time.Time, from, until time.Duration) *httpDate {
	d := &httpDate{sec: now.Unix(), from: from, until: until}
	now.UTC().AppendFormat(d.b[:0], http.TimeFormat)
	dateCache.Store(d)
	return d
}

package h1server

import (
	"bufio"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

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
	closeAfter  bool
	wantsClose  bool
	keepAlive10 bool
	trailers    []string // declared in the Trailer header

	pre  []byte // body written before the head was (bufferSize at most)
	out  []byte // bytes to write to the client
	keys []string
}

var (
	_ http.Flusher  = (*response)(nil)
	_ http.Hijacker = (*response)(nil)
)

func (w *response) reset(req *http.Request, wantsClose, keepAlive10 bool) {
	clear(w.header)
	*w = response{c: w.c, req: req, header: w.header, clen: -1, wantsClose: wantsClose, keepAlive10: keepAlive10,
		pre: w.pre[:0], out: w.out[:0], keys: w.keys[:0], trailers: w.trailers[:0]}
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
	if cl := w.header.Get("Content-Length"); cl != "" {
		if v, err := strconv.ParseInt(cl, 10, 64); err == nil && v >= 0 {
			w.clen = v
		} else {
			w.c.srv.logf("http: invalid Content-Length of %q", cl)
			w.header.Del("Content-Length")
		}
	}
}

// writeInterim sends a 1xx response with the header set so far.
func (w *response) writeInterim(code int) {
	if code == http.StatusContinue {
		w.c.body.expect = false
	}
	b := w.statusLine(w.out, code)
	b = w.appendHeader(b, nil)
	w.out = append(b, "\r\n"...)
	_ = w.flushOut()
}

// writeContinue answers Expect: 100-continue before the first body read,
// unless the response began.
func (w *response) writeContinue() {
	if w.wroteHeader || w.c.werr != nil {
		return
	}
	w.out = append(w.out, "HTTP/1.1 100 Continue\r\n\r\n"...)
	_ = w.flushOut()
}

// Write writes body bytes, after the head with status 200 if none was set.
func (w *response) Write(p []byte) (int, error) {
	if w.c.hijacked {
		return 0, http.ErrHijacked
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
		w.out = strconv.AppendInt(w.out, int64(len(p)), 16)
		w.out = append(w.out, "\r\n"...)
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
	w.c.clearWriteDeadline()
	bufs := net.Buffers{w.out, p}
	_, err := bufs.WriteTo(w.c.rwc)
	w.out = w.out[:0]
	return w.fail(err)
}

func (w *response) write(p []byte) error {
	if w.c.werr != nil {
		return w.c.werr
	}
	w.c.clearWriteDeadline()
	_, err := w.c.rwc.Write(p)
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

// SetWriteDeadline sets the connection's write deadline
// (http.ResponseController).
func (w *response) SetWriteDeadline(t time.Time) error { return w.c.setWriteDeadline(t) }

// EnableFullDuplex is a no-op: the body stays readable while the response is
// written, as net/http's full duplex mode.
func (w *response) EnableFullDuplex() error { return nil }

// finish completes the response once the handler returned.
func (w *response) finish() {
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
func (w *response) sendHead(done bool) {
	w.headSent = true
	h := w.header
	p := w.pre
	isHEAD := w.req.Method == http.MethodHead
	code := w.status
	var setCL, setConn, setTE, setCT string

	trailers := false
	for k := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			trailers = true
		}
	}
	for _, v := range h["Trailer"] {
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
	te := h.Get("Transfer-Encoding")
	hasTE := te != ""
	if done && !trailers && !hasTE && bodyAllowed(code) && h.Get("Content-Length") == "" && (!isHEAD || len(p) > 0) {
		w.clen = int64(len(p))
		setCL = strconv.Itoa(len(p))
	}
	keepAlives := w.c.srv.keepAlives()
	if w.keepAlive10 && keepAlives && (h.Get("Content-Length") != "" || setCL != "") && h.Get("Connection") == "keep-alive" {
		w.closeAfter = false
	}
	hasCL := w.clen != -1
	if w.keepAlive10 && (isHEAD || hasCL || !bodyAllowed(code)) {
		if _, ok := h["Connection"]; !ok {
			setConn = "keep-alive"
		}
	} else if w.req.ProtoMinor == 0 || w.wantsClose {
		w.closeAfter = true
	}
	if h.Get("Connection") == "close" || !keepAlives {
		w.closeAfter = true
	}
	if w.c.body.expect {
		// The client was not told to send its body.
		w.closeAfter = true
	}
	if w.req.ContentLength != 0 && !w.closeAfter {
		if !w.c.body.discard(maxPostHandlerReadBytes) {
			w.closeAfter = true
			h.Del("Connection")
			setConn = "close"
		}
	}
	if bodyAllowed(code) {
		_, haveType := h["Content-Type"]
		if h.Get("Content-Encoding") == "" && !haveType && !hasTE && len(p) > 0 {
			setCT = http.DetectContentType(p)
		}
	} else {
		if code == http.StatusNotModified {
			h.Del("Content-Type")
		}
		h.Del("Content-Length")
		h.Del("Transfer-Encoding")
		hasTE = false
	}
	if hasCL && hasTE && te != "identity" {
		h.Del("Content-Length")
		hasCL = false
	}
	switch {
	case isHEAD || !bodyAllowed(code) || code == http.StatusNoContent:
		w.noBody = true
		h.Del("Transfer-Encoding")
	case hasCL:
		h.Del("Transfer-Encoding")
	case w.req.ProtoMinor >= 1:
		if hasTE && te == "identity" {
			w.closeAfter = true
			h.Del("Transfer-Encoding")
		} else {
			w.chunking = true
			setTE = "chunked"
			if hasTE && te == "chunked" {
				h.Del("Transfer-Encoding")
			}
		}
	default:
		w.closeAfter = true
		h.Del("Transfer-Encoding")
	}
	if w.chunking && code == http.StatusNoContent {
		w.chunking = false
		setTE = ""
	}
	if w.closeAfter && (!keepAlives || !hasToken(h["Connection"], "close")) {
		h.Del("Connection")
		if w.req.ProtoMinor >= 1 {
			setConn = "close"
		}
	}

	b := w.statusLine(w.out, code)
	b = w.appendHeader(b, func(k string) bool { return strings.HasPrefix(k, http.TrailerPrefix) })
	if setCT != "" {
		b = append(append(append(b, "Content-Type: "...), setCT...), "\r\n"...)
	}
	if setConn != "" {
		b = append(append(append(b, "Connection: "...), setConn...), "\r\n"...)
	}
	if setTE != "" {
		b = append(append(append(b, "Transfer-Encoding: "...), setTE...), "\r\n"...)
	}
	if _, ok := h["Date"]; !ok {
		b = append(b, "Date: "...)
		b = appendDate(b, time.Now())
		b = append(b, "\r\n"...)
	}
	if setCL != "" {
		b = append(append(append(b, "Content-Length: "...), setCL...), "\r\n"...)
	}
	w.out = append(b, "\r\n"...)
	w.pre = w.pre[:0]
	if len(p) > 0 && !w.noBody {
		_ = w.body(p)
	}
}

// statusLine appends the status line of code.
func (w *response) statusLine(b []byte, code int) []byte {
	if w.req.ProtoMinor >= 1 {
		b = append(b, "HTTP/1.1 "...)
	} else {
		b = append(b, "HTTP/1.0 "...)
	}
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	if text := http.StatusText(code); text != "" {
		b = append(b, text...)
	} else {
		b = append(b, "status code "...)
		b = strconv.AppendInt(b, int64(code), 10)
	}
	return append(b, "\r\n"...)
}

// appendHeader appends the header fields, sorted by name as net/http writes
// them, but those skip excludes.
func (w *response) appendHeader(b []byte, skip func(string) bool) []byte {
	keys := w.keys[:0]
	for k := range w.header {
		if skip == nil || !skip(k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	w.keys = keys
	for _, k := range keys {
		b = appendField(b, k, w.header[k])
	}
	return b
}

// appendField appends the lines of name's values, each with its newlines
// made spaces, as net/http writes them; an invalid name is left out.
func appendField(b []byte, name string, vv []string) []byte {
	if !h1guard.ValidFieldName(name) {
		return b
	}
	for _, v := range vv {
		b = append(b, name...)
		b = append(b, ": "...)
		v = strings.TrimSpace(v)
		for i := 0; i < len(v); i++ {
			c := v[i]
			if c == '\r' || c == '\n' {
				c = ' '
			}
			b = append(b, c)
		}
		b = append(b, "\r\n"...)
	}
	return b
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
	d := &httpDate{sec: sec}
	now.UTC().AppendFormat(d.b[:0], http.TimeFormat)
	dateCache.Store(d)
	return append(b, d.b[:]...)
}

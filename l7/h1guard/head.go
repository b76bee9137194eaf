package h1guard

import (
	"bytes"
	"net/http"
	"strings"
)

// Limits are nginx's large_client_header_buffers: the request line must fit
// in one buffer (else 414), each header line too, and the whole head in all
// of them (else 400 "Request Header Or Cookie Too Large"). The zero value of
// a field takes its default.
type Limits struct {
	// Buffers is the number of buffers. Default 4.
	Buffers int
	// BufferSize is the size of one buffer in bytes. Default 8192.
	BufferSize int
}

// Defaults of Limits, as nginx's `large_client_header_buffers 4 8k`.
const (
	DefaultBuffers    = 4
	DefaultBufferSize = 8192
)

// withDefaults returns l with its zero or negative fields defaulted.
func (l Limits) withDefaults() Limits {
	if l.Buffers <= 0 {
		l.Buffers = DefaultBuffers
	}
	if l.BufferSize <= 0 {
		l.BufferSize = DefaultBufferSize
	}
	return l
}

// maxHead is the most bytes a request head may take.
func (l Limits) maxHead() int { return l.Buffers * l.BufferSize }

// Reject is why a request was refused: the status nginx answers and the
// reason label of weir_http_requests_rejected_total.
type Reject struct {
	// Status is the response status (400, 405, 414, 501 or 505).
	Status int
	// Reason names the rule the request broke.
	Reason string
	// tooLarge selects nginx's "Request Header Or Cookie Too Large" page
	// (its internal status 494, sent as 400).
	tooLarge bool
	// plainHTTP selects nginx's "The plain HTTP request was sent to HTTPS
	// port" page (its internal status 497, sent as 400).
	plainHTTP bool
}

func (r *Reject) Error() string { return "reject request: " + r.Reason }

// The rejections. Each is one value, so parsing allocates nothing.
var (
	rejRequestLine = &Reject{Status: http.StatusBadRequest, Reason: "request_line"}
	rejURITooLong  = &Reject{Status: http.StatusRequestURITooLong, Reason: "uri_too_long"}
	rejVersion     = &Reject{Status: http.StatusHTTPVersionNotSupported, Reason: "http_version"}
	rejHeaderLarge = &Reject{Status: http.StatusBadRequest, Reason: "header_too_large", tooLarge: true}
	rejHeaderLine  = &Reject{Status: http.StatusBadRequest, Reason: "header_line"}
	rejObsFold     = &Reject{Status: http.StatusBadRequest, Reason: "obs_fold"}
	rejCL          = &Reject{Status: http.StatusBadRequest, Reason: "content_length"}
	rejTE          = &Reject{Status: http.StatusBadRequest, Reason: "transfer_encoding"}
	rejUnknownTE   = &Reject{Status: http.StatusNotImplemented, Reason: "unknown_transfer_encoding"}
	rejHost        = &Reject{Status: http.StatusBadRequest, Reason: "host"}
	rejMethod      = &Reject{Status: http.StatusMethodNotAllowed, Reason: "method"}
	rejTarget      = &Reject{Status: http.StatusBadRequest, Reason: "target"}
	rejChunked     = &Reject{Status: http.StatusBadRequest, Reason: "chunked"}
	rejTrailer     = &Reject{Status: http.StatusBadRequest, Reason: "trailer"}
	rejPlainHTTP   = &Reject{Status: http.StatusBadRequest, Reason: "plain_http", plainHTTP: true}
	rejDuplicate   = &Reject{Status: http.StatusBadRequest, Reason: "duplicate_field"}
	rejTooMany     = &Reject{Status: http.StatusBadRequest, Reason: "too_many_fields", tooLarge: true}
	// rejFieldLarge is an HTTP/2 request's field too long for a buffer:
	// answered, where rejHeaderLarge ends an HTTP/2 stream unanswered, and
	// counted under the same reason.
	rejFieldLarge = &Reject{Status: http.StatusBadRequest, Reason: "header_too_large", tooLarge: true}
	rejects       = []*Reject{rejRequestLine, rejURITooLong, rejVersion, rejHeaderLarge, rejHeaderLine, rejObsFold, rejCL, rejTE, rejUnknownTE, rejHost, rejMethod, rejTarget, rejChunked, rejTrailer, rejPlainHTTP, rejDuplicate, rejTooMany}
)

// MaxFields is the most header fields a request may have, nginx's
// max_headers default (1000): one more is answered as a head too large
// (nginx's 494, sent as 400 "Request Header Or Cookie Too Large"), over
// HTTP/1 and HTTP/2; measured against nginx 1.22.1 (Debian's, which has
// the limit): 1000 lines served, 1001 refused.
const MaxFields = 1000

// Span is a range of a buffer: b[Off:Off+Len].
type Span struct{ Off, Len int }

// Of returns the bytes of b that s covers.
func (s Span) Of(b []byte) []byte { return b[s.Off : s.Off+s.Len] }

// Head is a validated request head: offsets into the buffer it was parsed
// from, and its body framing. It holds no bytes itself.
type Head struct {
	// Start is where the request line starts (empty lines before it are
	// skipped, as nginx does); End is just past the empty line that ends
	// the head.
	Start, End int
	// Method, Target and Host (the Host header's value, trimmed; Len 0 when
	// absent) of the request.
	Method, Target, Host Span
	// Minor is the minor HTTP version: 0 for HTTP/1.0, 1 for HTTP/1.1.
	Minor int
	// Fields is the number of header fields.
	Fields int
	// ContentLength is the body length, -1 when the request has no
	// Content-Length (no body, or Chunked).
	ContentLength int64
	// Chunked is a body in chunked transfer coding.
	Chunked bool
	// HasHost is whether a Host header was sent.
	HasHost bool
	// Upgrade is a request to switch protocols: a non-empty Upgrade
	// header, whatever Connection says, as nginx tunnels after a 101 to
	// any request with Upgrade (ingress-nginx forwards it with
	// Connection: upgrade). What follows its head may not be HTTP/1.
	Upgrade bool
}

// headParser parses a request head line by line as its bytes arrive: it
// keeps its place, so a head sent a byte at a time is read once.
type headParser struct {
	lim     Limits
	off     int  // start of the next line not parsed yet
	gotLine bool // the request line is parsed
	h       Head
	te      Span // Transfer-Encoding value
	sawCL   bool
	sawTE   bool
	hasUpg  bool
	badCL   bool // a Content-Length that is not a length: refused once the head is read (finish)
	// unique are the fields nginx allows once that the head had
	// (1<<uniqueField's index).
	unique uint8
	// line is where the line refused starts (set with the refusal only):
	// the head before it is what nginx counts of a refused request
	// (refusal.go).
	line int
	// notAllowed is a method nginx refuses (CONNECT, TRACE).
	notAllowed bool
}

func (p *headParser) reset(lim Limits) {
	*p = headParser{lim: lim}
	p.h.ContentLength = -1
}

// ParseHead parses the request head at the start of b under lim. It
// returns the Head, or a *Reject, or done false when b holds only the
// start of a valid head.
func ParseHead(b []byte, lim Limits) (h Head, done bool, err error) {
	var p headParser
	p.reset(lim.withDefaults())
	done, err = p.feed(b)
	return p.h, done, err
}

// feed parses the lines of b (the bytes buffered from the head's first
// byte on) it has not parsed yet.
func (p *headParser) feed(b []byte) (done bool, err error) {
	for {
		nl := indexLF(b[p.off:])
		if nl < 0 {
			if cr := bytes.IndexByte(b[p.off:], '\r'); cr >= 0 && p.off+cr+1 < len(b) {
				// A CR not followed by LF ends no line: nginx's parser
				// refuses it at the next byte, where Weir would wait for
				// an LF that never comes.
				p.line = p.off
				if !p.gotLine {
					return false, rejRequestLine
				}
				return false, rejHeaderLine
			}
			err := p.checkPending(len(b))
			if err == rejURITooLong {
				p.noteMethod(b[p.h.Start:], p.h.Start)
			}
			p.line = p.off
			return false, err
		}
		end := p.off + nl // index of the LF
		line := b[p.off:end]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		start := p.off
		p.off = end + 1
		if !p.gotLine {
			if len(line) == 0 {
				// nginx skips empty lines before the request line.
				p.h.Start = p.off
				if p.off > p.lim.maxHead() {
					p.line = start
					return false, rejHeaderLarge
				}
				continue
			}
			if end-start > p.lim.BufferSize {
				p.noteMethod(line, start)
				p.line = start
				return false, rejURITooLong
			}
			if err := p.requestLine(line, start); err != nil {
				p.line = start
				return false, err
			}
			p.gotLine = true
			continue
		}
		if end-start > p.lim.BufferSize || p.off-p.h.Start > p.lim.maxHead() {
			p.line = start
			return false, rejHeaderLarge
		}
		if len(line) == 0 {
			p.h.End = p.off
			return true, p.finish(b)
		}
		if err := p.field(b, line, start); err != nil {
			p.line = start
			return false, err
		}
	}
}

// checkPending checks the limits against the line not complete yet, so a
// head that cannot fit is refused without waiting for its end.
func (p *headParser) checkPending(n int) error {
	if !p.gotLine {
		if n-p.h.Start > p.lim.BufferSize || n > p.lim.maxHead() {
			return rejURITooLong
		}
		return nil
	}
	if n-p.off > p.lim.BufferSize || n > p.lim.maxHead() {
		return rejHeaderLarge
	}
	return nil
}

// indexLF returns the index of b's first LF, -1 if none: bytealg's
// IndexByte, whose call under callgrind costs fewer instructions than a
// loop's few a byte over a head's lines (about 100 fewer a keep-alive
// request).
func indexLF(b []byte) int { return bytes.IndexByte(b, '\n') }

// noteMethod sets the Method of a request line, starting at off, that is
// refused before it is parsed (414): nginx takes the method once the
// space after it arrives, so that the answer to a HEAD has no body.
func (p *headParser) noteMethod(line []byte, off int) {
	i := 0
	for i < len(line) && isMethodByte(line[i]) {
		i++
	}
	if i > 0 && i < len(line) && line[i] == ' ' {
		p.h.Method = Span{off, i}
	}
}

// requestLine parses "METHOD SP target SP HTTP/1.x" at offset off.
func (p *headParser) requestLine(line []byte, off int) error {
	i := 0
	for i < len(line) && isMethodByte(line[i]) {
		i++
	}
	if i == 0 || i == len(line) || line[i] != ' ' {
		return rejRequestLine
	}
	p.h.Method = Span{off, i}
	method := line[:i]
	// nginx refuses CONNECT (since 1.21.1) and TRACE with 405, once the
	// head is read (finish).
	p.notAllowed = string(method) == http.MethodConnect || string(method) == http.MethodTrace
	rest := line[i+1:]
	j := 0
	for j < len(rest) && rest[j] != ' ' {
		if isCTL(rest[j]) {
			return rejRequestLine
		}
		j++
	}
	if j == 0 || j == len(rest) {
		return rejRequestLine
	}
	target := rest[:j]
	p.h.Target = Span{off + i + 1, j}
	path, ok := targetPath(target)
	if !ok {
		// nginx's parser refuses a target of neither form where it
		// reads it, before the version: "PRI * HTTP/2.0", the h2c
		// preface on a listener without http2, gets 400, not 505.
		return rejTarget
	}
	v := rest[j+1:]
	if len(v) != len("HTTP/1.1") || string(v[:5]) != "HTTP/" || !isDigit(v[5]) || v[6] != '.' || !isDigit(v[7]) {
		return rejRequestLine
	}
	switch v[5] {
	case '1':
		p.h.Minor = int(v[7] - '0')
	case '0':
		return rejRequestLine
	default:
		return rejVersion
	}
	// The target is in the origin form (/path?query) or the absolute form
	// (scheme://authority/path?query), CONNECT's authority form (host:port)
	// too: nginx 1.22's request line parser takes a target that starts with
	// a letter for a scheme and refuses "a:443" (400), and answers CONNECT
	// with a path 405. Its path may have no NUL, raw or escaped.
	return checkPath(path)
}

// targetPath returns the path and query of a request target in the origin
// or the absolute form; false when t is neither, which nginx's request
// line parser refuses (a path it refuses later, once the line is read:
// checkPath).
func targetPath(t []byte) ([]byte, bool) {
	if len(t) > 0 && t[0] == '/' {
		return t, true
	}
	i := 0
	for i < len(t) && isSchemeByte(t[i], i) {
		i++
	}
	if i == 0 || len(t)-i < 3 || string(t[i:i+3]) != "://" {
		return nil, false
	}
	rest := t[i+3:]
	k := authority(rest)
	// The host then goes through ngx_http_validate_host: "http://:80/"
	// and "http://.:80/" have none, 400.
	if k == 0 || k < len(rest) && rest[k] != '/' && rest[k] != '?' || !validHost(rest[:k]) {
		return nil, false
	}
	return rest[k:], true
}

// authority returns the length of the host and port that a starts with, as
// nginx's request line parser takes them: letters, digits, '.' and '-', or
// an IP literal in brackets, then ':' and digits. Anything else after them
// (userinfo's '@', '_', '%', '#') ends the host where targetPath wants a
// path, a query or the end: nginx answers 400.
func authority(a []byte) int {
	k := 0
	if len(a) > 0 && a[0] == '[' {
		for k = 1; k < len(a) && a[k] != ']'; k++ {
			if !isLiteralByte(a[k]) {
				return 0
			}
		}
		if k == len(a) {
			return 0
		}
		k++
	} else {
		for k < len(a) && (isAlnum(a[k]) || a[k] == '.' || a[k] == '-') {
			k++
		}
	}
	if k < len(a) && a[k] == ':' {
		for k++; k < len(a) && isDigit(a[k]); k++ {
		}
	}
	return k
}

// isLiteralByte reports whether c may be in an IP literal (between
// brackets) of a request line's host, as nginx's sw_host_ip_literal takes
// it: letters, digits, ':', unreserved and sub-delims characters.
func isLiteralByte(c byte) bool {
	return isAlnum(c) || strings.IndexByte(":-._~!$&'()*+,;=", c) >= 0
}

// isAlnum reports whether c is an ASCII letter or digit.
func isAlnum(c byte) bool {
	return isDigit(c) || c|0x20 >= 'a' && c|0x20 <= 'z'
}

// checkPath refuses, as nginx's ngx_http_parse_complex_uri, a path (up to
// its query) with an escaped NUL (%00) or with dot segments that climb above
// the root, escaped dots and slashes included ("/..%2f", "/%2e%2e/"). A
// path with neither a dot nor a '%' before its query, most, has neither:
// one loop over it finds so, where checkSegments' reads each byte twice
// with several tests a byte.
func checkPath(path []byte) error {
	for _, c := range path {
		switch c {
		case '?':
			return nil
		case '.', '%':
			return checkSegments(path)
		}
	}
	return nil
}

// checkSegments is checkPath for any path.
func checkSegments(path []byte) error {
	end := 0
	for end < len(path) && path[end] != '?' {
		end++
	}
	depth := 0 // segments below the root
	seg := 0   // bytes of the current segment
	dots := 0  // of which leading dots
	for i := 0; i <= end; i++ {
		c := byte('/') // the end of the path ends its last segment
		if i < end {
			c = path[i]
			if c == '%' && i+2 < end && isHexDigit(path[i+1]) && isHexDigit(path[i+2]) {
				c = unhex(path[i+1])<<4 | unhex(path[i+2])
				if c == 0 {
					return rejTarget
				}
				i += 2
			}
		}
		if c != '/' {
			if c == '.' && dots == seg {
				dots++
			}
			seg++
			continue
		}
		switch {
		case seg == 2 && dots == 2:
			if depth == 0 {
				return rejTarget
			}
			depth--
		case seg > 0 && !(seg == 1 && dots == 1):
			depth++
		}
		seg, dots = 0, 0
	}
	return nil
}

// field parses one header field line at offset off of b.
func (p *headParser) field(b, line []byte, off int) error {
	if line[0] == ' ' || line[0] == '\t' {
		return rejObsFold
	}
	i := 0
	for i < len(line) && isTokenByte(line[i]) {
		i++
	}
	if i == 0 || i == len(line) || line[i] != ':' {
		return rejHeaderLine
	}
	name := line[:i]
	v0 := i + 1
	for v0 < len(line) && (line[v0] == ' ' || line[v0] == '\t') {
		v0++
	}
	v1 := len(line)
	for v1 > v0 && (line[v1-1] == ' ' || line[v1-1] == '\t') {
		v1--
	}
	if !ValidFieldValue(line[v0:v1]) {
		return rejHeaderLine
	}
	value := line[v0:v1]
	val := Span{off + v0, v1 - v0}
	p.h.Fields++
	if p.h.Fields > MaxFields {
		return rejTooMany
	}
	switch {
	case equalFold(name, "Content-Length"):
		if p.sawCL {
			return rejCL
		}
		p.sawCL = true
		// A repeated one is refused at its line (nginx's
		// ngx_http_process_unique_header_line), one that is not a length
		// once the head is read, as nginx's ngx_http_process_request_header.
		// The length is read from nginx's value (nginxValue): "\t4" is
		// not one.
		n, ok := ParseLength(nginxValue(line, i+1, off).Of(b))
		if !ok {
			p.badCL = true
			break
		}
		p.h.ContentLength = n
	case equalFold(name, "Transfer-Encoding"):
		if p.sawTE {
			return rejTE
		}
		p.sawTE = true
		p.te = nginxValue(line, i+1, off) // "chunked\t" is not chunked
	case equalFold(name, "Host"):
		// nginx trims only spaces around a value: a tab at either end
		// is the host's, and so invalid.
		if p.h.HasHost || !validHost(bytes.Trim(line[i+1:], " ")) {
			return rejHost
		}
		p.h.HasHost = true
		p.h.Host = val
	case equalFold(name, "Upgrade"):
		p.hasUpg = p.hasUpg || len(value) > 0
	default:
		if u := uniqueField(name); u >= 0 {
			if p.unique&(1<<u) != 0 {
				return rejDuplicate
			}
			p.unique |= 1 << u
		}
	}
	return nil
}

// nginxValue returns the span (line at offset off) of the value of a field
// line whose colon is at v0-1 as nginx 1.22 reads it: only spaces around it
// are trimmed (ngx_http_parse_header_line's sw_space_before_value and
// sw_space_after_value), a tab at either end stays part of the value. The
// framing fields are read so, so that Weir frames no request nginx would
// refuse: "Content-Length:\t4" is 400, "Transfer-Encoding: chunked\t" 501.
func nginxValue(line []byte, v0, off int) Span {
	for v0 < len(line) && line[v0] == ' ' {
		v0++
	}
	v1 := len(line)
	for v1 > v0 && line[v1-1] == ' ' {
		v1--
	}
	return Span{off + v0, v1 - v0}
}

// uniqueFields are the fields besides Host, Content-Length and
// Transfer-Encoding that nginx allows once in a request (its
// ngx_http_process_unique_header_line, for HTTP/1 and HTTP/2 alike): a
// second is "client sent duplicate header line", a 400. Measured against
// nginx 1.22.1: each of these twice (in any case) is refused; Cookie,
// User-Agent, Referer, Range, Accept, X-Forwarded-For, Connection and the
// rest are not.
var uniqueFields = [...]string{"Authorization", "If-Match", "If-None-Match", "If-Modified-Since",
	"If-Unmodified-Since", "If-Range", "Content-Range", "Expect"}

// uniqueField returns the index in uniqueFields of name, any case, or -1;
// a name of another length costs one comparison.
func uniqueField(name []byte) int {
	switch len(name) {
	case 6, 8, 13, 17, 19:
		for i, u := range uniqueFields {
			if equalFold(name, u) {
				return i
			}
		}
	}
	return -1
}

// finish applies the rules that need the whole head, in nginx's order
// (ngx_http_process_request_header): Host on HTTP/1.1 (even with an
// absolute target), Content-Length, Transfer-Encoding, then the method.
func (p *headParser) finish(b []byte) error {
	h := &p.h
	if h.Minor >= 1 && !h.HasHost {
		return rejHost
	}
	if p.badCL {
		return rejCL
	}
	if p.sawTE {
		if h.Minor == 0 {
			return rejTE
		}
		if !equalFold(p.te.Of(b), "chunked") {
			return rejUnknownTE
		}
		if p.sawCL {
			return rejTE
		}
		h.Chunked = true
	}
	if p.notAllowed {
		return rejMethod
	}
	h.Upgrade = p.hasUpg
	return nil
}

// ParseLength parses a Content-Length: decimal digits only, at most 18
// (nginx's off_t bound; net/http takes digits only too). The request
// parser and the proxy's response parser both use it.
func ParseLength[T ~string | ~[]byte](v T) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		if !isDigit(v[i]) {
			return 0, false
		}
		n = n*10 + int64(v[i]-'0')
	}
	return n, true
}

// validHost is nginx's ngx_http_validate_host: no "..", no "/", no control
// bytes or spaces, and a host part (before the port, without a trailing
// dot) that is not empty. A host of plain bytes and dots only (no port, no
// IPv6 literal: most) is checked by one table load a byte; any other goes
// to validHostFull, as every one did (some 25 instructions a byte under
// callgrind, its switch's).
func validHost(h []byte) bool {
	dot := -2
	for i, c := range h {
		switch hostBytes[c] {
		case hostPlain:
		case hostDot:
			if dot == i-1 {
				return false
			}
			dot = i
		default:
			return validHostFull(h)
		}
	}
	// As validHostFull's end, with the whole of h the host part.
	hostLen := len(h)
	if dot == hostLen-1 {
		hostLen--
	}
	return hostLen > 0
}

// The classes of hostBytes.
const (
	hostOther = iota // ':', '[', ']' and the bytes validHostFull refuses
	hostPlain        // a byte validHostFull's switch takes with no more ado
	hostDot
)

// hostBytes classes each byte for validHost's loop.
var hostBytes = func() (t [256]uint8) {
	for c := range t {
		switch {
		case c == '.':
			t[c] = hostDot
		case c == ':' || c == '[' || c == ']' || c == '/' || c <= ' ' || c == 0x7f:
			t[c] = hostOther
		default:
			t[c] = hostPlain
		}
	}
	return t
}()

// validHostFull is validHost for any host.
func validHostFull(h []byte) bool {
	dot := -2
	hostLen := len(h)
	const (
		usual = iota
		literal
		rest
	)
	state := usual
	for i, c := range h {
		switch c {
		case '.':
			if dot == i-1 {
				return false
			}
			dot = i
		case ':':
			if state == usual {
				hostLen = i
				state = rest
			}
		case '[':
			if i == 0 {
				state = literal
			}
		case ']':
			if state == literal {
				hostLen = i + 1
				state = rest
			}
		default:
			if c == '/' || c <= ' ' || c == 0x7f {
				return false
			}
		}
	}
	if dot == hostLen-1 {
		hostLen--
	}
	return hostLen > 0
}

// equalFold compares ASCII b and s without case, without allocating.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHexDigit(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isCTL(c byte) bool { return c < ' ' || c == 0x7f }

// ValidFieldValue reports whether v is a field value's bytes: no control
// byte but tab (RFC 9110's field-vchar, obs-text, space and tab). Most
// values have none: their bytes are tested eight at a time, with one load
// and a few operations a word ("hasless" and "haszero" of Sean Eron
// Anderson's Bit Twiddling Hacks), and byte by byte only from a word that
// has a byte under 0x20 or a DEL.
func ValidFieldValue[T string | []byte](v T) bool {
	i := 0
	for ; i+8 <= len(v); i += 8 {
		x := Word(v, i)
		if HasByteUnder(x, 0x20) || HasByteUnder(x^wordOnes*0x7f, 1) { // a DEL byte is 0 in x^DELs
			break
		}
	}
	for ; i < len(v); i++ {
		if c := v[i]; isCTL(c) && c != '\t' {
			return false
		}
	}
	return true
}

// wordOnes has the byte 1 in each of a word's eight bytes.
const wordOnes = 0x0101010101010101

// Word returns the eight bytes of v from i as a little-endian word (one
// load once compiled), for the eight-at-a-time scans of field values.
func Word[T string | []byte](v T, i int) uint64 {
	w := v[i : i+8]
	return uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
}

// HasByteUnder reports whether one of the eight bytes of x is under n, n
// at most 0x80: a byte under n borrows in the subtraction and, not having
// its top bit set, keeps the borrow's top bit through the mask ("hasless",
// Sean Eron Anderson's Bit Twiddling Hacks); a byte that is not cannot set
// it. HasByteUnder(x, 1) reports a zero byte ("haszero").
func HasByteUnder(x, n uint64) bool {
	return (x-wordOnes*n)&^x&(wordOnes*0x80) != 0
}

// isMethodByte is what nginx accepts in a method: upper-case letters, '_'
// and '-'.
func isMethodByte(c byte) bool { return 'A' <= c && c <= 'Z' || c == '_' || c == '-' }

func isSchemeByte(c byte, i int) bool {
	if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' {
		return true
	}
	return i > 0 && (isDigit(c) || c == '+' || c == '-' || c == '.')
}

// ValidFieldName reports whether name is a header field name: an RFC 9110
// token (what net/http's writers accept).
func ValidFieldName[T string | []byte](name T) bool {
	if len(name) == 0 {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !isTokenByte(name[i]) {
			return false
		}
	}
	return true
}

// IsCanonical reports whether http.CanonicalHeaderKey returns name as it
// is: it is not a token, or each letter is upper case at the start and
// after a hyphen and lower case elsewhere. (A name as bytes is not
// converted: a string of more than 32 bytes would be allocated.)
func IsCanonical[T string | []byte](name T) bool {
	return !ValidFieldName(name) || IsCanonicalToken(name)
}

// IsCanonicalToken is IsCanonical of a name known to be a token, such as a
// field name of a head the Parser accepted: it does not check that again.
func IsCanonicalToken[T string | []byte](name T) bool {
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			return false
		}
		upper = c == '-'
	}
	return true
}

// AppendCanonical appends http.CanonicalHeaderKey(name) to b: into the
// caller's memory, where CanonicalHeaderKey allocates a string for each
// name it changes that is not one of its common ones (Chrome's lower-case
// sec-ch-ua fields, a Connection token such as keep-alive).
func AppendCanonical[T string | []byte](b []byte, name T) []byte {
	if !ValidFieldName(name) {
		return append(b, name...) // not a token: left as it is
	}
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
		upper = c == '-'
	}
	return b
}

// isTokenByte is RFC 9110's tchar: a load from tchars, where a chain of
// compares cost several times as much for each byte of every field name
// parsed, relayed and written.
func isTokenByte(c byte) bool { return tchars[c] }

// tchars holds RFC 9110's tchar: ALPHA, DIGIT and "!#$%&'*+-.^_`|~".
var tchars = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

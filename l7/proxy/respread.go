package proxy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net/http"
	"net/textproto"
	"strconv"
	"sync"

	"github.com/weir-lb/weir/l7/arena"
	"github.com/weir-lb/weir/l7/h1guard"
	"github.com/weir-lb/weir/l7/h1server"
)

// readResponse reads the response to req from br as http.ReadResponse
// does, with the same result and errors. A response whose head is all in
// br's buffer and is plain (HTTP/1.1, a final status with a body, one
// Content-Length, every line well formed; no Transfer-Encoding, Trailer or
// Pragma) is parsed here into fr, its strings from an arena: no allocation
// of its own; the header map of such a response of distinct names is left
// empty (fastResponse.listed: read resp.Header after fr.fill). Anything
// else is left to http.ReadResponse. fr is the caller's until it is done
// with the response (recycle).
func readResponse(br *bufio.Reader, req *http.Request, fr *fastResponse) (*http.Response, error) {
	clear(fr.order)
	fr.order, fr.listed = fr.order[:0], false
	if _, err := br.Peek(1); err != nil {
		// What http.ReadResponse returns for a response with no byte.
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	buf, _ := br.Peek(br.Buffered())
	end, fields := headEnd(buf, &fr.ends)
	if end < 0 || req.Method == http.MethodHead {
		return slowResponse(br, req, fr)
	}
	head := buf[:end] // its lines, each with its CRLF
	a := arena.Get()
	ok := fr.parse(head, fields, a)
	arena.Put(a)
	if !ok {
		fr.reset()
		return slowResponse(br, req, fr)
	}
	_, _ = br.Discard(end + 2)
	fr.resp.Request = req
	fr.body = lengthBody{br: br, left: fr.resp.ContentLength}
	fr.resp.Body = &fr.body
	return &fr.resp, nil
}

// headEnd returns the length of the head at the start of buf, its lines
// to the empty one that ends it (not included), and how many lines it has
// after the first, when every line to that empty one is plain: bytes that
// may be in a field value (visible, obs-text, space or tab: no control
// byte but tab, no DEL), then CRLF. end is -1 otherwise (a head not whole
// in buf, or with a bare LF or CR or a control byte in a line: not plain,
// as parse would have refused it). Where end is not -1, buf[:end+2] ends
// with buf's first "\r\n\r\n" (a line ends at its first CR, which is
// followed by LF, so that the first CRLF followed by one is the first
// empty line). The head's bytes are read once, eight at a time for a
// control byte or a DEL (controlBytes), where IndexByte for each LF and a
// check of the bytes before it read each byte twice: that one pass finds
// the lines' ends and checks their bytes, which parse then takes as
// checked. The index of the CR of each of the first len(ends) lines, the
// status line first, goes to ends, for parse to cut the lines without
// searching them again.
func headEnd(buf []byte, ends *[maxLineEnds]int32) (end, fields int) {
	for p, i := 0, 0; ; { // p: the line's start; i: where its end is looked for
		for ; ; i += 8 {
			if i < 0 || i > len(buf)-8 { // the last bytes, one by one
				for ; i < len(buf) && validValueByte(buf[i]); i++ {
				}
				break
			}
			if m := controlBytes(binary.LittleEndian.Uint64(buf[i : i+8])); m != 0 {
				i += bits.TrailingZeros64(m) / 8 // the first: a borrow flags bytes after one only
				break
			}
		}
		if i >= len(buf) {
			return -1, 0
		}
		if c := buf[i]; c != '\r' {
			if c != '\t' {
				return -1, 0
			}
			i++
			continue
		}
		if i+1 >= len(buf) || buf[i+1] != '\n' {
			return -1, 0
		}
		if i == p { // the empty line
			if p == 0 {
				return -1, 0
			}
			return p, fields - 1
		}
		if fields < len(ends) {
			ends[fields] = int32(i)
		}
		fields++
		p, i = i+2, i+2
	}
}

// maxLineEnds is how many of a response head's lines headEnd notes the
// ends of: a head's lines after them are cut by their CR (parse).
const maxLineEnds = 32

// controlBytes returns the top bit of each byte of x under 0x20 or equal
// to 0x7f, and maybe of bytes after one (a borrow's): 0 when x has none.
// It is h1guard.HasByteUnder(x, 0x20) || HasByteUnder(x^DELs, 1) as one
// mask: a byte of x^DELs has its top bit where x has not, so that one
// "&^ x" serves both.
func controlBytes(x uint64) uint64 {
	const ones, tops = 0x0101010101010101, 0x8080808080808080
	return ((x - ones*0x20) | ((x ^ ones*0x7f) - ones)) &^ x & tops
}

// errInvalidHeader is a response head nginx's upstream parser refuses
// (ngx_http_parse_header_line: "upstream sent invalid header"): 502, and
// proxy_next_upstream's invalid_header.
var errInvalidHeader = errors.New("upstream sent invalid header")

// slowResponse reads a response readResponse does not parse itself with
// http.ReadResponse, once checkHead found nothing nginx refuses in its
// head: textproto would join a folded line to the one before it and keep
// a field whose name holds a space (which Weir then dropped), and an
// informational status below 100 would be relayed as a 1xx. The
// fields' order and names as sent go to fr.order (checkHead).
func slowResponse(br *bufio.Reader, req *http.Request, fr *fastResponse) (*http.Response, error) {
	if err := checkHead(br, fr); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(br, req)
	if err == nil && resp.StatusCode < 100 {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: status %d", errInvalidHeader, resp.StatusCode)
	}
	if err == nil {
		canonicalLength(resp.Header)
	}
	return resp, err
}

// canonicalLength writes the Content-Length of h without leading zeros
// ("0002" is sent on as "2"), as nginx writes the length it parsed
// (ngx_http_upstream_process_content_length) instead of the upstream's
// text; the value of a 304's or a HEAD's response too, which frames no
// body. The usual value, without them, costs a comparison and is left as
// it is (in readResponse's parse, the arena's).
func canonicalLength(h http.Header) {
	canonicalLengthOf(h, h["Content-Length"])
}

// canonicalLengthOf is canonicalLength for h whose Content-Length values
// are cl, known to the caller (readResponse's parse): no lookup of them.
func canonicalLengthOf(h http.Header, cl []string) {
	if len(cl) == 1 && len(cl[0]) > 1 && cl[0][0] == '0' {
		if n, ok := h1guard.ParseLength(cl[0]); ok {
			h["Content-Length"] = []string{strconv.FormatInt(n, 10)}
		}
	}
}

// checkHead reads into br until the response head is whole (or br is
// full, or the upstream fails: http.ReadResponse then reports it) and
// returns errInvalidHeader when a field line is one nginx's parser
// refuses: it starts with a space, a tab, a control byte or a colon (a
// folded line, no name), its name holds one of those bytes before the
// colon ("Bad Header: x", "X-A : a"), or its value holds a NUL. A line
// without a colon is left to http.ReadResponse. Lines end with LF, a CR
// before it optional, as for nginx. It appends each field's names, as
// http.ReadResponse keys it and as sent, to fr.order.
func checkHead(br *bufio.Reader, fr *fastResponse) error {
	var buf []byte
	for {
		buf, _ = br.Peek(br.Buffered())
		if bytes.Contains(buf, []byte("\n\r\n")) || bytes.Contains(buf, []byte("\n\n")) {
			break
		}
		if br.Buffered() == br.Size() {
			return nil
		}
		if _, err := br.Peek(br.Buffered() + 1); err != nil {
			return nil
		}
	}
	_, rest, _ := bytes.Cut(buf, []byte("\n")) // the status line
	for {
		line, more, found := bytes.Cut(rest, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		if !found || len(line) == 0 {
			return nil
		}
		rest = more
		if c := line[0]; c <= ' ' || c == 0x7f || c == ':' {
			return fmt.Errorf("%w: %q", errInvalidHeader, line)
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		if bytes.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f }) || bytes.IndexByte(value, 0) >= 0 {
			return fmt.Errorf("%w: %q", errInvalidHeader, line)
		}
		key := textproto.CanonicalMIMEHeaderKey(string(name))
		f := h1server.FieldName{Name: key}
		if key != string(name) {
			f.Wire = string(name)
		}
		fr.order = append(fr.order, f)
	}
}

// fastResponse is a response readResponse parsed, and what backs it.
type fastResponse struct {
	resp   http.Response
	header http.Header
	body   lengthBody
	// order is the response's field names in the order they came, each as
	// its header key and as sent when that differs (the client's server
	// writes them so: h1server's SetFieldOrder); readResponse fills it,
	// on the slow path too.
	order []h1server.FieldName
	// noHop: parse met no hop-by-hop field (isHopHeader, a superset of
	// those removeResponseHops removes), so relay has none to remove.
	noHop bool
	// vals is the header's values, one a field line, as parse cut them
	// (the arena's). listed: the header is order's names, each once, with
	// vals' values, which relay walks (relayFields) instead of iterating
	// the map (a walk's random start, Iter.Init and Next: some 450
	// instructions a response under callgrind); parse sets it for a head
	// of distinct names, no hop-by-hop field and no more than
	// maxScannedNames lines whose Content-Length it kept as sent, and
	// leaves the map of such a head empty (its assignments and its clear
	// cost some 600 instructions a response): whoever reads resp.Header of
	// it calls fill first.
	vals   []string
	listed bool
	// ends are where the head's first lines end (headEnd's), for parse.
	ends [maxLineEnds]int32
}

// fill puts the fields of a listed response in its header map, resp.Header,
// which parse left empty; a response not listed has its map filled.
func (fr *fastResponse) fill() {
	if fr.listed && len(fr.header) == 0 {
		fillLines(fr.header, fr.order, fr.vals)
	}
}

// fillLines sets h's field of each name of order, each once, to its value
// of vals, as parse would have: a slice of vals, capped.
func fillLines(h http.Header, order []h1server.FieldName, vals []string) {
	vals = vals[:len(order)]
	for i := range order {
		h[order[i].Name] = vals[i : i+1 : i+1]
	}
}

// fastResponses holds the fastResponses not in use. A header map starts
// small: up to 8 fields, Go keeps a map in one group of slots, which is
// walked, cleared and looked up in for less than the table a size hint
// above 8 makes (a response with more fields grows it).
var fastResponses = sync.Pool{New: func() any { return &fastResponse{header: make(http.Header)} }}

// recycle returns fr, reset, to fastResponses, unless its map or its
// order grew past maxRecycledFields (a response of many repeated lines,
// Set-Cookie say, has a small map and a long order). The header's value
// slices stay valid for whoever shares them (relay): they are the
// arena's, not fr's.
func (fr *fastResponse) recycle() {
	if !fr.recyclable() {
		return
	}
	fr.reset()
	fastResponses.Put(fr)
}

// recyclable reports whether fr may be used again: its map and its order
// are within maxRecycledFields.
func (fr *fastResponse) recyclable() bool {
	return len(fr.header) <= maxRecycledFields && cap(fr.order) <= maxRecycledFields
}

// reset drops what fr refers to.
func (fr *fastResponse) reset() {
	clear(fr.header)
	clear(fr.order)
	fr.order = fr.order[:0]
	fr.resp, fr.body, fr.noHop, fr.vals, fr.listed = http.Response{}, lengthBody{}, false, nil, false
}

// parse parses head, the status line and the n header lines of a
// response with their CRLFs, into fr; it reports false when head is not
// plain (see readResponse), leaving fr to reset. head is one headEnd
// found, its lines' ends in fr.ends.
func (fr *fastResponse) parse(head []byte, n int, a *arena.Arena) bool {
	line, p := head[:fr.ends[0]], int(fr.ends[0])+2 // p: the next line's start
	// "HTTP/1.1 200" and an optional reason, as http.ReadResponse reads it.
	const proto = "HTTP/1.1 "
	if len(line) < len(proto)+3 || string(line[:len(proto)]) != proto || len(line) > len(proto)+3 && line[len(proto)+3] != ' ' {
		return false
	}
	code := 0
	for _, b := range line[len(proto) : len(proto)+3] {
		if b < '0' || b > '9' {
			return false
		}
		code = code*10 + int(b-'0')
	}
	if code < 200 || code == http.StatusNoContent || code == http.StatusNotModified {
		return false // no body, or interim: http.ReadResponse's
	}
	// The values' slice from the arena for the n field lines, each line's
	// name checked as it is cut (a line that is not plain returns false, fr
	// half filled: the caller resets it); headEnd checked their bytes.
	vals := a.Strings(n)
	h := fr.header
	// fresh: h starts empty, as reset leaves it, so that a name is in it
	// exactly when a field before has it (orderHas); listed while no name
	// came twice (fastResponse.listed): h is left empty then.
	fresh := len(h) == 0
	listed := fresh && n <= maxScannedNames
	var cl []string // the Content-Length fields' values
	connection, hop := false, false
	for k := 0; p < len(head); k++ {
		var e int // the line's CR
		if k+1 < len(fr.ends) {
			e = int(fr.ends[k+1])
		} else {
			e = p + bytes.IndexByte(head[p:], '\r') // a plain line's only CR
		}
		l := head[p:e]
		p = e + 2
		colon, name, asSent := plainField(l, a)
		if colon < 0 {
			return false
		}
		f := h1server.FieldName{Name: name}
		if !asSent {
			f.Wire = a.String(l[:colon])
		}
		fr.order = append(fr.order, f)
		vals[k] = a.String(trimOWS(l[colon+1:])) // not bytes.Trim, which builds its set each call
		v := vals[k : k+1 : k+1]
		switch {
		case listed:
			if orderHas(fr.order[:k], name) {
				// A name twice: the map from here on, the lines before
				// put in it.
				listed = false
				fillLines(h, fr.order[:k], vals)
				v = append(h[name], vals[k])
				h[name] = v
			}
		case fresh && k < maxScannedNames:
			if orderHas(fr.order[:k], name) {
				v = append(h[name], vals[k])
			}
			h[name] = v
		default:
			if old, ok := h[name]; ok {
				v = append(old, vals[k])
			}
			h[name] = v
		}
		switch name {
		case "Content-Length":
			cl = v
		case "Transfer-Encoding", "Trailer", "Pragma":
			return false
		case "Connection":
			connection = true
		}
		hop = hop || isHopHeader(name)
	}
	if len(cl) != 1 {
		return false
	}
	length, ok := h1guard.ParseLength(cl[0])
	if !ok {
		return false
	}
	zeros := len(cl[0]) > 1 && cl[0][0] == '0' // leading zeros, which canonicalLengthOf drops
	if listed && (hop || zeros) {
		// Not listed (vals has the length as sent; Connection, which a
		// close deletes, is a hop-by-hop field): the map.
		listed = false
		fillLines(h, fr.order, vals)
	}
	if zeros {
		canonicalLengthOf(h, cl) // cl is h["Content-Length"]: its only field's values
	}
	closing := connection && headerHasToken(h["Connection"], "close")
	if closing {
		delete(h, "Connection") // as net/http's readTransfer
	}
	status := a.String(line[len(proto):])
	fr.noHop = !hop
	fr.vals, fr.listed = vals, listed
	// Set in place: a literal is built in a stack temporary and copied
	// over.
	resp := &fr.resp
	*resp = http.Response{}
	resp.Status, resp.StatusCode, resp.Proto, resp.ProtoMajor, resp.ProtoMinor = status, code, "HTTP/1.1", 1, 1
	resp.Header, resp.ContentLength, resp.Close = h, length, closing
	return true
}

// maxScannedNames bounds the fields before one that parse compares its
// name with (orderHas) instead of looking it up in the header: a head's few
// names differ in length mostly, and a comparison of two lengths costs a
// fraction of a lookup's hash.
const maxScannedNames = 16

// orderHas reports whether one of order has the name name.
func orderHas(order []h1server.FieldName, name string) bool {
	for _, f := range order {
		if f.Name == name {
			return true
		}
	}
	return false
}

// knownName returns the canonical form of the field name b, as
// textproto.CanonicalMIMEHeaderKey makes it, for the names upstreams send
// most spelled canonically: a constant (no copy, no scan); false for any
// other b (otherName).
func knownName(b []byte) (string, bool) {
	switch string(b) { // no allocation: a switch on the conversion
	case "Content-Length":
		return "Content-Length", true
	case "Content-Type":
		return "Content-Type", true
	case "Date":
		return "Date", true
	case "Server":
		return "Server", true
	case "Connection":
		return "Connection", true
	case "Last-Modified":
		return "Last-Modified", true
	case "Etag":
		return "Etag", true
	case "Cache-Control":
		return "Cache-Control", true
	case "Keep-Alive":
		return "Keep-Alive", true
	}
	return "", false
}

// otherName is the canonical form of a field name b that knownName does
// not know, a token: the arena's copy of b, canonicalised there when it is
// not already (h1guard.AppendCanonical: an upstream's lower-case names cost
// no allocation), and whether it is b as it is.
func otherName(b []byte, a *arena.Arena) (string, bool) {
	if h1guard.IsCanonicalToken(b) {
		return a.String(b), true
	}
	var buf [64]byte
	return a.String(h1guard.AppendCanonical(buf[:0], b)), false
}

// plainField returns the index of the colon of l, a line of field bytes
// (headEnd checked them), its name's canonical form (knownName's, else
// otherName's) and whether that is the name as sent, when l is a header
// line textproto reads as it is (a token, a colon, and a value), else -1.
// A name knownName knows is a token, as sent: it is not checked byte by
// byte.
func plainField(l []byte, a *arena.Arena) (colon int, name string, asSent bool) {
	colon = bytes.IndexByte(l, ':')
	if colon <= 0 {
		return -1, "", false
	}
	name, known := knownName(l[:colon])
	if known {
		return colon, name, true
	}
	if !h1guard.ValidFieldName(l[:colon]) {
		return -1, "", false
	}
	name, asSent = otherName(l[:colon], a)
	return colon, name, asSent
}

// validValueByte reports whether b may be in a field value: visible, obs-
// text, space or tab.
func validValueByte(b byte) bool {
	return b >= 0x80 || b >= 0x20 && b != 0x7f || b == '\t'
}

// headerHasToken reports whether the comma-separated values hold token,
// ASCII case-insensitively, as net/http's Connection check
// (httpguts.HeaderValuesContainsToken).
func headerHasToken(values []string, token string) bool {
	for _, v := range values {
		for len(v) > 0 {
			var f string
			if i := indexComma(v); i >= 0 {
				f, v = v[:i], v[i+1:]
			} else {
				f, v = v, ""
			}
			if asciiEqualFold(trimOWS(f), token) {
				return true
			}
		}
	}
	return false
}

func indexComma(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == ',' {
			return i
		}
	}
	return -1
}

// trimOWS trims spaces and tabs from either end of s.
func trimOWS[T string | []byte](s T) T {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

func asciiEqualFold(s, t string) bool {
	if len(s) != len(t) {
		return false
	}
	for i := 0; i < len(s); i++ {
		a, b := s[i], t[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

// lengthBody is the body of a Content-Length response, as net/http's: EOF
// with its last bytes, io.ErrUnexpectedEOF when the connection ends
// before them. Close leaves the rest unread (the connection is then not
// reused).
type lengthBody struct {
	br   *bufio.Reader
	left int64
}

func (b *lengthBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.br.Read(p)
	b.left -= int64(n)
	switch {
	case err == io.EOF && b.left > 0:
		err = io.ErrUnexpectedEOF
	case err == nil && b.left == 0:
		err = io.EOF
	}
	return n, err
}

func (b *lengthBody) Close() error { return nil }

package proxy

import (
	"bufio"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/weir-lb/weir/l7/h1guard"
	"github.com/weir-lb/weir/l7/h1server"
)

// The upstream request of an HTTP/1.1 exchange costs no allocation on the
// common path: outgoing builds it in a recycled outRequest (its
// http.Request, url.URL, header map and values), and writeRequestHead
// writes a request without body or trailers straight into the upstream
// connection's buffer, byte for byte what http.Request.Write writes for it
// (upstreamreq_test.go compares them) but for its Content-Length, which
// follows nginx's rule (writeHead). Anything else is written by
// http.Request.Write.

// outRequest is the upstream request of one exchange and what backs it.
type outRequest struct {
	req    http.Request
	url    url.URL
	header http.Header
	vals   []string    // the header's values
	fields []headField // writeRequestHead's and writeDirect's sorted fields
	// direct: the header is left empty, for writeDirect to write from the
	// client's (outgoing).
	direct bool
	noUA   [1]string
}

// outRequests recycles outRequests: a request returns its own when it is
// done with it (forward).
var outRequests = sync.Pool{New: func() any { return &outRequest{header: make(http.Header, 32)} }}

// maxRecycledFields bounds the header fields of an outRequest kept for
// reuse, so that one request with many does not pin a large map.
const maxRecycledFields = 128

// recycle drops what o refers to and returns it to outRequests.
func (o *outRequest) recycle() {
	if o.clean() {
		outRequests.Put(o)
	}
}

// clean drops what o refers to, for o to be used again; it reports false,
// having done nothing, when o's header grew past maxRecycledFields: o is
// then left to the collector.
func (o *outRequest) clean() bool {
	if len(o.header) > maxRecycledFields || cap(o.vals) > maxRecycledFields {
		return false
	}
	clear(o.header)
	clear(o.vals)
	clear(o.fields)
	o.direct = false
	o.req, o.url, o.noUA = http.Request{}, url.URL{}, [1]string{}
	return true
}

// cloneHeader fills o.header with h's fields, their values copied into
// o.vals, as http.Header.Clone would.
func (o *outRequest) cloneHeader(h http.Header) {
	n := 0
	for _, vv := range h {
		n += len(vv)
	}
	if cap(o.vals) < n {
		o.vals = make([]string, n)
	}
	vals := o.vals[:cap(o.vals)]
	out := o.header
	for k, vv := range h {
		if vv == nil {
			out[k] = nil // as Clone keeps a nil value
			continue
		}
		m := copy(vals, vv)
		out[k] = vals[:m:m]
		vals = vals[m:]
	}
}

// writeDirect writes the head of the upstream request of in, with no
// header built (outgoing's direct), as writeRequestHead writes it once
// fillHeader has built it: the client's fields but those fillHeader
// removes, then rewrite's. It reports false, having written nothing, when
// writeRequestHead would leave the request to Request.Write.
func (o *outRequest) writeDirect(bw *bufio.Writer, in *http.Request, ex *exchange) bool {
	out := &o.req
	host, path, ok := plainRequest(out)
	if !ok {
		return false
	}
	h := in.Header
	ua := h["User-Agent"]
	setURI := ex.fwd.originalURI != ""
	fields := o.fields[:0]
	for k, vv := range h {
		if !directRemoved(k) && !(setURI && k == "X-Original-Uri") && h1guard.ValidFieldName(k) {
			fields = append(fields, headField{k, vv})
		}
	}
	o.fields = fields
	vals := ex.setRewriteVals() // its X-Original-Uri "" unless setURI
	_, framed := h["Content-Length"]
	// The client's fields sorted, then merged with rewrite's (no name is
	// in both: directRemoved).
	writeHead(bw, out, host, path, ua, framed, sortFields(fields), vals, schemeLinesOf(ex.fwd.port, ex.fwd.scheme))
	return true
}

// schemeLines are the lines of an upstream head that hold a request's
// port and scheme, rendered once for each port and scheme (schemeLinesOf),
// not field by field for each request: the port and scheme are the
// listener's on all but use-forwarded-headers' requests.
type schemeLines struct {
	port, scheme string
	// forwarded: the X-Forwarded-Port, X-Forwarded-Proto and
	// X-Forwarded-Scheme lines, one after the other as their names sort.
	forwarded string
	xScheme   string // the X-Scheme line
}

// schemeLineSets holds the schemeLines rendered so far, at most
// maxSchemeLines of them; copy on write.
var schemeLineSets atomic.Pointer[[]schemeLines]

// maxSchemeLines bounds schemeLineSets: past it (ports a client names
// with use-forwarded-headers), a head's scheme fields are written one by
// one.
const maxSchemeLines = 16

// schemeLinesOf returns the lines of port and scheme, rendered on first
// use, or nil when they are not rendered ahead: a scheme other than http
// and https, a port that is not one to five digits, or schemeLineSets
// full.
func schemeLinesOf(port, scheme string) *schemeLines {
	p := schemeLineSets.Load()
	if p != nil {
		for i := range *p {
			if l := &(*p)[i]; l.port == port && l.scheme == scheme {
				return l
			}
		}
	}
	if scheme != "http" && scheme != "https" || len(port) == 0 || len(port) > 5 || len(schemeLineSet(p)) >= maxSchemeLines {
		return nil
	}
	for i := 0; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return nil
		}
	}
	next := append(slices.Clip(schemeLineSet(p)), schemeLines{
		// Cloned: they may be the request's (use-forwarded-headers), whose
		// arena chunk a process-wide entry would pin.
		port: strings.Clone(port), scheme: strings.Clone(scheme),
		forwarded: "X-Forwarded-Port: " + port + "\r\nX-Forwarded-Proto: " + scheme + "\r\nX-Forwarded-Scheme: " + scheme + "\r\n",
		xScheme:   "X-Scheme: " + scheme + "\r\n",
	})
	schemeLineSets.CompareAndSwap(p, &next) // a lost race renders them again next time
	return &next[len(next)-1]
}

func schemeLineSet(p *[]schemeLines) []schemeLines {
	if p == nil {
		return nil
	}
	return *p
}

// rewriteNames are rewriteKeys, then X-Original-Uri: the names of
// setRewriteVals' values.
var rewriteNames = func() (names [len(rewriteKeys) + 1]string) {
	copy(names[:], rewriteKeys[:])
	names[len(rewriteKeys)] = "X-Original-Uri"
	return names
}()

// rewriteSorted are the indexes of rewriteNames in the names' order:
// writeHead takes rewrite's fields so to merge them with the client's
// sorted ones (rewriteKeys is in its values' order).
var rewriteSorted = func() (idx [len(rewriteNames)]int) {
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx[:], func(a, b int) int { return strings.Compare(rewriteNames[a], rewriteNames[b]) })
	if idx != rewriteLinesOrder {
		panic("proxy: headBuf.rewriteLines does not write rewrite's fields in their names' order")
	}
	return idx
}()

// The indexes in rewriteNames of rewrite's fields.
const (
	requestIDKey   = iota // X-Request-Id
	realIPKey             // X-Real-Ip
	fwdForKey             // X-Forwarded-For
	fwdHostKey            // X-Forwarded-Host
	fwdPortKey            // X-Forwarded-Port
	fwdProtoKey           // X-Forwarded-Proto
	fwdSchemeKey          // X-Forwarded-Scheme
	xSchemeKey            // X-Scheme
	origForKey            // X-Original-Forwarded-For
	origHostKey           // X-Original-Forwarded-Host
	originalURIKey        // X-Original-Uri
)

// rewriteLinesOrder is the order of headBuf.rewriteLines' fields, which
// must be rewriteSorted.
var rewriteLinesOrder = [len(rewriteNames)]int{
	fwdForKey, fwdHostKey, fwdPortKey, fwdProtoKey, fwdSchemeKey, origForKey, origHostKey, originalURIKey,
	realIPKey, requestIDKey, xSchemeKey,
}

// rewriteLeads are rewriteNames, each followed by ": ".
var rewriteLeads = func() (leads [len(rewriteNames)]string) {
	for i, name := range rewriteNames {
		leads[i] = name + ": "
	}
	return leads
}()

// directRemoved reports whether writeDirect leaves out the client's field
// k: fillHeader removes or replaces it (requestHopHeaders, Expect,
// forwardedHeaders, rewriteKeys), or Request.Write writes it itself
// (reqWriteExcluded). X-Original-Uri is the client's unless rewrite sets
// it. (Switches, not a map: this runs for each field of each request;
// TestDirectRemoved holds it to those lists.)
func directRemoved(k string) bool {
	switch k {
	case "Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade", // requestHopHeaders
		"Expect",
		"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Proxy",
		"X-Request-Id", "X-Real-Ip", "X-Forwarded-Port", "X-Forwarded-Scheme", "X-Scheme",
		"X-Original-Forwarded-For", "X-Original-Forwarded-Host",
		"Host", "User-Agent", "Content-Length":
		return true
	}
	return false
}

// reqWriteExcluded reports whether k is one of the header fields http.Request.Write writes itself
// or not at all.
func reqWriteExcluded(k string) bool {
	switch k {
	case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
		return true
	}
	return false
}

// requestHopHeaders are the client's fields not passed upstream as they
// came: those nginx's proxy module sets itself by default (Connection, which
// ingress-nginx sets to $connection_upgrade, Keep-Alive and TE emptied,
// Transfer-Encoding its own framing), Upgrade, which only an upgrade
// passes (serveUpgrade), and Trailer, which has no chunked body to go with
// upstream. As in a response (removeResponseHops), the fields
// Connection names, Proxy-Connection, Proxy-Authorization and
// Proxy-Authenticate pass, as nginx passes them: it does not read the
// tokens of a client's Connection, so a client cannot strip a field by
// naming it there either.
var requestHopHeaders = [...]string{"Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// removeRequestHopHeaders removes requestHopHeaders from h.
func removeRequestHopHeaders(h http.Header) {
	for _, k := range requestHopHeaders {
		delete(h, k)
	}
}

// headField is one field of an upstream request head: its name and values.
type headField struct {
	name string
	vals []string
}

// plainRequest reports whether out's head may be written by writeHead:
// no body, no trailers, no Connection field beside a close to add, a URL
// and host that need no rewriting. It returns the host and path to write.
func plainRequest(out *http.Request) (host, path string, ok bool) {
	if out.Body != nil || out.ContentLength != 0 || len(out.TransferEncoding) > 0 || out.Trailer != nil ||
		out.Close && out.Header["Connection"] != nil || out.Method == http.MethodConnect || out.URL.Opaque != "" {
		return "", "", false
	}
	host = out.Host
	if host == "" {
		host = out.URL.Host
	}
	if !plainHost(host) {
		return "", "", false
	}
	path = clientPath(out.URL)
	if path == "" {
		path = "/"
	}
	query := out.URL.ForceQuery || out.URL.RawQuery != ""
	if hasCTL(path) || query && hasCTL(out.URL.RawQuery) {
		return "", "", false // Request.Write's error
	}
	return host, path, true
}

// writeRequestHead writes out's head to bw as out.Write(bw) would, when out
// is plain (plainRequest) and has a User-Agent field; it reports false,
// having written nothing, otherwise. fields is scratch space for the
// sorted fields; it returns it, grown.
func writeRequestHead(bw *bufio.Writer, out *http.Request, fields []headField) ([]headField, bool) {
	host, path, ok := plainRequest(out)
	if !ok {
		return fields, false
	}
	ua, ok := out.Header["User-Agent"]
	if !ok {
		return fields, false // Go's default User-Agent: Request.Write's business
	}
	fields = fields[:0]
	for k, vv := range out.Header {
		if !reqWriteExcluded(k) && h1guard.ValidFieldName(k) { // Request.Write drops an invalid name
			fields = append(fields, headField{k, vv})
		}
	}
	_, framed := out.Header["Content-Length"] // the client's, or prepareBody's for an empty body it read
	writeHead(bw, out, host, path, ua, framed, sortFields(fields), &noRewriteVals, nil)
	return fields, true
}

// sortFields sorts fields by name, as Request.Write writes them. A head's
// few fields are sorted by insertion, without the comparison calls of
// slices.SortFunc, which cost more than the moves.
func sortFields(fields []headField) []headField {
	if len(fields) > 32 {
		slices.SortFunc(fields, func(a, b headField) int { return strings.Compare(a.name, b.name) })
		return fields
	}
	for i := 1; i < len(fields); i++ {
		f := fields[i]
		j := i
		for ; j > 0 && fields[j-1].name > f.name; j-- {
			fields[j] = fields[j-1]
		}
		fields[j] = f
	}
	return fields
}

// writeHead writes the head of out, a plain request to host with the
// escaped path path (plainRequest), with the User-Agent values ua (none
// written when it has none or its first is empty) and the sorted fields,
// with the rewrite fields whose values rw holds (rewriteNames' values, none
// for an empty one; no name of fields) merged in their names' order, as
// Request.Write writes them (with sl, the port and scheme fields, which
// rw holds as sl's port and scheme, appended as sl's lines, and, when no
// field of fields sorts among rewrite's, rewrite's appended in one run:
// rewriteLines), but for
// Content-Length: "0" when framed (the client sent a Content-Length, or a
// chunked body that was empty), none otherwise, whatever the method. That
// is nginx's proxy module's $proxy_internal_body_length, the length of the
// body the client framed; Request.Write sends "0" for every POST, PUT and
// PATCH and never for a GET.
func writeHead(bw *bufio.Writer, out *http.Request, host, path string, ua []string, framed bool, fields []headField, rw *[len(rewriteNames)]string, sl *schemeLines) {
	method := out.Method
	if method == "" {
		method = http.MethodGet
	}
	h := headBuf{bw: bw, b: bw.AvailableBuffer()}
	h.str(method)
	h.str(" ")
	h.str(path)
	if out.URL.ForceQuery || out.URL.RawQuery != "" {
		h.str("?")
		h.str(out.URL.RawQuery)
	}
	h.str(" HTTP/1.1\r\nHost: ")
	h.str(host)
	h.str("\r\n")
	if len(ua) > 0 && ua[0] != "" { // tested before the trim, as Request.Write
		h.field("User-Agent", ua[0])
	}
	if out.Close {
		h.str("Connection: close\r\n") // as Request.Write: plainRequest left no Connection field
	}
	if framed {
		h.str("Content-Length: 0\r\n")
	}
	if sl != nil {
		for len(fields) > 0 && fields[0].name < rewriteNames[fwdForKey] {
			h.fields(fields[0])
			fields = fields[1:]
		}
		if len(fields) > 0 && fields[0].name < rewriteNames[xSchemeKey] {
			sl = nil // a client field sorts among rewrite's: merged one by one
		}
	}
	if sl != nil {
		h.rewriteLines(rw, sl)
	} else {
		for _, i := range rewriteSorted {
			if rw[i] == "" {
				continue
			}
			name := rewriteNames[i]
			for len(fields) > 0 && fields[0].name < name {
				h.fields(fields[0])
				fields = fields[1:]
			}
			h.field(name, rw[i])
		}
	}
	for _, f := range fields {
		h.fields(f)
	}
	h.str("\r\n")
	h.done()
}

// headBuf appends a head's pieces to the free part of bw's buffer and
// hands them to bw (a copy onto themselves) at the end, or before a piece
// that does not fit: an append a piece, where bufio.Writer.WriteString's
// call and bookkeeping cost some 60 instructions each, for each of some
// twenty pieces a request. (The copy onto themselves costs next to
// nothing: writing a head that fits to the connection without bw saved
// no instruction a request under callgrind.)
type headBuf struct {
	bw *bufio.Writer
	b  []byte // bw.AvailableBuffer(), appended to
}

// str appends s.
func (h *headBuf) str(s string) {
	if len(s) > cap(h.b)-len(h.b) {
		h.spill(s)
		return
	}
	h.b = append(h.b, s...)
}

// spill hands bw what h holds, then s, which did not fit after it.
func (h *headBuf) spill(s string) {
	_, _ = h.bw.Write(h.b)
	_, _ = h.bw.WriteString(s)
	h.b = h.bw.AvailableBuffer()
}

// done hands bw what h holds. A write error stays in bw (its Flush's).
func (h *headBuf) done() {
	_, _ = h.bw.Write(h.b)
	h.b = nil
}

// noRewriteVals is writeHead's rw for a request without rewrite's fields.
var noRewriteVals [len(rewriteNames)]string

// rewriteLines appends the lines of rewrite's fields, rw's values in their
// names' order (rewriteLinesOrder), its port and scheme fields as sl's
// lines: without the merge with a client's fields that writeHead's loop
// tests for each.
func (h *headBuf) rewriteLines(rw *[len(rewriteNames)]string, sl *schemeLines) {
	h.rewriteLine(rw, fwdForKey)
	h.rewriteLine(rw, fwdHostKey)
	h.str(sl.forwarded)
	h.rewriteLine(rw, origForKey)
	h.rewriteLine(rw, origHostKey)
	h.rewriteLine(rw, originalURIKey)
	h.rewriteLine(rw, realIPKey)
	h.rewriteLine(rw, requestIDKey)
	h.str(sl.xScheme)
}

// rewriteLine appends the line of rewrite's field i, if its value in rw
// is not empty.
func (h *headBuf) rewriteLine(rw *[len(rewriteNames)]string, i int) {
	if rw[i] != "" {
		h.line(rewriteLeads[i], false, rw[i])
	}
}

// fields appends f's lines, one a value.
func (h *headBuf) fields(f headField) {
	for _, v := range f.vals {
		h.field(f.name, v)
	}
}

// field appends the field line "name: v\r\n" as Request.Write writes it:
// v trimmed (trimField), each CR and LF in it a space.
func (h *headBuf) field(name, v string) { h.line(name, true, v) }

// line appends the field line of lead and v: field's, with colon, or with
// lead the name and ": " already joined (rewriteLeads). A value with no
// line break that fits is appended with the rest of its line at once: one
// capacity check and plain appends instead of a str a piece.
func (h *headBuf) line(lead string, colon bool, v string) {
	if len(v) > 0 && (maySpace(v[0]) || maySpace(v[len(v)-1])) {
		v = trimField(v)
	}
	if len(lead)+len(v)+4 > cap(h.b)-len(h.b) || hasLineBreak(v) {
		h.str(lead)
		if colon {
			h.str(": ")
		}
		h.fieldValue(v)
		h.str("\r\n")
		return
	}
	b := append(h.b, lead...)
	if colon {
		b = append(b, ':', ' ')
	}
	b = append(b, v...)
	h.b = append(b, '\r', '\n')
}

// trimField trims what Request.Write trims from a field value once its
// line breaks are spaces: spaces, tabs and line breaks at either end.
// (A loop, not strings.Trim, which builds its set of bytes per call.)
func trimField(v string) string {
	i, j := 0, len(v)
	for i < j && fieldSpace(v[i]) {
		i++
	}
	for j > i && fieldSpace(v[j-1]) {
		j--
	}
	return v[i:j]
}

func fieldSpace(b byte) bool { return b == ' ' || b == '\t' || b == '\r' || b == '\n' }

// maySpace is fieldSpace, testing first the one comparison that rules
// out the bytes of most values.
func maySpace(b byte) bool { return b <= ' ' && fieldSpace(b) }

// hasLineBreak reports whether v holds a CR or an LF. Most values have
// neither: a value of eight bytes or more is tested eight bytes at a time
// for one under 0x0e (CR and LF are 0x0d and 0x0a), its last eight bytes
// as one word (overlapping the one before), and one of four to seven bytes
// as its first four and last four in one word, not byte by byte; only a
// value with such a word, or a shorter value, byte by byte.
func hasLineBreak(v string) bool {
	if n := len(v) - 8; n >= 0 {
		for i := 0; i < n; i += 8 {
			if h1guard.HasByteUnder(h1guard.Word(v, i), 0x0e) {
				return lineBreakIn(v)
			}
		}
		if !h1guard.HasByteUnder(h1guard.Word(v, n), 0x0e) {
			return false
		}
	} else if n >= -4 {
		x := uint64(word32(v[:4])) | uint64(word32(v[n+4:]))<<32
		if !h1guard.HasByteUnder(x, 0x0e) {
			return false
		}
	}
	return lineBreakIn(v)
}

// word32 returns v's first four bytes as a little-endian word.
func word32(v string) uint32 {
	_ = v[3]
	return uint32(v[0]) | uint32(v[1])<<8 | uint32(v[2])<<16 | uint32(v[3])<<24
}

// lineBreakIn is hasLineBreak byte by byte.
func lineBreakIn(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b <= '\r' && (b == '\r' || b == '\n') {
			return true
		}
	}
	return false
}

// fieldValue appends v with each CR and LF a space, as Request.Write.
func (h *headBuf) fieldValue(v string) {
	start := 0
	for i := 0; i < len(v); i++ {
		if b := v[i]; b == '\r' || b == '\n' {
			h.str(v[start:i])
			h.str(" ")
			start = i + 1
		}
	}
	h.str(v[start:])
}

// plainHost reports whether host is written as it is by Request.Write:
// ASCII letters, digits and the punctuation of names, addresses and ports,
// with no IPv6 zone to remove.
func plainHost(host string) bool {
	for i := 0; i < len(host); i++ {
		switch b := host[i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		case b == '.', b == '-', b == '_', b == ':', b == '[', b == ']':
		default:
			return false
		}
	}
	return true
}

// hasCTL reports whether s has an ASCII control byte, which Request.Write
// refuses in a request target.
func hasCTL(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < ' ' || b == 0x7f {
			return true
		}
	}
	return false
}

// clientPath returns the path of u to send upstream: the client's own
// bytes when u's path is the client's (RawPath is set: net/url keeps the
// target's path there when it differs from its own escaping; whatever
// changes the path clears it), else net/url's escaping. nginx's proxy_pass
// without a URI sends the client's target as it came (r->unparsed_uri);
// EscapedPath would percent-encode '"', '|', '{', '#' or UTF-8, and where
// it escapes, it escapes the decoded path, so that "/a%2Fb\"c" went up as
// "/a/b%22c". The bytes are h1guard's (or HTTP/2's) checked ones: no
// control byte nor space.
func clientPath(u *url.URL) string {
	if u.RawPath != "" {
		return u.RawPath
	}
	if h1server.PlainPath(u.Path) {
		return u.Path // EscapedPath's answer, without its scan's cost
	}
	return u.EscapedPath()
}

// keepClientPath makes u.RequestURI, which Request.Write and the HTTP/2
// transport send, give clientPath's path: the raw path as u.Opaque. A path
// that starts with "//" stays with EscapedPath (an Opaque "//x" reads as a
// scheme-relative URL).
func keepClientPath(u *url.URL) {
	if u.RawPath != "" && u.Opaque == "" && !strings.HasPrefix(u.RawPath, "//") {
		u.Opaque = u.RawPath
	}
}

package proxy

import (
	"bufio"
	"net/http"
	"net/url"
	"slices"
	"sync"

	"github.com/weir-lb/weir/l7/h1guard"
)

// The upstream request of an HTTP/1.1 exchange costs no allocation on the
// common path: outgoing builds it in a recycled outRequest (its
// http.Request, url.URL, header map and values), and writeRequestHead
// writes a request without body or trailers straight into the upstream
// connection's buffer, byte for byte what http.Request.Write writes for it
// (upstreamreq_test.go compares them). Anything else is written by
// http.Request.Write.

// outRequest is the upstream request of one exchange and what backs it.
type outRequest struct {
	req    http.Request
	url    url.URL
	header http.Header
	vals   []string // the header's values
	keys   []string // writeRequestHead's sorted names
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
	if len(o.header) > maxRecycledFields || cap(o.vals) > maxRecycledFields {
		return
	}
	clear(o.header)
	clear(o.vals)
	clear(o.keys)
	o.req, o.url, o.noUA = http.Request{}, url.URL{}, [1]string{}
	outRequests.Put(o)
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

// reqWriteExcluded reports whether k is one of the header fields http.Request.Write writes itself
// or not at all.
func reqWriteExcluded(k string) bool {
	switch k {
	case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
		return true
	}
	return false
}

// writeRequestHead writes out's head to bw as out.Write(bw) would, when out
// has no body, no trailers and no Connection: close to add, its URL and
// host need no rewriting and it has a User-Agent field; it reports false,
// having written nothing, otherwise. keys is scratch space for the sorted
// field names; it returns it, grown.
func writeRequestHead(bw *bufio.Writer, out *http.Request, keys []string) ([]string, bool) {
	if out.Body != nil || out.ContentLength != 0 || len(out.TransferEncoding) > 0 || out.Trailer != nil ||
		out.Close || out.Method == http.MethodConnect || out.URL.Opaque != "" {
		return keys, false
	}
	host := out.Host
	if host == "" {
		host = out.URL.Host
	}
	if !plainHost(host) {
		return keys, false
	}
	ua, ok := out.Header["User-Agent"]
	if !ok {
		return keys, false // Go's default User-Agent: Request.Write's business
	}
	path := out.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	query := out.URL.ForceQuery || out.URL.RawQuery != ""
	if hasCTL(path) || query && hasCTL(out.URL.RawQuery) {
		return keys, false // Request.Write's error
	}
	keys = keys[:0]
	for k := range out.Header {
		if !reqWriteExcluded(k) && h1guard.ValidFieldName(k) { // Request.Write drops an invalid name
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)

	method := out.Method
	if method == "" {
		method = http.MethodGet
	}
	bw.WriteString(method)
	bw.WriteByte(' ')
	bw.WriteString(path)
	if query {
		bw.WriteByte('?')
		bw.WriteString(out.URL.RawQuery)
	}
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\n")
	if len(ua) > 0 && ua[0] != "" { // tested before the trim, as Request.Write
		bw.WriteString("User-Agent: ")
		writeFieldValue(bw, trimField(ua[0]))
		bw.WriteString("\r\n")
	}
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		bw.WriteString("Content-Length: 0\r\n") // as Request.Write, for these methods
	}
	for _, k := range keys {
		for _, v := range out.Header[k] {
			bw.WriteString(k)
			bw.WriteString(": ")
			writeFieldValue(bw, trimField(v))
			bw.WriteString("\r\n")
		}
	}
	bw.WriteString("\r\n")
	return keys, true
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

// writeFieldValue writes v with each CR and LF a space, as Request.Write.
func writeFieldValue(bw *bufio.Writer, v string) {
	start := 0
	for i := 0; i < len(v); i++ {
		if b := v[i]; b == '\r' || b == '\n' {
			bw.WriteString(v[start:i])
			bw.WriteByte(' ')
			start = i + 1
		}
	}
	bw.WriteString(v[start:])
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

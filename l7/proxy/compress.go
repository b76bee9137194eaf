package proxy

import (
	"compress/gzip"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/weir-lb/weir/userspace/annotations"
)

// compressConfig is the compiled use-gzip / enable-brotli configuration.
type compressConfig struct {
	gzip, brotli       bool
	gzipLevel, gzipMin int
	brotliLevel, brMin int
	gzipTypes, brTypes mediaTypes
	disableMSIE6       bool
	disable            *regexp.Regexp // gzip-disable other than msie6
}

// mediaTypes is a compiled gzip_types list: text/html always matches.
type mediaTypes struct {
	any bool // "*": every response, even one without Content-Type
	set map[string]struct{}
}

func compileMediaTypes(types []string) mediaTypes {
	m := mediaTypes{set: make(map[string]struct{}, len(types)+1)}
	for _, t := range types {
		if t == "*" {
			m.any = true
		}
		m.set[t] = struct{}{}
	}
	m.set["text/html"] = struct{}{}
	return m
}

// match reports whether a response of Content-Type ct is of the list, as
// nginx's ngx_http_test_content_type: all before the first ";", ignoring
// case but not trimmed (nginx's upstream module cuts the type there, so
// "text/html ;charset=utf-8" is of type "text/html " and matches no
// list); no Content-Type matches "*" only.
func (m *mediaTypes) match(ct string) bool {
	if m.any {
		return true
	}
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.ToLower(ct)
	_, ok := m.set[ct]
	return ok && ct != ""
}

// compileCompress compiles c. A gzip-disable expression that does not
// compile (the annotations package never keeps one) disables nothing.
func compileCompress(c annotations.Compress) compressConfig {
	cc := compressConfig{gzip: c.Gzip, brotli: c.Brotli}
	var gt, bt []string
	cc.gzipLevel, cc.gzipMin, gt = c.GzipSettings()
	cc.brotliLevel, cc.brMin, bt = c.BrotliSettings()
	cc.gzipTypes, cc.brTypes = compileMediaTypes(gt), compileMediaTypes(bt)
	switch c.GzipDisable {
	case "":
	case "msie6":
		cc.disableMSIE6 = true
	default:
		cc.disable, _ = regexp.Compile("(?i)" + c.GzipDisable)
	}
	return cc
}

// gzipDisabled reports whether gzip-disable matches the User-Agent ua.
func (c *compressConfig) gzipDisabled(ua string) bool {
	return (c.disableMSIE6 && msie6(ua)) || (c.disable != nil && c.disable.MatchString(ua))
}

// msie6 is nginx's $msie6 test of a User-Agent: "MSIE 4.", "MSIE 5." or
// "MSIE 6." not followed by "SV1", and not Opera.
func msie6(ua string) bool {
	i := strings.Index(ua, "MSIE ")
	if i < 0 || i+7 >= len(ua) || ua[i+6] != '.' || strings.Contains(ua, "Opera") {
		return false
	}
	switch ua[i+5] {
	case '4', '5':
		return true
	case '6':
		return !strings.Contains(ua[i+8:], "SV1")
	}
	return false
}

// acceptsGzip reports whether the Accept-Encoding value ae accepts gzip,
// read as nginx's ngx_http_gzip_accept_encoding does: the first "gzip"
// (any case) that starts the value or follows a comma or a space decides;
// after it only spaces, then the end, a comma, or ";" with a "q" (or "Q")
// "=" quantity nginx's way (ngxQuantity) not zero. Anything else declines:
// "gzip;level=1", "gzip\t", "gzip; q = 1", "gzipx, gzip", and a q of more
// than three decimals or above 1.
func acceptsGzip(ae string) bool {
	start, p := 0, 0
	for {
		i := indexFold(ae[start:], "gzip")
		if i < 0 {
			return false
		}
		p = start + i
		if p == start || ae[p-1] == ',' || ae[p-1] == ' ' {
			break
		}
		start = p + 4
	}
	p += 4
	for ; p < len(ae); p++ {
		switch ae[p] {
		case ',':
			return true
		case ';':
			return gzipQuantity(ae[p+1:])
		case ' ':
		default:
			return false
		}
	}
	return true
}

// gzipQuantity reads what follows "gzip;" as nginx: spaces, "q" or "Q",
// "=" and a quantity ngxQuantity does not read as 0 (nothing at all is
// acceptance).
func gzipQuantity(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ':
			continue
		case 'q', 'Q':
			s = s[i+1:]
			return len(s) >= 2 && s[0] == '=' && ngxQuantity(s[1:]) != 0
		default:
			return false
		}
	}
	return true
}

// ngxQuantity is nginx's ngx_http_gzip_quantity: "0" or "1", then nothing,
// a comma or a space, or "." and up to three digits (to a comma or a
// space) whose sum nginx adds to the integer part times 100; 0 for anything
// else or above 100. Only its being 0 matters.
func ngxQuantity(s string) int {
	if s == "" || (s[0] != '0' && s[0] != '1') {
		return 0
	}
	q := int(s[0]-'0') * 100
	if len(s) == 1 || s[1] == ',' || s[1] == ' ' {
		return q
	}
	if s[1] != '.' {
		return 0
	}
	n := 0
	for _, c := range []byte(s[2:]) {
		if c == ',' || c == ' ' {
			break
		}
		if c < '0' || c > '9' {
			return 0
		}
		q += int(c - '0')
		n++
	}
	if q > 100 || n > 3 {
		return 0
	}
	return q
}

// acceptsBrotli reports whether the Accept-Encoding value ae accepts br,
// read as ngx_brotli's check_accept_encoding: the first "br" (any case)
// between the start, a comma or a space and the end, a comma, a space or
// ";" decides (others are skipped); it declines only for an explicit
// ";q=0", "q=0.", "q=0.0", "q=0.00" or "q=0.000" (spaces allowed around ";",
// "q" and "=", "q" lower case) or a non-digit where a fraction digit of a
// "q=0." should be; anything else after it accepts.
func acceptsBrotli(ae string) bool {
	at := func(i int) byte { // nginx reads the request's NUL past the end
		if i >= 0 && i < len(ae) {
			return ae[i]
		}
		return 0
	}
	from := 0
	for {
		i := indexFold(ae[from:], "br")
		if i < 0 {
			return false
		}
		p := from + i
		from = p + 2
		if before := at(p - 1); p > 0 && before != ',' && before != ' ' {
			continue
		}
		if after := at(p + 2); p+2 < len(ae) && after != ',' && after != ' ' && after != ';' {
			continue
		}
		c := p + 2
		for _, want := range []byte(";q=0") {
			for at(c) == ' ' {
				c++
			}
			if at(c) != want {
				return true
			}
			c++
		}
		if at(c) != '.' {
			return false // ;q=0
		}
		for range 3 {
			c++
			switch d := at(c); {
			case d < '0' || d > '9':
				return false
			case d > '0':
				return true
			}
		}
		return false // ;q=0.000
	}
}

// Writers of each level, reset per response.
var (
	gzipPools   [gzip.BestCompression + 1]sync.Pool
	brotliPools [brotli.BestCompression + 1]sync.Pool
)

// compressor is a pooled *gzip.Writer or *brotli.Writer.
type compressor interface {
	io.WriteCloser
	Flush() error
	Reset(io.Writer)
}

// encoder compresses a response body on its way to the client. It takes
// the place of the responseRecorder's ResponseWriter from the header to the
// end of the body (finish).
type encoder struct {
	http.ResponseWriter // the client's
	rec                 *responseRecorder
	zw                  compressor
	pool                *sync.Pool
	out                 countWriter // what zw writes: the client's, counted
	in                  int64       // the uncompressed bytes written
}

// countWriter counts the bytes written to w.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

func (e *encoder) Write(b []byte) (int, error) {
	n, err := e.zw.Write(b)
	e.in += int64(n)
	return n, err
}

// FlushError sends what was compressed so far to the client (a sync
// flush: a streamed response arrives as it is written).
func (e *encoder) FlushError() error {
	if err := e.zw.Flush(); err != nil {
		return err
	}
	return http.NewResponseController(e.ResponseWriter).Flush()
}

// Flush is FlushError without its error.
func (e *encoder) Flush() { _ = e.FlushError() }

// Unwrap gives http.ResponseController access to the client connection.
func (e *encoder) Unwrap() http.ResponseWriter { return e.ResponseWriter }

// encodeResponse prepares the response header of r, the upstream's copied
// into rec: it removes the upstream's Server and Date (upstreamServerHeader;
// relayHeader or relayFields left out the other fields nginx's
// proxy_hide_header hides),
// keeps nginx's Content-Type, an untyped response
// untyped (keepUntyped) and,
// when use-gzip or enable-brotli applies, sets Content-Encoding and puts an
// encoder in front of the client. It returns the encoder, nil when the body
// goes as it is; the body's copy ends with its finish.
//
// As nginx's gzip filter (and ngx_brotli's): only status 200, 403 and 404,
// not an encoded body, a type of the list, a Content-Length not below the
// minimum. A proxied HEAD response is one too, as with nginx (whose filters
// run before it knows the response has no body): it gets the header of the
// compressed body (Content-Encoding, no Content-Length) and no body. With
// use-gzip (gzip_vary on), such a response gets Vary: Accept-Encoding
// whether or not the client accepts an encoding. Brotli goes first when the client
// accepts "br"; gzip needs HTTP/1.1 and a User-Agent not in gzip-disable.
// held and ct are what relay knows of the client's header (heldFields)
// and its Content-Type values, which with heldKnown are not looked up;
// fast is resp's fastResponse, nil for another.
func (p *Proxy) encodeResponse(rec *responseRecorder, r *http.Request, resp *http.Response, fast *fastResponse, held heldFields, ct []string) *encoder {
	g := p.liveGlobal()
	h := rec.Header()
	if fast != nil && g.ServerTokens && g.AllowBackendServerHeader {
		fast.fill() // upstreamServerHeader reads resp.Header
	}
	g.upstreamServerHeader(h, resp.Header, held)
	if held&heldKnown == 0 {
		ct = h["Content-Type"]
	}
	keepUntyped(h, ct)
	c := &g.compress
	if !c.gzip && !c.brotli {
		return nil
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusForbidden, http.StatusNotFound:
	default:
		return nil
	}
	if h.Get("Content-Encoding") != "" {
		return nil
	}
	cl, typ := resp.ContentLength, h.Get("Content-Type")
	gz := c.gzip && (cl < 0 || cl >= int64(c.gzipMin)) && c.gzipTypes.match(typ)
	br := c.brotli && (cl < 0 || cl >= int64(c.brMin)) && c.brTypes.match(typ)
	if !gz && !br {
		return nil
	}
	if c.gzip { // gzip_vary on comes with use-gzip alone: ngx_brotli asks for it, never sets it
		addVary(h)
	}
	ae := r.Header.Get("Accept-Encoding")
	var coding string
	switch {
	case br && acceptsBrotli(ae):
		coding = "br"
	case gz && acceptsGzip(ae) && r.ProtoAtLeast(1, 1) && !c.gzipDisabled(r.UserAgent()):
		coding = "gzip"
	default:
		return nil
	}
	// An empty Content-Encoding of the upstream's is no encoding to nginx,
	// which adds its own line after it.
	h["Content-Encoding"] = append(h["Content-Encoding"], coding)
	h.Del("Content-Length")
	h.Del("Accept-Ranges")
	weakenETag(h)
	if r.Method == http.MethodHead { // the header of a compressed body, and no body
		return nil
	}
	e := &encoder{ResponseWriter: rec.ResponseWriter, rec: rec}
	e.out.w = e.ResponseWriter
	if coding == "br" {
		e.pool = &brotliPools[c.brotliLevel]
		e.zw = pooled(e.pool, &e.out, func() compressor { return brotli.NewWriterLevel(&e.out, c.brotliLevel) })
	} else {
		e.pool = &gzipPools[c.gzipLevel]
		e.zw = pooled(e.pool, &e.out, func() compressor {
			zw, _ := gzip.NewWriterLevel(&e.out, c.gzipLevel) // the level is valid
			return zw
		})
	}
	rec.ResponseWriter = e
	return e
}

// pooled returns a writer of pool reset to w, or a new one.
func pooled(pool *sync.Pool, w io.Writer, create func() compressor) compressor {
	if zw, ok := pool.Get().(compressor); ok {
		zw.Reset(w)
		return zw
	}
	return create()
}

// finish ends the compressed body when err, the body copy's error, is nil,
// or sends what was compressed of a cut one; it gives the client's
// ResponseWriter back to the recorder, counting the compressed bytes as
// sent, and returns err or the error of the end. A nil encoder returns err.
func (e *encoder) finish(err error) error {
	if e == nil {
		return err
	}
	if err == nil {
		err = e.zw.Close()
	} else {
		_ = e.zw.Flush()
	}
	e.zw.Reset(io.Discard)
	e.pool.Put(e.zw)
	e.rec.ResponseWriter = e.ResponseWriter
	e.rec.bytes += e.out.n - e.in
	return err
}

// addVary puts a Vary: Accept-Encoding line before the upstream's Vary
// lines, whatever they name, as nginx's gzip_vary writes its own line
// (ngx_http_header_filter) ahead of the upstream's headers.
func addVary(h http.Header) {
	h["Vary"] = append([]string{"Accept-Encoding"}, h["Vary"]...)
}

// weakenETag makes a strong ETag weak, as nginx does to a response it
// compresses; a malformed one (not quoted) is removed.
func weakenETag(h http.Header) {
	v := h.Get("Etag")
	switch {
	case v == "", strings.HasPrefix(v, "W/"):
	case strings.HasPrefix(v, `"`):
		h.Set("Etag", "W/"+v)
	default:
		h.Del("Etag")
	}
}

// keepUntyped gives a proxied response nginx's Content-Type: the
// upstream's last Content-Type line alone (ngx_http_upstream_copy_content_type
// keeps each in turn; one is written), none when that is empty or there is
// none. The server gives none a sniffed one: nginx sends such a response
// untyped (default-type is for nginx's own responses only). A nil value
// writes no header line. v is h's Content-Type values, known to the
// caller.
func keepUntyped(h http.Header, v []string) {
	switch {
	case len(v) == 0 || v[len(v)-1] == "":
		h["Content-Type"] = nil
	case len(v) > 1:
		h["Content-Type"] = v[len(v)-1:]
	}
}

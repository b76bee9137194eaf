package h1server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/h1guard"
)

// seen is what a handler sees of a request.
type seen struct {
	Method, RequestURI, URL, Host, Proto string
	Header, Trailer                      http.Header
	ContentLength                        int64
	TransferEncoding                     []string
	Close                                bool
	Body                                 string
	BodyErr                              bool
}

func see(r *http.Request) seen {
	b, err := io.ReadAll(r.Body)
	return seen{Method: r.Method, RequestURI: r.RequestURI, URL: r.URL.String(), Host: r.Host, Proto: r.Proto,
		Header: r.Header.Clone(), Trailer: r.Trailer.Clone(), ContentLength: r.ContentLength,
		TransferEncoding: r.TransferEncoding, Close: r.Close, Body: string(b), BodyErr: err != nil}
}

// FuzzServer: for any bytes whose first head h1guard accepts and net/http's
// ReadRequest reads, the handler under a Server sees the request net/http
// reads: method, target, URL, Host, header map, body framing, Close, body
// and trailers; but the Host line of a request whose target is an absolute
// URL, which net/http drops, stays in the header (hostLine). The seed
// corpus is testdata/fuzz/FuzzServer.
func FuzzServer(f *testing.F) {
	for _, s := range []string{
		"GET /a?b=%zz HTTP/1.1\r\nHost: a\r\nX: 1\r\nx: 2\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n3;e\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
		"GET http://h:8/p HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n",
		"GET /x HTTP/1.0\r\nConnection: keep-alive\r\nPragma: no-cache\r\n\r\n",
		"PUT /u HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
		// The fields serveRequest notes while filling the map (notedHost
		// and the others), named in lower case, twice, or not at all.
		"GET /n HTTP/1.0\r\npragma: no-cache\r\nPRAGMA: x\r\nconnection: Keep-Alive\r\n\r\n",
		"GET /n HTTP/1.1\r\nhost: a\r\npragma: x\r\npragma: no-cache\r\nconnection: x\r\nCONNECTION: close\r\n\r\n",
		"PUT /n HTTP/1.1\r\nhost: a\r\nexpect: 100-Continue\r\ncontent-length: 1\r\n\r\nx",
		"GET /n HTTP/1.1\r\nPragma: no-cache\r\nCache-Control: max-age=1\r\n\r\n",
		"GET / HTTP/1.1\r\nhost: a\r\nsec-ch-ua: \"x\"\r\nSEC-CH-UA: y\r\nx-" + strings.Repeat("long-", 20) + "name: z\r\nx_a-B: u\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	got := make(chan seen, 1)
	addr, _ := start(f, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- see(r)
	}))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, done, err := h1guard.ParseHead(b, h1guard.Limits{})
		if err != nil || !done {
			return
		}
		want, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b[h.Start:])))
		if err != nil {
			return // net/http's server answers 400 itself
		}
		if want.Method == http.MethodConnect || want.Method == http.MethodTrace {
			return
		}
		w := see(want)
		w.Close = nginxClose(want)
		if v, ok := hostLine(b[h.Start:]); ok && want.URL.Host != "" {
			w.Header["Host"] = []string{v}
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		_ = c.(*net.TCPConn).CloseWrite()
		var g seen
		select {
		case g = <-got:
		case <-time.After(5 * time.Second):
			t.Fatalf("no request reached the handler for %q", b)
		}
		if g.BodyErr && !w.BodyErr && (strictTrailer(b[h.End:]) || strictChunkExt(b[h.End:])) {
			// A trailer field name that is not a token, a trailer
			// line ending in a bare LF, a control byte in a chunk
			// extension: h1server refuses the body (README: broken
			// chunked framing is a 400, where nginx reads it
			// leniently), net/http takes it.
			return
		}
		if w.BodyErr || g.BodyErr {
			// Both fail: where is not the point (a short body).
			w.Body, g.Body, w.Trailer, g.Trailer = "", "", nil, nil
		}
		if !reflect.DeepEqual(normal(w), normal(g)) {
			t.Errorf("for %q\nnet/http: %+v\nh1server: %+v", b, w, g)
		}
	})
}

// nginxClose is whether nginx 1.22 closes the connection after r, where
// h1server follows it rather than net/http (README): the last Connection
// line holding "close" or "keep-alive" anywhere, in any case, decides;
// without one HTTP/1.0 closes and HTTP/1.1 keeps the connection.
func nginxClose(r *http.Request) bool {
	close, keepAlive := false, false
	for _, v := range r.Header["Connection"] {
		switch v = strings.ToLower(v); {
		case strings.Contains(v, "close"):
			close, keepAlive = true, false
		case strings.Contains(v, "keep-alive"):
			close, keepAlive = false, true
		}
	}
	return close || r.ProtoMajor == 1 && r.ProtoMinor == 0 && !keepAlive
}

// strictTrailer is whether the chunked body b has a trailer line that
// h1server refuses and net/http takes: a field name that is not a token,
// or a line ending in a bare LF.
func strictTrailer(b []byte) bool {
	i, ok := trailerStart(b)
	if !ok {
		return false
	}
	for b = b[i:]; ; {
		line, rest, ok := bytes.Cut(b, []byte("\n"))
		if !ok {
			return false
		}
		if !bytes.HasSuffix(line, []byte("\r")) {
			return true
		}
		line = line[:len(line)-1]
		if len(line) == 0 {
			return false
		}
		if name, _, _ := bytes.Cut(line, []byte(":")); !h1guard.ValidFieldName(name) {
			return true
		}
		b = rest
	}
}

// strictChunkExt is whether a chunk-size line of the chunked body b has
// a control byte other than HTAB in its extensions, which RFC 9112's
// chunk-ext grammar has no room for: net/http skips extensions unread.
func strictChunkExt(b []byte) bool {
	for {
		line, rest, ok := bytes.Cut(b, []byte("\n"))
		if !ok {
			return false
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		size, ext, _ := bytes.Cut(line, []byte(";"))
		if bytes.ContainsFunc(ext, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
			return true
		}
		n, err := strconv.ParseInt(string(size), 16, 64)
		if err != nil || n <= 0 || int64(len(rest)) < n+2 {
			return false
		}
		b = rest[n+2:]
	}
}

// trailerStart is the offset in the chunked body b of its trailer section,
// after the last chunk; not ok if b has none.
func trailerStart(b []byte) (int, bool) {
	off := 0
	for {
		line, rest, ok := bytes.Cut(b[off:], []byte("\n"))
		if !ok {
			return 0, false
		}
		n, err := h1guard.ChunkSize(bytes.TrimSuffix(line, []byte("\r")))
		if err != nil {
			return 0, false
		}
		off += len(line) + 1
		if n == 0 {
			return off, true
		}
		if int64(len(rest)) < n+2 {
			return 0, false
		}
		off += int(n) + 2
	}
}

// hostLine returns the value of the first Host line of the request head
// in b.
func hostLine(b []byte) (string, bool) {
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(b)))
	if _, err := tp.ReadLine(); err != nil {
		return "", false
	}
	h, err := tp.ReadMIMEHeader()
	if v := h["Host"]; err == nil && len(v) > 0 {
		return v[0], true
	}
	return "", false
}

// normal makes empty and nil maps and slices compare equal.
func normal(s seen) string {
	if len(s.Trailer) == 0 {
		s.Trailer = nil
	}
	if len(s.TransferEncoding) == 0 {
		s.TransferEncoding = nil
	}
	return fmt.Sprintf("%+v", s)
}

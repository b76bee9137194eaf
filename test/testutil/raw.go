package testutil

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// RawResponse is one response read by RawExchange, its body read.
type RawResponse struct {
	*http.Response
	Body string
}

// RawExchange writes raw (hostile HTTP, byte for byte) on a new connection
// to addr, reads until the server closes the connection and returns the
// responses in order. It fails tb when the server has not closed the
// connection within 5 seconds.
func RawExchange(tb testing.TB, addr, raw string) []RawResponse {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatalf("dial %s: %v", addr, err)
	}
	return RawExchangeOn(tb, c, raw)
}

// RawExchangeOn is RawExchange on the connection c (a TLS connection, say),
// which it closes.
func RawExchangeOn(tb testing.TB, c net.Conn, raw string) []RawResponse {
	tb.Helper()
	b := RawWire(tb, c, raw)
	var out []RawResponse
	br := bufio.NewReader(strings.NewReader(string(b)))
	for {
		if _, err := br.Peek(1); err == io.EOF {
			return out
		}
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			tb.Fatalf("parse response %d of %q: %v", len(out)+1, b, err)
		}
		body, err := io.ReadAll(res.Body)
		if err != nil {
			tb.Fatalf("read the body of response %d of %q: %v", len(out)+1, b, err)
		}
		out = append(out, RawResponse{Response: res, Body: string(body)})
	}
}

// RawWire writes raw on c and returns every byte read until the server
// closes the connection, which it closes. It fails tb when the server has
// not closed it within 5 seconds.
func RawWire(tb testing.TB, c net.Conn, raw string) []byte {
	tb.Helper()
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		tb.Fatalf("write: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		tb.Fatalf("read until the server closes the connection: %v (read %q)", err, b)
	}
	return b
}

// Statuses returns the status codes of rs.
func Statuses(rs []RawResponse) []int {
	out := make([]int, len(rs))
	for i, r := range rs {
		out[i] = r.StatusCode
	}
	return out
}

// WireSize is the bytes of a response as its client read them: all of
// them, those of its head (status line to blank line), and whether its
// body was chunked.
type WireSize struct {
	Total, Head int
	Chunked     bool
}

// WireSizes splits b, every byte a client read of a connection, into its
// responses, the i-th the answer to a request of methods[i] (a HEAD's has
// no body), and returns their sizes; it fails tb when b is not those
// responses.
func WireSizes(tb testing.TB, b []byte, methods ...string) []WireSize {
	tb.Helper()
	var out []WireSize
	for _, m := range methods {
		head := bytes.Index(b, []byte("\r\n\r\n")) + 4
		if head < 4 {
			tb.Fatalf("no head for the %s of response %d in %q", m, len(out)+1, b)
		}
		r := bytes.NewReader(b)
		br := bufio.NewReader(r)
		res, err := http.ReadResponse(br, &http.Request{Method: m})
		if err != nil {
			tb.Fatalf("parse response %d of %q: %v", len(out)+1, b, err)
		}
		if _, err := io.Copy(io.Discard, res.Body); err != nil {
			tb.Fatalf("read the body of response %d of %q: %v", len(out)+1, b, err)
		}
		n := len(b) - r.Len() - br.Buffered()
		out = append(out, WireSize{Total: n, Head: head, Chunked: len(res.TransferEncoding) > 0})
		b = b[n:]
	}
	if len(b) > 0 {
		tb.Fatalf("%d bytes after %d responses: %q", len(b), len(out), b)
	}
	return out
}

// Pipeline returns the requests reqs written one after the other on a
// connection, each a request line with the field lines that follow it
// (CRLF-separated), then those of fields ("", or lines each ending in
// CRLF), and "Connection: close" for the last one when it is HTTP/1.1;
// and their methods, for WireSizes.
func Pipeline(reqs []string, fields string) (raw string, methods []string) {
	var b strings.Builder
	for i, req := range reqs {
		b.WriteString(req + "\r\n" + fields)
		if i == len(reqs)-1 && strings.Contains(req, " HTTP/1.1") {
			b.WriteString("Connection: close\r\n")
		}
		b.WriteString("\r\n")
		m, _, _ := strings.Cut(req, " ")
		methods = append(methods, m)
	}
	return b.String(), methods
}

// SizesHandler answers as the backend of the byte counts compared with
// nginx 1.22.1 (l7/proxy's and test/e2e's $bytes_sent tests): /plain
// "hello, world\n" (text/plain, with its length), /chunked three flushed
// parts of 10, 11 and 12 bytes without a length, /redirect a 301 to
// http://example.test/elsewhere, /304 a 304 with an ETag, /slow nothing
// until the request is cancelled, once it said on slow that it arrived.
func SizesHandler(slow chan<- struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/plain":
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "hello, world\n")
		case "/chunked":
			w.Header().Set("Content-Type", "text/plain")
			for i := range 3 {
				io.WriteString(w, strings.Repeat("x", 10+i))
				w.(http.Flusher).Flush()
			}
		case "/redirect":
			w.Header().Set("Location", "http://example.test/elsewhere")
			w.WriteHeader(http.StatusMovedPermanently)
		case "/304":
			w.Header().Set("ETag", `"abc"`)
			w.WriteHeader(http.StatusNotModified)
		case "/slow":
			slow <- struct{}{}
			<-r.Context().Done()
		}
	}
}

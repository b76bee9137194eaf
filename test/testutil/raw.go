package testutil

import (
	"bufio"
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
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		tb.Fatalf("write: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil {
		tb.Fatalf("read until the server closes the connection: %v (read %q)", err, b)
	}
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

// Statuses returns the status codes of rs.
func Statuses(rs []RawResponse) []int {
	out := make([]int, len(rs))
	for i, r := range rs {
		out[i] = r.StatusCode
	}
	return out
}

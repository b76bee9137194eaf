package h1servertest

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// H2Field is one header field of a raw HTTP/2 request, sent as it is.
type H2Field struct{ Name, Value string }

// H2Request returns the fields of a request with :method method, :scheme
// http, :authority authority and :path path, in that order, then extra.
func H2Request(method, authority, path string, extra ...H2Field) []H2Field {
	f := []H2Field{{":method", method}, {":scheme", "http"}, {":authority", authority}, {":path", path}}
	return append(f, extra...)
}

// H2Outcome is what a raw HTTP/2 client saw of its stream 1.
type H2Outcome struct {
	// Status is the response's :status when the server sent one of
	// HPACK's static table (Go's encoder indexes those): "200", "204",
	// "206", "304", "400", "404" or "500"; "other" for another; "" when
	// no HEADERS came.
	Status string
	// Reset is true when stream 1 was reset or the connection ended
	// (GOAWAY, EOF) before its HEADERS.
	Reset bool
}

// RawH2 sends, on a new h2c prior-knowledge connection to addr (a
// 127.0.0.1 address), stream 1 with fields in one HEADERS frame (with
// END_STREAM when data is nil), then data in one DATA frame with
// END_STREAM, and reads frames until stream 1 is answered, reset, or the
// connection ends, within 10 seconds. The fields are HPACK literals
// without Huffman coding, so any bytes reach the server's decoder as a
// hostile client would send them.
func RawH2(tb testing.TB, addr string, fields []H2Field, data []byte) H2Outcome {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	out := []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	out = h2Frame(out, frameSettings, 0, 0, nil)
	var block []byte
	for _, f := range fields {
		block = hpackLiteral(block, f)
	}
	flags := byte(flagEndHeaders)
	if data == nil {
		flags |= flagEndStream
	}
	out = h2Frame(out, frameHeaders, flags, 1, block)
	if data != nil {
		out = h2Frame(out, frameData, flagEndStream, 1, data)
	}
	if _, err := c.Write(out); err != nil {
		tb.Fatal(err)
	}
	br := bufio.NewReader(c)
	var hdr [9]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return H2Outcome{Reset: true}
		}
		n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
		payload := make([]byte, n)
		if _, err := io.ReadFull(br, payload); err != nil {
			return H2Outcome{Reset: true}
		}
		stream := binary.BigEndian.Uint32(hdr[5:]) & 0x7fffffff
		switch typ := hdr[3]; {
		case typ == frameSettings && hdr[4]&flagAck == 0:
			if _, err := c.Write(h2Frame(nil, frameSettings, flagAck, 0, nil)); err != nil {
				return H2Outcome{Reset: true}
			}
		case typ == frameGoAway, typ == frameRSTStream && stream == 1:
			return H2Outcome{Reset: true}
		case typ == frameHeaders && stream == 1 && n > 0:
			if s, ok := staticStatus[payload[0]]; ok {
				return H2Outcome{Status: s}
			}
			return H2Outcome{Status: "other"}
		}
	}
}

const (
	frameData      = 0x0
	frameHeaders   = 0x1
	frameRSTStream = 0x3
	frameSettings  = 0x4
	frameGoAway    = 0x7

	flagEndStream  = 0x1
	flagAck        = 0x1
	flagEndHeaders = 0x4
)

// staticStatus maps the first byte of a header block that starts with an
// indexed :status of HPACK's static table (RFC 7541, appendix A) to it.
var staticStatus = map[byte]string{
	0x88: "200", 0x89: "204", 0x8a: "206", 0x8b: "304", 0x8c: "400", 0x8d: "404", 0x8e: "500",
}

// hpackLiteral appends f as an HPACK literal without indexing, with a new
// name and no Huffman coding.
func hpackLiteral(b []byte, f H2Field) []byte {
	b = append(b, 0)
	for _, s := range []string{f.Name, f.Value} {
		b = hpackInt(b, 7, len(s))
		b = append(b, s...)
	}
	return b
}

// hpackInt appends n as an HPACK integer with a prefix of prefix bits.
func hpackInt(b []byte, prefix uint, n int) []byte {
	limit := 1<<prefix - 1
	if n < limit {
		return append(b, byte(n))
	}
	b = append(b, byte(limit))
	for n -= limit; n >= 128; n >>= 7 {
		b = append(b, byte(n%128+128))
	}
	return append(b, byte(n))
}

// h2Frame appends one HTTP/2 frame.
func h2Frame(b []byte, typ, flags byte, stream uint32, payload []byte) []byte {
	n := len(payload)
	b = append(b, byte(n>>16), byte(n>>8), byte(n), typ, flags)
	b = binary.BigEndian.AppendUint32(b, stream)
	return append(b, payload...)
}

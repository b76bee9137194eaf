package h1guard

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// FuzzHead: ParseHead never panics, stays within its limits, and a head it
// accepts, net/http reads (when it reads it at all) as the same request:
// method, target, Host, number of fields and body framing. The seed corpus
// is testdata/fuzz/FuzzHead.
func FuzzHead(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, lim := range []Limits{{}, {Buffers: 2, BufferSize: 64}} {
			h, done, err := ParseHead(b, lim)
			if err != nil || !done {
				continue
			}
			lim = lim.withDefaults()
			if h.End-h.Start > lim.maxHead() || h.End > len(b) || h.Start > h.End {
				t.Fatalf("head [%d:%d] of %d bytes accepted under %+v", h.Start, h.End, len(b), lim)
			}
			head := b[h.Start:h.End]
			req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
			if err != nil {
				continue // net/http is stricter here: it answers 400 itself
			}
			fields := 0
			for _, vs := range req.Header {
				fields += len(vs)
			}
			chunked := len(req.TransferEncoding) == 1 && req.TransferEncoding[0] == "chunked"
			if h.HasHost {
				fields++ // ReadRequest moves Host out of Header
			}
			if chunked {
				fields++ // and Transfer-Encoding
			}
			origin := b[h.Target.Off] == '/'
			cl := req.ContentLength
			if chunked || cl == 0 {
				cl = -1
			}
			wantCL := h.ContentLength
			if wantCL == 0 {
				wantCL = -1
			}
			switch {
			case req.Method != string(h.Method.Of(b)):
				t.Errorf("method: net/http %q, h1guard %q", req.Method, h.Method.Of(b))
			case req.RequestURI != string(h.Target.Of(b)):
				t.Errorf("target: net/http %q, h1guard %q", req.RequestURI, h.Target.Of(b))
			case origin && req.Host != string(h.Host.Of(b)):
				t.Errorf("host: net/http %q, h1guard %q", req.Host, h.Host.Of(b))
			case fields != h.Fields:
				t.Errorf("fields: net/http %d, h1guard %d", fields, h.Fields)
			case chunked != h.Chunked || cl != wantCL:
				t.Errorf("framing: net/http chunked %v length %d, h1guard chunked %v length %d", chunked, cl, h.Chunked, wantCL)
			}
		}
	})
}

// FuzzStream: whatever a client sends, reading it through the guard with
// net/http's request reader ends (no hang), never panics, and never
// delivers more than was sent (plus a poison of a few bytes). The seed
// corpus is testdata/fuzz/FuzzStream.
func FuzzStream(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte, chunk uint8) {
		src := &memConn{r: bytes.NewReader(b), chunk: int(chunk%64) + 1}
		g := New(Options{Limits: Limits{Buffers: 2, BufferSize: 256}})
		c := g.Conn(src)
		counted := &countReader{r: c}
		br := bufio.NewReader(counted)
		for i := 0; i < 1000; i++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				break
			}
			if _, err := io.Copy(io.Discard, req.Body); err != nil {
				break
			}
		}
		_ = c.Close()
		if counted.n > int64(len(b)+len(poisonTrailer)) { // the longest poison
			t.Fatalf("delivered %d bytes of %d", counted.n, len(b))
		}
	})
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// memConn is a net.Conn that reads b in pieces of at most chunk bytes and
// discards what is written.
type memConn struct {
	r     *bytes.Reader
	chunk int
}

func (m *memConn) Read(p []byte) (int, error) {
	if len(p) > m.chunk {
		p = p[:m.chunk]
	}
	return m.r.Read(p)
}
func (m *memConn) Write(p []byte) (int, error)      { return len(p), nil }
func (m *memConn) Close() error                     { return nil }
func (m *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (m *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (m *memConn) SetDeadline(time.Time) error      { return nil }
func (m *memConn) SetReadDeadline(time.Time) error  { return nil }
func (m *memConn) SetWriteDeadline(time.Time) error { return nil }

package h1server

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weir-lb/weir/l7/h1guard"
)

// The states of a chunked body.
const (
	chSize    = iota // a chunk-size line
	chData           // remain bytes of a chunk's data
	chDataEnd        // the CRLF after a chunk's data
	chTrailer        // a trailer field line, or the empty line ending the body
)

// errBadChunk is the error of a chunked body that broke the framing: the
// proxy answers 400 and the connection closes, as under h1guard.
var errBadChunk = errors.New("h1server: malformed chunked encoding")

// body is a request body read from the connection's buffer, then from the
// connection: Content-Length bytes, or chunks and trailers.
type body struct {
	c       *conn
	mu      sync.Mutex
	remain  int64 // bytes left of the body or of the chunk
	chunked bool
	st      int // chunked: what comes next
	trailer int // bytes of trailer so far
	// framing counts the bytes of chunked framing read (chunk-size lines,
	// CRLFs, trailer), for RequestFraming; atomic: the proxy reads it
	// while another goroutine may read the body.
	framing atomic.Int64
	eof     bool
	closed  bool
	err     error
	expect  bool // Expect: 100-continue, not answered yet
	given   bool // the handler got it as Request.Body
	held    bool // given, and not read to its end when the handler returned (session.go)
}

func (b *body) reset() {
	c := b.c
	*b = body{} // in place: a literal with a field is built in a stack temporary and copied
	b.c = c
}

// Read reads the body; io.EOF at its end.
func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	n, err := b.readLocked(p)
	if err == io.EOF && !b.eof {
		b.eof = true
		b.c.startBackgroundRead()
	}
	return n, err
}

func (b *body) readLocked(p []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.expect {
		b.expect = false
		b.c.resp.writeContinue()
	}
	c := b.c
	for {
		if !b.chunked || b.st == chData {
			if b.remain == 0 {
				if !b.chunked {
					return 0, io.EOF
				}
				b.st = chDataEnd
				continue
			}
			if len(p) == 0 {
				return 0, nil
			}
			if int64(len(p)) > b.remain {
				p = p[:b.remain]
			}
			var n int
			var err error
			if c.R < c.W {
				n = copy(p, c.Buf[c.R:c.W])
				c.R += n
			} else {
				n, err = c.rwc.Read(p)
				if n == 0 && err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
			}
			b.remain -= int64(n)
			if err != nil && err != io.EOF {
				b.err = err
				if n > 0 {
					return n, nil
				}
				return 0, err
			}
			if n > 0 {
				return n, nil
			}
			continue
		}
		if err := b.chunkFraming(); err != nil {
			if err == io.EOF {
				return 0, io.EOF
			}
			b.err = err
			return 0, err
		}
	}
}

// chunkFraming reads what comes between chunk data: a chunk-size line, the
// CRLF after data, trailer lines; io.EOF at the body's end.
func (b *body) chunkFraming() error {
	c := b.c
	if b.st == chDataEnd {
		for c.W-c.R < 2 {
			if err := b.fill(2); err != nil {
				return err
			}
		}
		if c.Buf[c.R] != '\r' || c.Buf[c.R+1] != '\n' {
			return b.bad()
		}
		c.R += 2
		b.framing.Add(2)
		b.st = chSize
		return nil
	}
	i := -1
	for {
		if k := strings.IndexByte(string(c.Buf[c.R:c.W]), '\n'); k >= 0 {
			i = k
			break
		}
		if c.W-c.R >= h1guard.MaxChunkLine {
			return b.bad()
		}
		if err := b.fill(h1guard.MaxChunkLine); err != nil {
			return err
		}
	}
	if i == 0 || c.Buf[c.R+i-1] != '\r' {
		return b.bad()
	}
	line := c.Buf[c.R : c.R+i-1]
	next := c.R + i + 1
	// A line counts once it is read whole and valid: nginx's
	// $request_length has none of the line its chunked parser refuses.
	if b.st == chSize {
		n, err := h1guard.ChunkSize(line)
		if err != nil {
			return b.bad()
		}
		b.framing.Add(int64(i + 1))
		c.R = next
		if n == 0 {
			b.st = chTrailer
			return nil
		}
		b.remain, b.st = n, chData
		return nil
	}
	if len(line) == 0 {
		b.framing.Add(int64(i + 1))
		c.R = next
		return io.EOF
	}
	b.trailer += next - c.R
	if b.trailer > c.srv.guard.Limits().MaxHead() || h1guard.CheckTrailer(line) != nil {
		return b.bad()
	}
	b.framing.Add(int64(i + 1))
	c.R = next
	b.addTrailer(string(line))
	return nil
}

// addTrailer sets a trailer field in the Trailer of the handler's request,
// as net/http does: in the map of the declared names when there is one
// (every copy of the request shares it), else in a new map.
func (b *body) addTrailer(line string) {
	r := b.c.resp.req
	name, v, _ := strings.Cut(line, ":")
	k := http.CanonicalHeaderKey(name)
	switch k {
	case "Transfer-Encoding", "Trailer", "Content-Length":
		return
	}
	if r.Trailer == nil {
		r.Trailer = http.Header{}
	}
	r.Trailer[k] = append(r.Trailer[k], strings.Trim(v, " \t"))
}

func (b *body) bad() error {
	b.c.srv.guard.Rejected(b.c.remote, h1guard.Chunked)
	return errBadChunk
}

// fill reads more of the client's bytes into the connection's buffer.
func (b *body) fill(need int) error {
	err := b.c.Fill(b.c.rwc, need)
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Close stops the body; the connection closes after the response unless the
// body was read to its end or the rest is small enough to drop.
func (b *body) Close() error { return nil }

// discardable reports whether the rest of the body may be discarded after
// the response (discard) to keep the connection: it is read to its end, or
// it is not known to be over limit bytes and nothing broke it. It reads
// nothing, and does not wait: a body another goroutine is reading (the
// proxy's HTTP/2 client sends it upstream in its own) holds mu while it
// waits for the client, and a response must not wait for the client's
// next bytes (a gRPC stream the endpoint ended first): such a body is not
// discardable, and the connection closes after the response.
func (b *body) discardable(limit int64) bool {
	if !b.mu.TryLock() {
		return false
	}
	defer b.mu.Unlock()
	if b.eof {
		return true
	}
	if b.err != nil || b.expect {
		// A client that was not told to continue sends no body.
		return false
	}
	return b.chunked || b.remain <= limit
}

// Discarding an unread body after the response, as nginx's
// ngx_http_discard_request_body under lingering_timeout (each wait for the
// client's bytes) and lingering_time (the whole).
const (
	discardTimeout = 5 * time.Second
	discardTime    = 30 * time.Second
)

// discardDeadline is the deadline of the next read of a discarding loop
// that must end by end: discardTimeout from now, at most end.
func discardDeadline(end time.Time) time.Time {
	if next := time.Now().Add(discardTimeout); next.Before(end) {
		return next
	}
	return end
}

// discard reads and drops the rest of the body, up to limit bytes, each
// wait for the client's bytes bounded by discardTimeout and the whole by
// discardTime (a client that stalls its body holds the connection no
// longer); it reports whether the body was read to its end. It runs once
// the handler returned (the body is closed to it), and leaves the read
// deadline cleared.
func (b *body) discard(limit int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.eof {
		return true
	}
	if b.err != nil || b.expect {
		return false
	}
	rwc := b.c.rwc
	defer rwc.SetReadDeadline(time.Time{})
	end := time.Now().Add(discardTime)
	var scratch [4096]byte
	for total := int64(0); total <= limit; {
		_ = rwc.SetReadDeadline(discardDeadline(end))
		n, err := b.readLocked(scratch[:])
		total += int64(n)
		if err == io.EOF {
			b.eof = true
			return true
		}
		if err != nil {
			return false
		}
	}
	return false
}

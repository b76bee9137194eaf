package h1guard

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// What a conn expects next from the client.
type state uint8

const (
	stHead      state = iota // a request head
	stDeliver                // nothing: it delivers buf[r:end], then goes to next
	stBody                   // remain bytes of a body or of a chunk's data
	stChunkSize              // a chunk-size line
	stChunkEnd               // the CRLF after a chunk's data
	stTrailer                // a trailer field line, or the empty line ending the body
	stPass                   // anything: a 101 switched protocols
	stRejected               // nothing more: the request broke a rule
)

// Lingering close after an error response, as nginx's lingering_close: the
// client's unread bytes are drained for up to lingerTime so that closing
// does not reset the connection before the client read the response.
const (
	lingerTime   = 2 * time.Second
	writeTimeout = 10 * time.Second
)

// conn is a client connection whose byte stream is checked request by
// request before net/http reads it: net/http only ever sees heads and
// framing that passed, and a request that does not pass ends the stream
// at its first byte (io.EOF for net/http) and is answered when net/http
// closes the connection, after the responses to the requests before it.
type conn struct {
	net.Conn
	g   *Guard
	tls *tls.ConnectionState // of a TLS connection (Conn is its *tls.Conn); nil: plain

	Buffer          // read from the client, not yet delivered
	end       int   // stDeliver: deliver up to buf[end]
	next      state // stDeliver: the state after it
	st        state
	remain    int64 // stBody: bytes left
	afterBody state // stBody: the state after it
	hp        headParser
	parsing   bool // hp parses the head at buf[r:]
	trailer   int  // bytes of trailer so far
	requests  int  // heads delivered
	poison    []byte

	headOnly bool // the rejected request is a HEAD: no body in the answer
	// refused is the rejected request for the access log, logged once
	// answered; nil without a RefusalLogger.
	refused *Refusal

	// An upgrade request (upgradeHead, while its head is delivered) has
	// net/http answer it (upgrading): with a 101 the connection switches
	// protocols (switched) and its bytes pass unchecked from then on;
	// with anything else it stays HTTP/1.
	upgradeHead bool
	upgrading   atomic.Bool
	switched    atomic.Bool

	mu        sync.Mutex
	pending   *Reject // the answer to write on Close
	closeOnce sync.Once
	closeErr  error
}

// Write writes a response to the client, and notes whether it switches
// protocols after an upgrade request.
func (c *conn) Write(p []byte) (int, error) {
	if c.upgrading.Load() {
		c.sawResponse(p)
	}
	return c.Conn.Write(p)
}

// sawResponse reads the status of p, the start of the response to an
// upgrade request: 101 switches protocols, another 1xx is interim, any
// other status leaves the connection HTTP/1.
func (c *conn) sawResponse(p []byte) {
	if len(p) >= len("HTTP/1.1 101") && string(p[:7]) == "HTTP/1." && p[8] == ' ' {
		switch code := p[9:12]; {
		case string(code) == "101":
			c.switched.Store(true)
		case code[0] == '1':
			return // interim: the final response is still to come
		}
	}
	c.upgrading.Store(false)
}

// Unwrap returns the connection under the guard, for code that checks its
// type: writes and deadlines go to it unchanged.
func (c *conn) Unwrap() net.Conn { return c.Conn }

// Read delivers the client's bytes that passed, up to the next violation.
func (c *conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		switch c.st {
		case stDeliver:
			n := copy(p, c.Buf[c.R:c.end])
			c.R += n
			if c.R == c.end {
				c.st = c.next
				if c.upgradeHead {
					// net/http has the whole head: the next bytes
					// written are its response.
					c.upgradeHead = false
					c.upgrading.Store(true)
				}
			}
			return n, nil
		case stHead:
			if err := c.head(p); err != nil {
				return 0, err
			}
		case stBody:
			if c.remain == 0 {
				c.st = c.afterBody
				continue
			}
			if c.R < c.W {
				n := copy(p, c.Buf[c.R:min(c.W, c.R+int(min(c.remain, int64(len(p)))))])
				c.R += n
				c.remain -= int64(n)
				return n, nil
			}
			if int64(len(p)) > c.remain {
				p = p[:c.remain]
			}
			n, err := c.Conn.Read(p)
			c.remain -= int64(n)
			return n, err
		case stChunkSize, stTrailer:
			if err := c.chunkLine(); err != nil {
				return 0, err
			}
		case stChunkEnd:
			if c.W-c.R < 2 {
				if err := c.Fill(c.Conn, 2); err != nil {
					return 0, err
				}
				continue
			}
			if c.Buf[c.R] != '\r' || c.Buf[c.R+1] != '\n' {
				c.badChunk()
				continue
			}
			c.deliver(c.R+2, stChunkSize)
		case stPass:
			if c.R < c.W {
				n := copy(p, c.Buf[c.R:c.W])
				c.R += n
				return n, nil
			}
			return c.Conn.Read(p)
		case stRejected:
			return c.rejected(p)
		}
	}
}

// head parses the buffered start of the next request head, reading more
// as needed; a complete and valid head is delivered next. p is the
// caller's buffer, which head may use as scratch space (io.Reader allows
// it): an idle connection waits for its next request without a buffer.
func (c *conn) head(p []byte) error {
	if c.switched.Load() {
		// A 101 answered the request before: what follows is not HTTP/1.
		c.parsing = false
		c.st = stPass
		return nil
	}
	if c.upgrading.Load() {
		// What the client sent after an upgrade request is held, not
		// parsed, until the response says which protocol it is.
		limit := c.g.Limits().maxHead()
		if c.W-c.R > limit {
			c.reject(rejHeaderLarge)
			return nil
		}
		return c.Fill(c.Conn, limit+1)
	}
	if !c.parsing {
		c.hp.reset(c.g.Limits())
		c.parsing = true
	}
	if c.R < c.W {
		if decided, err := c.h2cStart(); decided { // h2c.go
			return err
		}
		done, err := c.hp.feed(c.Buf[c.R:c.W])
		if err != nil {
			c.reject(err.(*Reject))
			return nil
		}
		if done {
			h := &c.hp.h
			c.parsing = false
			c.requests++
			c.R += h.Start
			next := stHead
			c.upgradeHead = h.Upgrade
			switch {
			case h.Chunked:
				next = stChunkSize
				c.trailer = 0
			case h.ContentLength > 0:
				next = stBody
				c.remain = h.ContentLength
				c.afterBody = stHead
			}
			c.deliver(c.R-h.Start+h.End, next)
			return nil
		}
	}
	if c.R == c.W {
		return c.idleRead(p)
	}
	// One byte over the limit, so the parser sees the head overflow it.
	err := c.Fill(c.Conn, c.hp.lim.maxHead()+1)
	if err != nil && c.g.LogsRefusals() {
		// The client did not finish the head: net/http closes the
		// connection without an answer, and nginx logs the request.
		c.parsing = false
		c.g.logRefusal(newRefusal(UnfinishedStatus(err), c.Buf[c.R:c.W], c.Conn, c.tls))
	}
	return err
}

// UnfinishedStatus is the status nginx logs for a request whose head the
// client did not finish, the read ending with err: 408 when its time ran
// out (client_header_timeout), 400 when it left.
func UnfinishedStatus(err error) int {
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return http.StatusRequestTimeout
	}
	return http.StatusBadRequest
}

// newRefusal is the Refusal of a request, its bytes so far head, on c (of
// TLS state tls; nil: plain), logged with status, starting now.
func newRefusal(status int, head []byte, c net.Conn, tls *tls.ConnectionState) *Refusal {
	rf := &Refusal{Status: status, Head: head, Start: time.Now(), TLS: tls != nil}
	if tls != nil {
		rf.ServerName = tls.ServerName
	}
	rf.Remote, rf.Local = PeerAddrs(c)
	return rf
}

// idleRead waits for the first bytes of a request with no buffer: it reads
// into p, then copies what came into a buffer from the pool.
func (c *conn) idleRead(p []byte) error {
	c.Release()
	if len(p) > initialBuffer {
		p = p[:initialBuffer]
	}
	n, err := c.Conn.Read(p)
	if n == 0 {
		if err == nil {
			err = io.ErrNoProgress
		}
		return err
	}
	c.Buf = buffers.Get().(*[initialBuffer]byte)[:]
	c.R, c.W = 0, copy(c.Buf, p[:n])
	return nil
}

// chunkLine parses the next chunk-size or trailer line, reading more as
// needed, and delivers it.
func (c *conn) chunkLine() error {
	i := indexLF(c.Buf[c.R:c.W])
	if i < 0 {
		if c.W-c.R >= maxChunkLine {
			c.badChunk()
			return nil
		}
		return c.Fill(c.Conn, maxChunkLine)
	}
	if i == 0 || c.Buf[c.R+i-1] != '\r' {
		c.badChunk()
		return nil
	}
	line := c.Buf[c.R : c.R+i-1]
	end := c.R + i + 1
	if c.st == stChunkSize {
		n, err := chunkLine(line)
		if err != nil {
			c.badChunk()
			return nil
		}
		if n == 0 {
			c.deliver(end, stTrailer)
			return nil
		}
		c.remain = n
		c.afterBody = stChunkEnd
		c.deliver(end, stBody)
		return nil
	}
	if len(line) == 0 {
		c.deliver(end, stHead)
		return nil
	}
	c.trailer += end - c.R
	if c.trailer > c.g.Limits().maxHead() || trailerLine(line) != nil {
		c.badChunk()
		return nil
	}
	c.deliver(end, stTrailer)
	return nil
}

func (c *conn) deliver(end int, next state) {
	c.end = end
	c.next = next
	c.st = stDeliver
	if c.R == end {
		c.st = next
	}
}

// reject ends the stream at this request, which rej answers on Close.
func (c *conn) reject(rej *Reject) {
	c.g.rejected(c, rej)
	if m := c.hp.h.Method; m.Len > 0 && c.parsing {
		c.headOnly = string(m.Of(c.Buf[c.R:c.W])) == http.MethodHead
	}
	if c.parsing && c.g.LogsRefusals() {
		// The head is copied: the buffer goes back to its pool now, the
		// line is written once the answer is.
		c.refused = newRefusal(rej.Status, bytes.Clone(c.Buf[c.R:c.W]), c.Conn, c.tls)
		c.refused.Reject = rej
	}
	c.mu.Lock()
	c.pending = rej
	c.mu.Unlock()
	c.st = stRejected
	c.Release()
}

// Poisons of badChunk: a framing that net/http refuses in each state, so
// the request in its handler fails on a malformed body (and the proxy
// answers 400, then closes) instead of a client that went away. The
// trailer's ends in an empty line: net/http parses a trailer only with
// its end in view, else it fails it as "suspiciously long" and the EOF
// after the poison cancels the request (a 499 and net/http's empty 200).
var (
	poisonSize    = []byte("X\r\n")
	poisonEnd     = []byte("XX")
	poisonTrailer = []byte("\x00\r\n\r\n")
)

// badChunk ends the stream inside a chunked body that broke the framing.
func (c *conn) badChunk() {
	c.g.rejected(c, rejChunked)
	switch c.st {
	case stChunkSize:
		c.poison = poisonSize
	case stChunkEnd:
		c.poison = poisonEnd
	default:
		c.poison = poisonTrailer
	}
	c.st = stRejected
	c.Release()
}

// scratch receives bytes that are read only to be dropped.
var scratch = sync.Pool{New: func() any { return new([4096]byte) }}

func (c *conn) rejected(p []byte) (int, error) {
	if len(c.poison) > 0 {
		n := copy(p, c.poison)
		c.poison = c.poison[n:]
		return n, nil
	}
	if len(p) == 1 && c.requests > 0 {
		// net/http's background read while it serves the previous
		// request: an EOF would cancel that request as if the client left.
		// Block until net/http aborts the read (or the client leaves).
		return 0, c.drain(0)
	}
	return 0, io.EOF
}

// drain reads and drops the client's bytes until an error (a deadline, the
// client's close) or limit bytes (0: none).
func (c *conn) drain(limit int) error {
	b := scratch.Get().(*[4096]byte)
	defer scratch.Put(b)
	total := 0
	for {
		n, err := c.Conn.Read(b[:])
		total += n
		if err != nil {
			return err
		}
		if limit > 0 && total >= limit {
			return nil
		}
	}
}

// Close answers a rejected request, lingers until the client has read the
// answer, and closes the connection.
func (c *conn) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		rej := c.pending
		c.pending = nil
		c.mu.Unlock()
		if rej != nil {
			c.answer(rej)
		}
		c.closeErr = c.Conn.Close()
	})
	return c.closeErr
}

// answer writes rej's response, logs the request refused (c.refused, if
// any) and lingers.
func (c *conn) answer(rej *Reject) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	p := response(rej, time.Now(), c.headOnly)
	n, err := c.Conn.Write(p)
	if rf := c.refused; rf != nil {
		c.refused = nil
		rf.Answered(p, n)
		c.g.logRefusal(rf)
	}
	if err != nil {
		return
	}
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.Conn.SetReadDeadline(time.Now().Add(lingerTime))
	_ = c.drain(1 << 20)
}

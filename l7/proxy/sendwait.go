package proxy

import (
	"errors"
	"net"
	"syscall"
)

// Sending a request and waiting for its answer in one poller operation.
//
// A request without a body is sent in one write, and the read of the
// answer that follows almost always finds nothing yet: it fails with
// EAGAIN, then the goroutine parks in the runtime's poller until the
// socket is readable, then reads again. The runtime forgets the socket's
// readiness at the start of each read (its poller is edge-triggered), so
// the failed read cannot simply be skipped: readiness that came before it
// would be lost. writeAndWait moves the write inside that read operation
// instead (syscall.RawConn.Read): the readiness is reset first, then the
// request is written, then the goroutine parks until the socket is
// readable. The answer can only come after the write, so no readiness is
// lost, and the read that follows finds the answer at once: one system
// call fewer per request, as nginx, which writes then waits for epoll.
//
// Anything else takes the ordinary path with the same errors and
// timeouts: a write the socket does not take whole at once (the rest is
// written with the send timeout), a connection that is not a plain TCP
// socket, a failed or timed-out wait (the read that follows meets the
// error again and reports it as a read error, as before).

// sendWait is an upstreamConn's state for writeAndWait.
type sendWait struct {
	waitAfter   bool // the next Write is the request's last: writeAndWait
	headerArmed bool // writeAndWait armed the header timeout (startHeader)
}

// sender is the write-then-wait of one connection, kept with its peeker
// from request to request (in the pool), so that it allocates nothing.
type sender struct {
	buf  []byte
	n    int  // bytes of buf written
	sent bool // buf written whole: waiting for the answer
	wait func(fd uintptr) bool
}

// writeAndWait writes b, the last bytes of a request, and waits until the
// answer can be read (or the read timeout passes, or the connection
// fails); ok: b was written whole. Otherwise n bytes of it were, and the
// caller writes the rest.
func (c *upstreamConn) writeAndWait(b []byte) (n int, ok bool) {
	c.waitAfter = false
	tc, isTCP := c.Conn.(*net.TCPConn)
	if !isTCP || c.gone.Load() {
		return 0, false
	}
	if c.probe == nil {
		// The pool's peeker of the connection holds its RawConn; it
		// goes to the pool with it (newPeeker allocates once per
		// connection).
		c.probe = newPeeker(tc)
	}
	if c.probe.rc == nil {
		return 0, false
	}
	s := &c.probe.send
	if s.wait == nil {
		s.wait = s.writeThenWait
	}
	// proxy-read-timeout counts from the request sent; it also bounds the
	// wait.
	c.headerArmed = false
	c.startHeader()
	s.buf, s.n, s.sent = b, 0, false
	_ = c.probe.rc.Read(s.wait) // a failed wait: the read meets it again
	n, ok = s.n, s.sent
	s.buf = nil
	c.headerArmed = ok
	if testHookSendWait != nil {
		testHookSendWait(n, ok)
	}
	return n, ok
}

// Test hooks, set before any request: testHookSendWait sees each
// writeAndWait's result; sendWaitMax, if not 0, is the most bytes the
// non-blocking write takes (a socket that takes part of a request).
var (
	testHookSendWait func(n int, ok bool)
	sendWaitMax      int
)

// writeThenWait is writeAndWait's syscall.RawConn.Read function: called
// once the readiness is reset, it writes and asks to wait; called again
// once the socket is readable, it returns.
func (s *sender) writeThenWait(fd uintptr) bool {
	if s.sent {
		return true
	}
	for s.n < len(s.buf) {
		p := s.buf[s.n:]
		if sendWaitMax > 0 {
			p = p[:min(len(p), sendWaitMax-s.n)]
			if len(p) == 0 {
				return true
			}
		}
		n, err := syscall.Write(int(fd), p)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if n > 0 {
			s.n += n
		}
		if err != nil || n <= 0 {
			// EAGAIN, or an error the ordinary write meets again and
			// reports: the caller writes the rest that way.
			return true
		}
	}
	s.sent = true
	return false
}

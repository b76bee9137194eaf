package h1server

import (
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A write deadline asked for while rwc has none is put off on a plain
// socket, for a connection's first request (setWriteDeadline): nginx arms
// its send timer only when the client's socket is not ready for more
// (ngx_http_upstream_process_non_buffered_request, ngx_http_set_write_handler),
// so that a response the socket takes at once costs no timer. Here the writes of a connection with such a deadline go
// through the socket's syscall.RawConn without waiting (socketWrite); at
// the first that would block (EAGAIN), the deadline asked for is set on rwc
// and the rest is written through rwc, waiting under it, as before. A deadline that has passed by the write is
// set before it, so that the write fails as it would have. Every write so
// runs under the deadline last asked for, or is one that did not wait: a
// client that takes no data for send_timeout loses the response as before,
// and a new connection whose response fits its socket's buffer sets no
// deadline and stops no timer at its close (some 1 000 instructions under
// callgrind, 700 net of the RawConn path). A keep-alive connection's later requests set it as before:
// one timer for them all (lazyWriteDeadline), where each write would pay
// a clock read and the RawConn's path (some 200 instructions).

// socketWrite is the state of a write through the socket's RawConn
// (conn.writeSoon): what is left of the two buffers, what went, and the
// errno of the system call that failed.
type socketWrite struct {
	fn   func(fd uintptr) bool // write, made once per session
	p, q []byte
	iov  [2]unix.Iovec
	n    int64
	err  error // an errno; nil: all went, or EAGAIN
}

// write is socketWrite's RawConn.Write function: it writes until all went,
// the socket is full (EAGAIN) or a call fails, and never waits (true).
func (w *socketWrite) write(fd uintptr) bool {
	for len(w.p)+len(w.q) > 0 {
		var r uintptr
		var e syscall.Errno
		switch {
		case len(w.q) == 0: // the usual: one buffer
			r, _, e = syscall.Syscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&w.p[0])), uintptr(len(w.p)))
		case len(w.p) == 0:
			w.p, w.q = w.q, nil
			continue
		default:
			w.iov[0].Base, w.iov[1].Base = &w.p[0], &w.q[0]
			w.iov[0].SetLen(len(w.p))
			w.iov[1].SetLen(len(w.q))
			r, _, e = syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&w.iov[0])), 2)
			w.iov = [2]unix.Iovec{}
		}
		switch n := int(r); {
		case e == syscall.EINTR:
		case e == syscall.EAGAIN:
			return true
		case e != 0:
			w.err = e
			return true
		case n == 0:
			w.err = errZeroWrite // nothing went, and no error
			return true
		case n < len(w.p):
			w.n += int64(n)
			w.p = w.p[n:]
		default:
			w.n += int64(n)
			w.p, w.q = w.q[n-len(w.p):], nil
		}
	}
	return true
}

// errZeroWrite stands for a write that took nothing and gave no error:
// internal/poll's io.ErrUnexpectedEOF.
var errZeroWrite = syscall.Errno(0)

// write writes p then q (either may be empty) to rwc as response.write and
// writev do, and returns how much went: with a write deadline put off, as
// far as the socket takes them at once, the rest under the deadline.
func (c *conn) write(p, q []byte) (int64, error) {
	c.clearWriteDeadline()
	var n int64
	if c.wdlPend.Load() && c.session == nil {
		// No socketWrite to write with: the deadline is set first.
		c.wdlMu.Lock()
		if c.wdlPend.Load() {
			c.setPendingLocked()
		}
		c.wdlMu.Unlock()
	} else if c.wdlPend.Load() {
		w := &c.sockWrite
		w.p, w.q, w.n, w.err = p, q, 0, nil
		done := c.writeSoon(w)
		n, p, q = w.n, w.p, w.q
		w.p, w.q = nil, nil
		if done {
			return n, w.err
		}
	}
	if len(q) == 0 {
		m, err := c.rwc.Write(p)
		return n + int64(m), err
	}
	bufs := net.Buffers{p, q}
	m, err := bufs.WriteTo(c.rwc)
	return n + m, err
}

// writeSoon writes w's buffers through the socket while the write deadline
// put off is not due, and reports whether it is done (all went, or a
// system call failed: w.err). Otherwise, the deadline due or the socket
// full, it sets the deadline on rwc, and the rest is rwc's to write.
func (c *conn) writeSoon(w *socketWrite) bool {
	if h := testHookWriteSoon.Load(); h != nil {
		(*h)(c)
	}
	writev := len(w.q) > 0
	c.wdlMu.Lock()
	if c.wdlPend.Load() {
		if monoNow() < c.wdlDue {
			if w.fn == nil {
				w.fn = w.write
			}
			// An error here (closed) is rwc's write's to tell.
			if c.idle.raw.Write(w.fn) == nil && (w.err != nil || len(w.p)+len(w.q) == 0) {
				c.wdlMu.Unlock()
				if w.err != nil {
					w.err = c.socketError(w.err, writev)
				}
				return true
			}
		}
		c.setPendingLocked()
	}
	c.wdlMu.Unlock()
	return false
}

// testHookWriteSoon, set by a test, is called as writeSoon starts (atomic:
// other tests' connections may write meanwhile).
var testHookWriteSoon atomic.Pointer[func(c *conn)]

// setPendingLocked sets the write deadline put off on rwc; wdlMu is held.
func (c *conn) setPendingLocked() {
	c.wdlPend.Store(false)
	c.wdlSet, c.wdlAt = true, c.wdlDueAt
	_ = c.rwc.SetWriteDeadline(monoBase.Add(c.wdlDue))
}

// socketError is the error rwc's Write (writev: net.Buffers' WriteTo of
// two) gives for the failed system call's errno: a *net.OpError of the
// TCP connection under rwc's layers, as net makes it.
func (c *conn) socketError(errno error, writev bool) error {
	var err error = os.NewSyscallError("write", errno)
	if errno == errZeroWrite {
		err = io.ErrUnexpectedEOF
	}
	nc := c.rwc
	for range 8 { // the layers idle.init went through
		switch v := nc.(type) {
		case interface{ Unwrap() net.Conn }:
			nc = v.Unwrap()
			continue
		case interface{ NetConn() net.Conn }:
			nc = v.NetConn()
			continue
		}
		break
	}
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return err
	}
	op := "write"
	if writev && tc == c.rwc {
		// net.Buffers' WriteTo writes a *net.TCPConn's in one writev;
		// through a layer, buffer by buffer.
		op = "writev"
		if errno != errZeroWrite {
			err = os.NewSyscallError("writev", errno)
		}
	}
	return &net.OpError{Op: op, Net: tc.LocalAddr().Network(), Source: tc.LocalAddr(), Addr: tc.RemoteAddr(), Err: err}
}

// endDefer ends the putting off of write deadlines (wdlDefer) as the
// connection's first response ends: a connection that serves more
// requests pays one timer for all, as before (lazyWriteDeadline), rather
// than a clock read and a write through the RawConn each. A deadline put
// off is dropped, as the clear that follows would drop it (serveRequest).
func (c *conn) endDefer() {
	c.wdlMu.Lock()
	c.wdlDefer = false
	c.wdlPend.Store(false)
	c.wdlMu.Unlock()
}

// monoOf is t on monoNow's clock.
func monoOf(t time.Time) time.Duration { return t.Sub(monoBase) }

package h1server

import (
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weir-lb/weir/l7/h1guard"
)

// A busy keep-alive connection is served "armed": its requests without a
// body are read, answered and waited for inside one syscall.RawConn.Read
// call, so that the wait for the next request costs no system call.
//
// Why: the runtime's poller is edge-triggered, and every read (a Read, a
// RawConn.Read) begins by forgetting the readiness it recorded
// (internal/poll's prepareRead resets the descriptor's read state). Bytes
// that arrived between the last read and that reset leave no trace, so a
// wait that begins with a reset must first look at the socket (a read, or
// the ppoll of idle.go's readable): one system call per request that finds
// nothing, since the next request comes only after the response.
//
// Inside one RawConn.Read, the runtime resets the read state once, before
// the first call of the function, and never between its calls: a read
// that leaves the socket empty is followed, whatever happens until the
// next wait, by an edge for any byte (or FIN) that arrives after it, which
// the wait finds. So the function reads, serves the request whose head it
// completed, and returns false (wait) without reading again when its last
// read left the socket empty: the next request, pipelined while the
// handler ran or sent after the response, wakes the wait up, and the next
// call reads it. Whether a read left the socket empty, the kernel says
// with the read (TCP_INQ, h1guard.SocketReader); a read shorter than its
// room does not (a FIN queued with the last bytes raised its event before
// the read), so without TCP_INQ the function reads until EAGAIN, as before.
//
// The function holds the socket's read lock while the handler runs, so
// only what reads nothing from the client is served this way: a request
// with a body or an upgrade (a hijack) ends the RawConn.Read with its head
// parsed, and is served as any other (readHead). What would read the
// socket under the lock waits instead: the background read that notices a
// client leaving is replaced by a watch in the Server's poller
// (watchLocked: the client's close, as nginx's EPOLLRDHUP), the lingering
// read after an error answer runs once the RawConn.Read returned, and a
// Hijack fails. A TLS connection is read
// through its *tls.Conn, whose reads of the socket go meanwhile to the
// same SocketReader (h1guard.Armable, the handshake's connection under
// it). A connection under a layer that may hold bytes (idle.go) is never
// armed.

// The results of an armed run (armedRun.res).
const (
	armedEnd  = iota // the connection is to close
	armedHead        // a head is parsed whose request is served outside
	armedPark        // idle and no longer busy: to its waiter (idle.go)
)

// armedRun is the state of a connection's armed RawConn.Read.
type armedRun struct {
	fn   func(fd uintptr) bool // session.step, made once per session
	sock h1guard.SocketReader  // the socket, read without waiting
	// rd is what step reads: sock, or the *tls.Conn whose reads are
	// sock's meanwhile (idleWait.armer).
	rd  io.Reader
	res int
	// waitAt is when step returned false to wait (monoNow); zero while it
	// runs.
	waitAt time.Duration
	// deadline is the head's read deadline (client-header-timeout),
	// armed once its first bytes came; zero: none.
	deadline time.Time
	active   bool // the head's first bytes were seen (StateActive)
	// start is the request's start, the clock read at the wake that
	// found its head's first bytes (Started); zero when they were there
	// without a wake (the connection's first step, a head queued behind
	// the last).
	start  time.Time
	linger bool // an answer before a close wants its lingering read
}

// armable reports whether c's next requests may be read armed: a plain
// socket, under no layer holding bytes, on a Server with a poller (which
// watches for clients leaving); readHead asks for every request but a
// connection's first (whose head may be an h2c preface, read by
// readFirst).
func (c *conn) armable() bool {
	w := &c.idle
	if w.raw == nil || c.srv.poller.Load() == nil || testHookNoArmed || w.tlsProbe && (w.armer == nil || c.tlsConn == nil) {
		return false
	}
	for _, b := range w.buffered() {
		if b.Buffered() > 0 {
			return false
		}
	}
	return true
}

// readArmed serves c's requests armed until one must be served outside
// (true: its head is parsed, as readHead's), or the connection is to close
// or to go to its waiter (false; c.moving for the latter), as readHead
// reports.
func (c *conn) readArmed() bool {
	a := &c.armed
	if a.fn == nil {
		a.fn = c.session.step // made once per session, which serves many connections
	}
	a.res, a.waitAt, a.deadline, a.active, a.start = armedEnd, 0, time.Time{}, false, time.Time{}
	if !c.inqTried {
		c.inqTried = true
		_ = c.idle.raw.Control(func(fd uintptr) { c.inq = h1guard.EnableInq(int(fd)) })
		if testHookNoInq != nil && testHookNoInq(c) {
			c.inq = false // as on a kernel without TCP_INQ
		}
	}
	a.sock = h1guard.SocketReader{FD: -1, INQ: c.inq} // step sets FD: it reads at once
	a.rd = &a.sock
	if c.tlsConn != nil {
		c.idle.armer.Arm(&a.sock)
		a.rd = c.rwc
	}
	c.woke = false
	c.parser.Reset(c.srv.guard.Limits())
	c.armedNow = true
	err := c.idle.raw.Read(a.fn)
	c.armedNow = false
	if a.res != armedHead {
		a.start = time.Time{} // no request of its own to serve outside
	}
	if c.tlsConn != nil {
		c.idle.armer.Arm(nil)
	}
	a.rd = nil
	if a.linger {
		a.linger = false
		c.linger()
	}
	if a.waitAt != 0 {
		// The wait failed: closed (keep-alive timer, Shutdown, the
		// client's reset), a head's deadline, or moved by the sweeper.
		a.waitAt = 0
		if c.endWait(time.Time{}) { // idle.go
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				c.moving = true
			}
		}
		if !c.moving {
			c.unfinished(err, c.srv.guard.HeaderTimeout(c.srv.cfg.ReadHeaderTimeout))
		}
		return false
	}
	if !a.deadline.IsZero() {
		_ = c.rwc.SetReadDeadline(time.Time{})
	}
	switch {
	case err != nil:
		return false
	case a.res == armedPark:
		c.moving = true
		return false
	}
	return a.res == armedHead
}

// step is the armed RawConn.Read's function of the connection s serves.
func (s *session) step(fd uintptr) bool { return s.resp.c.step(fd) }

// step is the armed RawConn.Read's function (see above): it reports true
// to end the RawConn.Read, with a.res set, or false to wait for the socket.
func (c *conn) step(fd uintptr) bool {
	a := &c.armed
	a.sock.FD = int(fd)
	var wake time.Time
	if a.waitAt != 0 {
		a.sock.Woke()
		// Both clocks: the wall clock's too for the request this wake may
		// start (Started), whose handler then reads neither.
		wake = time.Now()
		c.busy = wake.Sub(monoBase)-a.waitAt < c.srv.busyGap
		a.waitAt = 0
		c.endWait(a.deadline) // moved or not, the socket won
	}
	lim := c.srv.guard.Limits()
	for {
		if c.R < c.W {
			if !a.active {
				a.active, a.start = true, wake
				c.setState(http.StateActive)
			}
			// The wake's bytes are this head's, its first or its rest: a
			// head read after it without a wait of its own has none.
			wake = time.Time{}
			done, err := c.parser.Feed(c.Buf[c.R:c.W])
			if err != nil {
				c.reject(err.(*h1guard.Reject), c.Buf[c.R:c.W])
				a.res = armedEnd
				return true
			}
			if !done {
				if d := c.srv.guard.HeaderTimeout(c.srv.cfg.ReadHeaderTimeout); d > 0 && a.deadline.IsZero() {
					// The head is not all there: client_header_timeout
					// runs, as in readHead.
					a.deadline = time.Now().Add(d)
					_ = c.rwc.SetReadDeadline(a.deadline)
				}
			} else {
				if !a.deadline.IsZero() {
					a.deadline = time.Time{}
					_ = c.rwc.SetReadDeadline(time.Time{})
				}
				if h := c.parser.Head(); h.Upgrade || h.Chunked || h.ContentLength > 0 {
					a.res = armedHead // it reads from the client: outside
					return true
				}
				if !c.serveArmed() {
					a.res = armedEnd
					return true
				}
				c.parser.Reset(lim)
				a.active = false
				continue
			}
		}
		// The socket, or crypto/tls's buffers then the socket: the
		// reader answers ErrWouldBlock, with no system call, while the
		// socket is known empty (h1guard.SocketReader).
		err := c.Fill(a.rd, lim.MaxHead()+1)
		if err == nil {
			continue
		}
		// ErrWouldBlock itself, the socket reader's, is told apart
		// without errors.Is's walk (some 80 instructions); crypto/tls's
		// may wrap it.
		if err != h1guard.ErrWouldBlock && !errors.Is(err, h1guard.ErrWouldBlock) {
			c.unfinished(err, 0) // the client left: no timeout here
			a.res = armedEnd
			return true
		}
		if c.R == c.W {
			c.Release() // an idle connection holds no buffer
			if !c.busy {
				a.res = armedPark
				return true
			}
			c.waiting.Store(waitServing)
			if testHookIdleWait != nil {
				testHookIdleWait(c, "wait") // as waitIdle's on the serving goroutine
			}
		}
		a.waitAt = monoNow()
		return false
	}
}

// serveArmed serves the request whose head is parsed, as run serves one
// read by readHead; it reports whether the connection serves another.
func (c *conn) serveArmed() bool {
	if c.srv.closing.Load() {
		return false
	}
	c.resp.takeBuffers()
	if testHookArmedServe != nil {
		testHookArmedServe(c)
	}
	if !c.serveRequest() {
		return false
	}
	c.forget()
	c.setState(http.StateIdle)
	return c.srv.keepAlives()
}

// errArmedHijack is Hijack's error for a request served armed: its
// connection's read lock is held (it has no upgrade: nothing to hijack).
var errArmedHijack = errors.New("h1server: hijack of a request without upgrade")

// watchLocked has the Server's poller watch the socket of the request
// served armed whose handler runs long, in place of the background read
// (which would wait for the read lock the armed read holds); c.bgMu is
// held. The socket's registration in the poller's set is made at the
// connection's first watch, and again at the first after it was parked
// (poller.watch), and kept: the watches of the requests after cost no
// system call. A close of the client's that the registration reported
// before (bgHup) is acted on at once: it is not reported again. Without a
// watch (the poller failed or closed) a client that leaves is noticed
// only when the response is written.
func (c *conn) watchLocked() {
	p := c.srv.poller.Load()
	if p == nil {
		return
	}
	if c.epMode != epWatch && p.watch(c) != nil {
		return
	}
	c.bgWatching = true
	if c.bgHup {
		c.checkClientLocked()
	}
}

// dropWatchLocked forgets the connection's watch registration, as it ends
// (its socket's close takes the registration out of the set) or, del, is
// hijacked (the registration is deleted: the new owner's socket wakes the
// poller no more); c.bgMu is held.
func (c *conn) dropWatchLocked(del bool) {
	if c.bgWatchID == 0 {
		return
	}
	if p := c.srv.poller.Load(); p != nil {
		p.unwatch(c, del)
	}
	c.bgWatchID = 0
}

// clientCheck runs on the poller when the watch registration of c's
// socket (watchLocked) reports events: the client's close (EPOLLRDHUP),
// or an error (EPOLLERR, EPOLLHUP), each reported once (edge-triggered).
// It is remembered (bgHup) for a watch to come, and acted on if a request
// is watched now (checkClientLocked).
func (c *conn) clientCheck(events uint32) {
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	if events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) == 0 {
		return
	}
	c.bgHup = true
	if c.bgWatching {
		c.checkClientLocked()
	}
}

// checkClientLocked looks at the socket of the watched request whose
// client closed its side or failed (bgHup); c.bgMu is held. A client that
// closed or reset ends the request (its context is cancelled, the
// connection closes after it), as the background read's EOF does; bytes
// of a next request queued before the close end the watch (as the
// background read stops at its first byte: the half-closed client's
// requests are answered). On a TLS connection bytes may be the client's
// close_notify (TLS 1.3 hides a record's type, every record says
// application data): the close ends the request even with bytes queued.
func (c *conn) checkClientLocked() {
	var n int
	var rerr error
	if err := c.idle.raw.Control(func(fd uintptr) {
		var b [1]byte
		for {
			n, _, rerr = unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
			if rerr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		rerr = err // closed
	}
	switch {
	case rerr == unix.EAGAIN:
		// Nothing queued and no close: the watch goes on.
	case rerr == nil && n > 0 && c.tlsConn == nil:
		c.bgWatching = false
	default: // the client's close (n == 0, or a TLS record before it) or an error
		if rerr == nil {
			rerr = io.EOF
		}
		c.bgErr = rerr
		c.cancel()
		c.bgWatching = false
	}
}

// testHookArmedServe, set by tests before any connection, is called for
// each request served armed.
var testHookArmedServe func(c *conn)

// testHookNoArmed, set by tests before any connection, turns armed
// serving off.
var testHookNoArmed bool

// testHookNoInq, set by tests before any connection, reports whether c's
// socket is read as without TCP_INQ (Linux before 4.18).
var testHookNoInq func(c *conn) bool

// monoBase anchors monoNow.
var monoBase = time.Now()

// monoNow returns the time since monoBase on the monotonic clock, never 0:
// one clock read where time.Now makes two (the wall clock too), for the
// waits that only an interval is taken of, and for telling whether the
// Date cached is still the second now (appendDateNow).
func monoNow() time.Duration { return max(time.Since(monoBase), 1) }

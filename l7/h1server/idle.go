package h1server

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/url"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weir-lb/weir/l7/h1guard"
)

// An idle connection (no bytes of a request buffered) waits for its next
// request holding no read buffer: it waits until its socket is readable
// (syscall.RawConn.Read, parked in the runtime's poller like any read),
// and only then takes a buffer from the pool and reads. Bytes that a layer
// between the Server and the socket already read would not make the socket
// readable, so the wait is taken only under layers known to say so:
//
//   - a *tls.Conn: crypto/tls may hold records it received; a read that
//     cannot wait (a deadline in the past) takes what it holds first;
//   - a connection with a Buffered() int method (l7/connlimit's, the PROXY
//     protocol's): it reports the bytes it holds;
//   - below a *tls.Conn, any layer that unwraps (Unwrap or NetConn): the
//     read through the *tls.Conn reads through it.
//
// Under any other layer, an idle connection waits in a Read with its
// buffer, as before.

// bufferedConn is a connection wrapper that may hold bytes it read from
// the connection it wraps.
type bufferedConn interface {
	// Buffered returns the number of bytes read and not returned yet.
	Buffered() int
}

// idleWait is what a connection needs to wait for readability with no
// buffer.
type idleWait struct {
	raw      syscall.RawConn // the socket; nil: wait in a Read, with a buffer
	tlsProbe bool            // a *tls.Conn above the socket
	nbuf     uint8           // how many of bufs are set (buffered)
	// headArmed: readFirst set the head's deadline on the connection.
	headArmed bool
	armer     h1guard.Armable // right below the *tls.Conn, if it is one (armed.go)
	bufs      [2]bufferedConn // wrappers above the socket that may hold bytes: connlimit's, the PROXY protocol's
	polled    bool            // readable was called in this wait

	// A new connection's first wait reads into first, with rd, instead
	// of asking ppoll (readFirst); if nothing is there to read, it sets
	// a read deadline headTimeout (not zero) from now on the connection
	// before the runtime's poller waits.
	first       *h1guard.Buffer
	firstErr    error
	rd          h1guard.SocketReader
	headTimeout time.Duration
}

// buffered returns the wrappers above the socket that may hold bytes.
func (w *idleWait) buffered() []bufferedConn { return w.bufs[:w.nbuf] }

// init finds the socket under c.rwc's layers (see above).
func (w *idleWait) init(c *conn) {
	nc := c.rwc
	nbuf := uint8(0)
	probe := false
	for range 8 {
		if tc, ok := nc.(*tls.Conn); ok {
			probe = true
			nc = tc.NetConn()
			w.armer, _ = nc.(h1guard.Armable)
			continue
		}
		if sc, ok := nc.(syscall.Conn); ok {
			raw, err := sc.SyscallConn()
			if err != nil {
				return
			}
			w.raw, w.tlsProbe, w.nbuf = raw, probe, nbuf
			return
		}
		if bc, ok := nc.(bufferedConn); ok {
			if int(nbuf) == len(w.bufs) {
				return // more such layers than the daemon makes: wait in a Read
			}
			w.bufs[nbuf] = bc
			nbuf++
		} else if !probe {
			return // a layer that might hold bytes without saying so
		}
		switch v := nc.(type) {
		case interface{ Unwrap() net.Conn }:
			nc = v.Unwrap()
		case interface{ NetConn() net.Conn }:
			nc = v.NetConn()
		default:
			return
		}
	}
}

// waitIdle waits, holding no read buffer, until the connection has bytes
// to read or fails (closed: by the keep-alive timer, Shutdown or the
// client; its read deadline passed). It may read some bytes (from a
// *tls.Conn) into the buffer. deadline is the connection's read deadline,
// restored after such a read. movable: the Server's sweeper may move the
// wait to the connection's waiter (errMove: the caller hands it over).
func (c *conn) waitIdle(deadline time.Time, movable bool) error {
	if ready, err := c.ready(deadline); ready || err != nil {
		return err
	}
	c.idle.polled = false
	if testHookIdleWait != nil {
		testHookIdleWait(c, "wait")
	}
	if !movable {
		// A new connection's request has usually arrived with it: read
		// it at once, rather than ask ppoll and read then (readFirst).
		if !c.idle.tlsProbe {
			c.idle.first = &c.Buffer
		}
		err := c.idle.raw.Read(c.readableFunc())
		c.idle.first = nil
		if e := c.idle.firstErr; e != nil {
			c.idle.firstErr = nil
			return e
		}
		return err
	}
	c.waiting.Store(waitServing)
	t0 := time.Now()
	err := c.idle.raw.Read(c.readableFunc())
	c.busy = time.Since(t0) < c.srv.busyGap
	if c.endWait(deadline) {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return errMove
		}
	}
	return err
}

// endWait ends a wait on the serving goroutine that the sweeper may move
// (waiting was waitServing): it reports whether move interrupted it, and
// then gives the connection its read deadline back (move set one in the
// past; the wait may have ended for bytes all the same).
func (c *conn) endWait(deadline time.Time) bool {
	if c.waiting.Swap(waitNone) != waitMoving {
		return false
	}
	c.moveMu.Lock() // move set its deadline
	_ = c.rwc.SetReadDeadline(deadline)
	c.moveMu.Unlock()
	return true
}

// readFirst is readable's first call in the first wait of a new
// connection, on no layer that holds or transforms bytes (not under a
// *tls.Conn; the PROXY protocol's header was read by ready): it reads what
// the socket holds into w.first and reports true, the read's error (the
// client's close: io.EOF) in w.firstErr, or, with nothing to read, gives
// the buffer back, sets the deadline w.headTimeout from now if there is
// one (readHead's header timeout, put off until a wait needs it) and
// reports false: the runtime's poller waits then, under that deadline. One
// system call where ppoll and the read took two, and no buffer held while
// the connection sends nothing.
func (c *conn) readFirst(fd uintptr) bool {
	w := &c.idle
	b := w.first
	w.first = nil
	w.rd = h1guard.SocketReader{FD: int(fd)}
	err := b.Fill(&w.rd, 1)
	if err == h1guard.ErrWouldBlock {
		b.Release()
		if w.headTimeout > 0 {
			// The socket's read lock is held (RawConn.Read): a deadline
			// takes no lock of it, and the wait that follows checks it.
			_ = c.rwc.SetReadDeadline(time.Now().Add(w.headTimeout))
			w.headArmed = true
		}
		return false
	}
	w.firstErr = err
	return true
}

// readableFunc returns the function of the connection's RawConn.Read that
// waits for readability: its session's, made once per session, which
// serves many connections (a func value made per connection was an
// allocation of each). The connection must hold its session.
func (c *conn) readableFunc() func(fd uintptr) bool {
	s := c.session
	if s.readable == nil {
		s.readable = s.readableFD
	}
	return s.readable
}

// readableFD is readable of the connection s serves.
func (s *session) readableFD(fd uintptr) bool { return s.resp.c.readable(fd) }

// readable is the function of RawConn.Read in a wait for readability: it
// reports true when the socket is to be read (the poller woke the wait up,
// readFirst read, or ppoll finds bytes that came before the wait began).
func (c *conn) readable(fd uintptr) bool {
	w := &c.idle
	if w.polled {
		return true // woken up by the poller: the read tells
	}
	w.polled = true
	if w.first != nil {
		return c.readFirst(fd)
	}
	// Bytes may have arrived before the wait began: the runtime's poller
	// is edge-triggered and would not wake up for them.
	fds := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	var now unix.Timespec
	n, err := unix.Ppoll(fds[:], &now, nil)
	return n > 0 || err != nil
}

// errMove is waitIdle's error when the connection is to wait on its waiter.
var errMove = errors.New("h1server: idle wait moved")

// ready releases the read buffer and reports whether the connection must
// be read without waiting for its socket: there is none (nil idle.raw), a
// layer above it holds bytes, or a *tls.Conn had some (then in the buffer)
// or failed (its error).
func (c *conn) ready(deadline time.Time) (bool, error) {
	c.Release()
	w := &c.idle
	if w.raw == nil {
		return true, nil
	}
	for _, b := range w.buffered() {
		if b.Buffered() > 0 {
			return true, nil
		}
	}
	if w.tlsProbe {
		_ = c.rwc.SetReadDeadline(aLongTimeAgo)
		err := c.Fill(c.rwc, 1)
		_ = c.rwc.SetReadDeadline(deadline)
		if c.R < c.W {
			return true, nil
		}
		c.Release()
		if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			return true, err
		}
	}
	return false, nil
}

// An idle connection waits in the Server's poller (poller.go), its
// waiter, with no goroutine of its own: the goroutine that served the
// request has a stack the handler grew, which the runtime halves at a GC
// only while less than a quarter of it is used (no lower than 4 KiB for a
// goroutine parked in a read under a few frames), and even a goroutine of
// its own would cost 2 KiB of stack. When the socket is readable, the
// poller hands the connection to one of the Server's goroutines waiting for
// one (work), with a stack grown already, or starts one. That costs two
// goroutine switches and an epoll_ctl per request, so a busy connection
// (its last idle wait shorter than busyGap) waits on its serving goroutine
// instead; if that wait lasts, the Server's sweeper moves it to the poller
// after 250 to 500 ms.

// The states of conn.waiting.
const (
	waitNone    = iota // not in a wait the sweeper may move
	waitServing        // waiting idle on its serving goroutine
	waitSeen           // so, and seen by the sweeper once
	waitMoving         // move interrupted that wait (a deadline in the past)
)

// sweepEvery is how often the sweeper looks at the connections: it moves a
// wait it has seen at its last look, so a connection idle for 250 to 500 ms.
const sweepEvery = 250 * time.Millisecond

// busyGap is the idle wait under which a connection is busy: its next idle
// wait is on its serving goroutine (and moves only if it lasts); after a
// longer one, or none yet, the connection is handed to its waiter at once.
const busyGap = 50 * time.Millisecond

// maxIdleWorkers is the most goroutines kept waiting for a connection to
// serve.
const maxIdleWorkers = 128

// sweep moves to their waiters the idle waits it sees twice in a row,
// every sweepEvery, until the Server is shut down or closed.
func (s *Server) sweep() {
	t := time.NewTicker(s.sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		s.mu.Lock()
		for _, c := range s.conns {
			if !c.waiting.CompareAndSwap(waitServing, waitSeen) && c.waiting.Load() == waitSeen {
				c.move()
			}
		}
		s.mu.Unlock()
	}
}

// move interrupts the idle wait of c on its serving goroutine if it is
// still the one seen: waitIdle then returns errMove.
func (c *conn) move() {
	c.moveMu.Lock()
	defer c.moveMu.Unlock()
	if c.waiting.CompareAndSwap(waitSeen, waitMoving) {
		_ = c.rwc.SetReadDeadline(aLongTimeAgo)
	}
}

// park hands the connection, idle between two requests, to its waiter at
// once, unless it is to be read without waiting (ready); it reports
// whether it did. The caller must not touch the connection after it did.
func (c *conn) park() bool {
	if ready, _ := c.ready(time.Time{}); ready {
		return false // readHead reads (and meets the error again)
	}
	c.handOver()
	return true
}

// handOver hands the idle connection to the Server's poller (poller.go),
// or, without one, to a goroutine that waits for it alone. The caller must
// not touch the connection any more.
func (c *conn) handOver() {
	c.putSession()
	c.idle.polled = false
	if testHookIdleWait != nil {
		testHookIdleWait(c, "waiter")
	}
	p := c.srv.poller.Load()
	if p == nil {
		go c.waitAlone()
		return
	}
	if err := p.park(c); err != nil {
		go c.waitAlone() // closed, or the epoll set is full: it tells
	}
}

// waitAlone waits until the idle connection's socket is readable and hands
// the connection to a worker, or ends it when the wait fails (closed by the
// keep-alive timer, Shutdown or the client): the Server's poller's job,
// for a Server that has none.
func (c *conn) waitAlone() {
	t0 := time.Now()
	// No session: a func value of its own, on this path only (without
	// the Server's poller, or with its set full).
	if err := c.idle.raw.Read(c.readable); err != nil {
		c.end()
		return
	}
	c.busy = time.Since(t0) < c.srv.busyGap
	c.woke = true
	c.srv.dispatch(c)
}

// dispatch has c, woken up or new, served by a waiting worker, or by a new
// one. jobsMu is held to read so that jobs is not closed (Shutdown, Close)
// while c is offered on it.
func (s *Server) dispatch(c *conn) {
	s.jobsMu.RLock()
	if !s.jobsClosed {
		select {
		case s.jobs <- c:
			s.jobsMu.RUnlock()
			return
		default:
		}
	}
	s.jobsMu.RUnlock()
	go s.work(c)
}

// work serves c (nil: none), then the connections dispatched to it while
// no more than maxIdleWorkers other goroutines wait, until the Server is
// shut down or closed (jobs closed). It waits in a receive from jobs alone,
// not in a select that also watches done: a select parks on both channels
// and takes both locks twice, some 1 000 instructions of each connection
// handed to a worker.
func (s *Server) work(c *conn) {
	for {
		if c != nil {
			c.run(c.fresh) // c may be another goroutine's once run returns
		}
		if s.idleWorkers.Add(1) > maxIdleWorkers {
			s.idleWorkers.Add(-1)
			return
		}
		var ok bool
		c, ok = <-s.jobs
		s.idleWorkers.Add(-1)
		if !ok {
			return
		}
	}
}

// testHookIdleWait, set by tests before any connection, is called by a
// connection about to wait for readability: "wait" on its serving
// goroutine, "waiter" on its waiter.
var testHookIdleWait func(c *conn, where string)

// testHookNoPoller, set by tests before any Server serves, reports whether
// the Server configured by cfg goes without a poller.
var testHookNoPoller func(cfg *http.Server) bool

// testHookIdleSettings, set by tests before any Server is made, gives the
// Server configured by cfg its sweepEvery and busyGap.
var testHookIdleSettings func(cfg *http.Server, sweepEvery, busyGap time.Duration) (time.Duration, time.Duration)

// outBuffer is a response's buffers for one request: bytes, pre (its
// first half) and out (its second), and order, SetFieldOrder's copy.
type outBuffer struct {
	bytes [2 * bufferSize]byte
	order [maxOrder]FieldName
}

// maxOrder is the most names SetFieldOrder copies into its outBuffer; a
// head with more gets an array of its own.
const maxOrder = 32

// outBuffers holds the response buffers of connections between requests:
// one Get and one Put a request for all of them.
var outBuffers = sync.Pool{New: func() any { return new(outBuffer) }}

// takeBuffers gives the response its buffers for a request, from the pool.
// pre's capacity ends at the half (Write appends to it no further than
// bufferSize), and out, at the array's end, grows into an array of its own.
func (w *response) takeBuffers() {
	if w.bufs == nil {
		w.bufs = outBuffers.Get().(*outBuffer)
		w.pre, w.out = w.bufs.bytes[:0:bufferSize], w.bufs.bytes[bufferSize:bufferSize]
		w.order = w.bufs.order[:0]
	}
}

// putBuffers gives the response's buffers back to the pool (an out that
// grew past bufferSize to the garbage collector), the names SetFieldOrder
// copied into them cleared.
func (w *response) putBuffers() {
	if w.bufs != nil {
		if len(w.order) > 0 {
			clear(w.bufs.order[:])
		}
		outBuffers.Put(w.bufs)
	}
	w.bufs, w.out, w.pre, w.order = nil, nil, nil, nil
}

// forget drops what the last request left on the connection once its
// response went out, so that an idle connection holds none of it: the
// response buffers (to the pool), the strings of its head (header values
// and names are substrings of one string), the Request the handler got and
// its context. The maps and structs stay, for the next request.
func (c *conn) forget() {
	w := &c.resp
	w.putBuffers()
	w.req = nil
	clear(w.header)
	clear(w.fields[:cap(w.fields)])
	clear(w.trailers[:cap(w.trailers)])
	clear(c.header)
	c.req = http.Request{}
	c.url = url.URL{}
	c.cancelCtx = nil
}

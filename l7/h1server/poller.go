package h1server

import (
	"errors"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weir-lb/weir/l7/epollset"
)

// An idle connection handed over (idle.go) waits in the Server's poller:
// its socket is in an epoll set of the Server's own, one-shot, and no
// goroutine waits for it, so it costs no goroutine stack (2 KiB at least)
// nor goroutine descriptor. One goroutine waits for that set in the
// runtime's poller (the epoll descriptor is readable when one of its
// sockets is) and hands each connection whose socket is readable (bytes,
// the client's close) to a worker.
//
// A connection closed while it waits there, by connlimit's keep-alive
// timer or any other closer, leaves the epoll set without a word: the
// poller looks for those every closedScanEvery and ends them (StateClosed,
// forgotten by the Server); Close and Shutdown end those they close at
// once. Every epoll_ctl on a socket runs under syscall.RawConn.Control,
// which keeps the descriptor from being closed (and its number from being
// reused) meanwhile.
//
// The same set watches, for the requests served armed whose handler runs
// long (armed.go), for their client leaving: the socket's registration
// (EPOLLRDHUP, edge-triggered) is made at a connection's first watch and
// kept, as nginx keeps its client's socket in epoll, so that the watches
// after cost no system call. A socket is in the set once: an idle wait's
// registration (park) takes the watch's place, and the first watch after
// it takes the place back (conn.epMode says which it has); each change
// looks at the socket, so neither loses what the other would have
// reported.

// closedScanEvery is how often the poller looks for its connections that
// were closed while they waited.
const closedScanEvery = 250 * time.Millisecond

// poller is a Server's epoll set of idle connections.
type poller struct {
	srv  *Server
	file *os.File // the epoll descriptor, in the runtime's poller
	raw  syscall.RawConn

	mu     sync.Mutex
	closed bool
	next   uint64           // the last id given
	parked map[uint64]*conn // by id: the connections waiting
	// watched holds, by id, the connections served armed whose handler
	// runs long: their sockets are in the set to notice a client that
	// leaves (watch).
	watched map[uint64]*conn

	call ctlCall // ctl's arguments and functions
}

// ctlCall holds the arguments and results of the poller's epoll_ctl
// calls, one at a time (mu), and the two functions that RawConn.Control
// runs for them, made once per poller: closures made per call escape
// (Control's argument does) and cost four allocations a call.
type ctlCall struct {
	mu      sync.Mutex
	c       *conn
	op      int
	ev      unix.EpollEvent
	epfd    int
	connErr error // c's socket's Control: closed
	ctlErr  error // epoll_ctl's
	onSet   func(epfd uintptr)
	onConn  func(fd uintptr)
	calls   int // epoll_ctl calls made (for tests)
}

// newPoller returns s's poller, its goroutines started.
func newPoller(s *Server) (*poller, error) {
	set, err := epollset.New("the idle connections'", "h1server-idle-epoll")
	if err != nil {
		return nil, err
	}
	p := &poller{srv: s, file: set.File, raw: set.Raw, parked: map[uint64]*conn{}, watched: map[uint64]*conn{}}
	k := &p.call
	k.onSet = func(epfd uintptr) {
		k.epfd = int(epfd)
		k.connErr = k.c.idle.raw.Control(k.onConn)
	}
	k.onConn = func(fd uintptr) { k.ctlErr = unix.EpollCtl(k.epfd, k.op, int(fd), &k.ev) }
	go p.wait()
	go p.scan()
	return p, nil
}

// errPollerClosed is park's error once the Server is closed.
var errPollerClosed = errors.New("h1server: idle poller closed")

// park puts c, idle, in the epoll set; on an error (c closed, the Server
// closed, no room in the set) c is not in it and the caller waits for it
// otherwise.
func (p *poller) park(c *conn) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return errPollerClosed
	}
	// c belongs to the poller once in parked: what it writes to c, it
	// writes before. The socket's registration, if any (a watch's, or
	// disarmed from an idle wait), is changed for the idle wait's: a
	// client's close reported to the watch before is reported again,
	// since the change looks at the socket (epoll_ctl's MOD, as its ADD).
	op := c.epOp(epPark)
	c.parkedAt = monoNow()
	p.next++
	id := p.next
	p.parked[id] = c
	p.mu.Unlock()
	if err := p.register(c, op, id, readOnce); err != nil {
		if p.take(id) == nil {
			return nil // the scan or Close took it, and ends it
		}
		c.epMode = epNone // unknown: the next registration adds, or modifies (register)
		return err
	}
	return nil
}

// The ways a connection's socket is in the poller's set (conn.epMode),
// one registration at a time: the set holds a descriptor once.
const (
	epNone  = iota // not in the set
	epPark         // an idle wait's, readOnce: armed, or disarmed once it reported
	epWatch        // the watch's, watchEvents, for the armed requests (watch)
)

// epOp returns the epoll_ctl operation that gives c's socket a
// registration of mode, and records it as c's.
func (c *conn) epOp(mode uint8) int {
	op := unix.EPOLL_CTL_MOD
	if c.epMode == epNone {
		op = unix.EPOLL_CTL_ADD
	}
	c.epMode = mode
	return op
}

// register runs epoll_ctl op (epOp's) on c's socket for events with id;
// an ADD that finds the socket in the set modifies its registration, a
// MOD that does not find it adds one.
func (p *poller) register(c *conn, op int, id uint64, events uint32) error {
	err := p.ctl(c, op, id, events)
	switch {
	case op == unix.EPOLL_CTL_MOD && errors.Is(err, unix.ENOENT):
		err = p.ctl(c, unix.EPOLL_CTL_ADD, id, events)
	case op == unix.EPOLL_CTL_ADD && errors.Is(err, unix.EEXIST):
		err = p.ctl(c, unix.EPOLL_CTL_MOD, id, events)
	}
	return err
}

// take removes the connection of id from the parked ones and returns it;
// nil if it is not there (taken already). Whoever takes a connection
// serves or ends it.
func (p *poller) take(id uint64) *conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.parked[id]
	delete(p.parked, id)
	return c
}

// wait hands the connections whose sockets are readable to workers, until
// the poller is closed.
func (p *poller) wait() {
	events := make([]unix.EpollEvent, 64)
	for {
		n := 0
		err := p.raw.Read(func(epfd uintptr) bool {
			var err error
			n, err = unix.EpollWait(int(epfd), events, 0)
			if err != nil { // EINTR: try again
				n = 0
			}
			return n > 0 // none: wait until the set is readable
		})
		if err != nil {
			return // closed
		}
		for _, ev := range events[:n] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			c := p.take(id)
			if c == nil {
				if c = p.watchedBy(id); c != nil {
					c.clientCheck(ev.Events)
				}
				continue // else ended meanwhile
			}
			c.busy = monoNow()-c.parkedAt < c.srv.busyGap
			c.woke = true
			p.srv.dispatch(c)
		}
	}
}

// scan ends, every closedScanEvery, the parked connections that were
// closed, until the Server is shut down or closed.
func (p *poller) scan() {
	t := time.NewTicker(closedScanEvery)
	defer t.Stop()
	var closed []uint64
	for {
		select {
		case <-p.srv.done:
			return
		case <-t.C:
		}
		closed = closed[:0]
		p.mu.Lock()
		for id, c := range p.parked {
			if c.idle.raw.Control(func(uintptr) {}) != nil {
				closed = append(closed, id)
			}
		}
		p.mu.Unlock()
		for _, id := range closed {
			if c := p.take(id); c != nil {
				c.end()
			}
		}
	}
}

// watch gives the socket of c, served armed (armed.go), the watch's
// registration, kept until the connection ends or is parked (epWatch): a
// client that closes its side, or fails, has clientCheck run on the
// poller, once (edge-triggered); a response written and a next request
// read wake nothing. c.bgMu is held. The id is the connection's for its
// life (bgWatchID), so a watch after a park's registration takes its
// place finds the connection again.
func (p *poller) watch(c *conn) error {
	if c.bgWatchID == 0 {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return errPollerClosed
		}
		p.next++
		c.bgWatchID = p.next
		p.watched[c.bgWatchID] = c
		p.mu.Unlock()
	}
	if err := p.register(c, c.epOp(epWatch), c.bgWatchID, watchEvents); err != nil {
		c.epMode = epNone // unknown: the next registration adds, or modifies (register)
		return err
	}
	return nil
}

// watchedBy returns the connection whose watch registration has id, nil
// if none.
func (p *poller) watchedBy(id uint64) *conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.watched[id]
}

// unwatch forgets c's watch registration (bgWatchID); del, the
// registration, if it is the socket's, is deleted from the set (else the
// socket's close takes it out).
func (p *poller) unwatch(c *conn, del bool) {
	p.mu.Lock()
	delete(p.watched, c.bgWatchID)
	p.mu.Unlock()
	if del && c.epMode == epWatch {
		_ = p.ctl(c, unix.EPOLL_CTL_DEL, 0, 0)
		c.epMode = epNone
	}
}

// readOnce are the events a parked connection waits for: bytes or the
// client's close, once.
const readOnce = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

// watchEvents are the events the watch of armed requests waits for: the
// client's close, edge-triggered (EPOLLERR and EPOLLHUP always come), as
// nginx keeps its client's socket in epoll with EPOLLRDHUP for the
// connection's life; not bytes, which every next request brings.
const watchEvents = unix.EPOLLRDHUP | unix.EPOLLET

// ctl runs epoll_ctl op on c's socket, for events with id, the socket kept
// from being closed meanwhile.
func (p *poller) ctl(c *conn, op int, id uint64, events uint32) error {
	k := &p.call
	k.mu.Lock()
	k.c, k.op = c, op
	k.ev = unix.EpollEvent{Events: events, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
	k.connErr, k.ctlErr = nil, nil
	k.calls++
	err := p.raw.Control(k.onSet)
	connErr, ctlErr := k.connErr, k.ctlErr
	k.c = nil // holds no connection between calls
	k.mu.Unlock()
	return errors.Join(err, connErr, ctlErr)
}

// takeAll removes every parked connection and returns them.
func (p *poller) takeAll() []*conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	cs := make([]*conn, 0, len(p.parked))
	for id, c := range p.parked {
		cs = append(cs, c)
		delete(p.parked, id)
	}
	return cs
}

// close closes the epoll set: its goroutines return; parked connections
// must have been taken.
func (p *poller) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	_ = p.file.Close()
}

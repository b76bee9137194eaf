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
	// writes before.
	op := unix.EPOLL_CTL_MOD // its socket was in the set before, disarmed
	if !c.inEpoll {
		op = unix.EPOLL_CTL_ADD
	}
	c.inEpoll = true
	c.parkedAt = monoNow()
	p.next++
	id := p.next
	p.parked[id] = c
	p.mu.Unlock()
	err := p.ctl(c, op, id, readOnce)
	if op == unix.EPOLL_CTL_MOD && errors.Is(err, unix.ENOENT) {
		err = p.ctl(c, unix.EPOLL_CTL_ADD, id, readOnce) // a watch deleted it
	}
	if err != nil {
		if p.take(id) == nil {
			return nil // the scan or Close took it, and ends it
		}
		return err
	}
	return nil
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
					c.clientCheck(id, ev.Events)
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

// watch puts the socket of c, served armed (armed.go), in the set until
// unwatch, to notice its client leaving: clientCheck runs when the socket
// is readable. It returns the watch's id.
func (p *poller) watch(c *conn) (uint64, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return 0, errPollerClosed
	}
	p.next++
	id := p.next
	p.watched[id] = c
	p.mu.Unlock()
	// The socket may be in the set, disarmed, from an idle wait (park);
	// park adds it again after the watch deleted it.
	err := p.ctl(c, unix.EPOLL_CTL_ADD, id, readOnce)
	if errors.Is(err, unix.EEXIST) {
		err = p.ctl(c, unix.EPOLL_CTL_MOD, id, readOnce)
	}
	if err != nil {
		p.unwatch(id)
		return 0, err
	}
	return id, nil
}

// watchedBy returns the connection watched under id, nil if none.
func (p *poller) watchedBy(id uint64) *conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.watched[id]
}

// unwatch ends the watch id; its socket leaves the set.
func (p *poller) unwatch(id uint64) {
	p.mu.Lock()
	c := p.watched[id]
	delete(p.watched, id)
	p.mu.Unlock()
	if c != nil {
		_ = p.ctl(c, unix.EPOLL_CTL_DEL, 0, 0)
	}
}

// readOnce are the events a parked connection and a watch wait for:
// bytes or the client's close, once.
const readOnce = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT

// ctl runs epoll_ctl op on c's socket, for events with id, the socket kept
// from being closed meanwhile.
func (p *poller) ctl(c *conn, op int, id uint64, events uint32) error {
	k := &p.call
	k.mu.Lock()
	k.c, k.op = c, op
	k.ev = unix.EpollEvent{Events: events, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
	k.connErr, k.ctlErr = nil, nil
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

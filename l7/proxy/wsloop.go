package proxy

import (
	"container/heap"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/weir-lb/weir/l7/epollset"
)

// A tunnel whose two sides are plain TCP sockets (no TLS, no layer that may
// hold bytes: rawSocket) is relayed, once its 101 and the bytes buffered
// with the handshake have gone through (run writes them as the goroutine
// pumps do), by the process's relay loop instead of a goroutine per
// direction: both sockets go into the loop's own epoll set (edge
// triggered, for reading, writing and the peer's close), and one goroutine
// waits for that set in the runtime's poller, as l7/h1server's idle poller
// waits for its own (poller.go), so that no thread blocks. Each wake takes
// every ready event (epoll_wait with no timeout, again while a batch comes
// back full) and relays each readable socket's bytes to the other side
// through one 64 KiB buffer: a message costs its read and its write, and no
// goroutine is woken for it. A write that the other side does not take
// whole keeps the rest (pending) and the source is not read again until
// the other side is writable and has taken it.
//
// The tunnel's semantics are the goroutine pumps' (websocket.go):
//
//   - end of stream or an error on one side ends the tunnel, both sockets
//     closed, with that side's reason (closeClient, closeBackend); a write
//     that fails is the reason of the side written to;
//   - proxy-read-timeout and proxy-send-timeout are deadlines in a min-heap
//     of the loop, one entry per tunnel: each message stores the time of
//     the last activity (the loop reads the clock once per wake), and an
//     entry that expires is checked against it and re-armed, so that a busy
//     tunnel touches no timer; the loop's next deadline is the read
//     deadline of the epoll set's *os.File;
//   - GoAway posts a command to the loop, which sends the client the close
//     frame at a frame boundary (after the bytes pending to it, within
//     goAwayWrite) and ends the tunnel (shutdown.go).
//
// The net.Conns stay Go's: the runtime's poller keeps its own registration
// of the sockets (the loop ignores its readiness), the loop closes them with
// net.Conn.Close (tunnel.end) after taking them out of its set, and every
// system call on a socket (read, write, epoll_ctl) runs inside
// syscall.RawConn.Control, which keeps the descriptor from being closed and
// its number reused meanwhile.
//
// The loop is off unless the environment variable wsLoopEnv is "1"; it is
// per process: one in --workers 0, one in each worker process. Off by
// default: the same binary alternated with and without it on the bench's
// ws row spent more CPU per message with it (bench/README.md).

// wsLoopEnv names the environment variable that, "1", relays the tunnels
// of two plain TCP sockets by the loop instead of goroutine pumps (to
// compare the two).
const wsLoopEnv = "WEIR_WS_EPOLL"

// wsLoopOn is true when wsLoopEnv switches the loop on.
var wsLoopOn = os.Getenv(wsLoopEnv) == "1"

const (
	loopBufSize = 64 << 10 // the loop's read buffer, and a pending write's
	loopBatch   = 256      // events taken per epoll_wait
	// loopEvents are a tunnel socket's events, registered once, edge
	// triggered.
	loopEvents = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET
	// loopWakeID is the epoll data of the loop's eventfd (post).
	loopWakeID = ^uint64(0)
	// loopSpare is how many pending-write buffers the loop keeps for reuse.
	loopSpare = 8
	// loopFullReads is how many full buffers pump relays for a socket
	// before it lets the others go first (again).
	loopFullReads = 16
)

// sideReasons are the close reasons of a tunnel's sides, by index: 0 the
// client, 1 the backend.
var sideReasons = [2]string{closeClient, closeBackend}

// goAwayFrame is the close frame GoAway sends the client: FIN, opcode
// close, unmasked, status 1001 (going away; RFC 6455 7.4.1).
var goAwayFrame = [4]byte{0x88, 0x02, 0x03, 0xe9}

// relayLoop is a process's loop of tunnels (relayLoopOf).
type relayLoop struct {
	epfd  int
	file  *os.File // epfd, in the runtime's poller
	raw   syscall.RawConn
	efd   int       // eventfd: a command was posted
	epoch time.Time // the loop's times are nanoseconds since epoch

	mu   sync.Mutex
	cmds []relayCmd // posted, not yet run

	// The rest is the loop goroutine's alone.
	taken  []relayCmd
	slots  []*tunnel // by slot: the tunnels in the set
	gens   []uint32  // by slot: the generation of its tunnel
	free   []uint32  // slots unused
	timers tunnelHeap
	// armed is the deadline set on file, in nanoseconds since epoch; -1
	// none, -2 unknown (it expired).
	armed  int64
	now    int64
	buf    []byte
	spare  [][]byte
	events []unix.EpollEvent
	// again holds the sockets pump left with bytes still to read (it
	// relayed loopFullReads buffers of each): no new event may come for
	// them, so the loop reads them again after the ready events, as
	// often as it takes.
	again, retry []loopRef

	// Functions for RawConn.Read and Control, made once (a closure made
	// per call would escape and allocate), and their arguments.
	ready func(fd uintptr) bool
	io    func(fd uintptr)
	ctl   func(fd uintptr)
	ioArg struct {
		trap  uintptr
		b     []byte
		n     int
		errno unix.Errno
	}
	ctlArg struct {
		op  int
		ev  unix.EpollEvent
		err error
	}
}

// loopRef is one side of a tunnel in the loop, its generation checked
// (the tunnel may have ended since).
type loopRef struct {
	t    *tunnel
	gen  uint32
	side int
}

// relayCmd is a command posted to the loop: add t, or end it going away.
type relayCmd struct {
	t      *tunnel
	goAway bool
}

// loopState is a tunnel's state in the loop, the loop goroutine's once the
// tunnel is posted.
type loopState struct {
	side      [2]loopSide // 0 the client, 1 the backend
	slot, gen uint32
	heapIdx   int
	due       int64 // the timer heap's key
	last      int64 // the last byte read or written, either way
	ended     bool
	goAway    bool
	goAwayDue int64
	// closeFrame is set once goAwayFrame was handed to the client's
	// socket (whole, or the rest pending).
	closeFrame bool
	// shortWrites counts the writes that left bytes pending (tests read
	// it once the tunnel ended).
	shortWrites int
}

// loopSide is one socket of a tunnel in the loop.
type loopSide struct {
	raw syscall.RawConn
	// pending holds bytes read from this side that the other did not take
	// yet (nil: none), in buf; since is when they were last written to.
	pending []byte
	buf     []byte
	since   int64
}

var theRelay struct {
	once sync.Once
	l    *relayLoop
	err  error
}

// relayLoopOf returns the process's relay loop, started on first use; nil
// if it cannot run (the caller then keeps goroutine pumps). It does not
// look at wsLoopOn: serveUpgrade does.
func relayLoopOf() *relayLoop {
	theRelay.once.Do(func() {
		theRelay.l, theRelay.err = newRelayLoop()
		if theRelay.l != nil {
			go theRelay.l.serve()
		}
	})
	return theRelay.l
}

// newRelayLoop makes a relay loop; serve runs it.
func newRelayLoop() (*relayLoop, error) {
	set, err := epollset.New("the websocket relay's", "websocket-relay-epoll")
	if err != nil {
		return nil, err
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		_ = set.File.Close()
		return nil, fmt.Errorf("create the websocket relay's eventfd: %w", err)
	}
	wake := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: -1, Pad: -1} // loopWakeID
	if err := unix.EpollCtl(set.FD, unix.EPOLL_CTL_ADD, efd, &wake); err != nil {
		_ = set.File.Close()
		_ = unix.Close(efd)
		return nil, fmt.Errorf("add the websocket relay's eventfd: %w", err)
	}
	l := &relayLoop{
		epfd: set.FD, file: set.File, raw: set.Raw, efd: efd, epoch: time.Now(), armed: -1,
		buf: make([]byte, loopBufSize), events: make([]unix.EpollEvent, loopBatch),
	}
	l.ready = l.onReady
	l.io = func(fd uintptr) {
		a := &l.ioArg
		for {
			r, _, errno := unix.RawSyscall(a.trap, fd, uintptr(unsafe.Pointer(unsafe.SliceData(a.b))), uintptr(len(a.b)))
			if errno == unix.EINTR {
				continue
			}
			a.n, a.errno = int(r), errno
			if errno != 0 {
				a.n = 0
			}
			return
		}
	}
	l.ctl = func(fd uintptr) {
		a := &l.ctlArg
		a.err = unix.EpollCtl(l.epfd, a.op, int(fd), &a.ev)
	}
	return l, nil
}

// post hands c to the loop.
func (l *relayLoop) post(c relayCmd) {
	l.mu.Lock()
	wake := len(l.cmds) == 0 // else a wake is on its way: the loop takes all
	l.cmds = append(l.cmds, c)
	l.mu.Unlock()
	if wake {
		one := [8]byte{1}
		_, _ = unix.Write(l.efd, one[:])
	}
}

// serve runs the loop, for the life of the process.
func (l *relayLoop) serve() {
	for {
		err := l.raw.Read(l.ready)
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				return // the epoll set was closed: not while the process runs
			}
			l.armed = -2
			l.now = int64(time.Since(l.epoch))
			l.expire()
		}
		l.arm()
	}
}

// arm sets the epoll file's read deadline to the timer heap's first, if it
// changed.
func (l *relayLoop) arm() {
	want := int64(-1)
	if len(l.timers) > 0 {
		want = l.timers[0].lp.due
	}
	if want == l.armed {
		return
	}
	l.armed = want
	if want < 0 {
		_ = l.file.SetReadDeadline(time.Time{})
		return
	}
	_ = l.file.SetReadDeadline(l.epoch.Add(time.Duration(want)))
}

// onReady is the epoll file's RawConn.Read function: it takes and handles
// every ready event. It returns false to wait for the set (the runtime's
// poller reports it readable again on any later event: it is registered
// edge triggered, and each event of a socket in the set wakes it), true
// when the heap's first deadline is earlier than the one armed (serve arms
// it and reads again; that read begins with a call of this function, so
// nothing that became ready meanwhile waits).
func (l *relayLoop) onReady(epfd uintptr) bool {
	for {
		r, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, epfd, uintptr(unsafe.Pointer(unsafe.SliceData(l.events))), uintptr(len(l.events)), 0, 0, 0)
		n := int(r)
		if errno != 0 {
			n = 0 // EINTR: the next event wakes the set again
		}
		l.now = int64(time.Since(l.epoch))
		for i := range l.events[:n] {
			l.event(&l.events[i])
		}
		if len(l.again) > 0 {
			l.retry, l.again = l.again, l.retry[:0]
			for i, r := range l.retry {
				if !r.t.lp.ended && r.t.lp.gen == r.gen {
					l.pump(r.t, r.side, true)
				}
				l.retry[i] = loopRef{} // holds no tunnel
			}
		}
		if len(l.timers) > 0 && l.timers[0].lp.due <= l.now {
			l.expire()
		}
		if n < len(l.events) && len(l.again) == 0 {
			break
		}
	}
	return len(l.timers) > 0 && (l.armed < 0 || l.timers[0].lp.due < l.armed)
}

// event handles one ready event.
func (l *relayLoop) event(ev *unix.EpollEvent) {
	id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
	if id == loopWakeID {
		l.commands()
		return
	}
	slot, gen, s := uint32(id), uint32(id>>33), int(id>>32&1)
	if int(slot) >= len(l.slots) {
		return
	}
	t := l.slots[slot]
	if t == nil || t.lp.gen != gen {
		return // ended earlier in this batch
	}
	e := ev.Events
	// Writable: the bytes the other side left for this one go first. An
	// edge-triggered socket's events all say EPOLLOUT while it is writable.
	if e&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 && t.lp.side[1-s].pending != nil {
		l.flush(t, 1-s)
	}
	if e&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		l.pump(t, s, e&(unix.EPOLLRDHUP|unix.EPOLLERR|unix.EPOLLHUP) != 0)
	}
}

// commands runs the posted commands.
func (l *relayLoop) commands() {
	var b [8]byte
	_, _ = unix.Read(l.efd, b[:]) // first: a post after the swap below wakes again
	l.mu.Lock()
	l.taken, l.cmds = l.cmds, l.taken[:0]
	l.mu.Unlock()
	for i, c := range l.taken {
		if c.goAway {
			l.goAway(c.t)
		} else {
			l.add(c.t)
		}
		l.taken[i] = relayCmd{} // holds no tunnel
	}
}

// add puts t's sockets in the set and its timer in the heap.
func (l *relayLoop) add(t *tunnel) {
	var slot uint32
	if n := len(l.free); n > 0 {
		slot, l.free = l.free[n-1], l.free[:n-1]
	} else {
		slot = uint32(len(l.slots))
		l.slots, l.gens = append(l.slots, nil), append(l.gens, 0)
	}
	l.gens[slot]++
	lp := &t.lp
	lp.slot, lp.gen = slot, l.gens[slot]&(1<<31-1)
	l.slots[slot] = t
	lp.last, lp.due = l.now, l.now+int64(t.read)
	heap.Push(&l.timers, t)
	for s := range lp.side {
		l.ctlArg.op = unix.EPOLL_CTL_ADD
		l.ctlArg.ev = unix.EpollEvent{Events: loopEvents, Fd: int32(slot), Pad: int32(lp.gen<<1 | uint32(s))}
		l.ctlArg.err = nil
		if err := lp.side[s].raw.Control(l.ctl); err != nil || l.ctlArg.err != nil {
			l.end(t, sideReasons[s])
			return
		}
	}
}

// rw is read(2) or write(2) (trap) of b on raw's socket, without blocking;
// EBADF once the connection is closed.
func (l *relayLoop) rw(raw syscall.RawConn, trap uintptr, b []byte) (int, unix.Errno) {
	a := &l.ioArg
	a.trap, a.b = trap, b
	err := raw.Control(l.io)
	a.b = nil
	if err != nil {
		return 0, unix.EBADF
	}
	return a.n, a.errno
}

// pump reads side s and writes what it read to the other side, until s
// has nothing more (EAGAIN, or a read shorter than the buffer: a later
// byte raises an event of its own), the other side takes less than was
// read (the rest is pending), or the tunnel ends. With toEnd (the event
// reported the peer's close or an error, which raises no later event; or
// events went unanswered while bytes were pending) it reads on to EAGAIN
// or the end. After loopFullReads full buffers it lets the other sockets
// go first: the side goes on again.
func (l *relayLoop) pump(t *tunnel, s int, toEnd bool) {
	src := &t.lp.side[s]
	for reads := 0; !t.lp.ended && src.pending == nil && !(s == 1 && t.lp.goAway); reads++ {
		if reads == loopFullReads {
			l.again = append(l.again, loopRef{t: t, gen: t.lp.gen, side: s})
			return
		}
		n, errno := l.rw(src.raw, unix.SYS_READ, l.buf)
		switch {
		case errno == unix.EAGAIN:
			return
		case errno != 0 || n == 0:
			l.end(t, sideReasons[s])
			return
		}
		t.lp.last = l.now
		if !l.send(t, s, l.buf[:n]) {
			return
		}
		if n < len(l.buf) && !toEnd {
			return
		}
	}
}

// send writes b, read from side s, to the other side. It returns true once
// all of b is written; false when the tunnel ended (the write failed) or
// the rest of b is pending.
func (l *relayLoop) send(t *tunnel, s int, b []byte) bool {
	w, errno := l.rw(t.lp.side[1-s].raw, unix.SYS_WRITE, b)
	if errno != 0 && errno != unix.EAGAIN {
		l.end(t, sideReasons[1-s])
		return false
	}
	l.wrote(t, s, b[:w])
	if w == len(b) {
		return true
	}
	t.lp.shortWrites++
	src := &t.lp.side[s]
	src.buf = l.takeBuf()
	src.pending = append(src.buf[:0], b[w:]...)
	src.since = l.now
	l.schedule(t, l.now+int64(t.sendFrom(s)))
	return false
}

// wrote counts b, written from side s to the other side.
func (l *relayLoop) wrote(t *tunnel, s int, b []byte) {
	if len(b) == 0 {
		return
	}
	t.lp.last = l.now
	if s == 1 {
		t.toClient.Add(int64(len(b)))
		t.frames.advance(b)
		return
	}
	t.toBackend.Add(int64(len(b)))
}

// flush writes the bytes side s left pending to the other side, then reads
// s again (its events went unanswered meanwhile) or, going away, goes on
// with that.
func (l *relayLoop) flush(t *tunnel, s int) {
	src := &t.lp.side[s]
	for len(src.pending) > 0 {
		w, errno := l.rw(t.lp.side[1-s].raw, unix.SYS_WRITE, src.pending)
		if errno == unix.EAGAIN {
			return
		}
		if errno != 0 {
			l.end(t, sideReasons[1-s])
			return
		}
		l.wrote(t, s, src.pending[:w])
		src.pending = src.pending[w:]
		src.since = l.now
	}
	l.putBuf(src.buf)
	src.buf, src.pending = nil, nil
	if s == 1 && t.lp.goAway {
		l.goAwayStep(t)
		return
	}
	l.pump(t, s, true)
}

// goAway starts GoAway's end of t: the backend is no longer read; the
// client gets what is pending to it, then the close frame at a frame
// boundary, all within goAwayWrite.
func (l *relayLoop) goAway(t *tunnel) {
	if t.lp.ended {
		return
	}
	t.lp.goAway = true
	t.lp.goAwayDue = l.now + int64(goAwayWrite)
	l.schedule(t, t.lp.goAwayDue)
	l.goAwayStep(t)
}

// goAwayStep moves GoAway's end of t on, once nothing is pending to the
// client.
func (l *relayLoop) goAwayStep(t *tunnel) {
	if t.lp.side[1].pending != nil {
		return // flush calls again
	}
	if !t.lp.closeFrame {
		if !t.frames.atBoundary() {
			l.end(t, closeShutdown) // the frame cannot be completed
			return
		}
		t.lp.closeFrame = true
		if !l.send(t, 1, goAwayFrame[:]) {
			return // pending (flush calls again) or ended
		}
	}
	closeWrite(t.client)
	l.end(t, closeShutdown)
}

// schedule moves t's timer to due if that is earlier.
func (l *relayLoop) schedule(t *tunnel, due int64) {
	if due < t.lp.due {
		t.lp.due = due
		heap.Fix(&l.timers, t.lp.heapIdx)
	}
}

// expire checks the tunnels whose timers are due: each ends or is
// re-armed to its next deadline.
func (l *relayLoop) expire() {
	for len(l.timers) > 0 && l.timers[0].lp.due <= l.now {
		t := l.timers[0]
		lp := &t.lp
		if reason := l.timedOut(t); reason != "" {
			l.end(t, reason)
			continue
		}
		due := t.readDue()
		for s := range lp.side {
			if lp.side[s].pending != nil {
				due = min(due, lp.side[s].since+int64(t.sendFrom(s)))
			}
		}
		if lp.goAway {
			due = min(due, lp.goAwayDue)
		}
		lp.due = due
		heap.Fix(&l.timers, 0)
	}
}

// timedOut returns why t must end now, "" if it need not: GoAway's time
// is up, a write made no progress for the send timeout, or nothing passed
// either way for the read timeout.
func (l *relayLoop) timedOut(t *tunnel) string {
	lp := &t.lp
	if lp.goAway && l.now >= lp.goAwayDue {
		return closeShutdown
	}
	for s := range lp.side {
		if lp.side[s].pending != nil && l.now-lp.side[s].since >= int64(t.sendFrom(s)) {
			return closeSendTimeout
		}
	}
	if lp.side[1].pending == nil && l.now-lp.last >= int64(t.read) {
		return closeReadTimeout
	}
	return ""
}

// sendFrom is how long the bytes read from side s (0 the client, 1 the
// backend) may wait for the other side to take them: proxy-send-timeout
// to the backend, nginx's send_timeout to the client.
func (t *tunnel) sendFrom(s int) time.Duration {
	if s == 1 {
		return t.sendClient
	}
	return t.send
}

// readDue is when t's read timeout expires, in the loop's time: none
// (the largest time) while the backend's bytes wait for the client, as
// nginx arms no read timer then.
func (t *tunnel) readDue() int64 {
	if t.lp.side[1].pending != nil {
		return math.MaxInt64
	}
	return t.lp.last + int64(t.read)
}

// end takes t out of the loop and closes it for reason (tunnel.end: both
// connections closed, run returns).
func (l *relayLoop) end(t *tunnel, reason string) {
	lp := &t.lp
	if lp.ended {
		return
	}
	lp.ended = true
	for s := range lp.side {
		l.ctlArg.op = unix.EPOLL_CTL_DEL
		_ = lp.side[s].raw.Control(l.ctl) // before the close: the number may be reused after
		if lp.side[s].buf != nil {
			l.putBuf(lp.side[s].buf)
			lp.side[s].buf, lp.side[s].pending = nil, nil
		}
	}
	l.slots[lp.slot] = nil
	l.free = append(l.free, lp.slot)
	if lp.heapIdx >= 0 {
		heap.Remove(&l.timers, lp.heapIdx)
	}
	t.end(reason)
}

// takeBuf returns a buffer for a pending write.
func (l *relayLoop) takeBuf() []byte {
	if n := len(l.spare); n > 0 {
		b := l.spare[n-1]
		l.spare = l.spare[:n-1]
		return b
	}
	return make([]byte, loopBufSize)
}

// putBuf keeps b for a later pending write, up to loopSpare buffers.
func (l *relayLoop) putBuf(b []byte) {
	if len(l.spare) < loopSpare {
		l.spare = append(l.spare, b[:0])
	}
}

// tunnelHeap is the loop's timers: its tunnels by due.
type tunnelHeap []*tunnel

func (h tunnelHeap) Len() int           { return len(h) }
func (h tunnelHeap) Less(i, j int) bool { return h[i].lp.due < h[j].lp.due }
func (h tunnelHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].lp.heapIdx, h[j].lp.heapIdx = i, j
}

func (h *tunnelHeap) Push(x any) {
	t := x.(*tunnel)
	t.lp.heapIdx = len(*h)
	*h = append(*h, t)
}

func (h *tunnelHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.lp.heapIdx = -1
	return t
}

// closeWrite shuts down the writing side of c, if it can (a TCP
// connection, under wrappers that pass CloseWrite on).
func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

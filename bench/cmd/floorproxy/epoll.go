package main

import (
	"errors"
	"fmt"
	"log"
	"net/netip"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	epollBatch   = 512      // events taken per epoll_wait
	epollReadBuf = 64 << 10 // the loop's one read buffer
	// connEvents are every connection's events: registered once, edge
	// triggered, so that no epoll_ctl follows the accept.
	connEvents = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET
)

// loopBase is what the epoll and uring loops share: the listener, the
// eventfd Close writes to end the loop, the upstream address.
type loopBase struct {
	lfd, efd int
	upstream unix.SockaddrInet4
	addr     string
}

// newLoopBase listens on listen (an IPv4 address and port; port 0 picks
// one) for clients to forward to upstream (an IPv4 address and port).
func newLoopBase(listen, upstream string) (loopBase, error) {
	b := loopBase{lfd: -1, efd: -1}
	var err error
	if b.upstream, err = parseIPv4("upstream", upstream); err != nil {
		return b, err
	}
	if b.lfd, b.addr, err = listen4(listen); err != nil {
		return b, err
	}
	if b.efd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		unix.Close(b.lfd)
		return loopBase{lfd: -1, efd: -1}, fmt.Errorf("eventfd: %w", err)
	}
	return b, nil
}

// Addr is the address the proxy listens on.
func (b *loopBase) Addr() string { return b.addr }

// Close makes Serve return; Serve closes every descriptor.
func (b *loopBase) Close() error {
	_, err := unix.Write(b.efd, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	return err
}

// epollProxy is the epoll mode: one loop, on one locked thread, over raw
// non-blocking descriptors.
type epollProxy struct {
	loopBase
	epfd  int
	buf   []byte
	conns []half // by descriptor
}

// half is one descriptor's side of a pair.
type half struct {
	p    *pair
	side int
}

// pair is a client connection (side 0) and its upstream connection (side 1).
// pending[s] holds bytes read from side s that side 1-s did not take yet (nil
// when none: a pair keeps no buffer while its writes go through); eof[s] is
// set once side s read its end, shut[s] once that end was passed on to side
// 1-s.
type pair struct {
	fd      [2]int
	pending [2][]byte
	eof     [2]bool
	shut    [2]bool
	closed  bool
}

// newEpollProxy listens on listen (an IPv4 address and port; port 0 picks
// one) for clients to forward to upstream (an IPv4 address and port).
func newEpollProxy(listen, upstream string) (*epollProxy, error) {
	base, err := newLoopBase(listen, upstream)
	if err != nil {
		return nil, err
	}
	p := &epollProxy{loopBase: base, epfd: -1, buf: make([]byte, epollReadBuf)}
	if err := p.open(); err != nil {
		p.closeFDs()
		return nil, err
	}
	return p, nil
}

func (p *epollProxy) open() error {
	var err error
	if p.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return fmt.Errorf("epoll_create1: %w", err)
	}
	for _, fd := range []int{p.lfd, p.efd} {
		if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(fd)}); err != nil {
			return fmt.Errorf("epoll_ctl add %d: %w", fd, err)
		}
	}
	return nil
}

// parseIPv4 parses what (an address flag) as an IPv4 address and port.
func parseIPv4(what, s string) (unix.SockaddrInet4, error) {
	a, err := netip.ParseAddrPort(s)
	if err != nil || !a.Addr().Is4() {
		return unix.SockaddrInet4{}, fmt.Errorf("%s address %q: want IPv4 address:port", what, s)
	}
	return unix.SockaddrInet4{Port: int(a.Port()), Addr: a.Addr().As4()}, nil
}

// listen4 opens a non-blocking listening socket on listen (IPv4 address and
// port; port 0 picks one) and returns it with the address it got.
func listen4(listen string) (fd int, addr string, err error) {
	sa, err := parseIPv4("listen", listen)
	if err != nil {
		return -1, "", err
	}
	if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0); err != nil {
		return -1, "", fmt.Errorf("listener socket: %w", err)
	}
	defer func() {
		if err != nil {
			unix.Close(fd)
			fd = -1
		}
	}()
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fd, "", fmt.Errorf("listener SO_REUSEADDR: %w", err)
	}
	// Accepted connections inherit TCP_NODELAY (Go sets it on every TCP
	// connection; nginx has tcp_nodelay on).
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		return fd, "", fmt.Errorf("listener TCP_NODELAY: %w", err)
	}
	if err := unix.Bind(fd, &sa); err != nil {
		return fd, "", fmt.Errorf("bind %s: %w", listen, err)
	}
	if err := unix.Listen(fd, 4096); err != nil {
		return fd, "", fmt.Errorf("listen %s: %w", listen, err)
	}
	got, err := unix.Getsockname(fd)
	if err != nil {
		return fd, "", fmt.Errorf("listener address: %w", err)
	}
	a := got.(*unix.SockaddrInet4)
	return fd, netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)).String(), nil
}

// upstreamSocket opens a TCP socket with TCP_NODELAY for an upstream
// connection, non-blocking if flags says so.
func upstreamSocket(flags int) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|flags, 0)
	if err != nil {
		return -1, fmt.Errorf("upstream socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("upstream TCP_NODELAY: %w", err)
	}
	return fd, nil
}

// Serve runs the loop on the calling goroutine, locked to its thread, until
// Close; it then closes every descriptor, connections included.
func (p *epollProxy) Serve() error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer p.closeFDs()
	events := make([]unix.EpollEvent, epollBatch)
	for {
		r, errno := waitSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(p.epfd), uintptr(unsafe.Pointer(unsafe.SliceData(events))), uintptr(len(events)), ^uintptr(0), 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return fmt.Errorf("epoll_wait: %w", errno)
		}
		n := int(r)
		for i := range events[:n] {
			ev := &events[i]
			fd := int(ev.Fd)
			switch {
			case fd == p.lfd:
				p.accept()
				continue
			case fd == p.efd:
				return nil
			case fd >= len(p.conns) || p.conns[fd].p == nil:
				continue
			}
			h := p.conns[fd]
			// Writable: flush what the other side left for this one.
			// Every readiness event of an edge-triggered descriptor also
			// says EPOLLOUT while it is writable, so act only when there
			// is something to write.
			if ev.Events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 && h.p.pending[1-h.side] != nil {
				p.flush(h.p, 1-h.side)
			}
			if ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
				p.pump(h.p, h.side, ev.Events&(unix.EPOLLRDHUP|unix.EPOLLERR|unix.EPOLLHUP) != 0)
			}
		}
	}
}

// accept takes every pending connection (the listener is edge triggered),
// dials its upstream connection and registers both.
func (p *epollProxy) accept() {
	for {
		cfd, errno := rawAccept4(p.lfd)
		if errno == unix.EINTR || errno == unix.ECONNABORTED {
			continue
		}
		if errno != 0 {
			if errno != unix.EAGAIN {
				// EMFILE and the like: the connection waits in the
				// backlog; the next one raises a new edge.
				log.Printf("accept4: %v", errno)
			}
			return
		}
		ufd, err := p.dial()
		if err != nil {
			log.Print(err)
			unix.Close(cfd)
			continue
		}
		pr := &pair{fd: [2]int{cfd, ufd}}
		if err := p.register(pr); err != nil {
			log.Print(err)
			p.closePair(pr)
		}
	}
}

// dial starts a non-blocking connect to the upstream; writes before it
// completes get EAGAIN and wait in pending for EPOLLOUT.
func (p *epollProxy) dial() (int, error) {
	fd, err := upstreamSocket(unix.SOCK_NONBLOCK)
	if err != nil {
		return -1, err
	}
	if err := unix.Connect(fd, &p.upstream); err != nil && err != unix.EINPROGRESS {
		unix.Close(fd)
		return -1, fmt.Errorf("connect upstream: %w", err)
	}
	return fd, nil
}

func (p *epollProxy) register(pr *pair) error {
	for s, fd := range pr.fd {
		for fd >= len(p.conns) {
			p.conns = append(p.conns, make([]half, len(p.conns)+64)...)
		}
		p.conns[fd] = half{p: pr, side: s}
		if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: connEvents, Fd: int32(fd)}); err != nil {
			return fmt.Errorf("epoll_ctl add %d: %w", fd, err)
		}
	}
	return nil
}

// pump reads side s and writes what it read to the other side, until s has
// nothing more (EAGAIN, or a short read: edge triggered, data that arrives
// later raises a new edge), the other side takes less than was read (the rest
// waits in pending), or s ends. With toEnd (the event said the peer's FIN or
// an error is there already, so no new edge will come for it) a short read
// is not enough: it reads on to the end or EAGAIN.
func (p *epollProxy) pump(pr *pair, s int, toEnd bool) {
	for !pr.closed && pr.pending[s] == nil && !pr.eof[s] {
		n, errno := rawRW(unix.SYS_READ, pr.fd[s], p.buf)
		switch {
		case errno == unix.EINTR:
			continue
		case errno == unix.EAGAIN:
			return
		case errno != 0:
			p.closePair(pr)
			return
		case n == 0:
			pr.eof[s] = true
			p.passEOF(pr, s)
			return
		}
		w, ok := p.send(pr, s, p.buf[:n])
		if !ok {
			return
		}
		if w < n {
			pr.pending[s] = append([]byte(nil), p.buf[w:n]...)
			return
		}
		if n < len(p.buf) && !toEnd {
			return
		}
	}
}

// flush writes the bytes side s left pending to the other side, then goes
// back to reading s (whose edges went unanswered meanwhile).
func (p *epollProxy) flush(pr *pair, s int) {
	for len(pr.pending[s]) > 0 {
		w, ok := p.send(pr, s, pr.pending[s])
		if !ok || w == 0 {
			return
		}
		pr.pending[s] = pr.pending[s][w:]
	}
	pr.pending[s] = nil
	if pr.eof[s] {
		p.passEOF(pr, s)
		return
	}
	p.pump(pr, s, true)
}

// send writes b from side s to the other side: it returns how much went (0
// when the socket is full), or false when the write failed and the pair is
// closed.
func (p *epollProxy) send(pr *pair, s int, b []byte) (int, bool) {
	for {
		w, errno := rawRW(unix.SYS_WRITE, pr.fd[1-s], b)
		switch errno {
		case 0:
			return w, true
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, true
		}
		p.closePair(pr)
		return 0, false
	}
}

// passEOF passes side s's end on to the other side once nothing of s is
// pending, and closes the pair once both ends are passed on.
func (p *epollProxy) passEOF(pr *pair, s int) {
	if pr.pending[s] != nil || pr.shut[s] {
		return
	}
	pr.shut[s] = true
	if err := unix.Shutdown(pr.fd[1-s], unix.SHUT_WR); err != nil && !errors.Is(err, unix.ENOTCONN) {
		p.closePair(pr)
		return
	}
	if pr.shut[0] && pr.shut[1] {
		p.closePair(pr)
	}
}

// closePair closes both descriptors (which takes them out of the epoll set).
func (p *epollProxy) closePair(pr *pair) {
	if pr.closed {
		return
	}
	pr.closed = true
	for _, fd := range pr.fd {
		if fd < len(p.conns) && p.conns[fd].p == pr {
			p.conns[fd] = half{}
		}
		unix.Close(fd)
	}
}

func (p *epollProxy) closeFDs() {
	for _, h := range p.conns {
		if h.p != nil {
			p.closePair(h.p)
		}
	}
	for _, fd := range []int{p.lfd, p.epfd, p.efd} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// rawWait makes the loops' waits (epoll_wait, io_uring_enter) raw system
// calls too (-raw-wait): the runtime then never sees the loop's thread in a
// system call, so sysmon does not hand its P to another thread while it
// waits, and the loop's return needs no P back. The GC and the runtime's
// other goroutines still get the P: sysmon's preemption signal (every 10 ms
// of running) interrupts the wait with EINTR, and the goroutine is preempted
// on its way back to the wait.
var rawWait bool

// waitSyscall6 is a system call that may block: through Syscall6, or
// RawSyscall6 with rawWait.
func waitSyscall6(trap, a1, a2, a3, a4, a5, a6 uintptr) (uintptr, unix.Errno) {
	if rawWait {
		r, _, errno := unix.RawSyscall6(trap, a1, a2, a3, a4, a5, a6)
		return r, errno
	}
	r, _, errno := unix.Syscall6(trap, a1, a2, a3, a4, a5, a6)
	return r, errno
}

// rawRW is read(2) or write(2) of b on a non-blocking descriptor through
// RawSyscall: it never blocks, so the runtime need not know of it
// (Syscall's entersyscall and exitsyscall are skipped). The pointer is only
// the kernel's for the call's duration.
func rawRW(trap uintptr, fd int, b []byte) (int, unix.Errno) {
	r, _, errno := unix.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	return int(r), errno
}

// rawAccept4 is accept4(2) of a non-blocking listener, with no peer address,
// the connection non-blocking and close-on-exec.
func rawAccept4(lfd int) (int, unix.Errno) {
	r, _, errno := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(lfd), 0, 0, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	return int(r), errno
}

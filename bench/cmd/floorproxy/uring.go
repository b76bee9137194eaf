package main

import (
	"errors"
	"fmt"
	"log"
	"runtime"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// From linux/io_uring.h (x/sys has the system call numbers only).
const (
	uringSetupSingleIssuer = 1 << 12
	uringSetupDeferTaskrun = 1 << 13
	uringFeatSingleMmap    = 1 << 0
	uringEnterGetevents    = 1 << 0
	uringOffSQRing         = 0
	uringOffSQEs           = 0x10000000
	uringSQEIOLink         = 1 << 2
	uringSQECQESkipSuccess = 1 << 6
	uringAcceptMultishot   = 1 << 0 // in ioprio
	uringCQEFMore          = 1 << 1

	uringOpAccept  = 13
	uringOpConnect = 16
	uringOpRead    = 22
	uringOpSend    = 26
	uringOpRecv    = 27
)

const (
	uringEntries  = 4096     // submission queue entries (the completion queue has twice as many)
	uringBufSize  = 16 << 10 // per direction of a pair
	uringMaxPairs = 1 << 15  // pairs the buffer arena has room for
	uringArenaHdr = 4096     // the arena's first page: the upstream sockaddr, the eventfd's 8 bytes
)

// What a completion is for: the low 8 bits of its user data; a pair's slot
// is bits 8-31 and its generation bits 32-63.
const (
	uopAccept  = 1
	uopStop    = 2
	uopConnect = 3
	uopRecv    = 4 // + side
	uopSend    = 6 // + side
)

// uringSQE is struct io_uring_sqe (64 bytes).
type uringSQE struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64 // also addr2: connect's address length
	addr        uint64
	len         uint32
	opFlags     uint32 // msg_flags, accept_flags, ...
	userData    uint64
	bufIndex    uint16
	personality uint16
	spliceFdIn  int32
	addr3       uint64
	_           uint64
}

// uringCQE is struct io_uring_cqe (16 bytes).
type uringCQE struct {
	userData uint64
	res      int32
	flags    uint32
}

// uringParams is struct io_uring_params (120 bytes).
type uringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sqOff                                                                  struct {
		head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
		userAddr                                                        uint64
	}
	cqOff struct {
		head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
		userAddr                                                        uint64
	}
}

// uringProxy is the uring mode: one io_uring on one locked thread, one
// io_uring_enter per batch of completions. Accept is multishot; a pair's
// upstream connection is a CONNECT; each direction is a RECV into the
// pair's buffer for that direction followed, once data came, by a SEND of it
// linked to the next RECV (the send's completion skipped on success), so a
// relayed chunk costs one completion and no system call of its own.
type uringProxy struct {
	loopBase
	ring            int
	ringMem, sqeMem []byte
	sqHead, sqTail  *uint32
	sqMask, sqTailL uint32
	sqes            []uringSQE
	cqHead, cqTail  *uint32
	cqMask          uint32
	cqes            []uringCQE
	arena           []byte // off the Go heap: the kernel writes into it between calls
	arenaBase       uintptr
	pairs           []*upair // by slot
	free            []int
	live            int // pairs not yet closed
	stopping        bool
}

// upair is a client connection (side 0) and its upstream connection (side
// 1); inflight counts its operations whose completion is still to come.
type upair struct {
	fd       [2]int
	slot     int
	gen      uint32
	inflight int
	eof      [2]bool
	closing  bool
}

// newUringProxy listens on listen for clients to forward to upstream (both
// IPv4 address and port). The ring itself is made by Serve, on the thread
// that will use it (IORING_SETUP_SINGLE_ISSUER).
func newUringProxy(listen, upstream string) (*uringProxy, error) {
	base, err := newLoopBase(listen, upstream)
	if err != nil {
		return nil, err
	}
	return &uringProxy{loopBase: base, ring: -1}, nil
}

// Serve makes the ring and runs the loop on the calling goroutine, locked
// to its thread, until Close; it then shuts every connection down, waits
// for their operations to end and closes every descriptor.
func (p *uringProxy) Serve() error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer p.teardown()
	if err := p.setup(); err != nil {
		return err
	}
	p.armAccept()
	sqe := p.sqe()
	sqe.opcode, sqe.fd, sqe.addr, sqe.len, sqe.userData = uringOpRead, int32(p.efd), uint64(p.arenaBase+16), 8, uopStop
	for !p.stopping {
		if err := p.enter(1); err != nil {
			return err
		}
		p.reap()
	}
	return nil
}

func (p *uringProxy) setup() error {
	var params uringParams
	params.flags = uringSetupSingleIssuer | uringSetupDeferTaskrun
	r, _, errno := unix.RawSyscall(unix.SYS_IO_URING_SETUP, uringEntries, uintptr(unsafe.Pointer(&params)), 0)
	if errno != 0 {
		return fmt.Errorf("io_uring_setup: %w", errno)
	}
	p.ring = int(r)
	if params.features&uringFeatSingleMmap == 0 {
		return errors.New("io_uring_setup: the kernel maps the rings apart (no IORING_FEAT_SINGLE_MMAP): want Linux 5.4 or later")
	}
	size := max(params.sqOff.array+params.sqEntries*4, params.cqOff.cqes+params.cqEntries*uint32(unsafe.Sizeof(uringCQE{})))
	var err error
	if p.ringMem, err = unix.Mmap(p.ring, uringOffSQRing, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return fmt.Errorf("mmap io_uring rings: %w", err)
	}
	if p.sqeMem, err = unix.Mmap(p.ring, uringOffSQEs, int(params.sqEntries)*int(unsafe.Sizeof(uringSQE{})), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE); err != nil {
		return fmt.Errorf("mmap io_uring submission entries: %w", err)
	}
	p.sqHead = p.u32(params.sqOff.head)
	p.sqTail = p.u32(params.sqOff.tail)
	p.sqMask = *p.u32(params.sqOff.ringMask)
	p.sqTailL = atomic.LoadUint32(p.sqTail)
	array := unsafe.Slice(p.u32(params.sqOff.array), params.sqEntries)
	for i := range array {
		array[i] = uint32(i) // entry i of the ring is always SQE i
	}
	p.sqes = unsafe.Slice((*uringSQE)(unsafe.Pointer(&p.sqeMem[0])), params.sqEntries)
	p.cqHead = p.u32(params.cqOff.head)
	p.cqTail = p.u32(params.cqOff.tail)
	p.cqMask = *p.u32(params.cqOff.ringMask)
	p.cqes = unsafe.Slice((*uringCQE)(unsafe.Pointer(&p.ringMem[params.cqOff.cqes])), params.cqEntries)

	if p.arena, err = unix.Mmap(-1, 0, uringArenaHdr+uringMaxPairs*2*uringBufSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE); err != nil {
		return fmt.Errorf("mmap buffer arena: %w", err)
	}
	p.arenaBase = uintptr(unsafe.Pointer(&p.arena[0]))
	// struct sockaddr_in: family (host order), port (network order), address.
	sa := p.arena[:16]
	sa[0], sa[1] = unix.AF_INET, 0
	sa[2], sa[3] = byte(p.upstream.Port>>8), byte(p.upstream.Port)
	copy(sa[4:8], p.upstream.Addr[:])
	return nil
}

func (p *uringProxy) u32(off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&p.ringMem[off])) }

// sqe returns the next submission entry, zeroed; a full queue is submitted
// first.
func (p *uringProxy) sqe() *uringSQE {
	p.room(1)
	e := &p.sqes[p.sqTailL&p.sqMask]
	*e = uringSQE{}
	p.sqTailL++
	return e
}

// room submits the queue until it has n free entries. Linked entries must
// be queued after one call for all of them: a submission between them would
// send the first without its link.
func (p *uringProxy) room(n uint32) {
	for p.sqTailL-atomic.LoadUint32(p.sqHead)+n > uint32(len(p.sqes)) {
		if err := p.enter(0); err != nil {
			log.Print(err)
		}
	}
}

// enter publishes the queued entries, submits them and waits for wait
// completions (and, with IORING_SETUP_DEFER_TASKRUN, lets the kernel post
// the completions that are ready).
func (p *uringProxy) enter(wait uint32) error {
	atomic.StoreUint32(p.sqTail, p.sqTailL)
	for {
		submit := p.sqTailL - atomic.LoadUint32(p.sqHead)
		_, errno := waitSyscall6(unix.SYS_IO_URING_ENTER, uintptr(p.ring), uintptr(submit), uintptr(wait), uringEnterGetevents, 0, 0)
		switch errno {
		case 0:
			return nil
		case unix.EINTR:
			if wait == 0 {
				return nil
			}
			continue
		case unix.EAGAIN, unix.EBUSY:
			return nil // completions to reap first
		default:
			return fmt.Errorf("io_uring_enter: %w", errno)
		}
	}
}

// reap handles every posted completion.
func (p *uringProxy) reap() {
	head := atomic.LoadUint32(p.cqHead)
	tail := atomic.LoadUint32(p.cqTail)
	for ; head != tail; head++ {
		c := p.cqes[head&p.cqMask]
		p.complete(c.userData, c.res, c.flags)
	}
	atomic.StoreUint32(p.cqHead, head)
}

func (p *uringProxy) armAccept() {
	e := p.sqe()
	e.opcode, e.fd, e.ioprio, e.opFlags, e.userData = uringOpAccept, int32(p.lfd), uringAcceptMultishot, unix.SOCK_CLOEXEC, uopAccept
}

func (p *uringProxy) complete(ud uint64, res int32, flags uint32) {
	op := ud & 0xff
	switch op {
	case uopStop:
		p.stopping = true
		return
	case uopAccept:
		if flags&uringCQEFMore == 0 && !p.stopping {
			p.armAccept()
		}
		if res < 0 {
			log.Printf("accept: %v", unix.Errno(-res))
			return
		}
		p.open(int(res))
		return
	}
	slot, gen := int(ud>>8&0xffffff), uint32(ud>>32)
	if slot >= len(p.pairs) || p.pairs[slot] == nil || p.pairs[slot].gen != gen {
		return // a failed send's completion after its pair was gone
	}
	pr := p.pairs[slot]
	switch {
	case op == uopConnect:
		pr.inflight--
		if res < 0 || pr.closing {
			p.closePair(pr)
			return
		}
		p.recv(pr, 0)
		p.recv(pr, 1)
	case op == uopRecv || op == uopRecv+1:
		s := int(op - uopRecv)
		pr.inflight--
		switch {
		case pr.closing:
			p.closePair(pr)
		case res > 0:
			p.room(2) // the SEND and the RECV linked to it
			e := p.sqe()
			e.opcode, e.fd, e.addr, e.len = uringOpSend, int32(pr.fd[1-s]), uint64(p.buf(pr, s)), uint32(res)
			e.opFlags = unix.MSG_WAITALL | unix.MSG_NOSIGNAL
			e.flags = uringSQEIOLink | uringSQECQESkipSuccess
			e.userData = p.ud(pr, uopSend+uint64(s))
			p.recv(pr, s)
		case res == 0:
			pr.eof[s] = true
			if err := unix.Shutdown(pr.fd[1-s], unix.SHUT_WR); err != nil && !errors.Is(err, unix.ENOTCONN) || pr.eof[1-s] {
				p.closePair(pr)
			}
		default:
			p.closePair(pr)
		}
	default: // a send failed; its linked receive is cancelled
		p.closePair(pr)
	}
}

func (p *uringProxy) ud(pr *upair, op uint64) uint64 {
	return uint64(pr.gen)<<32 | uint64(pr.slot)<<8 | op
}

// buf is the address of pair pr's buffer for the bytes side s reads.
func (p *uringProxy) buf(pr *upair, s int) uintptr {
	return p.arenaBase + uringArenaHdr + uintptr(pr.slot*2+s)*uringBufSize
}

func (p *uringProxy) recv(pr *upair, s int) {
	e := p.sqe()
	e.opcode, e.fd, e.addr, e.len, e.userData = uringOpRecv, int32(pr.fd[s]), uint64(p.buf(pr, s)), uringBufSize, p.ud(pr, uopRecv+uint64(s))
	pr.inflight++
}

// open makes a pair for the accepted client cfd and connects its upstream.
func (p *uringProxy) open(cfd int) {
	if p.stopping {
		unix.Close(cfd)
		return
	}
	if len(p.free) == 0 && len(p.pairs) == uringMaxPairs {
		log.Printf("more than %d connections: closing the new one", uringMaxPairs)
		unix.Close(cfd)
		return
	}
	ufd, err := upstreamSocket(0)
	if err != nil {
		log.Print(err)
		unix.Close(cfd)
		return
	}
	var pr *upair
	if n := len(p.free); n > 0 {
		pr = p.pairs[p.free[n-1]]
		p.free = p.free[:n-1]
		*pr = upair{slot: pr.slot, gen: pr.gen}
	} else {
		pr = &upair{slot: len(p.pairs)}
		p.pairs = append(p.pairs, pr)
	}
	pr.fd = [2]int{cfd, ufd}
	p.live++
	e := p.sqe()
	e.opcode, e.fd, e.addr, e.off, e.userData = uringOpConnect, int32(ufd), uint64(p.arenaBase), 16, p.ud(pr, uopConnect)
	pr.inflight++
}

// closePair shuts both connections down, which ends their pending
// receives; once none is left, it closes them and frees the slot.
func (p *uringProxy) closePair(pr *upair) {
	if !pr.closing {
		pr.closing = true
		unix.Shutdown(pr.fd[0], unix.SHUT_RDWR)
		unix.Shutdown(pr.fd[1], unix.SHUT_RDWR)
	}
	if pr.inflight > 0 || pr.fd[0] < 0 {
		return
	}
	unix.Close(pr.fd[0])
	unix.Close(pr.fd[1])
	pr.fd = [2]int{-1, -1}
	pr.gen++
	p.free = append(p.free, pr.slot)
	p.live--
}

// teardown ends every connection and waits for the kernel to be done with
// the buffers before it unmaps them; then it closes the ring and the
// listener.
func (p *uringProxy) teardown() {
	if p.ring >= 0 && p.sqes != nil {
		for _, pr := range p.pairs {
			if pr.fd[0] >= 0 {
				p.closePair(pr)
			}
		}
		for p.live > 0 {
			if err := p.enter(1); err != nil {
				log.Print(err)
				p.arena = nil // the kernel may still write there: leave it mapped
				break
			}
			p.reap()
		}
	}
	if p.ring >= 0 {
		unix.Close(p.ring)
	}
	for _, m := range [][]byte{p.ringMem, p.sqeMem, p.arena} {
		if m != nil {
			unix.Munmap(m)
		}
	}
	unix.Close(p.lfd)
	unix.Close(p.efd)
}

package h1guard

import (
	"io"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrWouldBlock is a SocketReader's error when the socket has no bytes to
// read: a net.Error, temporary and a timeout, so that crypto/tls keeps
// what it read of a record and reads on at its next Read, as after a read
// deadline.
var ErrWouldBlock error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "h1guard: the socket has no bytes to read now" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

// SocketReader reads a socket and never waits: the reader of a connection
// served armed (l7/h1server), inside a syscall.RawConn.Read on the socket,
// which has reset the socket's readiness once, before its function's first
// call. A read after which the socket holds nothing (TCP_INQ's count, with
// INQ) left it empty: until Woke, the reader does not read it again and
// answers ErrWouldBlock (a byte or a FIN that arrives after that read makes
// the RawConn.Read's wait return, and Woke follows). A read shorter than
// its room does not tell as much: a FIN queued with the last bytes raised
// its event before the read. Without INQ, so, the reader reads until the
// socket answers EAGAIN. The zero value, with FD set, reads at once.
type SocketReader struct {
	FD int
	// INQ: TCP_INQ is on for the socket (EnableInq).
	INQ bool
	// Raw makes the reads raw system calls, without the runtime's
	// system call transition (entersyscall and exitsyscall: some 190
	// instructions a call): the socket is non-blocking, so a read never
	// waits, and the goroutine keeps its P through it. Default false.
	Raw     bool
	drained bool
}

// EnableInq turns TCP_INQ on for the socket fd (Linux 4.18): each read
// then says how many bytes the socket still holds. It reports whether it
// did.
func EnableInq(fd int) bool {
	return unix.SetsockoptInt(fd, unix.SOL_TCP, unix.TCP_INQ, 1) == nil
}

// readLeft reads the socket fd, on which TCP_INQ is on, into b: n bytes,
// and left, the bytes the socket still holds after the read (1 once the
// peer's FIN is queued and nothing else; -1 when the kernel gave no count).
func readLeft(fd int, b []byte, raw bool) (n, left int, err error) {
	// The message lives on this goroutine's stack: the pointers go to the
	// kernel as uintptrs within the system call (unix.Syscall keeps them
	// alive), so nothing escapes and nothing is allocated.
	var ctl struct {
		hdr unix.Cmsghdr
		inq int32 // CMSG_DATA: right after the aligned header
		_   int32 // CMSG_SPACE's padding
	}
	iov := unix.Iovec{Base: &b[0]}
	iov.SetLen(len(b))
	msg := unix.Msghdr{Iov: &iov, Control: (*byte)(unsafe.Pointer(&ctl))}
	msg.SetIovlen(1)
	msg.SetControllen(int(unsafe.Sizeof(ctl)))
	var r uintptr
	var e unix.Errno
	if raw {
		r, _, e = unix.RawSyscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), 0)
	} else {
		r, _, e = unix.Syscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), 0)
	}
	if e != 0 {
		return 0, -1, e
	}
	left = -1
	if msg.Controllen >= unix.SizeofCmsghdr+4 && ctl.hdr.Level == unix.SOL_TCP && ctl.hdr.Type == unix.TCP_CM_INQ {
		left = int(ctl.inq)
	}
	return int(r), left, nil
}

// Woke tells r that the socket was seen readable since its last read.
func (r *SocketReader) Woke() { r.drained = false }

// Read reads the socket into p; io.EOF at the peer's close, ErrWouldBlock
// when the socket has nothing (or is known to have nothing).
func (r *SocketReader) Read(p []byte) (int, error) {
	if r.drained {
		return 0, ErrWouldBlock
	}
	for {
		n, left, err := r.read(p)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			r.drained = true
			return 0, ErrWouldBlock
		case err != nil:
			return 0, err
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		r.drained = left == 0
		return n, nil
	}
}

// read reads the socket into p: n bytes and the bytes left (-1: unknown).
func (r *SocketReader) read(p []byte) (n, left int, err error) {
	if r.INQ && len(p) > 0 {
		return readLeft(r.FD, p, r.Raw)
	}
	// package syscall's Read, as net's: under the race detector a read
	// orders after the writes it reads.
	n, err = syscall.Read(r.FD, p)
	return n, -1, err
}

// Armable is the connection a TLS server reads through (the handshake's,
// below the *tls.Conn): Arm(r) makes its reads r's, once the first record
// it holds is read; Arm(nil) makes them the connection's again.
type Armable interface {
	Arm(r *SocketReader)
}

// Arm makes c's reads r's (nil: c's connection's), once pending is read.
func (c *helloConn) Arm(r *SocketReader) { c.armed = r }

// WriteHookable is the connection a TLS server writes through (the
// handshake's, below the *tls.Conn): BeforeWrite(f) has f called before
// each of its writes, crypto/tls's own (a KeyUpdate's answer, an alert)
// included. It is set before the connection is used and not changed.
type WriteHookable interface {
	BeforeWrite(f func())
}

// BeforeWrite has f called before each write of c.
func (c *helloConn) BeforeWrite(f func()) { c.before = f }

// Write calls the BeforeWrite function, then writes p to the connection.
func (c *helloConn) Write(p []byte) (int, error) {
	if c.before != nil {
		c.before()
	}
	return c.Conn.Write(p)
}

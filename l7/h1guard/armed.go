package h1guard

import (
	"io"
	"syscall"
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

// SocketReader reads a socket with read(2) and never waits: the reader of
// a connection served armed (l7/h1server), inside a syscall.RawConn.Read
// on the socket, which has reset the socket's readiness once, before its
// function's first call. A read that took less than the room it had left
// the socket empty: until Woke, the reader does not read it again and
// answers ErrWouldBlock (a byte that arrives after that read makes the
// RawConn.Read's wait return, and Woke follows). The zero value, with FD
// set, reads at once.
type SocketReader struct {
	FD      int
	drained bool
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
		// package syscall's Read, as net's: under the race detector a
		// read orders after the writes it reads.
		n, err := syscall.Read(r.FD, p)
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
		r.drained = n < len(p)
		return n, nil
	}
}

// Armable is the connection a TLS server reads through (the handshake's,
// below the *tls.Conn): Arm(r) makes its reads r's, once the first record
// it holds is read; Arm(nil) makes them the connection's again.
type Armable interface {
	Arm(r *SocketReader)
}

// Arm makes c's reads r's (nil: c's connection's), once pending is read.
func (c *helloConn) Arm(r *SocketReader) { c.armed = r }

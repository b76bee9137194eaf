package proxy

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Each direction of a tunnel reads its source through a tunnelSource,
// which waits for bytes holding no copy buffer when it can: an idle
// WebSocket then holds none (it held one 32 KiB buffer per direction), and
// a busy one takes a pooled buffer for each read and gives it back after
// the write, so that the few buffers in use stay in the CPU's caches. The
// source is read in three phases:
//
//   - the handshake's reader first: the bytes that came with the upgrade
//     request or with the 101, in its bufio.Reader or in the server's
//     buffer under it, until a read finds nothing more (the connection's
//     read deadline is set in the past for these reads, so that the read
//     that reaches the socket returns at once; then the tunnel's is
//     restored);
//   - then, when the connection is a *net.TCPConn under layers that report
//     holding no bytes (a Buffered() int method: l7/connlimit's, the PROXY
//     protocol's), the socket itself, in syscall.RawConn.Read: a pooled
//     buffer is taken for each read system call and given back when it
//     finds nothing (EAGAIN), before the goroutine parks in the runtime's
//     poller;
//   - otherwise (TLS, a layer that may hold bytes), the connection's Read,
//     with a pooled buffer held while it waits.
//
// Read deadlines apply in all three (RawConn.Read honours them), so the
// tunnel's idle timeouts are unchanged; so is the number of read system
// calls.
type tunnelSource struct {
	conn net.Conn
	// hs is the handshake's reader; nil once a read found it empty.
	hs io.Reader
	// raw is the socket under conn, read directly once hs is empty; nil:
	// conn is read.
	raw syscall.RawConn
	// readFn is readSocket as a func value, made once.
	readFn func(fd uintptr) bool
	// readSocket's results.
	buf *[copyBufferSize]byte
	n   int
	err error
}

// drainDeadline is a read deadline in the past: the read of the handshake's
// reader that reaches the socket returns at once.
var drainDeadline = time.Unix(1, 0)

// init prepares s to read conn, hs's bytes first.
func (s *tunnelSource) init(conn net.Conn, hs io.Reader) {
	s.conn, s.hs = conn, hs
	if hs == nil {
		s.raw = rawSocket(conn)
	}
}

// read returns the next bytes of the source, b[:n] of a pooled buffer that
// the caller gives back to copyBuffers (b is nil when n is 0), and the
// read's error. rearm is the tunnel's read deadline, restored once the
// handshake's reader is found empty.
func (s *tunnelSource) read(rearm time.Time) (b *[copyBufferSize]byte, n int, err error) {
	if s.hs != nil {
		_ = s.conn.SetReadDeadline(drainDeadline)
		b = copyBuffers.Get().(*[copyBufferSize]byte)
		n, err = s.hs.Read(b[:])
		// Until a read finds the reader empty, the deadline stays in the
		// past: more may be buffered.
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// Nothing more was buffered: from now on, the socket.
			s.hs, err = nil, nil
			_ = s.conn.SetReadDeadline(rearm)
			s.raw = rawSocket(s.conn)
		}
		if n > 0 {
			return b, n, err
		}
		copyBuffers.Put(b)
		if err != nil {
			return nil, 0, err
		}
	}
	if s.raw == nil {
		b = copyBuffers.Get().(*[copyBufferSize]byte)
		n, err = s.conn.Read(b[:])
		if n == 0 {
			copyBuffers.Put(b)
			b = nil
		}
		return b, n, err
	}
	if s.readFn == nil {
		s.readFn = s.readSocket
	}
	if err := s.raw.Read(s.readFn); err != nil {
		return nil, 0, err // a deadline, or the connection closed
	}
	b, n, err = s.buf, s.n, s.err
	s.buf, s.n, s.err = nil, 0, nil
	if n == 0 {
		copyBuffers.Put(b)
		b = nil
	}
	return b, n, err
}

// readSocket is syscall.RawConn.Read's function: one read system call into
// a pooled buffer, given back if the socket had nothing (it returns false:
// the runtime's poller waits for the socket, then calls it again).
func (s *tunnelSource) readSocket(fd uintptr) bool {
	b := copyBuffers.Get().(*[copyBufferSize]byte)
	for {
		n, err := unix.Read(int(fd), b[:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			copyBuffers.Put(b)
			return false
		case err != nil:
			s.buf, s.n, s.err = b, 0, os.NewSyscallError("read", err)
		case n == 0:
			s.buf, s.n, s.err = b, 0, io.EOF
		default:
			s.buf, s.n, s.err = b, n, nil
		}
		return true
	}
}

// rawSocket returns the socket of c, a *net.TCPConn under layers that
// report holding no bytes they read (Buffered() int) and unwrap (Unwrap()
// net.Conn); nil under any other layer, which may hold bytes without
// saying so.
func rawSocket(c net.Conn) syscall.RawConn {
	for range 8 {
		if tc, ok := c.(*net.TCPConn); ok {
			raw, err := tc.SyscallConn()
			if err != nil {
				return nil
			}
			return raw
		}
		bc, ok := c.(interface{ Buffered() int })
		if !ok || bc.Buffered() != 0 {
			return nil
		}
		u, ok := c.(interface{ Unwrap() net.Conn })
		if !ok {
			return nil
		}
		c = u.Unwrap()
	}
	return nil
}

package proxy

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/weir-lb/weir/l7/h1guard"
)

// Each direction of a tunnel reads its source through a tunnelSource and
// hands every read's bytes to its sink (the tunnel's write to the other
// side). It waits for bytes holding no copy buffer when it can: an idle
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
//     protocol's), the socket itself, in syscall.RawConn.Read, which stays
//     in one call across many reads and writes (readSocket: one read system
//     call per burst of bytes where a read per call needed two);
//   - otherwise (TLS, a layer that may hold bytes), the connection's Read,
//     with a pooled buffer held while it waits.
//
// Read deadlines apply in all three (RawConn.Read honours them while it
// waits), so the tunnel's idle timeouts are unchanged.
type tunnelSource struct {
	conn net.Conn
	// hs is the handshake's reader; nil once a read found it empty.
	hs io.Reader
	// raw is the socket under conn, read directly once hs is empty; nil:
	// conn is read.
	raw syscall.RawConn
	// sock reads raw's socket without waiting: with TCP_INQ (Linux 4.18)
	// it knows from each read whether the socket still holds bytes;
	// without, it reads until one finds the socket empty.
	sock h1guard.SocketReader
	// sink passes the source's bytes on; it returns "" once they are all
	// written, otherwise why the tunnel must close. It must not close the
	// source's connection itself: readSocket calls it inside
	// RawConn.Read, and a Close waits for that call to return.
	sink func([]byte) string
	// readFn is readSocket as a func value, made once.
	readFn func(fd uintptr) bool
	// readSocket's results: the read's error, or the sink's refusal.
	err  error
	stop string
}

// drainDeadline is a read deadline in the past: the read of the handshake's
// reader that reaches the socket returns at once.
var drainDeadline = time.Unix(1, 0)

// init prepares s to read conn, hs's bytes first, into sink.
func (s *tunnelSource) init(conn net.Conn, hs io.Reader, sink func([]byte) string) {
	s.conn, s.hs, s.sink = conn, hs, sink
	if hs == nil {
		s.useSocket()
	}
}

// useSocket makes s read the socket under its connection directly, if it
// can, asking the kernel for the bytes left after each read.
func (s *tunnelSource) useSocket() {
	s.raw = rawSocket(s.conn)
	if s.raw == nil {
		return
	}
	_ = s.raw.Control(func(fd uintptr) {
		s.sock.INQ = h1guard.EnableInq(int(fd))
	})
	// A tunnel's reads never wait (see readSocket). Its writes keep the
	// runtime's transition: a loopback write does the receiver's TCP work
	// too, and sysmon hands the P to another thread while it runs long
	// (raw writes as well lost messages/s on a contended CPU: a78a878).
	s.sock.Raw = true
}

// relay reads the source and hands what it reads to the sink: at least
// one read, more while the socket has bytes ready. It returns the sink's
// reason to close the tunnel if it refused bytes (stop), else the read's
// error: os.ErrDeadlineExceeded when the read deadline passed with nothing
// to read, io.EOF at the end. rearm is the tunnel's read deadline, restored
// once the handshake's reader is found empty.
func (s *tunnelSource) relay(rearm time.Time) (stop string, err error) {
	if s.hs != nil {
		stop, n, err := s.handshakeRead(rearm)
		if s.hs == nil {
			s.useSocket() // from now on, the socket
		}
		if stop != "" || err != nil || n > 0 {
			return stop, err
		}
	}
	if s.raw == nil {
		b := copyBuffers.Get().(*[copyBufferSize]byte)
		n, err := s.conn.Read(b[:])
		if n > 0 {
			stop = s.sink(b[:n])
		}
		copyBuffers.Put(b)
		return stop, err
	}
	if s.readFn == nil {
		s.readFn = s.readSocket
	}
	if err := s.raw.Read(s.readFn); err != nil {
		return "", err // a deadline, or the connection closed
	}
	stop, err = s.stop, s.err
	s.stop, s.err = "", nil
	return stop, err
}

// handshakeRead reads the handshake's reader once and hands what it read
// (n bytes) to the sink: the sink's reason to close the tunnel if it
// refused them (stop), else the read's error. A read that reaches the
// socket finds the handshake's bytes all read: hs is then nil, and the
// connection's read deadline rearm.
func (s *tunnelSource) handshakeRead(rearm time.Time) (stop string, n int, err error) {
	_ = s.conn.SetReadDeadline(drainDeadline)
	b := copyBuffers.Get().(*[copyBufferSize]byte)
	n, err = s.hs.Read(b[:])
	// Until a read finds the reader empty, the deadline stays in the
	// past: more may be buffered.
	if errors.Is(err, os.ErrDeadlineExceeded) {
		s.hs, err = nil, nil
		_ = s.conn.SetReadDeadline(rearm)
	}
	if n > 0 {
		stop = s.sink(b[:n])
	}
	copyBuffers.Put(b)
	return stop, n, err
}

// readSocket is syscall.RawConn.Read's function. It reads the socket into a
// pooled buffer and hands the bytes to the sink, then reads again while the
// socket holds more; it returns false (the runtime's poller waits for the
// socket, then calls it again) once the socket is empty, having given the
// buffer back, and true on the end of the stream, a read error or a sink
// that refused bytes.
//
// Why nothing is lost by waiting without a read that finds the socket
// empty (internal/poll's FD.RawRead, runtime/netpoll.go): RawRead resets
// the socket's readiness once (prepareRead: runtime_pollReset stores pdNil
// in pollDesc.rg), then alternates calls of this function with
// waitRead (netpollblock), which returns at once if rg is pdReady and
// consumes it, else parks until the poller sets it. The poller
// (netpoll_epoll.go) registers the socket edge-triggered (EPOLLIN |
// EPOLLRDHUP | EPOLLET) and sets pdReady for every event it reports after
// the bytes it reports have been queued. So between two calls nothing
// resets rg: bytes queued after a read fire an event that either finds the
// goroutine parked and wakes it or leaves rg at pdReady for the next wait.
// What the kernel cannot signal again is what it had already queued when
// the read ran: the read takes all of it, or says how much is left. Short
// of TCP_INQ a read shorter than its buffer does not say it: TCP stops a
// read at an urgent mark, and a FIN or RST that arrived with the last bytes
// fired its event before the read, so a wait would not see it. With TCP_INQ
// the kernel reports, after the read (after the socket lock's backlog is
// processed), the bytes not yet read, and 1 past a FIN: left > 0 reads
// again at once; left == 0 means any later byte or FIN comes with an event
// of its own. A reset that arrived with the last bytes is the one condition
// it does not report: the tunnel then learns of it as of a peer that
// vanished, on its next write to that peer or when proxy-read-timeout
// re-arms (the deadline ends this RawRead; the next one resets readiness
// and reads). Without TCP_INQ this reads until EAGAIN: the system calls of
// a read per RawRead, without its reset.
//
// The sink runs inside RawRead, holding the socket's read lock: a Close of
// this connection waits for it to return, so the sink never closes the
// tunnel itself (it returns why; the pump closes it after RawRead), and
// tunnel.end breaks a write blocked in the sink with a write deadline in
// the past before it closes.
func (s *tunnelSource) readSocket(fd uintptr) bool {
	// Called first, or after a wait that saw the socket readable: the
	// reader reads it.
	s.sock.FD = int(fd)
	s.sock.Woke()
	b := copyBuffers.Get().(*[copyBufferSize]byte)
	for {
		n, err := s.sock.Read(b[:])
		switch {
		case err == h1guard.ErrWouldBlock:
			// Empty (EAGAIN, or TCP_INQ said so after the last read).
			copyBuffers.Put(b)
			return false
		case err == io.EOF:
			s.err = io.EOF
		case err != nil:
			s.err = os.NewSyscallError("read", err)
		default:
			if s.stop = s.sink(b[:n]); s.stop == "" {
				continue // more may be queued: the reader knows
			}
		}
		copyBuffers.Put(b)
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

package proxy

import (
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// progressWriter writes a pump's bytes to a plain TCP side of a tunnel
// through its syscall.RawConn, so that the time of each write that makes
// progress is known: a blocked write's send timeout counts from the last
// one, as nginx re-arms its timer at every event
// (ngx_http_upstream_process_upgraded). net.Conn.Write's count at its
// deadline does not say when its bytes went: a write that filled the
// socket's buffer at once and then made no progress looked busy for one
// more timeout. One pump uses it at a time (the client's under
// toClientMu, and only once the 101 went through the client's wrappers);
// its function is made once.
type progressWriter struct {
	raw syscall.RawConn
	t   *tunnel
	fn  func(fd uintptr) bool
	// b is what is left to write, n what was written of it, err the
	// write's error; at the time of the last write that made progress,
	// in nanoseconds since the tunnel's start.
	b   []byte
	n   int
	err error
	at  int64
	// waited: the write did not go out at once (the socket was full, or
	// polled not writable); without a wait, its start's time (tunnel.write
	// reads it) stands for its end and no write records its own.
	waited bool
	// polled makes the next call of fn write only if the socket polls
	// writable (tunnel.write sets it when it re-arms a deadline that
	// expired early). The kernel frees room in a socket's buffer without
	// waking its writer until enough of it is free, and tells writable by
	// the same measure; a write into the room in between would count as
	// progress, where nginx, which writes on an event only, sees none and
	// ends the tunnel at its timer. A poll, not a wait: the runtime's
	// poller forgets a readiness it saw before the write started.
	polled bool
}

// newProgressWriter returns the writer of c's socket for t, nil if c is
// no TCP connection under layers that write to it unchanged.
func newProgressWriter(t *tunnel, c net.Conn) *progressWriter {
	tc := tcpConnOf(c)
	if tc == nil {
		return nil
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	w := &progressWriter{raw: raw, t: t}
	w.fn = w.writeSocket
	return w
}

// write writes b as net.Conn.Write does (all of it, or an error: the
// deadline's, the socket's) and returns how much went.
func (w *progressWriter) write(b []byte) (int, error) {
	w.b, w.n, w.err, w.waited = b, 0, nil, false
	err := w.raw.Write(w.fn)
	n := w.n
	if err == nil {
		err = w.err
	}
	w.b = nil
	return n, err
}

// writeSocket is syscall.RawConn.Write's function: it writes until all is
// written, the socket is full (false: the runtime's poller waits until it
// is writable, or the write deadline) or fails, recording the time of each
// write that made progress short of the end or after a wait (a write that
// goes out at once has its start's time, read by tunnel.write).
func (w *progressWriter) writeSocket(fd uintptr) bool {
	if w.polled {
		w.polled = false
		if !pollsWritable(fd) {
			w.waited = true
			return false
		}
	}
	for len(w.b) > 0 {
		n, err := unix.Write(int(fd), w.b)
		if n > 0 {
			w.n += n
			w.b = w.b[n:]
			if w.waited || len(w.b) > 0 {
				// Progress short of the end, or after a wait: its time
				// is the one a send timeout counts from.
				w.at = w.t.touch()
			}
		}
		if err == nil {
			if n <= 0 {
				w.err = syscall.EIO
				return true
			}
			continue
		}
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			w.waited = true
			return false
		}
		w.err = err
		return true
	}
	return true
}

// pollsWritable reports whether fd polls writable (or in error: the write
// then says which) now, without waiting.
func pollsWritable(fd uintptr) bool {
	p := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	for {
		n, err := unix.Poll(p[:], 0)
		if err == unix.EINTR {
			continue
		}
		return err != nil || n > 0
	}
}

// tcpConnOf returns the TCP connection of c, under wrappers that write to
// it unchanged (h1guard's, PROXY protocol's, connlimit's) if any; nil if
// there is none.
func tcpConnOf(c net.Conn) *net.TCPConn {
	for range 4 {
		u, ok := c.(interface{ Unwrap() net.Conn })
		if !ok {
			break
		}
		c = u.Unwrap()
	}
	tc, _ := c.(*net.TCPConn)
	return tc
}

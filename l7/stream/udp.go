package stream

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// udpPort is the sessions of one UDP port, by client address.
type udpPort struct {
	srv *Server
	p   *port
	pc  *net.UDPConn

	mu       sync.Mutex
	sessions map[netip.AddrPort]*udpSession
}

// udpSession forwards the datagrams of one client address to one endpoint
// through a connected socket, and the endpoint's answers back.
type udpSession struct {
	u      *udpPort
	client netip.AddrPort
	up     *net.UDPConn
	t      *target
	// sent and got count datagrams, under u.mu: with
	// proxy-stream-responses n, the session ends once got >= n*sent.
	sent, got int
	gone      bool
	// start, in and out are for its access-log line: when it started, the
	// bytes from the client and those from the endpoint.
	start   time.Time
	in, out atomic.Int64
}

func (s *udpSession) abort() { s.up.Close() }

// serveUDP reads datagrams on pc until it is closed. Closing it (the port
// removed, or Shutdown) leaves the sessions to end on their own: their
// answers can no longer be sent.
func (srv *Server) serveUDP(p *port, pc *net.UDPConn) {
	u := &udpPort{srv: srv, p: p, pc: pc, sessions: map[netip.AddrPort]*udpSession{}}
	buf := make([]byte, 64<<10)
	for {
		n, client, err := pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ICMP errors and the like
		}
		u.forward(client, buf[:n])
	}
}

// forward sends one client datagram to its session's endpoint, starting
// the session when it is the first.
func (u *udpPort) forward(client netip.AddrPort, data []byte) {
	k := u.p.key
	u.mu.Lock()
	s := u.sessions[client]
	if s == nil {
		if len(u.sessions) >= MaxUDPSessions {
			u.mu.Unlock()
			u.srv.metrics.err(k, reasonSessionsFull)
			return
		}
		var ok bool
		if s, ok = u.start(client); !ok {
			u.mu.Unlock()
			return
		}
		u.sessions[client] = s
	}
	s.sent++
	u.mu.Unlock()
	// Counted for the session's log line before the write: the endpoint's
	// answer can end the session (proxy-stream-responses) and log it
	// before this goroutine returns from the write.
	s.in.Add(int64(len(data)))
	if _, err := s.up.Write(data); err != nil {
		u.srv.metrics.err(k, reasonAborted)
		return
	}
	u.srv.metrics.addBytes(k, "in", int64(len(data)))
}

// start opens the session of client on the live target; the caller holds
// u.mu. false means the datagram is dropped (counted).
func (u *udpPort) start(client netip.AddrPort) (*udpSession, bool) {
	k, t := u.p.key, u.p.target.Load()
	eps := t.order()
	if len(eps) == 0 {
		u.srv.metrics.err(k, reasonUnavailable)
		u.logFailed(t, client)
		return nil, false
	}
	// A UDP "connect" fails only without a route (or, for an ExternalName
	// Service, an address): no next endpoint.
	c, err := net.Dial("udp", eps[0])
	up, _ := c.(*net.UDPConn)
	if err != nil || up == nil {
		u.srv.metrics.err(k, reasonConnect)
		u.srv.metrics.err(k, reasonNoUpstream)
		u.logFailed(t, client)
		return nil, false
	}
	s := &udpSession{u: u, client: client, up: up, t: t, start: time.Now()}
	if !u.srv.track(s) {
		up.Close()
		return nil, false
	}
	done := u.srv.metrics.opened(k, t)
	go func() {
		defer done()
		s.answer()
	}()
	return s, true
}

// answer relays the endpoint's datagrams to the client until the expected
// responses came, proxy-stream-timeout passed without one, or the session
// is closed.
func (s *udpSession) answer() {
	u := s.u
	k := u.p.key
	defer u.srv.untrack(s)
	defer s.end()
	responses := s.t.settings.responses
	for {
		_ = s.up.SetReadDeadline(time.Now().Add(s.t.settings.timeout))
		// The wait holds no buffer: a datagram buffer is 64 KiB and a
		// session may wait for proxy-stream-timeout (10 minutes by
		// default) for an answer that never comes.
		err := waitDatagram(s.up)
		var n int
		var bufp *[]byte
		if err == nil {
			bufp = udpBufs.Get().(*[]byte)
			n, err = s.up.Read(*bufp)
		}
		if err != nil {
			if bufp != nil {
				udpBufs.Put(bufp)
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				u.srv.metrics.err(k, reasonIdle)
			}
			return
		}
		// The session ends before the last expected answer leaves: the
		// client's next datagram starts a new one.
		u.mu.Lock()
		s.got++
		if responses > 0 && s.got >= responses*s.sent {
			s.gone = true
			delete(u.sessions, s.client)
		}
		done := s.gone
		u.mu.Unlock()
		_, err = u.pc.WriteToUDPAddrPort((*bufp)[:n], s.client)
		udpBufs.Put(bufp)
		if err != nil {
			u.srv.metrics.err(k, reasonAborted)
			return
		}
		s.out.Add(int64(n))
		u.srv.metrics.addBytes(k, "out", int64(n))
		if done {
			return
		}
	}
}

// udpBufs holds the buffers of the endpoints' datagrams, each large
// enough for any.
var udpBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// waitDatagram waits until c has a datagram to read, c's read deadline
// passes or c is closed. Like any read on Go's poller, it asks the socket
// (MSG_PEEK, nothing taken) after the poller's readiness is reset and
// waits only when the socket says it is empty, so no datagram that came
// meanwhile is waited past.
func waitDatagram(c *net.UDPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	return rc.Read(func(fd uintptr) bool {
		var b [1]byte
		var err error
		for {
			if _, _, err = unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT); err != unix.EINTR {
				break
			}
		}
		// A datagram (of any size) or an error queued on the socket
		// (ICMP port unreachable: no endpoint) is the Read's to take.
		return err != unix.EAGAIN
	})
}

// end removes s from its port, closes its socket and logs it.
func (s *udpSession) end() {
	u := s.u
	u.mu.Lock()
	if !s.gone {
		s.gone = true
		delete(u.sessions, s.client)
	}
	u.mu.Unlock()
	s.up.Close()
	in, out := s.in.Load(), s.out.Load()
	u.srv.logSession(s.t, &session{start: s.start, proto: "UDP", client: s.client, local: u.local(), status: statusOK,
		sent: out, received: in, upstream: s.up.RemoteAddr().String(), upSent: in, upRecv: out, name: s.t.label()})
}

// logFailed logs the session of client that could not start on t (502).
func (u *udpPort) logFailed(t *target, client netip.AddrPort) {
	u.srv.logSession(t, &session{start: time.Now(), proto: "UDP", client: client, local: u.local(), status: statusBadGateway, name: t.label()})
}

// local is the address of the port's socket.
func (u *udpPort) local() netip.AddrPort {
	if a, ok := u.pc.LocalAddr().(*net.UDPAddr); ok {
		return a.AddrPort()
	}
	return netip.AddrPort{}
}

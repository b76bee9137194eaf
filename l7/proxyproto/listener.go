package proxyproto

import (
	"bufio"
	"net"
	"net/netip"
	"sync"
	"time"
)

// DefaultHeaderTimeout bounds reading a PROXY header when neither
// Listener's HeaderTimeout nor its Policy sets one: nginx's
// client_header_timeout default, under which nginx reads the header of an
// HTTP connection.
const DefaultHeaderTimeout = 60 * time.Second

// Policy is the live configuration a Listener consults for each connection
// it accepts. *proxy.Proxy implements it from the applied Snapshot.
type Policy interface {
	// UseProxyProtocol reports whether connections start with a PROXY
	// header (use-proxy-protocol).
	UseProxyProtocol() bool
	// TrustsProxy reports whether the PROXY header of a connection from
	// peer gives the client address (proxy-real-ip-cidr, as nginx's
	// set_real_ip_from with real_ip_header proxy_protocol).
	TrustsProxy(peer netip.Addr) bool
}

// TimeoutPolicy, when a Policy implements it too, gives the live
// client_header_timeout (client-header-timeout) the header of each new
// connection is read under; zero means DefaultHeaderTimeout.
type TimeoutPolicy interface {
	HeaderTimeout() time.Duration
}

// Listener wraps a net.Listener. While its Policy says UseProxyProtocol,
// every connection it accepts must start with a PROXY header (version 1 or
// 2): the header is read on the connection's first Read or RemoteAddr
// (on the serving goroutine, never in Accept), under HeaderTimeout; then
// RemoteAddr is the header's source address and LocalAddr its destination
// address when the peer is trusted. A connection whose header is missing,
// invalid or late is closed, and its Read fails. Otherwise connections are
// returned as accepted, unwrapped.
type Listener struct {
	net.Listener
	// Policy is consulted per accepted connection; nil means PROXY
	// protocol off.
	Policy Policy
	// HeaderTimeout bounds reading the header. Zero means the Policy's
	// (TimeoutPolicy), else DefaultHeaderTimeout.
	HeaderTimeout time.Duration
}

// Wrap returns ln wrapped in a Listener with policy and the default
// timeout: the one-line hook of an accept path.
func Wrap(ln net.Listener, policy Policy) net.Listener {
	return &Listener{Listener: ln, Policy: policy}
}

// Accept implements net.Listener.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil || l.Policy == nil || !l.Policy.UseProxyProtocol() {
		return c, err
	}
	timeout := l.HeaderTimeout
	if tp, ok := l.Policy.(TimeoutPolicy); ok && timeout <= 0 {
		timeout = tp.HeaderTimeout()
	}
	if timeout <= 0 {
		timeout = DefaultHeaderTimeout
	}
	return &Conn{Conn: c, policy: l.Policy, timeout: timeout}, nil
}

// Conn is a connection accepted by a Listener with PROXY protocol on.
type Conn struct {
	net.Conn
	policy  Policy
	timeout time.Duration

	once          sync.Once
	br            *bufio.Reader // holds what followed the header; nil on error
	err           error         // of reading the header
	remote, local net.Addr
	addr          Addr // local once the header is read

	mu           sync.Mutex
	readDeadline time.Time // the last one set by the server, restored after the header
}

// init reads the header once.
func (c *Conn) init() {
	c.once.Do(func() {
		c.remote, c.local = c.Conn.RemoteAddr(), c.Conn.LocalAddr()
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
		br := bufio.NewReaderSize(c.Conn, 256)
		h, err := readHeader(br)
		c.mu.Lock()
		_ = c.Conn.SetReadDeadline(c.readDeadline)
		c.mu.Unlock()
		if err != nil {
			// nginx: "broken header", the connection is closed.
			c.err = err
			_ = c.Conn.Close()
			return
		}
		c.br = br
		c.addr.Peer, c.addr.Source = addrPortOf(c.remote), h.src
		if h.src.IsValid() && c.policy.TrustsProxy(c.addr.Peer.Addr()) {
			c.remote = net.TCPAddrFromAddrPort(h.src)
		}
		dst := h.dst
		if !dst.IsValid() {
			dst = addrPortOf(c.local)
		}
		c.addr.TCPAddr = *net.TCPAddrFromAddrPort(dst)
		c.local = &c.addr
	})
}

// Addr is the LocalAddr of a Conn whose header was read: the header's
// destination address (the address the client connected to, whose port is
// nginx's $proxy_protocol_server_port), or the connection's own when the
// header gave none, with what the variables of nginx's realip and PROXY
// protocol support read: the connection's peer and the header's source.
type Addr struct {
	net.TCPAddr
	// Peer is the connection's peer (the balancer), unmapped: nginx's
	// $realip_remote_addr, from which real_ip_recursive starts.
	Peer netip.AddrPort
	// Source is the header's source address, nginx's $proxy_protocol_addr
	// and $proxy_protocol_port, whether the peer is trusted or not; invalid
	// when the header gave no addresses (PROXY UNKNOWN, a version 2 LOCAL
	// or UNSPEC header), as nginx then has no $proxy_protocol_* values.
	Source netip.AddrPort
}

// addrPortOf is the address and port of a, the address unmapped; invalid
// when a is not an IP address.
func addrPortOf(a net.Addr) netip.AddrPort {
	var ap netip.AddrPort
	if ta, ok := a.(*net.TCPAddr); ok {
		ap = ta.AddrPort()
	} else {
		ap, _ = netip.ParseAddrPort(a.String())
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// Read reads after the header; it fails with the header's error when the
// header was invalid.
func (c *Conn) Read(p []byte) (int, error) {
	c.init()
	if c.err != nil {
		return 0, c.err
	}
	if c.br.Buffered() > 0 {
		return c.br.Read(p)
	}
	return c.Conn.Read(p)
}

// RemoteAddr returns the PROXY header's source address when the peer is
// trusted, else the peer's.
func (c *Conn) RemoteAddr() net.Addr {
	c.init()
	return c.remote
}

// LocalAddr returns the PROXY header's destination address (the address
// the client connected to, whose port is nginx's
// $proxy_protocol_server_port), else the connection's: an *Addr once the
// header is read, which tells the peer's and the header's source address
// too.
func (c *Conn) LocalAddr() net.Addr {
	c.init()
	return c.local
}

// SetDeadline implements net.Conn, remembering the read deadline.
func (c *Conn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readDeadline = t
	return c.Conn.SetDeadline(t)
}

// SetReadDeadline implements net.Conn, remembering the deadline so that
// reading the header does not lose it.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readDeadline = t
	return c.Conn.SetReadDeadline(t)
}

// Unwrap returns the accepted connection.
func (c *Conn) Unwrap() net.Conn { return c.Conn }

// Buffered returns the number of bytes read after the header and not
// returned by Read yet (l7/h1server waits for an idle connection's socket
// to be readable only when none are).
func (c *Conn) Buffered() int {
	c.init()
	if c.br == nil {
		return 0
	}
	return c.br.Buffered()
}

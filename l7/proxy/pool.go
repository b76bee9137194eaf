package proxy

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/weir-lb/weir/userspace/annotations"
)

// connPool keeps idle HTTP/1.1 keep-alive connections per upstream address
// for the forwarding client (forward.go). It has no goroutine of its own:
// connections are taken and returned by the handlers, and a timer per
// address closes those idle for longer than the idle timeout.
//
// Its limits are those of the live configuration (setLimits, from each
// Apply): upstream-keepalive-connections caps the idle connections of all
// addresses together, as nginx's keepalive cache per worker, parking one
// more closing the least recently used; upstream-keepalive-timeout closes
// idle ones; upstream-keepalive-requests closes one that served that many,
// and upstream-keepalive-time one that has existed that long (nginx's
// keepalive_time, checked as nginx does when the connection would be
// kept).
//
// The most recently returned connection is reused first, so the oldest
// idle ones expire when the load drops. A connection the upstream closed
// while idle is detected before reuse by a non-blocking peek when the
// caller asks (get's peek), else by the caller's retry on a new one.
type connPool struct {
	dial    dialer
	maxIdle int // per address, 0: only the total cap

	mu     sync.Mutex
	limits keepaliveLimits
	hosts  map[string]*idleConns
	total  int // idle connections of every address
	// lastAddr and last are the address host last looked up and its
	// entry of hosts (nil: none, as after the address is forgotten).
	lastAddr string
	last     *idleConns
}

// keepaliveLimits are upstream-keepalive-connections, -timeout and
// -requests.
type keepaliveLimits struct {
	conns    int           // idle connections in all, 0: no keep-alive
	timeout  time.Duration // a connection idle for this long is closed
	requests int           // a connection that served this many is closed
	lifetime time.Duration // a connection that has existed this long is closed
}

// idleConns are the idle connections to one address, oldest first.
type idleConns struct {
	conns []idleConn
	timer *time.Timer // armed while conns is not empty
}

type idleConn struct {
	c      net.Conn
	since  time.Time
	served int       // requests
	born   time.Time // when it was dialled
	probe  *peeker   // c's, made on its first peek; nil before
}

func newConnPool(o TransportOptions) *connPool {
	if o.TCPKeepAlive == 0 {
		o.TCPKeepAlive = defaultTCPKeepAlive
	}
	return &connPool{
		dial:    dialer{keepAlive: o.TCPKeepAlive},
		maxIdle: o.MaxIdleConnsPerHost,
		limits:  upstreamKeepalive(annotations.Global{}),
		hosts:   make(map[string]*idleConns),
	}
}

// setLimits makes l the pool's limits: idle connections over the new cap
// are closed, least recently used first, and the timers follow the new
// timeout.
func (p *connPool) setLimits(l keepaliveLimits) {
	p.mu.Lock()
	if p.limits == l {
		p.mu.Unlock()
		return
	}
	p.limits = l
	var evicted []net.Conn
	for p.total > l.conns {
		evicted = append(evicted, p.evictOldest())
	}
	now := time.Now()
	for _, h := range p.hosts {
		if len(h.conns) > 0 {
			h.timer.Reset(max(0, l.timeout-now.Sub(h.conns[0].since)))
		}
	}
	p.mu.Unlock()
	for _, c := range evicted {
		c.Close()
	}
}

// evictOldest removes the least recently returned idle connection of all
// addresses and returns it. It scans the addresses with idle connections,
// at most the total cap of them. p.mu is held and p.total > 0.
func (p *connPool) evictOldest() net.Conn {
	var oldest *idleConns
	for _, h := range p.hosts {
		if len(h.conns) > 0 && (oldest == nil || h.conns[0].since.Before(oldest.conns[0].since)) {
			oldest = h
		}
	}
	c := oldest.conns[0].c
	rest := copy(oldest.conns, oldest.conns[1:])
	oldest.conns[rest] = idleConn{}
	oldest.conns = oldest.conns[:rest]
	p.total--
	return c
}

// get returns an idle connection of key (the upstream's address, and its
// protocol when not plain HTTP), the requests it served and its peeker (to
// hand back to put; nil when it has none yet) and when it was dialled; or
// a new connection from dial, 0, nil and when it was dialled. now is the
// time of the call, read by the caller (the attempt's start): an idle
// connection is too old if it was returned the idle timeout before it.
// With peek, an idle connection is first checked to be
// still open (one system call, no allocation after the first); without,
// the caller retries a request that meets a closed one.
func (p *connPool) get(ctx context.Context, key string, peek bool, dial func(context.Context) (net.Conn, error), now time.Time) (net.Conn, int, *peeker, time.Time, error) {
	for {
		ic, ok := p.takeIdle(key, now)
		if !ok {
			break
		}
		if !peek {
			return ic.c, ic.served, ic.probe, ic.born, nil
		}
		if ic.probe == nil {
			ic.probe = newPeeker(ic.c)
		}
		if ic.probe.peerOpen() {
			return ic.c, ic.served, ic.probe, ic.born, nil
		}
		ic.c.Close()
	}
	c, err := dial(ctx)
	return c, 0, nil, time.Now(), err
}

// takeIdle pops the most recently returned connection to addr that has not
// been idle too long at now, closing those that have.
func (p *connPool) takeIdle(addr string, now time.Time) (idleConn, bool) {
	p.mu.Lock()
	h := p.host(addr)
	if h == nil || len(h.conns) == 0 {
		p.mu.Unlock()
		return idleConn{}, false
	}
	last := h.conns[len(h.conns)-1]
	h.conns[len(h.conns)-1] = idleConn{}
	h.conns = h.conns[:len(h.conns)-1]
	p.total--
	if now.Sub(last.since) < p.limits.timeout {
		p.mu.Unlock()
		return last, true
	}
	// The newest is expired, so are all the older ones.
	stale := append([]idleConn(nil), h.conns...)
	clear(h.conns)
	h.conns = h.conns[:0]
	p.total -= len(stale)
	h.timer.Stop()
	p.mu.Unlock()
	last.c.Close()
	for _, ic := range stale {
		ic.c.Close()
	}
	return idleConn{}, false
}

// host returns the entry of hosts for addr, nil when it has none: the one
// host last returned without a map lookup when addr is its address. A
// keep-alive request to one upstream asks twice (takeIdle, put), a map
// lookup some 110 instructions each under callgrind, the comparison of
// one same string about 15. p.mu is held.
func (p *connPool) host(addr string) *idleConns {
	if p.last != nil && p.lastAddr == addr {
		return p.last
	}
	h := p.hosts[addr]
	if h != nil {
		p.lastAddr, p.last = addr, h
	}
	return h
}

// put returns c, whose last response was read to its end at now (read by
// the caller: the attempt's end) and which has
// served that many requests and was dialled at born, to the idle
// connections of addr. It closes c instead when c has served
// upstream-keepalive-requests, has existed for upstream-keepalive-time,
// keep-alive is off or addr already has maxIdle; at the total cap it closes the least
// recently used idle connection to make room.
func (p *connPool) put(addr string, c net.Conn, served int, born time.Time, probe *peeker, now time.Time) {
	p.mu.Lock()
	l := p.limits
	h := p.host(addr)
	if l.conns == 0 || served >= l.requests || now.Sub(born) >= l.lifetime || (p.maxIdle > 0 && h != nil && len(h.conns) >= p.maxIdle) {
		p.mu.Unlock()
		c.Close()
		return
	}
	var evicted net.Conn
	if p.total >= l.conns {
		evicted = p.evictOldest()
	}
	if h == nil {
		h = &idleConns{}
		h.timer = time.AfterFunc(l.timeout, func() { p.expire(addr) })
		p.hosts[addr] = h
		p.lastAddr, p.last = addr, h
	} else if len(h.conns) == 0 {
		h.timer.Reset(l.timeout)
	}
	if n := len(h.conns); n > 0 && now.Before(h.conns[n-1].since) {
		// now was read before the lock: another response that ended
		// later got here first. The idle connections stay in the order
		// of since, which expire, takeIdle and evictOldest rely on.
		now = h.conns[n-1].since
	}
	h.conns = append(h.conns, idleConn{c: c, since: now, served: served, born: born, probe: probe})
	p.total++
	p.mu.Unlock()
	if evicted != nil {
		evicted.Close()
	}
}

// expire runs on the timer of addr: it closes the connections idle for
// the idle timeout and re-arms the timer for the oldest remaining one.
func (p *connPool) expire(addr string) {
	p.mu.Lock()
	h := p.hosts[addr]
	if h == nil {
		p.mu.Unlock()
		return
	}
	timeout := p.limits.timeout
	now := time.Now()
	n := 0
	for n < len(h.conns) && now.Sub(h.conns[n].since) >= timeout {
		n++
	}
	stale := append([]idleConn(nil), h.conns[:n]...)
	rest := copy(h.conns, h.conns[n:])
	clear(h.conns[rest:])
	h.conns = h.conns[:rest]
	p.total -= n
	if rest > 0 {
		h.timer.Reset(timeout - now.Sub(h.conns[0].since))
	} else {
		// Forget the address: an upstream removed from the configuration
		// leaves nothing behind.
		delete(p.hosts, addr)
		p.last = nil
	}
	p.mu.Unlock()
	for _, ic := range stale {
		ic.c.Close()
	}
}

// closeIdle closes every idle connection.
func (p *connPool) closeIdle() {
	p.mu.Lock()
	hosts := p.hosts
	p.hosts = make(map[string]*idleConns)
	p.last = nil
	p.total = 0
	p.mu.Unlock()
	for _, h := range hosts {
		h.timer.Stop()
		for _, ic := range h.conns {
			ic.c.Close()
		}
	}
}

// idleTotal returns how many idle connections there are in all.
func (p *connPool) idleTotal() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total
}

// idle returns how many idle connections addr has.
func (p *connPool) idle(addr string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h := p.hosts[addr]; h != nil {
		return len(h.conns)
	}
	return 0
}

// peerOpen reports whether the idle connection c can carry a request: the
// peer has neither closed it nor sent anything unasked. It peeks at the
// socket without blocking; a connection it cannot inspect counts as open.
func peerOpen(c net.Conn) bool { return newPeeker(c).peerOpen() }

// peeker is peerOpen for one connection, made once and kept with it in the
// pool so that a peek on reuse allocates nothing.
type peeker struct {
	c    net.Conn
	rc   syscall.RawConn // nil: c cannot be inspected (counts as open)
	err  error           // SyscallConn's (counts as closed)
	peek func(fd uintptr) bool
	b    [1]byte
	rdl  time.Time // the read deadline startHeader set last; zero: unknown
	open bool
	send sender // writeAndWait's (sendwait.go)
}

func newPeeker(c net.Conn) *peeker {
	p := &peeker{c: c}
	if sc, ok := c.(syscall.Conn); ok {
		p.rc, p.err = sc.SyscallConn()
	}
	p.peek = func(fd uintptr) bool {
		// 0 bytes and no error: the peer closed; data: an unasked
		// response. Only "nothing to read yet" is an open connection.
		_, _, err := syscall.Recvfrom(int(fd), p.b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// err is nil or a syscall.Errno, which wraps nothing and is
		// EAGAIN only as itself: errors.Is would answer as == does,
		// some 80 instructions later.
		p.open = err == syscall.EAGAIN
		return true // never wait
	}
	return p
}

func (p *peeker) peerOpen() bool {
	if p.err != nil {
		return false
	}
	if p.rc == nil {
		return true
	}
	// The last request's read deadline is left as it is: the peek never
	// waits, and the request's own reads arm theirs first (startHeader).
	// Only one that passed while the connection was idle fails the peek
	// before it runs; then it is cleared and the peek made again. A
	// deadline cleared on every reuse cost a timer operation per request.
	p.open = false
	err := p.rc.Read(p.peek)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		p.rdl = time.Time{}
		_ = p.c.SetReadDeadline(time.Time{})
		err = p.rc.Read(p.peek)
	}
	return p.open && err == nil
}

package proxy

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
	"time"
)

// connPool keeps idle HTTP/1.1 keep-alive connections per upstream address
// for the forwarding client (forward.go). It has no goroutine of its own:
// connections are taken and returned by the handlers, and a timer per
// address closes those idle for longer than idleTimeout.
//
// The most recently returned connection is reused first, so the oldest
// idle ones expire when the load drops. A connection the upstream closed
// while idle is detected before reuse by a non-blocking peek when the
// caller asks (get's peek), else by the caller's retry on a new one.
type connPool struct {
	dial        dialer
	maxIdle     int           // per address
	idleTimeout time.Duration // a connection idle for this long is closed

	mu    sync.Mutex
	hosts map[string]*idleConns
}

// idleConns are the idle connections to one address, oldest first.
type idleConns struct {
	conns []idleConn
	timer *time.Timer // armed while conns is not empty
}

type idleConn struct {
	c     net.Conn
	since time.Time
}

func newConnPool(o TransportOptions) *connPool {
	if o.MaxIdleConnsPerHost <= 0 {
		o.MaxIdleConnsPerHost = defaultMaxIdleConnsPerHost
	}
	if o.IdleConnTimeout <= 0 {
		o.IdleConnTimeout = defaultIdleConnTimeout
	}
	if o.TCPKeepAlive == 0 {
		o.TCPKeepAlive = defaultTCPKeepAlive
	}
	return &connPool{
		dial:        dialer{keepAlive: o.TCPKeepAlive},
		maxIdle:     o.MaxIdleConnsPerHost,
		idleTimeout: o.IdleConnTimeout,
		hosts:       make(map[string]*idleConns),
	}
}

// get returns an idle connection of key (the upstream's address, and its
// protocol when not plain HTTP), and true; or a new connection from dial,
// and false. With peek, an idle connection is first checked to be still
// open (one system call); without, the caller retries a request that meets
// a closed one.
func (p *connPool) get(ctx context.Context, key string, peek bool, dial func(context.Context) (net.Conn, error)) (net.Conn, bool, error) {
	for {
		c := p.takeIdle(key)
		if c == nil {
			break
		}
		if !peek || peerOpen(c) {
			return c, true, nil
		}
		c.Close()
	}
	c, err := dial(ctx)
	return c, false, err
}

// takeIdle pops the most recently returned connection to addr that has not
// been idle too long, closing those that have.
func (p *connPool) takeIdle(addr string) net.Conn {
	p.mu.Lock()
	h := p.hosts[addr]
	if h == nil || len(h.conns) == 0 {
		p.mu.Unlock()
		return nil
	}
	last := h.conns[len(h.conns)-1]
	h.conns[len(h.conns)-1] = idleConn{}
	h.conns = h.conns[:len(h.conns)-1]
	if time.Since(last.since) < p.idleTimeout {
		p.mu.Unlock()
		return last.c
	}
	// The newest is expired, so are all the older ones.
	stale := append([]idleConn(nil), h.conns...)
	clear(h.conns)
	h.conns = h.conns[:0]
	h.timer.Stop()
	p.mu.Unlock()
	last.c.Close()
	for _, ic := range stale {
		ic.c.Close()
	}
	return nil
}

// put returns c, whose last response was read to its end, to the idle
// connections of addr, or closes it when addr already has maxIdle.
func (p *connPool) put(addr string, c net.Conn) {
	p.mu.Lock()
	h := p.hosts[addr]
	if h == nil {
		h = &idleConns{}
		h.timer = time.AfterFunc(p.idleTimeout, func() { p.expire(addr) })
		p.hosts[addr] = h
	} else if len(h.conns) >= p.maxIdle {
		p.mu.Unlock()
		c.Close()
		return
	} else if len(h.conns) == 0 {
		h.timer.Reset(p.idleTimeout)
	}
	h.conns = append(h.conns, idleConn{c: c, since: time.Now()})
	p.mu.Unlock()
}

// expire runs on the timer of addr: it closes the connections idle for
// idleTimeout and re-arms the timer for the oldest remaining one.
func (p *connPool) expire(addr string) {
	p.mu.Lock()
	h := p.hosts[addr]
	if h == nil {
		p.mu.Unlock()
		return
	}
	now := time.Now()
	n := 0
	for n < len(h.conns) && now.Sub(h.conns[n].since) >= p.idleTimeout {
		n++
	}
	stale := append([]idleConn(nil), h.conns[:n]...)
	rest := copy(h.conns, h.conns[n:])
	clear(h.conns[rest:])
	h.conns = h.conns[:rest]
	if rest > 0 {
		h.timer.Reset(p.idleTimeout - now.Sub(h.conns[0].since))
	} else {
		// Forget the address: an upstream removed from the configuration
		// leaves nothing behind.
		delete(p.hosts, addr)
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
	p.mu.Unlock()
	for _, h := range hosts {
		h.timer.Stop()
		for _, ic := range h.conns {
			ic.c.Close()
		}
	}
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
func peerOpen(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	// The last request's read deadline may have passed while idle.
	_ = c.SetReadDeadline(time.Time{})
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	open := false
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		// 0 bytes and no error: the peer closed; data: an unasked
		// response. Only "nothing to read yet" is an open connection.
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		open = errors.Is(err, syscall.EAGAIN)
		return true // never wait
	})
	return open && err == nil
}

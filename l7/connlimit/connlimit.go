// Package connlimit applies the controller ConfigMap's limits on client
// connections, live, as nginx applies them to its client connections:
// keep-alive (keepalive_timeout: how long an idle connection is kept;
// keepalive_requests: how many requests one connection serves) and
// max-worker-connections (worker_connections: how many client connections
// one worker holds open; at the cap it stops accepting, so connections wait
// in the kernel's accept queue).
//
// A Limiter serves one proxy (one worker process, or the in-process
// daemon): its Listener wraps the listening sockets under the other
// wrappers (PROXY protocol, h1guard, TLS) and Configure sets up the
// http.Server that serves them. The settings are read from the Source at
// each use, so a new configuration applies to the next accept, the next
// idle period and the next request.
package connlimit

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-lb/weir/l7/ctxval"
)

// Settings are the limits in force.
type Settings struct {
	// KeepAlive is how long a connection is kept between two requests
	// (nginx's keepalive_timeout; ingress-nginx's keep-alive, 75 s). Zero
	// or negative disables keep-alive: every HTTP/1 response carries
	// Connection: close.
	KeepAlive time.Duration
	// KeepAliveRequests is the number of requests a connection serves
	// (keepalive_requests; keep-alive-requests, 1000): the response to
	// the last carries Connection: close. Zero or negative: every
	// response does.
	KeepAliveRequests int
	// MaxConnections caps the client connections open at once
	// (worker_connections; max-worker-connections, 16384). Zero or
	// negative means no cap.
	MaxConnections int
	// HeaderTimeout is client_header_timeout (client-header-timeout): how
	// long a request that began arriving on an idle connection may take
	// before the server's own head timeout takes over. Zero or negative
	// means the default, 60 s (the HeaderTimeout constant).
	HeaderTimeout time.Duration
}

// Source gives the settings of the live configuration (proxy.Proxy).
type Source interface {
	ConnLimits() Settings
}

// HeaderTimeout is Settings.HeaderTimeout's default: how long a request
// that began arriving on an idle connection may take to send its first
// bytes before the server's head timeout takes over (nginx's
// client_header_timeout, 60 s).
const HeaderTimeout = 60 * time.Second

// recheck is how often an Accept held at the cap reads the settings
// again, so that a raised cap lets connections in without waiting for a
// close.
const recheck = time.Second

// Options configure a Limiter.
type Options struct {
	// Source gives the settings. Required.
	Source Source
	// Registry is where weir_client_connections and
	// weir_client_connections_capped_total are registered. Nil means no
	// metrics.
	Registry prometheus.Registerer
}

// Limiter holds the connection count of one proxy. It is safe for
// concurrent use.
type Limiter struct {
	src  Source
	open atomic.Int64

	waiters atomic.Int32 // Accepts held at the cap
	mu      sync.Mutex
	freed   chan struct{} // closed (and replaced) when a connection closes while Accepts wait

	gauge  prometheus.GaugeFunc
	capped prometheus.Counter // nil: no metric
}

// New returns a Limiter.
func New(opts Options) *Limiter {
	l := &Limiter{src: opts.Source, freed: make(chan struct{})}
	if opts.Registry != nil {
		l.gauge = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "weir_client_connections",
			Help: "Client connections open (HTTP and HTTPS listeners, WebSocket tunnels included), counted against max-worker-connections.",
		}, func() float64 { return float64(l.open.Load()) })
		l.capped = prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weir_client_connections_capped_total",
			Help: "Times the listeners stopped accepting because max-worker-connections client connections were open (the next connections waited in the accept queue).",
		})
		opts.Registry.MustRegister(l.gauge, l.capped)
	}
	return l
}

// Open returns the number of client connections open.
func (l *Limiter) Open() int { return int(l.open.Load()) }

// Configure sets srv up for the Limiter's connections: keep-alive follows
// the Source (srv.IdleTimeout is cleared: the Limiter closes idle
// connections itself), srv.Handler is wrapped to count requests per
// connection, and srv.ConnState and srv.ConnContext are chained (the
// existing ones are still called).
func (l *Limiter) Configure(srv *http.Server) {
	srv.IdleTimeout = 0
	srv.ReadTimeout = 0 // net/http would take it for the idle timeout
	srv.Handler = l.Handler(srv.Handler)
	prevState, prevCtx := srv.ConnState, srv.ConnContext
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		l.connState(c, st)
		if prevState != nil {
			prevState(c, st)
		}
	}
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if prevCtx != nil {
			ctx = prevCtx(ctx, c)
		}
		if w := find(c); w != nil {
			ctx = w.context(ctx)
		}
		return ctx
	}
}

type connKey struct{}

// context returns parent with c under connKey. The first call's context is
// held in c (no allocation per connection); a Server calls ConnContext
// once per connection, but should one call it again, it gets a
// context.WithValue: a Node must not be set again while in use.
func (c *conn) context(parent context.Context) context.Context {
	if c.ctxSet.CompareAndSwap(false, true) {
		return c.ctx.Set(parent, connKey{}, c)
	}
	return context.WithValue(parent, connKey{}, c)
}

// Handler counts the requests of each connection and answers with
// Connection: close when keep-alive is off or the request is the
// connection's KeepAliveRequests-th: HTTP/1 closes after the response,
// and net/http's HTTP/2 server takes it for a GOAWAY (the streams begun
// finish, the next request opens a new connection), as nginx sends one
// once an HTTP/2 connection served keepalive_requests streams. A request
// with Upgrade counts as any other, as nginx counts it: answered without a
// switch it ends the connection at the limit; one that switches protocols
// (a hijacked connection) writes its own head, without that field. Before,
// a client that added "Upgrade: x" to every request kept its connection
// past keep-alive-requests.
func (l *Limiter) Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if w, ok := r.Context().Value(connKey{}).(*conn); ok {
			n := w.requests.Add(1)
			s := l.src.ConnLimits()
			if s.KeepAlive <= 0 || n >= int64(s.KeepAliveRequests) {
				rw.Header().Set("Connection", "close")
			}
		}
		h.ServeHTTP(rw, r)
	})
}

// connState starts the keep-alive timer of a connection that went idle
// and stops it when a request begins.
func (l *Limiter) connState(c net.Conn, st http.ConnState) {
	w := find(c)
	if w == nil {
		return
	}
	switch st {
	case http.StateIdle:
		w.idleFor(max(l.src.ConnLimits().KeepAlive, 0), c)
	case http.StateActive:
		w.busy(false)
	case http.StateHijacked, http.StateClosed:
		w.busy(true)
	}
}

// find returns the Limiter's connection under c's wrappers (h1guard's,
// PROXY protocol's, TLS), nil when there is none.
func find(c net.Conn) *conn {
	for range 8 {
		switch v := c.(type) {
		case *conn:
			return v
		case interface{ Unwrap() net.Conn }:
			c = v.Unwrap()
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// Listener wraps ln: Accept waits while MaxConnections connections are
// open (connections meanwhile wait in the kernel's accept queue) and each
// accepted connection counts until it is closed. Two listeners of one
// Limiter may each accept one connection past the cap when they are both
// in Accept as it is reached.
func (l *Limiter) Listener(ln net.Listener) net.Listener {
	return &listener{Listener: ln, l: l, done: make(chan struct{})}
}

type listener struct {
	net.Listener
	l    *Limiter
	done chan struct{}
	once sync.Once
}

func (ln *listener) Accept() (net.Conn, error) {
	if err := ln.l.waitSlot(ln.done); err != nil {
		return nil, err
	}
	c, err := ln.Listener.Accept()
	if err != nil {
		return nil, err
	}
	ln.l.open.Add(1)
	return &conn{Conn: c, l: ln.l}, nil
}

func (ln *listener) Close() error {
	ln.once.Do(func() { close(ln.done) })
	return ln.Listener.Close()
}

// waitSlot returns once fewer than MaxConnections connections are open,
// or net.ErrClosed once done is closed.
func (l *Limiter) waitSlot(done <-chan struct{}) error {
	counted := false
	for {
		maxConns := l.src.ConnLimits().MaxConnections
		if maxConns <= 0 || l.open.Load() < int64(maxConns) {
			return nil
		}
		if !counted && l.capped != nil {
			l.capped.Inc()
		}
		counted = true
		l.waiters.Add(1)
		l.mu.Lock()
		freed := l.freed
		l.mu.Unlock()
		// A close between the check and here is seen again: open is read
		// anew at the top of the loop once freed or the timer fires.
		if l.open.Load() < int64(maxConns) {
			l.waiters.Add(-1)
			continue
		}
		t := time.NewTimer(recheck)
		select {
		case <-freed:
		case <-t.C:
		case <-done:
			t.Stop()
			l.waiters.Add(-1)
			return net.ErrClosed
		}
		t.Stop()
		l.waiters.Add(-1)
	}
}

// release counts a connection closed and wakes the Accepts held at the
// cap.
func (l *Limiter) release() {
	l.open.Add(-1)
	if l.waiters.Load() > 0 {
		l.mu.Lock()
		close(l.freed)
		l.freed = make(chan struct{})
		l.mu.Unlock()
	}
}

// conn is an accepted connection: it counts until closed, and times its
// idle periods.
//
// Its one-byte fields sit in the hole after closed, and ctxSet after
// state, rather than each before a word: so laid out, a conn took the
// 176-byte size class, where it took 208 bytes; with its deadlines on
// monoNow's clock (8 bytes where a time.Time takes 24) it takes the
// 144-byte one (TestConnSizeClass).
type conn struct {
	net.Conn
	l        *Limiter
	closed   atomic.Bool
	armed    bool          // timer is due, at fireAt (under mu)
	idle     bool          // (under mu)
	proto    int8          // 0 until the first idle period, then protoHTTP1 or protoHTTP2 (under mu)
	reads    atomic.Uint64 // Reads that returned bytes
	requests atomic.Int64  // requests served (HTTP/2: streams)

	mu       sync.Mutex
	timer    *time.Timer   // nil until the first idle period
	fireAt   time.Duration // when timer is due, on monoNow's clock
	deadline time.Duration // when the idle period ends, on monoNow's clock
	seen     uint64        // reads when the idle period (or its header grace) began

	state  atomic.Int32 // StateSlot's
	ctxSet atomic.Bool  // ctx is set
	ctx    ctxval.Node  // ConnContext's (context)
}

// StateSlot returns the slot where a ConnState hook may keep what it last
// recorded of c, a connection of a Limiter's listener under any wrappers
// (l7/proxy's connection figures); nil when c is none.
func StateSlot(c net.Conn) *atomic.Int32 {
	if w := find(c); w != nil {
		return &w.state
	}
	return nil
}

// Unwrap returns the accepted connection.
func (c *conn) Unwrap() net.Conn { return c.Conn }

// Buffered returns 0: the connection holds no bytes it read (l7/h1server
// waits for an idle connection's socket to be readable under it).
func (c *conn) Buffered() int { return 0 }

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.reads.Add(1)
	}
	return n, err
}

// CloseWrite shuts down the writing side when the connection can.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Close closes the connection and releases its slot, once.
func (c *conn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.busy(true)
		c.l.release()
	}
	return err
}

// The protocols of conn.proto.
const (
	protoHTTP1 = 1
	protoHTTP2 = 2
)

// isHTTP2 reports whether c, a connection as a server's ConnState hook
// sees it, speaks HTTP/2: TLS that negotiated h2, or a clear-text
// connection that opened with the HTTP/2 preface (l7/h1server hands those
// to net/http in a wrapper whose HTTP2 method says so).
func isHTTP2(c net.Conn) bool {
	switch v := c.(type) {
	case interface{ HTTP2() bool }:
		return v.HTTP2()
	case *tls.Conn:
		return v.ConnectionState().NegotiatedProtocol == "h2"
	}
	return false
}

// idleFor starts an idle period of d: the connection closes at its end
// unless bytes of an HTTP/1 request arrived. outer is the connection as
// the server sees it (it tells HTTP/2 from HTTP/1 at the first idle
// period). An HTTP/2 connection closes at the end of the period whatever
// frames (PING, SETTINGS, WINDOW_UPDATE) arrived meanwhile, as nginx's
// keepalive_timeout timer is set once when the last stream ends and not
// pushed back by frames; a new stream ends the period (StateActive).
//
// The timer is lazy, as nginx's: a request does not stop it (busy), and a
// timer still due by the new deadline is left to fire there, where expire
// arms it again for the rest. A keep-alive connection serving requests
// thus touches its timer once per keep-alive timeout, not twice per
// request.
func (c *conn) idleFor(d time.Duration, outer net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proto == 0 {
		c.proto = protoHTTP1
		if isHTTP2(outer) {
			c.proto = protoHTTP2
		}
	}
	c.idle = true
	c.deadline = monoNow() + d
	c.seen = c.reads.Load()
	if c.armed && c.fireAt <= c.deadline {
		return
	}
	c.arm(d)
}

// arm makes the timer fire in d. c.mu is held.
func (c *conn) arm(d time.Duration) {
	if c.timer == nil {
		c.timer = time.AfterFunc(d, c.expire)
	} else {
		c.timer.Reset(d)
	}
	c.armed, c.fireAt = true, monoNow()+d
}

// monoBase anchors monoNow.
var monoBase = time.Now()

// monoNow returns the time since monoBase on the monotonic clock: one clock
// read where time.Now makes two (the wall clock too) and no Time.Add, for
// the idle deadlines, which are only compared and counted down. idleFor
// runs each keep-alive request; the Time values cost it two clock reads and
// a Time.Add, some 150 instructions under callgrind.
func monoNow() time.Duration { return time.Since(monoBase) }

// busy ends the idle period; stop: for good (the connection is closed or
// hijacked), the timer stops too.
func (c *conn) busy(stop bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.idle = false
	if stop && c.timer != nil {
		c.timer.Stop()
		c.armed = false
	}
}

// expire closes a connection still idle at its deadline. An HTTP/1 one
// whose next request began arriving gets HeaderTimeout for its first
// bytes before the server reads its head under ReadHeaderTimeout.
func (c *conn) expire() {
	c.mu.Lock()
	c.armed = false
	if !c.idle {
		c.mu.Unlock()
		return // idleFor arms it again
	}
	if left := c.deadline - monoNow(); left > 0 {
		c.arm(left) // fired early: the idle period began after it was armed
		c.mu.Unlock()
		return
	}
	if r := c.reads.Load(); r != c.seen && c.proto != protoHTTP2 {
		c.seen = r
		d := c.l.src.ConnLimits().HeaderTimeout
		if d <= 0 {
			d = HeaderTimeout
		}
		c.deadline = monoNow() + d
		c.arm(d)
		c.mu.Unlock()
		return
	}
	c.idle = false
	c.mu.Unlock()
	_ = c.Close()
}

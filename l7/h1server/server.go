// Package h1server is Weir's own HTTP/1.1 server loop: one goroutine per
// client connection being served, reading into one buffer, each request
// head parsed once by h1guard's parser (the same rules, statuses and error
// pages as the guard that wraps net/http's connections), the request
// handed to the same http.Handler net/http would call, and each response
// written with its head and body in one buffer.
//
// Between two requests a connection holds no buffer and nothing of its
// last request, and waits for its socket to be readable in an epoll set of
// the Server's, its waiter, with no goroutine of its own and no session
// (the Request, maps and context it reuses: session.go), or while it is
// busy on the goroutine that served it (idle.go, poller.go). That wait needs to
// know that no layer between the Server and the socket holds bytes it
// read: it is taken under a *tls.Conn and under wrappers that report such
// bytes with a Buffered() int method (l7/connlimit's, the PROXY
// protocol's); under any other wrapper an idle connection waits in a Read,
// with its buffer.
//
// A Server takes its settings from an *http.Server (Handler, ConnState,
// ConnContext, ReadHeaderTimeout, ErrorLog), read when Serve starts, so the
// hooks other packages install there (l7/connlimit, l7/drain) apply
// unchanged; Shutdown, Close and SetKeepAlivesEnabled behave as
// http.Server's. It serves HTTP/1.x, plain or on TLS connections whose
// handshake is done (ServeTLS hands those that negotiated HTTP/2 to
// net/http).
//
// What the Handler sees is what net/http gives it: Request fields and
// header map as net/http fills them (Host moved to Request.Host, Pragma:
// no-cache implying Cache-Control), a context carrying
// http.ServerContextKey and http.LocalAddrContextKey that is cancelled when
// the client goes away (read in the background once the body is read, as
// net/http does, from 10 to 20 ms into the handler for a request without
// a body: one answered sooner costs no read), Expect: 100-continue answered on the first body read, and
// a ResponseWriter that is a Flusher and a Hijacker and takes
// http.ResponseController's deadlines; responses get net/http's Date,
// Content-Length, chunking, Content-Type sniffing and Connection handling.
//
// A connection's requests reuse one Request, header map and URL, and one
// request context (reqctx.go; a new one when a handler took its Done
// channel), which go to another connection's requests while it waits on
// its waiter (session.go): a handler must not use them once it has
// returned (net/http gives each request its own). The head's strings come from l7/arena and
// stay valid, so a handler may keep a string (copying one it keeps long
// frees the arena chunk it pins).
package h1server

import (
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weir-lb/weir/l7/h1guard"
)

// Server serves HTTP/1.x connections with the settings of an http.Server.
type Server struct {
	cfg   *http.Server
	guard *h1guard.Guard

	noKeepAlive atomic.Bool
	closing     atomic.Bool

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	// conns are the connections tracked, in no order: a connection's
	// slot is its index plus one (track), so that one leaves with a swap
	// and no map's hashing, growth and clearing a connection.
	conns []*conn

	// The sweeper and the goroutines that serve the connections that wake
	// up on their waiters (idle.go): jobs hands one a connection, and is
	// closed (jobsClosed, under jobsMu) to end them; done ends the
	// sweeper.
	jobs        chan *conn
	jobsMu      sync.RWMutex // held to read while a job is offered, to write while jobs is closed
	jobsClosed  bool
	idleWorkers atomic.Int32
	done        chan struct{}
	doneOnce    sync.Once
	sweepOnce   sync.Once
	sweepEvery  time.Duration
	busyGap     time.Duration
	// poller holds the idle connections (poller.go); nil: each waits on a
	// goroutine of its own (its epoll set could not be made).
	poller atomic.Pointer[poller]

	// firstReads starts the background reads of connections' first
	// requests (conn.go).
	firstReads firstReads

	// h2c, when set, takes a clear-text connection that opens with the
	// HTTP/2 preface, the bytes read so far included (h2c.go).
	h2c func(net.Conn)
}

// New returns a Server configured by cfg (its Handler, ConnState,
// ConnContext, ReadHeaderTimeout and ErrorLog, read at Serve) that checks
// request heads with g's rules and limits.
func New(cfg *http.Server, g *h1guard.Guard) *Server {
	s := &Server{cfg: cfg, guard: g, listeners: map[net.Listener]struct{}{},
		jobs: make(chan *conn), done: make(chan struct{}), sweepEvery: sweepEvery, busyGap: busyGap}
	if testHookIdleSettings != nil {
		s.sweepEvery, s.busyGap = testHookIdleSettings(cfg, s.sweepEvery, s.busyGap)
	}
	return s
}

// Serve accepts connections on ln and has each served by one of the
// Server's goroutines that wait for a connection to serve (work, idle.go),
// or by a new one when none waits: a goroutine that served connections
// before has its stack grown already, where a new one would grow its stack
// by copying, two to three times, while it serves its first request. It
// returns http.ErrServerClosed after Shutdown or Close, else Accept's
// error.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return http.ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	// made: the poller was made by this Serve, so no Serve of the Server
	// has accepted a connection yet.
	made := false
	s.sweepOnce.Do(func() { // idle.go
		made = true
		go s.sweep()
		if testHookNoPoller != nil && testHookNoPoller(s.cfg) {
			return
		}
		p, err := newPoller(s)
		if err != nil {
			s.logf("h1server: %v: idle connections wait on goroutines of their own", err)
			return
		}
		s.poller.Store(p)
	})
	if made && s.closing.Load() {
		// A Shutdown or Close that came while the poller was being made
		// found none to close: its goroutine would wait for ever. One that
		// comes after this look finds it (both may close it).
		s.closePoller()
	}
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	base := context.WithValue(context.Background(), http.ServerContextKey, s.cfg)
	var delay time.Duration
	for {
		rwc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTemporary) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		c := s.newConn(base, rwc)
		// Tracked and new before a goroutine serves it, as net/http's: a
		// Shutdown now sees it.
		s.track(c, true)
		c.setState(http.StateNew)
		s.dispatch(c) // idle.go

	}
}

var errTemporary = errors.New("temporary accept error")

// Shutdown stops the listeners, then closes each connection once it is
// idle, until none is left or ctx ends (ctx's error then).
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.noKeepAlive.Store(true)
	s.closeListeners()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.closeIdle() {
			s.closePoller()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Close stops the listeners and closes every connection at once.
func (s *Server) Close() error {
	s.closing.Store(true)
	s.closeListeners()
	s.mu.Lock()
	for _, c := range s.conns {
		_ = c.rwc.Close()
	}
	s.mu.Unlock()
	s.closePoller()
	return nil
}

// closePoller ends the connections in the poller and closes it.
func (s *Server) closePoller() {
	p := s.poller.Load()
	if p == nil {
		return
	}
	for _, c := range p.takeAll() {
		c.end()
	}
	p.close()
}

// SetKeepAlivesEnabled turns keep-alive on or off: off, every response
// closes its connection and the idle connections are closed.
func (s *Server) SetKeepAlivesEnabled(v bool) {
	s.noKeepAlive.Store(!v)
	if !v {
		s.closeIdle()
	}
}

func (s *Server) keepAlives() bool { return !s.noKeepAlive.Load() }

func (s *Server) closeListeners() {
	s.doneOnce.Do(func() {
		close(s.done)
		s.jobsMu.Lock()
		s.jobsClosed = true
		close(s.jobs)
		s.jobsMu.Unlock()
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	for ln := range s.listeners {
		_ = ln.Close()
	}
}

// closeIdle closes the idle connections and those that sent nothing for 5 s;
// it reports whether no connection is left.
func (s *Server) closeIdle() bool {
	if p := s.poller.Load(); p != nil {
		for _, c := range p.takeAll() {
			c.end() // idle: it closes
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now().Unix()
	for _, c := range s.conns {
		st, since := c.loadState()
		if st == http.StateIdle || st == http.StateNew && since < now-5 {
			_ = c.rwc.Close()
		}
	}
	return len(s.conns) == 0
}

// track adds c to the connections tracked (add) or removes it, if it is
// there: a hijacked connection is removed once, by hijack, not again by
// end.
func (s *Server) track(c *conn, add bool) {
	s.mu.Lock()
	if add {
		s.conns = append(s.conns, c)
		c.slot = int32(len(s.conns))
	} else if i := int(c.slot) - 1; i >= 0 {
		last := len(s.conns) - 1
		moved := s.conns[last]
		s.conns[i], moved.slot = moved, int32(i+1)
		s.conns[last] = nil
		s.conns = s.conns[:last]
		c.slot = 0
	}
	s.mu.Unlock()
}

func (s *Server) logf(format string, args ...any) {
	if s.cfg.ErrorLog != nil {
		s.cfg.ErrorLog.Printf(format, args...)
		return
	}
	log.Printf(format, args...)
}

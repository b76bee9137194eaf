// Package drain shuts down a proxy's HTTP servers as nginx's graceful quit
// does, without leaving a connection unserved: keep-alive ends (responses
// carry Connection: close, idle connections close), the listeners accept
// what their accept queues hold and then stop, requests in flight finish
// within the worker-shutdown-timeout, and WebSockets then get a close frame
// (1001, going away). Both the worker processes (l7/worker) and the
// in-process mode (userspace/daemon) drain with it.
//
// A connection either gets served or is refused at once only if the kernel
// refuses new connections while the queues drain: the caller first attaches
// datapath.Refuse to the listening sockets' reuseport group (Options.Refused).
// Without it, connections that complete their handshake between the last
// accept and the socket's close are reset.
package drain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultTimeout is ingress-nginx's worker-shutdown-timeout: 240 s.
const DefaultTimeout = 240 * time.Second

// Settle is how long refused listeners keep accepting after keep-alive
// ended: handshakes under way when the refusal started complete within a
// round trip (or a SYN-ACK retransmission) and land in the accept queue.
const Settle = time.Second

// Listener wraps a listening TCP socket so that Stop ends Accept only once
// the connections already in the socket's accept queue were accepted.
type Listener struct {
	net.Listener
	stopping atomic.Bool
	// release: once stopping, Accept leaves the queue to the socket's
	// other holder (Release).
	release atomic.Bool

	mu      sync.Mutex
	drained bool       // the queue was taken
	queued  []net.Conn // taken from the queue, not yet returned by Accept
}

// NewListener wraps ln, a *net.TCPListener or a listener from
// net.FileListener on a TCP socket.
func NewListener(ln net.Listener) *Listener { return &Listener{Listener: ln} }

// Stop makes Accept return the connections queued now, then net.ErrClosed.
// The socket stays open until Close.
func (l *Listener) Stop() {
	l.stopping.Store(true)
	if d, ok := l.Listener.(interface{ SetDeadline(time.Time) error }); ok {
		_ = d.SetDeadline(time.Now()) // wakes a blocked Accept
	}
}

// Release makes Accept return net.ErrClosed at once, leaving the
// connections queued on the socket to another process that holds the same
// socket and accepts from it (a binary upgrade).
func (l *Listener) Release() {
	l.release.Store(true)
	l.Stop()
}

// Accept implements net.Listener.
func (l *Listener) Accept() (net.Conn, error) {
	for !l.stopping.Load() {
		c, err := l.Listener.Accept()
		if err == nil {
			return c, nil
		}
		if !l.stopping.Load() || !errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, err
		}
	}
	return l.next()
}

// next returns the next connection of the accept queue as Stop found it.
func (l *Listener) next() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.drained && l.release.Load() {
		l.drained = true
	}
	if !l.drained {
		l.drained = true
		l.queued = l.takeQueue()
	}
	if len(l.queued) == 0 {
		return nil, net.ErrClosed
	}
	c := l.queued[0]
	l.queued = l.queued[1:]
	return c, nil
}

// takeQueue accepts every connection queued on the socket without waiting
// (the socket is non-blocking: accept4 says EAGAIN once it is empty).
func (l *Listener) takeQueue() []net.Conn {
	sc, ok := l.Listener.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	var out []net.Conn
	_ = raw.Control(func(fd uintptr) {
		for {
			nfd, _, err := unix.Accept4(int(fd), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
			if errors.Is(err, unix.EINTR) || errors.Is(err, unix.ECONNABORTED) {
				continue
			}
			if err != nil {
				return
			}
			f := os.NewFile(uintptr(nfd), "tcp")
			c, err := net.FileConn(f)
			f.Close()
			if err == nil {
				out = append(out, c)
			}
		}
	})
	return out
}

// HTTPServer is what serves a listener's connections: an *http.Server, or
// a server loop configured by one (l7/h1server).
type HTTPServer interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
	Close() error
	SetKeepAlivesEnabled(bool)
}

// Server is one HTTP server to drain.
type Server struct {
	// Srv serves Listener (directly, or through listeners wrapping it).
	Srv HTTPServer
	// Listener is the listener Srv.Serve was given, or the one it wraps.
	Listener *Listener
	// Served is closed once Srv.Serve returned.
	Served <-chan struct{}
	// conns counts Srv's open connections (not hijacked ones); nil for a
	// Server not made by Serve.
	conns *connCount
}

// connCount counts an http.Server's open connections through its
// ConnState hook.
type connCount struct {
	mu sync.Mutex
	n  int
}

func (cc *connCount) track(st http.ConnState) {
	if st == http.StateActive || st == http.StateIdle {
		return // twice per request: no lock for what does not count
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	switch st {
	case http.StateNew:
		cc.n++
	case http.StateClosed, http.StateHijacked:
		cc.n--
	}
}

func (cc *connCount) open() int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.n
}

// Serve runs srv.Serve in a goroutine on ln, through a Listener and then
// wrap (e.g. tls.NewListener; nil: none), and returns the Server to drain.
// An error of Serve other than the shutdown's goes to errc.
func Serve(name string, srv *http.Server, ln net.Listener, wrap func(net.Listener) net.Listener, errc chan<- error) Server {
	return ServeWith(name, srv, srv, ln, wrap, errc)
}

// ServeWith is Serve with run serving the connections, configured by srv
// (whose ConnState hook counts them): run is srv itself, or a server loop
// that reads srv's settings when it starts serving.
func ServeWith(name string, srv *http.Server, run HTTPServer, ln net.Listener, wrap func(net.Listener) net.Listener, errc chan<- error) Server {
	dl := NewListener(ln)
	cc := &connCount{}
	prev := srv.ConnState
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		cc.track(st)
		if prev != nil {
			prev(c, st)
		}
	}
	served := make(chan struct{})
	var l net.Listener = dl
	if wrap != nil {
		l = wrap(dl)
	}
	go func() {
		defer close(served)
		if err := run.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			errc <- fmt.Errorf("serve %s: %w", name, err)
		}
	}()
	return Server{Srv: run, Listener: dl, Served: served, conns: cc}
}

// Tunnels are the WebSocket tunnels of the proxy the servers serve
// (l7/proxy.Proxy).
type Tunnels interface {
	// Tunnels is the number of open tunnels.
	Tunnels() int
	// GoAway sends each a close frame (1001) and closes it.
	GoAway()
}

// Options configure Shutdown.
type Options struct {
	// Refused says the kernel refuses new connections (datapath.Refuse):
	// the listeners then keep accepting for Settle before they take their
	// queue and stop. False: they do at once. Default false.
	Refused bool
	// HandedOver says another process serves the same listening sockets
	// from now on (a binary upgrade): the listeners stop at once and leave
	// their queues to it, and the connections accepted already are served
	// to their end (with Connection: close) rather than shut down, since
	// http.Server.Shutdown closes a connection whose first request it reads
	// after the shutdown began without answering it. Default false.
	HandedOver bool
	// Timeout is how long requests in flight and WebSocket tunnels may go
	// on (ingress-nginx's worker-shutdown-timeout); then the tunnels get a
	// close frame and the remaining connections close. Zero means
	// DefaultTimeout (240 s).
	Timeout time.Duration
	// Logger receives the progress. Nil means slog.Default().
	Logger *slog.Logger
}

// Shutdown drains servers and returns once every connection is closed.
func Shutdown(servers []Server, tunnels Tunnels, opts Options) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	log := opts.Logger
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), opts.Timeout)
	defer cancel()
	for _, s := range servers {
		s.Srv.SetKeepAlivesEnabled(false) // Connection: close, idle connections closed
	}
	if opts.Refused && !opts.HandedOver {
		wait(ctx, time.After(Settle))
	}
	for _, s := range servers {
		if opts.HandedOver {
			s.Listener.Release()
		} else {
			s.Listener.Stop()
		}
	}
	for _, s := range servers {
		wait(ctx, s.Served)
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	if opts.HandedOver {
		// Keep-alive is off: each connection closes after its next
		// response.
		for _, s := range servers {
			for s.conns != nil && s.conns.open() > 0 && ctx.Err() == nil {
				wait(ctx, tick.C)
			}
		}
	} else {
		var wg sync.WaitGroup
		for _, s := range servers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = s.Srv.Shutdown(ctx) // returns at once on the deadline
			}()
		}
		wg.Wait()
	}
	if tunnels != nil {
		for tunnels.Tunnels() > 0 && ctx.Err() == nil {
			wait(ctx, tick.C)
		}
		if n := tunnels.Tunnels(); n > 0 {
			log.Info(fmt.Sprintf("worker-shutdown-timeout: closing %d WebSockets (1001 going away)", n), "timeout", opts.Timeout)
			tunnels.GoAway()
		}
	}
	for _, s := range servers {
		_ = s.Srv.Close()
	}
	log.Info("drained", "took", time.Since(t0).Round(time.Millisecond))
}

// wait waits for c or ctx's end.
func wait[T any](ctx context.Context, c <-chan T) {
	select {
	case <-c:
	case <-ctx.Done():
	}
}

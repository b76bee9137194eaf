package h1server

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"

	"github.com/weir-lb/weir/l7/drain"
	"github.com/weir-lb/weir/l7/h1guard"
)

// dualServer is an HTTP/1.x Server and net/http's server for HTTP/2 (its
// ConnState, ConnContext and Handler being the Server's too), shut down,
// closed and tuned together.
type dualServer struct {
	h1 *Server
	h2 *http.Server
}

// serve serves h2ln with h2 and h1ln with h1 until h1 returns, then closes
// h2ln with closeH2.
func (s *dualServer) serve(h1ln, h2ln net.Listener, closeH2 func() error) error {
	served := make(chan error, 1)
	go func() { served <- s.h2.Serve(h2ln) }()
	err := s.h1.Serve(h1ln)
	_ = closeH2()
	if err2 := <-served; !errors.Is(err2, http.ErrServerClosed) && !errors.Is(err2, net.ErrClosed) && err == nil {
		err = err2
	}
	return err
}

// Shutdown shuts both servers down within ctx.
func (s *dualServer) Shutdown(ctx context.Context) error {
	var wg sync.WaitGroup
	var err2 error
	wg.Add(1)
	go func() {
		defer wg.Done()
		err2 = s.h2.Shutdown(ctx)
	}()
	err := s.h1.Shutdown(ctx)
	wg.Wait()
	return errors.Join(err, err2)
}

// Close closes both servers and their connections.
func (s *dualServer) Close() error { return errors.Join(s.h1.Close(), s.h2.Close()) }

// SetKeepAlivesEnabled sets keep-alive on both servers.
func (s *dualServer) SetKeepAlivesEnabled(v bool) {
	s.h1.SetKeepAlivesEnabled(v)
	s.h2.SetKeepAlivesEnabled(v)
}

// tlsServer serves the connections of a TLS listener whose handshakes are
// done: HTTP/1.x ones with a Server, those that negotiated HTTP/2 with
// net/http's server.
type tlsServer struct{ dualServer }

// Serve serves ln's connections, each a *tls.Conn.
func (s *tlsServer) Serve(ln net.Listener) error {
	sp := &splitListener{Listener: ln, h2: newConnQueue(ln.Addr())}
	return s.serve(sp, sp.h2, sp.Close)
}

// splitListener accepts the HTTP/1.x connections of its listener and hands
// those that negotiated HTTP/2 to its queue, h2.
type splitListener struct {
	net.Listener
	h2   *connQueue
	once sync.Once
}

func (l *splitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if tc, ok := c.(*tls.Conn); ok && tc.ConnectionState().NegotiatedProtocol == "h2" {
			l.h2.put(c)
			continue
		}
		return c, nil
	}
}

// Close closes the queue and the listener.
func (l *splitListener) Close() error {
	var err error
	l.once.Do(func() {
		_ = l.h2.Close()
		err = l.Listener.Close()
	})
	return err
}

// ServeTLS serves HTTPS on ln with srv's settings (its TLSConfig is cfg) and
// g's checks, for drain to drain: with KindNet through srv behind g's
// TLSListener, else HTTP/1.x through a Server and HTTP/2 through srv. wrap
// (nil: none) wraps ln first.
func ServeTLS(k Kind, name string, srv *http.Server, g *h1guard.Guard, ln net.Listener, cfg *tls.Config, wrap func(net.Listener) net.Listener, errc chan<- error) drain.Server {
	guardOptions(srv) // choose.go
	if wrap == nil {
		wrap = func(l net.Listener) net.Listener { return l }
	}
	if k == KindNet {
		return drain.Serve(name, srv, ln, func(l net.Listener) net.Listener { return g.TLSListener(wrap(l), cfg) }, errc)
	}
	return drain.ServeWith(name, srv, &tlsServer{dualServer{h1: New(srv, g), h2: srv}}, ln, func(l net.Listener) net.Listener { return g.TLSConns(wrap(l), cfg) }, errc)
}

// Package passthrough implements ingress-nginx's ssl-passthrough on the
// HTTPS listener: the ClientHello of each connection is read before any
// handshake, and a connection whose SNI names a host with ssl-passthrough
// is spliced, untouched (no TLS termination), to an endpoint of that host;
// every other connection goes on to Weir's own TLS server with the bytes
// read replayed.
package passthrough

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/weir-lb/weir/l7/router"
)

// Source is the live configuration: a proxy.Proxy.
type Source interface {
	// Router returns the live Router, nil before the first configuration.
	Router() *router.Router
}

// helloTimeout bounds the wait for a ClientHello, as nginx's
// ssl_handshake_timeout bounds a handshake.
const helloTimeout = 60 * time.Second

// Listener is a listener of the connections of ln that are not passed
// through. Create it with Wrap.
type Listener struct {
	net.Listener
	src   Source
	log   *slog.Logger
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once

	mu  sync.Mutex
	err error // Accept's error once the accept loop stopped
}

// Wrap returns a Listener of ln's connections that src does not pass
// through: used by the HTTPS listener of both the in-process mode and the
// workers, in front of the TLS handshake. While no host has
// ssl-passthrough, connections are handed on as accepted, unread. log
// receives the connections that could not be passed through (nil:
// discarded).
func Wrap(ln net.Listener, src Source, log *slog.Logger) *Listener {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Listener{Listener: ln, src: src, log: log, conns: make(chan net.Conn), done: make(chan struct{})}
	go l.acceptLoop()
	return l
}

func (l *Listener) acceptLoop() {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				// As net/http: back off on an error such as too many open
				// files, and try again.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				select {
				case <-time.After(delay):
					continue
				case <-l.done:
				}
			}
			l.mu.Lock()
			l.err = err
			l.mu.Unlock()
			l.Close()
			return
		}
		delay = 0
		if rt := l.src.Router(); rt == nil || !rt.HasPassthrough() {
			l.handOn(c)
			continue
		}
		go l.classify(c)
	}
}

// handOn gives c to Accept, or closes it when the listener closed.
func (l *Listener) handOn(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		_ = c.Close()
	}
}

// classify reads the ClientHello of c and passes c through, or hands it
// on with what was read replayed.
func (l *Listener) classify(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(helloTimeout))
	sni, hello, err := ReadServerName(c)
	_ = c.SetReadDeadline(time.Time{})
	if err != nil && len(hello) == 0 {
		_ = c.Close() // nothing sent: nothing for the TLS server either
		return
	}
	replay := &replayConn{Conn: c, r: io.MultiReader(bytes.NewReader(hello), c)}
	var route *router.Route
	if rt := l.src.Router(); rt != nil && err == nil {
		route = rt.Passthrough(sni)
	}
	if route == nil {
		l.handOn(replay)
		return
	}
	l.splice(replay, sni, route)
}

// splice copies between c and an endpoint of route until both directions
// end.
func (l *Listener) splice(c net.Conn, sni string, route *router.Route) {
	defer c.Close()
	up, uc := l.dial(sni, route)
	if uc == nil {
		return
	}
	up.InFlight.Add(1)
	defer up.InFlight.Add(-1)
	defer uc.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(uc, c)
		closeWrite(uc)
	}()
	_, _ = io.Copy(c, uc)
	closeWrite(c)
	wg.Wait()
}

// dialTries bounds the endpoints dial tries for one connection: nginx's
// proxy_next_upstream_tries default.
const dialTries = 3

// dial connects to an endpoint of route, trying the next one (up to
// dialTries) when a connection is refused or times out: nothing of the
// client's was sent yet, so another endpoint can take it. A failed endpoint
// is not taken out of rotation: its address may serve HTTP routes too,
// whose balancing, as ingress-nginx's, has no passive health check. It
// returns a nil connection when no endpoint answered.
func (l *Listener) dial(sni string, route *router.Route) (*router.Upstream, net.Conn) {
	timeout := time.Duration(route.Backend.Proxy.ConnectTimeoutSeconds) * time.Second
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	var tried []*router.Upstream
	for len(tried) < dialTries {
		up, ok := route.Pool.NextExcept(tried)
		if !ok {
			break
		}
		tried = append(tried, up)
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		uc, err := (&net.Dialer{}).DialContext(ctx, "tcp", up.Addr)
		cancel()
		if err == nil {
			return up, uc
		}
		l.log.Warn("ssl-passthrough: connect to endpoint", "sni", sni, "upstream", up.Addr, "error", err)
	}
	if len(tried) == 0 {
		l.log.Warn("ssl-passthrough: no endpoint", "sni", sni, "service", route.Backend.Service)
	}
	return nil, nil
}

// closeWrite half-closes c when it can (TCP), so the peer sees the end of
// what was sent while the other direction goes on.
func closeWrite(c net.Conn) {
	for {
		switch cc := c.(type) {
		case interface{ CloseWrite() error }:
			_ = cc.CloseWrite()
			return
		case interface{ NetConn() net.Conn }:
			c = cc.NetConn()
		default:
			_ = c.Close()
			return
		}
	}
}

// Accept returns the next connection that is not passed through.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.err != nil {
			return nil, l.err
		}
		return nil, net.ErrClosed
	}
}

// Close stops accepting; connections being passed through go on.
func (l *Listener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.Listener.Close()
	})
	return err
}

// replayConn reads what was read of Conn before, then Conn.
type replayConn struct {
	net.Conn
	r io.Reader
}

func (c *replayConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// NetConn returns the connection underneath.
func (c *replayConn) NetConn() net.Conn { return c.Conn }

// errHelloRead ends the handshake ReadServerName runs once it has the
// ClientHello.
var errHelloRead = errors.New("client hello read")

// ReadServerName reads a TLS ClientHello from r and returns its SNI ("" when
// it has none) and every byte it read. It reads nothing past the records
// of the ClientHello and writes nothing. An error means r did not start with
// a TLS ClientHello (or failed).
func ReadServerName(r io.Reader) (string, []byte, error) {
	rec := &recorder{r: r}
	var sni string
	got := false
	err := tls.Server(rec, &tls.Config{GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		sni, got = hello.ServerName, true
		return nil, errHelloRead
	}}).Handshake()
	if got {
		return sni, rec.buf.Bytes(), nil
	}
	return "", rec.buf.Bytes(), err
}

// recorder is a net.Conn that reads from r, keeping what it read, and
// discards what is written (crypto/tls's alert after errHelloRead).
type recorder struct {
	r   io.Reader
	buf bytes.Buffer
}

func (c *recorder) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.buf.Write(p[:n])
	return n, err
}

func (c *recorder) Write(p []byte) (int, error)      { return len(p), nil }
func (c *recorder) Close() error                     { return nil }
func (c *recorder) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *recorder) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *recorder) SetDeadline(time.Time) error      { return nil }
func (c *recorder) SetReadDeadline(time.Time) error  { return nil }
func (c *recorder) SetWriteDeadline(time.Time) error { return nil }

package h1server

import (
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/weir-lb/weir/l7/drain"
	"github.com/weir-lb/weir/l7/h1guard"
)

// plainServer serves a clear-text listener whose guard takes h2c: HTTP/1.x
// with a Server, and the connections that open with the HTTP/2 preface
// (prior knowledge, as nginx's "http2 on" detects it) with net/http's
// server, whose Protocols allow unencrypted HTTP/2.
type plainServer struct {
	dualServer
	q *connQueue
}

// Serve serves ln's connections.
func (s *plainServer) Serve(ln net.Listener) error { return s.serve(ln, s.q, s.q.Close) }

// connQueue is a listener whose connections are handed to it: those of
// the HTTP/1.x side that turned out to be HTTP/2 (negotiated over TLS, or
// h2c).
type connQueue struct {
	addr net.Addr
	c    chan net.Conn
	done chan struct{}
	once sync.Once
}

func newConnQueue(addr net.Addr) *connQueue {
	return &connQueue{addr: addr, c: make(chan net.Conn), done: make(chan struct{})}
}

// put hands c to the queue's Accept, or closes it once the queue is closed.
func (q *connQueue) put(c net.Conn) {
	select {
	case q.c <- c:
	case <-q.done:
		_ = c.Close()
	}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.c:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.done) })
	return nil
}

func (q *connQueue) Addr() net.Addr { return q.addr }

// prefixConn is a connection whose first bytes were read already.
type prefixConn struct {
	net.Conn
	pending []byte
}

// Unwrap returns the connection under it, for the wrappers' lookups
// (connlimit's keep-alive of the h2c connection, PROXY protocol's
// addresses).
func (c *prefixConn) Unwrap() net.Conn { return c.Conn }

// HTTP2 reports true: the connection opened with the HTTP/2 preface
// (connlimit's keep-alive tells HTTP/2 connections by it).
func (c *prefixConn) HTTP2() bool { return true }

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// handOffH2C gives the connection, with the bytes read so far, to the h2c
// server: for the HTTP/1.x server it is hijacked (gone), and net/http's
// reports it new.
func (c *conn) handOffH2C() {
	pc := &prefixConn{Conn: c.rwc, pending: append([]byte(nil), c.Buf[c.R:c.W]...)}
	c.R = c.W
	c.hijacked = true
	c.setState(http.StateHijacked)
	_ = c.rwc.SetReadDeadline(time.Time{})
	c.handOverWriteDeadline()
	c.srv.h2c(pc)
}

// servePlainH2C is ServePlain's Weir server for a guard that takes h2c.
func servePlainH2C(name string, srv *http.Server, g *h1guard.Guard, ln net.Listener, wrap func(net.Listener) net.Listener, errc chan<- error) drain.Server {
	h1 := New(srv, g)
	q := newConnQueue(ln.Addr())
	h1.h2c = q.put
	return drain.ServeWith(name, srv, &plainServer{dualServer: dualServer{h1: h1, h2: srv}, q: q}, ln, wrap, errc)
}

package stream

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weir-lb/weir/l7/proxyproto"
)

// portPolicy is the PROXY protocol policy of a TCP port: its live
// Stream's first ":PROXY", trusted as the stream block's set_real_ip_from.
type portPolicy struct{ p *port }

func (pp portPolicy) UseProxyProtocol() bool {
	t := pp.p.target.Load()
	return t != nil && t.stream.DecodeProxyProtocol
}

func (pp portPolicy) TrustsProxy(peer netip.Addr) bool {
	t := pp.p.target.Load()
	return t != nil && t.settings.trusts(peer)
}

// proxyProtocolTimeout bounds the wait for a stream connection's PROXY
// header: nginx's proxy_protocol_timeout default in the stream block,
// which ingress-nginx leaves as is (the HTTP listeners wait for
// client_header_timeout, 60 s).
const proxyProtocolTimeout = 30 * time.Second

// HeaderTimeout is proxyProtocolTimeout (proxyproto.TimeoutPolicy).
func (pp portPolicy) HeaderTimeout() time.Duration { return proxyProtocolTimeout }

// serveTCP accepts on ln until it is closed.
func (srv *Server) serveTCP(p *port, raw net.Listener) {
	ln := proxyproto.Wrap(raw, portPolicy{p})
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and the like: wait as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			srv.log.Warn("accept on tcp stream port", "port", p.key.port, "error", err, "retry-in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		go srv.handleTCP(p.key, p.target.Load(), c)
	}
}

// tcpConn is an established TCP stream: the client's connection and, once
// dialled, the upstream's.
type tcpConn struct {
	mu       sync.Mutex
	client   net.Conn
	upstream net.Conn
	aborted  bool
}

func (c *tcpConn) abort() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.aborted = true
	c.client.Close()
	if c.upstream != nil {
		c.upstream.Close()
	}
}

// setUpstream records up; false when the connection was aborted meanwhile.
func (c *tcpConn) setUpstream(up net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.aborted {
		return false
	}
	c.upstream = up
	return true
}

// handleTCP forwards one client connection under t.
func (srv *Server) handleTCP(k key, t *target, client net.Conn) {
	tc := &tcpConn{client: client}
	if !srv.track(tc) {
		client.Close()
		return
	}
	defer srv.untrack(tc)
	defer client.Close()
	done := srv.metrics.opened(k, t)
	defer done()
	name := t.label()
	log := srv.log.With("protocol", k.proto, "port", k.port, "upstream", name)
	sess := &session{start: time.Now(), proto: "TCP", local: addrPort(unwrap(client).LocalAddr()), status: statusOK, name: name}
	defer func() {
		sess.client = addrPort(client.RemoteAddr()) // the PROXY header's, once read
		srv.logSession(t, sess)
	}()

	// A PROXY header is read before anything is dialled (nginx closes a
	// connection whose header is broken).
	if _, err := client.Read(nil); err != nil {
		sess.status = statusBadRequest
		srv.metrics.err(k, reasonProxyProtocol)
		log.Debug("stream connection closed: broken PROXY protocol header", "client", client.RemoteAddr().String(), "error", err)
		return
	}
	eps := t.order()
	if len(eps) == 0 {
		sess.status = statusBadGateway
		srv.metrics.err(k, reasonUnavailable)
		log.Debug("stream connection closed: no endpoints", "why", t.stream.Unavailable)
		return
	}
	up := srv.dial(k, t, eps, log)
	if up == nil {
		sess.status = statusBadGateway
		return
	}
	defer up.Close()
	sess.upstream = up.RemoteAddr().String()
	if !tc.setUpstream(up) {
		return
	}
	if t.stream.EncodeProxyProtocol {
		// As nginx's proxy_protocol on: the client address (the decoded
		// header's when trusted, as the realip module sets it) to the
		// address it connected to on this node.
		hdr := proxyproto.AppendV1(nil, addrPort(client.RemoteAddr()), addrPort(unwrap(client).LocalAddr()))
		n, err := up.Write(hdr)
		sess.upSent = int64(n)
		if err != nil {
			srv.metrics.err(k, reasonAborted)
			return
		}
	}
	in, out, err := pipe(client, up, t.settings.timeout)
	sess.received, sess.sent, sess.upSent, sess.upRecv = in, out, sess.upSent+in, out
	srv.metrics.addBytes(k, "in", in)
	srv.metrics.addBytes(k, "out", out)
	switch {
	case errors.Is(err, errIdle):
		srv.metrics.err(k, reasonIdle)
	case err != nil:
		srv.metrics.err(k, reasonAborted)
		log.Debug("stream connection aborted", "error", err)
	}
}

// dial connects to the first of eps that answers, as nginx's
// proxy_next_upstream: up to proxy-stream-next-upstream-tries endpoints
// (each tried once) within proxy-stream-next-upstream-timeout, each under
// the connect timeout; only one without proxy-stream-next-upstream. Nil
// means none answered.
func (srv *Server) dial(k key, t *target, eps []string, log interface {
	Debug(string, ...any)
}) net.Conn {
	tries := 1
	if t.settings.nextUpstream {
		tries = len(eps)
		if t.settings.nextUpstreamTries > 0 {
			tries = min(tries, t.settings.nextUpstreamTries)
		}
	}
	ctx := context.Background()
	if t.settings.nextUpstreamTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.settings.nextUpstreamTimeout)
		defer cancel()
	}
	d := net.Dialer{Timeout: srv.opts.ConnectTimeout}
	for _, ep := range eps[:tries] {
		up, err := d.DialContext(ctx, "tcp", ep)
		if err == nil {
			return up
		}
		srv.metrics.err(k, reasonConnect)
		log.Debug("stream upstream failed", "endpoint", ep, "error", err)
		if ctx.Err() != nil {
			break
		}
	}
	srv.metrics.err(k, reasonNoUpstream)
	return nil
}

// addrPort is the address of a, invalid when it is not an IP address.
func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// errIdle ends a stream silent for proxy-stream-timeout.
var errIdle = errors.New("stream idle for proxy-stream-timeout")

// copyBufs holds the buffers of pipe.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// pipe copies between client and up in both directions until both ended;
// an end of input (EOF) is passed on as a half-close, so each direction
// ends on its own. It returns the bytes copied from client to up (in) and
// back (out), and the first error other than an end of input: then both
// connections are closed at once. A stream is idle when neither direction
// moved a byte for timeout (nginx's proxy_timeout), measured within an
// eighth of it.
//
// The bytes go through a 32 KiB buffer, not splice(2): Go's splice path
// does not report the bytes it moved before a deadline, which the idle
// timeout and the byte counts need.
func pipe(client, up net.Conn, timeout time.Duration) (in, out int64, err error) {
	var last atomic.Int64 // unix nanoseconds of the last byte moved
	last.Store(time.Now().UnixNano())
	window := max(timeout/8, time.Millisecond)
	var errOnce sync.Once
	var first error
	fail := func(e error) {
		errOnce.Do(func() {
			first = e
			client.Close()
			up.Close()
		})
	}
	copyDir := func(dst, src net.Conn, n *int64) {
		bp := copyBufs.Get().(*[]byte)
		defer copyBufs.Put(bp)
		buf := *bp
		for {
			_ = src.SetReadDeadline(time.Now().Add(window))
			nr, rerr := src.Read(buf)
			if nr > 0 {
				last.Store(time.Now().UnixNano())
				_ = dst.SetWriteDeadline(time.Now().Add(timeout))
				nw, werr := dst.Write(buf[:nr])
				*n += int64(nw)
				if werr != nil {
					fail(werr)
					return
				}
				last.Store(time.Now().UnixNano())
			}
			switch {
			case rerr == nil:
			case errors.Is(rerr, io.EOF): // end of input: half-close
				_ = closeWrite(dst)
				return
			case errors.Is(rerr, os.ErrDeadlineExceeded):
				if time.Since(time.Unix(0, last.Load())) >= timeout {
					fail(errIdle)
					return
				}
			default:
				fail(rerr)
				return
			}
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		copyDir(up, client, &in)
	}()
	copyDir(client, up, &out)
	wg.Wait()
	return in, out, first
}

// closeWrite half-closes c (the TCP connection under a PROXY protocol
// wrapper).
func closeWrite(c net.Conn) error {
	if cw, ok := unwrap(c).(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}

// unwrap returns the accepted connection under a PROXY protocol wrapper.
func unwrap(c net.Conn) net.Conn {
	for {
		u, ok := c.(interface{ Unwrap() net.Conn })
		if !ok {
			return c
		}
		c = u.Unwrap()
	}
}

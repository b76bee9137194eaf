package h1server

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weir-lb/weir/l7/arena"
	"github.com/weir-lb/weir/l7/ctxval"
	"github.com/weir-lb/weir/l7/h1guard"
)

// writeTimeout bounds each write of an answer the server writes itself.
const writeTimeout = 10 * time.Second

// maxPostHandlerReadBytes is the most of an unread request body read to
// keep the connection (net/http's 256 KiB).
const maxPostHandlerReadBytes = 256 << 10

// aLongTimeAgo is a deadline in the past: it aborts a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// conn is one client connection and what it reuses from request to request.
//
// Its one-byte fields sit in the holes that alignment leaves (next to
// moving, busy and bgRunning) rather than each before a word, and the
// armed read's state and its wait's function are the session's: so laid
// out, a conn fits the 480-byte size class (TestConnSizeClass); one byte
// more would take 512, the largest whose objects with pointers the heap
// gives no 8-byte header, and past that 576.
type conn struct {
	srv    *Server
	rwc    net.Conn
	remote string
	ctx    context.Context // the connection's: server, local address, ConnContext
	local  ctxval.Node     // ctx's local address: no context.WithValue per connection

	state atomic.Int64 // http.ConnState<<32 | unix seconds of the change

	h1guard.Buffer               // read from the client, not consumed yet
	idle           idleWait      // how to wait for a request with no buffer (idle.go)
	waiting        atomic.Int32  // waitNone, waitServing, waitMoving (idle.go)
	moveMu         sync.Mutex    // held while move sets a deadline
	moving         bool          // readHead returns false: the idle wait moved
	fresh          bool          // accepted, not started yet: run starts it
	inq            bool          // TCP_INQ is on for the socket (armed.go)
	inqTried       bool          // TCP_INQ was asked for (once per connection)
	parkedAt       time.Duration // when it went to the poller (poller.go), on monoNow's clock
	epMode         uint8         // how its socket is in the poller's set: epNone, epPark, epWatch (poller.go)
	woke           bool          // the poller saw the socket readable
	busy           bool          // the last idle wait was shorter than busyGap
	armedNow       bool          // in an armed RawConn.Read: the socket's read lock is held (armed.go)
	ctxDone        bool          // the connection's context can be done: cancelCtx, not rctx
	// PeerAddr's memo (response.go): the text remote[peerLo:peerHi], the
	// address peer; peerSet, they are there.
	peerSet        bool
	peerLo, peerHi uint8
	peer           netip.Addr

	// What serving a request takes (session.go): held while the
	// connection serves, not while it waits on its waiter.
	*session

	// The background read, while the handler runs with the body read: it
	// notices a client that goes away.
	bgMu      sync.Mutex
	bgRead    func()   // backgroundRead; nil until the first
	bgTimer   *bgTimer // starts it after backgroundReadDelay; nil until the second request that asks
	bgArmed   bool     // a request's handler runs with its body read: bgTimer, or the Server's firstReads, is to start it
	bgRunning bool
	bgByte    [1]byte
	hijacked  bool  // (not of the background read: here for the layout)
	bgN       uint8 // bytes the background read read: 0 or 1
	bgListed  bool  // a request was listed with the Server's firstReads: the next take bgTimer
	// The poller's watch of armed requests (armed.go): bgWatchID, the
	// id of the connection's watch registration, kept for its life (0:
	// none yet); bgWatching, a request is watched now; bgHup, the
	// registration reported the client's close (or an error) once,
	// which it does not report again. The two flags sit in the hole
	// before bgDone.
	bgWatching bool
	bgHup      bool
	bgDone     chan struct{} // nil until the first background read
	bgErr      error
	bgWatchID  uint64

	tlsConn *tls.Conn // of a TLS connection; nil: plain
	werr    error     // the first write error

	// The write deadline (setWriteDeadline): wdlSet, a deadline is set on
	// rwc, wdlAt (UnixNano); wdlClear, it is to be cleared before the next
	// write or hand-over; wdlEager, rwc was handed over: clears are made at
	// once; wdlHooked, the layer under a *tls.Conn makes the clear before
	// crypto/tls's own writes (h1guard.WriteHookable); wdlDefer, a
	// deadline may be put off (sockwrite.go); wdlPend, one is put off
	// until a write would block, wdlDue on monoNow's clock, wdlDueAt
	// (UnixNano). wdlMu keeps them true to rwc when a handler sets
	// deadlines from two goroutines.
	wdlMu     sync.Mutex
	wdlSet    bool
	wdlEager  bool
	wdlHooked bool
	wdlDefer  bool
	wdlClear  atomic.Bool
	wdlPend   atomic.Bool
	slot      int32 // its index in srv.conns plus one; 0: not tracked (under srv.mu)
	wdlAt     int64
	wdlDue    time.Duration
	wdlDueAt  int64
}

// newConn returns the conn of rwc; its addresses are read by its goroutine
// (start), as a PROXY protocol connection reads its header for them.
func (s *Server) newConn(base context.Context, rwc net.Conn) *conn {
	c := &conn{srv: s, rwc: rwc, ctx: base, fresh: true}
	return c
}

// start sets up what the connection's requests share: the context (the
// local address, ConnContext's values), the client's address, the TLS state.
func (c *conn) start() {
	c.fresh = false
	ctx := c.local.Set(c.ctx, http.LocalAddrContextKey, c.rwc.LocalAddr())
	if cc := c.srv.cfg.ConnContext; cc != nil {
		ctx = cc(ctx, c.rwc)
	}
	c.ctx = ctx
	c.ctxDone = ctx.Done() != nil
	c.remote = addrString(c.rwc.RemoteAddr())
	c.idle.init(c)
	c.tlsConn, _ = c.rwc.(*tls.Conn)
	c.wdlDefer = c.idle.raw != nil && !c.idle.tlsProbe && c.tlsConn == nil
	if h, ok := c.idle.armer.(h1guard.WriteHookable); ok && c.tlsConn != nil {
		h.BeforeWrite(c.clearWriteDeadline)
		c.wdlHooked = true
	}
}

// cancel ends the context of the request being served, if any.
func (c *conn) cancel() {
	if c.session == nil {
		return
	}
	if c.rctx != nil {
		c.rctx.cancel()
	}
	if c.cancelCtx != nil {
		c.cancelCtx()
	}
}

// setState records st, with the time for StateNew only: closeIdle reads
// no other state's (a clock read fewer per request).
func (c *conn) setState(st http.ConnState) {
	var since int64
	if st == http.StateNew {
		since = time.Now().Unix() & (1<<32 - 1)
	}
	c.state.Store(int64(st)<<32 | since)
	if hook := c.srv.cfg.ConnState; hook != nil {
		hook(c.rwc, st)
	}
}

func (c *conn) loadState() (http.ConnState, int64) {
	v := c.state.Load()
	return http.ConnState(v >> 32), v & (1<<32 - 1)
}

// run serves request after request until the connection closes, is
// hijacked or must not be reused, or is handed to its waiter between two
// requests (idle.go). first: the connection is new.
func (c *conn) run(first bool) {
	parked := false
	defer func() {
		if parked {
			return
		}
		v := recover()
		if v != nil && v != http.ErrAbortHandler {
			buf := make([]byte, 64<<10)
			buf = buf[:runtime.Stack(buf, false)]
			c.srv.logf("http: panic serving %v: %v\n%s", c.remote, v, buf)
		}
		c.cancel() // a handler that panicked did not return
		if v != nil && !c.hijacked {
			// What it left unwritten, a head HeadSent composed included,
			// is no answer: the connection closes without it.
			c.resp.out = c.resp.out[:0]
		}
		c.end()
		if v == nil && !c.hijacked {
			// Else it is left to the collector with the connection: a
			// handler or a background read may still use it.
			c.putSession()
		}
	}()
	if first {
		c.start()
	}
	c.takeSession()
	for ; ; first = false {
		if !first && c.R == c.W && !c.woke && !c.busy && c.park() { // idle.go
			parked = true
			return
		}
		if !c.readHead(first) {
			if c.moving { // idle.go
				c.moving = false
				parked = true
				c.handOver()
			}
			return
		}
		if c.srv.closing.Load() {
			return
		}
		c.resp.takeBuffers()
		if !c.serveRequest() {
			return
		}
		c.forget() // idle.go
		if c.body.held {
			c.session = nil // left to the collector (reusable, session.go)
			c.takeSession()
		}
		c.setState(http.StateIdle)
		if !c.srv.keepAlives() {
			return
		}
		if c.R == c.W {
			c.Release()
		}
	}
}

// end closes the connection, unless it was hijacked, and forgets it.
func (c *conn) end() {
	c.srv.track(c, false)
	c.bgMu.Lock()
	c.bgArmed = false
	c.bgWatching = false // an armed request's handler panicked
	c.dropWatchLocked(false)
	if b := c.bgTimer; b != nil && (!b.pending || b.t.Stop()) {
		// No function of it runs or is due (bgTimer).
		b.pending = false
		c.bgTimer = nil
		b.handOn()
	}
	c.bgMu.Unlock()
	if !c.hijacked {
		_ = c.rwc.Close()
		c.setState(http.StateClosed)
	}
	c.Release()
}

// readHead reads and parses the next request head; it reports false when
// the connection is to close (the client left, a rejected head answered).
// The head must arrive within the guard's HeaderTimeout (ReadHeaderTimeout
// unless the live configuration sets client-header-timeout): from the accept for the
// connection's first (nginx's client_header_timeout), else from its first
// bytes (the wait before them is the keep-alive idle time).
func (c *conn) readHead(first bool) bool {
	if !first && c.armable() {
		return c.readArmed() // armed.go
	}
	lim := c.srv.guard.Limits()
	c.parser.Reset(lim)
	maxHead := lim.MaxHead()
	active, armed := false, false
	var deadline time.Time                                            // the read deadline armed, if any
	timeout := c.srv.guard.HeaderTimeout(c.srv.cfg.ReadHeaderTimeout) // client-header-timeout, live
	// lazy: the first head's deadline is set only before a read that may
	// wait (readFirst's wait, a Fill, an incomplete head): a head that is
	// there whole at the first read sets and clears none (a poller
	// deadline and a timer each).
	// Its clock is read then too: the connection's first read follows
	// the accept within microseconds, and a head there whole reads none.
	lazy := false
	if d := timeout; d > 0 && first {
		if c.idle.raw != nil && !c.idle.tlsProbe && c.R == c.W {
			lazy = true
			c.idle.headTimeout = d
		} else {
			deadline = time.Now().Add(d) // from the accept, as nginx's
			_ = c.rwc.SetReadDeadline(deadline)
			armed = true
		}
	}
	defer func() {
		if lazy {
			c.idle.headTimeout = 0
			armed = armed || c.idle.headArmed
			c.idle.headArmed = false
		}
		if armed {
			_ = c.rwc.SetReadDeadline(time.Time{})
		}
	}()
	// armLazy sets the first head's deadline put off, before a read that
	// may wait.
	armLazy := func() {
		if lazy && !armed && !c.idle.headArmed {
			_ = c.rwc.SetReadDeadline(time.Now().Add(timeout))
			armed = true
		}
	}
	for {
		if c.R < c.W {
			if first && c.srv.h2c != nil && c.tlsConn == nil && c.srv.guard.TakesH2C() {
				if complete, prefix := h1guard.H2CPreface(c.Buf[c.R:c.W]); complete {
					// net/http's server sets its own deadlines now.
					armed, lazy = false, false
					c.idle.headArmed, c.idle.headTimeout = false, 0
					c.handOffH2C() // h2c.go
					return false
				} else if prefix {
					armLazy()
					if err := c.Fill(c.rwc, maxHead+1); err != nil {
						return false
					}
					continue
				}
			}
			if !active {
				active = true
				c.setState(http.StateActive)
			}
			done, err := c.parser.Feed(c.Buf[c.R:c.W])
			if err != nil {
				c.reject(err.(*h1guard.Reject), c.Buf[c.R:c.W])
				return false
			}
			if done {
				return true
			}
			if d := timeout; d > 0 && !armed {
				// The head is not all there: client_header_timeout runs
				// (a head read whole at once arms no timer), from the
				// accept for the first.
				if lazy {
					armLazy()
				} else {
					deadline = time.Now().Add(d)
					_ = c.rwc.SetReadDeadline(deadline)
					armed = true
				}
			}
		}
		if c.R == c.W && !c.woke {
			// Nothing pending: wait without a buffer (idle.go).
			if err := c.waitIdle(deadline, !first); err != nil {
				c.moving = err == errMove
				return false // nothing of a head came: no line
			}
			if c.R < c.W {
				continue
			}
		}
		c.woke = false
		armLazy()
		if err := c.Fill(c.rwc, maxHead+1); err != nil {
			c.unfinished(err, timeout)
			return false
		}
	}
}

// addrString is a.String(), with one allocation where a is a
// *net.TCPAddr (net's takes three).
func addrString(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok || ta.Zone != "" {
		return a.String()
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok || ta.Port < 0 || ta.Port > 0xffff {
		return a.String()
	}
	// net.IP.String writes an IPv4-mapped address as IPv4.
	return netip.AddrPortFrom(ip.Unmap(), uint16(ta.Port)).String()
}

// reject answers a head that broke a rule with nginx's status and page,
// logs it (the guard's LogRefusal: the access log) and closes the
// connection lingering, as h1guard does. head is the request's bytes
// from its first on, as far as they were read.
func (c *conn) reject(rej *h1guard.Reject, head []byte) {
	c.srv.guard.Rejected(c.remote, rej)
	headOnly := false
	if m := c.parser.Method(); m.Len > 0 && c.R+m.Off+m.Len <= c.W {
		headOnly = string(m.Of(c.Buf[c.R:c.W])) == http.MethodHead
	}
	now := time.Now()
	p := h1guard.Response(rej, now, headOnly)
	_ = c.setWriteDeadline(now.Add(writeTimeout))
	n64, err := c.write(p, nil)
	n := int(n64)
	if c.srv.guard.LogsRefusals() {
		rf := c.refusal(rej.Status, head, now)
		rf.Reject = rej
		rf.Answered(p, n)
		c.srv.guard.LogRefusal(rf)
	}
	if err == nil {
		// Drain what the client still sends for a while, so that the
		// close does not reset the connection before it read p.
		c.linger()
	}
}

// refusal is the Refusal of the request whose bytes so far are head.
func (c *conn) refusal(status int, head []byte, start time.Time) *h1guard.Refusal {
	rf := &h1guard.Refusal{Status: status, Head: head, Start: start, TLS: c.tlsConn != nil}
	if rf.TLS {
		rf.ServerName = c.tlsState.ServerName
	}
	rf.Remote, rf.Local = h1guard.PeerAddrs(c.rwc)
	return rf
}

// unfinished logs the request whose head the client began and did not
// finish, the read ending with err: as nginx, 408 when its time ran out
// (client_header_timeout, timeout), 400 when it left; no answer is sent.
// A connection that sent nothing of a request has no line, nor one that
// the server closes.
func (c *conn) unfinished(err error, timeout time.Duration) {
	if c.R >= c.W || c.srv.closing.Load() || !c.srv.guard.LogsRefusals() {
		return
	}
	status, start := h1guard.UnfinishedStatus(err), time.Now()
	if status == http.StatusRequestTimeout {
		start = start.Add(-timeout)
	}
	c.srv.guard.LogRefusal(c.refusal(status, c.Buf[c.R:c.W], start))
}

// setWriteDeadline sets rwc's write deadline. A write deadline only bounds
// writes, so a clear waits for the next write or hand-over
// (clearWriteDeadline), and is dropped when a new deadline comes first: a
// request ends with its deadline cleared, and the next one, proxied, clears
// it again as it starts (l7/proxy: a deadline of the last request must not
// cut this one) then sets its own before it writes; the two clears cost a
// poller deadline and a timer operation each. On a TLS connection a read
// may write too (crypto/tls answers a KeyUpdate): the layer under the
// *tls.Conn makes the clear before such a write (wdlHooked); without that
// layer a clear is made at once, as on a connection handed over, which its
// new owner writes. A clear put off returns nil: the error of the clear
// made later is the write's.
//
// A deadline no more than lazyWriteDeadline after the one set, which has
// not passed (it was not cleared), is not set: the earlier one stays, as
// nginx keeps an event's timer when the new one differs by less than its
// NGX_TIMER_LAZY_DELAY (300 ms). Back-to-back requests on a connection
// then re-arm the poller's timer about once per lazyWriteDeadline instead
// of once each. Every write runs under the deadline last asked for, at most
// lazyWriteDeadline earlier, or none; never a later one.
//
// A deadline of a connection's first request asked for while none is set
// is put off, on a plain socket, until a write would block (sockwrite.go),
// as nginx arms its send timer: a write that does not wait, before the
// deadline, runs under none.
func (c *conn) setWriteDeadline(t time.Time) error {
	c.wdlMu.Lock()
	defer c.wdlMu.Unlock()
	if t.IsZero() {
		if c.wdlDefer { // else none is put off
			c.wdlPend.Store(false)
		}
		if !c.wdlSet {
			return nil
		}
		if (c.tlsConn == nil || c.wdlHooked) && !c.wdlEager {
			c.wdlClear.Store(true)
			return nil
		}
		return c.clearWriteDeadlineLocked()
	}
	c.wdlClear.Store(false)
	at := t.UnixNano()
	if c.wdlSet && !c.wdlEager && at >= c.wdlAt && at-c.wdlAt < int64(lazyWriteDeadline) {
		return nil
	}
	if c.wdlDefer {
		if !c.wdlSet && !c.wdlEager {
			// Until a write would block (sockwrite.go).
			c.wdlPend.Store(true)
			c.wdlDue, c.wdlDueAt = monoOf(t), at
			return nil
		}
		c.wdlPend.Store(false)
	}
	c.wdlSet, c.wdlAt = true, at
	return c.rwc.SetWriteDeadline(t)
}

// lazyWriteDeadline is how much later than the deadline set a new write
// deadline may be and not be set (setWriteDeadline): nginx's
// NGX_TIMER_LAZY_DELAY (ngx_event_timer.h), 300 ms, within which
// ngx_event_add_timer keeps an event's timer. Timeouts of writes count in
// seconds (send-timeout and the like).
const lazyWriteDeadline = 300 * time.Millisecond

// clearWriteDeadline makes the clear setWriteDeadline put off, before each
// write to rwc.
func (c *conn) clearWriteDeadline() {
	if !c.wdlClear.Load() {
		return
	}
	c.wdlMu.Lock()
	defer c.wdlMu.Unlock()
	if c.wdlClear.Load() {
		_ = c.clearWriteDeadlineLocked()
	}
}

// handOverWriteDeadline makes the clear put off before rwc is handed over
// (hijack, h2c); from then on clears are made at once.
func (c *conn) handOverWriteDeadline() {
	c.wdlMu.Lock()
	defer c.wdlMu.Unlock()
	c.wdlEager = true
	if c.wdlPend.Load() {
		c.setPendingLocked()
	}
	if c.wdlClear.Load() {
		_ = c.clearWriteDeadlineLocked()
	}
}

// clearWriteDeadlineLocked clears rwc's write deadline; wdlMu is held.
func (c *conn) clearWriteDeadlineLocked() error {
	c.wdlClear.Store(false)
	c.wdlSet = false
	return c.rwc.SetWriteDeadline(time.Time{})
}

// linger is nginx's lingering close after an answer that ends the
// connection: the write side is shut and what the client still sends is
// read away, each wait at most discardTimeout (lingering_timeout, 5 s) and
// all of it within discardTime (lingering_time, 30 s), however many bytes,
// so that a client still sending a large body (over proxy-body-size, say)
// reads the answer instead of a reset.
func (c *conn) linger() {
	if c.armedNow {
		// The armed read holds the socket's read lock: readArmed
		// lingers once it returned.
		c.armed.linger = true
		return
	}
	if cw, ok := c.rwc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	end := time.Now().Add(discardTime)
	var b [4096]byte
	for {
		_ = c.rwc.SetReadDeadline(discardDeadline(end))
		if _, err := c.rwc.Read(b[:]); err != nil {
			return
		}
	}
}

// Methods without an allocation for their string.
var methods = [...]string{http.MethodGet, http.MethodPost, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions, http.MethodPatch}

var chunkedTE = []string{"chunked"}

// serveRequest builds the request of the parsed head, runs the handler and
// finishes the response; it reports whether the connection serves another
// request.
func (c *conn) serveRequest() bool {
	h := c.parser.Head()
	raw := c.Buf[c.R+h.Start : c.R+h.End]
	// One string for the whole head: the method, target and header fields
	// are its substrings. It and the field values' slice come from an
	// append-only arena (l7/arena): no allocation of their own.
	a := arena.Get()
	head := a.String(raw)
	off := h.Start
	method := head[h.Method.Off-off : h.Method.Off-off+h.Method.Len]
	for _, m := range methods {
		if m == method {
			method = m
			break
		}
	}
	target := head[h.Target.Off-off : h.Target.Off-off+h.Target.Len]
	c.R += h.End
	c.headLen = int64(h.End - h.Start)

	hdr := c.header
	clear(hdr)
	// An origin-form target ("/..." ) has no host of its own, so its Host
	// lines would be removed from the header below: they are not put in.
	origin := target != "" && target[0] == '/'
	noted, host := c.fields(head, h.Fields, a, origin)
	arena.Put(a)

	req := &c.req
	c.requestBase(req)
	req.Method = method
	req.Proto = "HTTP/1.1"
	req.ProtoMajor, req.ProtoMinor = 1, h.Minor
	req.Header = hdr
	req.RequestURI = target
	req.RemoteAddr = c.remote
	req.Body = http.NoBody
	if c.tlsConn != nil {
		req.TLS = &c.tlsState
	}
	switch h.Minor {
	case 0:
		req.Proto = "HTTP/1.0"
	case 1:
	default: // HTTP/1.2 and on are served as 1.1, named as sent
		req.Proto = "HTTP/1." + string(rune('0'+h.Minor))
	}
	u, err := c.parseURL(target)
	if err != nil {
		c.reject(h1guard.RejectTarget, raw)
		return false
	}
	req.URL = u
	req.Host = u.Host
	if noted&notedHost != 0 {
		// An absolute-form target's host is the request's, which routes
		// it, as nginx picks the server by the request line's host; its
		// Host line stays in the header, for the access log's $http_host
		// (the upstream gets the target's host). net/http drops that
		// line.
		if req.Host == "" {
			req.Host = host
			if !origin { // an origin form's Host lines were never put in
				delete(hdr, "Host")
			}
		}
	}
	if noted&notedPragma != 0 {
		if pragma := hdr["Pragma"]; pragma[0] == "no-cache" {
			if _, ok := hdr["Cache-Control"]; !ok {
				hdr["Cache-Control"] = []string{"no-cache"}
			}
		}
	}
	var conn []string
	if noted&notedConnection != 0 {
		conn = hdr["Connection"]
	}
	wantsClose, keepAlive := connectionType(conn)
	keepAlive10 := h.Minor == 0 && keepAlive
	req.Close = wantsClose || h.Minor == 0 && !keepAlive10

	c.body.reset()
	switch {
	case h.Chunked:
		req.ContentLength = -1
		req.TransferEncoding = chunkedTE
		delete(hdr, "Transfer-Encoding") // as net/http: the field is in TransferEncoding
		c.body.chunked = true
		tr, ok := declaredTrailers(hdr)
		if !ok {
			c.reject(h1guard.RejectTrailer, raw)
			return false
		}
		req.Trailer = tr
		req.Body = &c.body
		c.body.given = true
	case h.ContentLength > 0:
		req.ContentLength = h.ContentLength
		c.body.remain = h.ContentLength
		req.Body = &c.body
		c.body.given = true
	default:
		c.body.eof = true
	}
	// An expectation other than 100-continue is ignored, as nginx's
	// ngx_http_test_expect ignores it (net/http answers 417).
	if noted&notedExpect != 0 && strings.EqualFold(hdr["Expect"][0], "100-continue") {
		c.body.expect = h.Minor >= 1 && req.ContentLength != 0
	}

	r := req // its context is the connection's reqContext (requestBase)
	if c.ctxDone {
		var ctx context.Context
		ctx, c.cancelCtx = context.WithCancel(c.ctx)
		r = req.WithContext(ctx)
	}
	w := &c.resp
	w.reset(req, wantsClose, keepAlive10)
	if c.body.eof {
		c.startBackgroundReadSoon()
	}
	w.req = r
	c.srv.cfg.Handler.ServeHTTP(w, r)
	c.armed.start = time.Time{} // the next request's is its own wake's
	if c.body.given {
		c.body.mu.Lock()
		c.body.held = !c.body.eof // session.go
		c.body.mu.Unlock()
	}
	c.cancel()
	c.stopBackgroundRead()
	if c.hijacked {
		return false
	}
	w.finish()
	if c.wdlDefer {
		c.endDefer() // sockwrite.go
	}
	_ = c.setWriteDeadline(time.Time{})
	c.body.mu.Lock()
	c.body.closed = true
	unread := !c.body.eof
	c.body.mu.Unlock()
	if c.werr != nil || c.bgErr != nil {
		return false
	}
	if unread && !w.closeAfter && c.srv.keepAlives() {
		// The response is out: the rest of the body is read away, under
		// its timeouts, so that the connection serves the next request.
		unread = !c.body.discard(maxPostHandlerReadBytes)
	}
	if unread {
		// The rest of the body would be taken for the next request.
		c.linger()
		return false
	}
	return !w.closeAfter
}

// requestBase sets req to the zero Request a request starts from. Its
// context is the connection's reqContext: the previous request's, reset,
// unless someone took that one's Done channel (and may still wait on it
// or hold it): then a new one, in a Request made for it (two allocations,
// on the connection's first request and after such a request only). With
// ctxDone it has no context: serveRequest derives one per request. req is
// set in place: a Request returned by value was copied three times (304
// bytes each, some 100 instructions more under callgrind).
func (c *conn) requestBase(req *http.Request) {
	if c.ctxDone {
		*req = http.Request{}
		return
	}
	if c.rctx == nil || !c.rctx.reset(c.ctx) {
		c.rctx = newReqContext(c.ctx)
		c.base = *new(http.Request).WithContext(c.rctx)
	}
	*req = c.base
}

// Fields serveRequest asks about, which fields notes as it meets them so
// that a request without them costs no lookup of their names (most have
// only Host).
const (
	notedHost uint8 = 1 << iota
	notedPragma
	notedConnection
	notedExpect
)

// fields fills c.header from the validated head's n field lines, values
// and canonical names as substrings of head when they can be, the values'
// slices from a. It returns which of the noted fields the head has, and
// the first Host line's value. skipHost leaves the Host lines out of
// c.header (an origin-form request's, which serveRequest would delete:
// one map assignment and one delete a request fewer).
func (c *conn) fields(head string, n int, a *arena.Arena, skipHost bool) (noted uint8, host string) {
	vals := a.Strings(n)
	hdr := c.header
	i := strings.IndexByte(head, '\n') + 1
	for k := 0; i < len(head); k++ {
		j := strings.IndexByte(head[i:], '\n')
		line := head[i : i+j]
		i += j + 1
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			break
		}
		colon := strings.IndexByte(line, ':')
		name := line[:colon]
		if !h1guard.IsCanonicalToken(name) { // the parser took only tokens
			// Built in the arena: CanonicalHeaderKey would allocate
			// it (Chrome's sec-ch-ua fields come in lower case).
			var buf [64]byte
			name = a.String(h1guard.AppendCanonical(buf[:0], name))
		}
		v := strings.Trim(line[colon+1:], " \t")
		switch name {
		case "Host":
			if noted&notedHost == 0 {
				host = v
			}
			noted |= notedHost
			if skipHost {
				continue
			}
		case "Pragma":
			noted |= notedPragma
		case "Connection":
			noted |= notedConnection
		case "Expect":
			noted |= notedExpect
		}
		if k >= len(vals) {
			hdr[name] = append(hdr[name], v)
			continue
		}
		vals[k] = v
		if old, ok := hdr[name]; ok {
			hdr[name] = append(old, v)
		} else {
			hdr[name] = vals[k : k+1 : k+1]
		}
	}
	return noted, host
}

// parseURL parses the request target as net/http does
// (url.ParseRequestURI), into the connection's url.URL for an origin form
// whose path url.URL would not escape (no RawPath).
func (c *conn) parseURL(target string) (*url.URL, error) {
	if target == "" || target[0] != '/' || strings.HasPrefix(target, "//") {
		return url.ParseRequestURI(target)
	}
	for i := 0; i < len(target) && target[i] != '?'; i++ {
		if b := target[i]; b >= 0x80 || !plainPathByte[b] {
			return url.ParseRequestURI(target)
		}
	}
	c.url = url.URL{}
	if strings.HasSuffix(target, "?") && strings.Count(target, "?") == 1 {
		c.url.ForceQuery = true
		c.url.Path = target[:len(target)-1]
	} else {
		c.url.Path, c.url.RawQuery, _ = strings.Cut(target, "?")
	}
	return &c.url, nil
}

// PlainPath reports whether every byte of path is one url.URL leaves
// unescaped in a path (plainPathByte), so that a url.URL with that Path
// and no RawPath gives it back as it is from EscapedPath; false for "".
func PlainPath(path string) bool {
	for i := 0; i < len(path); i++ {
		if b := path[i]; b >= 0x80 || !plainPathByte[b] {
			return false
		}
	}
	return path != ""
}

// plainPathByte are the bytes url.URL leaves unescaped in a path.
var plainPathByte = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-32] = true, true
	}
	for _, c := range "-_.~/$&+,:;=@" {
		t[c] = true
	}
	return t
}()

// hasToken reports whether the comma-separated values hold token, case
// insensitively.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.Trim(part, " \t"), token) {
				return true
			}
		}
	}
	return false
}

// connectionType reads the request's Connection lines as nginx 1.22's
// ngx_http_process_connection does: a line holding "close" anywhere, in
// any case, asks to close the connection, else one holding "keep-alive"
// to keep it; the last line holding either decides. So "Connection:
// closed" closes and "Connection: close" then "Connection: keep-alive"
// keeps the connection, where tokens (net/http) would read both the other
// way.
func connectionType(values []string) (close, keepAlive bool) {
	for _, v := range values {
		switch {
		case containsFold(v, "close"):
			close, keepAlive = true, false
		case containsFold(v, "keep-alive"):
			close, keepAlive = false, true
		}
	}
	return close, keepAlive
}

// containsFold reports whether s holds lower (lower-case ASCII) in any
// case, as nginx's ngx_strcasestrn.
func containsFold(s, lower string) bool {
	for i := 0; i+len(lower) <= len(s); i++ {
		j := 0
		for j < len(lower) && toLower(s[i+j]) == lower[j] {
			j++
		}
		if j == len(lower) {
			return true
		}
	}
	return false
}

// toLower is c in lower case if it is an ASCII letter.
func toLower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// declaredTrailers is the Trailer map of a chunked request: the names its
// Trailer header declares, with no values yet; the header field goes, as
// net/http's. A name that may not be a trailer makes it not ok (400).
func declaredTrailers(hdr http.Header) (http.Header, bool) {
	vv := hdr["Trailer"]
	if len(vv) == 0 {
		return nil, true
	}
	delete(hdr, "Trailer")
	t := http.Header{}
	for _, v := range vv {
		for part := range strings.SplitSeq(v, ",") {
			k := http.CanonicalHeaderKey(strings.Trim(part, " \t"))
			switch k {
			case "":
			case "Transfer-Encoding", "Trailer", "Content-Length":
				return nil, false
			default:
				t[k] = nil
			}
		}
	}
	return t, true
}

// backgroundReadDelay is how long a handler without a body to read runs
// before the background read starts: a request answered sooner costs no
// read, goroutine or aborted read (and that read's error allocation); a
// client that leaves is noticed that much later at worst. 10 ms, not less:
// on a loaded core a request waits for its upstream's answer behind the
// other connections' work, past a millisecond for many requests, and a read
// started for each of them cost the core most when it had least to spare.
const backgroundReadDelay = 10 * time.Millisecond

// startBackgroundReadSoon starts the background read once the handler has
// run for backgroundReadDelay, unless the request ended before
// (stopBackgroundRead).
//
// The first request of a connection that asks is listed with the Server's
// firstReads, whose one timer starts the reads of the requests that still
// run backgroundReadDelay to twice that after they were listed: a
// connection that serves one request (the bench's close scenario) arms and
// stops no timer of its own. A later request uses the connection's own
// timer, bgTimer.
//
// That timer is armed only when it is not armed already: back-to-back
// requests on a connection leave it running, and when it fires it starts
// the read if the request it was armed for still runs, or re-arms it for
// the request that runs now (which started less than backgroundReadDelay
// ago), or, with none running, is left until the next request arms it: a
// timer that only moves later is left and checked when it fires, as nginx
// keeps a timer within its NGX_TIMER_LAZY_DELAY (ngx_event_timer.h). A
// request's read then starts backgroundReadDelay to twice that after the
// request did, and a busy connection's timer costs a function run per
// backgroundReadDelay instead of a Reset and a Stop per request.
func (c *conn) startBackgroundReadSoon() {
	c.bgMu.Lock()
	c.bgArmed = true
	if b := c.bgTimer; b != nil {
		b.seq++
		if !b.pending {
			b.pending, b.armedFor = true, b.seq
			b.t.Reset(backgroundReadDelay)
		}
	} else if !c.bgListed {
		c.bgListed = true
		c.srv.firstReads.add(c)
	} else {
		c.bgTimer = takeBgTimer(c)
	}
	c.bgMu.Unlock()
}

// firstReads starts the background reads of connections' first requests
// that asked for one (startBackgroundReadSoon) with one timer for all of
// them, armed while some are listed. A request is listed in cur; each time
// the timer fires, old's requests, listed backgroundReadDelay ago or more,
// have their reads started if they still run, and cur becomes old. A
// request that ends is not taken off the list: the timer finds it ended.
type firstReads struct {
	mu    sync.Mutex
	t     *time.Timer // nil until the first request is listed
	armed bool
	cur   []*conn
	old   []*conn
	spare []*conn // the slice the timer's function last went through, for cur
}

// add lists c's request. The caller holds c.bgMu.
func (f *firstReads) add(c *conn) {
	f.mu.Lock()
	f.cur = append(f.cur, c)
	if !f.armed {
		f.armed = true
		if f.t == nil {
			f.t = time.AfterFunc(backgroundReadDelay, f.due)
		} else {
			f.t.Reset(backgroundReadDelay)
		}
	}
	f.mu.Unlock()
}

// due runs on f.t: it starts the reads of the requests listed before its
// last run that still run, and re-arms the timer while any are listed.
func (f *firstReads) due() {
	f.mu.Lock()
	due := f.old
	f.old, f.cur, f.spare = f.cur, f.spare[:0], nil
	if len(f.old) > 0 {
		f.t.Reset(backgroundReadDelay)
	} else {
		f.armed = false
	}
	f.mu.Unlock()
	for _, c := range due {
		c.bgMu.Lock()
		// A connection whose bgTimer is set has ended its listed request
		// (the next took the timer); one with bgArmed false, too.
		if c.bgArmed && c.bgTimer == nil {
			c.bgArmed = false
			c.startBackgroundReadLocked()
		}
		c.bgMu.Unlock()
	}
	clear(due)
	f.mu.Lock()
	if f.spare == nil {
		f.spare = due[:0]
	}
	f.mu.Unlock()
}

// bgTimer is a connection's timer of startBackgroundReadSoon, taken by its
// second request that asks for a background read (the first is listed with
// the Server's firstReads). An ended connection hands it on to another
// (bgTimers), so that a connection allocates no timer and no func for it,
// but only
// when no function of it runs or is due: it is not armed (pending false:
// the last function run decided so, under the connection's bgMu, and does
// nothing more but return), or its arming was stopped in time
// (time.Timer.Stop returned true). An AfterFunc's function runs on a
// goroutine of its own that Stop does not wait for: a timer handed on
// with such a function on its way would load the next connection from c
// and start its background read out of turn. The pool holds the only
// reference to a timer handed on, and the next connection's Reset is what
// starts its function next, for that connection (c is stored before).
type bgTimer struct {
	t *time.Timer
	c atomic.Pointer[conn] // whose background read it starts; nil in bgTimers

	// Under the connection's bgMu:
	pending  bool   // armed, or fired and its function not done deciding
	seq      uint64 // the requests that asked for a background read
	armedFor uint64 // seq when it was armed last
}

// bgTimers holds the timers handed on by ended connections, stopped.
var bgTimers sync.Pool

// takeBgTimer returns a timer armed to call c.backgroundReadDue after
// backgroundReadDelay for c's request: one of bgTimers, or a new one.
func takeBgTimer(c *conn) *bgTimer {
	if b, ok := bgTimers.Get().(*bgTimer); ok {
		b.c.Store(c)
		b.pending, b.seq, b.armedFor = true, 1, 1
		b.t.Reset(backgroundReadDelay)
		return b
	}
	b := &bgTimer{pending: true, seq: 1, armedFor: 1}
	b.c.Store(c)
	b.t = time.AfterFunc(backgroundReadDelay, b.due)
	return b
}

// due runs on b.t.
func (b *bgTimer) due() {
	if h := testHookBgDue.Load(); h != nil {
		(*h)(b)
	}
	if c := b.c.Load(); c != nil {
		c.backgroundReadDue()
	}
}

// testHookBgDue, set by a test, is called as a bgTimer's function starts
// (atomic: timers of earlier tests may still fire).
var testHookBgDue atomic.Pointer[func(b *bgTimer)]

// handOn gives b, whose function does not run and is not due, to
// bgTimers; its connection has ended and lets go of it.
func (b *bgTimer) handOn() {
	b.c.Store(nil) // the pool does not keep the ended connection
	bgTimers.Put(b)
}

// backgroundReadDue runs on bgTimer: it starts the background read of the
// request the timer was armed for, if it still runs; re-arms the timer for
// a later request that runs; or leaves it, with no request running.
func (c *conn) backgroundReadDue() {
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	b := c.bgTimer
	if b == nil || !b.pending {
		return
	}
	switch {
	case !c.bgArmed:
		b.pending = false // the request ended first; the next arms it
	case b.seq != b.armedFor:
		b.armedFor = b.seq
		b.t.Reset(backgroundReadDelay)
	default:
		b.pending = false
		c.bgArmed = false
		c.startBackgroundReadLocked()
	}
}

// startBackgroundRead reads the client's next byte while the handler runs,
// so that a client that closes cancels the request's context.
func (c *conn) startBackgroundRead() {
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	c.startBackgroundReadLocked()
}

func (c *conn) startBackgroundReadLocked() {
	if c.bgRunning || c.hijacked || c.bgN > 0 || c.bgErr != nil {
		return
	}
	if c.armedNow {
		// The socket's read lock is held by the armed read: the
		// Server's poller watches the socket instead (armed.go).
		c.watchLocked()
		return
	}
	c.bgRunning = true
	if c.bgRead == nil { // made once per connection, with its first read
		c.bgRead = c.backgroundRead
		c.bgDone = make(chan struct{}, 1)
	}
	go c.bgRead() // a func value made once: no closure per request
}

func (c *conn) backgroundRead() {
	n, err := c.rwc.Read(c.bgByte[:])
	if n == 0 && err != nil {
		if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			c.bgErr = err
			c.cancel()
		}
	}
	c.bgN = uint8(n)
	c.bgDone <- struct{}{}
}

// stopBackgroundRead cancels a background read not started yet, or aborts
// it and keeps the byte it read.
func (c *conn) stopBackgroundRead() {
	// The timer is left armed (startBackgroundReadSoon): its function
	// finds bgArmed false, or set by a later request.
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	c.bgArmed = false
	if c.bgWatching {
		c.bgWatching = false // a watch of an armed request (armed.go)
		return
	}
	if !c.bgRunning {
		return
	}
	c.bgRunning = false
	_ = c.rwc.SetReadDeadline(aLongTimeAgo)
	<-c.bgDone
	_ = c.rwc.SetReadDeadline(time.Time{})
	if c.bgN > 0 {
		c.Append(c.bgByte[0])
		c.bgN = 0
	}
}

// hijack hands the connection over: the bytes buffered and the connection.
func (c *conn) hijack() (net.Conn, *bufio.ReadWriter, error) {
	if c.hijacked {
		return nil, nil, http.ErrHijacked
	}
	if c.armedNow {
		return nil, nil, errArmedHijack
	}
	c.stopBackgroundRead()
	c.bgMu.Lock()
	c.dropWatchLocked(true) // the new owner's socket leaves the poller's set
	c.bgMu.Unlock()
	c.hijacked = true
	c.srv.track(c, false)
	c.setState(http.StateHijacked)
	var rd io.Reader = c.rwc
	if c.R < c.W {
		rd = io.MultiReader(strings.NewReader(string(c.Buf[c.R:c.W])), c.rwc)
	}
	c.Release()
	c.handOverWriteDeadline() // the new owner gets the deadline last asked for, or none
	return c.rwc, bufio.NewReadWriter(bufio.NewReader(rd), bufio.NewWriter(c.rwc)), nil
}

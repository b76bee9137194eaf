package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"time"

	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// The proxy timeouts have nginx's meaning and are applied per request from
// the route's annotations:
//
//   - connect bounds the dial of a new upstream connection
//     (proxy_connect_timeout);
//   - send bounds each wait of a write of the request body to the upstream
//     (proxy_send_timeout);
//   - read bounds the wait for the response header once the request is
//     written, then each wait for more of the response body
//     (proxy_read_timeout).
//
// Expiry cancels the upstream request with one of these causes; before the
// response header that is a 504, after it the client connection is aborted.
var (
	errConnectTimeout = errors.New("upstream connect timeout")
	errSendTimeout    = errors.New("upstream send timeout")
	errReadTimeout    = errors.New("upstream read timeout")
)

// timeouts are the proxy timeouts of one route.
type timeouts struct {
	connect, send, read time.Duration
}

// timeoutsOf returns the timeouts of be; a zero or negative annotation
// takes the annotation's default (annotations.DefaultProxy).
func timeoutsOf(be *snapshot.Backend) timeouts {
	def := annotations.DefaultProxy()
	sec := func(v, d int) time.Duration {
		if v <= 0 {
			v = d
		}
		return time.Duration(v) * time.Second
	}
	return timeouts{
		connect: sec(be.Proxy.ConnectTimeoutSeconds, def.ConnectTimeoutSeconds),
		send:    sec(be.Proxy.SendTimeoutSeconds, def.SendTimeoutSeconds),
		read:    sec(be.Proxy.ReadTimeoutSeconds, def.ReadTimeoutSeconds),
	}
}

// dialer dials upstream connections with the connect timeout of the request
// that asked for the connection.
type dialer struct {
	keepAlive time.Duration
}

// dialError is a failure to connect to an upstream.
type dialError struct {
	addr string
	err  error
}

func (e *dialError) Error() string { return "dial upstream " + e.addr + ": " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// DialContext dials addr within the connect timeout of the exchange in ctx
// (the default connect timeout without one). http.Transport passes the
// request's context values, not its cancellation, to the dial.
func (d dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	timeout := time.Duration(annotations.DefaultProxy().ConnectTimeoutSeconds) * time.Second
	if ex := exchangeFrom(ctx); ex != nil {
		timeout = ex.timeouts.connect
	}
	nd := net.Dialer{Timeout: timeout, KeepAlive: d.keepAlive}
	c, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			err = fmt.Errorf("%w: %w", errConnectTimeout, err)
		}
		return nil, &dialError{addr: addr, err: err}
	}
	return c, nil
}

// timeoutTransport applies the send and read timeouts of the request's
// exchange around the shared http.Transport.
type timeoutTransport struct {
	base http.RoundTripper
}

// RoundTrip sends req with its send and read timeouts armed. When one
// expires, the returned error (or the response body's read error) wraps
// errSendTimeout or errReadTimeout.
func (t *timeoutTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ex := exchangeFrom(req.Context())
	if ex == nil {
		return t.base.RoundTrip(req)
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	send := newWatchdog(ex.timeouts.send, cancel, errSendTimeout)
	read := newWatchdog(ex.timeouts.read, cancel, errReadTimeout)
	header := &headerWait{read: read}
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: header.wroteRequest,
	})
	out := req.WithContext(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		out.Body = &sendBody{rc: req.Body, send: send, ex: ex}
	}
	resp, err := t.base.RoundTrip(out)
	header.gotResponse()
	// The body may still be written after an early response; it is no
	// longer the upstream's wait.
	send.disable()
	if err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, errSendTimeout) || errors.Is(cause, errReadTimeout) {
			err = fmt.Errorf("%w: %w", cause, err)
		}
		cancel(nil)
		return nil, err
	}
	if rwc, ok := resp.Body.(io.ReadWriteCloser); ok && resp.StatusCode == http.StatusSwitchingProtocols {
		// An upgraded connection (WebSocket) is the reverse proxy's to
		// copy; it needs the body writable. Timeouts end here.
		read.disable()
		resp.Body = &upgradedBody{ReadWriteCloser: rwc, cancel: cancel}
		return resp, nil
	}
	resp.Body = &readBody{rc: resp.Body, read: read, ctx: ctx, cancel: cancel, ex: ex}
	return resp, nil
}

// watchdog cancels a request with its cause when it is armed and not
// stopped within d. Once disabled it no longer arms.
type watchdog struct {
	d      time.Duration
	cancel context.CancelCauseFunc
	cause  error
	timer  *time.Timer

	mu  sync.Mutex
	off bool
}

func newWatchdog(d time.Duration, cancel context.CancelCauseFunc, cause error) *watchdog {
	w := &watchdog{d: d, cancel: cancel, cause: cause}
	w.timer = time.AfterFunc(d, w.expire)
	w.timer.Stop()
	return w
}

// expire runs on the timer's goroutine.
func (w *watchdog) expire() { w.cancel(w.cause) }

func (w *watchdog) arm() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.off {
		w.timer.Reset(w.d)
	}
}

func (w *watchdog) stop() { w.timer.Stop() }

func (w *watchdog) disable() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.off = true
	w.timer.Stop()
}

// headerWait arms the read timeout once the request is written, unless the
// response header has already arrived (an early response).
type headerWait struct {
	read *watchdog
	mu   sync.Mutex
	done bool
}

func (h *headerWait) wroteRequest(httptrace.WroteRequestInfo) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.done {
		h.read.arm()
	}
}

func (h *headerWait) gotResponse() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.done = true
	h.read.stop()
}

// sendBody is the request body as the transport reads it: the send timeout
// runs while the transport is writing what it read (between two Reads),
// not while we wait for the client.
type sendBody struct {
	rc   io.ReadCloser
	send *watchdog
	ex   *exchange
}

func (b *sendBody) Read(p []byte) (int, error) {
	b.send.stop()
	n, err := b.rc.Read(p)
	if err == nil {
		b.send.arm()
	} else if err != io.EOF {
		b.ex.setBodyErr(err)
	}
	return n, err
}

func (b *sendBody) Close() error {
	b.send.stop()
	return b.rc.Close()
}

// readBody is the response body: the read timeout runs while a Read waits
// for the upstream.
type readBody struct {
	rc     io.ReadCloser
	read   *watchdog
	ctx    context.Context
	cancel context.CancelCauseFunc
	ex     *exchange
}

func (b *readBody) Read(p []byte) (int, error) {
	b.read.arm()
	n, err := b.rc.Read(p)
	b.read.stop()
	if err != nil && err != io.EOF {
		switch cause := context.Cause(b.ctx); {
		case errors.Is(cause, errReadTimeout):
			err = fmt.Errorf("%w: %w", cause, err)
			b.ex.fail(err, reasonReadTimeout)
		case cause == nil:
			b.ex.fail(err, reasonUpstreamError)
		default:
			// The client went away; not an upstream error.
		}
	}
	return n, err
}

func (b *readBody) Close() error {
	b.read.stop()
	err := b.rc.Close()
	b.cancel(nil)
	return err
}

// upgradedBody is the connection of a 101 response; Close releases the
// request's context.
type upgradedBody struct {
	io.ReadWriteCloser
	cancel context.CancelCauseFunc
}

func (b *upgradedBody) Close() error {
	err := b.ReadWriteCloser.Close()
	b.cancel(nil)
	return err
}

package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// h2Transports are the HTTP/2 clients of the GRPC, GRPCS and H2C routes,
// one per upstreamKind key: each keeps its own connections, multiplexing
// requests on them.
type h2Transports struct {
	maxIdle     int           // TransportOptions.MaxIdleConnsPerHost
	idleTimeout time.Duration // TransportOptions.IdleConnTimeout
	mu          sync.Mutex
	m           map[string]*http.Transport
}

// transport returns the HTTP/2 Transport of kind.
func (p *Proxy) h2Transport(kind *upstreamKind) *http.Transport {
	p.h2.mu.Lock()
	defer p.h2.mu.Unlock()
	if t := p.h2.m[kind.key]; t != nil {
		return t
	}
	var protos http.Protocols
	dial := func(ctx context.Context, _, addr string) (net.Conn, error) { return p.dialKind(ctx, kind, addr) }
	t := &http.Transport{
		Proxy:                  nil,
		DisableCompression:     true,
		MaxIdleConnsPerHost:    p.h2.maxIdle,
		IdleConnTimeout:        p.h2.idleTimeout,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		Protocols:              &protos,
	}
	if kind.tls != nil {
		protos.SetHTTP2(true)
		t.DialTLSContext = dial
	} else {
		// Prior knowledge, as nginx's grpc_pass grpc://.
		protos.SetUnencryptedHTTP2(true)
		t.DialContext = dial
	}
	if p.h2.m == nil {
		p.h2.m = make(map[string]*http.Transport)
	}
	p.h2.m[kind.key] = t
	return t
}

// closeIdle closes the idle HTTP/2 connections.
func (h *h2Transports) closeIdle() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range h.m {
		t.CloseIdleConnections()
	}
}

// attemptH2 sends out to ex.upstream over HTTP/2 and relays the response,
// trailers included, flushing each write (gRPC streams both ways). The read
// timeout bounds the wait for the response header and then between two
// reads of the body (grpc_read_timeout); the send timeout is not applied
// apart from it. It returns the failure when nothing was sent to the
// client.
func (p *Proxy) attemptH2(rec *responseRecorder, r *http.Request, out *http.Request, ex *exchange, kind *upstreamKind, next *nextPolicy) *attemptError {
	ex.outShared = true // the HTTP/2 client may keep out's header
	if o := ex.out; o != nil && o.direct {
		o.fillHeader(r)
	}
	// nginx's grpc module sends "TE: trailers" when the client's TE names
	// trailers ($grpc_internal_trailers), where its proxy module sends no TE.
	if hasToken(r.Header["Te"], "trailers") {
		out.Header.Set("Te", "trailers")
	}
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	read := ex.timeouts.read
	idle := time.AfterFunc(read, func() { cancel(errReadTimeout) })
	defer idle.Stop()
	req := out.WithContext(ctx)
	u := *out.URL
	u.Scheme = "http"
	if kind.tls != nil {
		u.Scheme = "https"
	}
	keepClientPath(&u)
	req.URL = &u
	ex.timing.begin(ex.start)
	resp, err := p.h2Transport(kind).RoundTrip(req)
	if err != nil {
		if errors.Is(context.Cause(ctx), errReadTimeout) {
			err = fmt.Errorf("%w: %w", errReadTimeout, err)
		}
		var de *dialError
		return newAttemptError(err, !errors.As(err, &de))
	}
	// Closing a response body waits for the client's goroutine that sends
	// the request body, which may be blocked reading a body the client
	// keeps open (a gRPC stream the server ended first): cancelling the
	// request first lets it return at once, as nginx ends the response as
	// soon as the upstream's stream ends.
	defer func() {
		cancel(nil)
		resp.Body.Close()
	}()
	ex.timing.connected(false)
	ex.timing.headerRead()
	if fail := statusFailure(resp, ex, next); fail != nil {
		return fail
	}
	resp.Body = &h2Body{rc: resp.Body, ctx: ctx, cancel: cancel, idle: idle, read: read}
	gone := func() bool { return r.Context().Err() != nil }
	p.relay(rec, r, resp, ex, gone, nil, nil)
	return nil
}

// h2Body re-arms the read timeout before each read of an HTTP/2 response
// body, and reports its expiry as a deadline error (copyBody's read
// timeout). Close cancels the request first (see attemptH2).
type h2Body struct {
	rc     io.ReadCloser
	ctx    context.Context
	cancel context.CancelCauseFunc
	idle   *time.Timer
	read   time.Duration
}

func (b *h2Body) Read(p []byte) (int, error) {
	b.idle.Reset(b.read)
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF && errors.Is(context.Cause(b.ctx), errReadTimeout) {
		err = fmt.Errorf("%w: %w", os.ErrDeadlineExceeded, err)
	}
	return n, err
}

func (b *h2Body) Close() error {
	b.cancel(nil)
	return b.rc.Close()
}

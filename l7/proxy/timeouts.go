package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
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
// Expiry fails the upstream request with one of these causes; before the
// response header that is a 504, after it the client connection is aborted.
var (
	errConnectTimeout = errors.New("upstream connect timeout")
	errSendTimeout    = errors.New("upstream send timeout")
	errReadTimeout    = errors.New("upstream read timeout")
)

// timeouts are the proxy timeouts of one route.
type timeouts struct {
	connect, send, read time.Duration
	// client bounds a tunnel's write to the client that makes no
	// progress: nginx's send_timeout, which ingress-nginx leaves at 60 s
	// (ngx_http_upstream_process_upgraded arms it on the client's write;
	// proxy-send-timeout bounds the upstream's). Zero: clientSendTimeout.
	client time.Duration
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
// (the default connect timeout without one).
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

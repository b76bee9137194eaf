package proxy

import (
	"time"

	"github.com/weir-lb/weir/userspace/annotations"
)

// upstreamKeepalive returns the HTTP/1 pool's limits of g:
// upstream-keepalive-connections, -timeout and -requests.
func upstreamKeepalive(g annotations.Global) keepaliveLimits {
	conns, timeout, requests := g.UpstreamKeepalive()
	return keepaliveLimits{conns: conns, timeout: timeout, requests: requests, lifetime: g.UpstreamKeepaliveLifetime()}
}

// h2Limits returns the idle connections per address and the idle timeout
// of the HTTP/2 clients: o's, or 256 and 60s.
func (o TransportOptions) h2Limits() (maxIdle int, idleTimeout time.Duration) {
	maxIdle, idleTimeout = o.MaxIdleConnsPerHost, o.IdleConnTimeout
	if maxIdle <= 0 {
		maxIdle = defaultMaxIdleConnsPerHost
	}
	if idleTimeout <= 0 {
		idleTimeout = defaultIdleConnTimeout
	}
	return maxIdle, idleTimeout
}

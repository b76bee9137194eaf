package controller

import (
	"context"
	"net"
	"net/http"
	"time"
)

// MetricsServer returns the server of the metrics port (/metrics, the
// health checks, /config, the profiles) with h, whose requests end with
// ctx (a /config long poll does not hold up a shutdown). Its timeouts are
// those of ingress-nginx's metrics and health server where they fit: 10
// seconds to read a request header, 120 seconds for an idle keep-alive
// connection (without it one stays open for good: a client could hold
// every file descriptor), 300 seconds to write an answer; no read timeout,
// whose expiry would end a /config long poll (up to MaxConfigWait).
func MetricsServer(ctx context.Context, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		WriteTimeout:      300 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
}

// Package demobackend is a tiny HTTP backend for demos, tests and
// benchmarks: it answers every request with its own name and what the proxy
// sent it, so a curl through Weir shows which route was taken.
package demobackend

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// BenchPath is the path answered with BenchBody, for load tests.
const BenchPath = "/bench"

// BenchBody is the fixed 13-byte body of BenchPath.
const BenchBody = "hello, weir!\n"

// EchoedHeaders are the request headers the handler echoes, in this order,
// one "Name: value" line each, when the request has them.
var EchoedHeaders = []string{
	"X-Forwarded-For",
	"X-Forwarded-Proto",
	"X-Forwarded-Host",
	"X-Forwarded-Port",
	"X-Real-IP",
	"X-Request-ID",
}

// Shared, never modified: the bench answer allocates nothing of its own.
var (
	benchBody   = []byte(BenchBody)
	textPlain   = []string{"text/plain; charset=utf-8"}
	benchLength = []string{fmt.Sprint(len(BenchBody))}
)

// Handler returns the demo handler for a backend called name. It answers
// 200 to any method and path with a text body whose first line is
// "<name> <method> <host><path>", followed by the EchoedHeaders the request
// carried, one per line. BenchPath answers BenchBody instead.
func Handler(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Type"] = textPlain
		if r.URL.Path == BenchPath {
			h["Content-Length"] = benchLength
			w.Write(benchBody)
			return
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s %s%s\n", name, r.Method, r.Host, r.URL.Path)
		for _, k := range EchoedHeaders {
			if v := r.Header.Values(k); len(v) > 0 {
				fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(v, ", "))
			}
		}
		w.Write([]byte(b.String()))
	})
}

// Serve listens on addr ("127.0.0.1:9101") and serves Handler(name) until
// ctx is done; see ServeListener.
func Serve(ctx context.Context, name, addr string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	return ServeListener(ctx, name, ln)
}

// ServeListener serves Handler(name) on ln until ctx is done, then closes
// ln, gives requests in flight up to 5s to finish, and returns nil. It
// returns an error only when serving fails.
func ServeListener(ctx context.Context, name string, ln net.Listener) error {
	srv := &http.Server{
		Handler:           Handler(name),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	served := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		shutdownOnDone(ctx, srv, served)
	}()
	err := srv.Serve(ln)
	close(served)
	<-stopped
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serve %s on %s: %w", name, ln.Addr(), err)
}

// shutdownOnDone shuts srv down gracefully once ctx is done, or closes it
// when Serve returned on its own (served is closed).
func shutdownOnDone(ctx context.Context, srv *http.Server, served <-chan struct{}) {
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close()
		}
	case <-served:
		srv.Close()
	}
}

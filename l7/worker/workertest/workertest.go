// Package workertest runs a worker (l7/worker.Run) inside a test, on an
// in-memory control connection, for tests of the control protocol from the
// supervisor's side.
package workertest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/weir-lb/weir/l7/worker"
)

// Start runs a worker serving plain HTTP on a free port of 127.0.0.1 and
// returns the supervisor's end of its control connection and the HTTP
// address. The worker stops, and must stop cleanly, when tb's test ends.
func Start(tb testing.TB) (control net.Conn, httpAddr string) {
	tb.Helper()
	sup, ctl := net.Pipe()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- worker.Run(ctx, worker.Config{CPU: -1, Control: ctl, HTTP: ln, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}()
	tb.Cleanup(func() {
		cancel()
		sup.Close()
		if err := <-done; err != nil {
			tb.Errorf("worker stopped with: %v", err)
		}
		ln.Close()
	})
	return sup, ln.Addr().String()
}

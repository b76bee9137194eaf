package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// Paths the backend answers; any other path gets SmallBody too.
const (
	smallPath = "/bench" // 13 bytes, the keep-alive, close and TLS scenarios
	largePath = "/100k"  // largeSize bytes, the 100 kB scenario
	largeSize = 100_000
)

var (
	smallBody = []byte("hello, weir!\n")
	largeBody = bytes.Repeat([]byte("0123456789abcdef"), largeSize/16+1)[:largeSize]
)

// backendHandler answers smallPath (and anything else) with smallBody and
// largePath with largeBody, both with a Content-Length, so every proxy can
// keep the upstream connection.
func backendHandler() http.Handler {
	small := []string{strconv.Itoa(len(smallBody))}
	large := []string{strconv.Itoa(len(largeBody))}
	text := []string{"text/plain"}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Type"] = text
		if r.URL.Path == largePath {
			h["Content-Length"] = large
			w.Write(largeBody)
			return
		}
		h["Content-Length"] = small
		w.Write(smallBody)
	})
}

// runBackend serves backendHandler on -listen until SIGINT or SIGTERM.
func runBackend(args []string) error {
	fs := flag.NewFlagSet("benchtool backend", flag.ContinueOnError)
	addr := fs.String("listen", "127.0.0.1:9000", "address to serve on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", *addr, err)
	}
	srv := &http.Server{Handler: backendHandler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 5 * time.Minute}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", *addr, err)
	}
	return nil
}

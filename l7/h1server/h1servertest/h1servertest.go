// Package h1servertest serves a handler for tests with the HTTP/1 server
// Weir uses, or with net/http's, as the environment says, so that a
// package's tests run through either.
package h1servertest

import (
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/h1guard"
	"github.com/weir-lb/weir/l7/h1server"
)

// EnvKind is the environment variable that picks the server: "net" for
// net/http's; anything else, l7/h1server's (Weir's default).
const EnvKind = "WEIR_TEST_HTTP1_SERVER"

// Kind is the server the environment picks.
func Kind() h1server.Kind {
	if os.Getenv(EnvKind) == string(h1server.KindNet) {
		return h1server.KindNet
	}
	return h1server.KindWeir
}

// Serve serves cfg (whose ReadHeaderTimeout defaults to a minute) on ln,
// through wrap when not nil, with the server Kind picks: net/http's
// without h1guard, or h1server's under head limits as large as net/http's
// (1 MB; tests of nginx's limits use h1guard's own). The test closes it.
func Serve(tb testing.TB, cfg *http.Server, ln net.Listener, wrap func(net.Listener) net.Listener) {
	tb.Helper()
	if cfg.ReadHeaderTimeout == 0 {
		cfg.ReadHeaderTimeout = time.Minute
	}
	l := ln
	if wrap != nil {
		l = wrap(ln)
	}
	var srv interface {
		Serve(net.Listener) error
		Close() error
	} = cfg
	if Kind() == h1server.KindWeir {
		srv = h1server.New(cfg, h1guard.New(h1guard.Options{Limits: h1guard.Limits{Buffers: 4, BufferSize: 256 << 10}}))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	tb.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
}

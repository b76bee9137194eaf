package h1server_test

import (
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/drain"
	"github.com/weir-lb/weir/l7/h1guard"
	"github.com/weir-lb/weir/l7/h1server"
	"github.com/weir-lb/weir/l7/h1server/h1servertest"
)

// TestOptionsAsteriskH2: an HTTP/2 "OPTIONS *" on a clear-text listener
// of either kind gets the guard's 400, as nginx (ngx_http_v2 takes no
// asterisk form), not net/http's own 200 for it, which answers before any
// handler; the handler never sees it.
func TestOptionsAsteriskH2(t *testing.T) {
	t.Parallel()
	for _, k := range []h1server.Kind{h1server.KindWeir, h1server.KindNet} {
		t.Run(string(k), func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			g := h1guard.New(h1guard.Options{H2C: true})
			reached := make(chan string, 4)
			srv := &http.Server{
				Handler: g.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					reached <- r.Method + " " + r.RequestURI
				})),
				Protocols: h1guard.ClearTextProtocols(),
			}
			errc := make(chan error, 1)
			s := h1server.ServePlain(k, "http", srv, g, ln, nil, errc)
			t.Cleanup(func() {
				drain.Shutdown([]drain.Server{s}, nil, drain.Options{Timeout: 5 * time.Second, Logger: slog.New(slog.DiscardHandler)})
				_ = ln.Close()
			})
			addr := ln.Addr().String()
			if got := h1servertest.RawH2(t, addr, h1servertest.H2Request("OPTIONS", "a.test", "*"), nil); got.Status != "400" {
				t.Errorf("OPTIONS *: %+v, want 400", got)
			}
			if got := h1servertest.RawH2(t, addr, h1servertest.H2Request("OPTIONS", "a.test", "/"), nil); got.Status != "200" {
				t.Errorf("OPTIONS /: %+v, want 200 from the handler", got)
			}
			if got := <-reached; got != "OPTIONS /" {
				t.Errorf("handler reached by %q, want only OPTIONS /", got)
			}
			select {
			case got := <-reached:
				t.Errorf("handler reached again by %q", got)
			case err := <-errc:
				t.Errorf("serve: %v", err)
			default:
			}
		})
	}
}

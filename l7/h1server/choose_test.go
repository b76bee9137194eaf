package h1server_test

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/drain"
	"github.com/weir-lb/weir/l7/h1guard"
	"github.com/weir-lb/weir/l7/h1server"
	"github.com/weir-lb/weir/l7/h1server/h1servertest"
)

// servePlainH2C serves h, behind a guard of opts, on a clear-text
// listener of kind k taking HTTP/1.1 and h2c until the test ends. It
// returns the address and the serve errors.
func servePlainH2C(t *testing.T, k h1server.Kind, opts h1guard.Options, h http.HandlerFunc) (string, chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := h1guard.New(opts)
	srv := &http.Server{Handler: g.Handler(h), Protocols: h1guard.ClearTextProtocols()}
	errc := make(chan error, 1)
	s := h1server.ServePlain(k, "http", srv, g, ln, nil, errc)
	t.Cleanup(func() {
		drain.Shutdown([]drain.Server{s}, nil, drain.Options{Timeout: 5 * time.Second, Logger: slog.New(slog.DiscardHandler)})
		_ = ln.Close()
	})
	return ln.Addr().String(), errc
}

// TestOptionsAsteriskH2: an HTTP/2 "OPTIONS *" on a clear-text listener
// of either kind gets the guard's 400, as nginx (ngx_http_v2 takes no
// asterisk form), not net/http's own 200 for it, which answers before any
// handler; the handler never sees it.
func TestOptionsAsteriskH2(t *testing.T) {
	t.Parallel()
	for _, k := range []h1server.Kind{h1server.KindWeir, h1server.KindNet} {
		t.Run(string(k), func(t *testing.T) {
			t.Parallel()
			reached := make(chan string, 4)
			addr, errc := servePlainH2C(t, k, h1guard.Options{H2C: true}, func(w http.ResponseWriter, r *http.Request) {
				reached <- r.Method + " " + r.RequestURI
			})
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

// http2Switch is a guard Source whose use-http2 a test flips.
type http2Switch struct{ on atomic.Bool }

func (s *http2Switch) HeaderLimits() (int, int) { return 0, 0 }
func (s *http2Switch) ServesHTTP2() bool        { return s.on.Load() }

// TestUseHTTP2ClearText: with use-http2 "false" (the guard's Source says
// no HTTP/2), a clear-text connection that opens with the h2c preface is
// read as HTTP/1 and gets nginx's 400 ("PRI * HTTP/2.0", an asterisk
// target), as nginx's listener without http2; once the key is back on, new
// connections speak h2c again. Both kinds of server follow the Source.
func TestUseHTTP2ClearText(t *testing.T) {
	t.Parallel()
	for _, k := range []h1server.Kind{h1server.KindWeir, h1server.KindNet} {
		t.Run(string(k), func(t *testing.T) {
			t.Parallel()
			src := &http2Switch{}
			addr, _ := servePlainH2C(t, k, h1guard.Options{H2C: true, Source: src}, func(http.ResponseWriter, *http.Request) {})
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")); err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(c)
			if !strings.HasPrefix(string(b), "HTTP/1.1 400 Bad Request\r\n") {
				t.Errorf("preface with use-http2 off: %q, want nginx's 400", b)
			}
			src.on.Store(true)
			if got := h1servertest.RawH2(t, addr, h1servertest.H2Request("GET", "a.test", "/"), nil); got.Status != "200" {
				t.Errorf("h2c with use-http2 on: %+v, want 200", got)
			}
		})
	}
}

// TestLargeHeadBuffersOverMaxHeaderBytes: with large-client-header-buffers
// "4 32k" a request head of some 90 KiB, each line under a buffer, is
// served by Weir's server, as nginx serves it, whatever the http.Server's
// MaxHeaderBytes (64 KiB on Weir's client-facing servers,
// proxy.MaxHeaderBytes, a bound meant for HTTP/2 header lists). net/http's
// server (--http1-server=net) reads an HTTP/1 head up to MaxHeaderBytes
// plus 4 KiB whatever the guard allows, and answers 431 past it: the
// README says so, and this pins it.
func TestLargeHeadBuffersOverMaxHeaderBytes(t *testing.T) {
	t.Parallel()
	for _, k := range []h1server.Kind{h1server.KindWeir, h1server.KindNet} {
		t.Run(string(k), func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			g := h1guard.New(h1guard.Options{Limits: h1guard.Limits{Buffers: 4, BufferSize: 32 << 10}})
			srv := &http.Server{Handler: g.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})), MaxHeaderBytes: 64 << 10}
			s := h1server.ServePlain(k, "http", srv, g, ln, nil, make(chan error, 1))
			t.Cleanup(func() {
				drain.Shutdown([]drain.Server{s}, nil, drain.Options{Timeout: 5 * time.Second, Logger: slog.New(slog.DiscardHandler)})
				_ = ln.Close()
			})
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			var head strings.Builder
			head.WriteString("GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n")
			for i := range 3 {
				fmt.Fprintf(&head, "X-Big-%d: %s\r\n", i, strings.Repeat("v", 30000))
			}
			head.WriteString("\r\n")
			if _, err := c.Write([]byte(head.String())); err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(c)
			want := "HTTP/1.1 200 OK\r\n"
			if k == h1server.KindNet {
				want = "HTTP/1.1 431 Request Header Fields Too Large\r\n"
			}
			if !strings.HasPrefix(string(b), want) {
				t.Errorf("a %d-byte head under large-client-header-buffers 4 32k: %.60q, want %q", head.Len(), b, want)
			}
		})
	}
}

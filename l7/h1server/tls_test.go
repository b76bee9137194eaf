package h1server

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/l7/h1guard"
	"github.com/weir-lb/weir/test/testutil"
)

// TestServeTLS: over TLS, HTTP/1.1 connections are served by a Server with
// Request.TLS set and h1guard's rules, those that negotiated h2 by
// net/http's server, with the same handler; Close closes both.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	ca := certstest.NewCA(t)
	cfg := ca.ServerConfig(t, "tls.test", "h2", "http/1.1")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := h1guard.New(h1guard.Options{})
	srv := &http.Server{
		Handler: g.TLSHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s tls=%v", r.Proto, r.TLS != nil && r.TLS.ServerName == "tls.test")
		})),
		TLSConfig: cfg,
	}
	errc := make(chan error, 1)
	s := ServeTLS(KindWeir, "https", srv, g, ln, cfg, nil, errc)
	t.Cleanup(func() {
		_ = s.Srv.Close()
		<-s.Served
	})
	addr := ln.Addr().String()
	for h2, want := range map[bool]string{true: "HTTP/2.0 tls=true", false: "HTTP/1.1 tls=true"} {
		for range 2 { // the second on the kept-alive connection
			resp, err := ca.HTTPSClient(t, "tls.test", h2).Get("https://" + addr + "/")
			if err != nil {
				t.Fatalf("h2=%v: %v", h2, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != want {
				t.Errorf("h2=%v: got %q, want %q", h2, b, want)
			}
		}
	}
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "tls.test", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	rs := testutil.RawExchangeOn(t, c, "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET * HTTP/1.1\r\nHost: a\r\n\r\n")
	if got := fmt.Sprint(testutil.Statuses(rs)); got != "[200 400]" {
		t.Errorf("over TLS, a request h1guard refuses: statuses %s, want [200 400]", got)
	}
	select {
	case err := <-errc:
		t.Errorf("serve: %v", err)
	default:
	}
}

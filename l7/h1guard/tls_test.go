package h1guard

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/test/testutil"
)

// TestTLSListener: a connection that negotiated h2 is served HTTP/2 by
// net/http as before; one that negotiated http/1.1 is guarded, and its
// requests keep Request.TLS.
func TestTLSListener(t *testing.T) {
	t.Parallel()
	ca := certstest.NewCA(t)
	cfg := ca.ServerConfig(t, "tls.test", "h2", "http/1.1")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: New(Options{}).TLSHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s tls=%v", r.Proto, r.TLS != nil)
		})),
		ConnContext: ConnContext,
		TLSConfig:   cfg,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(New(Options{}).TLSListener(ln, cfg))
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	addr := ln.Addr().String()
	for h2, want := range map[bool]string{true: "HTTP/2.0 tls=true", false: "HTTP/1.1 tls=true"} {
		resp, err := ca.HTTPSClient(t, "tls.test", h2).Get("https://" + addr + "/")
		if err != nil {
			t.Fatalf("h2 %v: %v", h2, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != want {
			t.Errorf("h2 %v: got %q, want %q", h2, b, want)
		}
	}
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "tls.test", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	if rs := testutil.RawExchangeOn(t, c, "OPTIONS * HTTP/1.1\r\nHost: tls.test\r\n\r\n"); len(rs) != 1 || rs[0].StatusCode != http.StatusBadRequest {
		t.Errorf("OPTIONS * over http/1.1: statuses %v, want one 400", testutil.Statuses(rs))
	}
}

// TestTLSListenerCloseEndsHandshakes: closing the listener ends the
// handshakes under way instead of leaving them to their 60 s timeout.
func TestTLSListenerCloseEndsHandshakes(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{}, 1)
	tl := New(Options{}).TLSListener(&notifyingListener{Listener: ln, accepted: accepted}, &tls.Config{})
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The handshake is under way once the connection is accepted.
	if _, err := c.Write([]byte{0x16, 0x03, 0x01}); err != nil {
		t.Fatal(err)
	}
	<-accepted
	tl.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(c); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the connection in its handshake was not closed with the listener: %v", err)
	}
}

// notifyingListener signals each accepted connection on accepted.
type notifyingListener struct {
	net.Listener
	accepted chan<- struct{}
}

func (l *notifyingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted <- struct{}{}
	}
	return c, err
}

package h1server

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

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

// TestWriteDeadlineTLSPutOff: on a TLS connection a clear of the write
// deadline waits for the next write too, crypto/tls's own included: a
// request's deadline stays set until the next answer is written, and the
// alert crypto/tls writes when a record fails is written after the clear.
func TestWriteDeadlineTLSPutOff(t *testing.T) {
	t.Parallel()
	ca := certstest.NewCA(t)
	cfg := ca.ServerConfig(t, "tls.test", "http/1.1")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dl := &deadlineListener{Listener: ln}
	g := h1guard.New(h1guard.Options{})
	srv := &http.Server{
		Handler: g.TLSHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/check" {
				_, _ = io.WriteString(w, dl.recorded())
				return
			}
			ctl := http.NewResponseController(w)
			_ = ctl.SetWriteDeadline(time.Now().Add(time.Minute))
			w.Header().Set("Content-Length", "2")
			_, _ = io.WriteString(w, "ok")
			_ = ctl.Flush() // the answer is written whole
			_ = ctl.SetWriteDeadline(time.Time{})
		})),
		TLSConfig: cfg,
	}
	s := ServeTLS(KindWeir, "https", srv, g, dl, cfg, nil, make(chan error, 1))
	t.Cleanup(func() {
		_ = s.Srv.Close()
		<-s.Served
	})
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	c := tls.Client(raw, &tls.Config{RootCAs: ca.Pool(), ServerName: "tls.test", NextProtos: []string{"http/1.1"}})
	if _, err := io.WriteString(c, "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /check HTTP/1.1\r\nHost: a\r\n\r\nGET /a HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	var rs []string
	for range 3 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("read response: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		rs = append(rs, string(b))
	}
	// /check's body: /a's deadline, its clear not made before /check's
	// answer.
	if want := []string{"ok", "t", "ok"}; strings.Join(rs, "|") != strings.Join(want, "|") {
		t.Fatalf("responses %q, want %q", rs, want)
	}
	// A record that fails to decrypt: crypto/tls answers it with an alert,
	// a write of its own, which makes the second /a's clear first.
	if _, err := raw.Write(append([]byte{23, 3, 3, 0, 32}, make([]byte, 32)...)); err != nil {
		t.Fatal(err)
	}
	// The server closes the connection after the alert (and sets write
	// deadlines of its own for the close).
	_ = raw.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, raw); err != nil {
		t.Fatalf("read until the server closes: %v", err)
	}
	want := "t 0 t 0" // /a, /check's write, /a, the alert's write
	if got := dl.recorded(); !strings.HasPrefix(got, want) {
		t.Errorf("SetWriteDeadline calls %q, want them to start with %q", got, want)
	}
}

package h1server

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// socketDeadlineListener's connections record their SetWriteDeadline calls
// as deadlineListener's, under a layer that writes to the socket unchanged
// (Unwrap, Buffered: as connlimit's), so that the server finds the socket.
type socketDeadlineListener struct{ deadlineListener }

func (l *socketDeadlineListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &socketDeadlineConn{deadlineConn{Conn: c, l: &l.deadlineListener}}, nil
}

type socketDeadlineConn struct{ deadlineConn }

func (c *socketDeadlineConn) Unwrap() net.Conn { return c.Conn }
func (c *socketDeadlineConn) Buffered() int    { return 0 }

// TestWriteDeadlinePutOff: on a plain socket a connection's first request
// sets its write deadline only when a write would block, as nginx arms its
// send timer: a response the socket takes at once sets none, and a later
// request of the connection sets its own at once, as before; a client that reads nothing has the
// write cut at the deadline asked for (send_timeout); a deadline that has
// passed fails the write, as it did when it was set at once.
func TestWriteDeadlinePutOff(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dl := &socketDeadlineListener{deadlineListener{Listener: ln}}
	werr := make(chan error, 1)
	reset := make(chan struct{})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctl := http.NewResponseController(w)
		switch r.URL.Path {
		case "/check":
			_, _ = w.Write([]byte(dl.recorded()))
		case "/first":
			// A deadline the handler leaves set: its response's end drops it.
			_ = ctl.SetWriteDeadline(time.Now().Add(time.Hour))
			_, _ = w.Write([]byte("first"))
			_ = ctl.Flush()
		case "/later":
			_ = ctl.SetWriteDeadline(time.Now().Add(time.Hour))
			_, _ = w.Write([]byte("later"))
			_ = ctl.Flush()
			_ = ctl.SetWriteDeadline(time.Time{})
		case "/small":
			_ = ctl.SetWriteDeadline(time.Now().Add(time.Hour))
			_, _ = w.Write([]byte("small"))
			_ = ctl.Flush()
			_ = ctl.SetWriteDeadline(time.Time{})
		case "/passed":
			_ = ctl.SetWriteDeadline(time.Now().Add(-time.Second))
			_, err := w.Write([]byte("passed"))
			if err == nil {
				err = ctl.Flush()
			}
			werr <- err
		case "/reset":
			<-reset // the client reset the connection
			var err error
			for i := 0; i < 100 && err == nil; i++ {
				_ = ctl.SetWriteDeadline(time.Now().Add(time.Hour))
				if _, err = w.Write([]byte("reset")); err == nil {
					err = ctl.Flush()
				}
			}
			werr <- err
		case "/stuck":
			// More than the socket's buffers hold: the client reads none.
			chunk := make([]byte, 1<<20)
			var err error
			for i := 0; i < 256 && err == nil; i++ {
				_ = ctl.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
				if _, err = w.Write(chunk); err == nil {
					err = ctl.Flush()
				}
			}
			werr <- err
		}
	})
	serveOn(t, nil, &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}, dl)
	addr := ln.Addr().String()

	var soon atomic.Int32 // writes through the socket of this test's connections
	hook := func(c *conn) {
		if _, ok := c.rwc.(*socketDeadlineConn); ok {
			soon.Add(1)
		}
	}
	testHookWriteSoon.Store(&hook)
	t.Cleanup(func() { testHookWriteSoon.Store(nil) })

	c, br := dial(t, addr)
	get := func(path string) string {
		t.Helper()
		return getOn(t, c, br, path)
	}
	if got := get("/first"); got != "first" {
		t.Fatalf("/first answered %q", got)
	}
	first := soon.Load() // its head and body, then the chunked body's end
	if first == 0 {
		t.Error("the first response wrote nothing through the socket")
	}
	// A keep-alive connection's later requests set their deadline at
	// once, as before (one timer for them all: lazyWriteDeadline), and
	// write through rwc: the first's deadline put off is gone.
	if got := get("/later"); got != "later" {
		t.Fatalf("/later answered %q", got)
	}
	if n := soon.Load(); n != first {
		t.Errorf("writes through the socket after the first response: %d, want none", n-first)
	}
	if got := get("/check"); got != "t 0" {
		// /later's deadline, and its clear, made before the chunked
		// body's end is written.
		t.Errorf("SetWriteDeadline calls %q for a later request, want %q", got, "t 0")
	}
	dl.mu.Lock()
	dl.calls = nil
	dl.mu.Unlock()

	c, br = dial(t, addr) // get's from now on: a new connection's first request
	if got := get("/small"); got != "small" {
		t.Fatalf("/small answered %q", got)
	}
	if got := get("/check"); got != "" {
		t.Errorf("SetWriteDeadline calls %q for a response the socket took at once, want none", got)
	}

	c2, _ := dial(t, addr)
	if _, err := io.WriteString(c2, "GET /passed HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if err := <-werr; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a write after its deadline: %v, want os.ErrDeadlineExceeded", err)
	}

	c4, _ := dial(t, addr)
	if _, err := io.WriteString(c4, "GET /reset HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = c4.(*net.TCPConn).SetLinger(0)
	c4.Close()
	close(reset)
	// The error of the socket's write is net's own: a *net.OpError of the
	// connection, the errno in an *os.SyscallError.
	err = <-werr
	var oe *net.OpError
	var se *os.SyscallError
	if !errors.As(err, &oe) || oe.Op != "write" || oe.Source == nil || oe.Addr == nil || !errors.As(err, &se) ||
		!errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		t.Errorf("a write to a reset connection: %#v, want net's *net.OpError of ECONNRESET or EPIPE", err)
	}

	c3, _ := dial(t, addr)
	if _, err := io.WriteString(c3, "GET /stuck HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-werr:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("a write the client takes nothing of: %v, want os.ErrDeadlineExceeded", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a write the client takes nothing of was not cut within 20 s")
	}
	if got, want := dl.recorded(), "t t"; got != want {
		// /passed's deadline, set before the write (the clear after it is
		// put off, and the connection closes); none for /reset's writes,
		// which did not wait; /stuck's when the socket was full (the
		// later ones kept: lazyWriteDeadline).
		t.Errorf("SetWriteDeadline calls %q, want %q", got, want)
	}
}

// getOn sends a GET of path on c and returns the response's body.
func getOn(t *testing.T, c net.Conn, br *bufio.Reader, path string) string {
	t.Helper()
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

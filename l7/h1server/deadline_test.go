package h1server

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weir-lb/weir/test/testutil"
)

// deadlineListener's connections record their SetWriteDeadline calls: "0"
// for a clear, "t" for a deadline.
type deadlineListener struct {
	net.Listener
	mu    sync.Mutex
	calls []string
}

func (l *deadlineListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &deadlineConn{Conn: c, l: l}, nil
}

func (l *deadlineListener) recorded() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.calls, " ")
}

type deadlineConn struct {
	net.Conn
	l *deadlineListener
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	c.l.mu.Lock()
	if t.IsZero() {
		c.l.calls = append(c.l.calls, "0")
	} else {
		c.l.calls = append(c.l.calls, "t")
	}
	c.l.mu.Unlock()
	return c.Conn.SetWriteDeadline(t)
}

// TestWriteDeadlineClears: every request ends with the write deadline its
// handler set cleared, and a handler's clear of a deadline that is not set
// (l7/proxy clears as each request starts) reaches no connection.
func TestWriteDeadlineClears(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dl := &deadlineListener{Listener: ln}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctl := http.NewResponseController(w)
		if err := ctl.SetWriteDeadline(time.Time{}); err != nil {
			t.Errorf("clear: %v", err)
		}
		if r.URL.Path == "/check" {
			// The requests before this one are over: their clears ran.
			_, _ = w.Write([]byte(dl.recorded()))
			return
		}
		if err := ctl.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Errorf("set: %v", err)
		}
		_, _ = w.Write([]byte("ok"))
	})
	serveOn(t, nil, &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, dl)
	raw := "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\nGET /check HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
	got := bodies(testutil.RawExchange(t, ln.Addr().String(), raw))
	if want := []string{"ok", "ok", "t 0 t 0"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("responses %q; want %q (each request's deadline set, then cleared once)", got, want)
	}
}

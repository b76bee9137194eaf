package h1server

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// startRecording serves h, given the listener whose calls it may report,
// on a deadlineListener on 127.0.0.1 and returns its address.
func startRecording(t *testing.T, h func(dl *deadlineListener, w http.ResponseWriter, r *http.Request)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dl := &deadlineListener{Listener: ln}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h(dl, w, r) })
	serveOn(t, nil, &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}, dl)
	return ln.Addr().String()
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

// TestWriteDeadlineClears: a request's write deadline is cleared before
// anything else is written, and no clear that a new deadline overrides
// before a write reaches the connection (l7/proxy clears as each request
// starts, then sets its own).
func TestWriteDeadlineClears(t *testing.T) {
	t.Parallel()
	addr := startRecording(t, func(dl *deadlineListener, w http.ResponseWriter, r *http.Request) {
		ctl := http.NewResponseController(w)
		switch r.URL.Path {
		case "/check":
			// The requests before this one are over.
			_, _ = w.Write([]byte(dl.recorded()))
			return
		case "/plain":
			// Sets no deadline: its answer is written under none.
			_, _ = w.Write([]byte("plain"))
			return
		}
		if err := ctl.SetWriteDeadline(time.Time{}); err != nil {
			t.Errorf("clear: %v", err)
		}
		d := time.Minute
		switch r.URL.Path {
		case "/far":
			d = 2 * time.Minute
		case "/near":
			d = 30 * time.Second
		}
		if err := ctl.SetWriteDeadline(time.Now().Add(d)); err != nil {
			t.Errorf("set: %v", err)
		}
		_, _ = w.Write([]byte("ok"))
	})
	get := func(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: a\r\n\r\n" }
	raw := get("/a") + get("/b") + get("/far") + get("/near") + get("/plain") + get("/c") +
		"GET /check HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
	got := bodies(testutil.RawExchange(t, addr, raw))
	// /a: its deadline; /b: none, /a's is at most lazyWriteDeadline earlier
	// than its own (the requests come together); /far: its own, a minute
	// later; /near: its own, earlier; /plain: the clear of /near's before its
	// answer; /c: its deadline, not cleared before /check writes.
	if want := []string{"ok", "ok", "ok", "ok", "plain", "ok", "t t t 0 t"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("responses %q; want %q", got, want)
	}
}

// TestWriteDeadlineLazy: a new write deadline less than lazyWriteDeadline
// after the one set is not set; one later than that, one earlier, and one
// after a clear are.
func TestWriteDeadlineLazy(t *testing.T) {
	t.Parallel()
	c, _ := pipeConn(t)
	dl := &deadlineListener{}
	c.rwc = &deadlineConn{Conn: c.rwc, l: dl}
	t0 := time.Now().Add(time.Minute)
	for _, d := range []time.Time{
		t0,                             // set
		t0.Add(lazyWriteDeadline / 2),  // kept: t0 stays
		t0.Add(250 * time.Millisecond), // kept: within nginx's NGX_TIMER_LAZY_DELAY (300 ms)
		t0.Add(lazyWriteDeadline - time.Nanosecond), // kept
		t0.Add(lazyWriteDeadline),                   // set
		t0,                                          // earlier: set
		{},                                          // clear, put off
		t0.Add(time.Millisecond),                    // kept: the clear is dropped
		{},                                          // put off
	} {
		_ = c.setWriteDeadline(d)
	}
	c.clearWriteDeadline()     // a write: the clear put off is made
	_ = c.setWriteDeadline(t0) // after a clear: set
	if got, want := dl.recorded(), "t t t 0 t"; got != want {
		t.Errorf("SetWriteDeadline calls %q, want %q", got, want)
	}
}

// TestWriteDeadlineHandOver: a clear put off is made before the connection
// is hijacked, and the new owner's clears reach it at once.
func TestWriteDeadlineHandOver(t *testing.T) {
	t.Parallel()
	addr := startRecording(t, func(dl *deadlineListener, w http.ResponseWriter, r *http.Request) {
		ctl := http.NewResponseController(w)
		if r.URL.Path != "/hijack" {
			_ = ctl.SetWriteDeadline(time.Now().Add(time.Minute))
			_, _ = w.Write([]byte("ok"))
			return
		}
		c, _, err := ctl.Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer c.Close()
		_ = ctl.SetWriteDeadline(time.Now().Add(time.Minute))
		_ = ctl.SetWriteDeadline(time.Time{})
		body := dl.recorded()
		_, _ = c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n" + body))
	})
	raw := "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /hijack HTTP/1.1\r\nHost: a\r\n\r\n"
	got := bodies(testutil.RawExchange(t, addr, raw))
	// /a's deadline, its clear at the hand-over, then the owner's two.
	if want := []string{"ok", "t 0 t 0"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("responses %q; want %q", got, want)
	}
}

// gatedListener hands over each accepted connection only once the test
// lets it (gate), so that what the client sent first is in the socket's
// queue when the Server first reads it. Its connections count their
// SetReadDeadline calls (reads), and keep net's *net.TCPConn methods, so
// that the Server reads and waits on the socket itself (idle.go).
type gatedListener struct {
	net.Listener
	gate  chan struct{}
	reads atomic.Int32
}

func (l *gatedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	select {
	case <-l.gate:
	case <-time.After(10 * time.Second):
	}
	return &readDeadlineConn{TCPConn: c.(*net.TCPConn), l: l}, nil
}

type readDeadlineConn struct {
	*net.TCPConn
	l *gatedListener
}

func (c *readDeadlineConn) SetReadDeadline(t time.Time) error {
	c.l.reads.Add(1)
	return c.TCPConn.SetReadDeadline(t)
}

// TestFirstHeadLazyDeadline: a new connection's head that is there whole at
// the first read is read with no read deadline set (and none cleared),
// where a poller deadline and a timer would be set and cleared for a timer
// that never fires; one that is not all there is still bounded by the
// header timeout from the accept, as nginx's client_header_timeout.
func TestFirstHeadLazyDeadline(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gl := &gatedListener{Listener: ln, gate: make(chan struct{})}
	serveOn(t, nil, &http.Server{Handler: http.HandlerFunc(echo), ReadHeaderTimeout: 300 * time.Millisecond}, gl)
	addr := ln.Addr().String()

	c, br := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	gl.gate <- struct{}{}
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("whole head: %v %v", resp, err)
	}
	io.ReadAll(resp.Body)
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("whole head: %v, want EOF after Connection: close", err)
	}
	if n := gl.reads.Load(); n != 0 {
		t.Errorf("whole head: %d SetReadDeadline calls, want 0", n)
	}

	// A partial head, there at the first read, then nothing: closed with
	// no answer once the header timeout passed.
	c, br = dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost:")
	gl.gate <- struct{}{}
	if b, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("partial head: read %q %v, want EOF once the header timeout passed", b, err)
	}
	// Nothing at the first read, then nothing: closed likewise.
	_, br = dial(t, addr)
	gl.gate <- struct{}{}
	if b, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("silent client: read %q %v, want EOF once the header timeout passed", b, err)
	}
	// Nothing at the first read, then a whole head: served.
	c, br = dial(t, addr)
	gl.gate <- struct{}{}
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("late head: %v %v", resp, err)
	}
}

package h1server

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weir-lb/weir/test/testutil"
)

// armedServed counts, by test server, the requests served armed.
var armedServed sync.Map // *http.Server → *atomic.Int64

// noInq holds the test servers whose sockets are read without TCP_INQ.
var noInq sync.Map // *http.Server → struct{}

func init() {
	testHookArmedServe = func(c *conn) {
		if n, ok := armedServed.Load(c.srv.cfg); ok {
			n.(*atomic.Int64).Add(1)
		}
	}
	testHookNoInq = func(c *conn) bool {
		_, ok := noInq.Load(c.srv.cfg)
		return ok
	}
}

// countArmed counts cfg's requests served armed.
func countArmed(t *testing.T, cfg *http.Server) *atomic.Int64 {
	n := new(atomic.Int64)
	armedServed.Store(cfg, n)
	t.Cleanup(func() { armedServed.Delete(cfg) })
	return n
}

// armedDial serves cfg, over TLS when tlsOn, and dials it: the client's
// connection (its deadline, 10 s, bounds a lost wake-up) and reader. The
// sweeper, which would move a wait that lasts to the poller (and so end a
// lost wake-up after 250 to 500 ms), looks only once an hour.
func armedDial(t *testing.T, cfg *http.Server, tlsOn bool) (net.Conn, *bufio.Reader) {
	t.Helper()
	w := waits{sweepEvery: time.Hour, busyGap: busyGap}
	if !tlsOn {
		waitsOf(t, cfg, w)
		addr, _ := startWith(t, nil, cfg)
		return dial(t, addr)
	}
	addr, ccfg := startTLSWaits(t, cfg, w)
	c := dialTLS(t, addr, ccfg)
	return c, bufio.NewReader(c)
}

// transports runs f plain and over TLS, as subtests.
func transports(t *testing.T, f func(t *testing.T, tlsOn bool)) {
	for _, tlsOn := range []bool{false, true} {
		name := "plain"
		if tlsOn {
			name = "tls"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, tlsOn)
		})
	}
}

// readBody reads one response from br and returns its status and body.
func readBody(t *testing.T, br *bufio.Reader, what string) (int, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: body: %v", what, err)
	}
	return resp.StatusCode, string(b)
}

// held is holdConn's server: a request for /hold tells entered and waits
// for release; armed counts the requests served armed.
type held struct {
	entered, release chan struct{}
	armed            *atomic.Int64
}

// holdConn serves, over TLS when tlsOn, a handler that answers a request
// with its path, and dials it; it sends two requests first, so that the
// connection's next ones are served armed.
func holdConn(t *testing.T, tlsOn bool) (net.Conn, *bufio.Reader, held) {
	t.Helper()
	h := held{entered: make(chan struct{}), release: make(chan struct{})}
	cfg := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			h.entered <- struct{}{}
			<-h.release
		}
		io.WriteString(w, r.URL.Path)
	})}
	h.armed = countArmed(t, cfg)
	c, br := armedDial(t, cfg, tlsOn)
	for _, p := range []string{"/1", "/2"} { // the first is never armed
		io.WriteString(c, "GET "+p+" HTTP/1.1\r\nHost: a\r\n\r\n")
		if st, body := readBody(t, br, p); st != 200 || body != p {
			t.Fatalf("%s: %d %q", p, st, body)
		}
	}
	return c, br, h
}

// TestArmedPipelinedDuringHandler: on a keep-alive connection served armed,
// a request that arrives while the handler of the one before runs (after
// the read that took that one's head, before the wait for the next) is
// answered at once: its arrival is not lost between the read and the wait.
// So is one that arrives after the response, and a burst of requests in
// one write.
func TestArmedPipelinedDuringHandler(t *testing.T) {
	t.Parallel()
	transports(t, testArmedPipelined)
}

func testArmedPipelined(t *testing.T, tlsOn bool) {
	c, br, h := holdConn(t, tlsOn)
	entered, release, armed := h.entered, h.release, h.armed
	for round := range 3 {
		io.WriteString(c, "GET /hold HTTP/1.1\r\nHost: a\r\n\r\n")
		<-entered
		// The next request reaches the socket while the handler runs (a
		// loopback write returns with its bytes in the peer's socket).
		io.WriteString(c, "GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
		release <- struct{}{}
		start := time.Now()
		for _, p := range []string{"/hold", "/next"} {
			if st, body := readBody(t, br, p); st != 200 || body != p {
				t.Fatalf("round %d: %s: %d %q", round, p, st, body)
			}
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("round %d: answered after %v", round, d)
		}
	}
	// A burst: many heads in one write, more than one read buffer's worth.
	var burst strings.Builder
	for i := range 200 {
		burst.WriteString("GET /b" + strings.Repeat("x", i%50) + " HTTP/1.1\r\nHost: a\r\n\r\n")
	}
	io.WriteString(c, burst.String())
	for i := range 200 {
		p := "/b" + strings.Repeat("x", i%50)
		if st, body := readBody(t, br, p); st != 200 || body != p {
			t.Fatalf("burst %d: %d %q", i, st, body)
		}
	}
	if n := armed.Load(); n < 200+7 {
		t.Errorf("%d requests served armed, want at least 207 (all but the first)", n)
	}
}

// watchHandler answers a request with its path; /slow after three times
// the background read's delay (a watch starts, and ends with it), /wait
// once its context is done or after 10 s, sending the context's error to
// cancelled (nil: not done), and telling entered (if not nil) first.
func watchHandler(entered chan<- struct{}, cancelled chan<- error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/wait":
			if entered != nil {
				entered <- struct{}{}
			}
			select {
			case <-r.Context().Done():
				cancelled <- r.Context().Err()
			case <-time.After(10 * time.Second):
				cancelled <- nil
			}
		case "/slow":
			time.Sleep(3 * backgroundReadDelay)
		}
		io.WriteString(w, r.URL.Path)
	})
}

// exchange sends a GET of each path on c and reads its answer, the path.
func exchange(t *testing.T, c net.Conn, br *bufio.Reader, paths ...string) {
	t.Helper()
	for _, p := range paths {
		io.WriteString(c, "GET "+p+" HTTP/1.1\r\nHost: a\r\n\r\n")
		if st, body := readBody(t, br, p); st != 200 || body != p {
			t.Fatalf("%s: %d %q", p, st, body)
		}
	}
}

// TestArmedClientGone: a client that closes while a request served armed is
// in its handler (past the background read's delay) cancels the request's
// context, as the background read does for one served otherwise; and a
// slow request whose client stays gets its answer.
func TestArmedClientGone(t *testing.T) {
	t.Parallel()
	transports(t, testArmedClientGone)
}

func testArmedClientGone(t *testing.T, tlsOn bool) {
	cancelled := make(chan error, 1)
	cfg := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: watchHandler(nil, cancelled)}
	armed := countArmed(t, cfg)
	c, br := armedDial(t, cfg, tlsOn)
	exchange(t, c, br, "/1", "/slow", "/slow", "/2")
	io.WriteString(c, "GET /wait HTTP/1.1\r\nHost: a\r\n\r\n")
	testutil.WaitFor(t, 5*time.Second, "the request in its handler", func() bool { return armed.Load() == 4 })
	c.Close()
	if err := <-cancelled; err != context.Canceled {
		t.Errorf("context error %v, want canceled", err)
	}
}

// TestArmedOutside: on a connection served armed, a request with a body
// and an upgrade are served outside the armed read (they read from the
// client), correctly, and the requests after the body are armed again.
func TestArmedOutside(t *testing.T) {
	t.Parallel()
	transports(t, testArmedOutside)
}

func testArmedOutside(t *testing.T, tlsOn bool) {
	cfg := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			hijackEcho(t, w) // server_test.go
			return
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("body: %v", err)
		}
		io.WriteString(w, r.URL.Path+" "+string(b))
	})}
	armed := countArmed(t, cfg)
	c, br := armedDial(t, cfg, tlsOn)
	steps := []struct{ raw, want string }{
		{"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n", "/1 "},
		{"GET /2 HTTP/1.1\r\nHost: a\r\n\r\n", "/2 "},
		{"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", "/p hello"},
		{"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "/c abc"},
		{"GET /3 HTTP/1.1\r\nHost: a\r\n\r\n", "/3 "},
	}
	for _, s := range steps {
		io.WriteString(c, s.raw)
		if st, body := readBody(t, br, s.want); st != 200 || body != s.want {
			t.Fatalf("%q: %d %q", s.want, st, body)
		}
	}
	if n := armed.Load(); n != 2 {
		t.Errorf("%d requests served armed, want 2 (/2 and /3)", n)
	}
	upgradeEcho(t, c, br) // server_test.go
}

// TestArmedHandlerPanic: a handler that panics in a request served armed
// closes its connection; the server goes on serving.
func TestArmedHandlerPanic(t *testing.T) {
	t.Parallel()
	cfg := &http.Server{ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			time.Sleep(20 * time.Millisecond) // past backgroundReadDelay: a watch is on
			panic("boom")
		}
		io.WriteString(w, "fine")
	})}
	armed := countArmed(t, cfg)
	addr, _ := startWith(t, nil, cfg)
	c, br := dial(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if st, body := readBody(t, br, "/"); st != 200 || body != "fine" {
		t.Fatalf("first: %d %q", st, body)
	}
	io.WriteString(c, "GET /panic HTTP/1.1\r\nHost: a\r\n\r\n")
	if b, err := io.ReadAll(br); err != nil || len(b) != 0 {
		t.Errorf("after the panic: read %q (%v), want the connection closed", b, err)
	}
	if armed.Load() != 1 {
		t.Errorf("the panicking request was not served armed")
	}
	if rs := testutil.RawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"); len(rs) != 1 || rs[0].Body != "fine" {
		t.Errorf("after the panic: %+v", rs)
	}
}

// TestArmedRejects: a head that breaks a rule and a target that does not
// parse, on a connection served armed, are answered as on any connection, and the connection closes
// after its lingering read (which must not wait for the armed read's lock).
func TestArmedRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, raw, status string }{
		{"header", "GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n", "HTTP/1.1 400"},
		{"target", "GET http://[::1 HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 400"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "fine") })}
			addr, s := startWith(t, nil, cfg)
			c, br := dial(t, addr)
			for range 2 { // the second is armed
				io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
				if st, body := readBody(t, br, "/"); st != 200 || body != "fine" {
					t.Fatalf("%d %q", st, body)
				}
			}
			start := time.Now()
			io.WriteString(c, tc.raw)
			b, err := io.ReadAll(br) // the server's close ends it
			if err != nil || !strings.HasPrefix(string(b), tc.status) {
				t.Fatalf("read %q (%v), want %s and the connection closed", b, err, tc.status)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("closed after %v", d)
			}
			// The server ends the connection once the client's close ends
			// the lingering read.
			c.Close()
			testutil.WaitFor(t, 5*time.Second, "the connection ended", func() bool { return s.connCount() == 0 })
		})
	}
}

// TestArmedHalfClose: a client that sends its last request and closes its
// side while the request before is in its handler gets both answers, then
// the server's close at once: its FIN, queued with the last bytes, raised
// its event before the read that took them, so the read must say it is
// there (TCP_INQ) rather than the reader wait for another event.
func TestArmedHalfClose(t *testing.T) {
	t.Parallel()
	transports(t, testArmedHalfClose)
}

func testArmedHalfClose(t *testing.T, tlsOn bool) {
	c, br, h := holdConn(t, tlsOn)
	entered, release, armed := h.entered, h.release, h.armed
	io.WriteString(c, "GET /hold HTTP/1.1\r\nHost: a\r\n\r\n")
	<-entered
	io.WriteString(c, "GET /last HTTP/1.1\r\nHost: a\r\n\r\n")
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatalf("close write: %v", err)
	}
	close(release)
	start := time.Now()
	for _, p := range []string{"/hold", "/last"} {
		if st, body := readBody(t, br, p); st != 200 || body != p {
			t.Fatalf("%s: %d %q", p, st, body)
		}
	}
	if b, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after the last answer: read %q %v, want the server's close", b, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("closed after %v", d)
	}
	if n := armed.Load(); n < 3 {
		t.Errorf("%d requests served armed, want 3", n)
	}
}

// TestArmedWatchEnds: the poller's watch of a request served armed whose
// handler ran past the background read's delay ends with the request (a
// watch left on answered for the next requests' bytes, and connections
// stalled), and costs an epoll_ctl only at the connection's first watch:
// its registration (EPOLLRDHUP, edge-triggered) is kept, and the watches
// after only flip the connection's state (before, each watch cost an
// EPOLL_CTL_ADD and its end an EPOLL_CTL_DEL).
func TestArmedWatchEnds(t *testing.T) {
	t.Parallel()
	cfg := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(3 * backgroundReadDelay) // the behaviour under test: a watch starts
		}
		io.WriteString(w, r.URL.Path)
	})}
	armed := countArmed(t, cfg)
	waitsOf(t, cfg, waits{sweepEvery: time.Hour, busyGap: time.Hour}) // never parked: no epoll_ctl of its own
	addr, s := startWith(t, nil, cfg)
	c, br := dial(t, addr)
	var pl *poller // made by Serve before its first accept: loaded after the first answer
	ctls := func() int {
		pl.call.mu.Lock()
		defer pl.call.mu.Unlock()
		return pl.call.calls
	}
	var first int // the epoll_ctl calls made by the first watch's end
	for i, p := range []string{"/1", "/slow", "/2", "/slow", "/slow"} {
		io.WriteString(c, "GET "+p+" HTTP/1.1\r\nHost: a\r\n\r\n")
		if st, body := readBody(t, br, p); st != 200 || body != p {
			t.Fatalf("%s: %d %q", p, st, body)
		}
		if pl = s.poller.Load(); pl == nil {
			t.Fatal("no poller made")
		}
		pl.mu.Lock()
		var watching []*conn
		for _, wc := range pl.watched {
			watching = append(watching, wc)
		}
		pl.mu.Unlock()
		for _, wc := range watching {
			wc.bgMu.Lock()
			on := wc.bgWatching
			wc.bgMu.Unlock()
			if on {
				t.Fatalf("after %s: a watch left on", p)
			}
		}
		switch n := ctls(); {
		case i == 1:
			first = n // the first idle wait's park (ADD), the watch's (MOD)
		case i > 1 && n != first:
			t.Fatalf("after %s: %d epoll_ctl calls since the first watch, want none", p, n-first)
		}
	}
	if armed.Load() != 4 {
		t.Errorf("%d requests served armed, want 4", armed.Load())
	}
}

// TestArmedHupBeforeWatch: a client that closes while a request served
// armed is in its handler, before its watch starts, cancels the request's
// context once the watch starts: at the connection's first watch, whose
// registration finds the close there; and at a later one, whose
// registration (kept, edge-triggered) reported the close while no request
// was watched, and does not report it again: the close was remembered.
// Not parallel: it sets testHookBgDue.
func TestArmedHupBeforeWatch(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		for _, registered := range []bool{false, true} {
			name := map[bool]string{false: "plain", true: "tls"}[tlsOn] + map[bool]string{false: "/first", true: "/registered"}[registered]
			t.Run(name, func(t *testing.T) { testArmedHupBeforeWatch(t, tlsOn, registered) })
		}
	}
}

func testArmedHupBeforeWatch(t *testing.T, tlsOn, registered bool) {
	entered, cancelled := make(chan struct{}, 1), make(chan error, 1)
	cfg := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: watchHandler(entered, cancelled)}
	c, br := armedDial(t, cfg, tlsOn)
	paths := []string{"/1"}
	if registered {
		paths = append(paths, "/slow")
	}
	exchange(t, c, br, paths...)
	// The timer that starts the watch waits until the client's close is
	// in the socket (CLOSE_WAIT) and, with a registration, reported.
	closed := make(chan struct{})
	hook := func(b *bgTimer) {
		sc := b.c.Load()
		if sc == nil || sc.srv.cfg != cfg {
			return // another test's
		}
		<-closed
		for deadline := time.Now().Add(10 * time.Second); ; {
			var state uint8
			_ = sc.idle.raw.Control(func(fd uintptr) {
				if info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
					state = info.State
				}
			})
			sc.bgMu.Lock()
			hup := sc.bgHup
			sc.bgMu.Unlock()
			if state == unix.BPF_TCP_CLOSE_WAIT && (hup || !registered) {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("the close not seen within 10 s (tcp state %d, reported %v)", state, hup)
				return
			}
			time.Sleep(time.Millisecond) // polling a condition, not synchronising on time
		}
	}
	testHookBgDue.Store(&hook)
	defer testHookBgDue.Store(nil)
	io.WriteString(c, "GET /wait HTTP/1.1\r\nHost: a\r\n\r\n")
	<-entered
	c.Close()
	close(closed)
	if err := <-cancelled; err != context.Canceled {
		t.Errorf("context error %v, want canceled", err)
	}
}

// TestArmedWatchPark: a connection whose idle waits are all parked in the
// poller, its socket's registration changed from the watch's to the idle
// wait's and back: a watch after a park notices the client's close, a
// park after a watch wakes up for the next request, and for the client's
// close.
func TestArmedWatchPark(t *testing.T) {
	t.Parallel()
	transports(t, testArmedWatchPark)
}

func testArmedWatchPark(t *testing.T, tlsOn bool) {
	cancelled := make(chan error, 1)
	cfg := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: watchHandler(nil, cancelled)}
	var closedConns atomic.Int64
	cfg.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateClosed {
			closedConns.Add(1)
		}
	}
	armed := countArmed(t, cfg)
	w := waits{sweepEvery: time.Hour, busyGap: 0} // every idle wait parked
	var addr string
	var ccfg *tls.Config
	if tlsOn {
		addr, ccfg = startTLSWaits(t, cfg, w)
	} else {
		waitsOf(t, cfg, w)
		addr, _ = startWith(t, nil, cfg)
	}
	open := func() (net.Conn, *bufio.Reader) {
		if tlsOn {
			c := dialTLS(t, addr, ccfg)
			return c, bufio.NewReader(c)
		}
		return dial(t, addr)
	}
	// A watch, parks, a watch again, and the client's close in the last.
	c, br := open()
	exchange(t, c, br, "/1", "/slow", "/2", "/slow")
	n := armed.Load()
	io.WriteString(c, "GET /wait HTTP/1.1\r\nHost: a\r\n\r\n")
	testutil.WaitFor(t, 5*time.Second, "the request in its handler", func() bool { return armed.Load() == n+1 })
	c.Close() // before the watch or during it: both end the request

	if err := <-cancelled; err != context.Canceled {
		t.Errorf("context error %v, want canceled", err)
	}
	// The client's close while parked after a watch ends the connection.
	testutil.WaitFor(t, 5*time.Second, "the first connection ended", func() bool { return closedConns.Load() == 1 })
	c, br = open()
	exchange(t, c, br, "/1", "/slow")
	c.Close()
	testutil.WaitFor(t, 5*time.Second, "the second connection ended", func() bool { return closedConns.Load() == 2 })
	if n := armed.Load(); n != 5 {
		t.Errorf("%d requests served armed, want 5 (all but each connection's first)", n)
	}
}

// TestArmedStarted: a request read armed after a wake has its start
// (Started) from that wake: a time with a monotonic reading between the
// client's write and the handler; the connection's first request and one
// queued behind another in the same write have none (zero), and the
// handler reads the clock itself.
func TestArmedStarted(t *testing.T) {
	transports(t, func(t *testing.T, tlsOn bool) {
		type seen struct {
			start, in time.Time
		}
		got := make(chan seen, 4)
		cfg := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s, _ := w.(interface{ Started() time.Time })
			if s == nil {
				t.Errorf("%T has no Started", w)
				return
			}
			got <- seen{s.Started(), time.Now()}
		})}
		c, br := armedDial(t, cfg, tlsOn)
		get := func(n int, what string) []seen {
			t.Helper()
			io.WriteString(c, strings.Repeat("GET / HTTP/1.1\r\nHost: a\r\n\r\n", n))
			var ss []seen
			for range n {
				if st, _ := readBody(t, br, what); st != 200 {
					t.Fatalf("%s: status %d", what, st)
				}
				ss = append(ss, <-got)
			}
			return ss
		}
		if s := get(1, "first"); !s[0].start.IsZero() {
			t.Errorf("first request: Started %v, want zero", s[0].start)
		}
		// Until a request arrives while the server waits (its head's
		// first bytes then come with a wake), a few tries.
		for deadline := time.Now().Add(5 * time.Second); ; {
			before := time.Now()
			s := get(1, "after a wait")[0]
			if !s.start.IsZero() {
				if s.start.Before(before) || s.start.After(s.in) || s.start.Round(0) == s.start {
					t.Errorf("Started %v: want a monotonic time within [%v, %v]", s.start, before, s.in)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no request read after a wake had a Started")
			}
		}
		if s := get(2, "burst"); !s[1].start.IsZero() {
			t.Errorf("request queued behind another: Started %v, want zero", s[1].start)
		}
	})
}

// TestArmedStartedNotLeft: a request read armed whose start was taken
// (Started) but that is refused before its handler runs (a chunked head
// announcing a Content-Length trailer: 400, the connection closed) leaves
// no start in its session, which the next connection takes from the pool:
// that connection's first request has none (zero), not the refused one's.
func TestArmedStartedNotLeft(t *testing.T) {
	got := make(chan time.Time, 64)
	cfg := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := w.(interface{ Started() time.Time })
		if s == nil {
			t.Errorf("%T has no Started", w)
			return
		}
		got <- s.Started()
	})}
	waitsOf(t, cfg, waits{sweepEvery: time.Hour, busyGap: busyGap})
	addr, _ := startWith(t, nil, cfg)
	const get = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
	for i := range 20 {
		c, br := dial(t, addr)
		io.WriteString(c, get)
		if st, _ := readBody(t, br, "first"); st != 200 {
			t.Fatalf("try %d: first: status %d", i, st)
		}
		if s := <-got; !s.IsZero() {
			t.Fatalf("try %d: a connection's first request: Started %v, want zero", i, s)
		}
		// Until a request is read after a wake (Started), so that the
		// next one is too (the connection waits busy, not parked).
		for deadline := time.Now().Add(5 * time.Second); ; {
			io.WriteString(c, get)
			if st, _ := readBody(t, br, "after a wait"); st != 200 {
				t.Fatalf("try %d: after a wait: status %d", i, st)
			}
			if s := <-got; !s.IsZero() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("try %d: no request read after a wake had a Started", i)
			}
		}
		// Read armed after the wait for it, then refused.
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: Content-Length\r\n\r\n0\r\n\r\n")
		if st, _ := readBody(t, br, "refused"); st != 400 {
			t.Fatalf("try %d: refused: status %d", i, st)
		}
		if _, err := br.ReadByte(); err == nil {
			t.Fatalf("try %d: the refused request's connection stays open", i)
		}
		c.Close()
	}
}

// TestArmedStartedAfterSpan: the wake that read the rest of a head whose
// first bytes came at an earlier wake starts no request: a request read
// after that one's handler ran, in the same armed read without a wait of
// its own, has no start (zero), not that wake's reading, which came
// before it was sent.
func TestArmedStartedAfterSpan(t *testing.T) {
	for _, inq := range []bool{true, false} {
		name := "inq"
		if !inq {
			name = "no-inq"
		}
		t.Run(name, func(t *testing.T) { testArmedStartedAfterSpan(t, inq) })
	}
}

func testArmedStartedAfterSpan(t *testing.T, inq bool) {
	type seen struct {
		path  string
		start time.Time
	}
	got := make(chan seen, 8)
	release := make(chan struct{})
	active := make(chan struct{}, 64)
	cfg := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := w.(interface{ Started() time.Time })
		if s == nil {
			t.Errorf("%T has no Started", w)
			return
		}
		got <- seen{r.URL.Path, s.Started()}
		if r.URL.Path == "/slow" {
			<-release
		}
	})}
	cfg.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateActive {
			active <- struct{}{}
		}
	}
	waitsOf(t, cfg, waits{sweepEvery: time.Hour, busyGap: busyGap})
	if !inq {
		// Without it, the reader reads the socket again after a read
		// that emptied it, without a wake.
		noInq.Store(cfg, struct{}{})
		t.Cleanup(func() { noInq.Delete(cfg) })
	}
	addr, _ := startWith(t, nil, cfg)
	c, br := dial(t, addr)
	wait := func(ch <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s", what)
		}
	}
	// Until a request is read after a wake (Started): the connection
	// then waits busy on its serving goroutine, not parked.
	for deadline := time.Now().Add(5 * time.Second); ; {
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
		wait(active, "StateActive")
		if st, _ := readBody(t, br, "after a wait"); st != 200 {
			t.Fatalf("after a wait: status %d", st)
		}
		if s := <-got; !s.start.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no request read after a wake had a Started")
		}
	}
	for try := range 10 {
		// A head in two writes: its first bytes read (StateActive), then
		// its rest, read at a wake of its own when the server waited.
		io.WriteString(c, "GET /slow HTTP/1.1\r\n")
		wait(active, "StateActive")
		io.WriteString(c, "Host: a\r\n\r\n")
		if s := <-got; s.path != "/slow" {
			t.Fatalf("try %d: got %s, want /slow", try, s.path)
		}
		// The next request is queued while the handler runs: read in
		// the same armed read, with no wait.
		sent := time.Now()
		io.WriteString(c, "GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
		release <- struct{}{}
		for _, what := range []string{"slow", "next"} {
			if st, _ := readBody(t, br, what); st != 200 {
				t.Fatalf("try %d: %s: status %d", try, what, st)
			}
		}
		wait(active, "StateActive")
		s := <-got
		if s.path != "/next" {
			t.Fatalf("try %d: got %s, want /next", try, s.path)
		}
		if !s.start.IsZero() && s.start.Before(sent) {
			t.Fatalf("try %d: /next: Started %v, before it was sent (%v)", try, s.start, sent)
		}
	}
}

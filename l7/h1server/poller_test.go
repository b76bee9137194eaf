package h1server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weir-lb/weir/l7/h1guard"
	"github.com/weir-lb/weir/test/testutil"
)

// get sends a GET on c and reads the answer, failing the test unless it is
// a 200 with body want.
func get(t *testing.T, c net.Conn, br *bufio.Reader, want string) {
	t.Helper()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != want {
		t.Fatalf("GET: %d %q, want 200 %q", resp.StatusCode, b, want)
	}
}

// connCount returns how many connections s tracks.
func (s *Server) connCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// TestPollerHoldsIdleConns: connections waiting in the poller have no
// goroutine of their own (the goroutines grow by the Server's idle workers
// at most, not by the connections), each is served when its next request
// comes, and Close ends those still waiting.
func TestPollerHoldsIdleConns(t *testing.T) {
	// Not parallel: it counts the process's goroutines.
	const n = 2*maxIdleWorkers + 50
	cfg := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
	ev := watch(t, cfg)
	waitsOf(t, cfg, waitVariants[0]) // parked at once
	addr, s := startWith(t, nil, cfg)
	before := runtime.NumGoroutine()
	cs := make([]net.Conn, n)
	brs := make([]*bufio.Reader, n)
	for i := range cs {
		cs[i], brs[i] = dial(t, addr)
		get(t, cs[i], brs[i], "ok")
	}
	testutil.WaitFor(t, 10*time.Second, "every connection in the poller", func() bool { return ev.moved() == n })
	if grown := runtime.NumGoroutine() - before; grown > maxIdleWorkers+8 {
		t.Errorf("%d connections waiting in the poller: %d goroutines more, want %d (the idle workers) at most", n, grown, maxIdleWorkers+8)
	}
	for i := 0; i < n; i += 7 { // some wake up, are served and wait again
		get(t, cs[i], brs[i], "ok")
	}
	testutil.WaitFor(t, 10*time.Second, "those back in the poller", func() bool { return ev.moved() == n+(n+6)/7 })
	s.Close()
	for i, br := range brs {
		if _, err := br.ReadByte(); err != io.EOF {
			t.Fatalf("connection %d after Close: read %v, want EOF", i, err)
		}
	}
	if got := s.connCount(); got != 0 {
		t.Errorf("after Close: %d connections tracked, want 0", got)
	}
}

// TestPollerShutdown: Shutdown closes the connections waiting in the
// poller at once and returns.
func TestPollerShutdown(t *testing.T) {
	t.Parallel()
	cfg := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
	ev := watch(t, cfg)
	waitsOf(t, cfg, waitVariants[0])
	addr, s := startWith(t, nil, cfg)
	var brs []*bufio.Reader
	for range 3 {
		c, br := dial(t, addr)
		get(t, c, br, "ok")
		brs = append(brs, br)
	}
	testutil.WaitFor(t, 5*time.Second, "the connections in the poller", func() bool { return ev.moved() == 3 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for i, br := range brs {
		if _, err := br.ReadByte(); err != io.EOF {
			t.Errorf("connection %d after Shutdown: read %v, want EOF", i, err)
		}
	}
}

// TestPollerClosedWhileParked: a connection closed while it waits in the
// poller (connlimit's keep-alive timeout) is ended and forgotten, and a
// connection accepted next, likely on the same descriptor number, is
// served and waits in the poller in its turn.
func TestPollerClosedWhileParked(t *testing.T) {
	t.Parallel()
	cfg := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
	ev := watch(t, cfg)
	addr, s, lim := startLimited(t, cfg, time.Second, waitVariants[0], nil)
	for round := range 2 {
		c, br := dial(t, addr)
		get(t, c, br, "ok")
		testutil.WaitFor(t, 5*time.Second, "the connection in the poller", func() bool { return ev.moved() == 3*round+1 })
		if _, err := br.ReadByte(); err != io.EOF { // the keep-alive timeout
			t.Fatalf("round %d: read %v, want EOF", round, err)
		}
		testutil.WaitFor(t, 5*time.Second, "the closed connection ended and forgotten", func() bool {
			return s.connCount() == 0 && lim.Open() == 0
		})
		c2, br2 := dial(t, addr)
		get(t, c2, br2, "ok")
		testutil.WaitFor(t, 5*time.Second, "the next connection in the poller", func() bool { return ev.moved() == 3*round+2 })
		get(t, c2, br2, "ok")
		c2.Close()
		testutil.WaitFor(t, 5*time.Second, "the next connection ended", func() bool { return s.connCount() == 0 })
	}
}

// TestPollerCtlAllocs: an epoll_ctl on a connection's socket allocates
// nothing (it runs for each watch of a long request and each park): its
// functions for RawConn.Control are made once per poller.
func TestPollerCtlAllocs(t *testing.T) {
	// Not parallel: AllocsPerRun.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	raw, err := sc.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{done: make(chan struct{})}
	p, err := newPoller(s)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { close(s.done); p.close() }()
	c := &conn{srv: s}
	c.idle.raw = raw
	// Disarmed (no events): nothing reaches the poller's wait meanwhile.
	if err := p.ctl(c, unix.EPOLL_CTL_ADD, 1, 0); err != nil {
		t.Fatalf("add: %v", err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if err := p.ctl(c, unix.EPOLL_CTL_MOD, 1, 0); err != nil {
			t.Fatalf("mod: %v", err)
		}
	}); n != 0 {
		t.Errorf("ctl allocates %v objects, want 0", n)
	}
	if err := p.ctl(c, unix.EPOLL_CTL_DEL, 0, 0); err != nil {
		t.Fatalf("del: %v", err)
	}
	// An error still reaches the caller: the socket left the set.
	if err := p.ctl(c, unix.EPOLL_CTL_MOD, 1, 0); !errors.Is(err, unix.ENOENT) {
		t.Errorf("mod after del: %v, want ENOENT", err)
	}
}

// TestShutdownAsServeStarts: a Shutdown or Close that comes while the
// first Serve makes the Server's poller (its listener taken already)
// leaves no poller open, whose goroutine would wait for ever.
func TestShutdownAsServeStarts(t *testing.T) {
	t.Parallel()
	for _, stop := range []string{"Shutdown", "Close"} {
		t.Run(stop, func(t *testing.T) {
			t.Parallel()
			cfg := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
			s := New(cfg, h1guard.New(h1guard.Options{}))
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			stopped := make(chan error, 1)
			pollerMaking.Store(cfg, func() {
				if stop == "Close" {
					stopped <- s.Close()
					return
				}
				stopped <- s.Shutdown(context.Background())
			})
			t.Cleanup(func() { pollerMaking.Delete(cfg) })
			if err := s.Serve(ln); err != http.ErrServerClosed {
				t.Errorf("Serve: %v, want http.ErrServerClosed", err)
			}
			if err := <-stopped; err != nil {
				t.Errorf("%s: %v", stop, err)
			}
			p := s.poller.Load()
			if p == nil {
				t.Fatal("no poller made")
			}
			p.mu.Lock()
			closed := p.closed
			p.mu.Unlock()
			if !closed {
				t.Errorf("the poller of a Server stopped by %s as Serve made it is open", stop)
			}
		})
	}
}

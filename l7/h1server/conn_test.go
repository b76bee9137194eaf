package h1server

import (
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"
	"unsafe"
)

// TestAddrString: addrString writes every address as net's String does.
func TestAddrString(t *testing.T) {
	for _, a := range []net.Addr{
		&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1).To4(), Port: 80},
		&net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 65535}, // 16 bytes, IPv4-mapped
		&net.TCPAddr{IP: net.ParseIP("::1"), Port: 8080},
		&net.TCPAddr{IP: net.ParseIP("2001:db8::1:0:0:1"), Port: 443},
		&net.TCPAddr{IP: net.ParseIP("::ffff:0:1.2.3.4"), Port: 1},
		&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 1, Zone: "eth0"},
		&net.TCPAddr{Port: 9},
		&net.TCPAddr{IP: net.IP{1, 2, 3}, Port: 9},
		&net.UnixAddr{Name: "/run/x.sock", Net: "unix"},
	} {
		if got, want := addrString(a), a.String(); got != want {
			t.Errorf("addrString(%#v) = %q, want %q", a, got, want)
		}
	}
	var a net.Addr = &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 54321}
	if n := testing.AllocsPerRun(100, func() { _ = addrString(a) }); n > 1 {
		t.Errorf("addrString of a TCP address: %v allocations, want 1", n)
	}
}

// TestConnSizeClass: a conn fits the 480-byte size class; a field that
// pushes it past costs every new connection 32 bytes (the next class is
// 512, the largest whose objects with pointers the heap gives no 8-byte
// header; past it, 576): find it a hole among the one-byte fields, or a
// place in the session (conn's doc comment).
func TestConnSizeClass(t *testing.T) {
	const class = 480
	if size := unsafe.Sizeof(conn{}); size > class {
		t.Errorf("conn is %d bytes: past the %d-byte size class", size, class)
	}
}

// pipeConn returns a conn of a net.Pipe, as the Server would start it,
// and the client's end; the test closes both.
func pipeConn(tb testing.TB) (*conn, net.Conn) {
	tb.Helper()
	server, client := net.Pipe()
	tb.Cleanup(func() { server.Close(); client.Close() })
	c := New(&http.Server{}, nil).newConn(tb.Context(), server)
	c.start()
	return c, client
}

// timerConn is pipeConn's conn past its first request that asked for a
// background read (listed with the Server's firstReads): its next takes
// the connection's own timer, bgTimer.
func timerConn(tb testing.TB) (*conn, net.Conn) {
	tb.Helper()
	c, client := pipeConn(tb)
	c.bgListed = true
	return c, client
}

// waitBackgroundRead waits until c's background read runs: its timer's
// function started.
func waitBackgroundRead(tb testing.TB, c *conn) {
	tb.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		c.bgMu.Lock()
		running := c.bgRunning
		c.bgMu.Unlock()
		if running {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatal("the background read did not start within 10 s")
		}
		time.Sleep(time.Millisecond) // polling a condition, not synchronising on time
	}
}

// TestBgTimerHandedOnOnlyIdle: an ended connection hands its background
// read's timer on only when no function of it runs or is due (bgTimer):
// one on its way would run for the next connection.
func TestBgTimerHandedOnOnlyIdle(t *testing.T) {
	t.Run("fired and done", func(t *testing.T) {
		// Its function started the read and decided under bgMu: handed on.
		c, _ := timerConn(t)
		c.startBackgroundReadSoon()
		waitBackgroundRead(t, c)
		c.stopBackgroundRead()
		c.end()
		if c.bgTimer != nil {
			t.Fatal("a timer whose function is done was not handed on")
		}
	})
	t.Run("stopped in time", func(t *testing.T) {
		// The stop comes well within backgroundReadDelay unless this
		// goroutine is held off the CPU that long: a few tries.
		handed := 0
		for range 5 {
			c, _ := timerConn(t)
			c.startBackgroundReadSoon()
			c.stopBackgroundRead()
			c.end()
			if c.bgTimer == nil {
				handed++
			}
		}
		if handed == 0 {
			t.Fatal("no timer stopped in time was handed on in 5 tries")
		}
	})
	t.Run("due", func(t *testing.T) {
		// Its function started and has not decided yet when the
		// connection ends: the timer stays with the connection, and the
		// function, once it runs, finds the request gone.
		c, _ := timerConn(t)
		entered, release := make(chan *bgTimer, 1), make(chan struct{})
		hook := func(b *bgTimer) {
			if b.c.Load() == c { // not an earlier test's timer
				entered <- b
				<-release
			}
		}
		testHookBgDue.Store(&hook)
		defer testHookBgDue.Store(nil)
		c.startBackgroundReadSoon()
		var b *bgTimer
		select {
		case b = <-entered:
		case <-time.After(10 * time.Second):
			t.Fatal("the timer's function did not start within 10 s")
		}
		c.stopBackgroundRead()
		c.end()
		close(release)
		if c.bgTimer != b {
			t.Fatal("a timer whose function was on its way was handed on")
		}
		for deadline := time.Now().Add(10 * time.Second); ; {
			c.bgMu.Lock()
			pending, running := b.pending, c.bgRunning
			c.bgMu.Unlock()
			if running {
				t.Fatal("the function started a read for an ended request")
			}
			if !pending {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the function did not decide within 10 s")
			}
			time.Sleep(time.Millisecond) // polling a condition, not synchronising on time
		}
	})
	t.Run("taken", func(t *testing.T) {
		// A timer handed on (if the pool keeps it) starts the
		// background read of the connection that takes it.
		old, _ := timerConn(t)
		old.startBackgroundReadSoon()
		old.stopBackgroundRead()
		old.end()
		c, _ := timerConn(t)
		c.startBackgroundReadSoon()
		if c.bgTimer.c.Load() != c {
			t.Fatal("the timer taken does not start the taking connection's read")
		}
		waitBackgroundRead(t, c)
		c.stopBackgroundRead()
	})
}

// TestBgFirstListed: a connection's first request that asks for a
// background read is listed with the Server's firstReads and takes no
// timer of its own; the list's timer starts its read backgroundReadDelay
// to twice that later if it still runs, and none for a listed request that
// ended, or a connection that ended; the connection's next request takes
// its own timer, whose function starts that request's read.
func TestBgFirstListed(t *testing.T) {
	t0 := time.Now()
	c, _ := pipeConn(t)
	c.startBackgroundReadSoon()
	if c.bgTimer != nil || !c.bgListed {
		t.Fatalf("a first request took a timer (%v) or was not listed (%v)", c.bgTimer != nil, c.bgListed)
	}
	waitBackgroundRead(t, c)
	if d := time.Since(t0); d < backgroundReadDelay {
		t.Errorf("the listed request's read started after %v, before backgroundReadDelay", d)
	}
	c.stopBackgroundRead()

	ended, _ := pipeConn(t)
	ended.srv = c.srv
	ended.startBackgroundReadSoon()
	ended.stopBackgroundRead()
	gone, _ := pipeConn(t)
	gone.srv = c.srv
	gone.startBackgroundReadSoon()
	gone.end()
	// A request listed after both, which runs: once its read started, the
	// timer went through the two before it.
	last, _ := pipeConn(t)
	last.srv = c.srv
	last.startBackgroundReadSoon()
	waitBackgroundRead(t, last)
	last.stopBackgroundRead()
	for _, x := range []*conn{ended, gone} {
		x.bgMu.Lock()
		running := x.bgRunning
		x.bgMu.Unlock()
		if running {
			t.Error("the list's timer started a read for an ended request")
		}
	}

	c.startBackgroundReadSoon() // its second request
	if c.bgTimer == nil || c.bgTimer.c.Load() != c {
		t.Fatal("a connection's second request did not take its own timer")
	}
	waitBackgroundRead(t, c)
	c.stopBackgroundRead()
	c.end()
}

// TestBgTimerLazy: back-to-back requests leave the background read's timer
// armed, as nginx leaves a timer within NGX_TIMER_LAZY_DELAY, where each
// request re-armed it and stopped it; when it fires for a request that
// ended, it re-arms for the one that runs, whose read then starts.
func TestBgTimerLazy(t *testing.T) {
	c, _ := timerConn(t)
	t0 := time.Now()
	for range 100 {
		c.startBackgroundReadSoon()
		c.stopBackgroundRead()
	}
	c.startBackgroundReadSoon()
	c.bgMu.Lock()
	armedFor, seq := c.bgTimer.armedFor, c.bgTimer.seq
	c.bgMu.Unlock()
	if seq != 101 {
		t.Fatalf("seq %d after 101 requests", seq)
	}
	if d := time.Since(t0); d < backgroundReadDelay && armedFor != 1 {
		t.Errorf("armed last for request %d of 101 within %v: re-armed while armed", armedFor, d)
	}
	waitBackgroundRead(t, c) // the running request's read starts
	c.stopBackgroundRead()
	c.end()
}

// TestPlainPath: a path PlainPath takes is one url.URL's EscapedPath gives
// back as it is, byte by byte over all 256 and for a few paths; what it
// refuses, EscapedPath is asked about.
func TestPlainPath(t *testing.T) {
	t.Parallel()
	paths := []string{"/bench", "/a/b.c~d_e-f", "/$&+,:;=@", "/a?b", "/a b", "/%41", "/*", "/é", "", "*"}
	for b := 0; b < 256; b++ {
		paths = append(paths, string([]byte{'/', byte(b), 'x'}))
	}
	for _, p := range paths {
		if !PlainPath(p) {
			continue
		}
		if got := (&url.URL{Path: p}).EscapedPath(); got != p {
			t.Errorf("PlainPath(%q) = true, but EscapedPath gives %q", p, got)
		}
	}
	if !PlainPath("/bench") || PlainPath("/a b") || PlainPath("") {
		t.Error(`PlainPath("/bench") false, PlainPath("/a b") or PlainPath("") true`)
	}
}

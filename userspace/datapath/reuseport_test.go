package datapath

import (
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// listenReuseport opens a SO_REUSEPORT listener on addr.
func listenReuseport(tb testing.TB, addr string) (net.Listener, uintptr) {
	tb.Helper()
	f, err := ListenReuseport(netip.MustParseAddrPort(addr), 128)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	ln, err := net.FileListener(f)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	return ln, f.Fd()
}

// dialFrom connects from a thread pinned to cpu: on loopback the SYN is
// processed on the sending core.
func dialFrom(cpu int, addr string) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // the thread is discarded after: its mask is not restored
		var set unix.CPUSet
		set.Set(cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			errc <- err
			return
		}
		c, err := net.DialTimeout("tcp4", addr, 5*time.Second)
		if err == nil {
			c.Close()
		}
		errc <- err
	}()
	return <-errc
}

func TestReuseportSelectsCoreSocket(t *testing.T) {
	requirePrivileged(t)
	if runtime.NumCPU() < 2 {
		t.Skip("needs 2 CPUs")
	}
	r, err := LoadReuseport()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	ln0, fd0 := listenReuseport(t, "127.0.0.1:0")
	ln1, fd1 := listenReuseport(t, ln0.Addr().String())
	if err := r.Register(0, fd0); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(1, fd1); err != nil {
		t.Fatal(err)
	}
	if err := r.AttachTo(fd0); err != nil {
		t.Fatal(err)
	}
	accepted := func(ln net.Listener) chan string {
		ch := make(chan string, 64)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					close(ch)
					return
				}
				ch <- c.RemoteAddr().String()
				c.Close()
			}
		}()
		return ch
	}
	got := []chan string{accepted(ln0), accepted(ln1)}
	addr := ln0.Addr().String()
	for i := range 20 {
		cpu := i % 2
		if err := dialFrom(cpu, addr); err != nil {
			t.Fatalf("dial from cpu %d: %v", cpu, err)
		}
		select {
		case <-got[cpu]:
		case <-got[1-cpu]:
			t.Fatalf("connection %d from cpu %d accepted by the socket of cpu %d", i, cpu, 1-cpu)
		case <-time.After(5 * time.Second):
			t.Fatalf("connection %d not accepted within 5s", i)
		}
	}
	// The program runs once per SYN it sees: a SYN retransmitted on a busy
	// machine counts twice, so at least 20, and never a fallback.
	sel, fb, err := r.Selected()
	if err != nil || sel < 20 || fb != 0 {
		t.Fatalf("selected %d fell back %d (err %v), want at least 20 and 0", sel, fb, err)
	}
	// An empty slot falls back to the kernel's choice: never refused.
	if err := r.Unregister(1); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := dialFrom(1, addr); err != nil {
			t.Fatalf("dial %d with an empty slot: %v", i, err)
		}
		select {
		case <-got[0]:
		case <-got[1]:
		case <-time.After(5 * time.Second):
			t.Fatalf("connection %d with an empty slot not accepted within 5s", i)
		}
	}
	// A retransmitted SYN falls back twice, as above.
	if _, fb, _ := r.Selected(); fb < 10 {
		t.Fatalf("fell back %d, want at least 10", fb)
	}
}

// TestListenReuseportKeepAlive: the listening socket has the client
// connections' keep-alive (tcplisten.KeepAlive) from before listen, so a
// connection queued before any worker takes the socket inherits it.
func TestListenReuseportKeepAlive(t *testing.T) {
	_, fd := listenReuseport(t, "127.0.0.1:0")
	for _, o := range []struct {
		name       string
		level, opt int
		want       int
	}{
		{"SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
		{"TCP_KEEPIDLE", unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 15},
		{"TCP_KEEPINTVL", unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 15},
		{"TCP_KEEPCNT", unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 9},
	} {
		if got, err := unix.GetsockoptInt(int(fd), o.level, o.opt); err != nil || got != o.want {
			t.Errorf("%s of the listening socket: %d, %v; want %d", o.name, got, err, o.want)
		}
	}
}

// TestListenReuseportDeferAccept: the listening socket defers each
// connection (TCP_DEFER_ACCEPT) until its first bytes arrive, so that a
// worker's accept is followed by a read that finds the request, not one
// that finds nothing and waits; a client that sends nothing is still
// accepted once the deferral ends (about a second: one SYN-ACK
// retransmission), so the server's timeouts then apply to it.
func TestListenReuseportDeferAccept(t *testing.T) {
	ln, fd := listenReuseport(t, "127.0.0.1:0")
	if got, err := unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT); err != nil || got != 1 {
		t.Fatalf("TCP_DEFER_ACCEPT of the listening socket: %d, %v; want 1", got, err)
	}
	tl := ln.(*net.TCPListener)
	accept := func(d time.Duration) (net.Conn, error) {
		if err := tl.SetDeadline(time.Now().Add(d)); err != nil {
			t.Fatal(err)
		}
		return tl.Accept()
	}
	// A client that sends nothing: accepted only when the deferral ends
	// (a second, then one SYN-ACK retransmission), never at once.
	silent, err := net.DialTimeout("tcp4", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	start := time.Now()
	s, err := accept(10 * time.Second)
	if err != nil {
		t.Fatalf("a silent client was not accepted within 10s: %v", err)
	}
	s.Close()
	if waited := time.Since(start); waited < 900*time.Millisecond {
		t.Fatalf("a silent client was accepted after %v, want the deferral's second", waited)
	}
	// A client that sends: accepted once its bytes came, and they are
	// there to read at once.
	c, err := net.DialTimeout("tcp4", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("G")); err != nil {
		t.Fatal(err)
	}
	s, err = accept(5 * time.Second)
	if err != nil {
		t.Fatalf("accept after the client's first byte: %v", err)
	}
	defer s.Close()
	var b [1]byte
	if err := unix.SetNonblock(int(fdOf(t, s)), true); err != nil {
		t.Fatal(err)
	}
	if n, err := unix.Read(int(fdOf(t, s)), b[:]); n != 1 || b[0] != 'G' {
		t.Fatalf("first read of the accepted connection: %d, %v; want the client's byte without waiting", n, err)
	}
}

// fdOf returns c's socket descriptor.
func fdOf(tb testing.TB, c net.Conn) uintptr {
	tb.Helper()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		tb.Fatal(err)
	}
	var fd uintptr
	if err := rc.Control(func(f uintptr) { fd = f }); err != nil {
		tb.Fatal(err)
	}
	return fd
}

package tcplisten

import (
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// sockopts are the options of an accepted connection that this package is
// about.
type sockopts struct {
	KeepAlive, Idle, Interval, Count, NoDelay int
}

func getSockopts(t testing.TB, c net.Conn) sockopts {
	t.Helper()
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var o sockopts
	var gerr error
	get := func(fd uintptr, level, opt int, v *int) {
		if gerr == nil {
			*v, gerr = unix.GetsockoptInt(int(fd), level, opt)
		}
	}
	if err := rc.Control(func(fd uintptr) {
		get(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, &o.KeepAlive)
		get(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, &o.Idle)
		get(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, &o.Interval)
		get(fd, unix.IPPROTO_TCP, unix.TCP_KEEPCNT, &o.Count)
		get(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, &o.NoDelay)
	}); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatalf("getsockopt: %v", gerr)
	}
	return o
}

// listeningFile returns a listening socket on 127.0.0.1 as a file, as the
// supervisor hands one to a worker.
func listeningFile(t testing.TB) *os.File {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// acceptedOpts dials ln, accepts the connection and returns its options.
func acceptedOpts(t testing.TB, ln net.Listener) sockopts {
	t.Helper()
	dial(t, ln.Addr().String())
	return acceptOpts(t, ln)
}

// dial connects to addr (with no keep-alive of its own) until the test's
// end.
func dial(t testing.TB, addr string) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, KeepAlive: -1}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
}

// acceptOpts accepts one connection on ln and returns its options.
func acceptOpts(t testing.TB, ln net.Listener) sockopts {
	t.Helper()
	if err := ln.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	return getSockopts(t, a)
}

// TestAcceptedOptionsUnchanged: a connection accepted through FileListener
// has the options one accepted through net.FileListener has (Go's
// keep-alive: 15 s, 15 s, 9 probes; TCP_NODELAY), now inherited from the
// listening socket.
func TestAcceptedOptionsUnchanged(t *testing.T) {
	f := listeningFile(t)
	plain, err := net.FileListener(f)
	if err != nil {
		t.Fatal(err)
	}
	want := acceptedOpts(t, plain)
	plain.Close()

	ln, err := FileListener(f)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := acceptedOpts(t, ln)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("accepted connection's options (-net.FileListener +FileListener):\n%s", diff)
	}
	if diff := cmp.Diff(sockopts{KeepAlive: 1, Idle: 15, Interval: 15, Count: 9, NoDelay: 1}, got); diff != "" {
		t.Errorf("accepted connection's options (-want +got):\n%s", diff)
	}
}

// TestAcceptLeavesInheritedKeepAlive: Accept no longer sets keep-alive, so
// values only the listening socket has reach the accepted connection. It
// fails if Go's Accept still sets its own (15 s): net's listener has changed
// and leaveKeepAlive no longer applies.
func TestAcceptLeavesInheritedKeepAlive(t *testing.T) {
	ka := net.KeepAliveConfig{Enable: true, Idle: 77 * time.Second, Interval: 7 * time.Second, Count: 5}
	ln, err := fileListener(listeningFile(t), ka)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for i := range 2 { // the setting holds for every accept
		got := acceptedOpts(t, ln)
		if diff := cmp.Diff(sockopts{KeepAlive: 1, Idle: 77, Interval: 7, Count: 5, NoDelay: 1}, got); diff != "" {
			t.Errorf("connection %d's options (-want +got):\n%s", i, diff)
		}
	}
}

func TestLeaveKeepAliveFindsListenConfig(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if !leaveKeepAlive(ln.(*net.TCPListener)) {
		t.Fatal("net.TCPListener has no ListenConfig field lc: Accept sets keep-alive per connection again (4 system calls)")
	}
}

// rawListeningFile returns a listening socket on 127.0.0.1 made with raw
// system calls, KeepAlive set before listen if setFirst.
func rawListeningFile(t testing.TB, setFirst bool) *os.File {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "tcp:127.0.0.1")
	t.Cleanup(func() { f.Close() })
	if setFirst {
		if err := SetKeepAlive(fd); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 16); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestQueuedConnectionKeepAlive: a connection queued before FileListener
// (as while a worker starts) has KeepAlive only if the socket had it before:
// what datapath.ListenReuseport does with SetKeepAlive.
func TestQueuedConnectionKeepAlive(t *testing.T) {
	for _, tc := range []struct {
		name     string
		setFirst bool
		want     sockopts
	}{
		{"set before listen", true, sockopts{KeepAlive: 1, Idle: 15, Interval: 15, Count: 9, NoDelay: 1}},
		// Why: the connection is copied from the listening socket when it
		// is queued, not when it is accepted.
		// (Idle, Interval and Count then are the system's, not compared.)
		{"set by FileListener only", false, sockopts{KeepAlive: 0, NoDelay: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := rawListeningFile(t, tc.setFirst)
			sa, err := unix.Getsockname(int(f.Fd()))
			if err != nil {
				t.Fatal(err)
			}
			dial(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*unix.SockaddrInet4).Port)))
			ln, err := FileListener(f)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			got := acceptOpts(t, ln)
			if !tc.setFirst {
				got.Idle, got.Interval, got.Count = 0, 0, 0
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("queued connection's options (-want +got):\n%s", diff)
			}
		})
	}
}

package epollset

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSetWakesOnMember checks that a wait in Raw.Read on a Set returns
// once a member becomes readable, and not before: the descriptor is in
// the runtime's poller and non-blocking.
func TestSetWakesOnMember(t *testing.T) {
	set, err := New("the test's", "test-epoll")
	if err != nil {
		t.Fatal(err)
	}
	defer set.File.Close()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(p[0])}
	if err := unix.EpollCtl(set.FD, unix.EPOLL_CTL_ADD, p[0], &ev); err != nil {
		t.Fatal(err)
	}
	events := make([]unix.EpollEvent, 4)
	wait := func() (int, error) {
		var n int
		var werr error
		err := set.Raw.Read(func(fd uintptr) bool {
			n, werr = unix.EpollWait(int(fd), events, 0)
			return werr != nil || n > 0
		})
		if err != nil {
			return 0, err
		}
		return n, werr
	}
	// Nothing ready: the wait ends at the deadline, not with an event.
	if err := set.File.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if n, err := wait(); err == nil {
		t.Fatalf("wait on an empty set returned %d events, want a deadline error", n)
	}
	if err := set.File.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() {
		n, err := wait()
		if err != nil {
			t.Error(err)
		}
		done <- n
	}()
	if _, err := unix.Write(p[1], []byte{1}); err != nil {
		t.Fatal(err)
	}
	if n := <-done; n != 1 || events[0].Fd != int32(p[0]) {
		t.Fatalf("wait returned %d events (first fd %d), want the pipe's (%d)", n, events[0].Fd, p[0])
	}
}

package drain

import (
	"errors"
	"net"
	"testing"
	"time"
)

// Stop wakes a blocked Accept, which then returns every connection queued
// at that time, then net.ErrClosed.
func TestListenerStopTakesTheQueue(t *testing.T) {
	t.Parallel()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := NewListener(tcp)
	defer ln.Close()
	const queued = 5
	for range queued {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	type accepted struct {
		n   int
		err error
	}
	done := make(chan accepted, 1)
	started := make(chan struct{})
	go func() {
		close(started)
		n := 0
		for {
			c, err := ln.Accept()
			if err != nil {
				done <- accepted{n, err}
				return
			}
			c.Close()
			n++
		}
	}()
	<-started
	ln.Stop()
	select {
	case got := <-done:
		if got.n != queued || !errors.Is(got.err, net.ErrClosed) {
			t.Fatalf("Accept after Stop: %d connections then %v, want %d then net.ErrClosed", got.n, got.err, queued)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Accept still blocked 10s after Stop")
	}
}

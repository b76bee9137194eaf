package drain

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
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

// fakeTunnels stands for a proxy with open WebSockets.
type fakeTunnels struct {
	open    atomic.Int32
	goneAt  atomic.Pointer[time.Time]
	goAways atomic.Int32
}

func (f *fakeTunnels) Tunnels() int { return int(f.open.Load()) }
func (f *fakeTunnels) GoAway() {
	now := time.Now()
	f.goneAt.Store(&now)
	f.goAways.Add(1)
	f.open.Store(0)
}

// Shutdown lets a request in flight finish, with Connection: close, then
// waits for the tunnels until Timeout and sends them GoAway.
func TestShutdownFinishesInFlightThenGoesAway(t *testing.T) {
	t.Parallel()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	inHandler := make(chan struct{})
	release := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(inHandler)
			<-release
		}
		io.WriteString(w, "ok")
	})}
	errc := make(chan error, 1)
	s := Serve("http", srv, tcp, nil, errc)
	client := &http.Client{Timeout: 10 * time.Second}
	get := func(path string) (*http.Response, error) {
		resp, err := client.Get("http://" + tcp.Addr().String() + path)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	if _, err := get("/"); err != nil {
		t.Fatal(err)
	}
	type result struct {
		resp *http.Response
		err  error
	}
	slow := make(chan result, 1)
	go func() {
		resp, err := get("/slow")
		slow <- result{resp, err}
	}()
	<-inHandler
	tunnels := &fakeTunnels{}
	tunnels.open.Store(1)
	const timeout = 500 * time.Millisecond
	start := time.Now()
	done := make(chan struct{})
	go func() {
		Shutdown([]Server{s}, tunnels, Options{Timeout: timeout})
		close(done)
	}()
	// Shutdown waits for the request in flight: release it once the
	// listener stopped (a new connection is refused).
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", tcp.Addr().String())
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting 5s after Shutdown began")
		}
		time.Sleep(10 * time.Millisecond) // polls the listener's state
	}
	close(release)
	r := <-slow
	if r.err != nil {
		t.Fatalf("request in flight during Shutdown: %v", r.err)
	}
	if !r.resp.Close {
		t.Errorf("response during Shutdown without Connection: close")
	}
	<-done
	goneAt := tunnels.goneAt.Load()
	if tunnels.goAways.Load() != 1 || goneAt == nil || goneAt.Sub(start) < timeout {
		t.Errorf("GoAway called %d times, %v after Shutdown began; want once, after the %v timeout", tunnels.goAways.Load(), goneAt, timeout)
	}
	select {
	case err := <-errc:
		t.Errorf("Serve: %v", err)
	default:
	}
}

package drain

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
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
	dialQueued(t, ln.Addr().String(), queued)
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

// Release makes Accept return net.ErrClosed at once and leaves the queued
// connections on the socket, where another holder of the same socket (the
// new process of a binary upgrade) accepts them.
func TestListenerReleaseLeavesTheQueue(t *testing.T) {
	t.Parallel()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := tcp.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	other, err := net.FileListener(f) // the same socket, as the new process holds it
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ln := NewListener(tcp)
	const queued = 5
	dialQueued(t, ln.Addr().String(), queued)
	ln.Release()
	if c, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("Accept after Release: %v, want net.ErrClosed at once", err)
	}
	ln.Close()
	for i := range queued {
		other.(*net.TCPListener).SetDeadline(time.Now().Add(5 * time.Second))
		c, err := other.Accept()
		if err != nil {
			t.Fatalf("the other holder accepted %d of %d queued connections: %v", i, queued, err)
		}
		c.Close()
	}
}

// Shutdown with HandedOver serves a connection accepted before it whose
// request comes only after it began (http.Server.Shutdown would close it
// unanswered), with Connection: close, and returns once it closed.
func TestShutdownHandedOverServesLateFirstRequest(t *testing.T) {
	t.Parallel()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{}, 1)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				accepted <- struct{}{}
			}
		},
	}
	errc := make(chan error, 1)
	s := Serve("http", srv, tcp, nil, errc)
	c, err := net.Dial("tcp", tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	<-accepted
	done := make(chan struct{})
	go func() {
		defer close(done)
		Shutdown([]Server{s}, nil, Options{HandedOver: true, Timeout: 10 * time.Second})
	}()
	<-s.Served // the drain began
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := io.ReadAll(c)
	if err != nil || !strings.HasPrefix(string(resp), "HTTP/1.1 200 OK") || !strings.Contains(string(resp), "Connection: close") {
		t.Fatalf("late first request: %q, %v; want a 200 with Connection: close", resp, err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown still waiting after the connection closed")
	}
}

// dialQueued opens n connections to addr, left in its accept queue; they
// close when the test ends.
func dialQueued(t *testing.T, addr string, n int) {
	t.Helper()
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/weir-lb/weir/test/testutil"
	"github.com/weir-lb/weir/userspace/supervisor/supervisortest"
)

// shutdownBackend answers / at once, /slow after 1.5 s (a request in flight
// through the drain) and /ws with a WebSocket that echoes.
func shutdownBackend(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			time.Sleep(1500 * time.Millisecond) // the backend's service time
		case "/ws":
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			defer c.CloseNow()
			for {
				typ, msg, err := c.Read(context.Background())
				if err != nil {
					return
				}
				if err := c.Write(context.Background(), typ, msg); err != nil {
					return
				}
			}
		}
		io.WriteString(w, "ok "+r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// outcome is what one request through Weir came to.
type outcome struct {
	path       string
	start, end time.Time
	err        error
	refused    bool          // the dial was refused
	dialTook   time.Duration // of the dial that was refused
}

// loadRecorder collects outcomes.
type loadRecorder struct {
	mu  sync.Mutex
	all []outcome
}

func (l *loadRecorder) add(o outcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, o)
}

func (l *loadRecorder) outcomes() []outcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]outcome(nil), l.all...)
}

// loadClient sends GETs for host through its own transport: keep-alive or
// a new connection per request. Each dial is bounded: a dial that hangs
// fails.
func loadClient(keepAlive bool) *http.Client {
	d := &net.Dialer{Timeout: 3 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext:       d.DialContext,
		DisableKeepAlives: !keepAlive,
	}}
}

// get sends one request and records its outcome.
func (l *loadRecorder) get(client *http.Client, addr, host, path string) {
	o := outcome{path: path, start: time.Now()}
	req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
	req.Host = host
	resp, err := client.Do(req)
	if err == nil {
		var body []byte
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && (resp.StatusCode != 200 || string(body) != "ok "+path) {
			err = fmt.Errorf("status %d, body %q", resp.StatusCode, body)
		}
	}
	o.end, o.err = time.Now(), err
	if errors.Is(err, syscall.ECONNREFUSED) {
		o.refused, o.dialTook = true, o.end.Sub(o.start)
	}
	l.add(o)
}

// TestShutdownUnderLoad: SIGTERM under a bounded load of keep-alive and
// new-connection GETs, with slow requests in flight and a WebSocket open,
// in both modes. /healthz fails for --shutdown-grace-period while requests
// are still served; then every request either gets its full response or is
// refused at once (none hangs, none is reset), the slow requests in flight
// finish, the WebSocket gets a close frame 1001 at the end of
// --worker-shutdown-timeout, and weir exits --post-shutdown-grace-period
// later, within bounds.
func TestShutdownUnderLoad(t *testing.T) {
	for _, workers := range []string{"0", "auto"} {
		t.Run("workers="+workers, func(t *testing.T) { testShutdownUnderLoad(t, workers) })
	}
	// The same with net/http's server of plain HTTP/1.x.
	t.Run("workers=auto/http1-server=net", func(t *testing.T) { testShutdownUnderLoad(t, "auto", "--http1-server=net") })
}

func testShutdownUnderLoad(t *testing.T, workers string, extra ...string) {
	const (
		grace, timeout, post = 1 * time.Second, 3 * time.Second, 1 * time.Second
		host                 = "app.test"
	)
	be := shutdownBackend(t)
	httpPort, metricsPort := freePort(t, "127.0.0.1"), freePort(t, "127.0.0.1")
	args := append([]string{"--workers", workers, "--bind-address", "127.0.0.1",
		"--http-port", strconv.Itoa(httpPort), "--https-port", strconv.Itoa(freePort(t, "127.0.0.1")),
		"--metrics-port", strconv.Itoa(metricsPort),
		"--shutdown-grace-period", "1", "--worker-shutdown-timeout", timeout.String(), "--post-shutdown-grace-period", "1"}, extra...)
	p := startWeir(t, map[string]string{"app.yaml": supervisortest.Manifest(host, "app", "127.0.0.1", be.Listener.Addr().(*net.TCPAddr).Port)}, args...)
	addr, metrics := "127.0.0.1:"+strconv.Itoa(httpPort), "127.0.0.1:"+strconv.Itoa(metricsPort)
	waitHealthy(t, p, metrics)
	var warm loadRecorder
	testutil.WaitFor(t, 10*time.Second, "the route served", func() bool {
		warm.get(loadClient(false), addr, host, "/")
		o := warm.outcomes()
		return o[len(o)-1].err == nil
	})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", &websocket.DialOptions{Host: host})
	if err != nil {
		t.Fatalf("dial websocket: %v", err)
	}
	defer ws.CloseNow()
	if err := ws.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := ws.Read(ctx); err != nil || string(msg) != "hi" {
		t.Fatalf("websocket echo: %q, %v", msg, err)
	}
	wsClosed := make(chan error, 1)
	go func() {
		_, _, err := ws.Read(ctx)
		wsClosed <- err
	}()

	// The load: bounded in requests and time, and ends when weir exited.
	var load loadRecorder
	stop := make(chan struct{})
	var wg sync.WaitGroup
	loadDeadline := time.Now().Add(15 * time.Second)
	loop := func(keepAlive bool, path string, max int, pause time.Duration) {
		defer wg.Done()
		client := loadClient(keepAlive)
		for i := 0; i < max && time.Now().Before(loadDeadline); i++ {
			select {
			case <-stop:
				return
			case <-time.After(pause): // paces the load, synchronises nothing
			}
			load.get(client, addr, host, path)
		}
	}
	for range 3 {
		wg.Add(2)
		go loop(true, "/", 3000, time.Millisecond)
		go loop(false, "/", 3000, time.Millisecond)
	}
	wg.Add(2)
	go loop(true, "/slow", 20, 100*time.Millisecond)
	go loop(false, "/slow", 20, 100*time.Millisecond)
	defer func() {
		close(stop)
		wg.Wait()
	}()
	testutil.WaitFor(t, 10*time.Second, "100 requests under load", func() bool { return len(load.outcomes()) >= 100 })

	sigterm := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	health := &http.Client{Timeout: time.Second}
	testutil.WaitFor(t, 2*time.Second, "/healthz failing after SIGTERM", func() bool {
		resp, err := health.Get("http://" + metrics + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		// 500, as ingress-nginx's /healthz (e2e: gracefulshutdown/grace_period.go).
		return resp.StatusCode == http.StatusInternalServerError
	})
	if since := time.Since(sigterm); since < grace {
		// Within the grace period, requests are still served.
		var during loadRecorder
		during.get(loadClient(false), addr, host, "/")
		if o := during.outcomes()[0]; o.err != nil && time.Since(sigterm) < grace {
			t.Errorf("request %v after SIGTERM, within --shutdown-grace-period: %v", o.start.Sub(sigterm), o.err)
		}
	}

	select {
	case <-p.exited:
	case <-time.After(grace + timeout + post + 10*time.Second):
		t.Fatalf("weir still running %v after SIGTERM", time.Since(sigterm))
	}
	exitedAfter := time.Since(sigterm)
	close(stop)
	wg.Wait()
	stop = make(chan struct{})
	if p.err != nil {
		t.Errorf("weir exited with %v", p.err)
	}
	// Draining starts after the grace period; the WebSocket holds it for
	// the whole timeout; then the post grace period.
	if min, max := grace+timeout+post, grace+timeout+post+5*time.Second; exitedAfter < min || exitedAfter > max {
		t.Errorf("weir exited %v after SIGTERM, want between %v and %v", exitedAfter, min, max)
	}

	select {
	case err := <-wsClosed:
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.StatusGoingAway {
			t.Errorf("websocket after the drain: %v, want a close frame 1001", err)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("websocket still open after weir exited")
	}

	all := load.outcomes()
	var served, refused, servedAfter, slowServed int
	for _, o := range all {
		switch {
		case o.err == nil:
			served++
			if o.end.After(sigterm) {
				servedAfter++
			}
			if o.path == "/slow" && o.end.After(sigterm.Add(grace)) {
				slowServed++
			}
		case o.refused:
			refused++
			// Refused at once (about 125 µs), or after one SYN
			// retransmission (1s) when the first SYN was lost in a full
			// accept queue of a loaded machine; a dial left hanging
			// would take the client's whole connect timeout.
			if o.dialTook > 3*time.Second {
				t.Errorf("a refusal took %v", o.dialTook)
			}
			if o.start.Before(sigterm) {
				t.Errorf("request refused %v before SIGTERM", sigterm.Sub(o.start))
			}
		default:
			t.Errorf("%s started %v after SIGTERM failed after %v: %v", o.path, o.start.Sub(sigterm), o.end.Sub(o.start), o.err)
		}
	}
	t.Logf("%d requests: %d served (%d ended after SIGTERM, %d slow ones through the drain), %d refused; exit %v after SIGTERM",
		len(all), served, servedAfter, slowServed, refused, exitedAfter)
	if servedAfter == 0 || slowServed == 0 || refused == 0 {
		t.Errorf("the load did not run through the shutdown: want requests served after SIGTERM, slow ones finishing in the drain, and refusals")
	}
}

// TestWorkerShutdownTimeoutFromConfigMap checks that the ConfigMap's
// worker-shutdown-timeout overrides --worker-shutdown-timeout: with "1s" in
// the ConfigMap and 60s on the command line, a WebSocket open at SIGTERM gets
// its close frame (1001) and weir exits within seconds, in both modes.
func TestWorkerShutdownTimeoutFromConfigMap(t *testing.T) {
	for _, workers := range []string{"0", "auto"} {
		t.Run("workers="+workers, func(t *testing.T) {
			const host = "app.test"
			be := shutdownBackend(t)
			httpPort, metricsPort := freePort(t, "127.0.0.1"), freePort(t, "127.0.0.1")
			cm := "\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: weir-config, namespace: default}\ndata: {worker-shutdown-timeout: 1s}\n"
			p := startWeir(t, map[string]string{"app.yaml": supervisortest.Manifest(host, "app", "127.0.0.1", be.Listener.Addr().(*net.TCPAddr).Port) + cm},
				"--workers", workers, "--bind-address", "127.0.0.1", "--configmap", "default/weir-config",
				"--http-port", strconv.Itoa(httpPort), "--https-port", strconv.Itoa(freePort(t, "127.0.0.1")),
				"--metrics-port", strconv.Itoa(metricsPort), "--worker-shutdown-timeout", "60s")
			addr, metrics := "127.0.0.1:"+strconv.Itoa(httpPort), "127.0.0.1:"+strconv.Itoa(metricsPort)
			waitHealthy(t, p, metrics)
			// The ConfigMap is live on every worker once version 1 is.
			if resp, err := http.Get("http://" + metrics + "/config?after=0&wait=10s"); err != nil {
				t.Fatalf("wait for version 1: %v", err)
			} else {
				resp.Body.Close()
			}

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var ws *websocket.Conn
			testutil.WaitFor(t, 10*time.Second, "a WebSocket through weir", func() bool {
				c, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", &websocket.DialOptions{Host: host})
				ws = c
				return err == nil
			})
			defer ws.CloseNow()
			if err := ws.Write(ctx, websocket.MessageText, []byte("hi")); err != nil {
				t.Fatal(err)
			}
			if _, msg, err := ws.Read(ctx); err != nil || string(msg) != "hi" {
				t.Fatalf("websocket echo: %q, %v", msg, err)
			}
			sigterm := time.Now()
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			_, _, err := ws.Read(ctx)
			if got := websocket.CloseStatus(err); got != websocket.StatusGoingAway {
				t.Errorf("websocket ended with %v (status %d), want a 1001 close frame", err, got)
			}
			select {
			case <-p.exited:
			case <-time.After(15 * time.Second):
				t.Fatalf("weir still running 15s after SIGTERM with worker-shutdown-timeout 1s in the ConfigMap")
			}
			if took := time.Since(sigterm); took > 10*time.Second {
				t.Errorf("weir took %v to exit, want about the ConfigMap's 1s", took)
			}
		})
	}
}

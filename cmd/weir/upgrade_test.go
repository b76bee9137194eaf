package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/weir-lb/weir/test/testutil"
	"github.com/weir-lb/weir/userspace/supervisor"
	"github.com/weir-lb/weir/userspace/supervisor/supervisortest"
)

// upgradeRig is a running weir with a route to an echoing backend, the
// flags to start its successor with, and a WebSocket opened through it.
type upgradeRig struct {
	files         map[string]string
	args          []string
	addr, metrics string
}

func newUpgradeRig(t *testing.T, workers string, timeout time.Duration) *upgradeRig {
	t.Helper()
	be := shutdownBackend(t)
	httpPort, metricsPort := freePort(t, "127.0.0.1"), freePort(t, "127.0.0.1")
	r := &upgradeRig{
		files: map[string]string{"app.yaml": supervisortest.Manifest("app.test", "app", "127.0.0.1", be.Listener.Addr().(*net.TCPAddr).Port)},
		args: []string{"--workers", workers, "--bind-address", "127.0.0.1",
			"--http-port", strconv.Itoa(httpPort), "--https-port", strconv.Itoa(freePort(t, "127.0.0.1")),
			"--metrics-port", strconv.Itoa(metricsPort), "--worker-shutdown-timeout", timeout.String(),
			"--upgrade-socket", filepath.Join(t.TempDir(), "upgrade.sock")},
		addr:    "127.0.0.1:" + strconv.Itoa(httpPort),
		metrics: "127.0.0.1:" + strconv.Itoa(metricsPort),
	}
	return r
}

// start starts a weir of the rig, with extra flags.
func (r *upgradeRig) start(t *testing.T, extra ...string) *weirProcess {
	return startWeir(t, r.files, append(append([]string(nil), r.args...), extra...)...)
}

// waitServed waits until the route answers through p.
func (r *upgradeRig) waitServed(t *testing.T, p *weirProcess) {
	t.Helper()
	waitHealthy(t, p, r.metrics)
	var warm loadRecorder
	testutil.WaitFor(t, 10*time.Second, "the route served", func() bool {
		warm.get(loadClient(false), r.addr, "app.test", "/")
		o := warm.outcomes()
		return o[len(o)-1].err == nil
	})
}

// runLoad runs 8 keep-alive and 4 new-connection clients, at most 5 000
// requests and 10 s in all, until the returned function is called; that
// function returns the outcomes.
func (r *upgradeRig) runLoad(t *testing.T) (stop func() []outcome, load *loadRecorder) {
	load = &loadRecorder{}
	fresh := &loadRecorder{} // new connections: counted in load at the end
	done := make(chan struct{})
	var wg sync.WaitGroup
	deadline := time.Now().Add(10 * time.Second)
	loop := func(keepAlive bool) {
		defer wg.Done()
		client := loadClient(keepAlive)
		for i := 0; i < 5000/12 && time.Now().Before(deadline); i++ {
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond): // paces the load, synchronises nothing
			}
			rec := fresh
			if keepAlive {
				rec = load
			}
			rec.get(client, r.addr, "app.test", "/")
		}
	}
	for i := range 12 {
		wg.Add(1)
		go loop(i < 8)
	}
	var once sync.Once
	stop = func() []outcome {
		once.Do(func() { close(done) })
		wg.Wait()
		all := load.outcomes()
		for _, o := range fresh.outcomes() {
			if o.err != nil {
				o.err = fmt.Errorf("new connection: %w", o.err)
			}
			all = append(all, o)
		}
		return all
	}
	t.Cleanup(func() { stop() })
	return stop, load
}

// checkLoad fails the test for every request that was refused or failed.
func checkLoad(t *testing.T, all []outcome) {
	t.Helper()
	failed := 0
	for _, o := range all {
		if o.err != nil {
			if failed++; failed <= 10 {
				t.Errorf("request at %v failed after %v (refused: %v): %v", o.start.Format("15:04:05.000"), o.end.Sub(o.start), o.refused, o.err)
			}
		}
	}
	t.Logf("%d requests, %d failed", len(all), failed)
	if failed > 0 {
		t.Errorf("%d of %d requests refused or failed", failed, len(all))
	}
}

// echo sends msg on ws and checks it comes back.
func echo(ctx context.Context, ws *websocket.Conn, msg string) error {
	if err := ws.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		return err
	}
	_, got, err := ws.Read(ctx)
	if err == nil && string(got) != msg {
		err = &net.AddrError{Err: "echo " + msg + " came back as " + string(got)}
	}
	return err
}

// TestUpgradeUnderLoad: a weir started with --upgrade takes over a running
// weir's listening sockets under a bounded load of keep-alive and
// new-connection GETs, in both modes: no connection is refused, no request
// fails, a WebSocket opened on the old weir goes on working after the old
// one began to drain until the client closes it, the old weir exits 0 and
// the new one serves, its metrics port too.
func TestUpgradeUnderLoad(t *testing.T) {
	for _, workers := range []string{"0", "2"} {
		t.Run("workers="+workers, func(t *testing.T) { testUpgradeUnderLoad(t, workers) })
	}
}

func testUpgradeUnderLoad(t *testing.T, workers string) {
	if n, err := parseWorkers("auto", supervisor.CgroupRoot); workers == "2" && (err != nil || len(n) < 2) {
		t.Skip("needs 2 cores")
	}
	const timeout = 8 * time.Second
	r := newUpgradeRig(t, workers, timeout)
	old := r.start(t)
	r.waitServed(t, old)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+r.addr+"/ws", &websocket.DialOptions{Host: "app.test"})
	if err != nil {
		t.Fatalf("dial websocket: %v", err)
	}
	defer ws.CloseNow()
	if err := echo(ctx, ws, "before"); err != nil {
		t.Fatalf("websocket echo before the upgrade: %v", err)
	}

	stopLoad, load := r.runLoad(t)
	testutil.WaitFor(t, 10*time.Second, "200 requests under load", func() bool { return len(load.outcomes()) >= 200 })
	upgraded := time.Now()
	next := r.start(t, "--upgrade")
	testutil.WaitFor(t, 20*time.Second, "the old weir draining", func() bool {
		return strings.Contains(old.logs.String(), "the new weir serves; draining")
	})
	// The old weir drains: its WebSocket goes on until the client closes
	// it, within the worker-shutdown-timeout.
	for i := range 5 {
		if err := echo(ctx, ws, "during "+strconv.Itoa(i)); err != nil {
			t.Fatalf("websocket echo %d after the old weir began to drain: %v", i, err)
		}
	}
	select {
	case <-old.exited:
		t.Fatalf("the old weir exited with its WebSocket open: %v", old.err)
	default:
	}
	if err := ws.Close(websocket.StatusNormalClosure, "done"); err != nil {
		t.Errorf("close websocket: %v", err)
	}
	select {
	case <-old.exited:
	case <-time.After(timeout + 5*time.Second):
		t.Fatalf("the old weir still running %v after the upgrade began", time.Since(upgraded))
	}
	if old.err != nil {
		t.Errorf("the old weir exited with %v", old.err)
	}
	// The load goes on a moment against the new weir alone.
	n := len(load.outcomes())
	testutil.WaitFor(t, 10*time.Second, "100 requests after the old weir exited", func() bool { return len(load.outcomes()) >= n+100 })
	checkLoad(t, stopLoad())

	r.waitServed(t, next)
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + r.metrics + "/readyz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("the new weir's /readyz: %v %v", resp, err)
	}
	if resp != nil {
		resp.Body.Close()
	}
}

// abandonUpgrade starts a weir with --upgrade and another --workers than
// old's: it receives old's sockets, finds them not its own and exits with an
// error, and old says the upgrade was abandoned.
func (r *upgradeRig) abandonUpgrade(t *testing.T, old *weirProcess) {
	t.Helper()
	bad := r.start(t, "--upgrade", "--workers", "2")
	select {
	case <-bad.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("the weir that could not take over is still running")
	}
	if bad.err == nil || !strings.Contains(bad.logs.String(), "it has 3 listening sockets, this one wants 5") {
		t.Errorf("the weir that could not take over: exit %v, log:\n%s", bad.err, bad.logs.String())
	}
	testutil.WaitFor(t, 10*time.Second, "the old weir logging the abandoned upgrade", func() bool {
		return strings.Contains(old.logs.String(), "upgrade abandoned")
	})
}

// startForAbandon starts a weir of --workers 0 to be upgraded by one of
// --workers 2 (abandonUpgrade), and waits until it serves.
func startForAbandon(t *testing.T) (*upgradeRig, *weirProcess) {
	t.Helper()
	if n, err := parseWorkers("auto", supervisor.CgroupRoot); err != nil || len(n) < 2 {
		t.Skip("needs 2 cores")
	}
	r := newUpgradeRig(t, "0", 3*time.Second)
	old := r.start(t)
	r.waitServed(t, old)
	return r, old
}

// TestUpgradeAbandonedThenStop: a weir whose sockets were handed to a
// weir that gave up still stops on SIGTERM within its drain (handing the
// sockets over leaves them non-blocking: a blocking one would hold the
// drain's accept forever).
func TestUpgradeAbandonedThenStop(t *testing.T) {
	r, old := startForAbandon(t)
	r.abandonUpgrade(t, old)
	r.waitServed(t, old)
	sigterm := time.Now()
	if err := old.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-old.exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("weir still running %v after SIGTERM", time.Since(sigterm))
	}
	if old.err != nil {
		t.Errorf("weir exited with %v", old.err)
	}
}

// TestUpgradeAbandoned: a weir started with --upgrade that cannot serve on
// what it took (here another --workers) exits with an error, and the old
// one serves on as if nothing happened, under load, and can still be
// upgraded.
func TestUpgradeAbandoned(t *testing.T) {
	r, old := startForAbandon(t)
	stopLoad, load := r.runLoad(t)
	testutil.WaitFor(t, 10*time.Second, "100 requests under load", func() bool { return len(load.outcomes()) >= 100 })

	r.abandonUpgrade(t, old)
	n := len(load.outcomes())
	testutil.WaitFor(t, 10*time.Second, "100 requests after the abandoned upgrade", func() bool { return len(load.outcomes()) >= n+100 })

	next := r.start(t, "--upgrade")
	select {
	case <-old.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("the old weir still running after a second upgrade")
	}
	n = len(load.outcomes())
	testutil.WaitFor(t, 10*time.Second, "100 requests after the upgrade", func() bool { return len(load.outcomes()) >= n+100 })
	checkLoad(t, stopLoad())
	r.waitServed(t, next)
}

package datapath_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/weir-lb/weir/userspace/controller"
	"github.com/weir-lb/weir/userspace/datapath"
	"github.com/weir-lb/weir/userspace/snapshot"
	"github.com/weir-lb/weir/userspace/supervisor"
	"github.com/weir-lb/weir/userspace/supervisor/supervisortest"
)

// TestMain lets this test binary run as Weir's worker process.
func TestMain(m *testing.M) {
	supervisortest.RunWorkerIfAsked()
	os.Exit(m.Run())
}

type lockedBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}

// TestVethWorkers: 2000 HTTP requests, each on a new connection with its own
// source port, from a client namespace through XDP (native, on the
// server-side veth) and the SK_REUSEPORT program to Weir's real worker
// processes, one per core, and on to a backend. Every accepted connection is
// accepted by the worker of the core that handled its packets
// (weir_worker_connections_total: cpu == incoming_cpu), and each of the two
// cores gets 40-60% of them.
func TestVethWorkers(t *testing.T) {
	requirePrivileged(t)
	cores, err := supervisor.OnlineCores()
	if err != nil {
		t.Fatal(err)
	}
	if len(cores) < 2 {
		t.Skipf("needs 2 cores, have %v", cores)
	}
	cores = cores[:2]
	const serverIP, clientIP = "198.18.1.1", "198.18.1.2"
	ns, srv, _ := vethNS(t, "w", serverIP, clientIP)

	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "backend\n")
	}))
	t.Cleanup(backend.Close)
	dir := t.TempDir()
	manifest := supervisortest.Manifest("app.test", "app", "127.0.0.1", backend.Listener.Addr().(*net.TCPAddr).Port)
	if err := os.WriteFile(filepath.Join(dir, "app.yaml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}

	logs := &lockedBuffer{}
	sup, err := supervisor.New(supervisor.Config{
		BindAddress:    serverIP,
		MetricsAddress: "127.0.0.1",
		Cores:          cores,
		Manifests:      dir,
		Controller:     controller.Options{Build: snapshot.DefaultOptions()},
		Command:        supervisortest.Command(),
		Env:            supervisortest.Env(),
		WorkerLog:      logs,
		Logger:         slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddrPort(sup.HTTPAddr())

	d, err := datapath.Load(datapath.Options{})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.SetCores(cores); err != nil {
		t.Fatal(err)
	}
	if err := d.SetListeners([]datapath.Listener{{Addr: addr}}); err != nil {
		t.Fatal(err)
	}
	if mode, err := d.Attach(srv, datapath.ModeNative, nil); err != nil || mode != datapath.ModeNative {
		t.Fatalf("attach: mode %q, err %v", mode, err)
	}
	if err := sup.SteerByCore(); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- sup.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-stopped:
			if err != nil {
				t.Errorf("supervisor stopped with: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("supervisor did not stop within 30s")
		}
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for ready := false; !ready; {
		ready = true
		for _, st := range sup.Workers() {
			ready = ready && st.Version >= 1
		}
		if time.Now().After(deadline) {
			t.Fatalf("workers not serving version 1 within 15s: %+v", sup.Workers())
		}
		time.Sleep(5 * time.Millisecond) // polling interval of a condition with a deadline
	}

	const n = 2000
	script := fmt.Sprintf(`for i in $(seq %d); do
	exec 3<>/dev/tcp/%s/%d || exit 1
	printf 'GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n' >&3
	read -r -t 10 status <&3 || { echo "request $i: no response"; exit 1; }
	[[ $status == "HTTP/1.1 200"* ]] || { echo "request $i: $status"; exit 1; }
	exec 3>&-
done`, n, addr.Addr(), addr.Port())
	cmd := exec.Command("timeout", "120", "ip", "netns", "exec", ns, "bash", "-c", script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("client: %v\n%s", err, out)
	}

	mfs, err := sup.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	perCore := map[int]int{}
	total := 0
	for _, mf := range mfs {
		if mf.GetName() != "weir_worker_connections_total" {
			continue
		}
		for _, m := range mf.Metric {
			l := map[string]string{}
			for _, lp := range m.Label {
				l[lp.GetName()] = lp.GetValue()
			}
			v := int(m.GetCounter().GetValue())
			total += v
			if l["cpu"] != l["incoming_cpu"] {
				t.Errorf("%d connections accepted by the worker of core %s were handled on core %s", v, l["cpu"], l["incoming_cpu"])
			}
			c, _ := strconv.Atoi(l["cpu"])
			perCore[c] += v
		}
	}
	if total != n {
		t.Errorf("workers accepted %d connections, want %d", total, n)
	}
	for _, c := range cores {
		if share := float64(perCore[c]) / n; share < 0.4 || share > 0.6 {
			t.Errorf("core %d accepted %.0f%% of %d connections, want 40-60%% (%v)", c, 100*share, n, perCore)
		}
	}
	selected, fellBack, err := sup.Steering()
	if err != nil {
		t.Fatal(err)
	}
	if selected < n || fellBack != 0 {
		t.Errorf("SK_REUSEPORT handed %d connections to a worker socket and %d to the kernel's choice, want %d and 0", selected, fellBack, n)
	}
	t.Logf("%d connections: per core %v, SK_REUSEPORT selected %d, fell back %d", total, perCore, selected, fellBack)

	// kill -9 of one worker under load through XDP: its socket stays in the
	// sockarray (the supervisor holds it), so the connections steered to it
	// wait in its accept queue for the new process; none is refused.
	const loops, perLoop = 4, 1000
	load := fmt.Sprintf(`for l in $(seq %d); do (for i in $(seq %d); do
	exec 3<>/dev/tcp/%s/%d || { echo "fail connect"; continue; }
	printf 'GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n' >&3
	read -r -t 10 status <&3 || { echo "fail no response"; exec 3>&-; continue; }
	[[ $status == "HTTP/1.1 200"* ]] || echo "fail status $status"
	exec 3>&-
done) & done; wait`, loops, perLoop, addr.Addr(), addr.Port())
	var out lockedBuffer
	loadCmd := exec.Command("timeout", "120", "ip", "netns", "exec", ns, "bash", "-c", load)
	loadCmd.Stdout, loadCmd.Stderr = &out, &out
	if err := loadCmd.Start(); err != nil {
		t.Fatal(err)
	}
	loadDone := make(chan struct{})
	var loadErr error
	go func() { loadErr = loadCmd.Wait(); close(loadDone) }()
	t.Cleanup(func() { loadCmd.Process.Kill(); <-loadDone })
	served := func() int {
		n, _, _ := sup.Steering()
		return int(n)
	}
	deadline = time.Now().Add(30 * time.Second)
	for served() < int(selected)+200 {
		if time.Now().After(deadline) {
			t.Fatalf("load did not reach 200 connections within 30s:\n%s", out.String())
		}
		time.Sleep(2 * time.Millisecond) // polling interval of a condition with a deadline
	}
	victim := sup.Workers()[0]
	killedAt := time.Now()
	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var back supervisor.WorkerStatus
	deadline = time.Now().Add(10 * time.Second)
	for back = sup.Workers()[0]; back.PID == 0 || back.PID == victim.PID || back.Version == 0; back = sup.Workers()[0] {
		if time.Now().After(deadline) {
			t.Fatalf("worker %d not back within 10s", victim.CPU)
		}
		time.Sleep(time.Millisecond) // polling interval of a condition with a deadline
	}
	downtime := back.Since.Sub(killedAt)
	if downtime > 500*time.Millisecond {
		t.Errorf("worker back after %v, want within 500ms", downtime)
	}
	select {
	case <-loadDone:
		if loadErr != nil {
			t.Fatalf("load: %v\n%s", loadErr, out.String())
		}
	case <-time.After(120 * time.Second):
		t.Fatal("load did not finish within 120s")
	}
	failures := strings.Count(out.String(), "fail ")
	if strings.Contains(out.String(), "refused") {
		t.Errorf("a connection was refused while the worker restarted:\n%s", out.String())
	}
	if failures > loops {
		t.Errorf("%d requests failed, more than the %d that can be in flight:\n%s", failures, loops, out.String())
	}
	t.Logf("kill -9 of worker %d under %d requests: back after %v, %d failed (in flight), none refused",
		victim.CPU, loops*perLoop, downtime, failures)
}

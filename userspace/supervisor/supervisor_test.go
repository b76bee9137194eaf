package supervisor_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"

	"github.com/weir-lb/weir/test/testutil"
	"github.com/weir-lb/weir/userspace/controller"
	"github.com/weir-lb/weir/userspace/snapshot"
	"github.com/weir-lb/weir/userspace/supervisor"
	"github.com/weir-lb/weir/userspace/supervisor/supervisortest"
)

func TestMain(m *testing.M) {
	supervisortest.RunWorkerIfAsked()
	os.Exit(m.Run())
}

// syncBuffer is the shared log buffer.
type syncBuffer = testutil.SyncBuffer

// waitFor waits on cond with a deadline.
var waitFor = testutil.WaitFor

type rig struct {
	t    testing.TB
	dir  string
	sup  *supervisor.Supervisor
	logs *syncBuffer
}

// twoCores returns two cores to run workers on, or skips.
func twoCores(t testing.TB) []int {
	cores, err := supervisor.OnlineCores()
	if err != nil {
		t.Fatal(err)
	}
	if len(cores) < 2 {
		t.Skipf("needs 2 cores, have %v", cores)
	}
	return cores[:2]
}

// start serves manifest with one worker per core on 127.0.0.1 and waits
// until every worker serves version 1.
func start(t testing.TB, cores []int, manifest string) *rig {
	t.Helper()
	return startWith(t, cores, manifest, nil)
}

// startWith is start with the Config changed by edit (nil: none).
func startWith(t testing.TB, cores []int, manifest string, edit func(*supervisor.Config)) *rig {
	t.Helper()
	r := &rig{t: t, dir: t.TempDir(), logs: &syncBuffer{}}
	r.write("app.yaml", manifest)
	cfg := supervisor.Config{
		BindAddress:    "127.0.0.1",
		MetricsAddress: "127.0.0.1",
		Cores:          cores,
		Manifests:      r.dir,
		Controller:     controller.Options{Build: snapshot.DefaultOptions()},
		Command:        supervisortest.Command(),
		Env:            supervisortest.Env(),
		WorkerLog:      r.logs,
		LogLevel:       "debug",
		Logger:         slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if edit != nil {
		edit(&cfg)
	}
	sup, err := supervisor.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.sup = sup
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
		for _, st := range sup.Workers() {
			if st.PID != 0 {
				t.Errorf("worker %d (pid %d) still running after Run returned", st.CPU, st.PID)
			}
		}
		if t.Failed() {
			t.Logf("log:\n%s", r.logs.String())
		}
	})
	r.waitAll(1)
	return r
}

func (r *rig) write(name, body string) {
	tmp := filepath.Join(r.dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(r.dir, name)); err != nil {
		r.t.Fatal(err)
	}
}

// waitAll waits until every worker acknowledged version v or later.
func (r *rig) waitAll(v uint64) {
	r.t.Helper()
	waitFor(r.t, 15*time.Second, fmt.Sprintf("version %d acknowledged by every worker", v), func() bool {
		for _, st := range r.sup.Workers() {
			if st.Version < v {
				return false
			}
		}
		return true
	})
}

// metric returns the value of every series of name gathered from the
// supervisor, keyed by its labels "k=v,k=v".
func (r *rig) metric(name string) map[string]float64 {
	r.t.Helper()
	mfs, err := r.sup.Gatherer().Gather()
	if err != nil {
		r.t.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			out[labels(m)] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return out
}

func sumOf(series map[string]float64) float64 {
	n := 0.0
	for _, v := range series {
		n += v
	}
	return n
}

func labels(m *dto.Metric) string {
	var parts []string
	for _, l := range m.Label {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	return strings.Join(parts, ",")
}

func newBackend(t testing.TB, body string, delay time.Duration) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if delay > 0 {
			time.Sleep(delay) // the backend's service time, so requests are in flight
		}
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func backendPort(srv *httptest.Server) int {
	return srv.Listener.Addr().(*net.TCPAddr).Port
}

// get sends one request on a new connection.
func get(client *http.Client, addr string) (string, error) {
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Host = "app.test"
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	return string(b), nil
}

func newClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
}

// TestWorkersServeAndReload: two worker processes serve a manifest folder,
// both accept connections, and a folder edit is acknowledged by every worker
// (weir_config_version_live{worker} on the supervisor's /metrics) before it is
// reported live.
func TestWorkersServeAndReload(t *testing.T) {
	cores := twoCores(t)
	a, b := newBackend(t, "a", 0), newBackend(t, "b", 0)
	r := start(t, cores, supervisortest.Manifest("app.test", "a", "127.0.0.1", backendPort(a)))
	client := newClient()
	for i := range 40 {
		got, err := get(client, r.sup.HTTPAddr())
		if err != nil || got != "a" {
			t.Fatalf("request %d: %q, %v; want a", i, got, err)
		}
	}
	conns := r.metric("weir_worker_connections_total")
	for _, c := range cores {
		n := 0.0
		for k, v := range conns {
			if strings.Contains(k, "cpu="+strconv.Itoa(c)+",") && strings.Contains(k, "worker="+strconv.Itoa(c)) {
				n += v
			}
		}
		if n == 0 {
			t.Errorf("worker on core %d accepted none of 40 connections: %v", c, conns)
		}
	}

	r.write("app.yaml", supervisortest.Manifest("app.test", "b", "127.0.0.1", backendPort(b)))
	r.waitAll(2)
	live := r.metric("weir_config_version_live")
	for _, c := range cores {
		if v := live["worker="+strconv.Itoa(c)]; v != 2 {
			t.Errorf("weir_config_version_live{worker=%d} = %v, want 2 (%v)", c, v, live)
		}
	}
	if !strings.Contains(r.logs.String(), "configuration version 2 live on 2 workers") {
		t.Errorf("no log line %q", "configuration version 2 live on 2 workers")
	}
	for i := range 20 {
		got, err := get(client, r.sup.HTTPAddr())
		if err != nil || got != "b" {
			t.Fatalf("request %d after the edit: %q, %v; want b", i, got, err)
		}
	}
	// HTTPS on the workers' inherited sockets (Weir's self-signed
	// certificate: no Secret in this folder).
	tlsClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
	}}
	for i := range 10 {
		req, _ := http.NewRequest("GET", "https://"+r.sup.HTTPSAddr()+"/", nil)
		req.Host = "app.test"
		resp, err := tlsClient.Do(req)
		if err != nil {
			t.Fatalf("https request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "b" {
			t.Fatalf("https request %d: %d %q, want 200 b", i, resp.StatusCode, body)
		}
	}
	// ingress-nginx's process figures are the workers', summed: one series.
	for name, atLeast := range map[string]float64{
		"nginx_ingress_controller_nginx_process_num_procs":             2,
		"nginx_ingress_controller_nginx_process_requests_total":        70,
		"nginx_ingress_controller_nginx_process_resident_memory_bytes": 2 << 20,
	} {
		if got := r.metric(name); len(got) != 1 || sumOf(got) < atLeast {
			t.Errorf("%s = %v, want one series of at least %v", name, got, atLeast)
		}
	}
	if got := r.metric("nginx_ingress_controller_nginx_process_connections_total"); len(got) != 2 || sumOf(got) < 2*70 {
		t.Errorf("nginx_process_connections_total = %v, want accepted and handled, 70 each at least", got)
	}
	// The workers' request series carry the controller's labels and their
	// worker's; the reloads are the two versions.
	reqs := r.metric("nginx_ingress_controller_requests")
	if len(reqs) == 0 {
		t.Error("no nginx_ingress_controller_requests series")
	}
	for k := range reqs {
		if !strings.Contains(k, "controller_class=weir-lb.dev/ingress-controller,controller_namespace=") || !strings.Contains(k, ",worker=") {
			t.Errorf("nginx_ingress_controller_requests{%s}: want controller_* and worker labels", k)
		}
	}
	if got := sumOf(r.metric("nginx_ingress_controller_success")); got != 2 {
		t.Errorf("nginx_ingress_controller_success = %v, want 2", got)
	}
	resp, err := http.Get("http://" + r.sup.MetricsAddr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "version 2 live on 2 of 2 workers") {
		t.Errorf("/readyz = %d %q", resp.StatusCode, body)
	}
}

// TestKillWorker: kill -9 of one worker under a bounded load loop of new
// connections refuses none, fails only requests in flight when it died, and
// the worker is back serving the live configuration within 500 ms (2 s
// under -race, see restartLimit).
func TestKillWorker(t *testing.T) {
	cores := twoCores(t)
	backend := newBackend(t, "a", 5*time.Millisecond)
	r := start(t, cores, supervisortest.Manifest("app.test", "a", "127.0.0.1", backendPort(backend)))
	victim := r.sup.Workers()[0]

	type outcome struct {
		start, end time.Time
		err        error
	}
	const clients, maxRequests = 8, 20000
	var (
		mu       sync.Mutex
		outcomes []outcome
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	loadDeadline := time.Now().Add(30 * time.Second)
	done := func() int { mu.Lock(); defer mu.Unlock(); return len(outcomes) }
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := newClient()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if done() >= maxRequests || time.Now().After(loadDeadline) {
					return
				}
				o := outcome{start: time.Now()}
				_, o.err = get(client, r.sup.HTTPAddr())
				o.end = time.Now()
				mu.Lock()
				outcomes = append(outcomes, o)
				mu.Unlock()
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()

	waitFor(t, 10*time.Second, "200 requests under load", func() bool { return done() >= 200 })
	proc, err := os.FindProcess(victim.PID)
	if err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	if err := proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var back supervisor.WorkerStatus
	waitFor(t, 5*time.Second, "the killed worker back", func() bool {
		back = r.sup.Workers()[0]
		return back.PID != 0 && back.PID != victim.PID && back.Version >= 1
	})
	downtime := back.Since.Sub(killedAt)
	t.Logf("worker on core %d: pid %d killed, pid %d serving version %d after %v", victim.CPU, victim.PID, back.PID, back.Version, downtime)
	if downtime > time.Duration(restartLimit) {
		t.Errorf("worker back after %v, want within %v", downtime, time.Duration(restartLimit))
	}
	// The new process accepts: its own connection counter grows.
	n0 := done()
	waitFor(t, 20*time.Second, "the restarted worker accepting connections", func() bool {
		for k, v := range r.metric("weir_worker_connections_total") {
			if strings.Contains(k, "worker="+strconv.Itoa(victim.CPU)) && v > 0 {
				return done() >= n0+200
			}
		}
		return false
	})
	close(stop)
	wg.Wait()
	stop = make(chan struct{})

	mu.Lock()
	defer mu.Unlock()
	failed := 0
	for _, o := range outcomes {
		if o.err == nil {
			continue
		}
		failed++
		if errors.Is(o.err, syscall.ECONNREFUSED) {
			t.Errorf("connection refused at %v after the kill: %v", o.start.Sub(killedAt), o.err)
		}
		if !o.start.Before(killedAt) || o.end.Before(killedAt) {
			t.Errorf("a request not in flight at the kill failed (started %v, ended %v after it): %v",
				o.start.Sub(killedAt), o.end.Sub(killedAt), o.err)
		}
	}
	if failed > clients {
		t.Errorf("%d requests failed, more than the %d that can be in flight", failed, clients)
	}
	t.Logf("%d requests, %d failed (in flight on the killed worker)", len(outcomes), failed)
}

// TestWorkerThatNeverAcks: a worker process that never answers is killed
// after AckTimeout and restarted, again and again, while Apply returns and
// the supervisor stays up.
func TestWorkerThatNeverAcks(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app.yaml"), []byte(supervisortest.Manifest("app.test", "a", "127.0.0.1", 9)), 0o644); err != nil {
		t.Fatal(err)
	}
	cores, err := supervisor.OnlineCores()
	if err != nil {
		t.Fatal(err)
	}
	sup, err := supervisor.New(supervisor.Config{
		BindAddress:    "127.0.0.1",
		MetricsAddress: "127.0.0.1",
		Cores:          cores[:1],
		Manifests:      dir,
		Controller:     controller.Options{Build: snapshot.DefaultOptions()},
		Command:        []string{"/bin/sh", "-c", "exec sleep 30", "sh"}, // reads nothing, answers nothing
		AckTimeout:     200 * time.Millisecond,
		WorkerLog:      io.Discard,
		Logger:         slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- sup.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case <-stopped:
		case <-time.After(30 * time.Second):
			t.Errorf("supervisor did not stop within 30s")
		}
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	}()
	waitFor(t, 15*time.Second, "two restarts of the silent worker", func() bool {
		return sup.Workers()[0].Restarts >= 2
	})
	if st := sup.Workers()[0]; st.Version != 0 {
		t.Errorf("silent worker has version %d, want 0", st.Version)
	}
	if !strings.Contains(logs.String(), "worker did not take the configuration") {
		t.Errorf("no log of the missing acknowledgement")
	}
	resp, err := http.Get("http://" + sup.MetricsAddr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d with no worker serving, want 503", resp.StatusCode)
	}
}

// TestWorkersGetDeltas: after a change, every worker gets the change as a
// delta from its live configuration (weir_worker_config_frames_total) and
// serves the new route; a restarted worker gets the whole configuration,
// then deltas again.
func TestWorkersGetDeltas(t *testing.T) {
	cores := twoCores(t)
	a, b, c := newBackend(t, "a", 0), newBackend(t, "b", 0), newBackend(t, "c", 0)
	r := start(t, cores, supervisortest.Manifest("app.test", "a", "127.0.0.1", backendPort(a)))
	client := newClient()
	frames := func(worker int) map[string]float64 {
		out := map[string]float64{}
		for k, v := range r.metric("weir_worker_config_frames_total") {
			if strings.HasSuffix(k, ",worker="+strconv.Itoa(worker)) {
				out[strings.TrimSuffix(k, ",worker="+strconv.Itoa(worker))] = v
			}
		}
		return out
	}
	want := func(full, delta float64) map[string]float64 {
		return map[string]float64{
			"kind=full,result=live": full, "kind=full,result=refused": 0,
			"kind=delta,result=live": delta, "kind=delta,result=refused": 0,
		}
	}
	check := func(when string, worker int, w map[string]float64) {
		t.Helper()
		if diff := cmp.Diff(w, frames(worker)); diff != "" {
			t.Errorf("%s: weir_worker_config_frames_total{worker=%d} (-want +got):\n%s", when, worker, diff)
		}
	}
	serves := func(when, body string) {
		t.Helper()
		for i := range 20 {
			if got, err := get(client, r.sup.HTTPAddr()); err != nil || got != body {
				t.Fatalf("%s: request %d: %q, %v; want %s", when, i, got, err, body)
			}
		}
	}
	for _, cpu := range cores {
		check("first configuration", cpu, want(1, 0))
	}

	r.write("app.yaml", supervisortest.Manifest("app.test", "b", "127.0.0.1", backendPort(b)))
	r.waitAll(2)
	for _, cpu := range cores {
		check("after a change", cpu, want(1, 1))
	}
	serves("after a change", "b")

	victim := r.sup.Workers()[0]
	proc, err := os.FindProcess(victim.PID)
	if err != nil {
		t.Fatal(err)
	}
	if err := proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the killed worker back at version 2", func() bool {
		st := r.sup.Workers()[0]
		return st.PID != 0 && st.PID != victim.PID && st.Version >= 2
	})
	check("restarted worker", victim.CPU, want(1, 0))

	r.write("app.yaml", supervisortest.Manifest("app.test", "c", "127.0.0.1", backendPort(c)))
	r.waitAll(3)
	check("restarted worker after a change", victim.CPU, want(1, 1))
	check("other worker after a second change", cores[1], want(1, 2))
	serves("after a second change", "c")
}

package supervisor_test

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weir-lb/weir/test/testutil"
	"github.com/weir-lb/weir/userspace/supervisor"
	"github.com/weir-lb/weir/userspace/supervisor/supervisortest"
)

// procStatus returns the fields of /proc/<pid>/status.
func procStatus(t testing.TB, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return out
}

// TestWorkersUnprivileged: workers started by a root supervisor run as
// WorkerUID:WorkerGID with no supplementary group and no capability, and
// still do every job: serve on their inherited sockets, write the access
// log, answer the metrics gathering (their process_* metrics read /proc),
// and come back unprivileged when killed.
func TestWorkersUnprivileged(t *testing.T) {
	testutil.RequirePrivileged(t)
	const uid, gid = 65532, 65533
	cores := twoCores(t)
	backend := newBackend(t, "a", 0)
	access := &syncBuffer{}
	r := startWith(t, cores, supervisortest.Manifest("app.test", "a", "127.0.0.1", backendPort(backend)),
		func(c *supervisor.Config) { c.WorkerUID, c.WorkerGID, c.AccessLog = uid, gid, access })
	check := func(st supervisor.WorkerStatus) {
		t.Helper()
		got := procStatus(t, st.PID)
		want := map[string]string{
			"Uid":    fmt.Sprintf("%d %d %d %d", uid, uid, uid, uid),
			"Gid":    fmt.Sprintf("%d %d %d %d", gid, gid, gid, gid),
			"Groups": "",
			"CapEff": "0000000000000000",
			"CapPrm": "0000000000000000",
			"CapAmb": "0000000000000000",
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("worker %d (pid %d) %s: %q, want %q", st.CPU, st.PID, k, got[k], v)
			}
		}
		if got["Cpus_allowed_list"] != fmt.Sprint(st.CPU) {
			t.Errorf("worker %d (pid %d) Cpus_allowed_list: %q, want its core", st.CPU, st.PID, got["Cpus_allowed_list"])
		}
	}
	for _, st := range r.sup.Workers() {
		check(st)
	}
	client := newClient()
	for i := range 20 {
		if got, err := get(client, r.sup.HTTPAddr()); err != nil || got != "a" {
			t.Fatalf("request %d: %q, %v; want a", i, got, err)
		}
	}
	waitFor(t, 5*time.Second, "20 access log lines", func() bool { return strings.Count(access.String(), "\n") >= 20 })
	for _, c := range cores {
		if fds := r.metric("process_open_fds")[fmt.Sprintf("worker=%d", c)]; fds == 0 {
			t.Errorf("process_open_fds{worker=%d} missing: the worker's metrics were not gathered", c)
		}
	}

	victim := r.sup.Workers()[0]
	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var back supervisor.WorkerStatus
	waitFor(t, 10*time.Second, "the killed worker back", func() bool {
		back = r.sup.Workers()[0]
		return back.PID != 0 && back.PID != victim.PID && back.Version >= 1
	})
	check(back)
	for i := range 10 {
		if got, err := get(client, r.sup.HTTPAddr()); err != nil || got != "a" {
			t.Fatalf("request %d after the restart: %q, %v; want a", i, got, err)
		}
	}
}

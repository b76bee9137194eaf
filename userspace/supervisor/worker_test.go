package supervisor

import (
	"bytes"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestStartPinned: the child starts on its core only and with
// WorkerTimerSlack (as its runtime's threads will), and the calling thread
// gets its own affinity and timer slack back.
func TestStartPinned(t *testing.T) {
	cores, err := OnlineCores()
	if err != nil {
		t.Fatal(err)
	}
	cpu := cores[len(cores)-1]
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var before, after unix.CPUSet
	if err := unix.SchedGetaffinity(0, &before); err != nil {
		t.Fatal(err)
	}
	slackBefore, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	cmd := exec.Command("/bin/sh", "-c", "cat /proc/self/timerslack_ns; sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status")
	cmd.Stdout = &out
	if err := startPinned(cmd, cpu); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v (output %q)", err, out.String())
	}
	got := strings.Fields(out.String())
	want := []string{strconv.FormatInt(WorkerTimerSlack.Nanoseconds(), 10), strconv.Itoa(cpu)}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("child's timer slack and cores: got %q, want %q", got, want)
	}

	if err := unix.SchedGetaffinity(0, &after); err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("caller's affinity: %d cores after, %d before", after.Count(), before.Count())
	}
	slackAfter, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if slackAfter != slackBefore {
		t.Errorf("caller's timer slack: %d ns after, %d before", slackAfter, slackBefore)
	}
}

// Package testutil holds the helpers Weir's tests share: a log buffer safe
// for concurrent writers, waiting on a condition with a deadline, running a
// command to its exit status, and the one rule for tests that need
// privileges.
package testutil

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf/rlimit"
)

// SyncBuffer collects what concurrent writers (loggers, access logs) write.
// The zero value is ready to use.
type SyncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// WaitFor polls cond until it holds, and fails the test after timeout. The
// polling interval is not a synchronisation: the condition is.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// RequirePrivileged skips a test that needs root and BPF, and each of needs
// (a command looked up in PATH, or an absolute path that must exist), when
// one is missing; under CI (the CI variable set) it fails instead: CI runs as
// root and must run every test.
func RequirePrivileged(t testing.TB, needs ...string) {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "needs root"
	} else if err := rlimit.RemoveMemlock(); err != nil {
		why = "needs BPF: " + err.Error()
	}
	for _, n := range needs {
		if why != "" {
			break
		}
		if strings.HasPrefix(n, "/") {
			if _, err := os.Stat(n); err != nil {
				why = "needs " + n
			}
		} else if _, err := exec.LookPath(n); err != nil {
			why = "needs the command " + n
		}
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set: privileged tests must run)", why)
	}
	t.Skip(why)
}

// RunCommand runs name with args and returns its standard output, standard
// error and exit status. It fails the test when the command cannot be
// started or is still running after 20s (then it is killed).
func RunCommand(tb testing.TB, name string, args ...string) (stdout, stderr string, code int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		tb.Fatalf("%s %s: still running after 20s", name, strings.Join(args, " "))
	case err != nil && !errors.As(err, &ee):
		tb.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

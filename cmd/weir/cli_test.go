package main

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildWeir builds cmd/weir into a temporary folder and returns its path.
func buildWeir(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "weir")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runWeirBinary runs bin with args and returns its stdout, stderr and exit
// status; it fails the test if bin does not exit within 20s.
func runWeirBinary(tb testing.TB, bin string, args ...string) (stdout, stderr string, code int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		tb.Fatalf("weir %s: still running after 20s", strings.Join(args, " "))
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		tb.Fatalf("weir %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), code
}

// TestCommandLines runs the built binary: every command answers -h and
// --help with its usage on stdout and status 0, doing nothing else (weir
// detach --help once detached a live data path), and refuses an unknown flag
// or a stray argument with status 2 and a message on stderr.
func TestCommandLines(t *testing.T) {
	bin := buildWeir(t)
	for _, cmd := range []string{"", "demo-backends", "annotations", "flags", "inspect", "detach", "worker"} {
		name := strings.TrimSpace("weir " + cmd)
		var args []string
		if cmd != "" {
			args = []string{cmd}
		}
		with := func(more ...string) []string { return append(append([]string(nil), args...), more...) }
		t.Run(name, func(t *testing.T) {
			for _, help := range []string{"-h", "--help", "-help"} {
				stdout, stderr, code := runWeirBinary(t, bin, with(help)...)
				if code != 0 || !strings.HasPrefix(stdout, "Usage: "+name+" [flags]\n") || stderr != "" {
					t.Errorf("%s %s: status %d, stdout %q, stderr %q; want 0, the usage, nothing", name, help, code, stdout, stderr)
				}
				if strings.Contains(stdout, "detached") {
					t.Errorf("%s %s: did its job instead of printing its usage: %q", name, help, stdout)
				}
			}
			for _, tc := range []struct {
				args []string
				want string
			}{
				{with("--bogus"), name + ": flag provided but not defined: -bogus (see " + name + " --help)"},
				{with("stray"), "unexpected argument \"stray\""},
			} {
				if cmd == "" && tc.args[0] == "stray" {
					tc.want = "weir: unknown command \"stray\""
				}
				stdout, stderr, code := runWeirBinary(t, bin, tc.args...)
				if code != 2 || !strings.Contains(stderr, tc.want) || stdout != "" {
					t.Errorf("weir %s: status %d, stdout %q, stderr %q; want 2, nothing, %q",
						strings.Join(tc.args, " "), code, stdout, stderr, tc.want)
				}
			}
		})
	}
}

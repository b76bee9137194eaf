package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/weir-lb/weir/test/testutil"
)

// weirBin is cmd/weir built once for the tests of this package, in a
// folder TestMain removes.
var weirBin struct {
	once      sync.Once
	dir, path string
	err       error
}

// holdEnv, set to a folder, makes the test binary a stand-in for a running
// Weir: it holds the folder as datapath.Load does (an flock), says "held"
// on stdout and waits until killed.
const holdEnv = "WEIR_TEST_HOLD_PINS"

// TestMain makes the test binary run as weir (envMain), or hold a pin folder
// (holdEnv), or run the tests.
func TestMain(m *testing.M) {
	if os.Getenv(envMain) == "1" {
		main()
		os.Exit(0)
	}
	if dir := os.Getenv(holdEnv); dir != "" {
		f, err := os.Open(dir)
		if err == nil {
			err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "hold:", err)
			os.Exit(1)
		}
		fmt.Println("held")
		select {} // until killed
	}
	code := m.Run()
	if weirBin.dir != "" {
		os.RemoveAll(weirBin.dir)
	}
	os.Exit(code)
}

// buildWeir builds cmd/weir (once per test binary) and returns its path.
func buildWeir(tb testing.TB) string {
	tb.Helper()
	weirBin.once.Do(func() {
		if weirBin.dir, weirBin.err = os.MkdirTemp("", "weir-cmd-test"); weirBin.err != nil {
			return
		}
		weirBin.path = filepath.Join(weirBin.dir, "weir")
		if out, err := exec.Command("go", "build", "-o", weirBin.path, ".").CombinedOutput(); err != nil {
			weirBin.err = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if weirBin.err != nil {
		tb.Fatal(weirBin.err)
	}
	return weirBin.path
}

// TestCommandLines runs the built binary: every command answers -h and
// --help with its usage on stdout and status 0, doing nothing else (weir
// detach --help once detached a live data path), and refuses an unknown flag
// or a stray argument with status 2 and a message on stderr.
func TestCommandLines(t *testing.T) {
	bin := buildWeir(t)
	// inspect and detach are pointed at a folder of their own: were one to
	// run instead of printing its usage, it would remove this folder, not
	// a real data path.
	pins := t.TempDir()
	writeMarker(t, pins)
	for _, cmd := range []string{"", "demo-backends", "annotations", "flags", "check", "inspect", "detach", "worker", "version"} {
		name := strings.TrimSpace("weir " + cmd)
		var args []string
		if cmd != "" {
			args = []string{cmd}
		}
		if cmd == "inspect" || cmd == "detach" {
			args = append(args, "--bpf-pin-path", pins)
		}
		with := func(more ...string) []string { return append(append([]string(nil), args...), more...) }
		t.Run(name, func(t *testing.T) {
			for _, help := range []string{"-h", "--help", "-help"} {
				stdout, stderr, code := testutil.RunCommand(t, bin, with(help)...)
				if code != 0 || !strings.HasPrefix(stdout, "Usage: "+name+" [flags]\n") || stderr != "" {
					t.Errorf("%s %s: status %d, stdout %q, stderr %q; want 0, the usage, nothing", name, help, code, stdout, stderr)
				}
				if strings.Contains(stdout, "detached") {
					t.Errorf("%s %s: did its job instead of printing its usage: %q", name, help, stdout)
				}
				checkMarker(t, pins)
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
				stdout, stderr, code := testutil.RunCommand(t, bin, tc.args...)
				if code != 2 || !strings.Contains(stderr, tc.want) || stdout != "" {
					t.Errorf("weir %s: status %d, stdout %q, stderr %q; want 2, nothing, %q",
						strings.Join(tc.args, " "), code, stdout, stderr, tc.want)
				}
			}
		})
	}
}

// writeMarker writes a file into dir for checkMarker.
func writeMarker(tb testing.TB, dir string) {
	tb.Helper()
	if err := os.WriteFile(filepath.Join(dir, "marker"), nil, 0o600); err != nil {
		tb.Fatal(err)
	}
}

// checkMarker fails the test when writeMarker's file is gone from dir.
func checkMarker(tb testing.TB, dir string) {
	tb.Helper()
	if _, err := os.Stat(filepath.Join(dir, "marker")); err != nil {
		tb.Fatalf("the pin folder was removed: %v", err)
	}
}

// TestDetachRefusedWhileHeld: weir detach leaves a pin folder alone while a
// running Weir holds it (a process holding an flock on the folder, as
// datapath.Load takes), naming that process, and removes it once that
// process is dead.
func TestDetachRefusedWhileHeld(t *testing.T) {
	bin := buildWeir(t)
	pins := t.TempDir()
	writeMarker(t, pins)

	holder := exec.Command(os.Args[0])
	holder.Env = append(os.Environ(), holdEnv+"="+pins)
	held, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	holder.Stderr = os.Stderr
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	pid := holder.Process.Pid
	dead := false
	kill := func() {
		if !dead {
			dead = true
			holder.Process.Kill() // by PID, as a crash would end it
			holder.Wait()
		}
	}
	defer kill()
	if line, err := bufio.NewReader(held).ReadString('\n'); line != "held\n" {
		t.Fatalf("holder process: %q, %v", line, err)
	}

	stdout, stderr, code := testutil.RunCommand(t, bin, "detach", "--bpf-pin-path", pins)
	want := fmt.Sprintf("pin folder in use: a running weir (pid %d) holds its XDP link and maps", pid)
	if code != 1 || !strings.Contains(stderr, want) || stdout != "" {
		t.Errorf("detach of a held folder: status %d, stdout %q, stderr %q; want 1, nothing, %q", code, stdout, stderr, want)
	}
	checkMarker(t, pins)

	kill() // the kernel drops the flock of a dead process: no stale owner
	stdout, stderr, code = testutil.RunCommand(t, bin, "detach", "--bpf-pin-path", pins)
	if code != 0 || stdout != "detached; removed "+pins+"\n" {
		t.Errorf("detach of a free folder: status %d, stdout %q, stderr %q; want 0, detached", code, stdout, stderr)
	}
	if _, err := os.Stat(pins); !os.IsNotExist(err) {
		t.Errorf("pin folder still there after detach: %v", err)
	}
}

// TestPinPathFromEnv: weir detach takes WEIR_BPF_PIN_PATH, as weir does (a
// `kubectl exec` into the pod inherits it); the command line wins.
func TestPinPathFromEnv(t *testing.T) {
	fromEnv, fromFlag := t.TempDir(), t.TempDir()
	t.Setenv("WEIR_BPF_PIN_PATH", fromEnv)
	var out strings.Builder
	if err := runDetach(nil, &out); err != nil || out.String() != "detached; removed "+fromEnv+"\n" {
		t.Errorf("detach with WEIR_BPF_PIN_PATH: %q, %v; want %s removed", out.String(), err, fromEnv)
	}
	out.Reset()
	if err := runDetach([]string{"--bpf-pin-path", fromFlag}, &out); err != nil || out.String() != "detached; removed "+fromFlag+"\n" {
		t.Errorf("detach with --bpf-pin-path: %q, %v; want %s removed", out.String(), err, fromFlag)
	}
}

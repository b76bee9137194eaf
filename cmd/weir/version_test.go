package main

import (
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/weir-lb/weir/test/testutil"
)

// TestVersion builds weir as `make build` does and runs `weir version` and
// `weir --version`: both print the version of `git describe`, the commit of
// `git rev-parse HEAD` and the Go version, and exit 0. Built without the
// Makefile's -ldflags, weir names the commit go build stamped (-buildvcs).
func TestVersion(t *testing.T) {
	git := func(args ...string) string {
		out, err := exec.Command("git", args...).Output()
		if err != nil {
			t.Skipf("not in a git checkout (git %s: %v)", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out))
	}
	describe, head := git("describe", "--tags", "--always", "--dirty"), git("rev-parse", "HEAD")
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	bin := filepath.Join(t.TempDir(), "weir")
	if out, err := exec.Command("make", "-C", "../..", "build", "BIN="+bin).CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	goLine := "go: " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	for _, args := range [][]string{{"version"}, {"--version"}, {"--version", "--http-port=1"}} {
		stdout, stderr, code := testutil.RunCommand(t, bin, args...)
		if want := "weir " + describe + "\ncommit: " + head + "\n" + goLine; code != 0 || stdout != want || stderr != "" {
			t.Errorf("weir %s: status %d, stdout %q, stderr %q; want 0, %q, nothing", strings.Join(args, " "), code, stdout, stderr, want)
		}
	}
	plain := filepath.Join(t.TempDir(), "weir")
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", plain, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// go build stamps no revision in a git worktree (its .git is a file):
	// then weir says "unknown".
	info, err := exec.Command("go", "version", "-m", plain).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	want := "unknown"
	for _, line := range strings.Split(string(info), "\n") {
		if rev, ok := strings.CutPrefix(strings.TrimSpace(line), "build\tvcs.revision="); ok {
			want = rev
		}
	}
	stdout, _, code := testutil.RunCommand(t, plain, "version")
	if code != 0 || !strings.Contains(stdout, "\ncommit: "+want+"\n") || !strings.HasSuffix(stdout, goLine) {
		t.Errorf("weir version without -ldflags: status %d, stdout %q; want 0, commit %s (go build's vcs.revision)", code, stdout, want)
	}
}

// TestHelpListsCommands: weir --help exits 0 and names every subcommand.
func TestHelpListsCommands(t *testing.T) {
	stdout, _, code := testutil.RunCommand(t, buildWeir(t), "--help")
	for _, c := range strings.Split(commands, ", ") {
		if !strings.Contains(stdout, c) {
			t.Errorf("weir --help does not name %q", c)
		}
	}
	if code != 0 || !strings.Contains(stdout, "version") {
		t.Errorf("weir --help: status %d, stdout %q", code, stdout)
	}
}

// TestVersionNotFromEnv: WEIR_VERSION, which a deployment may set for its own
// use, does not make weir print its version and exit.
func TestVersionNotFromEnv(t *testing.T) {
	t.Setenv("WEIR_VERSION", "1.2.3")
	fs, o := newFlags(io.Discard)
	if err := parse(fs, nil, io.Discard); err != nil || o.version {
		t.Errorf("with WEIR_VERSION=1.2.3: error %v, version %v; want nil, false", err, o.version)
	}
}

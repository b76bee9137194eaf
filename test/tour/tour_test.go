// Package tour runs the README's tour for real: it builds the weir binary,
// starts the quickstart's demo backends and Weir on examples/quickstart as
// `make run` does, and runs every curl command of the README's tour table,
// comparing the first line of each answer.
package tour

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

var row = regexp.MustCompile("^\\| `(curl [^`]+)` \\| `([^`]+)` \\|")

func TestREADMETour(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("curl is required under CI: %v", err)
		}
		t.Skip("curl not installed")
	}
	root, _ := filepath.Abs("../..")
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	type step struct{ cmd, want string }
	var steps []step
	sc := bufio.NewScanner(bytes.NewReader(readme))
	for sc.Scan() {
		if m := row.FindStringSubmatch(sc.Text()); m != nil {
			steps = append(steps, step{m[1], m[2]})
		}
	}
	if len(steps) < 5 {
		t.Fatalf("found %d tour commands in the README, want at least 5", len(steps))
	}

	bin := filepath.Join(t.TempDir(), "weir")
	build := exec.Command("go", "build", "-o", bin, "./cmd/weir")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	start(t, bin, "demo-backends", "--backend", "web=127.0.0.1:9101",
		"--backend", "api=127.0.0.1:9102", "--backend", "docs=127.0.0.1:9103")
	port := freePort(t)
	metrics := freePort(t)
	start(t, bin, "--manifests", filepath.Join(root, "examples/quickstart"),
		"--http-port", port, "--https-port", freePort(t), "--metrics-port", metrics,
		"--bind-address", "127.0.0.1", "--access-log=false")

	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://127.0.0.1:" + metrics + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("weir not ready within 20s: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}

	for _, s := range steps {
		t.Run(s.cmd, func(t *testing.T) {
			cmdline := strings.ReplaceAll(s.cmd, "127.0.0.1:8080", "127.0.0.1:"+port)
			args := splitArgs(strings.TrimPrefix(cmdline, "curl "))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, curl, append([]string{"--max-time", "5"}, args...)...).Output()
			if err != nil {
				t.Fatalf("%s: %v", cmdline, err)
			}
			first, _, _ := strings.Cut(string(out), "\n")
			if first != s.want {
				t.Fatalf("%s: first line %q, want %q", cmdline, first, s.want)
			}
		})
	}
}

// splitArgs splits a shell command line with single quotes only, as the
// README's commands use.
func splitArgs(s string) []string {
	var args []string
	var cur strings.Builder
	inQuote, has := false, false
	for _, r := range s {
		switch {
		case r == '\'':
			inQuote = !inQuote
			has = true
		case r == ' ' && !inQuote:
			if has {
				args = append(args, cur.String())
				cur.Reset()
				has = false
			}
		default:
			cur.WriteRune(r)
			has = true
		}
	}
	if has {
		args = append(args, cur.String())
	}
	return args
}

func start(t *testing.T, bin string, args ...string) {
	t.Helper()
	var logs bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s %s:\n%s", filepath.Base(bin), strings.Join(args, " "), logs.String())
		}
	})
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

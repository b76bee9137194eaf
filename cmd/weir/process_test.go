package main

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/weir-lb/weir/test/testutil"
)

// envMain makes the test binary run as the weir command (and so as its
// workers, which the supervisor starts as this executable with "worker").
const envMain = "WEIR_TEST_MAIN"

// weirProcess is this test binary running as weir.
type weirProcess struct {
	cmd    *exec.Cmd
	logs   *testutil.SyncBuffer
	exited chan struct{}
	err    error // of Wait, once exited is closed
}

// startWeir runs weir with args (manifests from files in a fresh folder)
// and stops it by its PID when the test ends, killing it if it outlives 30
// seconds.
func startWeir(t *testing.T, files map[string]string, args ...string) *weirProcess {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return startWeirEnv(t, nil, append([]string{"--manifests", dir}, args...)...)
}

// startWeirEnv runs weir with args and env added to the test's
// environment, without access log, data path or post-shutdown grace
// period, and stops it as startWeir does.
func startWeirEnv(t *testing.T, env []string, args ...string) *weirProcess {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &weirProcess{logs: &testutil.SyncBuffer{}, exited: make(chan struct{})}
	// Each weir offers its sockets for an upgrade in its own folder, not
	// in the host's /run/weir: tests run side by side. An --upgrade-socket
	// in args comes later and wins.
	p.cmd = exec.Command(exe, append([]string{"--access-log=false", "--xdp-mode", "off", "--post-shutdown-grace-period", "0",
		"--upgrade-socket", filepath.Join(t.TempDir(), "upgrade.sock")}, args...)...)
	p.cmd.Env = append(append(os.Environ(), envMain+"=1"), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(30 * time.Second):
			p.cmd.Process.Kill()
			<-p.exited
			t.Errorf("weir (pid %d) did not stop within 30s of SIGTERM: killed", p.cmd.Process.Pid)
		}
		if t.Failed() {
			t.Logf("weir log:\n%s", p.logs.String())
		}
	})
	return p
}

// freePort returns a TCP port free on host at the time of the call, below
// Linux's ephemeral range (32768 and up by default): a port the kernel
// hands out for ":0" can be given to another test's outgoing connection
// before weir binds it ("address already in use", seen under the parallel
// packages of make test); one below the range can only be taken by a
// listener, and this function's callers try another at random.
func freePort(t *testing.T, host string) int {
	t.Helper()
	for range 200 {
		port := 20000 + rand.IntN(12000)
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			continue
		}
		ln.Close()
		return port
	}
	t.Fatal("no free port below the ephemeral range")
	return 0
}

// proxyPorts returns --bind-address host and free --http-port and
// --https-port on it.
func proxyPorts(t *testing.T, host string) []string {
	t.Helper()
	return []string{"--bind-address", host, "--http-port", strconv.Itoa(freePort(t, host)), "--https-port", strconv.Itoa(freePort(t, host))}
}

// waitHealthy waits until GET /healthz on addr answers 200.
func waitHealthy(t *testing.T, p *weirProcess, addr string) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	testutil.WaitFor(t, 20*time.Second, "weir's /healthz on "+addr, func() bool {
		select {
		case <-p.exited:
			t.Fatalf("weir exited before it was healthy: %v\n%s", p.err, p.logs.String())
		default:
		}
		resp, err := client.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// TestMetricsBindAddress: with --bind-address the metrics port listens on
// that address only, in both modes (under hostNetwork, all addresses would
// include the node's public one).
func TestMetricsBindAddress(t *testing.T) {
	for _, workers := range []string{"0", "1"} {
		t.Run("workers="+workers, func(t *testing.T) {
			port := freePort(t, "127.0.0.2")
			p := startWeir(t, nil, append(proxyPorts(t, "127.0.0.2"), "--workers", workers, "--metrics-port", strconv.Itoa(port))...)
			waitHealthy(t, p, fmt.Sprintf("127.0.0.2:%d", port))
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 2*time.Second)
			if err == nil {
				c.Close()
				t.Fatalf("metrics port %d answers on 127.0.0.1 with --bind-address 127.0.0.2", port)
			}
		})
	}
}

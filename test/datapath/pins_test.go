package datapath_test

import (
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weir-lb/weir/test/testutil"
)

// weirProcess is a weir binary the test started.
type weirProcess struct {
	cmd  *exec.Cmd
	logs *testutil.SyncBuffer
	done chan struct{} // closed when it has exited
	once sync.Once
}

// stop ends the process by its PID: SIGTERM, then SIGKILL if it has not
// exited within 20s. It returns once the process has exited.
func (p *weirProcess) stop(tb testing.TB) {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			tb.Errorf("weir pid %d still running 20s after SIGTERM: killing it", p.cmd.Process.Pid)
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
}

// freePortOn returns a TCP port free on addr.
func freePortOn(tb testing.TB, addr string) string {
	tb.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// xdpAttached reports whether an XDP program is attached to iface.
func xdpAttached(tb testing.TB, iface string) bool {
	tb.Helper()
	return strings.Contains(sh(tb, "ip", "link", "show", "dev", iface), "prog/xdp id")
}

// TestTwoWeirsOwnPins runs the weir binary twice on one host, each on its own
// veth with its own --bpf-pin-path: both attach XDP. A third weir given the
// first one's pin folder gets no XDP and says which process holds it, and
// `weir detach` of that folder is refused, both leaving the first one's
// program attached; once the first weir has stopped, the folder detaches
// and the second weir's program stays.
func TestTwoWeirsOwnPins(t *testing.T) {
	requirePrivileged(t)
	const ipA, ipB = "198.18.3.1", "198.18.3.5"
	_, srvA, _ := vethNS(t, "p", ipA, "198.18.3.2")
	_, srvB, _ := vethNS(t, "q", ipB, "198.18.3.6")
	bin := filepath.Join(t.TempDir(), "weir")
	sh(t, "go", "build", "-o", bin, "../../cmd/weir")
	manifests := t.TempDir()
	// A private bpffs for the pins: weir mounts one on the parent of
	// --bpf-pin-path when none is there.
	root := t.TempDir()
	t.Cleanup(func() { unix.Unmount(root, unix.MNT_DETACH) })
	pinsA, pinsB := root+"/a", root+"/b"

	start := func(addr, iface, pins string) *weirProcess {
		t.Helper()
		p := &weirProcess{logs: &testutil.SyncBuffer{}, done: make(chan struct{})}
		p.cmd = exec.Command(bin, "--workers", "0", "--manifests", manifests, "--access-log=false",
			"--bind-address", addr, "--http-port", freePortOn(t, addr), "--https-port", freePortOn(t, addr),
			"--metrics-port", freePortOn(t, ""), "--interface", iface, "--xdp-mode", "native", "--bpf-pin-path", pins)
		p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { p.cmd.Wait(); close(p.done) }()
		t.Cleanup(func() { p.stop(t) })
		testutil.WaitFor(t, 20*time.Second, "weir on "+iface+" starting", func() bool {
			return strings.Contains(p.logs.String(), "weir starting")
		})
		return p
	}
	detach := func(pins string) (string, int) {
		t.Helper()
		stdout, stderr, code := testutil.RunCommand(t, bin, "detach", "--bpf-pin-path", pins)
		return stdout + stderr, code
	}

	a := start(ipA, srvA, pinsA)
	b := start(ipB, srvB, pinsB)
	for _, c := range []struct {
		p          *weirProcess
		iface, pin string
	}{{a, srvA, pinsA}, {b, srvB, pinsB}} {
		if logs := c.p.logs.String(); !strings.Contains(logs, "XDP data path attached") || !strings.Contains(logs, "pins="+c.pin) || !xdpAttached(t, c.iface) {
			t.Fatalf("weir on %s: no XDP program with pins under %s:\n%s", c.iface, c.pin, logs)
		}
	}

	c := start(ipA, srvA, pinsA)
	want := "pin folder in use: a running weir (pid " + strconv.Itoa(a.cmd.Process.Pid) + ")"
	if logs := c.logs.String(); !strings.Contains(logs, "XDP data path not available") || !strings.Contains(logs, want) {
		t.Errorf("third weir on %s: logs lack %q:\n%s", pinsA, want, logs)
	}
	if out, code := detach(pinsA); code != 1 || !strings.Contains(out, want) {
		t.Errorf("detach while the first weir runs: status %d, output %q; want 1 and %q", code, out, want)
	}
	if !xdpAttached(t, srvA) {
		t.Fatalf("the first weir's XDP program on %s is gone", srvA)
	}

	a.stop(t)
	if out, code := detach(pinsA); code != 0 {
		t.Fatalf("detach after the first weir stopped: status %d, output %q", code, out)
	}
	if gotA, gotB := xdpAttached(t, srvA), xdpAttached(t, srvB); gotA || !gotB {
		t.Errorf("after detaching %s: XDP on %s %v (want false), on %s %v (want true)", pinsA, srvA, gotA, srvB, gotB)
	}
	b.stop(t)
	if out, code := detach(pinsB); code != 0 {
		t.Errorf("detach of %s: status %d, output %q", pinsB, code, out)
	}
}

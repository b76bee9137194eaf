package datapath_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/weir-lb/weir/test/testutil"
	"github.com/weir-lb/weir/userspace/supervisor"
	"github.com/weir-lb/weir/userspace/supervisor/supervisortest"
)

// TestVethUpgradeKeepsXDPLink: a weir started with --upgrade takes over a
// running weir (2 workers, XDP native on a veth) while a client in the
// namespace sends requests on new connections: every request is answered,
// the old weir exits 0, and the XDP link pinned before is the one pinned
// after (same link id) with the new weir's program on it, which redirects
// the traffic that follows; the new weir's SK_REUSEPORT program steers the
// same sockets (the old one released them from its map).
func TestVethUpgradeKeepsXDPLink(t *testing.T) {
	requirePrivileged(t)
	if cores, err := supervisor.OnlineCores(); err != nil || len(cores) < 2 {
		t.Skipf("needs 2 cores, have %v (%v)", cores, err)
	}
	const serverIP, clientIP = "198.18.4.1", "198.18.4.2"
	ns, srv, _ := vethNS(t, "u", serverIP, clientIP)
	bin := filepath.Join(t.TempDir(), "weir")
	sh(t, "go", "build", "-o", bin, "../../cmd/weir")
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(backend.Close)
	manifests := t.TempDir()
	manifest := supervisortest.Manifest("app.test", "app", "127.0.0.1", backend.Listener.Addr().(*net.TCPAddr).Port)
	if err := os.WriteFile(filepath.Join(manifests, "app.yaml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir() // a private bpffs for the pins, mounted by weir
	t.Cleanup(func() { unix.Unmount(root, unix.MNT_DETACH) })
	pins := root + "/pins"
	httpPort, metricsPort := freePortOn(t, serverIP), freePortOn(t, serverIP)
	args := []string{"--workers", "2", "--manifests", manifests, "--access-log=false",
		"--bind-address", serverIP, "--http-port", httpPort, "--https-port", freePortOn(t, serverIP),
		"--metrics-port", metricsPort, "--interface", srv, "--xdp-mode", "native", "--bpf-pin-path", pins,
		"--upgrade-socket", filepath.Join(t.TempDir(), "upgrade.sock"),
		"--worker-uid", "0", "--worker-gid", "0", "--post-shutdown-grace-period", "0"}
	start := func(extra ...string) *weirProcess {
		t.Helper()
		p := &weirProcess{logs: &testutil.SyncBuffer{}, done: make(chan struct{})}
		p.cmd = exec.Command(bin, append(append([]string(nil), args...), extra...)...)
		p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { p.cmd.Wait(); close(p.done) }()
		t.Cleanup(func() {
			p.stop(t)
			if t.Failed() {
				t.Logf("weir pid %d log:\n%s", p.cmd.Process.Pid, p.logs.String())
			}
		})
		return p
	}
	pinnedLink := func() (linkID, progID uint32) {
		t.Helper()
		l, err := link.LoadPinnedLink(pins+"/xdp_link", nil)
		if err != nil {
			t.Fatalf("load pinned xdp link: %v", err)
		}
		defer l.Close()
		info, err := l.Info()
		if err != nil {
			t.Fatalf("read pinned xdp link: %v", err)
		}
		return uint32(info.ID), uint32(info.Program)
	}
	redirected := func() int {
		t.Helper()
		out, _, code := testutil.RunCommand(t, bin, "inspect", "--bpf-pin-path", pins)
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); code == 0 && strings.HasPrefix(strings.TrimSpace(line), "redirected to cpu") {
				n, _ := strconv.Atoi(f[len(f)-1])
				return n
			}
		}
		t.Fatalf("weir inspect: status %d, no redirect count in:\n%s", code, out)
		return 0
	}
	// client sends n requests from the namespace, each on a new
	// connection, and fails on the first one not answered 200.
	client := func(n int) *exec.Cmd {
		script := fmt.Sprintf(`for i in $(seq %d); do
	exec 3<>/dev/tcp/%s/%s || { echo "request $i: connect failed"; exit 1; }
	printf 'GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n' >&3
	read -r -t 10 status <&3 || { echo "request $i: no response"; exit 1; }
	[[ $status == "HTTP/1.1 200"* ]] || { echo "request $i: $status"; exit 1; }
	exec 3>&-
done`, n, serverIP, httpPort)
		return exec.Command("timeout", "60", "ip", "netns", "exec", ns, "bash", "-c", script)
	}
	// ready waits for p to attach XDP with both workers serving. A worker
	// says so at its start when a configuration is live by then, or the
	// supervisor counts it when the first configuration reaches the
	// workers; the two can share the workers between them, so the
	// supervisor's /readyz is asked too (p is the only Weir running when
	// ready is called: the old one has exited before the new one is asked).
	ready := func(p *weirProcess, what string) {
		t.Helper()
		testutil.WaitFor(t, 30*time.Second, what, func() bool {
			select {
			case <-p.done:
				t.Fatalf("weir exited before %s", what)
			default:
			}
			logs := p.logs.String()
			if !strings.Contains(logs, "XDP data path attached") {
				return false
			}
			if strings.Count(logs, `msg="worker serving"`) >= 2 || strings.Contains(logs, "live on 2 workers") {
				return true
			}
			resp, err := http.Get("http://" + net.JoinHostPort(serverIP, metricsPort) + "/readyz")
			if err != nil {
				return false
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return strings.Contains(string(body), "live on 2 of 2 workers")
		})
	}

	old := start()
	ready(old, "the old weir attaching XDP and serving")
	if out, err := client(50).CombinedOutput(); err != nil {
		t.Fatalf("client before the upgrade: %v\n%s", err, out)
	}
	linkBefore, progBefore := pinnedLink()

	load := client(1500) // runs through the upgrade
	var loadOut strings.Builder
	load.Stdout, load.Stderr = &loadOut, &loadOut
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	next := start("--upgrade")
	select {
	case <-old.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the old weir still running 30s after the upgrade began")
	}
	if err := old.cmd.ProcessState; err == nil || !err.Success() {
		t.Errorf("the old weir exited with %v", old.cmd.ProcessState)
	}
	ready(next, "the new weir attaching XDP")
	if err := load.Wait(); err != nil {
		t.Errorf("client through the upgrade: %v\n%s", err, loadOut.String())
	}

	linkAfter, progAfter := pinnedLink()
	if linkAfter != linkBefore || progAfter == progBefore {
		t.Errorf("pinned xdp link %d with program %d before the upgrade, link %d with program %d after: want the same link with the new weir's program",
			linkBefore, progBefore, linkAfter, progAfter)
	}
	if logs := next.logs.String(); strings.Contains(logs, "SK_REUSEPORT program not attached") {
		t.Errorf("the new weir does not steer connections by core: its SK_REUSEPORT program is not attached")
	}
	before := redirected()
	if out, err := client(200).CombinedOutput(); err != nil {
		t.Fatalf("client after the upgrade: %v\n%s", err, out)
	}
	if after := redirected(); after < before+200 {
		t.Errorf("XDP redirected %d packets for 200 connections after the upgrade, want at least 200", after-before)
	}
	t.Logf("xdp link %d: program %d, then %d", linkBefore, progBefore, progAfter)
}

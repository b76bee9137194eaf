package datapath_test

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weir-lb/weir/userspace/controller"
	"github.com/weir-lb/weir/userspace/daemon"
	"github.com/weir-lb/weir/userspace/datapath"
	"github.com/weir-lb/weir/userspace/snapshot"
	"github.com/weir-lb/weir/userspace/supervisor/supervisortest"
)

// TestVethSourceRange: an Ingress whose denylist-source-range covers the
// whole listener port reaches the XDP maps through Weir's own wiring
// (Snapshot → datapath.SourceListPublisher): the denied source gets no
// SYN-ACK (its connect times out, drop_denied counts it) while another
// source of the same client namespace connects and is served.
func TestVethSourceRange(t *testing.T) {
	requirePrivileged(t)
	const serverIP, clientIP, deniedIP = "198.18.2.1", "198.18.2.2", "198.18.2.6"
	ns, srv, cli := vethNS(t, "s", serverIP, clientIP, deniedIP)

	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "backend\n")
	}))
	t.Cleanup(backend.Close)
	dir := t.TempDir()
	manifest := supervisortest.Manifest("app.test", "app", "127.0.0.1", backend.Listener.Addr().(*net.TCPAddr).Port)
	// The Ingress is the last object; its metadata gets the annotation.
	const meta = "metadata: {name: app, namespace: default}"
	i := strings.LastIndex(manifest, meta)
	if i < 0 || !strings.HasSuffix(manifest[:i], "kind: Ingress\n") {
		t.Fatal("manifest: the Ingress metadata line changed; annotation not added")
	}
	manifest = manifest[:i] + "metadata:\n  name: app\n  namespace: default\n  annotations: {nginx.ingress.kubernetes.io/denylist-source-range: \"" +
		deniedIP + "/32\"}" + manifest[i+len(meta):]
	if err := os.WriteFile(filepath.Join(dir, "app.yaml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}

	logs := &lockedBuffer{}
	pub := &datapath.SourceListPublisher{Log: slog.New(slog.NewTextHandler(logs, nil))}
	d, err := daemon.New(daemon.Config{
		BindAddress:    serverIP,
		MetricsAddress: "127.0.0.1",
		Manifests:      dir,
		Controller:     controller.Options{Build: snapshot.DefaultOptions()},
		Publishers:     []controller.Publisher{pub},
		Logger:         slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddrPort(d.HTTPAddr())
	serveDaemon(t, d, logs)

	dp := attachXDP(t, srv)
	pub.Attach(dp, []datapath.Listener{{Addr: addr}})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "XDP source lists set") {
		if time.Now().After(deadline) {
			t.Fatal("the source lists were not set within 10s")
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}

	// The denied source: no SYN-ACK, so its connect times out.
	connect := func(timeout string) error {
		script := fmt.Sprintf(`exec 3<>/dev/tcp/%s/%d`, addr.Addr(), addr.Port())
		return exec.Command("ip", "netns", "exec", ns, "timeout", timeout, "bash", "-c", script).Run()
	}
	sh(t, "ip", "-n", ns, "route", "replace", serverIP+"/32", "dev", cli, "src", deniedIP)
	if err := connect("2"); err == nil {
		t.Fatalf("the denied source %s connected", deniedIP)
	}
	st, err := dp.Stats()
	if err != nil {
		t.Fatal(err)
	}
	var denied uint64
	for _, v := range st.Reasons[datapath.ReasonDropDenied] {
		denied += v
	}
	if denied == 0 {
		t.Fatal("drop_denied counter is 0 after a denied SYN")
	}
	sh(t, "ip", "-n", ns, "route", "del", serverIP+"/32", "dev", cli)

	// Another source connects and is served through Weir.
	script := fmt.Sprintf(`exec 3<>/dev/tcp/%s/%d && printf 'GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n' >&3 && cat <&3`, addr.Addr(), addr.Port())
	out, err := exec.Command("ip", "netns", "exec", ns, "timeout", "10", "bash", "-c", script).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "HTTP/1.1 200") || !strings.Contains(string(out), "backend") {
		t.Fatalf("allowed source %s: err %v, response:\n%s", clientIP, err, out)
	}
}

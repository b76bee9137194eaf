package datapath_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weir-lb/weir/test/testutil"
	"github.com/weir-lb/weir/userspace/controller"
	"github.com/weir-lb/weir/userspace/daemon"
	"github.com/weir-lb/weir/userspace/datapath"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// TestVethStreamPort: a TCP port of --tcp-services-configmap reaches the XDP
// listeners through Weir's own wiring (Snapshot →
// datapath.SourceListPublisher → StreamListeners): a connection from the
// client namespace to the stream port is redirected by XDP (Chosen counts
// its packets) and forwarded by Weir to the Service's endpoint.
func TestVethStreamPort(t *testing.T) {
	requirePrivileged(t)
	const serverIP, clientIP = "198.18.4.1", "198.18.4.2"
	ns, srv, _ := vethNS(t, "t", serverIP, clientIP)

	backend, _ := testutil.TCPServer(t, func(c net.Conn) { io.WriteString(c, "stream\n") })
	_, backendPort, _ := net.SplitHostPort(backend)
	ln, err := net.Listen("tcp4", serverIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	streamPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	dir := t.TempDir()
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: echo, namespace: default}
spec:
  ports: [{name: tcp, port: 9000, targetPort: 9000}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: echo-1
  namespace: default
  labels: {kubernetes.io/service-name: echo}
addressType: IPv4
ports: [{name: tcp, port: %s, protocol: TCP}]
endpoints: [{addresses: [127.0.0.1]}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: tcp-services, namespace: default}
data: {"%d": "default/echo:9000"}
`, backendPort, streamPort)
	if err := os.WriteFile(filepath.Join(dir, "stream.yaml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	pub := &datapath.SourceListPublisher{Log: slog.New(slog.NewTextHandler(logs, nil))}
	opts := snapshot.DefaultOptions()
	opts.TCPServices = "default/tcp-services"
	d, err := daemon.New(daemon.Config{
		BindAddress:    serverIP,
		MetricsAddress: "127.0.0.1",
		Manifests:      dir,
		Controller:     controller.Options{Build: opts},
		Publishers:     []controller.Publisher{pub},
		Logger:         slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	serveDaemon(t, d, logs)
	testutil.WaitFor(t, 10*time.Second, "the stream port live", func() bool {
		s := d.Live()
		return s != nil && len(s.Streams) == 1 && len(s.Streams[0].Endpoints) == 1
	})

	dp := attachXDP(t, srv)
	// Attach applies the live Snapshot at once: its stream port included.
	pub.Attach(dp, []datapath.Listener{{Addr: netip.MustParseAddrPort(d.HTTPAddr())}})
	chosen := func() uint64 {
		st, err := dp.Stats()
		if err != nil {
			t.Fatal(err)
		}
		var n uint64
		for _, v := range st.Chosen {
			n += v
		}
		return n
	}
	before := chosen()
	script := fmt.Sprintf(`exec 3<>/dev/tcp/%s/%d && cat <&3`, serverIP, streamPort)
	out, err := exec.Command("ip", "netns", "exec", ns, "timeout", "10", "bash", "-c", script).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "stream" {
		t.Fatalf("stream port %d from %s: err %v, read %q", streamPort, clientIP, err, out)
	}
	if after := chosen(); after <= before {
		t.Errorf("XDP redirected no packet of the stream connection (chosen %d, then %d)", before, after)
	}
}

// serveDaemon runs d until the test ends, and prints logs if it failed.
func serveDaemon(t *testing.T, d *daemon.Daemon, logs fmt.Stringer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-stopped:
			if err != nil {
				t.Errorf("weir stopped with: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("weir did not stop within 15s")
		}
		if t.Failed() {
			t.Logf("weir log:\n%s", logs.String())
		}
	})
}

// attachXDP loads the XDP program, unpinned, steering to core 0, and
// attaches it natively to iface until the test ends.
func attachXDP(t *testing.T, iface string) *datapath.Datapath {
	t.Helper()
	dp, err := datapath.Load(datapath.Options{})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	t.Cleanup(func() { dp.Close() })
	if err := dp.SetCores([]int{0}); err != nil {
		t.Fatal(err)
	}
	if mode, err := dp.Attach(iface, datapath.ModeNative, nil); err != nil || mode != datapath.ModeNative {
		t.Fatalf("attach: mode %q, err %v", mode, err)
	}
	return dp
}

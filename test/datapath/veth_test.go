// Package datapath_test runs the XDP data path end to end on a veth pair
// between the root namespace and a client namespace the test creates
// (198.18.0.0/30), XDP in native mode on the server-side veth.
package datapath_test

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weir-lb/weir/test/testutil"
	"github.com/weir-lb/weir/userspace/datapath"
)

// requirePrivileged skips without root, BPF, iproute2 and ethtool (vethNS
// uses both), and fails instead when CI is set.
func requirePrivileged(t testing.TB) {
	t.Helper()
	testutil.RequirePrivileged(t, "ip", "ethtool")
}

func sh(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestVethLocality: connections from the client namespace to a listener
// behind XDP are each handled on the core the hash picks (SO_INCOMING_CPU of
// the accepted socket), spread over both cores; a denied range gets no
// SYN-ACK while others connect.
// vethNS creates a network namespace and a veth pair into it, both removed
// in t.Cleanup: the host side srv has serverIP/30, the namespace side cli
// has clientIP/30 and each of extra as a /32. tag (one letter) keeps the
// names of concurrent tests apart.
func vethNS(t testing.TB, tag, serverIP, clientIP string, extra ...string) (ns, srv, cli string) {
	t.Helper()
	id := os.Getpid() % 100000
	ns, srv, cli = fmt.Sprintf("weir%s%d", tag, id), fmt.Sprintf("ws%s%d", tag, id), fmt.Sprintf("wc%s%d", tag, id)
	sh(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	sh(t, "ip", "link", "add", srv, "type", "veth", "peer", "name", cli)
	t.Cleanup(func() { exec.Command("ip", "link", "del", srv).Run() })
	sh(t, "ip", "link", "set", cli, "netns", ns)
	sh(t, "ip", "addr", "add", serverIP+"/30", "dev", srv)
	sh(t, "ip", "link", "set", srv, "up")
	sh(t, "ip", "-n", ns, "addr", "add", clientIP+"/30", "dev", cli)
	for _, ip := range extra {
		sh(t, "ip", "-n", ns, "addr", "add", ip+"/32", "dev", cli)
	}
	sh(t, "ip", "-n", ns, "link", "set", cli, "up")
	sh(t, "ip", "-n", ns, "link", "set", "lo", "up")
	// CPUMAP-rebuilt packets carry no checksum-offload state: the sender
	// must fill in its checksums.
	sh(t, "ip", "netns", "exec", ns, "ethtool", "-K", cli, "tx", "off")
	return ns, srv, cli
}

func TestVethLocality(t *testing.T) {
	requirePrivileged(t)
	ns, srv, cli := vethNS(t, "c", "198.18.0.1", "198.18.0.2", "198.18.0.6") // .6: the denied source

	ln, err := net.Listen("tcp4", "198.18.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	addr := netip.MustParseAddrPort(ln.Addr().String())

	cores := []int{0, 1}
	d, err := datapath.Load(datapath.Options{})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.SetCores(cores); err != nil {
		t.Fatal(err)
	}
	if err := d.SetListeners([]datapath.Listener{{Addr: addr, Deny: []netip.Prefix{netip.MustParsePrefix("198.18.0.6/32")}}}); err != nil {
		t.Fatal(err)
	}
	mode, err := d.Attach(srv, datapath.ModeNative, nil)
	if err != nil || mode != datapath.ModeNative {
		t.Fatalf("attach: mode %q, err %v", mode, err)
	}

	type result struct {
		src      netip.AddrPort
		incoming int
		err      error
	}
	results := make(chan result, 1024)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r := result{src: netip.MustParseAddrPort(c.RemoteAddr().String())}
			raw, _ := c.(*net.TCPConn).SyscallConn()
			raw.Control(func(fd uintptr) {
				r.incoming, r.err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_INCOMING_CPU)
			})
			c.Close()
			results <- r
		}
	}()

	const n = 2000
	script := fmt.Sprintf(`for i in $(seq %d); do exec 3<>/dev/tcp/%s/%d || exit 1; exec 3>&-; done`, n, addr.Addr(), addr.Port())
	cmd := exec.Command("timeout", "60", "ip", "netns", "exec", ns, "bash", "-c", script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("client: %v\n%s", err, out)
	}
	perCore := map[int]int{}
	deadline := time.After(30 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case r := <-results:
			if r.err != nil {
				t.Fatalf("SO_INCOMING_CPU: %v", r.err)
			}
			want := datapath.CoreFor(cores, r.src.Addr(), addr.Addr(), r.src.Port(), addr.Port())
			if r.incoming != want {
				t.Fatalf("connection from %s handled on cpu %d, hash picks %d", r.src, r.incoming, want)
			}
			perCore[r.incoming]++
		case <-deadline:
			t.Fatalf("accepted %d of %d connections within 30s", i, n)
		}
	}
	for _, c := range cores {
		if share := float64(perCore[c]) / n; share < 0.4 || share > 0.6 {
			t.Errorf("core %d got %.0f%% of %d connections, want 40-60%% (%v)", c, 100*share, n, perCore)
		}
	}

	// The denied source: no SYN-ACK, so its connect times out; the others
	// still connect.
	connect := func(timeout string) error {
		script := fmt.Sprintf(`exec 3<>/dev/tcp/%s/%d`, addr.Addr(), addr.Port())
		return exec.Command("ip", "netns", "exec", ns, "timeout", timeout, "bash", "-c", script).Run()
	}
	sh(t, "ip", "-n", ns, "route", "replace", "198.18.0.1/32", "dev", cli, "src", "198.18.0.6")
	if err := connect("2"); err == nil {
		t.Fatal("the denied source 198.18.0.6 connected")
	}
	st, err := d.Stats()
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
	sh(t, "ip", "-n", ns, "route", "del", "198.18.0.1/32", "dev", cli)
	if err := connect("10"); err != nil {
		t.Fatalf("an allowed source could not connect after the denied one: %v", err)
	}
}

package datapath

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// vethPair creates a veth pair in the test's namespace (no addresses, no
// traffic) and deletes it on cleanup.
func vethPair(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("wt%d", os.Getpid()%100000)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p"}
	if err := netlink.LinkAdd(veth); err != nil {
		tb.Fatalf("add veth: %v", err)
	}
	tb.Cleanup(func() { netlink.LinkDel(veth) })
	for _, n := range []string{name, name + "p"} {
		l, err := netlink.LinkByName(n)
		if err != nil {
			tb.Fatal(err)
		}
		if err := netlink.LinkSetUp(l); err != nil {
			tb.Fatal(err)
		}
	}
	return name
}

func TestAttachPinInspectDetach(t *testing.T) {
	requirePrivileged(t)
	iface := vethPair(t)
	// A private bpffs: Load mounts one on the pin folder's parent when none
	// is there; the test unmounts it.
	root := t.TempDir()
	t.Cleanup(func() { unix.Unmount(root, unix.MNT_DETACH) })
	pin := root + "/weir"
	t.Cleanup(func() { Detach(pin) })

	load := func() *Datapath {
		d, err := Load(Options{PinPath: pin})
		if err != nil {
			t.Fatalf("load: %+v", err)
		}
		return d
	}
	d := load()
	if err := d.SetCores([]int{0, 1}); err != nil {
		t.Fatal(err)
	}
	if err := d.SetListeners([]Listener{{Addr: netip.MustParseAddrPort("198.18.0.1:80"), Deny: []netip.Prefix{netip.MustParsePrefix("198.19.66.0/24")}}}); err != nil {
		t.Fatal(err)
	}
	mode, err := d.Attach(iface, ModeNative, nil)
	if err != nil || mode != ModeNative {
		t.Fatalf("attach: mode %q err %v, want native", mode, err)
	}
	d.Close() // the pinned link keeps the program attached
	if m := attachedMode(linkIndex(t, iface)); m != ModeNative {
		t.Fatalf("after close: attach mode %q, want native", m)
	}

	// A restart: the pinned maps keep their content, the link gets the new
	// program in place.
	d2 := load()
	defer d2.Close()
	mode, err = d2.Attach(iface, ModeNative, nil)
	if err != nil || mode != ModeNative {
		t.Fatalf("reattach: mode %q err %v", mode, err)
	}
	var out bytes.Buffer
	if err := Inspect(&out, pin); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"xdp: native on " + iface, "cores: [0 1]", "198.18.0.1:80 allow=[] deny=[198.19.66.0/24]", "reason drop_denied"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out.String())
		}
	}

	if err := Detach(pin); err != nil {
		t.Fatal(err)
	}
	if m := attachedMode(linkIndex(t, iface)); m != "" {
		t.Fatalf("after detach: attach mode %q, want none", m)
	}
	if _, err := os.Stat(pin); !os.IsNotExist(err) {
		t.Fatalf("pins remain after detach: %v", err)
	}
}

func linkIndex(tb testing.TB, name string) int {
	tb.Helper()
	l, err := netlink.LinkByName(name)
	if err != nil {
		tb.Fatal(err)
	}
	return l.Attrs().Index
}

package datapath

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/weir-lb/weir/test/testutil"
)

// vethPair creates a veth pair in the test's namespace (no addresses, no
// traffic) and deletes it on cleanup. tag (one letter) keeps the names of
// the pairs of one test run apart.
func vethPair(tb testing.TB, tag string) string {
	tb.Helper()
	name := fmt.Sprintf("wt%s%d", tag, os.Getpid()%100000)
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
	iface := vethPair(t, "a")
	pin := privatePins(t) + "/weir"

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

	d2.Close() // weir stopped; `weir detach` follows
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

// privatePins returns a folder on a bpffs of the test's own (Load mounts one
// on the pin folder's parent when none is there), so the test never meets
// the pins of a Weir running on the host. Cleanup detaches what the test
// left under it (Detach of each pin folder) and unmounts it.
func privatePins(tb testing.TB) string {
	tb.Helper()
	root := tb.TempDir()
	tb.Cleanup(func() {
		des, _ := os.ReadDir(root)
		for _, de := range des {
			Detach(root + "/" + de.Name())
		}
		unix.Unmount(root, unix.MNT_DETACH)
	})
	return root
}

// TestPinFoldersApart: two Weirs with their own pin folders attach side by
// side; a second Load or a Detach of a folder that a live Datapath holds is
// refused and leaves its link attached; once the holder is gone the folder
// is taken over, with a log line.
func TestPinFoldersApart(t *testing.T) {
	requirePrivileged(t)
	ifA, ifB := vethPair(t, "a"), vethPair(t, "b")
	root := privatePins(t)
	pinA, pinB := root+"/a", root+"/b"

	attach := func(pin, iface string, log *slog.Logger) *Datapath {
		t.Helper()
		d, err := Load(Options{PinPath: pin})
		if err != nil {
			t.Fatalf("load %s: %+v", pin, err)
		}
		t.Cleanup(func() { d.Close() })
		if mode, err := d.Attach(iface, ModeNative, log); err != nil || mode != ModeNative {
			t.Fatalf("attach %s to %s: mode %q err %v, want native", pin, iface, mode, err)
		}
		return d
	}
	a := attach(pinA, ifA, nil)
	attach(pinB, ifB, nil)
	for _, c := range []struct{ pin, iface string }{{pinA, ifA}, {pinB, ifB}} {
		var out bytes.Buffer
		if err := Inspect(&out, c.pin); err != nil {
			t.Fatal(err)
		}
		if want := "xdp: native on " + c.iface + "\n"; !strings.HasPrefix(out.String(), want) {
			t.Errorf("inspect %s: %q, want it to start with %q", c.pin, out.String(), want)
		}
	}

	wantInUse := func(what string, err error) {
		t.Helper()
		var inUse *PinsInUseError
		if !errors.Is(err, ErrPinsInUse) || !errors.As(err, &inUse) || inUse.PID != os.Getpid() || inUse.Path != pinA {
			t.Errorf("%s: %v, want ErrPinsInUse naming %s and pid %d", what, err, pinA, os.Getpid())
		}
		if m := attachedMode(linkIndex(t, ifA)); m != ModeNative {
			t.Errorf("%s: attach mode of %s %q, want native still", what, ifA, m)
		}
	}
	if d, err := Load(Options{PinPath: pinA}); err == nil {
		d.Close()
		t.Error("second Load of a held pin folder succeeded")
	} else {
		wantInUse("second load", err)
	}
	wantInUse("detach", Detach(pinA))

	a.Close() // as when its process ends: the kernel drops the flock
	var logs testutil.SyncBuffer
	attach(pinA, ifA, slog.New(slog.NewTextHandler(&logs, nil))).Close()
	if want := "taking over the XDP link pinned by a weir that is no longer running"; !strings.Contains(logs.String(), want) {
		t.Errorf("take-over log %q lacks %q", logs.String(), want)
	}
	if err := Detach(pinA); err != nil {
		t.Fatalf("detach of a free folder: %v", err)
	}
	if m := attachedMode(linkIndex(t, ifA)); m != "" {
		t.Errorf("after detach: attach mode of %s %q, want none", ifA, m)
	}
	if m := attachedMode(linkIndex(t, ifB)); m != ModeNative {
		t.Errorf("the other Weir's %s: attach mode %q, want native", ifB, m)
	}
}

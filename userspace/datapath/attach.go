package datapath

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"

	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
)

// Mode is how the XDP program is attached.
type Mode string

const (
	// ModeNative attaches in the driver; where the driver has no XDP, Attach
	// falls back to ModeGeneric with a warning. The default.
	ModeNative Mode = "native"
	// ModeGeneric attaches after the kernel has built the skb: any driver,
	// slower.
	ModeGeneric Mode = "generic"
	// ModeOff attaches nothing: workers run on plain SO_REUSEPORT.
	ModeOff Mode = "off"
)

// ParseMode reads a --xdp-mode value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeNative, ModeGeneric, ModeOff:
		return m, nil
	}
	return "", fmt.Errorf("xdp mode %q is not native, generic or off", s)
}

const linkPin = "xdp_link"

// Attach attaches the program to iface and returns the mode it got. With a
// PinPath, the link is pinned there; a link already pinned on the same
// interface gets the new program atomically (no moment without a program).
func (d *Datapath) Attach(iface string, mode Mode, log *slog.Logger) (Mode, error) {
	if log == nil {
		log = slog.Default()
	}
	if mode == ModeOff {
		return ModeOff, nil
	}
	nl, err := netlink.LinkByName(iface)
	if err != nil {
		return "", fmt.Errorf("attach xdp to %s: %w", iface, err)
	}
	ifindex := nl.Attrs().Index
	if d.opts.PinPath != "" {
		if old, err := link.LoadPinnedLink(d.pinned(linkPin), nil); err == nil {
			// Load holds the pin folder: the Weir that pinned this link
			// is no longer running.
			log.Info("taking over the XDP link pinned by a weir that is no longer running",
				"pins", d.opts.PinPath, "interface", iface)
			info, ierr := old.Info()
			if ierr == nil && info.XDP() != nil && int(info.XDP().Ifindex) == ifindex {
				err := old.Update(d.Program())
				old.Close()
				if err != nil {
					return "", fmt.Errorf("replace xdp program on %s: %w", iface, err)
				}
				return attachedMode(ifindex), nil
			}
			// Another interface: detach the old link before attaching anew.
			_ = old.Unpin()
			_ = old.Close()
		}
	}
	flags := link.XDPDriverMode
	if mode == ModeGeneric {
		flags = link.XDPGenericMode
	}
	l, err := link.AttachXDP(link.XDPOptions{Program: d.Program(), Interface: ifindex, Flags: flags})
	if err != nil && mode == ModeNative {
		log.Warn("native XDP is not available on this interface; attaching in generic mode (slower)",
			"interface", iface, "error", err)
		mode = ModeGeneric
		l, err = link.AttachXDP(link.XDPOptions{Program: d.Program(), Interface: ifindex, Flags: link.XDPGenericMode})
	}
	if err != nil {
		return "", fmt.Errorf("attach xdp to %s in %s mode: %w", iface, mode, err)
	}
	if d.opts.PinPath != "" {
		if err := l.Pin(d.pinned(linkPin)); err != nil {
			l.Close()
			return "", fmt.Errorf("pin xdp link: %w", err)
		}
	}
	d.link = l
	return mode, nil
}

// attachedMode reads the XDP attach mode of an interface from netlink.
func attachedMode(ifindex int) Mode {
	nl, err := netlink.LinkByIndex(ifindex)
	if err != nil || nl.Attrs().Xdp == nil {
		return ""
	}
	switch nl.Attrs().Xdp.AttachMode {
	case 1: // XDP_ATTACHED_DRV
		return ModeNative
	case 2: // XDP_ATTACHED_SKB
		return ModeGeneric
	}
	return ""
}

// Detach removes the link pinned under pinPath (which detaches the program)
// and every pin there. Nothing pinned is not an error. A pin folder that a
// running Weir holds (a Datapath not yet closed, in any process) is left
// alone: the error is ErrPinsInUse.
func Detach(pinPath string) error {
	lock, err := lockPins(pinPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("detach: %w", err)
	}
	defer lock.Close()
	if l, err := link.LoadPinnedLink(pinPath+"/"+linkPin, nil); err == nil {
		_ = l.Unpin()
		if err := l.Detach(); err != nil && !errors.Is(err, link.ErrNotSupported) {
			l.Close()
			return fmt.Errorf("detach xdp link: %w", err)
		}
		l.Close()
	}
	if err := os.RemoveAll(pinPath); err != nil {
		return fmt.Errorf("remove pins %s: %w", pinPath, err)
	}
	return nil
}

// FindInterface picks the interface to attach to: name when given, else the
// one holding nodeAddr (when valid), else the default route's.
func FindInterface(name string, nodeAddr netip.Addr) (string, error) {
	if name != "" {
		return name, nil
	}
	if nodeAddr.IsValid() {
		addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
		if err != nil {
			return "", fmt.Errorf("list addresses: %w", err)
		}
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == nodeAddr.Unmap() {
				if l, err := netlink.LinkByIndex(a.LinkIndex); err == nil {
					return l.Attrs().Name, nil
				}
			}
		}
	}
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return "", fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst == nil || r.Dst.IP.IsUnspecified() {
			if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil {
				return l.Attrs().Name, nil
			}
		}
	}
	return "", errors.New("find interface: no --interface, no interface with the node address and no default route")
}

package datapath

import (
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"text/tabwriter"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
)

// Inspect prints, from the maps and link pinned under pinPath, the attach
// mode and interface, the cores, the listeners with their source lists, and
// the per-core verdict and reason counters.
func Inspect(w io.Writer, pinPath string) error {
	open := func(name string) (*ebpf.Map, error) {
		m, err := ebpf.LoadPinnedMap(filepath.Join(pinPath, name), &ebpf.LoadPinOptions{ReadOnly: true})
		if err != nil {
			return nil, fmt.Errorf("open pinned map %s (is weir running with XDP?): %w", name, err)
		}
		return m, nil
	}
	maps := map[string]*ebpf.Map{}
	for _, n := range []string{"reasons", "chosen", "listeners", "cores", "allow_src", "deny_src"} {
		m, err := open(n)
		if err != nil {
			return err
		}
		defer m.Close()
		maps[n] = m
	}

	mode, iface := "detached", "—"
	if l, err := link.LoadPinnedLink(filepath.Join(pinPath, linkPin), nil); err == nil {
		if info, err := l.Info(); err == nil && info.XDP() != nil {
			idx := int(info.XDP().Ifindex)
			mode = string(attachedMode(idx))
			if nl, err := netlink.LinkByIndex(idx); err == nil {
				iface = nl.Attrs().Name
			}
		}
		l.Close()
	}
	fmt.Fprintf(w, "xdp: %s on %s\n", mode, iface)

	var c xdpWeirCores
	if err := maps["cores"].Lookup(uint32(0), &c); err != nil {
		return fmt.Errorf("read cores: %w", err)
	}
	fmt.Fprintf(w, "cores: %v\n", c.Cpu[:min(c.N, MaxCPUs)])

	fmt.Fprintln(w, "listeners:")
	var lk xdpWeirListenerKey
	var lv xdpWeirListener
	it := maps["listeners"].Iterate()
	for it.Next(&lk, &lv) {
		addr := netip.AddrFrom16(lk.Addr)
		if lk.Family == 2 {
			addr = addr.Unmap()
			if addr.IsUnspecified() || lk.Addr == [16]byte{} {
				addr = netip.IPv4Unspecified()
			}
		}
		port := htons(lk.Port)
		fmt.Fprintf(w, "  %s allow=%v deny=%v\n", netip.AddrPortFrom(addr, port),
			sources(maps["allow_src"], port), sources(maps["deny_src"], port))
	}

	s, err := readStats(maps["reasons"], maps["chosen"])
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	ncpu := len(s.Verdicts[0])
	fmt.Fprint(tw, "counter\t")
	for cpu := range ncpu {
		fmt.Fprintf(tw, "cpu%d\t", cpu)
	}
	fmt.Fprintln(tw, "total\t")
	row := func(name string, per []uint64) {
		fmt.Fprintf(tw, "%s\t", name)
		for _, v := range per {
			fmt.Fprintf(tw, "%d\t", v)
		}
		fmt.Fprintf(tw, "%d\t\n", sum(per))
	}
	for v, per := range s.Verdicts {
		row("verdict "+VerdictName(v), per)
	}
	for _, r := range Reasons() {
		row("reason "+ReasonName(r), s.Reasons[r])
	}
	chosen := make([]uint64, ncpu)
	copy(chosen, s.Chosen[:])
	row("redirected to cpu", chosen)
	return tw.Flush()
}

func sources(m *ebpf.Map, port uint16) []netip.Prefix {
	var out []netip.Prefix
	var k xdpWeirSrcKey
	var v uint32
	it := m.Iterate()
	for it.Next(&k, &v) {
		if htons(k.Port) != port {
			continue
		}
		addr, bitsLen := netip.AddrFrom16(k.Addr), int(k.Prefixlen)-32
		if addr.Is4In6() && bitsLen >= 96 {
			addr, bitsLen = addr.Unmap(), bitsLen-96
		}
		out = append(out, netip.PrefixFrom(addr, bitsLen))
	}
	return out
}

// Package xdp measures the XDP program's cost per packet with
// BPF_PROG_TEST_RUN and a repeat count, next to a program that only returns
// XDP_PASS (the floor: the cost of test_run itself), in the same run:
//
//	go test -run '^$' -bench . ./bench/xdp
//
// Needs root; skipped otherwise.
package xdp

import (
	"net"
	"net/netip"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/rlimit"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/weir-lb/weir/userspace/datapath"
)

const repeat = 1_000_000

var (
	listener = netip.MustParseAddrPort("198.18.0.1:80")
	guarded  = netip.MustParseAddrPort("198.18.0.1:443") // with a deny list
)

func synTo(tb testing.TB, dst netip.AddrPort, srcPort uint16) []byte {
	tb.Helper()
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{198, 19, 1, 2}, DstIP: dst.Addr().AsSlice()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(srcPort), DstPort: layers.TCPPort(dst.Port()), SYN: true, Window: 65535}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4},
		ip, tcp)
	if err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func setup(b *testing.B) (weir, floor *ebpf.Program) {
	b.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			b.Fatal("needs root (CI is set)")
		}
		b.Skip("needs root")
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		b.Fatal(err)
	}
	d, err := datapath.Load(datapath.Options{})
	if err != nil {
		b.Fatalf("%+v", err)
	}
	b.Cleanup(func() { d.Close() })
	if err := d.SetCores([]int{0, 1}); err != nil {
		b.Fatal(err)
	}
	if err := d.SetListeners([]datapath.Listener{{Addr: listener}, {Addr: guarded, Deny: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}}}); err != nil {
		b.Fatal(err)
	}
	floor, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.XDP, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { floor.Close() })
	return d.Program(), floor
}

// BenchmarkXDP reports ns/packet for each case; the floor is an XDP_PASS
// program, so the program's own cost is the difference.
func BenchmarkXDP(b *testing.B) {
	weir, floor := setup(b)
	cases := []struct {
		name string
		prog *ebpf.Program
		pkt  []byte
		want uint32
	}{
		{"floor_xdp_pass", floor, synTo(b, listener, 40000), 2},
		{"redirect_decision", weir, synTo(b, listener, 40000), 4},
		{"redirect_decision_deny_list", weir, synTo(b, guarded, 40000), 4},
		{"pass_other_port", weir, synTo(b, netip.MustParseAddrPort("198.18.0.1:22"), 40000), 2},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			var perPkt float64
			for b.Loop() {
				ret, d, err := tc.prog.Benchmark(tc.pkt, repeat, b.ResetTimer)
				if err != nil {
					b.Fatal(err)
				}
				if ret != tc.want {
					b.Fatalf("verdict %d, want %d", ret, tc.want)
				}
				perPkt = float64(d.Nanoseconds())
			}
			b.ReportMetric(perPkt, "ns/packet")
		})
	}
}

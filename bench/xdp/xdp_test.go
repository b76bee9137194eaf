// Package xdp measures the XDP program's cost per packet with
// BPF_PROG_TEST_RUN and a repeat count, next to a program that only returns
// XDP_PASS (the floor: the cost of test_run itself), in the same run:
//
//	go test -run '^$' -bench . ./bench/xdp
//
// BenchmarkXDPLive executes the verdicts (BPF_F_TEST_XDP_LIVE_FRAMES) and
// reports the packets/s that reach the stack per core.
//
// Needs root; skipped otherwise.
package xdp

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/rlimit"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

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

// liveRepeat is the number of frames per live run: bounded, ~1 s at most.
const liveRepeat = 2_000_000

// BenchmarkXDPLive runs the program with BPF_F_TEST_XDP_LIVE_FRAMES: the
// verdicts are executed, so a redirect really goes through the CPUMAP to
// the chosen core's kthread, which builds an skb and hands it to the stack
// (where this SYN to an address the node does not hold is dropped by IP
// routing). It reports the frames/s the program ran at and the packets/s
// that reached the stack (the IP InReceives counter of /proc/net/snmp over
// the run; CPUMAP queue overflows never get there). A live run repeats one
// frame, so one 4-tuple and one core: each redirect case uses a source port
// that the hash sends to its core. The XDP_PASS program is the floor: its
// frames go into the stack on the calling core.
//
//	go test -run '^$' -bench XDPLive ./bench/xdp
func BenchmarkXDPLive(b *testing.B) {
	weir, floor := setup(b)
	portFor := func(core int) uint16 {
		src := netip.MustParseAddr("198.19.1.2")
		for p := uint16(40000); ; p++ {
			if datapath.CoreFor([]int{0, 1}, src, listener.Addr(), p, listener.Port()) == core {
				return p
			}
		}
	}
	// Live frames enter the stack as if received on the loopback device:
	// addressed to its all-zero MAC, else the stack drops them as another
	// host's before IP.
	toLo := func(pkt []byte) []byte { clear(pkt[0:6]); return pkt }
	cases := []struct {
		name string
		prog *ebpf.Program
		pkt  []byte
	}{
		{"floor_xdp_pass_into_stack", floor, toLo(synTo(b, listener, 40000))},
		{"redirect_cpumap_to_core0", weir, toLo(synTo(b, listener, portFor(0)))},
		{"redirect_cpumap_to_core1", weir, toLo(synTo(b, listener, portFor(1)))},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			var rate, stack float64
			for b.Loop() {
				before := ipInReceives(b)
				start := time.Now()
				_, err := tc.prog.Run(&ebpf.RunOptions{
					Data:      tc.pkt,
					Repeat:    liveRepeat,
					BatchSize: 64,
					Flags:     unix.BPF_F_TEST_XDP_LIVE_FRAMES,
				})
				if err != nil {
					b.Fatalf("live run: %v", err)
				}
				// The CPUMAP kthread may still be draining its queue: wait
				// until InReceives stops moving (bounded).
				last, deadline := ipInReceives(b), time.Now().Add(2*time.Second)
				for time.Now().Before(deadline) {
					time.Sleep(time.Millisecond) // sampling a counter, not synchronising
					n := ipInReceives(b)
					if n == last {
						break
					}
					last = n
				}
				elapsed := time.Since(start)
				rate = liveRepeat / elapsed.Seconds()
				stack = float64(last-before) / elapsed.Seconds()
			}
			b.ReportMetric(rate, "frames/s")
			b.ReportMetric(stack, "into_stack_pkts/s")
		})
	}
}

// ipInReceives reads Ip: InReceives of /proc/net/snmp: IP packets the stack
// received, whatever became of them.
func ipInReceives(tb testing.TB) uint64 {
	tb.Helper()
	data, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		tb.Fatal(err)
	}
	var head []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Ip:" {
			continue
		}
		if head == nil {
			head = f
			continue
		}
		for i, name := range head {
			if name == "InReceives" && i < len(f) {
				n, err := strconv.ParseUint(f[i], 10, 64)
				if err != nil {
					tb.Fatal(err)
				}
				return n
			}
		}
	}
	tb.Fatal("no Ip: InReceives in /proc/net/snmp")
	return 0
}

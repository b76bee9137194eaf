package datapath

import (
	"net"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

const (
	xdpDrop     = 1
	xdpPass     = 2
	xdpRedirect = 4
)

var (
	testCores  = []int{0, 1}
	listenV4   = netip.MustParseAddrPort("198.18.0.1:80")
	listenV6   = netip.MustParseAddrPort("[2001:db8::1]:443")
	wildcardV4 = netip.MustParseAddrPort("0.0.0.0:8080")
	deniedNet  = netip.MustParsePrefix("198.19.66.0/24")
	allowedNet = netip.MustParsePrefix("198.19.10.0/24")
	allowOnly  = netip.MustParseAddrPort("198.18.0.1:9443")
)

// tcpPacket builds Ethernet [+ 802.1Q] + IPv4/IPv6 + TCP SYN.
func tcpPacket(tb testing.TB, vlan bool, src, dst netip.AddrPort) []byte {
	tb.Helper()
	eth := &layers.Ethernet{
		SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2},
	}
	var ls []gopacket.SerializableLayer
	ls = append(ls, eth)
	ipType := layers.EthernetTypeIPv4
	if src.Addr().Is6() {
		ipType = layers.EthernetTypeIPv6
	}
	if vlan {
		eth.EthernetType = layers.EthernetTypeDot1Q
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: 42, Type: ipType})
	} else {
		eth.EthernetType = ipType
	}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), SYN: true, Window: 65535}
	if src.Addr().Is4() {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		tcp.SetNetworkLayerForChecksum(ip)
		ls = append(ls, ip)
	} else {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		tcp.SetNetworkLayerForChecksum(ip)
		ls = append(ls, ip)
	}
	ls = append(ls, tcp)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		tb.Fatalf("build packet: %v", err)
	}
	return buf.Bytes()
}

func serialize(tb testing.TB, ls ...gopacket.SerializableLayer) []byte {
	tb.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		tb.Fatalf("build packet: %v", err)
	}
	return buf.Bytes()
}

var ethV4 = &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}

type fixture struct {
	name    string
	packet  func(testing.TB) []byte
	verdict uint32
	core    int // the core of a redirect; -1 for none
	reason  Reason
}

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func fixtures() []fixture {
	src4, src6 := ap("198.19.1.2:40000"), ap("[2001:db8::99]:51000")
	core := func(src, dst netip.AddrPort) int {
		return CoreFor(testCores, src.Addr(), dst.Addr(), src.Port(), dst.Port())
	}
	return []fixture{
		{"ipv4 to listener", func(tb testing.TB) []byte { return tcpPacket(tb, false, src4, listenV4) },
			xdpRedirect, core(src4, listenV4), xdpWeirReasonWEIR_REASON_REDIRECT},
		{"ipv4 other source port", func(tb testing.TB) []byte { return tcpPacket(tb, false, ap("198.19.1.2:40001"), listenV4) },
			xdpRedirect, core(ap("198.19.1.2:40001"), listenV4), xdpWeirReasonWEIR_REASON_REDIRECT},
		{"ipv6 to listener", func(tb testing.TB) []byte { return tcpPacket(tb, false, src6, listenV6) },
			xdpRedirect, core(src6, listenV6), xdpWeirReasonWEIR_REASON_REDIRECT},
		{"vlan ipv4 to listener", func(tb testing.TB) []byte { return tcpPacket(tb, true, src4, listenV4) },
			xdpRedirect, core(src4, listenV4), xdpWeirReasonWEIR_REASON_REDIRECT},
		{"vlan ipv6 to listener", func(tb testing.TB) []byte { return tcpPacket(tb, true, src6, listenV6) },
			xdpRedirect, core(src6, listenV6), xdpWeirReasonWEIR_REASON_REDIRECT},
		{"wildcard listener", func(tb testing.TB) []byte { return tcpPacket(tb, false, src4, ap("198.18.7.7:8080")) },
			xdpRedirect, core(src4, ap("198.18.7.7:8080")), xdpWeirReasonWEIR_REASON_REDIRECT},
		{"other port", func(tb testing.TB) []byte { return tcpPacket(tb, false, src4, ap("198.18.0.1:81")) },
			xdpPass, -1, xdpWeirReasonWEIR_REASON_PASS_NO_LISTENER},
		{"other address", func(tb testing.TB) []byte { return tcpPacket(tb, false, src4, ap("198.18.0.2:80")) },
			xdpPass, -1, xdpWeirReasonWEIR_REASON_PASS_NO_LISTENER},
		{"udp", func(tb testing.TB) []byte {
			ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{198, 19, 1, 2}, DstIP: net.IP{198, 18, 0, 1}}
			udp := &layers.UDP{SrcPort: 5353, DstPort: 80}
			udp.SetNetworkLayerForChecksum(ip)
			return serialize(tb, ethV4, ip, udp, gopacket.Payload("x"))
		}, xdpPass, -1, xdpWeirReasonWEIR_REASON_PASS_NOT_TCP},
		{"arp", func(tb testing.TB) []byte {
			eth := *ethV4
			eth.EthernetType = layers.EthernetTypeARP
			return serialize(tb, &eth, &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
				HwAddressSize: 6, ProtAddressSize: 4, Operation: 1, SourceHwAddress: eth.SrcMAC, SourceProtAddress: []byte{198, 19, 1, 2},
				DstHwAddress: make([]byte, 6), DstProtAddress: []byte{198, 18, 0, 1}})
		}, xdpPass, -1, xdpWeirReasonWEIR_REASON_PASS_NOT_IP},
		{"ipv4 fragment", func(tb testing.TB) []byte {
			ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, Flags: layers.IPv4MoreFragments,
				SrcIP: net.IP{198, 19, 1, 2}, DstIP: net.IP{198, 18, 0, 1}}
			return serialize(tb, ethV4, ip, gopacket.Payload(make([]byte, 24)))
		}, xdpPass, -1, xdpWeirReasonWEIR_REASON_PASS_FRAGMENT},
		{"ipv6 extension header", func(tb testing.TB) []byte {
			eth := *ethV4
			eth.EthernetType = layers.EthernetTypeIPv6
			ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolIPv6HopByHop,
				SrcIP: src6.Addr().AsSlice(), DstIP: listenV6.Addr().AsSlice()}
			return serialize(tb, &eth, ip, gopacket.Payload([]byte{6, 0, 1, 4, 0, 0, 0, 0}))
		}, xdpPass, -1, xdpWeirReasonWEIR_REASON_PASS_IPV6EXT},
		{"truncated tcp", func(tb testing.TB) []byte { return tcpPacket(tb, false, src4, listenV4)[:14+20+10] },
			xdpPass, -1, xdpWeirReasonWEIR_REASON_PASS_TRUNCATED},
		{"truncated ipv4 header", func(tb testing.TB) []byte { return tcpPacket(tb, false, src4, listenV4)[:14+12] },
			xdpPass, -1, xdpWeirReasonWEIR_REASON_PASS_TRUNCATED},
		{"truncated vlan tag", func(tb testing.TB) []byte { return tcpPacket(tb, true, src4, listenV4)[:16] },
			xdpPass, -1, xdpWeirReasonWEIR_REASON_PASS_TRUNCATED},
		{"garbage", func(tb testing.TB) []byte {
			b := make([]byte, 64)
			for i := range b {
				b[i] = byte(i*37 + 11)
			}
			return b
		}, xdpPass, -1, xdpWeirReasonWEIR_REASON_PASS_NOT_IP},
		{"denied source", func(tb testing.TB) []byte { return tcpPacket(tb, false, ap("198.19.66.9:40000"), listenV4) },
			xdpDrop, -1, xdpWeirReasonWEIR_REASON_DROP_DENIED},
		{"denied source other port", func(tb testing.TB) []byte { return tcpPacket(tb, false, ap("198.19.66.9:40000"), wildcardV4) },
			xdpRedirect, core(ap("198.19.66.9:40000"), ap("198.18.7.7:8080")), xdpWeirReasonWEIR_REASON_REDIRECT},
		{"allow list member", func(tb testing.TB) []byte { return tcpPacket(tb, false, ap("198.19.10.5:40000"), allowOnly) },
			xdpRedirect, core(ap("198.19.10.5:40000"), allowOnly), xdpWeirReasonWEIR_REASON_REDIRECT},
		{"allow list outsider", func(tb testing.TB) []byte { return tcpPacket(tb, false, src4, allowOnly) },
			xdpDrop, -1, xdpWeirReasonWEIR_REASON_DROP_NOT_ALLOWED},
	}
}

// loadTest loads the program unpinned with the test listeners and cores.
func loadTest(tb testing.TB) *Datapath {
	tb.Helper()
	requirePrivileged(tb)
	d, err := Load(Options{})
	if err != nil {
		tb.Fatalf("load: %+v", err)
	}
	tb.Cleanup(func() { d.Close() })
	if err := d.SetCores(testCores); err != nil {
		tb.Fatal(err)
	}
	err = d.SetListeners([]Listener{
		{Addr: listenV4, Deny: []netip.Prefix{deniedNet}},
		{Addr: listenV6},
		{Addr: wildcardV4},
		{Addr: allowOnly, Allow: []netip.Prefix{allowedNet}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

func TestXDPFixtures(t *testing.T) {
	d := loadTest(t)
	for _, tc := range fixtures() {
		t.Run(tc.name, func(t *testing.T) {
			pkt := tc.packet(t)
			for round := range 3 { // the same 4-tuple: the same verdict and core every time
				before, err := d.Stats()
				if err != nil {
					t.Fatal(err)
				}
				ret, err := d.Program().Run(&ebpf.RunOptions{Data: pkt})
				if err != nil {
					t.Fatalf("run: %v", err)
				}
				after, err := d.Stats()
				if err != nil {
					t.Fatal(err)
				}
				if ret != tc.verdict {
					t.Fatalf("round %d: verdict %s, want %s", round, VerdictName(int(ret)), VerdictName(int(tc.verdict)))
				}
				got := delta(before, after)
				want := counts{reasons: map[string]uint64{ReasonName(tc.reason): 1}, verdicts: map[string]uint64{VerdictName(int(tc.verdict)): 1}, chosen: map[int]uint64{}}
				if tc.core >= 0 {
					want.chosen[tc.core] = 1
				}
				if diff := cmp.Diff(want, got, cmp.AllowUnexported(counts{})); diff != "" {
					t.Fatalf("round %d: counters (-want +got):\n%s", round, diff)
				}
			}
		})
	}
}

// counts are the counters that changed between two Stats.
type counts struct {
	reasons  map[string]uint64
	verdicts map[string]uint64
	chosen   map[int]uint64
}

func delta(a, b *Stats) counts {
	c := counts{reasons: map[string]uint64{}, verdicts: map[string]uint64{}, chosen: map[int]uint64{}}
	for r, per := range b.Reasons {
		if n := sum(per) - sum(a.Reasons[r]); n != 0 {
			c.reasons[ReasonName(r)] = n
		}
	}
	for v := range b.Verdicts {
		if n := sum(b.Verdicts[v]) - sum(a.Verdicts[v]); n != 0 {
			c.verdicts[VerdictName(v)] = n
		}
	}
	for core := range b.Chosen {
		if n := b.Chosen[core] - a.Chosen[core]; n != 0 {
			c.chosen[core] = n
		}
	}
	return c
}

// TestXDPSpread checks that varied source ports spread over both cores,
// which a constant hash would not.
func TestXDPSpread(t *testing.T) {
	d := loadTest(t)
	seen := map[int]int{}
	for port := uint16(30000); port < 30064; port++ {
		src := netip.AddrPortFrom(netip.MustParseAddr("198.19.1.2"), port)
		ret, err := d.Program().Run(&ebpf.RunOptions{Data: tcpPacket(t, false, src, listenV4)})
		if err != nil || ret != xdpRedirect {
			t.Fatalf("port %d: verdict %d, err %v", port, ret, err)
		}
		seen[CoreFor(testCores, src.Addr(), listenV4.Addr(), port, listenV4.Port())]++
	}
	if seen[0] < 16 || seen[1] < 16 {
		t.Fatalf("64 connections spread %v over cores 0 and 1, want at least 16 each", seen)
	}
}

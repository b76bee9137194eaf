package datapath

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/weir-lb/weir/userspace/snapshot"
)

func TestStreamListeners(t *testing.T) {
	t.Parallel()
	v4, v6 := netip.IPv4Unspecified(), netip.IPv6Unspecified()
	ls := []Listener{
		{Addr: netip.AddrPortFrom(v4, 80)}, {Addr: netip.AddrPortFrom(v6, 80)},
		{Addr: netip.AddrPortFrom(v4, 443)}, {Addr: netip.AddrPortFrom(v6, 443)},
	}
	s := &snapshot.Snapshot{Streams: []snapshot.Stream{
		{Protocol: snapshot.ProtocolTCP, Port: 5432},
		{Protocol: snapshot.ProtocolTCP, Port: 443}, // held by the HTTPS listener
		{Protocol: snapshot.ProtocolUDP, Port: 53},  // XDP steers TCP only
	}}
	want := []Listener{{Addr: netip.AddrPortFrom(v4, 5432)}, {Addr: netip.AddrPortFrom(v6, 5432)}}
	if diff := cmp.Diff(want, StreamListeners(ls, s), cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
		t.Errorf("StreamListeners (-want +got):\n%s", diff)
	}
	if got := StreamListeners(ls, nil); got != nil {
		t.Errorf("StreamListeners of no Snapshot = %v, want nil", got)
	}
}

package datapath

import (
	"net/netip"
	"slices"

	"github.com/weir-lb/weir/userspace/snapshot"
)

// StreamListeners returns a listener, without source lists, for the port of
// each TCP Stream of s (--tcp-services-configmap) on every address of ls
// (the HTTP and HTTPS listeners'), except the ports ls holds already: the
// XDP program spreads their connections over the cores as the HTTP ports'.
// UDP Streams get none: the program steers TCP only and passes UDP
// untouched. Nil s, or no TCP Stream, returns nil.
func StreamListeners(ls []Listener, s *snapshot.Snapshot) []Listener {
	if s == nil {
		return nil
	}
	var addrs []netip.Addr
	var ports []uint16
	for _, l := range ls {
		if !slices.Contains(addrs, l.Addr.Addr()) {
			addrs = append(addrs, l.Addr.Addr())
		}
		ports = append(ports, l.Addr.Port())
	}
	var out []Listener
	for _, st := range s.Streams {
		port := uint16(st.Port)
		if st.Protocol != snapshot.ProtocolTCP || slices.Contains(ports, port) {
			continue
		}
		for _, a := range addrs {
			out = append(out, Listener{Addr: netip.AddrPortFrom(a, port)})
		}
	}
	return out
}

package proxyproto

import (
	"net/netip"
	"strconv"
)

// AppendV1 appends to buf the version 1 PROXY header announcing a
// connection from src to dst, as nginx's proxy_protocol on writes it:
// "PROXY TCP4 src dst sport dport\r\n" (TCP6 when either address is IPv6,
// IPv4-mapped addresses unmapped), or "PROXY UNKNOWN\r\n" when an address
// is invalid or the families differ.
func AppendV1(buf []byte, src, dst netip.AddrPort) []byte {
	s, d := src.Addr().Unmap(), dst.Addr().Unmap()
	if !s.IsValid() || !d.IsValid() || s.Is4() != d.Is4() {
		return append(buf, "PROXY UNKNOWN\r\n"...)
	}
	family := "TCP6 "
	if s.Is4() {
		family = "TCP4 "
	}
	buf = append(buf, "PROXY "...)
	buf = append(buf, family...)
	buf = s.WithZone("").AppendTo(buf)
	buf = append(buf, ' ')
	buf = d.WithZone("").AppendTo(buf)
	buf = append(buf, ' ')
	buf = strconv.AppendUint(buf, uint64(src.Port()), 10)
	buf = append(buf, ' ')
	buf = strconv.AppendUint(buf, uint64(dst.Port()), 10)
	return append(buf, "\r\n"...)
}

package proxy

import (
	"net/netip"
	"strconv"
	"strings"
)

// realIP is nginx's realip module with real_ip_recursive on
// (ngx_http_get_forwarded_addr, nginx 1.27, which ingress-nginx ships):
// lines are the header's lines, the last read first. Starting from peer,
// while the address is trusted, the next entry to its left (entries are
// separated by commas and spaces) becomes the address; the walk stops at
// an untrusted address, at an entry that is not an address as nginx
// parses one (ngxParseAddrPort), and at an empty line. found reports that
// an entry was taken: addr is then the client address, in the form nginx
// parsed (an IPv4-mapped IPv6 address stays one), else peer.
func realIP(peer netip.Addr, lines []string, trusted []netip.Prefix) (addr netip.Addr, found bool) {
	addr = peer
	for i := len(lines) - 1; i >= 0; i-- {
		a, took, whole := forwardedAddr(addr, lines[i], trusted)
		addr, found = a, found || took
		if !whole {
			break
		}
	}
	return addr, found
}

// forwardedAddr walks one line as ngx_http_get_forwarded_addr_internal:
// took reports that it took an entry, whole that it took the line's first
// (NGX_OK: the line before is read next). Like nginx, it never looks at
// the line's first byte as a separator: ",203.0.113.7" is one entry, not
// an address.
func forwardedAddr(addr netip.Addr, v string, trusted []netip.Prefix) (_ netip.Addr, took, whole bool) {
	n := len(v)
	for {
		if !containsAddr(trusted, addr.Unmap()) {
			return addr, took, false
		}
		if n <= 0 {
			// An empty line, or an entry that began at the line's second
			// byte: nginx parses the byte before it, never an address.
			return addr, took, false
		}
		p := n - 1
		for p > 0 && (v[p] == ' ' || v[p] == ',') {
			p--
			n--
		}
		for ; p > 0; p-- {
			if v[p] == ' ' || v[p] == ',' {
				p++
				break
			}
		}
		a, ok := ngxParseAddrPort(v[p:n])
		if !ok {
			return addr, took, false
		}
		addr, took = a, true
		if p == 0 {
			return addr, true, true
		}
		n = p - 1
	}
}

// ngxParseAddrPort parses s as nginx 1.27's ngx_parse_addr_port: an
// address (ngxParseAddr), or one with a port of 1 to 65535 in decimal,
// leading zeros allowed ("1.2.3.4:80", "[::1]:80"), or a bracketed IPv6
// address without one ("[::1]"). The port is dropped.
func ngxParseAddrPort(s string) (netip.Addr, bool) {
	if a, ok := ngxParseAddr(s); ok {
		return a, true
	}
	var host, port string
	if len(s) > 0 && s[0] == '[' {
		i := strings.IndexByte(s, ']')
		if i == len(s)-1 {
			return ngxParseAddr(s[1:i])
		}
		if i < 0 || s[i+1] != ':' {
			return netip.Addr{}, false
		}
		host, port = s[1:i], s[i+2:]
	} else {
		i := strings.IndexByte(s, ':')
		if i < 0 {
			return netip.Addr{}, false
		}
		host, port = s[:i], s[i+1:]
	}
	if p, err := strconv.ParseUint(port, 10, 32); err != nil || p < 1 || p > 65535 {
		return netip.Addr{}, false
	}
	return ngxParseAddr(host)
}

// ngxParseAddr parses s as nginx's ngx_parse_addr: an IPv4 address as
// ngx_inet_addr reads one (decimal octets, leading zeros allowed, an empty
// octet 0: "010.1..2" is 10.1.0.2; 255.255.255.255 is INADDR_NONE, no
// address), else an IPv6 address as ngx_inet6_addr reads one (no zone).
func ngxParseAddr(s string) (netip.Addr, bool) {
	if a, ok := ngxInetAddr(s); ok {
		return netip.AddrFrom4(a), true
	}
	if a, ok := ngxInet6Addr(s); ok {
		return netip.AddrFrom16(a), true
	}
	return netip.Addr{}, false
}

// ngxInetAddr is nginx's ngx_inet_addr.
func ngxInetAddr(s string) (a [4]byte, ok bool) {
	var addr uint32
	octet, dots := uint32(0), 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			octet = octet*10 + uint32(c-'0')
			if octet > 255 {
				return a, false
			}
		case c == '.':
			addr, octet = addr<<8+octet, 0
			dots++
		default:
			return a, false
		}
	}
	if dots != 3 {
		return a, false
	}
	addr = addr<<8 + octet
	if addr == 0xffffffff { // INADDR_NONE
		return a, false
	}
	return [4]byte{byte(addr >> 24), byte(addr >> 16), byte(addr >> 8), byte(addr)}, true
}

// ngxInet6Addr is nginx's ngx_inet6_addr: groups of at most four hex
// digits, one "::", an IPv4 address as the last two groups, and (as
// nginx) one leading ':' skipped before the groups.
func ngxInet6Addr(s string) (a [16]byte, ok bool) {
	if s == "" {
		return a, false
	}
	zero, digit := -1, -1 // a's index of "::"; s's index of the group being read
	o, nibbles, word, n := 0, 0, uint32(0), 8
	i := 0
	if s[0] == ':' {
		i++
	}
	for i < len(s) {
		c := s[i]
		i++
		if c == ':' {
			if nibbles > 0 {
				digit = i
				a[o], a[o+1] = byte(word>>8), byte(word)
				o += 2
				if n--; n > 0 {
					nibbles, word = 0, 0
					continue
				}
			} else if zero < 0 {
				digit, zero = i, o
				continue
			}
			return a, false
		}
		if c == '.' && nibbles > 0 {
			if n < 2 || digit < 0 {
				return a, false
			}
			v4, ok := ngxInetAddr(s[digit:])
			if !ok {
				return a, false
			}
			a[o], a[o+1] = v4[0], v4[1]
			o += 2
			n--
			word = uint32(v4[2])<<8 | uint32(v4[3])
			break
		}
		if nibbles++; nibbles > 4 {
			return a, false
		}
		switch c |= 0x20; {
		case c >= '0' && c <= '9':
			word = word*16 + uint32(c-'0')
		case c >= 'a' && c <= 'f':
			word = word*16 + uint32(c-'a') + 10
		default:
			return a, false
		}
	}
	if nibbles == 0 && zero < 0 {
		return a, false
	}
	a[o], a[o+1] = byte(word>>8), byte(word)
	o += 2
	if n--; n > 0 {
		if zero < 0 {
			return a, false
		}
		copy(a[zero+2*n:o+2*n], a[zero:o])
		clear(a[zero : zero+2*n])
		return a, true
	}
	return a, zero < 0
}

// ngxAddrText is nginx's $remote_addr text of a: ngx_sock_ntop, whose
// IPv6 form (ngx_inet6_ntop) writes an IPv4-mapped or -compatible address
// with its IPv4 part dotted ("::ffff:192.0.2.1", "::192.0.2.1").
func ngxAddrText(a netip.Addr) string {
	if !a.Is6() {
		return a.String()
	}
	p := a.As16()
	zero, last, longest, run := -1, -1, 1, 0
	for i := 0; i < 16; i += 2 {
		if p[i] != 0 || p[i+1] != 0 {
			if longest < run {
				zero, longest = last, run
			}
			run = 0
			continue
		}
		if run == 0 {
			last = i
		}
		run++
	}
	if longest < run {
		zero, longest = last, run
	}
	end := 16
	b := make([]byte, 0, 46)
	if zero == 0 {
		if longest == 5 && p[10] == 0xff && p[11] == 0xff || longest == 6 || longest == 7 && p[14] != 0 && p[15] != 1 {
			end = 12
		}
		b = append(b, ':')
	}
	for i := 0; i < end; i += 2 {
		if i == zero {
			b = append(b, ':')
			i += (longest - 1) * 2
			continue
		}
		b = strconv.AppendUint(b, uint64(p[i])<<8|uint64(p[i+1]), 16)
		if i < 14 {
			b = append(b, ':')
		}
	}
	if end == 12 {
		b = netip.AddrFrom4([4]byte(p[12:])).AppendTo(b)
	}
	return string(b)
}

package proxy

import (
	"net/netip"
	"testing"
)

// TestRealIP holds realIP to nginx's realip module (real_ip_header
// X-Forwarded-For, real_ip_recursive on, set_real_ip_from 127.0.0.1 and
// 10.0.0.0/8), each case read off nginx 1.22.1 on 127.0.0.1 ($remote_addr
// in its access log), which walks the header as 1.27 does; "[v6]" without
// a port is 1.27's (ngx_parse_addr_port), which 1.22 refuses.
func TestRealIP(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}
	peer := netip.MustParseAddr("127.0.0.1")
	tests := []struct {
		name  string
		lines []string
		want  string // ngxAddrText of the address; "" when none was taken
	}{
		{"one", []string{"203.0.113.7"}, "203.0.113.7"},
		{"rightmost untrusted", []string{"203.0.113.7, 198.51.100.1, 10.0.0.5"}, "198.51.100.1"},
		{"all trusted: leftmost", []string{"10.0.0.1, 127.0.0.1"}, "10.0.0.1"},
		{"spaces separate too", []string{"203.0.113.7 10.0.0.1"}, "203.0.113.7"},
		{"two lines: the last first", []string{"203.0.113.7", "10.0.0.1"}, "203.0.113.7"},
		{"two lines, the last untrusted", []string{"203.0.113.7", "198.51.100.1"}, "198.51.100.1"},
		{"an empty last line stops the walk", []string{"203.0.113.7", ""}, ""},
		{"garbage as the last line", []string{"203.0.113.7", "garbage"}, ""},
		{"garbage stops the walk at the trusted address taken", []string{"198.51.100.1, garbage, 10.0.0.9"}, "10.0.0.9"},
		{"leading comma: one entry, not an address", []string{",203.0.113.7"}, ""},
		{"leading comma and space", []string{", 203.0.113.7"}, "203.0.113.7"},
		{"trailing comma", []string{"203.0.113.7,"}, "203.0.113.7"},
		{"double comma", []string{"198.51.100.1,,203.0.113.7"}, "203.0.113.7"},
		{"comma only", []string{","}, ""},
		{"a port", []string{"203.0.113.7:4711"}, "203.0.113.7"},
		{"port 0 is no port", []string{"203.0.113.7:0"}, ""},
		{"port 70000 is no port", []string{"203.0.113.7:70000"}, ""},
		{"port with a leading zero", []string{"203.0.113.7:080"}, "203.0.113.7"},
		{"IPv6", []string{"2001:db8::1"}, "2001:db8::1"},
		{"IPv6 with a port", []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{"IPv6 bracketed (nginx 1.27)", []string{"[2001:db8::1]"}, "2001:db8::1"},
		{"IPv6 with a zone", []string{"fe80::1%eth0"}, ""},
		{"IPv6 upper case, zeros written", []string{"2001:0DB8:0000:0000:0000:0000:0000:0001"}, "2001:db8::1"},
		{"IPv6 one zero group is not shortened", []string{"1:0:3:4:5:6:7:8"}, "1:0:3:4:5:6:7:8"},
		{"IPv6 one leading colon skipped", []string{":1:2:3:4:5:6:7:8"}, "1:2:3:4:5:6:7:8"},
		{"IPv6 leading colon, seven groups", []string{":1:2:3:4:5:6:7"}, ""},
		{"IPv4-mapped stays IPv6", []string{"::ffff:203.0.113.7"}, "::ffff:203.0.113.7"},
		{"IPv4-compatible is written dotted", []string{"::203.0.113.7"}, "::203.0.113.7"},
		{"leading zeros in octets", []string{"010.000.000.001"}, "10.0.0.1"},
		{"an empty octet is 0", []string{"10..0.1"}, "10.0.0.1"},
		{"a trailing dot is a last octet 0", []string{"10.0.0."}, "10.0.0.0"},
		{"255.255.255.255 is INADDR_NONE", []string{"255.255.255.255"}, ""},
		{"three octets", []string{"10.0.1"}, ""},
		{"a tab is no separator", []string{"203.0.113.7\t10.0.0.1"}, ""},
		{"unknown", []string{"unknown"}, ""},
		{"no header", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, found := realIP(peer, tc.lines, trusted)
			gotText := ""
			if found {
				gotText = ngxAddrText(got)
			} else if got != peer {
				t.Errorf("nothing found, but the address is %v, not the peer", got)
			}
			if gotText != tc.want {
				t.Errorf("realIP(%q) = %q, want %q", tc.lines, gotText, tc.want)
			}
		})
	}
}

// TestRealIPUntrustedPeer: nothing is read from an untrusted peer.
func TestRealIPUntrustedPeer(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	peer := netip.MustParseAddr("127.0.0.2")
	if got, found := realIP(peer, []string{"203.0.113.7"}, trusted); found || got != peer {
		t.Errorf("realIP = %v, %v; want the peer, not found", got, found)
	}
}

// FuzzNgxParseAddrPort: what ngxParseAddrPort takes, netip takes too once
// nginx's liberties are undone, and ngxAddrText writes an address netip
// reads back as the same.
func FuzzNgxParseAddrPort(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "1.2.3.4:80", "[::1]:80", "[::1]", "::ffff:1.2.3.4", "::1.2.3.4",
		"010.1..2", ":1:2:3:4:5:6:7:8", "1::", "::", "fe80::1%1", "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, ok := ngxParseAddrPort(s)
		if !ok {
			return
		}
		text := ngxAddrText(a)
		back, err := netip.ParseAddr(text)
		if err != nil || back != a {
			t.Fatalf("ngxAddrText(%v) = %q, which reads back as %v, %v", a, text, back, err)
		}
	})
}

package proxyproto

import (
	"bufio"
	"bytes"
	"net/netip"
	"testing"
)

func TestAppendV1(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		src, dst string
		want     string
	}{
		{"ipv4", "192.168.0.1:56324", "192.168.0.11:8080", "PROXY TCP4 192.168.0.1 192.168.0.11 56324 8080\r\n"},
		{"ipv6", "[2001:db8::1]:1", "[2001:db8::2]:2", "PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n"},
		{"mapped", "[::ffff:10.0.0.1]:5", "10.0.0.2:6", "PROXY TCP4 10.0.0.1 10.0.0.2 5 6\r\n"},
		{"mixed", "10.0.0.1:5", "[2001:db8::2]:6", "PROXY UNKNOWN\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := string(AppendV1(nil, netip.MustParseAddrPort(tc.src), netip.MustParseAddrPort(tc.dst)))
			if got != tc.want {
				t.Fatalf("AppendV1 = %q, want %q", got, tc.want)
			}
			// What Weir writes, Weir reads back.
			h, err := readHeader(bufio.NewReader(bytes.NewReader([]byte(got))))
			if err != nil {
				t.Fatalf("read back %q: %v", got, err)
			}
			if tc.name != "mixed" && (h.src.Port() != netip.MustParseAddrPort(tc.src).Port() || !h.src.IsValid()) {
				t.Errorf("read back %q: src %v", got, h.src)
			}
		})
	}
}

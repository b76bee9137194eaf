package h1server

import (
	"net"
	"testing"
)

// TestAddrString: addrString writes every address as net's String does.
func TestAddrString(t *testing.T) {
	for _, a := range []net.Addr{
		&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1).To4(), Port: 80},
		&net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 65535}, // 16 bytes, IPv4-mapped
		&net.TCPAddr{IP: net.ParseIP("::1"), Port: 8080},
		&net.TCPAddr{IP: net.ParseIP("2001:db8::1:0:0:1"), Port: 443},
		&net.TCPAddr{IP: net.ParseIP("::ffff:0:1.2.3.4"), Port: 1},
		&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 1, Zone: "eth0"},
		&net.TCPAddr{Port: 9},
		&net.TCPAddr{IP: net.IP{1, 2, 3}, Port: 9},
		&net.UnixAddr{Name: "/run/x.sock", Net: "unix"},
	} {
		if got, want := addrString(a), a.String(); got != want {
			t.Errorf("addrString(%#v) = %q, want %q", a, got, want)
		}
	}
	var a net.Addr = &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 54321}
	if n := testing.AllocsPerRun(100, func() { _ = addrString(a) }); n > 1 {
		t.Errorf("addrString of a TCP address: %v allocations, want 1", n)
	}
}

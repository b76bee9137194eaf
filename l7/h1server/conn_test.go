package h1server

import (
	"net"
	"testing"
	"unsafe"
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

// TestConnSizeClass: a conn, with the 8-byte header the heap puts before
// an object of more than 512 bytes that holds pointers, fits the 576-byte
// size class; a field that pushes it past costs every new connection 64
// bytes (the next class is 640): find it a hole among the one-byte fields
// (conn's doc comment).
func TestConnSizeClass(t *testing.T) {
	const heapHeader, class = 8, 576
	if size := unsafe.Sizeof(conn{}); size+heapHeader > class {
		t.Errorf("conn is %d bytes, %d with its heap header: past the %d-byte size class", size, size+heapHeader, class)
	}
}

package datapath

import (
	"net/netip"
	"os"

	"fmt"

	"golang.org/x/sys/unix"

	"github.com/weir-lb/weir/l7/tcplisten"
)

// Reuseport is one copy of the SK_REUSEPORT program with its socket array,
// for one listening port (reuseport group): a new connection goes to the
// socket registered for the core its SYN is processed on; a core with no
// socket falls back to the kernel's choice.
type Reuseport struct {
	objs reuseportObjects
}

// LoadReuseport loads a copy of the SK_REUSEPORT program and its sockarray.
func LoadReuseport() (*Reuseport, error) {
	var r Reuseport
	if err := loadReuseportObjects(&r.objs, nil); err != nil {
		return nil, fmt.Errorf("load sk_reuseport program: %w", verifierDetail(err))
	}
	return &r, nil
}

// Register puts the listening socket fd in the slot of core cpu.
func (r *Reuseport) Register(cpu int, fd uintptr) error {
	if err := r.objs.Sockets.Put(uint32(cpu), uint64(fd)); err != nil {
		return fmt.Errorf("register socket of core %d: %w", cpu, err)
	}
	return nil
}

// Unregister empties the slot of core cpu: its connections fall back to the
// kernel's choice.
func (r *Reuseport) Unregister(cpu int) error {
	if err := r.objs.Sockets.Delete(uint32(cpu)); err != nil {
		return fmt.Errorf("unregister socket of core %d: %w", cpu, err)
	}
	return nil
}

// AttachTo attaches the program to the reuseport group of the listening
// socket fd (SO_ATTACH_REUSEPORT_EBPF); one socket of the group suffices.
func (r *Reuseport) AttachTo(fd uintptr) error {
	if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_EBPF, r.objs.WeirSelect.FD()); err != nil {
		return fmt.Errorf("attach sk_reuseport program: %w", err)
	}
	return nil
}

// Selected counts connections handed to a registered socket and those that
// fell back to the kernel's choice.
func (r *Reuseport) Selected() (selected, fellBack uint64, err error) {
	var per []uint64
	if err := r.objs.SelectStats.Lookup(uint32(0), &per); err != nil {
		return 0, 0, fmt.Errorf("read selected: %w", err)
	}
	selected = sum(per)
	if err := r.objs.SelectStats.Lookup(uint32(1), &per); err != nil {
		return 0, 0, fmt.Errorf("read fell back: %w", err)
	}
	return selected, sum(per), nil
}

// Close releases the program and map; attached groups keep the program.
func (r *Reuseport) Close() error { return r.objs.Close() }

// ParseBindAddress parses the address listeners bind; empty means all
// addresses (dual-stack ::).
func ParseBindAddress(host string) (netip.Addr, error) {
	if host == "" {
		return netip.IPv6Unspecified(), nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("parse bind address %q: %w", host, err)
	}
	return a, nil
}

// ListenReuseport opens a listening TCP socket on addr with SO_REUSEPORT and
// TCP_DEFER_ACCEPT (1 s), for the HTTP and HTTPS ports, as a file that can be registered, inherited by a worker (cmd.ExtraFiles) and
// turned into a net.Listener with net.FileListener.
func ListenReuseport(addr netip.AddrPort, backlog int) (*os.File, error) {
	family := unix.AF_INET6
	var sa unix.Sockaddr = &unix.SockaddrInet6{Port: int(addr.Port()), Addr: addr.Addr().As16()}
	if addr.Addr().Unmap().Is4() {
		family = unix.AF_INET
		sa = &unix.SockaddrInet4{Port: int(addr.Port()), Addr: addr.Addr().Unmap().As4()}
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: socket: %w", addr, err)
	}
	for _, opt := range []int{unix.SO_REUSEADDR, unix.SO_REUSEPORT} {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt, 1); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("listen on %s: setsockopt: %w", addr, err)
		}
	}
	// Set before listen, so that every connection the socket queues
	// inherits it, even one queued before a worker takes the socket.
	if err := tcplisten.SetKeepAlive(fd); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("listen on %s: set keep-alive: %w", addr, err)
	}
	// A connection is queued for accept once its first bytes arrive (a
	// request, a ClientHello, a PROXY header: HTTP and HTTPS clients
	// speak first), so the worker's first read finds them instead of
	// failing with EAGAIN and waiting in the poller: on a new connection
	// per request, 13.3 -> 11.2 system calls and 0.54 -> 0.16 context
	// switches per request. A client that sends nothing is queued when
	// the deferral ends (1 s: one SYN-ACK retransmission), and the
	// server's timeouts apply from then.
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, 1); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("listen on %s: set defer-accept: %w", addr, err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("listen on %s: bind: %w", addr, err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return os.NewFile(uintptr(fd), "tcp:"+addr.String()), nil
}

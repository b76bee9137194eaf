package supervisor

import (
	"errors"
	"fmt"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"

	"github.com/weir-lb/weir/userspace/datapath"
	"github.com/weir-lb/weir/userspace/upgrade"
)

// portSockets are the listening sockets of one port, one per worker, all in
// one SO_REUSEPORT group. The supervisor keeps them open for its lifetime:
// a worker that dies leaves its accept queue intact for the next.
type portSockets struct {
	addr  netip.AddrPort
	files []*os.File
	steer *datapath.Reuseport // nil: the kernel's own choice
}

// listenPort opens n sockets on host:port. Port 0 picks a free port for the
// first and binds the others to the same.
func listenPort(host string, port, n, backlog int) (*portSockets, error) {
	addr, err := datapath.ParseBindAddress(host)
	if err != nil {
		return nil, err
	}
	ps := &portSockets{addr: netip.AddrPortFrom(addr, uint16(port))}
	for range n {
		f, err := datapath.ListenReuseport(ps.addr, backlog)
		if err != nil {
			ps.Close()
			return nil, err
		}
		ps.files = append(ps.files, f)
		if ps.addr.Port() == 0 {
			sa, err := unix.Getsockname(int(f.Fd()))
			if err != nil {
				ps.Close()
				return nil, fmt.Errorf("read port of %s: %w", ps.addr, err)
			}
			switch sa := sa.(type) {
			case *unix.SockaddrInet4:
				ps.addr = netip.AddrPortFrom(addr, uint16(sa.Port))
			case *unix.SockaddrInet6:
				ps.addr = netip.AddrPortFrom(addr, uint16(sa.Port))
			}
		}
	}
	return ps, nil
}

// Close closes the sockets and the steering program.
func (ps *portSockets) Close() error {
	var errs []error
	for _, f := range ps.files {
		errs = append(errs, f.Close())
	}
	ps.files = nil
	if ps.steer != nil {
		errs = append(errs, ps.steer.Close())
		ps.steer = nil
	}
	return errors.Join(errs...)
}

// SteerByCore loads the SK_REUSEPORT program for each port, registers each
// worker's socket at the index of its core and attaches the program to the
// group: a connection whose SYN the XDP program sent to core k is accepted
// by the worker of core k. Call it after New and before Run, only with the
// XDP data path attached: without it, the kernel's choice spreads
// connections as well and the program is not loaded.
func (s *Supervisor) SteerByCore() error {
	for _, ps := range []*portSockets{s.http, s.https} {
		r, err := datapath.LoadReuseport()
		if err != nil {
			return err
		}
		for i, f := range ps.files {
			err := upgrade.Control(f, func(fd int) error { return r.Register(s.cfg.Cores[i], uintptr(fd)) })
			if err != nil {
				r.Close()
				return err
			}
		}
		if err := upgrade.Control(ps.files[0], func(fd int) error { return r.AttachTo(uintptr(fd)) }); err != nil {
			r.Close()
			return fmt.Errorf("steer %s: %w", ps.addr, err)
		}
		ps.steer = r
	}
	return nil
}

// Steering returns, for each port, the SK_REUSEPORT program's counts of
// connections handed to a registered worker socket and of those that fell
// back to the kernel's choice. Zero without SteerByCore.
func (s *Supervisor) Steering() (selected, fellBack uint64, err error) {
	for _, ps := range []*portSockets{s.http, s.https} {
		if ps.steer == nil {
			continue
		}
		sel, fb, err := ps.steer.Selected()
		if err != nil {
			return 0, 0, err
		}
		selected += sel
		fellBack += fb
	}
	return selected, fellBack, nil
}

// adoptPort takes over files, the listening sockets of one port (one per
// worker) that a running Weir handed over.
func adoptPort(files []*os.File) (*portSockets, error) {
	ps := &portSockets{files: files}
	var sa unix.Sockaddr
	err := upgrade.Control(files[0], func(fd int) (err error) {
		sa, err = unix.Getsockname(fd)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read address of handed-over socket %s: %w", files[0].Name(), err)
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		ps.addr = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		ps.addr = netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port))
	default:
		return nil, fmt.Errorf("handed-over socket %s is not a TCP socket", files[0].Name())
	}
	return ps, nil
}

// ReleaseSteering takes the listening sockets out of the SK_REUSEPORT
// program's map (a socket can be in one such map only), so that the Weir
// these sockets were handed to can register them in its own: until its
// program replaces this one, connections fall back to the kernel's choice
// among the same sockets. Nothing without SteerByCore.
func (s *Supervisor) ReleaseSteering() error {
	var errs []error
	for _, ps := range []*portSockets{s.http, s.https} {
		if ps.steer == nil {
			continue
		}
		for _, cpu := range s.cfg.Cores {
			if err := ps.steer.Unregister(cpu); err != nil {
				errs = append(errs, fmt.Errorf("release steering of %s: %w", ps.addr, err))
			}
		}
	}
	return errors.Join(errs...)
}

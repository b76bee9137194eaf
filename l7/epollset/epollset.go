// Package epollset makes epoll sets of Weir's own that the Go runtime's
// poller watches. A set's descriptor is readable when one of its members
// is ready, so a goroutine waits for the whole set in the runtime's poller
// (Set.Raw.Read) instead of one goroutine per member: l7/h1server parks
// idle keep-alive connections in one, l7/proxy's WebSocket relay loop
// drives its tunnels from one.
package epollset

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Set is a non-blocking epoll descriptor in the runtime's poller.
type Set struct {
	// FD is the epoll descriptor, for epoll_ctl and epoll_wait.
	FD int
	// File owns FD: its Close closes the set and takes it out of the
	// runtime's poller. Its read deadline bounds a wait in Raw.Read.
	File *os.File
	// Raw waits for the set: Raw.Read's function is called again once
	// a member is ready.
	Raw syscall.RawConn
}

// New makes a Set. what names it in errors (as "the idle connections'")
// and in the File's name.
func New(what, name string) (*Set, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("create %s epoll set: %w", what, err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("make %s epoll set non-blocking: %w", what, err)
	}
	f := os.NewFile(uintptr(fd), name)
	raw, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("poll %s epoll set: %w", what, err)
	}
	return &Set{FD: fd, File: f, Raw: raw}, nil
}

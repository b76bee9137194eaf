package worker

import (
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// checkAffinity reports an error unless the process may run on core cpu
// only.
func checkAffinity(cpu int) error {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return fmt.Errorf("read affinity: %w", err)
	}
	if set.Count() != 1 || !set.IsSet(cpu) {
		return fmt.Errorf("check affinity: want core %d only, have %d cores", cpu, set.Count())
	}
	return nil
}

// DropPrivileges clears every capability (effective, permitted, inheritable)
// of every thread and sets no_new_privs: a worker needs none once it holds
// its sockets. It works where the binary has no cgo (the release build,
// CGO_ENABLED=0): with cgo, Go cannot change all threads at once and the
// error says so; the worker then runs with the supervisor's privileges.
func DropPrivileges() error {
	if _, _, errno := syscall.AllThreadsSyscall(syscall.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); errno != 0 {
		return fmt.Errorf("set no_new_privs: %w", errno)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData // all zero: no capability
	if _, _, errno := syscall.AllThreadsSyscall(syscall.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); errno != 0 {
		return fmt.Errorf("drop capabilities: %w", errno)
	}
	return nil
}

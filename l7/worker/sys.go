package worker

import (
	"fmt"
	"os"
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

// SwitchUser makes every thread of the process run as the numeric uid and
// gid, with no supplementary groups: a worker needs no privilege once it
// holds its sockets, its control socket and its standard output. Leaving uid
// 0 clears the permitted, effective and ambient capabilities (the kernel
// does it, whatever the build: Go applies setresuid to every thread, through
// libc with cgo). uid 0 and gid 0 change nothing. The credential change
// clears the parent-death signal; SwitchUser sets SIGKILL again, so a worker
// does not outlive a supervisor killed with SIGKILL.
func SwitchUser(uid, gid int) error {
	if uid == 0 && gid == 0 {
		return nil
	}
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("switch to %d:%d: drop supplementary groups: %w", uid, gid, err)
	}
	if err := syscall.Setresgid(gid, gid, gid); err != nil {
		return fmt.Errorf("switch to %d:%d: set gid: %w", uid, gid, err)
	}
	if err := syscall.Setresuid(uid, uid, uid); err != nil {
		return fmt.Errorf("switch to %d:%d: set uid: %w", uid, gid, err)
	}
	ppid := os.Getppid()
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("switch to %d:%d: set the parent-death signal: %w", uid, gid, err)
	}
	if ppid == 1 {
		return fmt.Errorf("switch to %d:%d: the supervisor is gone", uid, gid)
	}
	return nil
}

// DropPrivileges clears every capability (effective, permitted, inheritable)
// of every thread and sets no_new_privs: a worker needs none once it holds
// its sockets. It works where the binary has no cgo (the release build,
// CGO_ENABLED=0): with cgo, Go cannot change all threads at once and the
// error says so; the worker then keeps what SwitchUser left (no effective or
// permitted capability once it left uid 0).
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

package datapath

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrPinsInUse is the reason Load and Detach refuse a pin folder that a
// running Weir holds.
var ErrPinsInUse = errors.New("pin folder in use")

// PinsInUseError says which process holds a pin folder.
type PinsInUseError struct {
	// Path is the pin folder.
	Path string
	// PID is the process holding it; 0 when /proc/locks does not say.
	PID int
}

// Error names the folder, the holder and the way out.
func (e *PinsInUseError) Error() string {
	holder := "another running weir"
	if e.PID > 0 {
		holder = fmt.Sprintf("a running weir (pid %d)", e.PID)
	}
	return fmt.Sprintf("%s: %v: %s holds its XDP link and maps; stop it first, or give this one its own pin folder (--bpf-pin-path)",
		e.Path, ErrPinsInUse, holder)
}

// Is makes errors.Is(err, ErrPinsInUse) hold.
func (e *PinsInUseError) Is(target error) bool { return target == ErrPinsInUse }

// lockPins takes the pin folder dir for this process: an exclusive flock on
// the folder itself, which the kernel releases when the process ends (a
// Weir that died leaves no stale owner behind). The lock is held until the
// returned file is closed; it is opened close-on-exec, so worker processes
// do not inherit it. A folder held by another process is a
// *PinsInUseError.
func lockPins(dir string) (*os.File, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("open pin folder: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &PinsInUseError{Path: dir, PID: lockHolder(f)}
		}
		return nil, fmt.Errorf("lock pin folder %s: %w", dir, err)
	}
	return f, nil
}

// lockHolder returns the process that holds a flock on f, from /proc/locks,
// or 0 when it cannot tell.
func lockHolder(f *os.File) int {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return 0
	}
	want := fmt.Sprintf("%02x:%02x:%d", unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino)
	locks, err := os.Open("/proc/locks")
	if err != nil {
		return 0
	}
	defer locks.Close()
	// "1: FLOCK  ADVISORY  WRITE 4242 00:2d:1234 0 EOF"; a waiter has "->"
	// after the number.
	sc := bufio.NewScanner(locks)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 6 && fields[1] == "->" {
			continue
		}
		if len(fields) >= 6 && fields[1] == "FLOCK" && fields[5] == want {
			pid, _ := strconv.Atoi(fields[4])
			return pid
		}
	}
	return 0
}

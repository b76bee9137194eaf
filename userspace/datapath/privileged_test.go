package datapath

import (
	"os"
	"testing"

	"github.com/cilium/ebpf/rlimit"
)

// requirePrivileged skips a test that needs root and BPF, or fails it when CI
// is set: CI runs as root and must run every test.
func requirePrivileged(t testing.TB) {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "needs root"
	} else if err := rlimit.RemoveMemlock(); err != nil {
		why = "needs BPF: " + err.Error()
	} else if _, err := os.Stat("/sys/fs/bpf"); err != nil {
		why = "needs bpffs at /sys/fs/bpf"
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI is set: privileged tests must run)", why)
	}
	t.Skip(why)
}

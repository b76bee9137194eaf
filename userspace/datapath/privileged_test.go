package datapath

import (
	"testing"

	"github.com/weir-lb/weir/test/testutil"
)

// requirePrivileged skips a test that needs root, BPF and bpffs, or fails it
// when CI is set.
func requirePrivileged(t testing.TB) {
	t.Helper()
	testutil.RequirePrivileged(t, "/sys/fs/bpf")
}

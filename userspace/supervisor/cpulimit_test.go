package supervisor

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCPULimit follows ingress-nginx's e2e test/e2e/cgroups/cgroups.go
// (quota 4 over period 2 is 2 cores, v1 and v2) and its
// pkg/util/runtime tests.
func TestCPULimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		want  int
	}{
		{name: "v1", files: map[string]string{"cpu.cfs_quota_us": "4", "cpu.cfs_period_us": "2"}, want: 2},
		{name: "v1 rounded up", files: map[string]string{"cpu/cpu.cfs_quota_us": "150000\n", "cpu/cpu.cfs_period_us": "100000\n"}, want: 2},
		{name: "v1 cpu,cpuacct", files: map[string]string{"cpu,cpuacct/cpu.cfs_quota_us": "300000", "cpu,cpuacct/cpu.cfs_period_us": "100000"}, want: 3},
		{name: "v1 no limit", files: map[string]string{"cpu.cfs_quota_us": "-1", "cpu.cfs_period_us": "100000"}, want: 0},
		{name: "v1 no files", files: map[string]string{}, want: 0},
		{name: "v2", files: map[string]string{"cgroup.controllers": "", "cpu.max": "4 2"}, want: 2},
		{name: "v2 default period", files: map[string]string{"cgroup.controllers": "", "cpu.max": "250000\n"}, want: 3},
		{name: "v2 max", files: map[string]string{"cgroup.controllers": "", "cpu.max": "max 100000\n"}, want: 0},
		{name: "v2 without cpu.max", files: map[string]string{"cgroup.controllers": ""}, want: 0},
		{name: "v2 garbage", files: map[string]string{"cgroup.controllers": "", "cpu.max": "x 1"}, want: 0},
		// cgroup.controllers decides the version: v1 files beside it are not read.
		{name: "v2 ignores v1 files", files: map[string]string{"cgroup.controllers": "", "cpu.cfs_quota_us": "4", "cpu.cfs_period_us": "2"}, want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := t.TempDir()
			for name, body := range tc.files {
				p := filepath.Join(root, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := CPULimit(root); got != tc.want {
				t.Errorf("CPULimit = %d, want %d", got, tc.want)
			}
		})
	}
}

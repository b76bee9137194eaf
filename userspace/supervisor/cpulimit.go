package supervisor

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// CgroupRoot is where the cgroup file system is mounted.
const CgroupRoot = "/sys/fs/cgroup"

// CPULimit returns how many cores the CPU bandwidth limit of the cgroup
// file system at root allows, its quota over its period rounded up, as
// ingress-nginx's worker-processes default counts them
// (pkg/util/runtime.NumCPU): cgroup v2 (root holds cgroup.controllers)
// reads cpu.max ("max" is no limit; a missing period is 100000), cgroup v1
// cpu.cfs_quota_us and cpu.cfs_period_us in root, root/cpu or
// root/cpu,cpuacct. 0 means no limit, or none could be read.
func CPULimit(root string) int {
	var quota, period int64
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err == nil {
		b, err := os.ReadFile(filepath.Join(root, "cpu.max"))
		if err != nil {
			return 0
		}
		f := strings.Fields(string(b))
		if len(f) == 0 || f[0] == "max" {
			return 0
		}
		period = 100000
		quota, err = strconv.ParseInt(f[0], 10, 64)
		if err == nil && len(f) > 1 {
			period, err = strconv.ParseInt(f[1], 10, 64)
		}
		if err != nil {
			return 0
		}
	} else {
		read := func(dir, name string) (int64, bool) {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				return 0, false
			}
			v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
			return v, err == nil
		}
		found := false
		for _, dir := range []string{root, filepath.Join(root, "cpu"), filepath.Join(root, "cpu,cpuacct")} {
			q, okQ := read(dir, "cpu.cfs_quota_us")
			p, okP := read(dir, "cpu.cfs_period_us")
			if okQ && okP {
				quota, period, found = q, p, true
				break
			}
		}
		if !found {
			return 0
		}
	}
	if quota <= 0 || period <= 0 {
		return 0
	}
	return int(math.Ceil(float64(quota) / float64(period)))
}

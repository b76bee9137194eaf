package testutil

import "runtime"

// InUse returns the bytes of heap and goroutine stacks in use after
// garbage collection, and of those the stacks': the memory benchmarks
// (idle connections, idle tunnels) take it before and after opening what
// they measure.
func InUse() (total, stack int64) {
	for range 4 { // stacks shrink by half at most per cycle
		runtime.GC()
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse), int64(m.StackInuse)
}

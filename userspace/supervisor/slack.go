package supervisor

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// SetProcessTimerSlack gives every thread of this process the timer slack
// d, as a worker process has WorkerTimerSlack from its first instruction:
// for the in-process proxy (--workers 0), whose runtime started its threads,
// sysmon's among them, before it could set it. Each thread's
// /proc/TID/timerslack_ns is written, for each TID of /proc/self/task
// (prctl only sets the caller's); a thread made later inherits the slack
// of the thread that makes it, so the threads are walked again until a
// pass finds none without it. Writing another thread's slack needs
// CAP_SYS_NICE: without it, the error says so and the threads keep
// Linux's 50 µs.
func SetProcessTimerSlack(d time.Duration) error {
	want := strconv.FormatInt(d.Nanoseconds(), 10)
	for range 5 {
		tids, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return fmt.Errorf("list this process's threads: %w", err)
		}
		changed, ok := 0, 0
		for _, t := range tids {
			p := "/proc/" + t.Name() + "/timerslack_ns"
			b, err := os.ReadFile(p)
			if errors.Is(err, os.ErrNotExist) {
				continue // the thread ended (or the kernel has no such file: below)
			}
			if err != nil {
				return fmt.Errorf("read the timer slack of thread %s: %w", t.Name(), err)
			}
			if strings.TrimSpace(string(b)) == want {
				ok++
				continue
			}
			if err := os.WriteFile(p, []byte(want), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("set the timer slack of thread %s: %w", t.Name(), err)
			}
			changed++
		}
		if changed+ok == 0 {
			return errors.New("set the timer slack of this process's threads: no /proc/TID/timerslack_ns (Linux before 4.6)")
		}
		if changed == 0 {
			return nil
		}
	}
	return errors.New("set the timer slack of this process's threads: threads kept appearing without it")
}

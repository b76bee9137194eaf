package supervisor

import (
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestSetProcessTimerSlack checks that every thread of the process has the
// slack afterwards, threads started after it too (they inherit it).
func TestSetProcessTimerSlack(t *testing.T) {
	b, err := os.ReadFile("/proc/self/timerslack_ns")
	if err != nil {
		t.Fatal(err)
	}
	old, err := time.ParseDuration(strings.TrimSpace(string(b)) + "ns")
	if err != nil {
		t.Fatal(err)
	}
	err = SetProcessTimerSlack(WorkerTimerSlack)
	t.Cleanup(func() {
		if err := SetProcessTimerSlack(old); err != nil {
			t.Errorf("give the timer slack back: %v", err)
		}
	})
	if errors.Is(err, os.ErrPermission) && os.Getuid() != 0 && os.Getenv("CI") == "" {
		t.Skip("writing another thread's timer slack needs CAP_SYS_NICE")
	}
	if err != nil {
		t.Fatal(err)
	}
	// More threads, made after it: each goroutine locked to its thread
	// and blocked holds that thread, so the runtime makes others.
	done := make(chan struct{})
	started := make(chan struct{})
	for range 4 {
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			started <- struct{}{}
			<-done
		}()
	}
	for range 4 {
		<-started
	}
	defer close(done)
	deadline := time.Now().Add(5 * time.Second)
	for {
		tids, err := os.ReadDir("/proc/self/task")
		if err != nil {
			t.Fatal(err)
		}
		bad := ""
		for _, tid := range tids {
			b, err := os.ReadFile("/proc/" + tid.Name() + "/timerslack_ns")
			if errors.Is(err, os.ErrNotExist) {
				continue // the thread ended
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(string(b)) != "1000000" {
				bad = tid.Name() + ": " + strings.TrimSpace(string(b))
			}
		}
		if bad == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("thread %s ns of timer slack, want 1000000", bad)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
}

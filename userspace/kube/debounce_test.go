package kube

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDebounceSingleChangeRebuildsAtOnce(t *testing.T) {
	t.Parallel()
	d := newDebouncer(time.Hour, time.Hour)
	d.poke()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := d.wait(ctx); err != nil {
		t.Fatalf("a single change waited for Quiet (1h): %v", err)
	}
}

func TestDebounceBurstWaitsForQuiet(t *testing.T) {
	t.Parallel()
	// Two changes within Quiet (1h) are a burst: the rebuild waits.
	d := newDebouncer(time.Hour, time.Hour)
	d.poke()
	d.poke()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := d.wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a burst did not wait for Quiet: wait returned %v", err)
	}

	// A burst ends Quiet after its last change, or MaxDelay after its first.
	for _, d := range []*debouncer{newDebouncer(5*time.Millisecond, time.Hour), newDebouncer(time.Hour, 5*time.Millisecond)} {
		d.poke()
		d.poke()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if _, err := d.wait(ctx); err != nil {
			t.Errorf("burst with quiet %v, max delay %v: %v", d.quiet, d.maxDelay, err)
		}
		cancel()
	}
}

func TestDebounceNothingChanged(t *testing.T) {
	t.Parallel()
	d := newDebouncer(time.Millisecond, time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := d.wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait without a change returned %v", err)
	}
}

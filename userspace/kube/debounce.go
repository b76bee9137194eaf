package kube

import (
	"context"
	"sync/atomic"
	"time"
)

// debouncer turns change notifications into rebuilds. A change that follows
// the previous one by Quiet or more rebuilds at once (leading edge): a
// single kubectl edit is live after one build, not after Quiet plus one
// build. Changes closer together than Quiet are a burst (kubectl apply of
// many objects, a rollout moving EndpointSlices): the rebuild waits until
// Quiet passes without a change, or MaxDelay after the first (trailing
// edge), so a burst costs a few builds, not one per object.
type debouncer struct {
	quiet, maxDelay time.Duration
	changed         chan struct{}
	lastPoke        atomic.Int64 // unix nanoseconds of the latest poke
	burst           atomic.Bool  // a poke followed another within quiet since the last wait
}

func newDebouncer(quiet, maxDelay time.Duration) *debouncer {
	return &debouncer{quiet: quiet, maxDelay: maxDelay, changed: make(chan struct{}, 1)}
}

// poke records a change. It never blocks.
func (d *debouncer) poke() {
	now := time.Now().UnixNano()
	if prev := d.lastPoke.Swap(now); now-prev < int64(d.quiet) {
		d.burst.Store(true)
	}
	select {
	case d.changed <- struct{}{}:
	default:
	}
}

// wait returns when a rebuild is due, with the time the first change of it
// was seen, or with ctx's error.
func (d *debouncer) wait(ctx context.Context) (time.Time, error) {
	select {
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	case <-d.changed:
	}
	first := time.Now()
	if !d.burst.Swap(false) {
		return first, nil
	}
	maxTimer := time.NewTimer(d.maxDelay)
	defer maxTimer.Stop()
	quiet := time.NewTimer(d.quiet)
	defer quiet.Stop()
	for {
		select {
		case <-ctx.Done():
			return first, ctx.Err()
		case <-d.changed:
			quiet.Reset(d.quiet)
		case <-quiet.C:
			d.burst.Store(false) // pokes of this burst are in this rebuild
			return first, nil
		case <-maxTimer.C:
			// Pokes still coming set it again; a burst that ended just
			// now must not delay the next single change.
			d.burst.Store(false)
			return first, nil
		}
	}
}

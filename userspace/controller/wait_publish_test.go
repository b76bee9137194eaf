package controller

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/weir-lb/weir/userspace/snapshot"
)

// blockingPublisher blocks in Apply of every version above 1 until release
// is closed, signalling entered first.
type blockingPublisher struct {
	entered chan struct{}
	release chan struct{}
}

func (p *blockingPublisher) Apply(s *snapshot.Snapshot) error {
	if s.Version > 1 {
		close(p.entered)
		<-p.release
	}
	return nil
}

// A Wait for a version already live must not wait for a Sync that is
// publishing the next one (in the supervisor: up to AckTimeout per worker,
// twice for a refused delta), and must honour its context meanwhile.
func TestWaitDoesNotBlockOnAPublishInProgress(t *testing.T) {
	t.Parallel()
	p := &blockingPublisher{entered: make(chan struct{}), release: make(chan struct{})}
	c := New(Options{Build: snapshot.DefaultOptions(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, p)
	c.Sync(objects("a.example"), nil) // version 1 live
	synced := make(chan struct{})
	go func() {
		defer close(synced)
		c.Sync(objects("a.example", "b.example"), nil) // version 2, blocks in Apply
	}()
	<-p.entered
	defer func() { close(p.release); <-synced }()

	got := make(chan uint64, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		s, _ := c.Wait(ctx, 0)
		var v uint64
		if s != nil {
			v = s.Version
		}
		got <- v
	}()
	select {
	case v := <-got:
		if v != 1 {
			t.Fatalf("Wait(0) with version 1 live: got version %d", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait(0) with version 1 live (10 ms context) is still blocked after 5 s behind the Sync publishing version 2")
	}
}

package ctxval

import (
	"context"
	"errors"
	"testing"
	"time"
)

type keyA struct{}
type keyB struct{}

func TestNodeAsWithValue(t *testing.T) {
	t.Parallel()
	parent := context.WithValue(context.Background(), keyA{}, "parent's a")
	var n Node
	ctx := n.Set(parent, keyB{}, "b")
	if got := ctx.Value(keyB{}); got != "b" {
		t.Errorf("Value(keyB) = %v, want b", got)
	}
	if got := ctx.Value(keyA{}); got != "parent's a" {
		t.Errorf("Value(keyA) = %v, want the parent's", got)
	}
	if got := ctx.Value("other"); got != nil {
		t.Errorf("Value(other) = %v, want nil", got)
	}
	var shadow Node
	if got := shadow.Set(ctx, keyA{}, "own a").Value(keyA{}); got != "own a" {
		t.Errorf("shadowed Value(keyA) = %v, want own a", got)
	}
	if ctx.Done() != nil {
		t.Error("Done of a Background child is not nil")
	}
}

func TestNodeCancellation(t *testing.T) {
	t.Parallel()
	parent, cancel := context.WithCancel(context.Background())
	var n Node
	ctx := n.Set(parent, keyA{}, 1)
	child, stop := context.WithCancel(ctx)
	defer stop()
	cancel()
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a child of the node was not cancelled with the node's parent")
	}
	if !errors.Is(ctx.Err(), context.Canceled) || !errors.Is(child.Err(), context.Canceled) {
		t.Errorf("Err = %v and %v, want context.Canceled", ctx.Err(), child.Err())
	}
}

func TestNodeSetAllocatesNothing(t *testing.T) {
	var n Node
	addr := &struct{ x int }{}
	allocs := testing.AllocsPerRun(100, func() { _ = n.Set(context.Background(), keyA{}, addr) })
	if allocs != 0 {
		t.Errorf("Set allocates %v times, want 0", allocs)
	}
}

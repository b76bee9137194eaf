package h1server

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

type ctxKey string

// TestReqContext checks that reqContext behaves as the context.WithCancel,
// context.WithValue and context.AfterFunc it stands for.
func TestReqContext(t *testing.T) {
	t.Parallel()
	parent := context.WithValue(context.Background(), http.ServerContextKey, "srv")
	c := newReqContext(parent)
	if c.Err() != nil {
		t.Fatalf("Err before cancel = %v", c.Err())
	}
	if got := c.Value(http.ServerContextKey); got != "srv" {
		t.Errorf("parent's value = %v, want srv", got)
	}
	if !c.SetValue(ctxKey("a"), 1) || c.SetValue(ctxKey("b"), 2) {
		t.Error("SetValue: want true once, then false")
	}
	if got, none := c.Value(ctxKey("a")), c.Value(ctxKey("b")); got != 1 || none != nil {
		t.Errorf("values = %v, %v; want 1, nil", got, none)
	}

	ran := make(chan string, 4)
	stopped := c.AfterDone(func() { ran <- "stopped" })
	c.AfterDone(func() { ran <- "after" })
	if !c.StopAfterDone(stopped) || c.StopAfterDone(stopped) {
		t.Error("StopAfterDone: want true once, then false")
	}
	derived, cancelDerived := context.WithCancel(c)
	defer cancelDerived()
	done := c.Done()

	c.cancel()
	c.cancel() // a second time: nothing more
	select {
	case <-done:
	default:
		t.Fatal("Done not closed by cancel")
	}
	if !errors.Is(c.Err(), context.Canceled) {
		t.Errorf("Err = %v, want context.Canceled", c.Err())
	}
	select {
	case <-derived.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("derived context not cancelled")
	}
	if got := <-ran; got != "after" {
		t.Errorf("ran %q, want the function not stopped", got)
	}
	// Done and AfterDone once done: a closed channel, f at once.
	select {
	case <-newDone(c):
	default:
		t.Error("Done after cancel is not closed")
	}
	late := c.AfterDone(func() { ran <- "late" })
	if got := <-ran; got != "late" {
		t.Errorf("ran %q, want late", got)
	}
	if c.StopAfterDone(late) {
		t.Error("StopAfterDone of a function already started: true")
	}
	select {
	case got := <-ran:
		t.Errorf("%q ran too", got)
	default:
	}
}

func newDone(c *reqContext) <-chan struct{} {
	d := newReqContext(c.parent)
	d.cancel()
	return d.Done()
}

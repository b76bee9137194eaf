package h1server

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/weir-lb/weir/test/testutil"
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
	send := func(v any) { ran <- v.(string) }
	stopped := c.AfterDone(send, "stopped")
	c.AfterDone(send, "after")
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
	late := c.AfterDone(send, "late")
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

// TestReqContextReuse: the requests of a keep-alive connection each start
// with a live context that holds none of the previous request's value; a
// context whose Done channel a handler took is done once its request ends
// and is not the next request's.
func TestReqContextReuse(t *testing.T) {
	t.Parallel()
	type seen struct {
		ctx   context.Context
		err   error
		value any
	}
	got := make(chan seen, 4)
	var taken <-chan struct{}
	addr, _ := start(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		got <- seen{ctx: ctx, err: ctx.Err(), value: ctx.Value(ctxKey("k"))}
		if s, ok := ctx.(interface{ SetValue(key, val any) bool }); !ok || !s.SetValue(ctxKey("k"), r.URL.Path) {
			t.Errorf("%s: SetValue on the request's context failed", r.URL.Path)
		}
		if r.URL.Path == "/take" {
			taken = ctx.Done()
		}
	}))
	c, _ := dial(t, addr)
	rs := testutil.RawExchangeOn(t, c, "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n"+
		"GET /take HTTP/1.1\r\nHost: a\r\n\r\nGET /c HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	if len(rs) != 4 {
		t.Fatalf("got %d responses, want 4", len(rs))
	}
	var all []seen
	for range 4 {
		all = append(all, <-got)
	}
	for i, s := range all {
		if s.err != nil || s.value != nil {
			t.Errorf("request %d started with context error %v and value %v, want neither", i, s.err, s.value)
		}
	}
	if all[0].ctx != all[1].ctx || all[1].ctx != all[2].ctx {
		t.Error("the context of requests whose Done channel nobody took is not reused")
	}
	if all[3].ctx == all[2].ctx {
		t.Error("the context whose Done channel was taken serves the next request")
	}
	select {
	case <-taken:
	default:
		t.Error("the taken Done channel is not closed once its request ended")
	}
	if all[2].ctx.Err() == nil {
		t.Error("the retired context is not done")
	}
}

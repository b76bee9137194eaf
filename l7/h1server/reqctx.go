package h1server

import (
	"context"
	"sync"
	"time"
)

// reqContext is the context of the requests of a connection whose own
// context can never be done (no ConnContext made it cancellable): it is
// done when the handler returns, the client goes away or a write to it
// fails, as net/http's request context, and then serves the connection's
// next request (reset) unless someone took its Done channel. Like the
// Request it comes with (conn.requestBase), it must not be used once the
// handler returned. It replaces context.WithCancel, context.WithValue and
// context.AfterFunc, which each cost allocations per request, and offers
// l7/proxy two shortcuts that it looks for with interface assertions:
//
//   - SetValue holds one value in the context itself, instead of a
//     context.WithValue layer and a Request.WithContext copy;
//   - AfterDone and StopAfterDone are context.AfterFunc without its
//     allocations.
//
// It also has context.AfterFunc's method (AfterFunc), so that a context
// derived from it (context.WithCancel, WithTimeout) is cancelled with it
// without a goroutine of its own.
type reqContext struct {
	parent context.Context // the connection's: never done

	mu     sync.Mutex
	done   chan struct{} // made by the first Done
	err    error
	key    any // SetValue's
	val    any
	after  []afterEntry // not run yet
	buf    [2]afterEntry
	nextID uint64
}

type afterEntry struct {
	id  uint64
	f   func(arg any)
	arg any
}

func (e afterEntry) run() { e.f(e.arg) }

func newReqContext(parent context.Context) *reqContext {
	c := &reqContext{parent: parent}
	c.after = c.buf[:0]
	return c
}

func (c *reqContext) Deadline() (time.Time, bool) { return c.parent.Deadline() }

func (c *reqContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		if c.err != nil {
			close(c.done)
		}
	}
	return c.done
}

func (c *reqContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *reqContext) Value(key any) any {
	c.mu.Lock()
	k, v := c.key, c.val
	c.mu.Unlock()
	if k != nil && k == key {
		return v
	}
	return c.parent.Value(key)
}

// SetValue makes val the context's value for key (comparable, as
// context.WithValue's), once per request: it reports false, and changes
// nothing, when the context holds a value already; the caller then layers
// context.WithValue.
func (c *reqContext) SetValue(key, val any) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.key != nil {
		return false
	}
	c.key, c.val = key, val
	return true
}

// AfterDone arranges for f(arg) to run in its own goroutine once the
// context is done (at once if it is), as context.AfterFunc, and returns the
// id that StopAfterDone takes. A function and argument rather than a
// closure: a method value would cost an allocation per call.
func (c *reqContext) AfterDone(f func(arg any), arg any) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID++
	e := afterEntry{id: c.nextID, f: f, arg: arg}
	if c.err != nil {
		go e.run()
		return c.nextID
	}
	c.after = append(c.after, e)
	return c.nextID
}

// StopAfterDone keeps the function of id from running; it reports whether
// it did, as the stop function of context.AfterFunc.
func (c *reqContext) StopAfterDone(id uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, e := range c.after {
		if e.id == id {
			c.after = append(c.after[:i], c.after[i+1:]...)
			c.after[len(c.after) : len(c.after)+1][0] = afterEntry{}
			return true
		}
	}
	return false
}

// AfterFunc is context.AfterFunc's hook for the contexts derived from c.
func (c *reqContext) AfterFunc(f func()) func() bool {
	id := c.AfterDone(callFunc, f)
	return func() bool { return c.StopAfterDone(id) }
}

// reset readies the context, done, for a next request of the connection
// whose context is parent (the same connection's, or another's that took
// the session it belongs to); it reports false, changing nothing, when it
// cannot be reused: not done yet, or its Done channel was taken (someone
// may still wait on it).
func (c *reqContext) reset(parent context.Context) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil || c.done != nil {
		return false
	}
	c.parent, c.err, c.key, c.val = parent, nil, nil, nil
	return true
}

func callFunc(f any) { f.(func())() }

// cancel makes the context done (context.Canceled) and starts the
// functions waiting for it.
func (c *reqContext) cancel() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err = context.Canceled
	if c.done != nil {
		close(c.done)
	}
	for i, e := range c.after {
		go e.run()
		c.after[i] = afterEntry{}
	}
	c.after = c.after[:0]
	// The value stays: the handler may still run (a client that left).
}

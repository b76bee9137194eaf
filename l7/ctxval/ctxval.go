// Package ctxval holds a context value in a struct that the value's owner
// embeds, so that adding it to a context allocates nothing of its own:
// context.WithValue allocates a node per call, which a server pays per
// connection for every value a connection's context carries (l7/h1server's
// local address, l7/connlimit's connection).
package ctxval

import "context"

// Node is a context with one key and value added to its parent, as
// context.WithValue's: Value returns Val for Key and asks the parent for
// any other key; Deadline, Done and Err are the parent's. The zero Node is
// not a context: Set it first. A Node must not be Set again while a context
// made from it is in use (Set once per owner).
type Node struct {
	context.Context
	key, val any
}

// Set makes n the context parent with key mapped to val, and returns it.
// key must be comparable, as context.WithValue's.
func (n *Node) Set(parent context.Context, key, val any) context.Context {
	n.Context, n.key, n.val = parent, key, val
	return n
}

// Value returns the value for key: Set's val for its key, else the
// parent's.
func (n *Node) Value(key any) any {
	if n.key == key {
		return n.val
	}
	return n.Context.Value(key)
}

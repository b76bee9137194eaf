// Package arena hands out strings and []string slices carved from chunks
// that are only ever appended to, so that the strings of a request head
// cost no allocation of their own while staying memory safe.
package arena

import (
	"sync"
	"unsafe"
)

// Arena hands out strings and []string slices carved from chunks that are
// only ever appended to: once a string or slice points into a chunk, no
// byte or element of it is written again, and the garbage collector keeps
// a chunk alive while anything points into it. A request's strings then
// cost no allocation of their own (one chunk serves many requests) and can
// never observe bytes of another request. Code that keeps such a string
// beyond its request (a map key, a goroutine) should copy it, or it pins
// the whole chunk.
//
// An Arena is used by one goroutine at a time: take one with Get for the
// duration of a parse and give it back with Put. The zero value is ready
// to use.
type Arena struct {
	bytes []byte   // the current chunk's bytes: len used, cap its size
	strs  []string // the current chunk of string slots
}

// Chunk sizes, and the largest piece an Arena carves (a larger one gets
// an allocation of its own, so that a chunk is not wasted on it).
const (
	arenaBytes    = 16 << 10
	arenaStrings  = 512
	arenaMaxBytes = arenaBytes / 8
	arenaMaxStrs  = arenaStrings / 8
)

var arenas = sync.Pool{New: func() any { return new(Arena) }}

// Get returns an Arena from a process-wide pool.
func Get() *Arena { return arenas.Get().(*Arena) }

// Put returns a to the pool; its caller keeps using the strings it gave.
func Put(a *Arena) { arenas.Put(a) }

// String returns a string of b's bytes.
func (a *Arena) String(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > arenaMaxBytes {
		return string(b)
	}
	if cap(a.bytes)-len(a.bytes) < len(b) {
		a.bytes = make([]byte, 0, arenaBytes) // the old chunk is left to its strings
	}
	start := len(a.bytes)
	a.bytes = append(a.bytes, b...)
	// Safe: these bytes are never written again (the chunk is only
	// appended to, and dropped when full).
	return unsafe.String(&a.bytes[start], len(b))
}

// Strings returns a []string of n empty strings, its capacity n.
func (a *Arena) Strings(n int) []string {
	if n > arenaMaxStrs {
		return make([]string, n)
	}
	if cap(a.strs)-len(a.strs) < n {
		a.strs = make([]string, 0, arenaStrings)
	}
	start := len(a.strs)
	a.strs = a.strs[:start+n]
	return a.strs[start : start+n : start+n]
}

package kube

import (
	"sync"

	"k8s.io/client-go/tools/cache"

	"github.com/weir-lb/weir/userspace/snapshot"
)

// changeLog collects the objects that changed since the last build, so that
// the build is scoped to them (snapshot.Objects.Changed). Past
// snapshot.MaxScopedChanges, or for an object whose key cannot be read, it
// knows only that something changed: the next build is a full one.
type changeLog struct {
	mu      sync.Mutex
	refs    map[snapshot.ObjectRef]bool
	unknown bool
}

func newChangeLog() *changeLog {
	// Unknown until the first build: the informers' first lists are no
	// changes of a previous build.
	return &changeLog{refs: map[snapshot.ObjectRef]bool{}, unknown: true}
}

// record notes that obj (an object or a deletion tombstone) of kind
// changed.
func (c *changeLog) record(kind string, obj any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.unknown {
		return
	}
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		c.unknown = true
		return
	}
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		c.unknown = true
		return
	}
	c.refs[snapshot.ObjectRef{Kind: kind, Namespace: ns, Name: name}] = true
	if len(c.refs) > snapshot.MaxScopedChanges {
		c.unknown = true
	}
}

// take returns the changes recorded since the previous take, nil when they
// are unknown, and starts recording anew. Call it before listing the
// objects: a change recorded after take is in the store already, or
// arrives with the next take.
func (c *changeLog) take() []snapshot.ObjectRef {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []snapshot.ObjectRef
	if !c.unknown {
		out = make([]snapshot.ObjectRef, 0, len(c.refs))
		for ref := range c.refs {
			out = append(out, ref)
		}
	}
	clear(c.refs)
	c.unknown = false
	return out
}

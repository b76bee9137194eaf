package snapshot

// HashJSON is the reference encoding of the Snapshot hash, for the tests of
// package snapshot_test.
var HashJSON = hashJSON

// ScopedBuilds counts the builds bl scoped to a change.
func (bl *Builder) ScopedBuilds() int { return bl.scopedBuilds }

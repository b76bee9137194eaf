package snapshot

// HashJSON is the reference encoding of the Snapshot hash, for the tests of
// package snapshot_test.
var HashJSON = hashJSON

package connlimit

import (
	"errors"
	"testing"
)

func TestTableLimit(t *testing.T) {
	t.Parallel()
	tb := NewTable()
	a, b := tb.Key("ns/app", []byte{127, 0, 0, 1}), tb.Key("ns/other", []byte{127, 0, 0, 1})
	s1, ok1, _ := tb.Acquire(a, 2, 0)
	s2, ok2, _ := tb.Acquire(a, 2, 0)
	_, ok3, err := tb.Acquire(a, 2, 0)
	if !ok1 || !ok2 || ok3 || err != nil {
		t.Fatalf("limit 2: acquired %v %v %v (%v), want true true false", ok1, ok2, ok3, err)
	}
	if s, ok, _ := tb.Acquire(b, 2, 0); !ok {
		t.Errorf("another zone, same address: refused")
	} else {
		s.Release()
	}
	s1.Release()
	if got := tb.Count(a); got != 1 {
		t.Errorf("after one release: count %d, want 1", got)
	}
	s3, ok, _ := tb.Acquire(a, 2, 0)
	if !ok {
		t.Errorf("after one release: refused")
	}
	s2.Release()
	s3.Release()
	s3.Release() // a second release of a count that is gone changes nothing
	if got := tb.Count(a); got != 0 {
		t.Errorf("after every release: count %d, want 0", got)
	}
}

// TestTableBucketFull: an eighth key of one bucket is refused (fails
// closed) until a slot of the bucket is free again.
func TestTableBucketFull(t *testing.T) {
	t.Parallel()
	tb := NewTable()
	var keys []uint64
	for k := uint64(1 << countBits); len(keys) < slotsInBucket+1; k += 1 << countBits {
		if (k*0x9e3779b97f4a7c15>>32)%tb.buckets == 7 {
			keys = append(keys, k)
		}
	}
	var slots []Slot
	for _, k := range keys[:slotsInBucket] {
		s, ok, err := tb.Acquire(k, 1, 0)
		if !ok {
			t.Fatalf("key %#x of a bucket with room: %v", k, err)
		}
		slots = append(slots, s)
	}
	if _, ok, err := tb.Acquire(keys[slotsInBucket], 1, 0); ok || !errors.Is(err, ErrTableFull) {
		t.Fatalf("eighth key of a full bucket: ok %v, err %v; want refused with ErrTableFull", ok, err)
	}
	slots[3].Release()
	if _, ok, _ := tb.Acquire(keys[slotsInBucket], 1, 0); !ok {
		t.Errorf("eighth key once a slot is free: refused")
	}
}

// TestSharedTableReclaim: two mappings of one memfd (as two workers) see
// one count; Reclaim takes back the counts of a worker taken for dead.
func TestSharedTableReclaim(t *testing.T) {
	t.Parallel()
	sup, err := NewSharedTable(2)
	if err != nil {
		t.Fatal(err)
	}
	w1, err := sup.Remap()
	if err != nil {
		t.Fatal(err)
	}
	if sup.Workers() != 2 || w1.Workers() != 2 {
		t.Errorf("Workers() = %d, %d, want 2", sup.Workers(), w1.Workers())
	}
	key := sup.Key("ns/app", []byte{10, 0, 0, 1})
	if key != w1.Key("ns/app", []byte{10, 0, 0, 1}) {
		t.Fatalf("the two mappings hash the same key differently")
	}
	held, ok, _ := sup.Acquire(key, 2, 0)
	if _, ok2, _ := w1.Acquire(key, 2, 1); !ok || !ok2 {
		t.Fatalf("two requests under limit 2 in two workers: %v %v", ok, ok2)
	}
	if _, ok, _ := sup.Acquire(key, 2, 0); ok {
		t.Fatalf("third request across two workers, limit 2: accepted")
	}
	sup.Reclaim(1) // worker 1 died with its count
	if got := sup.Count(key); got != 1 {
		t.Errorf("after Reclaim(1): count %d, want 1 (worker 0's)", got)
	}
	held.Release()
	if got := w1.Count(key); got != 0 {
		t.Errorf("after worker 0 released: count %d, want 0", got)
	}
}

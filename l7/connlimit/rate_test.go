package connlimit

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

// admitted counts the requests of n at now that Admit lets in.
func admitted(t testing.TB, tb *Table, now int64, n int, zones ...RateZone) int {
	t.Helper()
	got := 0
	for range n {
		ok, err := tb.Admit(now, zones)
		if err != nil {
			t.Fatalf("Admit: %v", err)
		}
		if ok {
			got++
		}
	}
	return got
}

// TestAdmitLeakyBucket: nginx's limit_req with burst and nodelay: a new
// client gets 1 + burst requests at once, then one per 1/rate as the
// excess leaks; the key of another zone is apart.
func TestAdmitLeakyBucket(t *testing.T) {
	t.Parallel()
	tb := NewTable()
	rps := RateZone{Key: tb.Key("ns/app_rps", []byte{127, 0, 0, 1}), Rate: 2000, Burst: 5}
	now := int64(1_000_000)
	if got := admitted(t, tb, now, 10, rps); got != 6 {
		t.Fatalf("rate 2 r/s, burst 5, ten requests at once: %d let in, want 6", got)
	}
	if got := admitted(t, tb, now+499, 1, rps); got != 0 {
		t.Errorf("499 ms later (less than one request leaked): let in")
	}
	if got := admitted(t, tb, now+500, 2, rps); got != 1 {
		t.Errorf("500 ms later: %d let in, want 1", got)
	}
	if got := admitted(t, tb, now+3500, 10, rps); got != 6 {
		t.Errorf("3 s more (the whole burst leaked): %d let in, want 6", got)
	}
	other := RateZone{Key: tb.Key("ns/other_rps", []byte{127, 0, 0, 1}), Rate: 2000, Burst: 0}
	if got := admitted(t, tb, now+3500, 2, other); got != 1 {
		t.Errorf("another zone, burst 0: %d let in, want 1", got)
	}
}

// TestAdmitPerMinute: r/m leaks rate/60 per second; burst 0 refuses all
// but one request a period.
func TestAdmitPerMinute(t *testing.T) {
	t.Parallel()
	tb := NewTable()
	rpm := RateZone{Key: tb.Key("ns/app_rpm", []byte{10, 0, 0, 1}), Rate: 60 * 1000 / 60, Burst: 0}
	if got := admitted(t, tb, 0, 3, rpm); got != 1 {
		t.Fatalf("60 r/m, burst 0: %d let in, want 1", got)
	}
	if got := admitted(t, tb, 999, 1, rpm); got != 0 {
		t.Errorf("999 ms later: let in")
	}
	if got := admitted(t, tb, 1000, 1, rpm); got != 1 {
		t.Errorf("1 s later: refused")
	}
}

// TestAdmitAllZones: a request refused by one zone is counted by none.
func TestAdmitAllZones(t *testing.T) {
	t.Parallel()
	tb := NewTable()
	addr := []byte{10, 0, 0, 2}
	rps := RateZone{Key: tb.Key("ns/app_rps", addr), Rate: 100_000, Burst: 100}
	rpm := RateZone{Key: tb.Key("ns/app_rpm", addr), Rate: 1000 / 60, Burst: 1}
	if got := admitted(t, tb, 0, 5, rps, rpm); got != 2 {
		t.Fatalf("rps 100 burst 100, rpm 1 burst 1: %d let in, want 2", got)
	}
	// rps counted two requests (0 for its new node, then 1000): 99 more
	// fit its burst alone.
	if got := admitted(t, tb, 0, 200, rps); got != 99 {
		t.Errorf("rps alone after three refusals by rpm: %d let in, want 99 (the refused were not counted)", got)
	}
}

// TestAdmitBucketFull: a sixth key of one bucket is refused (fails
// closed) until a state expires: idle for 60 s with its excess leaked.
func TestAdmitBucketFull(t *testing.T) {
	t.Parallel()
	tb := NewTable()
	var keys []uint64
	for k := uint64(2); len(keys) < ratesInBucket+2; k += 2 {
		if (k*0x9e3779b97f4a7c15>>32)%RateBuckets == 11 {
			keys = append(keys, k)
		}
	}
	for _, k := range keys[:ratesInBucket-1] {
		if ok, err := tb.Admit(0, []RateZone{{Key: k, Rate: 1000, Burst: 5}}); !ok {
			t.Fatalf("key %#x of a bucket with room: %v", k, err)
		}
	}
	// Two new keys of one request, one free state: they do not share it.
	two := []RateZone{{Key: keys[ratesInBucket-1], Rate: 1000, Burst: 5}, {Key: keys[ratesInBucket+1], Rate: 1000, Burst: 5}}
	if ok, err := tb.Admit(0, two); ok || !errors.Is(err, ErrTableFull) {
		t.Fatalf("two new keys of one request, one free state: ok %v, err %v; want refused with ErrTableFull", ok, err)
	}
	if ok, err := tb.Admit(0, two[:1]); !ok {
		t.Fatalf("the fifth key of the bucket: %v", err)
	}
	last := []RateZone{{Key: keys[ratesInBucket], Rate: 1000, Burst: 5}}
	if ok, err := tb.Admit(59_999, last); ok || !errors.Is(err, ErrTableFull) {
		t.Fatalf("sixth key of a full bucket: ok %v, err %v; want refused with ErrTableFull", ok, err)
	}
	if ok, err := tb.Admit(60_000, last); !ok {
		t.Errorf("sixth key once the others idled 60 s: %v", err)
	}
}

// TestSharedTableAdmit: two mappings of one memfd (as two workers) share
// the request rates.
func TestSharedTableAdmit(t *testing.T) {
	t.Parallel()
	sup, err := NewSharedTable(2)
	if err != nil {
		t.Fatal(err)
	}
	defer sup.File().Close()
	w1, err := sup.Remap()
	if err != nil {
		t.Fatal(err)
	}
	defer w1.File().Close()
	z := RateZone{Key: sup.Key("ns/app_rps", []byte{10, 0, 0, 1}), Rate: 1000, Burst: 3}
	got := 0
	for i := range 10 {
		tb := sup
		if i%2 == 1 {
			tb = w1
		}
		got += admitted(t, tb, 5000, 1, z)
	}
	if got != 4 {
		t.Errorf("1 r/s burst 3, ten requests alternating between two workers: %d let in, want 4", got)
	}
}

// TestSharedTableAdmitConcurrent: requests racing in two mappings (as two
// workers) at one instant are let in 1 + burst times in all (rpm's larger
// burst never refuses).
func TestSharedTableAdmitConcurrent(t *testing.T) {
	t.Parallel()
	sup, err := NewSharedTable(2)
	if err != nil {
		t.Fatal(err)
	}
	defer sup.File().Close()
	w1, err := sup.Remap()
	if err != nil {
		t.Fatal(err)
	}
	defer w1.File().Close()
	addr := []byte{10, 0, 0, 9}
	zones := []RateZone{{Key: sup.Key("ns/app_rps", addr), Rate: 1000, Burst: 20}, {Key: sup.Key("ns/app_rpm", addr), Rate: 16, Burst: 30}}
	var wg sync.WaitGroup
	var total atomic.Int64
	for g := range 8 {
		tb := sup
		if g%2 == 1 {
			tb = w1
		}
		wg.Go(func() {
			for range 50 {
				if ok, _ := tb.Admit(7000, zones); ok {
					total.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := total.Load(); got != 21 {
		t.Errorf("400 racing requests, rps burst 20 and rpm burst 30: %d let in, want 21", got)
	}
}

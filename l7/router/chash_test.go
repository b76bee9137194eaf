package router

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRingMatchesRestyChash replays lua-resty-balancer's own test of
// resty.chash (t/chash.t, "find"): three weighted servers, the keys 1 to
// 100000, and the counts that OpenResty's implementation yields.
func TestRingMatchesRestyChash(t *testing.T) {
	t.Parallel()
	names := []string{"server1", "server2", "server3"}
	r := newRing(names, []int{10, 2, 1})
	if got := len(r.points); got != 2080 {
		t.Fatalf("points = %d, want 2080", got)
	}
	got := map[string]int{}
	for i := 1; i <= 100_000; i++ {
		got[names[r.find(strconv.Itoa(i))]]++
	}
	want := map[string]int{"server1": 75588, "server2": 16114, "server3": 8298}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("keys per server (-want +got):\n%s", diff)
	}
}

// TestRingRemoveMovesOnlyItsKeys: removing one of five endpoints moves the
// keys it had, and no other; the keys spread over the endpoints evenly.
func TestRingRemoveMovesOnlyItsKeys(t *testing.T) {
	t.Parallel()
	addrs := []string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80", "10.0.0.5:80"}
	full := newRing(addrs, nil)
	lessNames := append(append([]string(nil), addrs[:2]...), addrs[3:]...)
	less := newRing(lessNames, nil)
	const n = 20_000
	count := map[string]int{}
	for i := range n {
		key := fmt.Sprintf("/path/%d", i)
		before := addrs[full.find(key)]
		after := lessNames[less.find(key)]
		count[before]++
		if before != addrs[2] && before != after {
			t.Fatalf("key %q moved from %s to %s though %s stayed", key, before, after, before)
		}
		if after == addrs[2] {
			t.Fatalf("key %q still on the removed endpoint", key)
		}
	}
	for _, a := range addrs {
		if c := count[a]; c < n/5*6/10 || c > n/5*14/10 {
			t.Errorf("endpoint %s has %d of %d keys, want about %d", a, c, n, n/5)
		}
	}
}

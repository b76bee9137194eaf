package arena

import (
	"fmt"
	"testing"
)

// TestArenaStringsStay checks that the arena never hands out the same
// bytes or slots twice: strings taken earlier keep their value whatever is
// taken after, across chunks.
func TestArenaStringsStay(t *testing.T) {
	t.Parallel()
	a := new(Arena)
	var got []string
	var slots [][]string
	for i := range 5000 {
		got = append(got, a.String(fmt.Appendf(nil, "value-%d", i)))
		s := a.Strings(1 + i%7)
		s[0] = got[i]
		slots = append(slots, s)
	}
	for i := range got {
		if want := fmt.Sprintf("value-%d", i); got[i] != want || slots[i][0] != want {
			t.Fatalf("string %d = %q, slot %q, want %q", i, got[i], slots[i][0], want)
		}
		if len(slots[i]) != 1+i%7 || cap(slots[i]) != len(slots[i]) {
			t.Fatalf("slots %d: len %d cap %d, want both %d", i, len(slots[i]), cap(slots[i]), 1+i%7)
		}
	}
}

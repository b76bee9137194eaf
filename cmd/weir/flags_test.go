package main

import "testing"

func TestByteSize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want int64 // 0: an error
	}{
		{"4Mi", 4 << 20}, {"512Ki", 512 << 10}, {"1M", 1000000}, {"100", 100},
		{"0", 0}, {"-1Mi", 0}, {"1.5", 0}, {"lots", 0},
	} {
		var b byteSize
		err := b.Set(tc.in)
		if tc.want == 0 {
			if err == nil {
				t.Errorf("Set(%q) = %d, want an error", tc.in, b)
			}
			continue
		}
		if err != nil || int64(b) != tc.want {
			t.Errorf("Set(%q) = %d, %v; want %d", tc.in, b, err, tc.want)
		}
	}
	if b := byteSize(4 << 20); b.String() != "4Mi" {
		t.Errorf("String() = %q, want 4Mi", b.String())
	}
}

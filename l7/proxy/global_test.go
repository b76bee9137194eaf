package proxy

import (
	"testing"

	"github.com/weir-lb/weir/userspace/annotations"
)

// TestHeaderLimitsFollowApply: the getter another part of the server reads
// gives the defaults before the first Apply, then the live Snapshot's
// large-client-header-buffers, and the defaults again when a Snapshot
// drops the key.
func TestHeaderLimitsFollowApply(t *testing.T) {
	t.Parallel()
	p := New(Options{})
	t.Cleanup(p.Close)
	check := func(when string, wantCount, wantSize int, wantPP bool) {
		t.Helper()
		if n, s := p.HeaderLimits(); n != wantCount || s != wantSize {
			t.Errorf("%s: HeaderLimits() = %d, %d, want %d, %d", when, n, s, wantCount, wantSize)
		}
		if got := p.UseProxyProtocol(); got != wantPP {
			t.Errorf("%s: UseProxyProtocol() = %v, want %v", when, got, wantPP)
		}
	}
	check("before Apply", 4, 8192, false)
	s := snap(1, "a.test", backendOf("a", nil))
	s.Global = annotations.Global{HeaderBufferCount: 2, HeaderBufferSize: 1024, UseProxyProtocol: true}
	if err := p.Apply(s); err != nil {
		t.Fatal(err)
	}
	check("after Apply", 2, 1024, true)
	if err := p.Apply(snap(2, "a.test", backendOf("a", nil))); err != nil {
		t.Fatal(err)
	}
	check("after a Snapshot without the keys", 4, 8192, false)
}

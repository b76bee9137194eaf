package proxy

import (
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/connlimit"
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

// TestConnLimitsFollowApply: keep-alive, keep-alive-requests,
// max-worker-connections and client-header-timeout are their defaults before the first Apply, then
// the live Snapshot's; max-worker-connections "0" derives a cap from the
// open-file limit.
func TestConnLimitsFollowApply(t *testing.T) {
	t.Parallel()
	p := New(Options{})
	t.Cleanup(p.Close)
	want := connlimit.Settings{KeepAlive: 75 * time.Second, KeepAliveRequests: 1000, MaxConnections: 16384}
	if got := p.ConnLimits(); got != want {
		t.Errorf("before Apply: ConnLimits() = %+v, want %+v", got, want)
	}
	zero, five := 0, 5
	s := snap(1, "a.test", backendOf("a", nil))
	s.Global = annotations.Global{KeepAlive: &zero, KeepAliveRequests: &five, MaxWorkerConnections: &five, ClientHeaderTimeout: 5 * time.Second}
	if err := p.Apply(s); err != nil {
		t.Fatal(err)
	}
	want = connlimit.Settings{KeepAlive: 0, KeepAliveRequests: 5, MaxConnections: 5, HeaderTimeout: 5 * time.Second}
	if got := p.ConnLimits(); got != want {
		t.Errorf("after Apply: ConnLimits() = %+v, want %+v", got, want)
	}
	s = snap(2, "a.test", backendOf("a", nil))
	s.Global = annotations.Global{MaxWorkerConnections: &zero}
	if err := p.Apply(s); err != nil {
		t.Fatal(err)
	}
	if got := p.ConnLimits().MaxConnections; got < 768 {
		t.Errorf("max-worker-connections 0: MaxConnections = %d, want at least 768", got)
	}
}

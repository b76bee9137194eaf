package proxy

import (
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/weir-lb/weir/l7/connlimit"
	"github.com/weir-lb/weir/l7/proxyproto"
	"github.com/weir-lb/weir/l7/router"
	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
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

// TestHTTPSProxyProtocolTimeout follows ingress-nginx, whose TLS proxy in
// front of nginx (--enable-ssl-passthrough) reads the PROXY header under
// proxy-protocol-header-timeout (default 5s) while nginx reads it under
// client_header_timeout: the HTTPS listener's policy gives the one or the
// other, and a real connection that sends no header is closed once the
// live timeout passes.
func TestHTTPSProxyProtocolTimeout(t *testing.T) {
	t.Parallel()
	p := New(Options{})
	t.Cleanup(p.Close)
	pol := p.HTTPSPolicy()
	timeout := func() time.Duration { return pol.(proxyproto.TimeoutPolicy).HeaderTimeout() }
	apply := func(v uint64, g annotations.Global) {
		t.Helper()
		s := snap(v, "a.test", backendOf("a", nil))
		s.Global = g
		if err := p.Apply(s); err != nil {
			t.Fatal(err)
		}
	}
	for i, tc := range []struct {
		g    annotations.Global
		want time.Duration
	}{
		{annotations.Global{ClientHeaderTimeout: 7 * time.Second}, 7 * time.Second},
		{annotations.Global{SSLPassthroughProxy: true, ClientHeaderTimeout: 7 * time.Second}, 5 * time.Second},
		{annotations.Global{SSLPassthroughProxy: true, ProxyProtocolHeaderTimeout: 2 * time.Second}, 2 * time.Second},
	} {
		apply(uint64(i+1), tc.g)
		if got := timeout(); got != tc.want {
			t.Errorf("%+v: HeaderTimeout() = %v, want %v", tc.g, got, tc.want)
		}
	}

	apply(9, annotations.Global{UseProxyProtocol: true, SSLPassthroughProxy: true, ProxyProtocolHeaderTimeout: 100 * time.Millisecond})
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := proxyproto.Wrap(raw, pol)
	t.Cleanup(func() { _ = ln.Close() })
	readErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			readErr <- err
			return
		}
		defer c.Close()
		_, err = c.Read(make([]byte, 1))
		readErr <- err
	}()
	client, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	start := time.Now()
	select {
	case err := <-readErr:
		if err == nil {
			t.Fatal("read without a PROXY header succeeded")
		}
		if d := time.Since(start); d > 4*time.Second { // well under the 5s default and 60s client-header-timeout
			t.Errorf("connection without a PROXY header closed after %v, want about 100ms", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("connection without a PROXY header still open after 10s")
	}
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := client.Read(make([]byte, 1)); err == nil {
		t.Error("client: connection still open")
	}
}

// TestCompileGlobalTakesMethods: what compileGlobal takes of Global's
// methods, so that requests do not copy the Global to call them, is what
// the methods return, defaults and set values alike.
func TestCompileGlobalTakesMethods(t *testing.T) {
	t.Parallel()
	for _, g := range []annotations.Global{
		{},
		{HeaderBufferCount: 2, HeaderBufferSize: 1024, LimitReqStatus: 429, LimitConnStatus: 429, UpstreamKeepaliveConnections: new(0)},
		{UpstreamKeepaliveConnections: new(16)},
		{HTTPRedirect: 301, NoAuthLocations: []string{}, NoTLSRedirectLocations: []string{}},
		{HTTPRedirect: 302, NoAuthLocations: []string{"/a", "/b/"}, NoTLSRedirectLocations: []string{"/b/", "/c"}},
	} {
		c := compileGlobal(g)
		n, size := g.HeaderBuffers()
		conns, _, _ := g.UpstreamKeepalive()
		want := []int{n, size, g.LimitReqStatusCode(), g.LimitConnStatusCode(), conns, g.HTTPRedirectCode()}
		got := []int{c.headerBuffers, c.headerBufferSize, c.limitReqStatus, c.limitConnStatus, c.upstreamKeepalive, c.redirectCode}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%+v: (-want +got):\n%s", g, diff)
		}
		for _, path := range []string{"/", "/.well-known/acme-challenge/x", "/a", "/ab", "/b", "/b/x", "/c", "/x/a"} {
			route := &router.Route{Path: path, Match: snapshot.MatchExact} // its location's path is path
			if want, got := g.NoAuth(path), c.noAuth(route, path); got != want {
				t.Errorf("%+v: noAuth(%q) = %v, NoAuth %v", g, path, got, want)
			}
			if want, got := g.NoTLSRedirect(path), c.noTLSRedirect(route, path); got != want {
				t.Errorf("%+v: noTLSRedirect(%q) = %v, NoTLSRedirect %v", g, path, got, want)
			}
		}
	}
}

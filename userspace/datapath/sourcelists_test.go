package datapath

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

func TestPortSourceLists(t *testing.T) {
	t.Parallel()
	be := func(sr *annotations.SourceRange) snapshot.Backend {
		return snapshot.Backend{Proxy: annotations.Proxy{SourceRange: sr}}
	}
	path := func(sr *annotations.SourceRange, canaries ...*annotations.SourceRange) snapshot.Path {
		p := snapshot.Path{Path: "/", Match: snapshot.MatchPrefix, Backend: be(sr)}
		for _, c := range canaries {
			p.Canaries = append(p.Canaries, snapshot.Canary{Backend: be(c)})
		}
		return p
	}
	snap := func(def *snapshot.Backend, servers ...[]snapshot.Path) *snapshot.Snapshot {
		s := &snapshot.Snapshot{DefaultBackend: def}
		for _, ps := range servers {
			s.Servers = append(s.Servers, snapshot.Server{Paths: ps})
		}
		return s
	}
	allowA := &annotations.SourceRange{Allow: []string{"10.0.0.0/8", "192.0.2.0/24"}}
	allowA2 := &annotations.SourceRange{Allow: []string{"192.0.2.0/24", "10.0.0.0/8", "10.0.0.0/8"}} // same set
	allowB := &annotations.SourceRange{Allow: []string{"10.0.0.0/8"}}
	denyD := &annotations.SourceRange{Deny: []string{"198.18.0.2/32"}}
	both := &annotations.SourceRange{Allow: []string{"10.0.0.0/8"}, Deny: []string{"198.18.0.2/32"}}
	denyWithOtherAllow := &annotations.SourceRange{Allow: []string{"172.16.0.0/12"}, Deny: []string{"198.18.0.2/32"}}
	pfx := netip.MustParsePrefix
	ports := []uint16{80, 443}
	tests := []struct {
		name string
		s    *snapshot.Snapshot
		want map[uint16]SourceLists
	}{
		{name: "nil snapshot", s: nil},
		{name: "no routes", s: snap(nil)},
		{name: "no lists", s: snap(nil, []snapshot.Path{path(nil)})},
		{
			name: "same allow on every route, as sets",
			s:    snap(nil, []snapshot.Path{path(allowA), path(allowA2)}, []snapshot.Path{path(allowA)}),
			want: map[uint16]SourceLists{
				80:  {Allow: []netip.Prefix{pfx("10.0.0.0/8"), pfx("192.0.2.0/24")}},
				443: {Allow: []netip.Prefix{pfx("10.0.0.0/8"), pfx("192.0.2.0/24")}},
			},
		},
		{name: "different allow lists stay in L7", s: snap(nil, []snapshot.Path{path(allowA)}, []snapshot.Path{path(allowB)})},
		{name: "one route without a list", s: snap(nil, []snapshot.Path{path(allowA), path(nil)})},
		{name: "a canary without the list", s: snap(nil, []snapshot.Path{path(allowA, nil)})},
		{name: "default backend without the list", s: snap(&snapshot.Backend{}, []snapshot.Path{path(allowA)})},
		{
			name: "default backend with the list",
			s:    func() *snapshot.Snapshot { d := be(denyD); return snap(&d, []snapshot.Path{path(denyD)}) }(),
			want: map[uint16]SourceLists{80: {Deny: []netip.Prefix{pfx("198.18.0.2/32")}}, 443: {Deny: []netip.Prefix{pfx("198.18.0.2/32")}}},
		},
		{
			name: "same deny, different allows: deny only",
			s:    snap(nil, []snapshot.Path{path(both), path(denyWithOtherAllow)}),
			want: map[uint16]SourceLists{80: {Deny: []netip.Prefix{pfx("198.18.0.2/32")}}, 443: {Deny: []netip.Prefix{pfx("198.18.0.2/32")}}},
		},
		{
			name: "a denied route (invalid allow list) keeps the allow list in L7",
			s:    snap(nil, []snapshot.Path{path(allowA), path(&annotations.SourceRange{InvalidAllow: "bad"})}),
		},
		{
			name: "every route denied: nothing for XDP, L7 answers 503",
			s:    snap(nil, []snapshot.Path{path(&annotations.SourceRange{InvalidAllow: "bad"}), path(&annotations.SourceRange{InvalidDeny: "bad"})}),
		},
		{
			name: "a denied route with the port's deny list: deny only",
			s:    snap(nil, []snapshot.Path{path(both), path(&annotations.SourceRange{Deny: []string{"198.18.0.2/32"}, InvalidAllow: "bad"})}),
			want: map[uint16]SourceLists{80: {Deny: []netip.Prefix{pfx("198.18.0.2/32")}}, 443: {Deny: []netip.Prefix{pfx("198.18.0.2/32")}}},
		},
		{
			name: "satisfy any with authentication: credentials admit other sources, lists stay in L7",
			s: func() *snapshot.Snapshot {
				s := snap(nil, []snapshot.Path{path(allowA)})
				s.Servers[0].Paths[0].Backend.Proxy.Auth = &annotations.Auth{SatisfyAny: true, Basic: &annotations.BasicAuth{}}
				return s
			}(),
		},
		{
			name: "satisfy all with authentication: the list is enforced",
			s: func() *snapshot.Snapshot {
				s := snap(nil, []snapshot.Path{path(denyD)})
				s.Servers[0].Paths[0].Backend.Proxy.Auth = &annotations.Auth{Basic: &annotations.BasicAuth{}}
				return s
			}(),
			want: map[uint16]SourceLists{80: {Deny: []netip.Prefix{pfx("198.18.0.2/32")}}, 443: {Deny: []netip.Prefix{pfx("198.18.0.2/32")}}},
		},
		{
			name: "use-forwarded-headers: the packet source is the proxy's, lists stay in L7",
			s: func() *snapshot.Snapshot {
				s := snap(nil, []snapshot.Path{path(both)})
				s.Global.UseForwardedHeaders = true
				return s
			}(),
		},
		{
			name: "use-proxy-protocol: lists stay in L7",
			s: func() *snapshot.Snapshot {
				s := snap(nil, []snapshot.Path{path(both)})
				s.Global.UseProxyProtocol = true
				return s
			}(),
		},
		{
			name: "enable-real-ip: lists stay in L7",
			s: func() *snapshot.Snapshot {
				s := snap(nil, []snapshot.Path{path(both)})
				s.Global.EnableRealIP = true
				return s
			}(),
		},
		{
			name: "both lists everywhere",
			s:    snap(nil, []snapshot.Path{path(both)}),
			want: map[uint16]SourceLists{
				80:  {Allow: []netip.Prefix{pfx("10.0.0.0/8")}, Deny: []netip.Prefix{pfx("198.18.0.2/32")}},
				443: {Allow: []netip.Prefix{pfx("10.0.0.0/8")}, Deny: []netip.Prefix{pfx("198.18.0.2/32")}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := PortSourceLists(tc.s, ports)
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestWithSourceLists(t *testing.T) {
	t.Parallel()
	ls := []Listener{
		{Addr: netip.MustParseAddrPort("0.0.0.0:80")},
		{Addr: netip.MustParseAddrPort("[::]:80")},
		{Addr: netip.MustParseAddrPort("0.0.0.0:443"), Deny: []netip.Prefix{netip.MustParsePrefix("1.0.0.0/8")}},
	}
	d := []netip.Prefix{netip.MustParsePrefix("198.18.0.2/32")}
	got := WithSourceLists(ls, map[uint16]SourceLists{80: {Deny: d}})
	want := []Listener{
		{Addr: ls[0].Addr, Deny: d},
		{Addr: ls[1].Addr, Deny: d},
		{Addr: ls[2].Addr},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }), cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

package datapath

import (
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"sync"

	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// SourceLists are the source prefixes the XDP program enforces on one
// listener port. Nil lists mean none.
type SourceLists struct {
	// Allow, when not empty, is the only sources let through.
	Allow []netip.Prefix
	// Deny sources are dropped, before Allow is looked at.
	Deny []netip.Prefix
}

// PortSourceLists decides which source lists of s the XDP program can
// enforce on each of ports, so that those sources are dropped before the
// kernel stack. Weir serves every host on every listener port, so a list
// covers a whole port only when every route of s (every Path, canaries
// included, and the DefaultBackend) carries the same non-empty allow list,
// or the same non-empty deny list (compared as sets). Otherwise the list is
// left to L7, which enforces every list anyway. A route denied because its
// list did not parse (SourceRange.Denied) has no list of that kind, so it
// never yields a whole-port allow list: XDP only ever drops, and L7 answers
// the denied route 503. A route under satisfy any with authentication has
// no list either (see xdpRange). When the client address is not the packet's
// source (the Global settings turn real IP on: use-forwarded-headers,
// use-proxy-protocol or enable-real-ip), every list is left to L7, which
// judges the address the real-IP rules compute: XDP would judge the
// balancer's. A Snapshot with no route yields no lists. Ports with nothing
// to enforce are absent from the map; a nil s yields nil.
func PortSourceLists(s *snapshot.Snapshot, ports []uint16) map[uint16]SourceLists {
	if s == nil || s.Global.RealIP() {
		return nil
	}
	var ranges []*annotations.SourceRange
	for _, srv := range s.Servers {
		for _, p := range srv.Paths {
			ranges = append(ranges, xdpRange(&p.Backend.Proxy))
			for _, c := range p.Canaries {
				ranges = append(ranges, xdpRange(&c.Backend.Proxy))
			}
		}
	}
	if s.DefaultBackend != nil {
		ranges = append(ranges, xdpRange(&s.DefaultBackend.Proxy))
	}
	if len(ranges) == 0 {
		return nil
	}
	list := func(of func(*annotations.SourceRange) []string) []netip.Prefix {
		var first []netip.Prefix
		for i, sr := range ranges {
			if sr == nil {
				return nil
			}
			got := prefixSet(of(sr))
			if len(got) == 0 {
				return nil
			}
			if i == 0 {
				first = got
			} else if !slices.Equal(first, got) {
				return nil
			}
		}
		return first
	}
	sl := SourceLists{
		Allow: list(func(sr *annotations.SourceRange) []string { return sr.Allow }),
		Deny:  list(func(sr *annotations.SourceRange) []string { return sr.Deny }),
	}
	if sl.Allow == nil && sl.Deny == nil {
		return nil
	}
	out := make(map[uint16]SourceLists, len(ports))
	for _, port := range ports {
		out[port] = sl
	}
	return out
}

// xdpRange is the SourceRange of a route that XDP may enforce: none under
// satisfy any with authentication, where valid credentials admit a source
// the lists refuse.
func xdpRange(p *annotations.Proxy) *annotations.SourceRange {
	if a := p.Auth; a != nil && a.SatisfyAny && (a.Basic != nil || a.External != nil) {
		return nil
	}
	return p.SourceRange
}

// prefixSet parses normalised prefixes into a sorted, de-duplicated set;
// entries that do not parse (the annotations package never writes one) are
// skipped.
func prefixSet(in []string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range in {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return slices.Compact(out)
}

// WithSourceLists returns a copy of ls whose Allow and Deny are those of
// their port in lists (none for a port absent from lists).
func WithSourceLists(ls []Listener, lists map[uint16]SourceLists) []Listener {
	out := make([]Listener, len(ls))
	for i, l := range ls {
		sl := lists[l.Addr.Port()]
		out[i] = Listener{Addr: l.Addr, Allow: sl.Allow, Deny: sl.Deny}
	}
	return out
}

// SourceListPublisher is a controller.Publisher that fills the XDP source
// lists of each listener port from each new Snapshot: only the lists that
// cover the whole port (PortSourceLists); L7 enforces every list anyway.
// A Snapshot applied before Attach is kept and applied by Attach. The zero
// value is ready to use and logs nothing.
type SourceListPublisher struct {
	// Log receives a line each time the lists in the maps change, and the
	// error of Attach. Nil means none.
	Log *slog.Logger

	mu        sync.Mutex
	dp        *Datapath  // nil until Attach
	listeners []Listener // without lists
	last      *snapshot.Snapshot
	applied   map[uint16]SourceLists
}

// Apply implements controller.Publisher.
func (f *SourceListPublisher) Apply(s *snapshot.Snapshot) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = s
	return f.sync()
}

// Attach makes f fill the source lists of listeners (given without lists)
// on dp, starting with the last Snapshot applied.
func (f *SourceListPublisher) Attach(dp *Datapath, listeners []Listener) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dp, f.listeners = dp, listeners
	if err := f.sync(); err != nil && f.Log != nil {
		f.Log.Error("set XDP source lists", "error", err)
	}
}

// Detach makes f stop filling the maps of the Datapath given to Attach (one
// about to be closed); it keeps the last Snapshot for the next Attach.
func (f *SourceListPublisher) Detach() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dp, f.listeners = nil, nil
}

func (f *SourceListPublisher) sync() error {
	if f.dp == nil || f.last == nil {
		return nil
	}
	var ports []uint16
	for _, l := range f.listeners {
		if !slices.Contains(ports, l.Addr.Port()) {
			ports = append(ports, l.Addr.Port())
		}
	}
	lists := PortSourceLists(f.last, ports)
	if err := f.dp.SetListeners(WithSourceLists(f.listeners, lists)); err != nil {
		return fmt.Errorf("set xdp source lists of version %d: %w", f.last.Version, err)
	}
	if f.Log != nil && !maps.EqualFunc(lists, f.applied, func(a, b SourceLists) bool {
		return slices.Equal(a.Allow, b.Allow) && slices.Equal(a.Deny, b.Deny)
	}) {
		f.Log.Info("XDP source lists set: whole-port lists are dropped before the kernel stack; the others stay in L7",
			"version", f.last.Version, "lists", fmt.Sprint(lists))
	}
	f.applied = lists
	return nil
}

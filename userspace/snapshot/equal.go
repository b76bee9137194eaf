package snapshot

import "reflect"

// Equal reports whether s and o route identically: same Host, UseRegex and
// Paths (backends, endpoints, proxy settings and canaries included).
//
// Snapshots are immutable, so two Servers whose Paths share one backing
// array are equal without comparing them: that is the case of a Server
// carried from one Snapshot to the next without a change, and it makes Equal
// O(1) there. Otherwise it compares deeply (about 0.5 µs for a one-path
// Server).
func (s *Server) Equal(o *Server) bool {
	if s == o {
		return true
	}
	if s == nil || o == nil || s.Host != o.Host || s.UseRegex != o.UseRegex || len(s.Paths) != len(o.Paths) {
		return false
	}
	if len(s.Paths) == 0 || &s.Paths[0] == &o.Paths[0] {
		return true
	}
	return reflect.DeepEqual(s.Paths, o.Paths)
}

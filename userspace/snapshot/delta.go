package snapshot

import (
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/weir-lb/weir/userspace/annotations"
)

// ErrBaseMismatch is wrapped by Delta.Apply when the Snapshot it is given is
// not the one the Delta was computed from.
var ErrBaseMismatch = errors.New("delta base mismatch")

// Delta is what turns one Snapshot (the base) into the next: the Servers
// that are new or changed, the hosts that are gone, and the other fields
// only when they changed. Diff computes it and Apply replays it. It is plain
// data; the supervisor sends it to its workers as JSON, so that a worker
// decodes only what changed and keeps its unchanged Servers (and so their
// Paths, which makes Server.Equal O(1) when it compiles).
//
// A field X whose XChanged flag is false is not carried (zero) and Apply
// keeps the base's.
type Delta struct {
	// Version and Hash are those of the next Snapshot.
	Version uint64 `json:"version"`
	Hash    string `json:"hash"`
	// BaseVersion and BaseHash are those of the base Snapshot; Apply
	// refuses any other.
	BaseVersion uint64 `json:"baseVersion"`
	BaseHash    string `json:"baseHash"`
	// Servers are the Servers of the next Snapshot that the base lacks or
	// holds differently (by Host, then Server.Equal), in the next
	// Snapshot's order. Nil means none.
	Servers []Server `json:"servers,omitempty"`
	// Removed are the hosts of the base's Servers that the next Snapshot
	// lacks, in the base's order. Nil means none.
	Removed []string `json:"removed,omitempty"`

	// DefaultBackend and DefaultCanaries, when DefaultBackendChanged, are
	// the next Snapshot's: either changed.
	DefaultBackendChanged bool     `json:"defaultBackendChanged,omitempty"`
	DefaultBackend        *Backend `json:"defaultBackend,omitempty"`
	DefaultCanaries       []Canary `json:"defaultCanaries,omitempty"`
	DefaultServiceChanged bool     `json:"defaultServiceChanged,omitempty"`
	DefaultService        *Backend `json:"defaultService,omitempty"`

	// Certificates, when CertificatesChanged, are the certificates of the
	// next Snapshot that the base lacks or holds differently (by Secret),
	// in the next Snapshot's order; CertificatesRemoved the Secrets of the
	// base's certificates that the next lacks. A renewed certificate among
	// thousands is one entry, not all of them.
	CertificatesChanged bool          `json:"certificatesChanged,omitempty"`
	Certificates        []Certificate `json:"certificates,omitempty"`
	CertificatesRemoved []ObjectRef   `json:"certificatesRemoved,omitempty"`

	// DefaultCertificate and DefaultCertificateHosts, when
	// DefaultCertificateChanged, are the next Snapshot's: either changed.
	DefaultCertificateChanged bool         `json:"defaultCertificateChanged,omitempty"`
	DefaultCertificate        *Certificate `json:"defaultCertificate,omitempty"`
	DefaultCertificateHosts   []string     `json:"defaultCertificateHosts,omitempty"`

	GlobalChanged bool               `json:"globalChanged,omitempty"`
	Global        annotations.Global `json:"global,omitzero"`
	// HSTS, when HSTSChanged, is the next Snapshot's.
	HSTSChanged bool   `json:"hstsChanged,omitempty"`
	HSTS        string `json:"hsts,omitempty"`

	// Streams, when StreamsChanged, are all the next Snapshot's: a
	// handful, sent whole.
	StreamsChanged bool     `json:"streamsChanged,omitempty"`
	Streams        []Stream `json:"streams,omitempty"`

	WarningsChanged bool      `json:"warningsChanged,omitempty"`
	Warnings        []Warning `json:"warnings,omitempty"`
}

// Diff returns the Delta from base to next, both non-nil and with Servers
// sorted as Build sorts them (CompareHosts). It costs one Server.Equal per
// host present in both: O(1) for a Server carried over unchanged, a deep
// compare otherwise (about 0.5 µs for a one-path Server). The Delta shares
// next's Servers, Certificates and Warnings; like Snapshots, it is immutable.
func Diff(base, next *Snapshot) *Delta {
	d := &Delta{Version: next.Version, Hash: next.Hash, BaseVersion: base.Version, BaseHash: base.Hash}
	var removed []*Server
	d.Servers, removed = diffSorted(base.Servers, next.Servers, compareServers, (*Server).Equal)
	for _, r := range removed {
		d.Removed = append(d.Removed, r.Host)
	}
	if !reflect.DeepEqual(base.DefaultBackend, next.DefaultBackend) || !reflect.DeepEqual(base.DefaultCanaries, next.DefaultCanaries) {
		d.DefaultBackendChanged, d.DefaultBackend, d.DefaultCanaries = true, next.DefaultBackend, next.DefaultCanaries
	}
	if !reflect.DeepEqual(base.DefaultService, next.DefaultService) {
		d.DefaultServiceChanged, d.DefaultService = true, next.DefaultService
	}
	certs, removedCerts := diffSorted(base.Certificates, next.Certificates, compareCerts, (*Certificate).equal)
	if len(certs) > 0 || len(removedCerts) > 0 || (base.Certificates == nil) != (next.Certificates == nil) {
		d.CertificatesChanged, d.Certificates = true, certs
		for _, r := range removedCerts {
			d.CertificatesRemoved = append(d.CertificatesRemoved, r.Secret)
		}
	}
	if !reflect.DeepEqual(base.DefaultCertificate, next.DefaultCertificate) || !slices.Equal(base.DefaultCertificateHosts, next.DefaultCertificateHosts) {
		d.DefaultCertificateChanged, d.DefaultCertificate, d.DefaultCertificateHosts = true, next.DefaultCertificate, next.DefaultCertificateHosts
	}
	if !reflect.DeepEqual(base.Global, next.Global) {
		d.GlobalChanged, d.Global = true, next.Global
	}
	if base.HSTS != next.HSTS {
		d.HSTSChanged, d.HSTS = true, next.HSTS
	}
	if !reflect.DeepEqual(base.Streams, next.Streams) {
		d.StreamsChanged, d.Streams = true, next.Streams
	}
	if !reflect.DeepEqual(base.Warnings, next.Warnings) {
		d.WarningsChanged, d.Warnings = true, next.Warnings
	}
	return d
}

// Apply returns the Snapshot d was computed to: base's Servers that d
// neither removes nor replaces (the same Server values, sharing their
// Paths) merged with d's Servers in CompareHosts order, and base's other
// fields unless d changes them. Its Servers are never nil. base is not
// modified.
//
// Apply refuses, wrapping ErrBaseMismatch, a base whose Version or Hash is
// not d's BaseVersion and BaseHash; and, with another error, a Delta that
// does not fit its base (a removed host the base lacks, Servers out of
// order).
func (d *Delta) Apply(base *Snapshot) (*Snapshot, error) {
	if base.Version != d.BaseVersion || base.Hash != d.BaseHash {
		return nil, fmt.Errorf("apply delta to version %d: base is version %d (hash %.12s), the delta's is version %d (hash %.12s): %w",
			d.Version, base.Version, base.Hash, d.BaseVersion, d.BaseHash, ErrBaseMismatch)
	}
	servers, err := mergeSorted(base.Servers, d.Servers, d.Removed, func(s *Server) string { return s.Host }, compareServers)
	if err != nil {
		return nil, fmt.Errorf("apply delta of version %d to version %d: servers: %w", d.Version, base.Version, err)
	}
	if servers == nil {
		servers = []Server{}
	}
	s := &Snapshot{
		Version:                 d.Version,
		Hash:                    d.Hash,
		Servers:                 servers,
		DefaultBackend:          base.DefaultBackend,
		DefaultCanaries:         base.DefaultCanaries,
		DefaultService:          base.DefaultService,
		Certificates:            base.Certificates,
		DefaultCertificate:      base.DefaultCertificate,
		DefaultCertificateHosts: base.DefaultCertificateHosts,
		Global:                  base.Global,
		HSTS:                    base.HSTS,
		Streams:                 base.Streams,
		Warnings:                base.Warnings,
	}
	if d.DefaultBackendChanged {
		s.DefaultBackend, s.DefaultCanaries = d.DefaultBackend, d.DefaultCanaries
	}
	if d.DefaultServiceChanged {
		s.DefaultService = d.DefaultService
	}
	if d.CertificatesChanged {
		certs, err := mergeSorted(base.Certificates, d.Certificates, d.CertificatesRemoved,
			func(c *Certificate) ObjectRef { return c.Secret }, compareCerts)
		if err != nil {
			return nil, fmt.Errorf("apply delta of version %d to version %d: certificates: %w", d.Version, base.Version, err)
		}
		s.Certificates = certs
	}
	if d.DefaultCertificateChanged {
		s.DefaultCertificate, s.DefaultCertificateHosts = d.DefaultCertificate, d.DefaultCertificateHosts
	}
	if d.GlobalChanged {
		s.Global = d.Global
	}
	if d.HSTSChanged {
		s.HSTS = d.HSTS
	}
	if d.StreamsChanged {
		s.Streams = d.Streams
	}
	if d.WarningsChanged {
		s.Warnings = d.Warnings
	}
	return s, nil
}

// diffSorted walks base and next, both sorted by cmp, and returns the
// elements of next that base lacks or holds differently (not equal), in
// next's order, and those of base that next lacks.
func diffSorted[T any](base, next []T, cmp func(a, b *T) int, equal func(a, b *T) bool) (changed []T, removed []*T) {
	i, j := 0, 0
	for i < len(base) || j < len(next) {
		switch c := compareAt(base, i, next, j, cmp); {
		case c < 0:
			removed = append(removed, &base[i])
			i++
		case c > 0:
			changed = append(changed, next[j])
			j++
		default:
			if !equal(&next[j], &base[i]) {
				changed = append(changed, next[j])
			}
			i++
			j++
		}
	}
	return changed, removed
}

// mergeSorted is the inverse of diffSorted: base without the elements
// whose key is in removed (in base's order), merged with changed (which
// replace base's equal-ranked elements), all sorted by cmp. It fails when
// removed or changed do not fit base.
func mergeSorted[T any, K comparable](base, changed []T, removed []K, key func(*T) K, cmp func(a, b *T) int) ([]T, error) {
	var out []T
	if n := len(base) + len(changed) - len(removed); n > 0 {
		out = make([]T, 0, n)
	}
	i, j, k := 0, 0, 0
	for i < len(base) || j < len(changed) {
		if i < len(base) && k < len(removed) && key(&base[i]) == removed[k] {
			i++
			k++
			continue
		}
		c := compareAt(base, i, changed, j, cmp)
		if c < 0 {
			out = append(out, base[i])
			i++
			continue
		}
		if j > 0 && cmp(&changed[j-1], &changed[j]) >= 0 {
			return nil, fmt.Errorf("%s after %s: out of order", quote(key(&changed[j])), quote(key(&changed[j-1])))
		}
		out = append(out, changed[j])
		j++
		if c == 0 {
			i++
		}
	}
	if k < len(removed) {
		return nil, fmt.Errorf("removed %s is not in the base (or not in its order)", quote(removed[k]))
	}
	return out, nil
}

// compareServers orders Servers as Build does (CompareHosts).
func compareServers(a, b *Server) int { return CompareHosts(a.Host, b.Host) }

// compareCerts orders certificates as Build does: by the Secret
// (CompareSecrets).
func compareCerts(a, b *Certificate) int { return CompareSecrets(a.Secret, b.Secret) }

// CompareSecrets orders Secrets as Snapshot.Certificates are ordered: by
// "namespace/name", compared without building those strings (a merge of 10 000
// certificates compares as many).
func CompareSecrets(x, y ObjectRef) int {
	if x.Namespace == y.Namespace {
		return strings.Compare(x.Name, y.Name)
	}
	at := func(r ObjectRef, i int) int { // byte i of "namespace/name", -1 past its end
		switch {
		case i < len(r.Namespace):
			return int(r.Namespace[i])
		case i == len(r.Namespace):
			return '/'
		case i-len(r.Namespace)-1 < len(r.Name):
			return int(r.Name[i-len(r.Namespace)-1])
		}
		return -1
	}
	for i := 0; ; i++ {
		c, d := at(x, i), at(y, i)
		if c != d || c < 0 {
			return cmp.Compare(c, d)
		}
	}
}

// compareAt compares a[i] and b[j] for a merge of two lists sorted by cmp;
// an exhausted list's side sorts last.
func compareAt[T any](a []T, i int, b []T, j int, cmp func(a, b *T) int) int {
	switch {
	case i == len(a):
		return 1
	case j == len(b):
		return -1
	}
	return cmp(&a[i], &b[j])
}

// quote names a host or an object in a message: "b.test", "ns/name".
func quote(k any) string {
	if r, ok := k.(ObjectRef); ok {
		k = r.Namespace + "/" + r.Name
	}
	return fmt.Sprintf("%q", k)
}

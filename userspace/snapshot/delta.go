package snapshot

import (
	"errors"
	"fmt"
	"reflect"
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

	DefaultBackendChanged bool     `json:"defaultBackendChanged,omitempty"`
	DefaultBackend        *Backend `json:"defaultBackend,omitempty"`

	CertificatesChanged bool          `json:"certificatesChanged,omitempty"`
	Certificates        []Certificate `json:"certificates,omitempty"`

	DefaultCertificateChanged bool         `json:"defaultCertificateChanged,omitempty"`
	DefaultCertificate        *Certificate `json:"defaultCertificate,omitempty"`

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
	bs, ns := base.Servers, next.Servers
	i, j := 0, 0
	for i < len(bs) || j < len(ns) {
		switch c := compareAt(bs, i, ns, j); {
		case c < 0:
			d.Removed = append(d.Removed, bs[i].Host)
			i++
		case c > 0:
			d.Servers = append(d.Servers, ns[j])
			j++
		default:
			if !ns[j].Equal(&bs[i]) {
				d.Servers = append(d.Servers, ns[j])
			}
			i++
			j++
		}
	}
	if !reflect.DeepEqual(base.DefaultBackend, next.DefaultBackend) {
		d.DefaultBackendChanged, d.DefaultBackend = true, next.DefaultBackend
	}
	if !reflect.DeepEqual(base.Certificates, next.Certificates) {
		d.CertificatesChanged, d.Certificates = true, next.Certificates
	}
	if !reflect.DeepEqual(base.DefaultCertificate, next.DefaultCertificate) {
		d.DefaultCertificateChanged, d.DefaultCertificate = true, next.DefaultCertificate
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
	bs, ds, removed := base.Servers, d.Servers, d.Removed
	servers := make([]Server, 0, len(bs)+len(ds))
	i, j, k := 0, 0, 0
	for i < len(bs) || j < len(ds) {
		if i < len(bs) && k < len(removed) && bs[i].Host == removed[k] {
			i++
			k++
			continue
		}
		c := compareAt(bs, i, ds, j)
		if c < 0 {
			servers = append(servers, bs[i])
			i++
			continue
		}
		if j > 0 && CompareHosts(ds[j-1].Host, ds[j].Host) >= 0 {
			return nil, fmt.Errorf("apply delta to version %d: server %q after %q: out of order", d.Version, ds[j].Host, ds[j-1].Host)
		}
		servers = append(servers, ds[j])
		j++
		if c == 0 {
			i++
		}
	}
	if k < len(removed) {
		return nil, fmt.Errorf("apply delta to version %d: removed host %q is not a server of version %d (or not in its order)",
			d.Version, removed[k], base.Version)
	}
	s := &Snapshot{
		Version:            d.Version,
		Hash:               d.Hash,
		Servers:            servers,
		DefaultBackend:     base.DefaultBackend,
		Certificates:       base.Certificates,
		DefaultCertificate: base.DefaultCertificate,
		Warnings:           base.Warnings,
	}
	if d.DefaultBackendChanged {
		s.DefaultBackend = d.DefaultBackend
	}
	if d.CertificatesChanged {
		s.Certificates = d.Certificates
	}
	if d.DefaultCertificateChanged {
		s.DefaultCertificate = d.DefaultCertificate
	}
	if d.WarningsChanged {
		s.Warnings = d.Warnings
	}
	return s, nil
}

// compareAt compares the hosts of a[i] and b[j] for a merge of two Server
// lists in CompareHosts order; an exhausted list's side sorts last.
func compareAt(a []Server, i int, b []Server, j int) int {
	switch {
	case i == len(a):
		return 1
	case j == len(b):
		return -1
	}
	return CompareHosts(a[i].Host, b[j].Host)
}

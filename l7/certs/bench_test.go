package certs

import (
	"fmt"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// snapshots10k returns a Snapshot of 10 000 certificates (one Secret and
// host each, the same material, as the cluster benchmark's) and a function
// giving the next one as a worker derives it from a Delta: a new
// Certificates slice in which one certificate moved to another host.
func snapshots10k(b *testing.B) (*snapshot.Snapshot, func(i int) *snapshot.Snapshot) {
	ca := certstest.NewCA(b)
	crt, key := ca.Issue(b, "*.bench.example")
	digest := snapshot.MaterialDigest(crt, key)
	s := &snapshot.Snapshot{Version: 1}
	for i := range 10000 {
		s.Certificates = append(s.Certificates, snapshot.Certificate{
			Secret: snapshot.ObjectRef{Kind: "Secret", Namespace: "bench", Name: fmt.Sprintf("tls-ing-%05d", i)},
			Hosts:  []string{fmt.Sprintf("h%d.bench.example", i)}, CertPEM: crt, KeyPEM: key, Digest: digest,
		})
	}
	prev := s
	return s, func(i int) *snapshot.Snapshot {
		next := *prev
		next.Version++
		next.Certificates = slices.Clone(prev.Certificates)
		n := i % len(next.Certificates)
		next.Certificates[n].Hosts = []string{fmt.Sprintf("moved-%d.bench.example", i)}
		prev = &next
		return prev
	}
}

// applyMoved times apply on the Snapshots of snapshots10k, the first one
// applied before the timer starts.
func applyMoved(b *testing.B, apply func(*snapshot.Snapshot) error) {
	s, next := snapshots10k(b)
	if err := apply(s); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if err := apply(next(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkManagerApply10kOneMoved times a worker's certs.Manager.Apply of
// a Snapshot whose 10 000 certificates are the previous one's but for one
// host moved.
func BenchmarkManagerApply10kOneMoved(b *testing.B) {
	m, err := NewManager(Options{})
	if err != nil {
		b.Fatal(err)
	}
	applyMoved(b, m.Apply)
}

// BenchmarkExpiryApply10kOneMoved times Expiry.Apply (the supervisor's
// certificate metrics) on the same Snapshots.
func BenchmarkExpiryApply10kOneMoved(b *testing.B) {
	applyMoved(b, NewExpiry(prometheus.NewRegistry()).Apply)
}

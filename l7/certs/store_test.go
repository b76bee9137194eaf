package certs

import (
	"crypto/tls"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/userspace/snapshot"
)

func cert(tb testing.TB, ca *certstest.CA, secret string, hosts []string, sans ...string) snapshot.Certificate {
	tb.Helper()
	crt, key := ca.Issue(tb, sans...)
	return snapshot.Certificate{
		Secret: snapshot.ObjectRef{Kind: "Secret", Namespace: "default", Name: secret},
		Hosts:  hosts, CertPEM: crt, KeyPEM: key,
	}
}

func cn(c *tls.Certificate) string {
	if c == nil || c.Leaf == nil {
		return "<nil>"
	}
	return c.Leaf.Subject.CommonName
}

func TestStoreSelect(t *testing.T) {
	t.Parallel()
	ca := certstest.NewCA(t)
	fallback, err := SelfSigned(FallbackCommonName)
	if err != nil {
		t.Fatal(err)
	}
	def := cert(t, ca, "default", nil, "default.example.com")
	s := &snapshot.Snapshot{
		Certificates: []snapshot.Certificate{
			// a's SANs also cover shared.example.com, and a comes first: the
			// exact spec.tls host of b must still win.
			cert(t, ca, "a", []string{"a.example.com", "e.w.example.com"}, "a.example.com", "a2.example.com", "shared.example.com", "e.w.example.com"),
			cert(t, ca, "b", []string{"shared.example.com"}, "b.example.com", "shared.example.com"),
			cert(t, ca, "w", []string{"*.w.example.com"}, "*.w.example.com"),
		},
		DefaultCertificate: &def,
	}
	withDefault, errs := NewStore(s, fallback, nil)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	noDefault, _ := NewStore(&snapshot.Snapshot{Certificates: s.Certificates}, fallback, nil)

	tests := []struct {
		name, sni, want, wantNoDefault string
	}{
		{"exact host", "a.example.com", "a.example.com", "a.example.com"},
		{"exact host any case, trailing dot", "A.Example.COM.", "a.example.com", "a.example.com"},
		{"exact beats x509", "shared.example.com", "b.example.com", "b.example.com"},
		// The Snapshot lists every host a certificate serves, as
		// ingress-nginx's Lua finds one by host name only: a name no
		// certificate lists gets the default, whatever SANs cover it.
		{"x509 SAN without host", "a2.example.com", "default.example.com", FallbackCommonName},
		{"wildcard host", "q.w.example.com", "*.w.example.com", "*.w.example.com"},
		{"wildcard host any case", "Q.W.example.com", "*.w.example.com", "*.w.example.com"},
		{"exact beats wildcard host", "e.w.example.com", "a.example.com", "a.example.com"},
		{"wildcard is one label", "p.q.w.example.com", "default.example.com", FallbackCommonName},
		{"unknown host", "unknown.example.com", "default.example.com", FallbackCommonName},
		{"no SNI", "", "default.example.com", FallbackCommonName},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := cn(withDefault.Select(tc.sni)); got != tc.want {
				t.Errorf("Select(%q) = %s, want %s", tc.sni, got, tc.want)
			}
			if got := cn(noDefault.Select(tc.sni)); got != tc.wantNoDefault {
				t.Errorf("without default: Select(%q) = %s, want %s", tc.sni, got, tc.wantNoDefault)
			}
		})
	}
}

func TestStoreBadCertificate(t *testing.T) {
	t.Parallel()
	ca := certstest.NewCA(t)
	good := cert(t, ca, "good", []string{"good.example.com"}, "good.example.com")
	bad := cert(t, ca, "bad", []string{"bad.example.com"}, "bad.example.com")
	bad.KeyPEM = good.KeyPEM // mismatched pair
	fallback, err := SelfSigned(FallbackCommonName)
	if err != nil {
		t.Fatal(err)
	}
	st, errs := NewStore(&snapshot.Snapshot{Certificates: []snapshot.Certificate{bad, good}}, fallback, nil)
	if len(errs) != 1 {
		t.Fatalf("NewStore errors = %v, want one for default/bad", errs)
	}
	if got := cn(st.Select("bad.example.com")); got != FallbackCommonName {
		t.Errorf("Select(bad) = %s, want the fallback", got)
	}
	if got := cn(st.Select("good.example.com")); got != "good.example.com" {
		t.Errorf("Select(good) = %s, want good.example.com", got)
	}
}

func TestStoreReusedForTheSameCertificates(t *testing.T) {
	t.Parallel()
	ca := certstest.NewCA(t)
	good := cert(t, ca, "good", []string{"good.example.com"}, "good.example.com")
	bad := cert(t, ca, "bad", []string{"bad.example.com"}, "bad.example.com")
	bad.KeyPEM = good.KeyPEM
	fallback, err := SelfSigned(FallbackCommonName)
	if err != nil {
		t.Fatal(err)
	}
	s1 := &snapshot.Snapshot{Version: 1, Certificates: []snapshot.Certificate{bad, good}}
	st1, _ := NewStore(s1, fallback, nil)

	// A Snapshot carrying the same Certificates slice (as Delta.Apply
	// makes it) reuses the Store, and its load errors.
	s2 := *s1
	s2.Version = 2
	st2, errs := NewStore(&s2, fallback, st1)
	if st2 != st1 || len(errs) != 1 {
		t.Fatalf("same certificates: new Store %v (want the previous one), errors %v (want one)", st2 != st1, errs)
	}
	// Equal but separate material is a new Store, its certificates reused.
	s3 := &snapshot.Snapshot{Version: 3, Certificates: []snapshot.Certificate{good}}
	st3, errs := NewStore(s3, fallback, st2)
	if st3 == st2 || len(errs) != 0 {
		t.Fatalf("other certificates: Store reused %v, errors %v", st3 == st2, errs)
	}
	if st3.Select("good.example.com") != st1.Select("good.example.com") {
		t.Error("unchanged certificate parsed again instead of reused")
	}
	if got := cn(st3.Select("bad.example.com")); got != FallbackCommonName {
		t.Errorf("Select(bad) after its removal = %s, want the fallback", got)
	}
}

// TestStoreMovedHosts applies random successions of certificates (hosts
// moved, added, dropped or listed twice, material renewed, the default
// certificate changed), each made from the previous Store, and checks that
// every name selects what a Store made from nothing selects; and that the
// Stores made by moving hosts alone are many.
func TestStoreMovedHosts(t *testing.T) {
	t.Parallel()
	ca := certstest.NewCA(t)
	fallback, err := SelfSigned(FallbackCommonName)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"a.example.com", "b.example.com", "c.example.com", "x.example.com", "A.example.com", "other.net", ""}
	var pems [][2][]byte
	for _, san := range []string{"*.example.com", "a.example.com", "other.net"} {
		crt, key := ca.Issue(t, san)
		pems = append(pems, [2][]byte{crt, key})
	}
	certOf := func(name string, p [2][]byte, hosts []string) snapshot.Certificate {
		return snapshot.Certificate{Secret: snapshot.ObjectRef{Kind: "Secret", Namespace: "default", Name: name}, Hosts: hosts,
			CertPEM: p[0], KeyPEM: p[1], Digest: snapshot.MaterialDigest(p[0], p[1])}
	}
	r := rand.New(rand.NewPCG(5, 6))
	s := &snapshot.Snapshot{Certificates: []snapshot.Certificate{certOf("s0", pems[0], nil), certOf("s1", pems[1], nil), certOf("s2", pems[2], nil)}}
	var st *Store
	moved := 0
	for step := range 300 {
		next := *s
		next.Certificates = slices.Clone(s.Certificates)
		switch r.IntN(8) {
		case 0: // renewed material
			i := r.IntN(len(next.Certificates))
			p := pems[r.IntN(len(pems))]
			next.Certificates[i] = certOf(next.Certificates[i].Secret.Name, p, next.Certificates[i].Hosts)
		case 1: // another default certificate, or none
			if r.IntN(2) == 0 {
				d := certOf("def", pems[r.IntN(len(pems))], nil)
				next.DefaultCertificate = &d
			} else {
				next.DefaultCertificate = nil
			}
		default: // hosts of one certificate, sometimes listed by another too
			i := r.IntN(len(next.Certificates))
			taken := func(h string) bool {
				return slices.ContainsFunc(next.Certificates, func(c snapshot.Certificate) bool { return slices.Contains(c.Hosts, h) })
			}
			var hosts []string
			for _, h := range names[:6] {
				if h = strings.ToLower(h); r.IntN(3) == 0 && (!taken(h) || r.IntN(10) == 0) {
					hosts = append(hosts, h)
				}
			}
			slices.Sort(hosts)
			next.Certificates[i].Hosts = slices.Compact(hosts)
		}
		prevStore := st
		var errs []error
		st, errs = NewStore(&next, fallback, prevStore)
		fresh, _ := NewStore(&next, fallback, nil)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		if prevStore != nil && st != prevStore && st.certs != nil && len(st.certs) > 0 && &st.certs[0] == &prevStore.certs[0] {
			moved++
		}
		for _, n := range names {
			if got, want := st.Select(n), fresh.Select(n); got.Leaf != want.Leaf && (got.Leaf == nil || want.Leaf == nil || !got.Leaf.Equal(want.Leaf)) {
				t.Fatalf("step %d: %q selects %s, a new Store selects %s", step, n, cn(got), cn(want))
			}
		}
		s = &next
	}
	if moved < 100 {
		t.Errorf("%d of 300 Stores made by moving hosts, want most", moved)
	}
}

package certs

import (
	"crypto/tls"
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
			cert(t, ca, "a", []string{"a.example.com"}, "a.example.com", "a2.example.com", "shared.example.com"),
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
		{"x509 SAN", "a2.example.com", "a.example.com", "a.example.com"},
		{"x509 wildcard", "q.w.example.com", "*.w.example.com", "*.w.example.com"},
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

// TestStoreSANIndexMatchesVerifyHostname checks that the SAN index picks
// what a linear scan with x509 VerifyHostname picks: the first valid
// certificate in Snapshot order.
func TestStoreSANIndexMatchesVerifyHostname(t *testing.T) {
	t.Parallel()
	ca := certstest.NewCA(t)
	fallback, err := SelfSigned(FallbackCommonName)
	if err != nil {
		t.Fatal(err)
	}
	s := &snapshot.Snapshot{Certificates: []snapshot.Certificate{
		cert(t, ca, "c0", nil, "*.example.com", "x.other.com"),
		cert(t, ca, "c1", nil, "a.example.com", "*.other.com", "Upper.Example.org"),
		cert(t, ca, "c2", nil, "b.b.example.com", "*.b.example.com", "127.0.0.1", "::1"),
		cert(t, ca, "c3", nil, "*.example.com", "example.com"),
	}}
	st, errs := NewStore(s, fallback, nil)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	names := []string{
		"a.example.com", "z.example.com", "example.com", "b.b.example.com", "c.b.example.com",
		"x.other.com", "y.other.com", "other.com", "upper.example.org", "a.b.c.example.com",
		"127.0.0.1", "::1", "[::1]", "127.0.0.2", "nothing.test", "*.example.com", "com",
	}
	for _, name := range names {
		want := fallback
		for _, c := range st.certs {
			if c.Leaf.VerifyHostname(name) == nil {
				want = c
				break
			}
		}
		if got := st.Select(name); got != want {
			t.Errorf("Select(%q) = %s, want %s (linear VerifyHostname)", name, cn(got), cn(want))
		}
	}
}

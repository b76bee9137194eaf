package certs

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/userspace/snapshot"
)

func TestExpiry(t *testing.T) {
	t.Parallel()
	ca := certstest.NewCA(t)
	a := cert(t, ca, "a-tls", []string{"a.example.com", "www.a.example.com"}, "a.example.com", "www.a.example.com")
	b := cert(t, ca, "b-tls", []string{"b.example.com"}, "b.example.com")
	def := cert(t, ca, "default-tls", nil, "default.example.com")
	notAfter := func(c snapshot.Certificate) float64 {
		leaf, err := parseLeaf(c.CertPEM)
		if err != nil {
			t.Fatal(err)
		}
		return float64(leaf.NotAfter.Unix())
	}
	reg := prometheus.NewRegistry()
	e := NewExpiry(reg)
	if err := e.Apply(&snapshot.Snapshot{Certificates: []snapshot.Certificate{a, b}, DefaultCertificate: &def}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		host, secret string
		want         float64
	}{{"a.example.com", "a-tls", notAfter(a)}, {"www.a.example.com", "a-tls", notAfter(a)}, {"b.example.com", "b-tls", notAfter(b)}, {"", "default-tls", notAfter(def)}} {
		if got := testutil.ToFloat64(e.gauge.WithLabelValues(tc.host, "default", tc.secret)); got != tc.want {
			t.Errorf("expiry of %q (%s) = %v, want %v", tc.host, tc.secret, got, tc.want)
		}
	}

	// b's Secret gone, a's hosts reduced: their series go too.
	a.Hosts = []string{"a.example.com"}
	if err := e.Apply(&snapshot.Snapshot{Certificates: []snapshot.Certificate{a}}); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(e.gauge); n != 1 {
		t.Errorf("%d series after b and the default certificate went, want 1", n)
	}

	bad := b
	bad.CertPEM = []byte("not pem")
	if err := e.Apply(&snapshot.Snapshot{Certificates: []snapshot.Certificate{a, bad}}); err == nil || !strings.Contains(err.Error(), "default/b-tls") {
		t.Errorf("Apply with an unreadable chain: err = %v, want one naming default/b-tls", err)
	}
	if n := testutil.CollectAndCount(e.gauge); n != 1 {
		t.Errorf("%d series with one readable certificate, want 1", n)
	}
}

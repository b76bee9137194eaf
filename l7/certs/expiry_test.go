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
	leafOf := func(c snapshot.Certificate) leafInfo {
		leaf, err := parseLeaf(c.CertPEM)
		if err != nil {
			t.Fatal(err)
		}
		return infoOf(leaf)
	}
	reg := prometheus.NewRegistry()
	e := NewExpiry(reg)
	if err := e.Apply(&snapshot.Snapshot{Certificates: []snapshot.Certificate{a, b}, DefaultCertificate: &def}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		host, secret string
		leaf         leafInfo
	}{{"a.example.com", "a-tls", leafOf(a)}, {"www.a.example.com", "a-tls", leafOf(a)}, {"b.example.com", "b-tls", leafOf(b)}, {"", "default-tls", leafOf(def)}} {
		lv := append([]string{tc.host, "default", tc.secret}, tc.leaf.labels[:]...)
		if got := testutil.ToFloat64(e.gauge.WithLabelValues(lv[:4]...)); got != tc.leaf.notAfter {
			t.Errorf("expiry of %q (%s) = %v, want %v", tc.host, tc.secret, got, tc.leaf.notAfter)
		}
		if got := testutil.ToFloat64(e.info.WithLabelValues(lv...)); got != 1 {
			t.Errorf("ssl_certificate_info%v = %v, want 1", lv, got)
		}
	}
	// ingress-nginx's labels: the identifier is the issuer's serialNumber
	// (none here) and the serial; the issuer is the test CA.
	if l := leafOf(a).labels; l[0] != "-"+l[3] || l[2] != "Weir Test CA" || l[4] != "RSA" && l[4] != "ECDSA" && l[4] != "Ed25519" {
		t.Errorf("info labels of a = %q", l)
	}

	// b's Secret gone, a's hosts reduced: their series go too.
	a.Hosts = []string{"a.example.com"}
	if err := e.Apply(&snapshot.Snapshot{Certificates: []snapshot.Certificate{a}}); err != nil {
		t.Fatal(err)
	}
	if n, m := testutil.CollectAndCount(e.gauge), testutil.CollectAndCount(e.info); n != 1 || m != 1 {
		t.Errorf("%d expiry and %d info series after b and the default certificate went, want 1 and 1", n, m)
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

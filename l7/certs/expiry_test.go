package certs

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

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
	// Still served: still reported; gone: not.
	a2 := a
	a2.Hosts = []string{"a2.example.com"}
	if err := e.Apply(&snapshot.Snapshot{Certificates: []snapshot.Certificate{a2, bad}}); err == nil || !strings.Contains(err.Error(), "default/b-tls") {
		t.Errorf("Apply with the unreadable chain still served: err = %v, want one naming default/b-tls", err)
	}
	if err := e.Apply(&snapshot.Snapshot{Certificates: []snapshot.Certificate{a2}}); err != nil {
		t.Errorf("Apply without the unreadable chain: %v", err)
	}
}

// TestExpiryFollowsChanges applies random successions of certificates (added,
// removed, moved to other hosts, renewed, in the Snapshot's order or not)
// and checks that the series are always those a new Expiry gives for the
// same Snapshot.
func TestExpiryFollowsChanges(t *testing.T) {
	t.Parallel()
	ca := certstest.NewCA(t)
	var pems [][2][]byte
	for range 3 {
		crt, key := ca.Issue(t, "x.example.com")
		pems = append(pems, [2][]byte{crt, key})
	}
	r := rand.New(rand.NewPCG(3, 4))
	random := func() *snapshot.Snapshot {
		s := &snapshot.Snapshot{}
		for i := range 6 {
			if r.IntN(3) == 0 {
				continue
			}
			p := pems[r.IntN(len(pems))]
			c := snapshot.Certificate{Secret: snapshot.ObjectRef{Kind: "Secret", Namespace: []string{"a", "a-b"}[i%2], Name: fmt.Sprint("s", i)},
				CertPEM: p[0], KeyPEM: p[1]}
			for h := range 3 {
				if r.IntN(2) == 0 {
					c.Hosts = append(c.Hosts, fmt.Sprintf("h%d.example.com", h))
				}
			}
			s.Certificates = append(s.Certificates, c)
		}
		if r.IntN(4) == 0 {
			slices.Reverse(s.Certificates)
		}
		if r.IntN(2) == 0 {
			p := pems[r.IntN(len(pems))]
			s.DefaultCertificate = &snapshot.Certificate{Secret: snapshot.ObjectRef{Kind: "Secret", Namespace: "a", Name: "def"}, CertPEM: p[0], KeyPEM: p[1]}
		}
		return s
	}
	series := func(e *Expiry) string {
		var out []string
		for _, c := range []prometheus.Collector{e.gauge, e.info} {
			ch := make(chan prometheus.Metric, 100)
			c.Collect(ch)
			close(ch)
			for m := range ch {
				var pb dto.Metric
				if err := m.Write(&pb); err != nil {
					t.Fatal(err)
				}
				out = append(out, pb.String())
			}
		}
		slices.Sort(out)
		return strings.Join(out, "\n")
	}
	e := NewExpiry(prometheus.NewRegistry())
	for step := range 200 {
		s := random()
		if err := e.Apply(s); err != nil {
			t.Fatal(err)
		}
		fresh := NewExpiry(prometheus.NewRegistry())
		if err := fresh.Apply(s); err != nil {
			t.Fatal(err)
		}
		if got, want := series(e), series(fresh); got != want {
			t.Fatalf("step %d: series differ from a new Expiry's:\n got %s\nwant %s", step, got, want)
		}
	}
}

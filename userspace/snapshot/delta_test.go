package snapshot_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// checkDelta asserts that Diff(base, next) applied to base gives next, deep
// equal in memory and JSON-identical after a JSON round trip of base and of
// the Delta (the way a worker gets them), and that the Servers it does not
// carry are base's own values, sharing their Paths. It returns the Delta.
func checkDelta(tb testing.TB, base, next *snapshot.Snapshot) *snapshot.Delta {
	tb.Helper()
	d := snapshot.Diff(base, next)
	got, err := d.Apply(base)
	if err != nil {
		tb.Fatalf("Apply(Diff(base %d, next %d)): %v", base.Version, next.Version, err)
	}
	if !reflect.DeepEqual(next, got) {
		tb.Fatalf("Apply(Diff(base %d, next %d)) (-want +got):\n%s", base.Version, next.Version, cmp.Diff(next, got))
	}
	carried := map[string]bool{}
	for _, s := range d.Servers {
		carried[s.Host] = true
	}
	baseOf := map[string]*snapshot.Server{}
	for i := range base.Servers {
		baseOf[base.Servers[i].Host] = &base.Servers[i]
	}
	for _, s := range got.Servers {
		if b := baseOf[s.Host]; b != nil && !carried[s.Host] && len(s.Paths) > 0 && &s.Paths[0] != &b.Paths[0] {
			tb.Errorf("server %q not in the delta does not share base's Paths", s.Host)
		}
	}

	wire, err := json.Marshal(d)
	if err != nil {
		tb.Fatal(err)
	}
	var dd snapshot.Delta
	if err := json.Unmarshal(wire, &dd); err != nil {
		tb.Fatalf("decode delta: %v", err)
	}
	got, err = dd.Apply(roundTrip(tb, base))
	if err != nil {
		tb.Fatalf("Apply of the decoded delta: %v", err)
	}
	want, _ := json.Marshal(next)
	gotJSON, _ := json.Marshal(got)
	if !bytes.Equal(want, gotJSON) {
		tb.Fatalf("JSON of Apply of the decoded delta (-want +got):\n%s", cmp.Diff(string(want), string(gotJSON)))
	}
	return d
}

func roundTrip(tb testing.TB, s *snapshot.Snapshot) *snapshot.Snapshot {
	tb.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		tb.Fatal(err)
	}
	var out snapshot.Snapshot
	if err := json.Unmarshal(b, &out); err != nil {
		tb.Fatal(err)
	}
	return &out
}

// TestDeltaGoldenPairs: for every ordered pair of golden Snapshots (the same
// one included), Apply(base, Diff(base, next)) is next.
func TestDeltaGoldenPairs(t *testing.T) {
	t.Parallel()
	cases, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no testdata/*.yaml: %v", err)
	}
	snaps := make([]*snapshot.Snapshot, len(cases))
	for i, path := range cases {
		objs, opts := readCase(t, path)
		snaps[i] = snapshot.Build(objs, opts)
		snaps[i].Version = uint64(i + 1)
	}
	for i, base := range snaps {
		for j, next := range snaps {
			name := strings.TrimSuffix(filepath.Base(cases[i]), ".yaml") + "->" + strings.TrimSuffix(filepath.Base(cases[j]), ".yaml")
			t.Run(name, func(t *testing.T) {
				d := checkDelta(t, base, next)
				if i == j && (len(d.Servers) > 0 || len(d.Removed) > 0 || d.DefaultBackendChanged ||
					d.CertificatesChanged || d.DefaultCertificateChanged || d.GlobalChanged || d.WarningsChanged) {
					t.Errorf("Diff of a Snapshot with itself is not empty: %+v", d)
				}
			})
		}
	}
}

// server is a one-path Server of host whose Backend has endpoint.
func server(host, endpoint string) snapshot.Server {
	return snapshot.Server{Host: host, Paths: []snapshot.Path{{
		Path: "/", Match: snapshot.MatchPrefix,
		Backend: snapshot.Backend{
			Ingress: snapshot.ObjectRef{Kind: "Ingress", Namespace: "default", Name: "ing-" + host},
			Service: "svc", Port: "80", Endpoints: []string{endpoint},
			Proxy: annotations.DefaultProxy(),
		},
	}}}
}

// randomHost is an exact, a wildcard or the any-host name.
func randomHost(r *rand.Rand) string {
	switch n := r.IntN(40); {
	case n == 0:
		return ""
	case n < 10:
		return fmt.Sprintf("*.w%d.test", r.IntN(50))
	default:
		return fmt.Sprintf("h%d.test", r.IntN(200))
	}
}

// sorted returns a Snapshot of servers, de-duplicated by host (last wins)
// and sorted as Build does.
func sorted(version uint64, servers []snapshot.Server) *snapshot.Snapshot {
	byHost := map[string]snapshot.Server{}
	for _, s := range servers {
		byHost[s.Host] = s
	}
	out := make([]snapshot.Server, 0, len(byHost))
	for _, s := range byHost {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b snapshot.Server) int { return snapshot.CompareHosts(a.Host, b.Host) })
	return &snapshot.Snapshot{Version: version, Hash: fmt.Sprintf("hash-%d", version), Servers: out}
}

// TestDeltaRandomEdits: random chains of edits (servers added, removed,
// changed or rebuilt unchanged; default backend, certificates and warnings
// changed or not); each step's Delta rebuilds it and carries exactly the
// servers that changed.
func TestDeltaRandomEdits(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	var servers []snapshot.Server
	for range 60 {
		servers = append(servers, server(randomHost(r), "198.18.0.1:80"))
	}
	base := sorted(1, servers)
	for step := range 300 {
		// next is rebuilt from scratch, as Build does: no Paths shared.
		var edits []snapshot.Server
		changed := map[string]bool{}
		for _, s := range base.Servers {
			switch r.IntN(10) {
			case 0: // removed
				changed[s.Host] = true
			case 1: // changed
				edits = append(edits, server(s.Host, fmt.Sprintf("198.18.%d.%d:80", r.IntN(256), r.IntN(256))))
				if edits[len(edits)-1].Paths[0].Backend.Endpoints[0] != s.Paths[0].Backend.Endpoints[0] {
					changed[s.Host] = true
				}
			default: // rebuilt unchanged
				edits = append(edits, server(s.Host, s.Paths[0].Backend.Endpoints[0]))
			}
		}
		for range r.IntN(8) {
			h := randomHost(r)
			if !slices.ContainsFunc(base.Servers, func(s snapshot.Server) bool { return s.Host == h }) &&
				!slices.ContainsFunc(edits, func(s snapshot.Server) bool { return s.Host == h }) {
				edits = append(edits, server(h, "198.18.0.9:80"))
				changed[h] = true
			}
		}
		next := sorted(base.Version+1, edits)
		next.DefaultBackend, next.Certificates, next.DefaultCertificate, next.Warnings =
			base.DefaultBackend, base.Certificates, base.DefaultCertificate, base.Warnings
		if r.IntN(4) == 0 {
			next.DefaultBackend = &snapshot.Backend{Service: fmt.Sprintf("default-%d", r.IntN(3)), Port: "80"}
		}
		if r.IntN(4) == 0 {
			next.DefaultBackend = nil
		}
		if r.IntN(4) == 0 {
			next.Certificates = []snapshot.Certificate{{
				Secret: snapshot.ObjectRef{Kind: "Secret", Name: "tls"}, Hosts: []string{"h1.test"},
				CertPEM: []byte{byte(r.IntN(3))}, KeyPEM: []byte("k"),
			}}
		}
		if r.IntN(4) == 0 {
			next.Certificates = nil
		}
		if r.IntN(4) == 0 {
			next.DefaultCertificate = &snapshot.Certificate{Secret: snapshot.ObjectRef{Kind: "Secret", Name: "default"}, CertPEM: []byte{byte(r.IntN(3))}}
		}
		if r.IntN(4) == 0 {
			next.Warnings = []snapshot.Warning{{Reason: "NoReadyEndpoints", Message: fmt.Sprint(r.IntN(3))}}
		}

		d := checkDelta(t, base, next)
		var got []string
		for _, s := range d.Servers {
			got = append(got, s.Host)
		}
		got = append(got, d.Removed...)
		slices.Sort(got)
		var want []string
		for h := range changed {
			want = append(want, h)
		}
		slices.Sort(want)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("step %d: hosts in the delta (-want +got):\n%s", step, diff)
		}
		if d.DefaultBackendChanged != !reflect.DeepEqual(base.DefaultBackend, next.DefaultBackend) {
			t.Fatalf("step %d: DefaultBackendChanged = %v", step, d.DefaultBackendChanged)
		}
		if d.CertificatesChanged != !reflect.DeepEqual(base.Certificates, next.Certificates) {
			t.Fatalf("step %d: CertificatesChanged = %v", step, d.CertificatesChanged)
		}
		base = next
	}
}

func TestDeltaWrongBase(t *testing.T) {
	t.Parallel()
	base := sorted(1, []snapshot.Server{server("a.test", "198.18.0.1:80"), server("b.test", "198.18.0.1:80")})
	next := sorted(2, []snapshot.Server{server("a.test", "198.18.0.2:80")})
	d := snapshot.Diff(base, next)

	other := *base
	other.Version = 3
	if _, err := d.Apply(&other); !errors.Is(err, snapshot.ErrBaseMismatch) {
		t.Errorf("Apply to version 3, delta from 1: err = %v, want ErrBaseMismatch", err)
	}
	other = *base
	other.Hash = "hash-other"
	if _, err := d.Apply(&other); !errors.Is(err, snapshot.ErrBaseMismatch) {
		t.Errorf("Apply to another hash: err = %v, want ErrBaseMismatch", err)
	}

	// A base with the right version and hash that lacks a removed host: the
	// delta does not fit it.
	other = *base
	other.Servers = base.Servers[:1]
	if _, err := d.Apply(&other); err == nil || errors.Is(err, snapshot.ErrBaseMismatch) || !strings.Contains(err.Error(), `"b.test"`) {
		t.Errorf("Apply of a removal the base lacks: err = %v, want an error naming b.test", err)
	}
	bad := *d
	bad.Servers = []snapshot.Server{server("z.test", "198.18.0.1:80"), server("c.test", "198.18.0.1:80")}
	if _, err := bad.Apply(base); err == nil || !strings.Contains(err.Error(), "out of order") {
		t.Errorf("Apply of unsorted servers: err = %v, want out of order", err)
	}
}

func TestCompareHosts(t *testing.T) {
	t.Parallel()
	want := []string{"a.test", "b.test", "z.test", "*.a.test", "*.z.test", ""}
	got := []string{"", "*.z.test", "z.test", "*.a.test", "b.test", "a.test"}
	slices.SortFunc(got, snapshot.CompareHosts)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sorted hosts (-want +got):\n%s", diff)
	}
}

// benchSnapshots returns two Snapshots of n one-path hosts built apart (no
// Paths shared, as two Builds give) that differ in one host's endpoints.
func benchSnapshots(n int) (base, next *snapshot.Snapshot) {
	mk := func(version uint64, changed int) *snapshot.Snapshot {
		servers := make([]snapshot.Server, n)
		for i := range servers {
			servers[i] = server(fmt.Sprintf("host-%05d.bench.test", i), fmt.Sprintf("198.18.%d.%d:8080", i/250, i%250))
			servers[i].Paths[0].Backend.Endpoints = append(servers[i].Paths[0].Backend.Endpoints, "198.19.0.1:8080")
		}
		servers[changed].Paths[0].Backend.Endpoints = []string{"198.19.255.254:8080"}
		return sorted(version, servers)
	}
	return mk(1, 0), mk(2, n/2)
}

// BenchmarkDelta10k: what one change among 10 000 one-path hosts costs from
// the supervisor's Snapshot to the worker's: Diff, encode, decode and Apply;
// "full" is the whole Snapshot's encode and decode it replaces.
func BenchmarkDelta10k(b *testing.B) {
	base, next := benchSnapshots(10000)
	b.Run("diff", func(b *testing.B) {
		for b.Loop() {
			snapshot.Diff(base, next)
		}
	})
	d := snapshot.Diff(base, next)
	if len(d.Servers) != 2 || len(d.Removed) != 0 {
		b.Fatalf("delta of %d servers, %d removed; want 2 changed", len(d.Servers), len(d.Removed))
	}
	wire, err := json.Marshal(d)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			json.Marshal(d)
		}
	})
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			var dd snapshot.Delta
			if err := json.Unmarshal(wire, &dd); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("apply", func(b *testing.B) {
		for b.Loop() {
			if _, err := d.Apply(base); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("total", func(b *testing.B) {
		for b.Loop() {
			wire, _ := json.Marshal(snapshot.Diff(base, next))
			var dd snapshot.Delta
			if err := json.Unmarshal(wire, &dd); err != nil {
				b.Fatal(err)
			}
			if _, err := dd.Apply(base); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(wire)), "delta-bytes")
	})
	full, _ := json.Marshal(next)
	b.Run("full", func(b *testing.B) {
		for b.Loop() {
			data, _ := json.Marshal(next)
			var s snapshot.Snapshot
			if err := json.Unmarshal(data, &s); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(full)), "snapshot-bytes")
	})
}

// TestDeltaCarriesOnlyChangedCertificates: a renewed certificate among
// several is one entry of the Delta, a removed one a Secret reference.
func TestDeltaCarriesOnlyChangedCertificates(t *testing.T) {
	t.Parallel()
	cert := func(name, pem string) snapshot.Certificate {
		return snapshot.Certificate{Secret: snapshot.ObjectRef{Kind: "Secret", Namespace: "ns", Name: name},
			Hosts: []string{name + ".example.com"}, CertPEM: []byte(pem), KeyPEM: []byte("key-" + pem)}
	}
	base := &snapshot.Snapshot{Version: 1, Hash: "h1", Servers: []snapshot.Server{},
		Certificates: []snapshot.Certificate{cert("a", "1"), cert("b", "1"), cert("c", "1")}}
	next := &snapshot.Snapshot{Version: 2, Hash: "h2", Servers: []snapshot.Server{},
		Certificates: []snapshot.Certificate{cert("a", "1"), cert("b", "2")}}
	d := snapshot.Diff(base, next)
	if len(d.Certificates) != 1 || d.Certificates[0].Secret.Name != "b" || len(d.CertificatesRemoved) != 1 || d.CertificatesRemoved[0].Name != "c" {
		t.Fatalf("delta certificates %v, removed %v; want b only, c removed", d.Certificates, d.CertificatesRemoved)
	}
	got, err := d.Apply(base)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(next, got); diff != "" {
		t.Errorf("Apply (-want +got):\n%s", diff)
	}
}

// TestDiffSeesEveryCertificateField: a change to any field of a certificate
// is in the Delta (PEM compared when there is no Digest).
func TestDiffSeesEveryCertificateField(t *testing.T) {
	t.Parallel()
	mk := func() snapshot.Certificate {
		return snapshot.Certificate{Secret: snapshot.ObjectRef{Kind: "Secret", Namespace: "ns", Name: "a"},
			Hosts: []string{"a.example.com"}, CertPEM: []byte("crt"), KeyPEM: []byte("key")}
	}
	changes := map[string]func(c *snapshot.Certificate){
		"kind":     func(c *snapshot.Certificate) { c.Secret.Kind = "Other" },
		"hosts":    func(c *snapshot.Certificate) { c.Hosts = nil },
		"host":     func(c *snapshot.Certificate) { c.Hosts = []string{"b.example.com"} },
		"cert":     func(c *snapshot.Certificate) { c.CertPEM = []byte("crt2") },
		"key":      func(c *snapshot.Certificate) { c.KeyPEM = []byte("key2") },
		"digest":   func(c *snapshot.Certificate) { c.Digest = "d" },
		"no key":   func(c *snapshot.Certificate) { c.KeyPEM = nil },
		"no hosts": func(c *snapshot.Certificate) { c.Hosts = []string{} },
	}
	base := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{}, Certificates: []snapshot.Certificate{mk()}}
	if d := snapshot.Diff(base, &snapshot.Snapshot{Version: 2, Servers: []snapshot.Server{}, Certificates: []snapshot.Certificate{mk()}}); d.CertificatesChanged {
		t.Fatal("equal certificates: Delta says changed")
	}
	for name, change := range changes {
		c := mk()
		change(&c)
		next := &snapshot.Snapshot{Version: 2, Servers: []snapshot.Server{}, Certificates: []snapshot.Certificate{c}}
		if d := snapshot.Diff(base, next); !d.CertificatesChanged {
			t.Errorf("%s changed: not in the Delta", name)
		}
	}
}

// TestDeltaCarriesGlobal: a ConfigMap change of a global setting changes
// the Hash, and its Delta carries the new Global section, which Apply
// (after the JSON trip to a worker) makes the next Snapshot's; back to the
// defaults too. An empty trust list stays empty, not the default.
func TestDeltaCarriesGlobal(t *testing.T) {
	t.Parallel()
	opts := snapshot.DefaultOptions()
	opts.ConfigMap = "weir/cm"
	build := func(version uint64, data map[string]string) *snapshot.Snapshot {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "weir", Name: "cm"}, Data: data}
		s := snapshot.Build(snapshot.Objects{ConfigMaps: []*corev1.ConfigMap{cm}}, opts)
		s.Version = version
		return s
	}
	zero := build(1, nil)
	forwarded := build(2, map[string]string{"use-forwarded-headers": "true", "proxy-real-ip-cidr": "", "large-client-header-buffers": "2 1k"})
	want := annotations.Global{UseForwardedHeaders: true, ProxyRealIPCIDR: []string{}, HeaderBufferCount: 2, HeaderBufferSize: 1024}
	if diff := cmp.Diff(want, forwarded.Global); diff != "" {
		t.Fatalf("Global (-want +got):\n%s", diff)
	}
	if zero.Hash == forwarded.Hash {
		t.Errorf("a changed Global section leaves the Hash %s", zero.Hash)
	}
	for _, pair := range [][2]*snapshot.Snapshot{{zero, forwarded}, {forwarded, zero}} {
		d := checkDelta(t, pair[0], pair[1])
		if !d.GlobalChanged {
			t.Errorf("Diff(v%d, v%d) does not carry the Global section", pair[0].Version, pair[1].Version)
		}
	}
	if d := snapshot.Diff(forwarded, forwarded); d.GlobalChanged {
		t.Errorf("Diff of a Snapshot with itself carries Global")
	}
}

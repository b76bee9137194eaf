package snapshot_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/weir-lb/weir/l7/worker"
	"github.com/weir-lb/weir/userspace/manifest"
	"github.com/weir-lb/weir/userspace/snapshot"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the current output")

// readCase decodes testdata/<name>.yaml and its options. Options are read
// from lines "# options: a, b=c" at the top of the file:
// watch-ingress-without-class, configmap=<ns/name>,
// default-ssl-certificate=<ns/name>, tcp-services=<ns/name>,
// udp-services=<ns/name>, reserved-port=<n> (repeatable).
func readCase(tb testing.TB, path string) (snapshot.Objects, snapshot.Options) {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	opts := snapshot.DefaultOptions()
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "# options:")
		if !ok {
			continue
		}
		for _, o := range strings.Split(line, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(o), "=")
			switch k {
			case "watch-ingress-without-class":
				opts.WatchIngressWithoutClass = true
			case "ingress-class":
				opts.IngressClass = v
			case "ingress-class-by-name":
				opts.IngressClassByName = true
			case "disable-catch-all":
				opts.DisableCatchAll = true
			case "disable-svc-external-name":
				opts.DisableServiceExternalName = true
			case "default-backend-service":
				opts.DefaultBackendService = v
			case "configmap":
				opts.ConfigMap = v
			case "default-ssl-certificate":
				opts.DefaultSSLCertificate = v
			case "tcp-services":
				opts.TCPServices = v
			case "udp-services":
				opts.UDPServices = v
			case "reserved-port":
				n, err := strconv.Atoi(v)
				if err != nil {
					tb.Fatalf("%s: reserved-port %q: %v", path, v, err)
				}
				opts.ReservedPorts = append(opts.ReservedPorts, n)
			case "enable-ssl-passthrough":
				opts.EnableSSLPassthrough = true
			default:
				tb.Fatalf("%s: unknown option %q", path, k)
			}
		}
	}
	objs, errs := manifest.DecodeObjects(data)
	for _, err := range errs {
		tb.Errorf("%s: %v", path, err)
	}
	return objs, opts
}

// marshal renders s for a golden file. Certificate material is replaced by
// "sha256:<hex of the PEM>" to keep goldens readable; the hash still covers
// the real bytes.
func marshal(tb testing.TB, s *snapshot.Snapshot) []byte {
	tb.Helper()
	out, err := json.MarshalIndent(redactPEM(s), "", "  ")
	if err != nil {
		tb.Fatalf("marshal snapshot: %v", err)
	}
	return append(out, '\n')
}

// goldenCert is a snapshot.Certificate with its PEM replaced by a digest.
type goldenCert struct {
	Secret  snapshot.ObjectRef `json:"secret"`
	Hosts   []string           `json:"hosts,omitempty"`
	CertPEM string             `json:"certPEM"`
	KeyPEM  string             `json:"keyPEM"`
}

// goldenSnapshot shadows the certificate fields of the Snapshot; they are
// rendered after its other fields.
type goldenSnapshot struct {
	*snapshot.Snapshot
	Certificates       []goldenCert `json:"certificates,omitempty"`
	DefaultCertificate *goldenCert  `json:"defaultCertificate,omitempty"`
}

func redactPEM(s *snapshot.Snapshot) any {
	if len(s.Certificates) == 0 && s.DefaultCertificate == nil {
		return s
	}
	redact := func(c snapshot.Certificate) *goldenCert {
		return &goldenCert{
			Secret: c.Secret, Hosts: c.Hosts,
			CertPEM: fmt.Sprintf("sha256:%x", sha256.Sum256(c.CertPEM)),
			KeyPEM:  fmt.Sprintf("sha256:%x", sha256.Sum256(c.KeyPEM)),
		}
	}
	g := goldenSnapshot{Snapshot: s}
	for _, c := range s.Certificates {
		g.Certificates = append(g.Certificates, *redact(c))
	}
	if s.DefaultCertificate != nil {
		g.DefaultCertificate = redact(*s.DefaultCertificate)
	}
	return g
}

func TestGolden(t *testing.T) {
	cases, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no testdata/*.yaml")
	}
	for _, path := range cases {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			objs, opts := readCase(t, path)
			s := snapshot.Build(objs, opts)
			if want := snapshot.HashJSON(s); s.Hash != want {
				t.Errorf("Hash = %s, want the hash of json.Marshal %s", s.Hash, want)
			}
			got := marshal(t, s)
			golden := strings.TrimSuffix(path, ".yaml") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden (run with -update to create it): %v", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("Build(%s) (-want +got):\n%s", path, diff)
			}
		})
	}
}

// TestSnapshotJSONRoundTrip: the Snapshot of every case, certificate
// material included, survives the trip to a worker (one protocol frame)
// unchanged, so workers route exactly as the in-process proxy does. It
// builds each case rather than reading its golden file, whose certificates
// are redacted to digests.
func TestSnapshotJSONRoundTrip(t *testing.T) {
	cases, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no testdata/*.yaml: %v", err)
	}
	for _, path := range cases {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".yaml"), func(t *testing.T) {
			t.Parallel()
			objs, opts := readCase(t, path)
			want := snapshot.Build(objs, opts)
			var frame bytes.Buffer
			if err := worker.WriteJSON(&frame, worker.MsgSnapshot, want); err != nil {
				t.Fatalf("write snapshot frame: %v", err)
			}
			typ, payload, err := worker.ReadFrame(bufio.NewReader(&frame))
			if err != nil || typ != worker.MsgSnapshot {
				t.Fatalf("read snapshot frame: type %d, %v", typ, err)
			}
			var got snapshot.Snapshot
			if err := json.Unmarshal(payload, &got); err != nil {
				t.Fatalf("decode snapshot frame: %v", err)
			}
			if diff := cmp.Diff(*want, got); diff != "" {
				t.Errorf("(-built +received)\n%s", diff)
			}
		})
	}
}

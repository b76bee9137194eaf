package snapshot_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/weir-lb/weir/userspace/snapshot"
)

// TestBuildTLSHashFollowsMaterial checks that rotating a certificate in
// place (same Secret, new bytes) changes the Hash, so the new material is
// published, and that the material survives the JSON a worker receives.
func TestBuildTLSHashFollowsMaterial(t *testing.T) {
	t.Parallel()
	objs, opts := readCase(t, "testdata/tls_hosts.yaml")
	before := snapshot.Build(objs, opts)
	if len(before.Certificates) != 2 || before.DefaultCertificate == nil {
		t.Fatalf("tls_hosts: got %d certificates, default %v; want 2 and a default", len(before.Certificates), before.DefaultCertificate != nil)
	}

	// Swap the material of a-tls and b-tls: both stay valid pairs.
	a, b := objs.Secrets[0].DeepCopy(), objs.Secrets[1].DeepCopy()
	if a.Name != "a-tls" || b.Name != "b-tls" {
		t.Fatalf("tls_hosts: secrets are %s, %s; want a-tls, b-tls first", a.Name, b.Name)
	}
	a.Data, b.Data = b.Data, a.Data
	rotated := objs
	rotated.Secrets = append([]*corev1.Secret{a, b}, objs.Secrets[2:]...)
	after := snapshot.Build(rotated, opts)
	if after.Hash == before.Hash {
		t.Errorf("hash unchanged after the certificate material changed")
	}
	if !bytes.Equal(after.Certificates[0].CertPEM, before.Certificates[1].CertPEM) {
		t.Errorf("a-tls does not carry the new material")
	}
	if diff := cmp.Diff(before.Warnings, after.Warnings); diff != "" {
		t.Errorf("warnings changed (-before +after):\n%s", diff)
	}

	data, err := json.Marshal(before)
	if err != nil {
		t.Fatal(err)
	}
	var back snapshot.Snapshot
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, &back); diff != "" {
		t.Errorf("snapshot changed through JSON (-want +got):\n%s", diff)
	}
}

package snapshot_test

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
	// Swapped, neither certificate covers its Ingress's host any more: each
	// is reported and not used for it (the default certificate is).
	var notCovered int
	for _, w := range after.Warnings {
		if w.Reason == snapshot.ReasonInvalidCertificate && strings.Contains(w.Message, "does not cover host") {
			notCovered++
		}
	}
	if notCovered != 2 || len(after.Certificates[0].Hosts) != 0 {
		t.Errorf("after the swap: %d does-not-cover warnings and hosts %v on a-tls; want 2 and none\n%v",
			notCovered, after.Certificates[0].Hosts, after.Warnings)
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

// TestBuildTLSHostClaims checks that an older Ingress in another namespace
// with a rule for a host cannot serve it a certificate that does not cover
// it; as in ingress-nginx's createServers, the oldest Ingress decides the
// host's certificate, so the host gets the default one (and keeps its
// redirect), not the younger Ingress's.
func TestBuildTLSHostClaims(t *testing.T) {
	t.Parallel()
	objs, opts := readCase(t, "testdata/tls_hosts.yaml")
	var bMaterial *corev1.Secret
	for _, s := range objs.Secrets {
		if s.Name == "b-tls" {
			bMaterial = s
		}
	}
	if bMaterial == nil || len(objs.Ingresses) == 0 {
		t.Fatal("tls_hosts: no b-tls Secret or no Ingress")
	}
	evil := bMaterial.DeepCopy()
	evil.Namespace, evil.Name = "aaa", "evil"
	ing := objs.Ingresses[0].DeepCopy()
	ing.Namespace, ing.Name = "aaa", "squatter"
	ing.CreationTimestamp.Time = ing.CreationTimestamp.Add(-time.Hour)
	ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{"a.example.com"}, SecretName: "evil"}}
	objs.Secrets = append(objs.Secrets, evil)
	objs.Ingresses = append(objs.Ingresses, ing)

	s := snapshot.Build(objs, opts)
	for _, c := range s.Certificates {
		if c.Secret.Namespace == "aaa" && len(c.Hosts) != 0 {
			t.Errorf("aaa/evil claims %v, want no host: it does not cover a.example.com", c.Hosts)
		}
		if c.Secret.Name == "a-tls" && slices.Contains(c.Hosts, "a.example.com") {
			t.Errorf("a-tls serves a.example.com, want the default certificate: the older aaa/squatter decides")
		}
	}
	found := false
	for _, w := range s.Warnings {
		found = found || (w.Object.Name == "squatter" && strings.Contains(w.Message, "does not cover host a.example.com"))
	}
	if !found {
		t.Errorf("no warning on aaa/squatter; warnings: %v", s.Warnings)
	}
	for _, srv := range s.Servers {
		if srv.Host == "a.example.com" && !srv.Paths[0].Backend.SSLRedirect {
			t.Errorf("a.example.com does not redirect to HTTPS: its default certificate is a certificate")
		}
	}
}

// TestBuildHSTSOnEveryRoute checks that the Snapshot's HSTS, which the
// proxy sends on every route's HTTPS responses, is the ConfigMap's whether
// or not a host has spec.tls (served the default certificate), with a
// default backend: ingress-nginx's header filter (lua_ingress.lua
// header()) tests certificate_configured_for_current_request without
// calling it, so the function value is always true and every HTTPS
// response of a location gets the header while hsts is on.
func TestBuildHSTSOnEveryRoute(t *testing.T) {
	t.Parallel()
	objs, opts := readCase(t, "testdata/tls_hosts.yaml")
	// An Ingress without rules: its spec.defaultBackend is the catch-all.
	catchAll := objs.Ingresses[0].DeepCopy()
	catchAll.Name, catchAll.Annotations = "catch-all", nil
	catchAll.Spec.TLS, catchAll.Spec.Rules = nil, nil
	catchAll.Spec.DefaultBackend = &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}
	objs.Ingresses = append(slices.Clone(objs.Ingresses), catchAll)

	const want = "max-age=31536000; includeSubDomains"
	check := func(s *snapshot.Snapshot, want string) {
		t.Helper()
		if s.DefaultBackend == nil {
			t.Fatalf("no default backend; warnings: %v", s.Warnings)
		}
		if s.HSTS != want {
			t.Errorf("HSTS %q, want %q", s.HSTS, want)
		}
		if !slices.ContainsFunc(s.Servers, func(srv snapshot.Server) bool { return srv.Host == "plain.example.com" }) {
			t.Errorf("no server for plain.example.com")
		}
	}
	check(snapshot.Build(objs, opts), want)

	opts.ConfigMap = "kube-system/weir"
	objs.ConfigMaps = append(slices.Clone(objs.ConfigMaps), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "weir"},
		Data:       map[string]string{"hsts": "false"},
	})
	check(snapshot.Build(objs, opts), "")
}

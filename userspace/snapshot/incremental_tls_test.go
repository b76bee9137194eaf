package snapshot_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// tlsHostsPool are the spec.tls hosts of TestBuilderTLSMatchesBuild: some
// covered by its certificates, some by none, in odd spellings.
var tlsHostsPool = []string{"a.example.com", "b.example.com", "*.example.com", "c.example.org", "A.Example.com", "b.example.com.", "", "x.other.net"}

// tlsSecretNames are the Secrets its sections name: some missing.
var tlsSecretNames = []string{"wild", "a-only", "b-only", "org", "bad", "nokey", "missing", ""}

// TestBuilderTLSMatchesBuild applies random edits to spec.tls sections
// (hosts, Secrets, several sections), to Ingresses' rules, hosts, age,
// canary annotation and class,
// and to the Secrets (new certificate, other hosts, wrong type, missing
// key, deleted, created, the default certificate's), among Ingresses that
// share hosts and Secrets across two namespaces, and checks after each
// batch that the Builder, which settles again only the hosts and Secrets a
// change touches, gives what Build gives from scratch: certificates, their
// hosts, HSTS and redirects, the default certificate, warnings and Hash.
func TestBuilderTLSMatchesBuild(t *testing.T) {
	t.Parallel()
	ca := certstest.NewCA(t)
	type pem struct{ crt, key []byte }
	issued := map[string]pem{}
	for _, hosts := range [][]string{{"*.example.com"}, {"a.example.com"}, {"b.example.com"}, {"c.example.org"}, {"a.example.com", "c.example.org"}, {"ingress.local"}} {
		crt, key := ca.Issue(t, hosts...)
		issued[hosts[0]+fmt.Sprint(len(hosts))] = pem{crt, key}
	}
	pems := make([]pem, 0, len(issued))
	for _, k := range []string{"*.example.com1", "a.example.com1", "b.example.com1", "c.example.org1", "a.example.com2", "ingress.local1"} {
		pems = append(pems, issued[k])
	}
	secret := func(ns, name string, p pem) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: p.crt, corev1.TLSPrivateKeyKey: p.key}}
	}
	class := "weir"
	randomTLS := func(r *rand.Rand) []networkingv1.IngressTLS {
		var out []networkingv1.IngressTLS
		for range r.IntN(3) {
			var hosts []string
			for range r.IntN(4) {
				hosts = append(hosts, tlsHostsPool[r.IntN(len(tlsHostsPool))])
			}
			out = append(out, networkingv1.IngressTLS{Hosts: hosts, SecretName: tlsSecretNames[r.IntN(len(tlsSecretNames))]})
		}
		return out
	}
	base := func(r *rand.Rand) snapshot.Objects {
		o := snapshot.Objects{IngressClasses: []*networkingv1.IngressClass{{ObjectMeta: metav1.ObjectMeta{Name: "weir"},
			Spec: networkingv1.IngressClassSpec{Controller: "weir-lb.dev/ingress-controller"}}}}
		prefix := networkingv1.PathTypePrefix
		for i := range 10 {
			ns := []string{"a", "b"}[i%2]
			host := tlsHostsPool[r.IntN(len(tlsHostsPool))]
			o.Ingresses = append(o.Ingresses, &networkingv1.Ingress{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("i%d", i),
					CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, r.IntN(5), 0, time.UTC))},
				Spec: networkingv1.IngressSpec{IngressClassName: &class, TLS: randomTLS(r),
					Rules: []networkingv1.IngressRule{{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
						Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{
							Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}}},
			})
		}
		for _, ns := range []string{"a", "b"} {
			o.Secrets = append(o.Secrets, secret(ns, "wild", pems[0]), secret(ns, "a-only", pems[1]), secret(ns, "b-only", pems[2]),
				secret(ns, "org", pems[3]))
			bad := secret(ns, "bad", pems[0])
			bad.Data[corev1.TLSCertKey] = []byte("not a certificate")
			nokey := secret(ns, "nokey", pems[0])
			delete(nokey.Data, corev1.TLSPrivateKeyKey)
			o.Secrets = append(o.Secrets, bad, nokey)
		}
		o.Secrets = append(o.Secrets, secret("a", "def", pems[5]))
		return o
	}
	tlsEdits := []edit{
		editIngress(func(r *rand.Rand, i *networkingv1.Ingress) { i.Spec.TLS = randomTLS(r) }),
		editIngress(func(r *rand.Rand, i *networkingv1.Ingress) { // one host of one section
			if len(i.Spec.TLS) > 0 {
				t := &i.Spec.TLS[r.IntN(len(i.Spec.TLS))]
				t.Hosts = append(slices.Clone(t.Hosts), tlsHostsPool[r.IntN(len(tlsHostsPool))])
			}
		}),
		editIngress(func(r *rand.Rand, i *networkingv1.Ingress) { // the rule's host, as the cluster benchmark moves it
			if len(i.Spec.Rules) > 0 {
				i.Spec.Rules[0].Host = tlsHostsPool[r.IntN(len(tlsHostsPool))]
			}
		}),
		editIngress(func(r *rand.Rand, i *networkingv1.Ingress) { // a second rule, or none: the hosts it may claim
			switch {
			case len(i.Spec.Rules) == 0:
			case r.IntN(3) == 0:
				i.Spec.Rules = nil
			default:
				rule := *i.Spec.Rules[0].DeepCopy()
				rule.Host = tlsHostsPool[r.IntN(len(tlsHostsPool))]
				i.Spec.Rules = append(i.Spec.Rules, rule)
			}
		}),
		editIngress(func(r *rand.Rand, i *networkingv1.Ingress) { // a canary claims no host
			if _, ok := i.Annotations["nginx.ingress.kubernetes.io/canary"]; ok {
				i.Annotations = nil
			} else {
				i.Annotations = map[string]string{"nginx.ingress.kubernetes.io/canary": "true"}
			}
		}),
		editIngress(func(r *rand.Rand, i *networkingv1.Ingress) { // age: who claims first
			i.CreationTimestamp = metav1.NewTime(time.Date(2026, 1, 1, 0, 0, r.IntN(5), 0, time.UTC))
		}),
		editIngress(func(r *rand.Rand, i *networkingv1.Ingress) { // served or not
			if i.Spec.IngressClassName != nil {
				i.Spec.IngressClassName = nil
			} else {
				i.Spec.IngressClassName = &class
			}
		}),
		func(r *rand.Rand, o *snapshot.Objects) (snapshot.ObjectRef, bool) { // delete or re-add an Ingress
			n := r.IntN(len(o.Ingresses))
			if r.IntN(2) == 0 {
				gone := o.Ingresses[n]
				o.Ingresses = slices.Delete(slices.Clone(o.Ingresses), n, n+1)
				return ingressRef(gone), true
			}
			cp := o.Ingresses[n].DeepCopy()
			cp.Name = fmt.Sprintf("new%d", r.IntN(3))
			if slices.ContainsFunc(o.Ingresses, func(i *networkingv1.Ingress) bool { return i.Namespace == cp.Namespace && i.Name == cp.Name }) {
				return snapshot.ObjectRef{}, false
			}
			o.Ingresses = append(slices.Clone(o.Ingresses), cp)
			return ingressRef(cp), true
		},
		func(r *rand.Rand, o *snapshot.Objects) (snapshot.ObjectRef, bool) { // a Secret: new material, invalid, deleted or created
			ns := []string{"a", "b"}[r.IntN(2)]
			name := append(slices.Clone(tlsSecretNames[:len(tlsSecretNames)-1]), "def")[r.IntN(len(tlsSecretNames))]
			ref := snapshot.ObjectRef{Kind: "Secret", Namespace: ns, Name: name}
			secrets := slices.DeleteFunc(slices.Clone(o.Secrets), func(s *corev1.Secret) bool { return s.Namespace == ns && s.Name == name })
			switch r.IntN(4) {
			case 0: // deleted
			case 1:
				s := secret(ns, name, pems[0])
				s.Data[corev1.TLSCertKey] = []byte("not a certificate")
				secrets = append(secrets, s)
			default:
				secrets = append(secrets, secret(ns, name, pems[r.IntN(len(pems))]))
			}
			o.Secrets = secrets
			return ref, true
		},
	}
	opts := snapshot.DefaultOptions()
	opts.DefaultSSLCertificate = "a/def"
	scoped := 0
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 11))
		scoped += compareRandomEdits(t, r, base(r), opts, tlsEdits, 30, seed)
	}
	if scoped < 20*30/2 {
		t.Errorf("%d of %d builds scoped: the test compares full builds mostly", scoped, 20*30)
	}
}

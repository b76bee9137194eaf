package snapshot_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weir-lb/weir/userspace/manifest"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// worldHosts are the hosts of randomIngress: the first 7 are odd or shared.
var worldHosts = func() []string {
	hs := []string{"a.example.com", "*.example.com", "", "A.Example.com", "x.a.example.com", "*.a.example.com", "bad_host"}
	for i := range 120 {
		hs = append(hs, fmt.Sprintf("h%d.example.com", i))
	}
	return hs
}()

var worldServices = []string{"web", "api", "echo", "app", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "gone"}

// randomIngress returns an Ingress ns/name of random class, annotations,
// rules, spec.tls and spec.defaultBackend.
func randomIngress(r *rand.Rand, ns, name string) *networkingv1.Ingress {
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: map[string]string{},
		CreationTimestamp: metav1.NewTime(time.Date(2024, 1, 1+r.IntN(5), 0, 0, 0, 0, time.UTC))}}
	switch r.IntN(8) {
	case 0:
		c := "other"
		ing.Spec.IngressClassName = &c
	case 1:
	default:
		c := "weir"
		ing.Spec.IngressClassName = &c
	}
	if r.IntN(4) == 0 {
		ing.Annotations["nginx.ingress.kubernetes.io/use-regex"] = "true"
	}
	if r.IntN(4) == 0 {
		ing.Annotations["nginx.ingress.kubernetes.io/canary"] = "true"
		ing.Annotations["nginx.ingress.kubernetes.io/canary-weight"] = fmt.Sprint(r.IntN(100))
	}
	if r.IntN(4) == 0 {
		ing.Annotations["nginx.ingress.kubernetes.io/ssl-redirect"] = "false"
	}
	if r.IntN(6) == 0 {
		ing.Annotations["nginx.ingress.kubernetes.io/force-ssl-redirect"] = "true"
	}
	if r.IntN(10) == 0 { // refused: not served, its TLS hosts not claimed
		ing.Annotations["nginx.ingress.kubernetes.io/"+[]string{"server-snippet", "load-balance"}[r.IntN(2)]] = "x"
	}
	if r.IntN(25) == 0 {
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{worldHosts[r.IntN(len(worldHosts))], []string{"a.example.com", "B.example.com", "*.wild.example.com", "x.wild.example.com"}[r.IntN(4)]},
			SecretName: []string{"missing", "a-tls", "b-tls", "wild-tls", "good-tls", "mismatch-tls", "opaque-tls", ""}[r.IntN(8)]}}
	}
	if r.IntN(40) == 0 {
		ing.Spec.DefaultBackend = &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}
	}
	for range 1 + r.IntN(5)/4 {
		rule := networkingv1.IngressRule{Host: worldHosts[r.IntN(len(worldHosts))]}
		if r.IntN(3) != 0 {
			rule.Host = worldHosts[7+r.IntN(20)]
		}
		if r.IntN(8) != 0 {
			rule.HTTP = &networkingv1.HTTPIngressRuleValue{}
			for range r.IntN(3) + 1 {
				pt := []networkingv1.PathType{"Exact", "Prefix", "ImplementationSpecific"}[r.IntN(3)]
				port := networkingv1.ServiceBackendPort{Number: 80}
				if r.IntN(3) == 0 {
					port = networkingv1.ServiceBackendPort{Name: "http"}
				}
				rule.HTTP.Paths = append(rule.HTTP.Paths, networkingv1.HTTPIngressPath{
					Path: []string{"/", "/api", "/api/", "/x", "/[a-z]+"}[r.IntN(5)], PathType: &pt,
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
						Name: worldServices[r.IntN(len(worldServices))], Port: port}}})
			}
		}
		ing.Spec.Rules = append(ing.Spec.Rules, rule)
	}
	return ing
}

// randomWorld returns 40 random Ingresses per namespace, their Services and
// EndpointSlices, and the Secrets of the TLS golden cases.
func randomWorld(r *rand.Rand, worldSecrets []*corev1.Secret) snapshot.Objects {
	o := snapshot.Objects{Secrets: worldSecrets, IngressClasses: []*networkingv1.IngressClass{{ObjectMeta: metav1.ObjectMeta{Name: "weir"},
		Spec: networkingv1.IngressClassSpec{Controller: "weir-lb.dev/ingress-controller"}}}}
	for _, ns := range []string{"default", "other"} {
		for i := range 40 {
			o.Ingresses = append(o.Ingresses, randomIngress(r, ns, fmt.Sprintf("i%d", i)))
		}
		for _, name := range worldServices[:len(worldServices)-1] {
			o.Services = append(o.Services, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
				Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}})
			pn, pp := "http", int32(8080)
			o.EndpointSlices = append(o.EndpointSlices, &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-1",
				Labels: map[string]string{discoveryv1.LabelServiceName: name}},
				Ports:     []discoveryv1.EndpointPort{{Name: &pn, Port: &pp}},
				Endpoints: []discoveryv1.Endpoint{{Addresses: []string{fmt.Sprintf("10.0.0.%d", r.IntN(250))}}}})
		}
	}
	return o
}

// TestBuilderMatchesBuildRandomCluster is TestBuilderMatchesBuild on random
// clusters of 80 Ingresses in two namespaces (hosts shared, wildcard, any,
// mixed case, invalid; canaries, use-regex, spec.tls with valid, mismatched
// and missing Secrets, spec.defaultBackend, other classes) under random
// options: larger than the golden cases, so that most builds are scoped.
func TestBuilderMatchesBuildRandomCluster(t *testing.T) {
	t.Parallel()
	var worldSecrets []*corev1.Secret
	for _, f := range []string{"tls_hosts", "tls_wildcard", "tls_invalid"} {
		o, _ := readCase(t, "testdata/"+f+".yaml")
		worldSecrets = append(worldSecrets, o.Secrets...)
	}
	all := append(slices.Clone(edits), moreEdits...)
	all = append(all, func(r *rand.Rand, o *snapshot.Objects) (snapshot.ObjectRef, bool) { // replace an Ingress
		n := r.IntN(len(o.Ingresses))
		cp := randomIngress(r, o.Ingresses[n].Namespace, o.Ingresses[n].Name)
		o.Ingresses = slices.Clone(o.Ingresses)
		o.Ingresses[n] = cp
		return ingressRef(cp), true
	}, func(r *rand.Rand, o *snapshot.Objects) (snapshot.ObjectRef, bool) { // a Secret: another's material, or gone
		target, src := worldSecrets[r.IntN(len(worldSecrets))], worldSecrets[r.IntN(len(worldSecrets))]
		o.Secrets = slices.DeleteFunc(slices.Clone(o.Secrets), func(s *corev1.Secret) bool {
			return s.Namespace == target.Namespace && s.Name == target.Name
		})
		if r.IntN(3) > 0 {
			cp := src.DeepCopy()
			cp.Namespace, cp.Name = target.Namespace, target.Name
			o.Secrets = append(o.Secrets, cp)
		}
		return snapshot.ObjectRef{Kind: "Secret", Namespace: target.Namespace, Name: target.Name}, true
	})
	scoped := 0
	for seed := range uint64(60) {
		r := rand.New(rand.NewPCG(seed, 13))
		objs := randomWorld(r, worldSecrets)
		opts := snapshot.DefaultOptions()
		opts.WatchIngressWithoutClass = r.IntN(2) == 0
		if r.IntN(2) == 0 {
			opts.ConfigMap = "weir/missing"
		}
		if r.IntN(2) == 0 {
			opts.DefaultSSLCertificate = "weir/default-cert"
		}
		scoped += compareRandomEdits(t, r, objs, opts, all, 30, seed)
	}
	if scoped < 60*30/4 {
		t.Errorf("%d of %d builds scoped: the test compares full builds mostly", scoped, 60*30)
	}
}

// TestBuilderEdgeCases runs named sequences of changes, each a whole
// cluster as YAML (every object decoded anew: unchanged ones are equal,
// not the same pointers) with the objects named changed, and checks that
// each build is scoped and equal to Build.
func TestBuilderEdgeCases(t *testing.T) {
	t.Parallel()
	const head = `apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: weir}
spec: {controller: weir-lb.dev/ingress-controller}
`
	ing := func(ns, name, created, host, path, svc, port string, ann ...string) string {
		a := ""
		for i := 0; i+1 < len(ann); i += 2 {
			a += fmt.Sprintf("\n    nginx.ingress.kubernetes.io/%s: %q", ann[i], ann[i+1])
		}
		if a != "" {
			a = "\n  annotations:" + a
		}
		return fmt.Sprintf(`---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: %q
  namespace: %q
  creationTimestamp: %q%s
spec:
  ingressClassName: weir
  rules:
  - host: %q
    http:
      paths:
      - {path: %q, pathType: ImplementationSpecific, backend: {service: {name: %s, port: {%s}}}}
`, name, ns, created, a, host, path, svc, port)
	}
	svc := func(ns, name, port string) string {
		return fmt.Sprintf("---\napiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: %s}\nspec: {ports: [{name: %s, port: 80}]}\n", name, ns, port)
	}
	slice := func(ns, name, svc, port, ip string) string {
		return fmt.Sprintf(`---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: %s, namespace: %s, labels: {kubernetes.io/service-name: %s}}
addressType: IPv4
ports: [{name: %s, port: 8080}]
endpoints: [{addresses: [%q]}]
`, name, ns, svc, port, ip)
	}
	ref := func(kind, ns, name string) snapshot.ObjectRef {
		return snapshot.ObjectRef{Kind: kind, Namespace: ns, Name: name}
	}
	type step struct {
		yaml    string
		changed []snapshot.ObjectRef
	}
	x := ing("ns", "x", "2024-01-01T00:00:00Z", "a.example.com", "/", "a", "number: 80")
	y := ing("ns", "y", "2024-02-01T00:00:00Z", "b.example.com", "/", "b", "name: web")
	far := ing("ns", "far", "2024-03-01T00:00:00Z", "far.example.com", "/", "a", "number: 80")
	base := head + x + y + far + svc("ns", "a", "http") + svc("ns", "b", "web") + slice("ns", "s", "a", "http", "10.0.0.1")
	cases := map[string][]step{
		"slice moves to a Service named by port name": {{
			head + x + y + far + svc("ns", "a", "http") + svc("ns", "b", "web") + slice("ns", "s", "b", "web", "10.0.0.1"),
			[]snapshot.ObjectRef{ref("EndpointSlice", "ns", "s")},
		}},
		"deleted and re-created in one batch, named twice": {{
			head + ing("ns", "x", "2024-05-01T00:00:00Z", "B.Example.com", "/x", "a", "number: 80") + y + far + svc("ns", "a", "http") + svc("ns", "b", "web") + slice("ns", "s", "a", "http", "10.0.0.1"),
			[]snapshot.ObjectRef{ref("Ingress", "ns", "x"), ref("Ingress", "ns", "x")},
		}},
		"objects named that do not exist": {{
			base,
			[]snapshot.ObjectRef{ref("Ingress", "ns", "ghost"), ref("Service", "ns", "ghost"), ref("EndpointSlice", "ns", "ghost")},
		}},
		"use-regex on a neighbour turns a path into a regex": {{
			head + x + ing("ns", "y", "2024-02-01T00:00:00Z", "a.example.com", "/[a-z]+", "b", "name: web", "use-regex", "true") + far + svc("ns", "a", "http") + svc("ns", "b", "web") + slice("ns", "s", "a", "http", "10.0.0.1"),
			[]snapshot.ObjectRef{ref("Ingress", "ns", "y")},
		}},
		"conflict winner deleted, then back": {{
			head + x + ing("ns", "y", "2024-02-01T00:00:00Z", "a.example.com", "/", "b", "name: web") + far + svc("ns", "a", "http") + svc("ns", "b", "web") + slice("ns", "s", "a", "http", "10.0.0.1"),
			[]snapshot.ObjectRef{ref("Ingress", "ns", "y")},
		}, {
			head + ing("ns", "y", "2024-02-01T00:00:00Z", "a.example.com", "/", "b", "name: web") + far + svc("ns", "a", "http") + svc("ns", "b", "web") + slice("ns", "s", "a", "http", "10.0.0.1"),
			[]snapshot.ObjectRef{ref("Ingress", "ns", "x")},
		}, {
			head + x + ing("ns", "y", "2024-02-01T00:00:00Z", "a.example.com", "/", "b", "name: web") + far + svc("ns", "a", "http") + svc("ns", "b", "web") + slice("ns", "s", "a", "http", "10.0.0.1"),
			[]snapshot.ObjectRef{ref("Ingress", "ns", "x")},
		}},
		"canary in another namespace loses its main": {{
			base + ing("other", "c", "2024-04-01T00:00:00Z", "a.example.com", "/", "a", "number: 80", "canary", "true", "canary-weight", "30"),
			[]snapshot.ObjectRef{ref("Ingress", "other", "c")},
		}, {
			head + y + far + svc("ns", "a", "http") + svc("ns", "b", "web") + slice("ns", "s", "a", "http", "10.0.0.1") +
				ing("other", "c", "2024-04-01T00:00:00Z", "a.example.com", "/", "a", "number: 80", "canary", "true", "canary-weight", "30"),
			[]snapshot.ObjectRef{ref("Ingress", "ns", "x")},
		}},
	}
	decode := func(t *testing.T, y string) snapshot.Objects {
		t.Helper()
		objs, errs := manifest.DecodeObjects([]byte(y))
		for _, err := range errs {
			t.Fatalf("decode: %v", err)
		}
		return objs
	}
	for name, steps := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			opts := snapshot.DefaultOptions()
			bl := snapshot.NewBuilder(opts)
			bl.Build(decode(t, base))
			for i, st := range steps {
				objs := decode(t, st.yaml)
				objs.Changed = st.changed
				got := bl.Build(objs)
				objs.Changed = nil
				if diff := cmp.Diff(snapshot.Build(objs, opts), got); diff != "" {
					t.Fatalf("step %d: Builder differs from Build (-want +got):\n%s", i, diff)
				}
				if !bl.Scoped() {
					t.Errorf("step %d: a full build, want a scoped one", i)
				}
			}
		})
	}
}

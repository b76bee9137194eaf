package cluster

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/l7/proxy"
	"github.com/weir-lb/weir/userspace/controller"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// objectsN returns n Ingresses with their Services and EndpointSlices, as
// BenchmarkCluster creates them, one second apart, in a shuffled order as an
// informer's List gives them.
func objectsN(n int) snapshot.Objects {
	class := "weir"
	prefix := networkingv1.PathTypePrefix
	port := int32(8080)
	ready := true
	o := snapshot.Objects{IngressClasses: []*networkingv1.IngressClass{{
		ObjectMeta: metav1.ObjectMeta{Name: "weir"}, Spec: networkingv1.IngressClassSpec{Controller: "weir-lb.dev/ingress-controller"}}}}
	created := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	for i := range n {
		name := fmt.Sprintf("svc-%d", i)
		o.Services = append(o.Services, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "bench"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}})
		o.EndpointSlices = append(o.EndpointSlices, &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: name + "-1", Namespace: "bench", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: &[]string{"http"}[0], Port: &port}},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{fmt.Sprintf("198.18.%d.%d", 1+i/250, 1+i%250)},
				Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		})
		o.Ingresses = append(o.Ingresses, &networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("ing-%d", i), Namespace: "bench", CreationTimestamp: metav1.NewTime(created.Add(time.Duration(i) * time.Second)),
				Annotations: map[string]string{"nginx.ingress.kubernetes.io/proxy-read-timeout": "120"}},
			Spec: networkingv1.IngressSpec{IngressClassName: &class, Rules: []networkingv1.IngressRule{{
				Host: fmt.Sprintf("h%d.bench.example", i),
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{
						Service: &networkingv1.IngressServiceBackend{Name: name, Port: networkingv1.ServiceBackendPort{Number: 80}},
					}}},
				}},
			}}},
		})
	}
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(n, func(i, j int) { o.Ingresses[i], o.Ingresses[j] = o.Ingresses[j], o.Ingresses[i] })
	r.Shuffle(n, func(i, j int) { o.Services[i], o.Services[j] = o.Services[j], o.Services[i] })
	r.Shuffle(n, func(i, j int) { o.EndpointSlices[i], o.EndpointSlices[j] = o.EndpointSlices[j], o.EndpointSlices[i] })
	return o
}

// BenchmarkBuild10k times snapshot.Build alone on 10 000 Ingresses.
func BenchmarkBuild10k(b *testing.B) {
	objs := objectsN(10000)
	opts := snapshot.DefaultOptions()
	for b.Loop() {
		snapshot.Build(objs, opts)
	}
}

// BenchmarkSync10k times controller.Sync (Build, hash, publish to the
// in-process proxy, which compiles its Router) for one changed host among
// 10 000 Ingresses.
func BenchmarkSync10k(b *testing.B) {
	objs := objectsN(10000)
	p := proxy.New(proxy.Options{})
	c := controller.New(controller.Options{Build: snapshot.DefaultOptions()}, p)
	c.Sync(objs, nil)
	i := 0
	for b.Loop() {
		i++
		objs.Ingresses[0].Spec.Rules[0].Host = fmt.Sprintf("changed-%d.bench.example", i)
		if _, changed := c.Sync(objs, nil); !changed {
			b.Fatal("not changed")
		}
	}
}

// BenchmarkBuilder10kOneChanged times snapshot.Builder rebuilding after one
// Ingress of 10 000 changed host, as the kube source reports it.
func BenchmarkBuilder10kOneChanged(b *testing.B) {
	objs := objectsN(10000)
	bl := snapshot.NewBuilder(snapshot.DefaultOptions())
	bl.Build(objs)
	rebuildEach(b, bl, &objs, func(i int, ing *networkingv1.Ingress) {
		ing.Spec.Rules[0].Host = fmt.Sprintf("changed-%d.bench.example", i)
	})
}

// rebuildEach changes one Ingress of objs per iteration, in turn, as an
// informer sees it (a changed copy), and times bl rebuilding with the change
// named.
func rebuildEach(b *testing.B, bl *snapshot.Builder, objs *snapshot.Objects, change func(i int, ing *networkingv1.Ingress)) {
	i := 0
	for b.Loop() {
		i++
		n := i % len(objs.Ingresses)
		cp := objs.Ingresses[n].DeepCopy()
		change(i, cp)
		objs.Ingresses[n] = cp
		objs.Changed = []snapshot.ObjectRef{{Kind: "Ingress", Namespace: cp.Namespace, Name: cp.Name}}
		bl.Build(*objs)
	}
	objs.Changed = nil
}

// withTLS gives every Ingress of o a spec.tls section for its host, each
// with its own Secret holding a certificate for *.bench.example.
func withTLS(b *testing.B, o snapshot.Objects) snapshot.Objects {
	ca := certstest.NewCA(b)
	crt, key := ca.Issue(b, "*.bench.example")
	for i, ing := range o.Ingresses {
		cp := ing.DeepCopy()
		name := "tls-" + cp.Name
		cp.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{cp.Spec.Rules[0].Host}, SecretName: name}}
		o.Ingresses[i] = cp
		o.Secrets = append(o.Secrets, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: cp.Namespace},
			Type: corev1.SecretTypeTLS, Data: map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key}})
	}
	return o
}

// BenchmarkBuild10kTLS times snapshot.Build on 10 000 Ingresses with TLS,
// each with its own Secret.
func BenchmarkBuild10kTLS(b *testing.B) {
	objs := withTLS(b, objectsN(10000))
	opts := snapshot.DefaultOptions()
	for b.Loop() {
		snapshot.Build(objs, opts)
	}
}

// BenchmarkBuilder10kTLS times snapshot.Builder on 10 000 Ingresses with
// TLS: a full build with its certificates validated by the previous one
// (full), a change to one Ingress's path (one-changed), and a change to one
// Ingress's host in its rule and its spec.tls (tls-changed: every
// certificate's hosts are settled again).
func BenchmarkBuilder10kTLS(b *testing.B) {
	objs := withTLS(b, objectsN(10000))
	bl := snapshot.NewBuilder(snapshot.DefaultOptions())
	bl.Build(objs)
	b.Run("full", func(b *testing.B) {
		for b.Loop() {
			bl.Build(objs)
		}
	})
	b.Run("one-changed", func(b *testing.B) {
		rebuildEach(b, bl, &objs, func(i int, ing *networkingv1.Ingress) {
			ing.Spec.Rules[0].HTTP.Paths[0].Path = fmt.Sprintf("/changed-%d", i)
		})
	})
	b.Run("tls-changed", func(b *testing.B) {
		rebuildEach(b, bl, &objs, func(i int, ing *networkingv1.Ingress) {
			ing.Spec.Rules[0].Host = fmt.Sprintf("moved-%d.bench.example", i)
			ing.Spec.TLS[0].Hosts = []string{ing.Spec.Rules[0].Host}
		})
	})
}

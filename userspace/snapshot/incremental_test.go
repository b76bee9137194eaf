package snapshot_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// edit is one random change to objects, made as an informer sees it: the
// changed object is a new copy, the old one is never modified.
type edit func(r *rand.Rand, o *snapshot.Objects) (snapshot.ObjectRef, bool)

func ingressRef(i *networkingv1.Ingress) snapshot.ObjectRef {
	return snapshot.ObjectRef{Kind: "Ingress", Namespace: i.Namespace, Name: i.Name}
}

// editIngress replaces a random Ingress by a modified copy.
func editIngress(change func(r *rand.Rand, i *networkingv1.Ingress)) edit {
	return func(r *rand.Rand, o *snapshot.Objects) (snapshot.ObjectRef, bool) {
		if len(o.Ingresses) == 0 {
			return snapshot.ObjectRef{}, false
		}
		n := r.IntN(len(o.Ingresses))
		cp := o.Ingresses[n].DeepCopy()
		change(r, cp)
		o.Ingresses = slices.Clone(o.Ingresses)
		o.Ingresses[n] = cp
		return ingressRef(cp), true
	}
}

// someRule returns a random rule of i with HTTP paths, or nil.
func someRule(r *rand.Rand, i *networkingv1.Ingress) *networkingv1.IngressRule {
	if len(i.Spec.Rules) == 0 {
		return nil
	}
	rule := &i.Spec.Rules[r.IntN(len(i.Spec.Rules))]
	if rule.HTTP == nil || len(rule.HTTP.Paths) == 0 {
		return nil
	}
	return rule
}

var hostsPool = []string{"a.example.com", "b.example.com", "*.example.com", "", "c.example.org", "B.Example.com"}

// editConfigMap returns an edit that changes the data of a copy of a
// random ConfigMap with change.
func editConfigMap(change func(r *rand.Rand, data map[string]string)) edit {
	return func(r *rand.Rand, o *snapshot.Objects) (snapshot.ObjectRef, bool) {
		if len(o.ConfigMaps) == 0 {
			return snapshot.ObjectRef{}, false
		}
		n := r.IntN(len(o.ConfigMaps))
		cp := o.ConfigMaps[n].DeepCopy()
		if cp.Data == nil {
			cp.Data = map[string]string{}
		}
		change(r, cp.Data)
		o.ConfigMaps = slices.Clone(o.ConfigMaps)
		o.ConfigMaps[n] = cp
		return snapshot.ObjectRef{Kind: "ConfigMap", Namespace: cp.Namespace, Name: cp.Name}, true
	}
}

// toggleAnnotation returns an edit that removes one of the annotations of
// values (keys without the prefix) from an Ingress, or sets it to its value.
func toggleAnnotation(values map[string]string) edit {
	keys := slices.Sorted(maps.Keys(values))
	return editIngress(func(r *rand.Rand, i *networkingv1.Ingress) {
		if i.Annotations == nil {
			i.Annotations = map[string]string{}
		}
		k := keys[r.IntN(len(keys))]
		full := "nginx.ingress.kubernetes.io/" + k
		if _, ok := i.Annotations[full]; ok {
			delete(i.Annotations, full)
		} else {
			i.Annotations[full] = values[k]
		}
	})
}

var edits = []edit{
	editIngress(func(r *rand.Rand, i *networkingv1.Ingress) { // move a rule to another host
		if rule := someRule(r, i); rule != nil {
			rule.Host = hostsPool[r.IntN(len(hostsPool))]
		}
	}),
	editIngress(func(r *rand.Rand, i *networkingv1.Ingress) { // change a path
		if rule := someRule(r, i); rule != nil {
			rule.HTTP.Paths[0].Path = []string{"/", "/api", "/api/", "/x/y", "/[a-z]+", ""}[r.IntN(6)]
		}
	}),
	editIngress(func(r *rand.Rand, i *networkingv1.Ingress) { // point a path at another Service
		if rule := someRule(r, i); rule != nil && rule.HTTP.Paths[0].Backend.Service != nil {
			rule.HTTP.Paths[0].Backend.Service.Name = []string{"web", "api", "missing", "echo"}[r.IntN(4)]
		}
	}),
	toggleAnnotation(map[string]string{ // toggle an annotation
		"use-regex": "true", "proxy-read-timeout": "7", "canary-weight": "30", "ssl-redirect": "false",
	}),
	editIngress(func(r *rand.Rand, i *networkingv1.Ingress) { // another class
		c := []string{"weir", "other", "missing"}[r.IntN(3)]
		i.Spec.IngressClassName = &c
	}),
	func(r *rand.Rand, o *snapshot.Objects) (snapshot.ObjectRef, bool) { // delete an Ingress
		if len(o.Ingresses) == 0 {
			return snapshot.ObjectRef{}, false
		}
		n := r.IntN(len(o.Ingresses))
		ref := ingressRef(o.Ingresses[n])
		o.Ingresses = slices.Delete(slices.Clone(o.Ingresses), n, n+1)
		return ref, true
	},
	func(r *rand.Rand, o *snapshot.Objects) (snapshot.ObjectRef, bool) { // add a copy of an Ingress
		if len(o.Ingresses) == 0 {
			return snapshot.ObjectRef{}, false
		}
		cp := o.Ingresses[r.IntN(len(o.Ingresses))].DeepCopy()
		cp.Name = fmt.Sprintf("added-%d", r.Uint32())
		cp.CreationTimestamp = metav1.NewTime(time.Date(2030, 1, 1, 0, 0, r.IntN(100), 0, time.UTC))
		o.Ingresses = append(slices.Clone(o.Ingresses), cp)
		return ingressRef(cp), true
	},
	func(r *rand.Rand, o *snapshot.Objects) (snapshot.ObjectRef, bool) { // change or delete a Service
		if len(o.Services) == 0 {
			return snapshot.ObjectRef{}, false
		}
		n := r.IntN(len(o.Services))
		ref := snapshot.ObjectRef{Kind: "Service", Namespace: o.Services[n].Namespace, Name: o.Services[n].Name}
		if r.IntN(3) == 0 {
			o.Services = slices.Delete(slices.Clone(o.Services), n, n+1)
			return ref, true
		}
		cp := o.Services[n].DeepCopy()
		if len(cp.Spec.Ports) > 0 {
			cp.Spec.Ports[0].Port++
		}
		o.Services = slices.Clone(o.Services)
		o.Services[n] = cp
		return ref, true
	},
	func(r *rand.Rand, o *snapshot.Objects) (snapshot.ObjectRef, bool) { // change a slice's endpoints or Service
		if len(o.EndpointSlices) == 0 {
			return snapshot.ObjectRef{}, false
		}
		n := r.IntN(len(o.EndpointSlices))
		cp := o.EndpointSlices[n].DeepCopy()
		switch r.IntN(3) {
		case 0:
			cp.Endpoints = append(cp.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("198.18.9.%d", r.IntN(250))}})
		case 1:
			if len(cp.Endpoints) > 0 {
				ready := false
				cp.Endpoints[0].Conditions.Ready = &ready
			}
		case 2:
			if cp.Labels == nil {
				cp.Labels = map[string]string{}
			}
			cp.Labels[discoveryv1.LabelServiceName] = []string{"web", "api", "echo"}[r.IntN(3)]
		}
		o.EndpointSlices = slices.Clone(o.EndpointSlices)
		o.EndpointSlices[n] = cp
		return snapshot.ObjectRef{Kind: "EndpointSlice", Namespace: cp.Namespace, Name: cp.Name}, true
	},
	editConfigMap(func(r *rand.Rand, data map[string]string) { // a ConfigMap: not scoped
		data["proxy-read-timeout"] = fmt.Sprint(1 + r.IntN(100))
	}),
}

// compareRandomEdits builds objs with a Builder, then steps times applies
// one to three random edits (about one batch in five names an object twice)
// and checks that the Builder, told what changed, gives what Build gives
// from scratch. It returns how many of those builds were scoped.
func compareRandomEdits(t *testing.T, r *rand.Rand, objs snapshot.Objects, opts snapshot.Options, edits []edit, steps int, seed uint64) int {
	t.Helper()
	bl := snapshot.NewBuilder(opts)
	bl.Build(objs)
	scoped := 0
	for step := range steps {
		var changed []snapshot.ObjectRef
		for range 1 + r.IntN(3) {
			if ref, ok := edits[r.IntN(len(edits))](r, &objs); ok {
				changed = append(changed, ref)
			}
		}
		if len(changed) > 0 && r.IntN(5) == 0 { // named twice
			changed = append(changed, changed[0])
		}
		objs.Changed = changed
		got := bl.Build(objs)
		objs.Changed = nil
		want := snapshot.Build(objs, opts)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("seed %d step %d, changed %v: Builder differs from Build (-want +got):\n%s", seed, step, changed, diff)
		}
		if bl.Scoped() {
			scoped++
		}
	}
	return scoped
}

// TestBuilderMatchesBuild applies random edits (edits and moreEdits) to
// every golden case, some batches naming an object twice, and
// checks, after each batch, that the Builder (told what changed) gives what
// Build gives from scratch.
func TestBuilderMatchesBuild(t *testing.T) {
	t.Parallel()
	cases, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	var scoped atomic.Int64
	t.Cleanup(func() {
		if scoped.Load() == 0 {
			t.Error("no build was scoped: the test compares full builds only")
		}
		t.Logf("%d scoped builds", scoped.Load())
	})
	for _, path := range cases {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			base, opts := readCase(t, path)
			all := append(slices.Clone(edits), moreEdits...)
			for seed := range uint64(16) {
				r := rand.New(rand.NewPCG(seed, 7))
				scoped.Add(int64(compareRandomEdits(t, r, base, opts, all, 25, seed)))
			}
		})
	}
}

// TestBuilderScopes checks that a scoped rebuild happens: a Builder whose
// Service was removed behind its back (not named in Changed) still serves
// what it knew of it when told only of a change to an Ingress.
func TestBuilderScopes(t *testing.T) {
	t.Parallel()
	class := "weir"
	prefix := networkingv1.PathTypePrefix
	ing := func(name, host string) *networkingv1.Ingress {
		return &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
			Spec: networkingv1.IngressSpec{IngressClassName: &class, Rules: []networkingv1.IngressRule{{Host: host,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
					Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
						Name: "svc", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}}}}
	}
	objs := snapshot.Objects{
		IngressClasses: []*networkingv1.IngressClass{{ObjectMeta: metav1.ObjectMeta{Name: "weir"},
			Spec: networkingv1.IngressClassSpec{Controller: "weir-lb.dev/ingress-controller"}}},
		Ingresses: []*networkingv1.Ingress{ing("a", "a.example.com"), ing("b", "b.example.com")},
		Services: []*corev1.Service{{ObjectMeta: metav1.ObjectMeta{Name: "svc", Namespace: "ns"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}},
	}
	bl := snapshot.NewBuilder(snapshot.DefaultOptions())
	first := bl.Build(objs)
	if len(first.Servers) != 2 || first.Servers[0].Paths[0].Backend.Unavailable != "no ready endpoints" {
		t.Fatalf("first build: %+v", first.Servers)
	}
	// Only Ingress b is reported changed, not the Service's disappearance:
	// a scoped build keeps a.example.com and rebuilds b with the Service it
	// knows.
	objs.Ingresses = []*networkingv1.Ingress{objs.Ingresses[0], ing("b", "c.example.com")}
	objs.Services = nil
	objs.Changed = []snapshot.ObjectRef{{Kind: "Ingress", Namespace: "ns", Name: "b"}}
	s := bl.Build(objs)
	if len(s.Servers) != 2 || s.Servers[0].Host != "a.example.com" || s.Servers[1].Host != "c.example.com" {
		t.Fatalf("scoped build servers: %+v", s.Servers)
	}
	for _, srv := range s.Servers {
		if got := srv.Paths[0].Backend.Unavailable; got != "no ready endpoints" {
			t.Errorf("%s: unavailable %q: the build was not scoped", srv.Host, got)
		}
	}
	// Unknown changes are a full build.
	objs.Changed = nil
	if s := bl.Build(objs); s.Servers[0].Paths[0].Backend.Unavailable != "service ns/svc not found" {
		t.Errorf("full build kept the stale host: %+v", s.Servers[0].Paths[0].Backend)
	}
}

// rootIngress is an Ingress ns/name of class weir with the annotations
// ann and one rule: host's "/" (Prefix) to the Service ns/svc port 80.
func rootIngress(name, host string, ann map[string]string) *networkingv1.Ingress {
	class := "weir"
	prefix := networkingv1.PathTypePrefix
	return &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Annotations: ann},
		Spec: networkingv1.IngressSpec{IngressClassName: &class, Rules: []networkingv1.IngressRule{{Host: host,
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
					Name: "svc", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}}}}
}

// TestBuilderServerAlias: while an Ingress sets server-alias, a change to
// another Ingress is a full build, since it may free or take an alias.
func TestBuilderServerAlias(t *testing.T) {
	t.Parallel()
	ing := rootIngress
	alias := map[string]string{"nginx.ingress.kubernetes.io/server-alias": "b.example.com"}
	objs := snapshot.Objects{
		IngressClasses: []*networkingv1.IngressClass{{ObjectMeta: metav1.ObjectMeta{Name: "weir"},
			Spec: networkingv1.IngressClassSpec{Controller: "weir-lb.dev/ingress-controller"}}},
		Ingresses: []*networkingv1.Ingress{ing("a", "a.example.com", alias), ing("b", "b.example.com", nil)},
	}
	bl := snapshot.NewBuilder(snapshot.DefaultOptions())
	if s := bl.Build(objs); s.Servers[0].Aliases != nil {
		t.Fatalf("b.example.com is a host: aliases %q, want none", s.Servers[0].Aliases)
	}
	objs.Ingresses = []*networkingv1.Ingress{objs.Ingresses[0], ing("b", "c.example.com", nil)}
	objs.Changed = []snapshot.ObjectRef{{Kind: "Ingress", Namespace: "ns", Name: "b"}}
	s := bl.Build(objs)
	if bl.Scoped() || len(s.Servers[0].Aliases) != 1 {
		t.Errorf("after b left b.example.com: scoped %v, aliases of %s %q, want a full build and alias b.example.com",
			bl.Scoped(), s.Servers[0].Host, s.Servers[0].Aliases)
	}
}

// moreEdits reach what edits do not: canaries, ages, odd hosts, rules
// without http, path types, named ports, spec.tls and spec.defaultBackend
// (full builds), classes by annotation, new objects and changes naming
// objects that do not exist.
var moreEdits = []edit{
	toggleAnnotation(map[string]string{ // toggle what ingress-nginx refuses an Ingress for
		"configuration-snippet": "return 200;", "load-balance": "least_conn",
		"server-alias": "alias.example.com", "connection-proxy-header": "set_by_lua",
	}),
	editConfigMap(func(r *rand.Rand, data map[string]string) { // the refusal settings of a ConfigMap: not scoped
		data["annotations-risk-level"] = []string{"Low", "Medium", "High", "Critical", "bogus"}[r.IntN(5)]
		data["annotation-value-word-blocklist"] = []string{"", "set_by_lua", "alias"}[r.IntN(3)]
	}),
	toggleAnnotation(map[string]string{"canary": "true"}), // toggle canary
	toggleAnnotation(map[string]string{ // toggle the affinity its Service's other Ingresses share
		"affinity": "cookie", "affinity-mode": "persistent", "session-cookie-name": "S",
	}),
	toggleAnnotation(map[string]string{ // toggle the balancing its Service port's oldest Ingress gives the others
		"load-balance": "ewma", "upstream-hash-by": "$request_uri", "upstream-hash-by-subset": "true", "upstream-hash-by-subset-size": "2",
	}),
	editIngress(func(r *rand.Rand, i *networkingv1.Ingress) { // new age
		i.CreationTimestamp = metav1.NewTime(time.Date(2020+r.IntN(10), 1, 1, 0, 0, 0, 0, time.UTC))
	}),
	editIngress(func(r *rand.Rand, i *networkingv1.Ingress) { // odd hosts
		if rule := someRule(r, i); rule != nil {
			rule.Host = []string{"A.EXAMPLE.COM", "bad_host", "*.Example.com", "a.example.com.", "*"}[r.IntN(5)]
		}
	}),
	editIngress(func(r *rand.Rand, i *networkingv1.Ingress) { // drop rules
		i.Spec.Rules = nil
	}),
	editIngress(func(r *rand.Rand, i *networkingv1.Ingress) { // add a rule without http
		i.Spec.Rules = append(i.Spec.Rules, networkingv1.IngressRule{Host: hostsPool[r.IntN(len(hostsPool))]})
	}),
	editIngress(func(r *rand.Rand, i *networkingv1.Ingress) { // path type
		if rule := someRule(r, i); rule != nil {
			pt := []networkingv1.PathType{"Exact", "Prefix", "ImplementationSpecific", "Bogus"}[r.IntN(4)]
			rule.HTTP.Paths[0].PathType = &pt
		}
	}),
	editIngress(func(r *rand.Rand, i *networkingv1.Ingress) { // port by name
		if rule := someRule(r, i); rule != nil && rule.HTTP.Paths[0].Backend.Service != nil {
			rule.HTTP.Paths[0].Backend.Service.Port = networkingv1.ServiceBackendPort{Name: []string{"http", "web", ""}[r.IntN(3)]}
		}
	}),
	editIngress(func(r *rand.Rand, i *networkingv1.Ingress) { // tls
		if len(i.Spec.TLS) > 0 {
			i.Spec.TLS = nil
		} else {
			i.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{hostsPool[r.IntN(len(hostsPool))]}, SecretName: "missing"}}
		}
	}),
	editIngress(func(r *rand.Rand, i *networkingv1.Ingress) { // default backend
		if i.Spec.DefaultBackend != nil {
			i.Spec.DefaultBackend = nil
		} else {
			i.Spec.DefaultBackend = &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}
		}
	}),
	editIngress(func(r *rand.Rand, i *networkingv1.Ingress) { // class by annotation / none
		i.Spec.IngressClassName = nil
		if r.IntN(2) == 0 {
			if i.Annotations == nil {
				i.Annotations = map[string]string{}
			}
			i.Annotations["kubernetes.io/ingress.class"] = []string{"weir", "nginx"}[r.IntN(2)]
		}
	}),
	func(r *rand.Rand, o *snapshot.Objects) (snapshot.ObjectRef, bool) { // add an Ingress in another namespace
		if len(o.Ingresses) == 0 {
			return snapshot.ObjectRef{}, false
		}
		cp := o.Ingresses[r.IntN(len(o.Ingresses))].DeepCopy()
		cp.Namespace = "other"
		cp.Name = fmt.Sprintf("o-%d", r.IntN(4))
		if slices.ContainsFunc(o.Ingresses, func(i *networkingv1.Ingress) bool { return i.Namespace == cp.Namespace && i.Name == cp.Name }) {
			return snapshot.ObjectRef{}, false
		}
		o.Ingresses = append(slices.Clone(o.Ingresses), cp)
		return ingressRef(cp), true
	},
	func(r *rand.Rand, o *snapshot.Objects) (snapshot.ObjectRef, bool) { // add a Service
		if len(o.Ingresses) == 0 {
			return snapshot.ObjectRef{}, false
		}
		ns := o.Ingresses[r.IntN(len(o.Ingresses))].Namespace
		name := []string{"web", "api", "missing", "echo", "app"}[r.IntN(5)]
		if slices.ContainsFunc(o.Services, func(s *corev1.Service) bool { return s.Namespace == ns && s.Name == name }) {
			return snapshot.ObjectRef{}, false
		}
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
		if r.IntN(4) == 0 {
			svc.Spec.Type = corev1.ServiceTypeExternalName
		}
		o.Services = append(slices.Clone(o.Services), svc)
		return snapshot.ObjectRef{Kind: "Service", Namespace: ns, Name: name}, true
	},
	func(r *rand.Rand, o *snapshot.Objects) (snapshot.ObjectRef, bool) { // add or delete a slice
		if len(o.EndpointSlices) > 0 && r.IntN(2) == 0 {
			n := r.IntN(len(o.EndpointSlices))
			es := o.EndpointSlices[n]
			o.EndpointSlices = slices.Delete(slices.Clone(o.EndpointSlices), n, n+1)
			return snapshot.ObjectRef{Kind: "EndpointSlice", Namespace: es.Namespace, Name: es.Name}, true
		}
		if len(o.Ingresses) == 0 {
			return snapshot.ObjectRef{}, false
		}
		ns := o.Ingresses[r.IntN(len(o.Ingresses))].Namespace
		name := fmt.Sprintf("new-%d", r.IntN(6))
		if slices.ContainsFunc(o.EndpointSlices, func(s *discoveryv1.EndpointSlice) bool { return s.Namespace == ns && s.Name == name }) {
			return snapshot.ObjectRef{}, false
		}
		pn, pp := "http", int32(8080)
		es := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name,
			Labels: map[string]string{discoveryv1.LabelServiceName: []string{"web", "api", "echo", "app"}[r.IntN(4)]}},
			Ports:     []discoveryv1.EndpointPort{{Name: &pn, Port: &pp}},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{fmt.Sprintf("198.18.7.%d", r.IntN(250))}}}}
		o.EndpointSlices = append(slices.Clone(o.EndpointSlices), es)
		return snapshot.ObjectRef{Kind: "EndpointSlice", Namespace: ns, Name: name}, true
	},
	func(r *rand.Rand, o *snapshot.Objects) (snapshot.ObjectRef, bool) { // a phantom change
		k := []string{"Ingress", "Service", "EndpointSlice"}[r.IntN(3)]
		return snapshot.ObjectRef{Kind: k, Namespace: "nowhere", Name: "ghost"}, true
	},
}

// tlsClaim returns two Ingresses a (older) and b with a rule for
// x.example.com and a TLS section for it, with Secrets sa and sb whose
// certificates both cover it
// (ing builds either with an age and annotations), and claimant, the
// Secret whose certificate a Snapshot gives the host.
func tlsClaim(t *testing.T) (objs snapshot.Objects, ing func(name, sec string, age int, ann map[string]string) *networkingv1.Ingress, claimant func(*snapshot.Snapshot) string) {
	t.Helper()
	ca := certstest.NewCA(t)
	class := "weir"
	secret := func(name string) *corev1.Secret {
		crt, key := ca.Issue(t, "x.example.com")
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key}}
	}
	ing = func(name, sec string, age int, ann map[string]string) *networkingv1.Ingress {
		return &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Annotations: ann,
			CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, age, 0, time.UTC))},
			Spec: networkingv1.IngressSpec{IngressClassName: &class,
				TLS:   []networkingv1.IngressTLS{{Hosts: []string{"x.example.com"}, SecretName: sec}},
				Rules: []networkingv1.IngressRule{{Host: "x.example.com"}}}}
	}
	objs = snapshot.Objects{
		IngressClasses: []*networkingv1.IngressClass{{ObjectMeta: metav1.ObjectMeta{Name: "weir"},
			Spec: networkingv1.IngressClassSpec{Controller: "weir-lb.dev/ingress-controller"}}},
		Ingresses: []*networkingv1.Ingress{ing("a", "sa", 1, nil), ing("b", "sb", 2, nil)},
		Secrets:   []*corev1.Secret{secret("sa"), secret("sb")},
	}
	claimant = func(s *snapshot.Snapshot) string {
		for _, c := range s.Certificates {
			if slices.Contains(c.Hosts, "x.example.com") {
				return c.Secret.Name
			}
		}
		return ""
	}
	return objs, ing, claimant
}

// TestBuilderTLSClaimFollows: two Ingresses list one TLS host with
// certificates that both cover it; the oldest served one claims it. Each
// step changes one Ingress (nothing else) and the claim follows, in a
// scoped build equal to Build: the older one gains a snippet (ingress-nginx
// refuses it at the default risk level: only its annotations change), loses
// it, then the younger one is made older.
func TestBuilderTLSClaimFollows(t *testing.T) {
	t.Parallel()
	objs, ing, claimant := tlsClaim(t)
	opts := snapshot.DefaultOptions()
	bl := snapshot.NewBuilder(opts)
	if got := claimant(bl.Build(objs)); got != "sa" {
		t.Fatalf("x.example.com claimed by %q, want sa (Ingress a is older)", got)
	}
	for _, step := range []struct {
		name string
		ing  *networkingv1.Ingress
		want string
	}{
		{"a refused", ing("a", "sa", 1, map[string]string{"nginx.ingress.kubernetes.io/server-snippet": "x"}), "sb"},
		{"a served again", ing("a", "sa", 1, nil), "sa"},
		{"b older", ing("b", "sb", 0, nil), "sb"},
	} {
		objs.Ingresses = slices.Clone(objs.Ingresses)
		objs.Ingresses[map[string]int{"a": 0, "b": 1}[step.ing.Name]] = step.ing
		objs.Changed = []snapshot.ObjectRef{{Kind: "Ingress", Namespace: "ns", Name: step.ing.Name}}
		got := bl.Build(objs)
		objs.Changed = nil
		if diff := cmp.Diff(snapshot.Build(objs, opts), got); diff != "" {
			t.Fatalf("%s: Builder differs from Build (-want +got):\n%s", step.name, diff)
		}
		if c := claimant(got); c != step.want || !bl.Scoped() {
			t.Errorf("%s: claimed by %q (scoped %v), want %s in a scoped build", step.name, c, bl.Scoped(), step.want)
		}
	}
}

// TestBuilderAuthTLSSecret: an Ingress depends on the Secret its
// auth-tls-secret names. Creating, changing and deleting the Secret (only
// the Secret is reported changed) rebuilds the Ingress's host in a scoped
// build that equals Build.
func TestBuilderAuthTLSSecret(t *testing.T) {
	t.Parallel()
	ing := rootIngress
	caSecret := func(ca *certstest.CA) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "ca", Namespace: "ns"}, Data: map[string][]byte{"ca.crt": ca.CertPEM()}}
	}
	objs := snapshot.Objects{
		IngressClasses: []*networkingv1.IngressClass{{ObjectMeta: metav1.ObjectMeta{Name: "weir"},
			Spec: networkingv1.IngressClassSpec{Controller: "weir-lb.dev/ingress-controller"}}},
		Ingresses: []*networkingv1.Ingress{
			ing("auth", "auth.example.com", map[string]string{"nginx.ingress.kubernetes.io/auth-tls-secret": "ns/ca"}),
			ing("other", "other.example.com", nil),
		},
	}
	opts := snapshot.DefaultOptions()
	bl := snapshot.NewBuilder(opts)
	denied := func(s *snapshot.Snapshot) string {
		for _, srv := range s.Servers {
			if srv.Host == "auth.example.com" && srv.TLS != nil && srv.TLS.ClientAuth != nil {
				return srv.TLS.ClientAuth.Denied
			}
		}
		return "no client auth"
	}
	if d := denied(bl.Build(objs)); !strings.Contains(d, "secret ns/ca not found") {
		t.Fatalf("without the Secret: denied %q", d)
	}
	for i, sec := range []*corev1.Secret{caSecret(certstest.NewCA(t)), caSecret(certstest.NewCA(t)), nil} {
		objs.Secrets = nil
		if sec != nil {
			objs.Secrets = []*corev1.Secret{sec}
		}
		objs.Changed = []snapshot.ObjectRef{{Kind: "Secret", Namespace: "ns", Name: "ca"}}
		got := bl.Build(objs)
		objs.Changed = nil
		want := snapshot.Build(objs, opts)
		if diff := cmp.Diff(want, got); diff != "" || !bl.Scoped() {
			t.Fatalf("step %d: scoped %v; Builder differs from Build (-want +got):\n%s", i, bl.Scoped(), diff)
		}
		if d := denied(got); (sec == nil) != (d != "") {
			t.Errorf("step %d: denied %q", i, d)
		}
	}
}

// TestBuilderProxySSLSecret: a route denied for its missing proxy-ssl-secret
// is served once the Secret appears, in a scoped build naming only the
// Secret, and denied again when it goes.
func TestBuilderProxySSLSecret(t *testing.T) {
	t.Parallel()
	objs, opts := readCase(t, "testdata/backend_protocol_proxy_ssl.yaml")
	var withNope []*corev1.Secret
	for _, s := range objs.Secrets {
		withNope = append(withNope, s)
	}
	crt, key := certstest.NewCA(t).Issue(t, "a.example.com")
	withNope = append(withNope, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "nope", Namespace: "default"},
		Data: map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key}})
	without := objs.Secrets
	denied := func(s *snapshot.Snapshot) string {
		for _, srv := range s.Servers {
			if srv.Host == "missing.example.com" {
				return srv.Paths[0].Backend.UpstreamTLS.Denied
			}
		}
		t.Fatal("no server missing.example.com")
		return ""
	}
	bl := snapshot.NewBuilder(opts)
	if d := denied(bl.Build(objs)); d == "" {
		t.Fatal("route with a missing secret not denied")
	}
	for i, secrets := range [][]*corev1.Secret{withNope, without} {
		objs.Secrets = secrets
		objs.Changed = []snapshot.ObjectRef{{Kind: "Secret", Namespace: "default", Name: "nope"}}
		got := bl.Build(objs)
		objs.Changed = nil
		if diff := cmp.Diff(snapshot.Build(objs, opts), got); diff != "" {
			t.Fatalf("step %d: Builder differs from Build (-want +got):\n%s", i, diff)
		}
		if !bl.Scoped() || (denied(got) == "") != (i == 0) {
			t.Errorf("step %d: scoped %v, denied %q", i, bl.Scoped(), denied(got))
		}
	}
}

// TestBuilderHostRoot: a host's root location follows its oldest Ingress
// in scoped builds: changing that Ingress's annotations, then deleting it
// (the younger Ingress of the host makes the root), each rebuilds the root
// as Build does.
func TestBuilderHostRoot(t *testing.T) {
	t.Parallel()
	objs, opts := readCase(t, "testdata/host_root.yaml")
	bl := snapshot.NewBuilder(opts)
	bl.Build(objs)
	root := func(s *snapshot.Snapshot) snapshot.Backend {
		t.Helper()
		for _, srv := range s.Servers {
			for _, p := range srv.Paths {
				if srv.Host == "a.example.com" && p.Path == "/" {
					return p.Backend
				}
			}
		}
		t.Fatal("a.example.com has no root location")
		return snapshot.Backend{}
	}
	index := slices.IndexFunc(objs.Ingresses, func(i *networkingv1.Ingress) bool { return i.Name == "first" })
	for _, step := range []struct {
		name  string
		edit  func()
		check func(be snapshot.Backend) bool
	}{
		{"first's allow list changed", func() {
			cp := objs.Ingresses[index].DeepCopy()
			cp.Annotations["nginx.ingress.kubernetes.io/whitelist-source-range"] = "198.51.100.0/24"
			objs.Ingresses = slices.Clone(objs.Ingresses)
			objs.Ingresses[index] = cp
		}, func(be snapshot.Backend) bool {
			return be.Ingress.Name == "first" && be.Proxy.SourceRange != nil && slices.Equal(be.Proxy.SourceRange.Allow, []string{"198.51.100.0/24"})
		}},
		{"first deleted", func() {
			objs.Ingresses = slices.Delete(slices.Clone(objs.Ingresses), index, index+1)
		}, func(be snapshot.Backend) bool {
			return be.Ingress.Name == "second" && be.Proxy.SourceRange == nil && be.Proxy.RateLimit != nil
		}},
	} {
		step.edit()
		objs.Changed = []snapshot.ObjectRef{{Kind: "Ingress", Namespace: "default", Name: "first"}}
		got := bl.Build(objs)
		objs.Changed = nil
		if diff := cmp.Diff(snapshot.Build(objs, opts), got); diff != "" {
			t.Fatalf("%s: Builder differs from Build (-want +got):\n%s", step.name, diff)
		}
		if be := root(got); !step.check(be) || !bl.Scoped() {
			t.Errorf("%s: root %+v (scoped %v)", step.name, be, bl.Scoped())
		}
	}
}

// TestBuilderSharedAffinity: an Ingress that gains or loses cookie
// affinity changes the balancing of another Ingress's host routed to the
// same Service port (shareAffinity); the scoped build rebuilds that host
// too and equals the full Build.
func TestBuilderSharedAffinity(t *testing.T) {
	t.Parallel()
	ing := func(name, host string, age int, ann map[string]string) *networkingv1.Ingress {
		i := rootIngress(name, host, ann)
		i.CreationTimestamp = metav1.NewTime(time.Date(2024, 1, age, 0, 0, 0, 0, time.UTC))
		return i
	}
	cookie := func(kv ...string) map[string]string {
		m := map[string]string{"nginx.ingress.kubernetes.io/affinity": "cookie"}
		for i := 0; i+1 < len(kv); i += 2 {
			m["nginx.ingress.kubernetes.io/"+kv[i]] = kv[i+1]
		}
		return m
	}
	objs := snapshot.Objects{
		IngressClasses: []*networkingv1.IngressClass{{ObjectMeta: metav1.ObjectMeta{Name: "weir"},
			Spec: networkingv1.IngressClassSpec{Controller: "weir-lb.dev/ingress-controller"}}},
		Ingresses: []*networkingv1.Ingress{ing("a", "a.example.com", 1, nil), ing("b", "b.example.com", 2, nil)},
		Services: []*corev1.Service{{ObjectMeta: metav1.ObjectMeta{Name: "svc", Namespace: "ns"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}},
	}
	opts := snapshot.DefaultOptions()
	bl := snapshot.NewBuilder(opts)
	bl.Build(objs)
	for _, step := range []struct {
		name       string
		a, b       map[string]string
		changed    []string
		cookieName string // of a.example.com's shared affinity; "" for none
		persistent bool
		cookiePath string // a.example.com's
	}{
		// a has none of its own: b's, set on b's paths only.
		{"b sets affinity", nil, cookie("session-cookie-name", "B"), []string{"b"}, "B", false, ""},
		// The newest's cookie settings; the mode of the oldest that
		// writes one, b here.
		{"a sets it too", cookie(), cookie("session-cookie-name", "B", "affinity-mode", "persistent"), []string{"a", "b"}, "B", true, "/"},
		{"b drops it", cookie(), nil, []string{"b"}, "INGRESSCOOKIE", false, "/"},
		{"a drops it", nil, nil, []string{"a"}, "", false, ""},
	} {
		objs.Ingresses = []*networkingv1.Ingress{ing("a", "a.example.com", 1, step.a), ing("b", "b.example.com", 2, step.b)}
		objs.Changed = nil
		for _, n := range step.changed {
			objs.Changed = append(objs.Changed, snapshot.ObjectRef{Kind: "Ingress", Namespace: "ns", Name: n})
		}
		got := bl.Build(objs)
		objs.Changed = nil
		if diff := cmp.Diff(snapshot.Build(objs, opts), got); diff != "" {
			t.Fatalf("%s: Builder differs from Build (-want +got):\n%s", step.name, diff)
		}
		a := got.Servers[0]
		bal := a.Paths[0].Backend.Proxy.Balance
		name, persistent := "", false
		if bal != nil && bal.Cookie {
			name, persistent = bal.CookieName, bal.Persistent
		}
		if a.Host != "a.example.com" || name != step.cookieName || persistent != step.persistent || a.Paths[0].CookiePath != step.cookiePath || !bl.Scoped() {
			t.Errorf("%s: a.example.com cookie %q persistent %v cookie path %q (scoped %v), want %q %v %q",
				step.name, name, persistent, a.Paths[0].CookiePath, bl.Scoped(), step.cookieName, step.persistent, step.cookiePath)
		}
	}
}

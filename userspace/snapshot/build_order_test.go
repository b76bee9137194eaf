package snapshot_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weir-lb/weir/userspace/snapshot"
)

// TestEquallyOldIngressesOrder: of two Ingresses created in the same second
// that define the same route, the one whose "namespace/name" is the greater
// wins, as ingress-nginx's sortIngressSlice orders them (store.go: "in >
// jn"); the comparison is of the joined string, so namespace "x" ("x/...")
// comes before "x-y" ("x-y/...": '-' < '/').
func TestEquallyOldIngressesOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		first  [2]string // namespace, name
		second [2]string
		want   string // namespace of the winning backend's Ingress + "/" + name
	}{
		{"same namespace", [2]string{"default", "a"}, [2]string{"default", "b"}, "default/b"},
		{"namespaces", [2]string{"a", "web"}, [2]string{"b", "web"}, "b/web"},
		{"namespace prefix", [2]string{"x-y", "web"}, [2]string{"x", "web"}, "x/web"},
	}
	created := metav1.NewTime(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	class := "weir"
	prefix := networkingv1.PathTypePrefix
	ingress := func(ns, name string) *networkingv1.Ingress {
		return &networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: created},
			Spec: networkingv1.IngressSpec{IngressClassName: &class, Rules: []networkingv1.IngressRule{{
				Host: "same.example.com",
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
					Path: "/", PathType: &prefix,
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
						Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}},
				}}}},
			}}},
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, order := range [][2][2]string{{tc.first, tc.second}, {tc.second, tc.first}} {
				objs := snapshot.Objects{
					IngressClasses: []*networkingv1.IngressClass{{ObjectMeta: metav1.ObjectMeta{Name: class},
						Spec: networkingv1.IngressClassSpec{Controller: snapshot.DefaultOptions().ControllerClass}}},
					Ingresses: []*networkingv1.Ingress{ingress(order[0][0], order[0][1]), ingress(order[1][0], order[1][1])},
				}
				for _, ing := range objs.Ingresses {
					objs.Services = append(objs.Services, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ing.Namespace, Name: "web"},
						Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}})
				}
				s := snapshot.Build(objs, snapshot.DefaultOptions())
				if len(s.Servers) != 1 || len(s.Servers[0].Paths) != 1 {
					t.Fatalf("servers = %+v, want one with one path", s.Servers)
				}
				ref := s.Servers[0].Paths[0].Backend.Ingress
				if got := ref.Namespace + "/" + ref.Name; got != tc.want {
					t.Errorf("input %v: route served by ingress %s, want %s", order, got, tc.want)
				}
			}
		})
	}
}

// TestRegexPathOrder: in a use-regex host every path, Exact ones included,
// is an expression tried in ingress-nginx's order (getBackendServers sorts
// the locations by path, greater first, then stably by length, longest
// first): length, then the greater path, whatever the age of its Ingress;
// an Exact path takes its place by length like the others.
func TestRegexPathOrder(t *testing.T) {
	t.Parallel()
	class := "weir"
	is, exact := networkingv1.PathTypeImplementationSpecific, networkingv1.PathTypeExact
	path := func(p string, pt *networkingv1.PathType, svc string) networkingv1.HTTPIngressPath {
		return networkingv1.HTTPIngressPath{Path: p, PathType: pt, Backend: networkingv1.IngressBackend{
			Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Number: 80}}}}
	}
	ingress := func(name string, sec int, ann map[string]string, paths ...networkingv1.HTTPIngressPath) *networkingv1.Ingress {
		return &networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Annotations: ann,
				CreationTimestamp: metav1.NewTime(time.Date(2024, 1, 1, 0, 0, sec, 0, time.UTC))},
			Spec: networkingv1.IngressSpec{IngressClassName: &class, Rules: []networkingv1.IngressRule{{
				Host:             "re.example.com",
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: paths}},
			}}},
		}
	}
	objs := snapshot.Objects{
		IngressClasses: []*networkingv1.IngressClass{{ObjectMeta: metav1.ObjectMeta{Name: class},
			Spec: networkingv1.IngressClassSpec{Controller: snapshot.DefaultOptions().ControllerClass}}},
		Ingresses: []*networkingv1.Ingress{
			ingress("old", 1, map[string]string{"nginx.ingress.kubernetes.io/use-regex": "true"}, path("/a.c", &is, "web")),
			ingress("young", 2, nil, path("/abd", &is, "web"), path("/ab", &exact, "web")),
		},
		Services: []*corev1.Service{{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}},
	}
	s := snapshot.Build(objs, snapshot.DefaultOptions())
	if len(s.Servers) != 1 {
		t.Fatalf("servers = %+v, want one", s.Servers)
	}
	var got []string
	for _, p := range s.Servers[0].Paths {
		got = append(got, p.Path+" "+string(p.Match))
	}
	// young's Prefix "/abd" (no use-regex of its own) is two locations,
	// "/abd/" and its copy "/abd", as ingress-nginx's updateServerLocations.
	want := []string{"/abd/ Regex", "/abd Regex", "/a.c Regex", "/ab Exact", "/ Prefix"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
}

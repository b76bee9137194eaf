package kube

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weir-lb/weir/userspace/snapshot"
)

func TestServes(t *testing.T) {
	t.Parallel()
	opts := snapshot.DefaultOptions()
	ours := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "weir"}, Spec: networkingv1.IngressClassSpec{Controller: opts.ControllerClass}}
	theirs := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "other"}, Spec: networkingv1.IngressClassSpec{Controller: "example.com/other"}}
	defaultOurs := ours.DeepCopy()
	defaultOurs.Annotations = map[string]string{snapshot.DefaultClassAnnotation: "true"}
	name := func(s string) *string { return &s }
	ing := func(class *string, legacy string) *networkingv1.Ingress {
		i := &networkingv1.Ingress{Spec: networkingv1.IngressSpec{IngressClassName: class}}
		if legacy != "" {
			i.Annotations = map[string]string{snapshot.LegacyClassAnnotation: legacy}
		}
		return i
	}
	cases := []struct {
		name    string
		ing     *networkingv1.Ingress
		classes []*networkingv1.IngressClass
		want    bool
	}{
		{"our class", ing(name("weir"), ""), []*networkingv1.IngressClass{ours, theirs}, true},
		{"other class", ing(name("other"), ""), []*networkingv1.IngressClass{ours, theirs}, false},
		{"unknown class", ing(name("nope"), ""), []*networkingv1.IngressClass{ours}, false},
		{"legacy ours", ing(nil, "weir"), nil, true},
		{"legacy other", ing(nil, "nginx"), nil, false},
		{"no class", ing(nil, ""), []*networkingv1.IngressClass{ours}, false},
		{"no class, default ours", ing(nil, ""), []*networkingv1.IngressClass{defaultOurs}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := snapshot.NewClassSelector(tc.classes, opts).Serves(tc.ing); got != tc.want {
				t.Errorf("Serves = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAddresses(t *testing.T) {
	t.Parallel()
	got := lbIngress(sortedUnique([]string{" 198.18.0.2", "lb.example.com", "198.18.0.1", "198.18.0.2", ""}))
	want := []networkingv1.IngressLoadBalancerIngress{{IP: "198.18.0.1"}, {IP: "198.18.0.2"}, {Hostname: "lb.example.com"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lbIngress (-want +got):\n%s", diff)
	}
	if lbIngress(nil) != nil {
		t.Error("lbIngress(nil) is not nil")
	}
	n := &corev1.Node{Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
		{Type: corev1.NodeHostName, Address: "n1"},
		{Type: corev1.NodeInternalIP, Address: "10.0.0.1"},
		{Type: corev1.NodeExternalIP, Address: "203.0.113.1"},
	}}}
	if got := nodeAddress(n); got != "203.0.113.1" {
		t.Errorf("nodeAddress = %q, want the ExternalIP", got)
	}
	n.Status.Addresses = n.Status.Addresses[:2]
	if got := nodeAddress(n); got != "10.0.0.1" {
		t.Errorf("nodeAddress without ExternalIP = %q, want the InternalIP", got)
	}
}

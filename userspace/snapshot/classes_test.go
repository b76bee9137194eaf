package snapshot

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestClassByName: with IngressClassByName, the IngressClass named
// Options.IngressClass is Weir's whatever its controller, as ingress-nginx's
// CheckIngressClass decides with --ingress-class-by-name; without, only the
// controller counts.
func TestClassByName(t *testing.T) {
	t.Parallel()
	class := func(name, controller string) *networkingv1.IngressClass {
		return &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: networkingv1.IngressClassSpec{Controller: controller}}
	}
	named := func(n string) *networkingv1.Ingress {
		return &networkingv1.Ingress{Spec: networkingv1.IngressSpec{IngressClassName: &n}}
	}
	opts := DefaultOptions()
	opts.IngressClass = "nginx"
	classes := []*networkingv1.IngressClass{class("nginx", "k8s.io/ingress-nginx"), class("other", "example.com/other"), class("weir", opts.ControllerClass)}
	for _, byName := range []bool{false, true} {
		opts.IngressClassByName = byName
		sel := NewClassSelector(classes, opts)
		for name, want := range map[string]bool{"nginx": byName, "other": false, "weir": true} {
			if got := sel.Serves(named(name)); got != want {
				t.Errorf("by name %v: Serves(ingressClassName %s) = %v, want %v", byName, name, got, want)
			}
		}
	}
}

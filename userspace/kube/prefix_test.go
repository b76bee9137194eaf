package kube

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestPrefixer: under a custom prefix, its annotations are read as the
// default prefix's and the default prefix's are not; an Ingress without
// either is passed as is, and an unchanged Ingress gives the same copy
// from one build to the next.
func TestPrefixer(t *testing.T) {
	t.Parallel()
	if newPrefixer("") != nil || newPrefixer("nginx.ingress.kubernetes.io") != nil {
		t.Fatal("a prefixer for the default prefix")
	}
	p := newPrefixer("weir.example.com")
	ing := func(ann map[string]string) *networkingv1.Ingress {
		return &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "web", Annotations: ann}}
	}
	custom := ing(map[string]string{
		"weir.example.com/ssl-redirect":            "false",
		"nginx.ingress.kubernetes.io/use-regex":    "true",
		"kubernetes.io/ingress.class":              "weir",
		"weir.example.com.evil/proxy-read-timeout": "1",
	})
	plain := ing(map[string]string{"team": "a"})
	got := p.apply([]*networkingv1.Ingress{custom, plain})
	want := map[string]string{
		"nginx.ingress.kubernetes.io/ssl-redirect": "false",
		"kubernetes.io/ingress.class":              "weir",
		"weir.example.com.evil/proxy-read-timeout": "1",
	}
	if diff := cmp.Diff(want, got[0].Annotations); diff != "" {
		t.Errorf("renamed annotations (-want +got):\n%s", diff)
	}
	if got[1] != plain {
		t.Error("an Ingress without annotations of either prefix was copied")
	}
	if custom.Annotations["weir.example.com/ssl-redirect"] != "false" || len(custom.Annotations) != 4 {
		t.Errorf("the cached object was modified: %v", custom.Annotations)
	}
	first := got[0]
	if again := p.apply([]*networkingv1.Ingress{custom}); again[0] != first {
		t.Error("an unchanged Ingress gave a new copy")
	}
}

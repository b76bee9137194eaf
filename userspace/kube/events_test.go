package kube

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"

	"github.com/weir-lb/weir/userspace/snapshot"
)

func TestEventsOncePerWarning(t *testing.T) {
	t.Parallel()
	var got []string
	reg := prometheus.NewRegistry()
	e := newEvents(func(ref *corev1.ObjectReference, reason, msg string) {
		got = append(got, ref.APIVersion+" "+ref.Kind+" "+ref.Namespace+"/"+ref.Name+" "+reason+": "+msg)
	}, reg, nil)
	bad := snapshot.Warning{Object: snapshot.ObjectRef{Kind: "Ingress", Namespace: "a", Name: "x"}, Reason: "InvalidAnnotation", Message: "m1"}
	svc := snapshot.Warning{Object: snapshot.ObjectRef{Kind: "Ingress", Namespace: "a", Name: "y"}, Reason: "ServiceNotFound", Message: "m2"}
	cm := snapshot.Warning{Object: snapshot.ObjectRef{Kind: "ConfigMap", Namespace: "weir", Name: "c"}, Reason: "ConfigMapNotFound", Message: "m3"}

	e.Observe([]snapshot.Warning{bad}, true)
	e.Observe([]snapshot.Warning{bad, svc}, true) // bad persists: not again
	e.Observe([]snapshot.Warning{svc}, true)      // bad went away
	e.Observe([]snapshot.Warning{svc, bad}, true) // bad came back: again
	e.Observe([]snapshot.Warning{svc, cm}, false) // follower: nothing, forgets
	e.Observe([]snapshot.Warning{svc, cm}, true)  // leader again: all present
	want := []string{
		"networking.k8s.io/v1 Ingress a/x InvalidAnnotation: m1",
		"networking.k8s.io/v1 Ingress a/y ServiceNotFound: m2",
		"networking.k8s.io/v1 Ingress a/x InvalidAnnotation: m1",
		"networking.k8s.io/v1 Ingress a/y ServiceNotFound: m2",
		"v1 ConfigMap weir/c ConfigMapNotFound: m3",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if n := testutil.ToFloat64(e.count.WithLabelValues("InvalidAnnotation")); n != 2 {
		t.Errorf("weir_events_total{reason=InvalidAnnotation} = %v, want 2", n)
	}
	if n := testutil.CollectAndCount(reg, "weir_events_total"); n != 3 {
		t.Errorf("weir_events_total has %d series, want 3", n)
	}
}

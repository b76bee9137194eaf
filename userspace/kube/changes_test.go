package kube

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/weir-lb/weir/userspace/snapshot"
)

func TestChangeLog(t *testing.T) {
	t.Parallel()
	c := newChangeLog()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "svc"}}
	c.record("Service", svc)
	if got := c.take(); got != nil {
		t.Fatalf("first take: %v, want nil (unknown: the first build is a full one)", got)
	}

	c.record("Service", svc)
	c.record("Service", svc)
	c.record("Ingress", cache.DeletedFinalStateUnknown{Key: "ns/gone"})
	got := c.take()
	slices.SortFunc(got, func(a, b snapshot.ObjectRef) int { return strings.Compare(a.Kind, b.Kind) })
	want := []snapshot.ObjectRef{{Kind: "Ingress", Namespace: "ns", Name: "gone"}, {Kind: "Service", Namespace: "ns", Name: "svc"}}
	if !slices.Equal(got, want) {
		t.Fatalf("take: %v, want %v", got, want)
	}
	if got := c.take(); got == nil || len(got) != 0 {
		t.Fatalf("take with no change: %v, want empty and non-nil", got)
	}

	for i := range snapshot.MaxScopedChanges + 1 {
		c.record("Service", &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: fmt.Sprint(i)}})
	}
	if got := c.take(); got != nil {
		t.Fatalf("take after %d changes: %d refs, want nil (a full build)", snapshot.MaxScopedChanges+1, len(got))
	}
	c.record("Service", "not an object")
	if got := c.take(); got != nil {
		t.Fatalf("take after an unreadable object: %v, want nil", got)
	}
}

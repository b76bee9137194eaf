package kube

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestStripTransform(t *testing.T) {
	t.Parallel()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name:          "s",
			Annotations:   map[string]string{corev1.LastAppliedConfigAnnotation: "{...}", "keep": "1"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
		},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "1.2.3.4"}}}},
	}
	out, err := stripTransform(svc)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*corev1.Service)
	if got.ManagedFields != nil || len(got.Status.LoadBalancer.Ingress) != 0 {
		t.Errorf("managed fields or status kept: %+v", got)
	}
	if _, ok := got.Annotations[corev1.LastAppliedConfigAnnotation]; ok || got.Annotations["keep"] != "1" {
		t.Errorf("annotations = %v, want only keep=1", got.Annotations)
	}
}

func TestStripTransformSecrets(t *testing.T) {
	t.Parallel()
	data := map[string][]byte{"auth": []byte("foo:{PLAIN}x")}
	for _, tc := range []struct {
		typ  corev1.SecretType
		keep bool
	}{
		{"", true}, {corev1.SecretTypeOpaque, true}, {corev1.SecretTypeTLS, true},
		{corev1.SecretTypeBasicAuth, false}, {corev1.SecretTypeSSHAuth, false}, {"example.com/custom", false},
	} {
		out, err := stripTransform(&corev1.Secret{Type: tc.typ, Data: data, StringData: map[string]string{"a": "b"}})
		if err != nil {
			t.Fatal(err)
		}
		got := out.(*corev1.Secret)
		if kept := got.Data != nil; kept != tc.keep {
			t.Errorf("type %q: data kept %v, want %v", tc.typ, kept, tc.keep)
		}
	}
	out, _ := stripTransform(&corev1.ConfigMap{Data: map[string]string{"X-A": "1"}, BinaryData: map[string][]byte{"b": {1}}})
	if cm := out.(*corev1.ConfigMap); cm.BinaryData != nil || cm.Data["X-A"] != "1" {
		t.Errorf("configmap = %+v, want its data without binary data", cm)
	}
	for _, typ := range []string{"helm.sh/release.v1", "kubernetes.io/service-account-token", "kubernetes.io/dockerconfigjson"} {
		if !strings.Contains(secretFieldSelector, "type!="+typ) {
			t.Errorf("secretFieldSelector %q does not leave out %s", secretFieldSelector, typ)
		}
	}
}

package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/test/kubeapi"
	"github.com/weir-lb/weir/test/testutil"
)

// webhookCert writes a serving certificate for 127.0.0.1, signed by a
// fresh CA, and returns the --validating-webhook* flags for addr and the
// CA's PEM (the caBundle).
func webhookCert(t *testing.T, addr string) (flags []string, caPEM []byte) {
	t.Helper()
	ca := certstest.NewCA(t)
	certFile, keyFile := ca.IssueFiles(t, "127.0.0.1")
	return []string{"--validating-webhook=" + addr, "--validating-webhook-certificate=" + certFile, "--validating-webhook-key=" + keyFile}, ca.PEM()
}

// registerWebhook creates the ValidatingWebhookConfiguration ingress-nginx's
// chart creates, with a url to addr instead of a Service.
func registerWebhook(t *testing.T, api *kubeapi.Server, addr string, caPEM []byte) {
	t.Helper()
	url := "https://" + addr + "/networking/v1/ingresses"
	fail, none, exact := admissionregistrationv1.Fail, admissionregistrationv1.SideEffectClassNone, admissionregistrationv1.Exact
	timeout := int32(10)
	_, err := api.Client().AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(context.Background(), &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "ingress-nginx-admission"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:                    "validate.nginx.ingress.kubernetes.io",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caPEM},
			Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}, Rule: admissionregistrationv1.Rule{APIGroups: []string{"networking.k8s.io"}, APIVersions: []string{"v1"}, Resources: []string{"ingresses"}}}},
			FailurePolicy:           &fail,
			MatchPolicy:             &exact,
			SideEffects:             &none,
			AdmissionReviewVersions: []string{"v1"},
			TimeoutSeconds:          &timeout,
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create the ValidatingWebhookConfiguration: %v", err)
	}
}

// webIngress is an Ingress of class weir routing host/ to Service web.
func webIngress(name, host string, ann map[string]string) *networkingv1.Ingress {
	class, pt := "weir", networkingv1.PathTypePrefix
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: ann},
		Spec: networkingv1.IngressSpec{IngressClassName: &class, Rules: []networkingv1.IngressRule{{Host: host,
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path: "/", PathType: &pt, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
					Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}},
			}}}}}}},
	}
}

// TestValidatingWebhook runs the weir binary with ingress-nginx's webhook
// flags against a real API server that calls it for every Ingress created
// or updated: an Ingress with an invalid annotation value, a snippet or a
// refused annotation, an invalid path, or one that loses a conflict is
// refused with its Events' reasons; a valid one, and one of another class,
// are admitted.
func TestValidatingWebhook(t *testing.T) {
	api := kubeapi.Start(t)
	client, ctx := api.Client(), context.Background()
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "app"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.NetworkingV1().IngressClasses().Create(ctx, &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: "weir"}, Spec: networkingv1.IngressClassSpec{Controller: "weir-lb.dev/ingress-controller"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	flags, caPEM := webhookCert(t, addr)
	metrics := freePort(t, "127.0.0.1")
	p := startWeirEnv(t, []string{"POD_NAMESPACE=default"}, append(append(proxyPorts(t, "127.0.0.1"),
		"--kubeconfig", api.Kubeconfig, "--workers", "0", "--metrics-port", strconv.Itoa(metrics)), flags...)...)
	waitHealthy(t, p, fmt.Sprintf("127.0.0.1:%d", metrics))
	registerWebhook(t, api, addr, caPEM)

	ings := client.NetworkingV1().Ingresses("app")
	create := func(ing *networkingv1.Ingress, dryRun bool) error {
		opts := metav1.CreateOptions{}
		if dryRun {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		_, err := ings.Create(ctx, ing, opts)
		return err
	}
	snippet := webIngress("snippet", "snippet.example", map[string]string{"nginx.ingress.kubernetes.io/configuration-snippet": "return 200;"})
	// The API server takes a moment to call a new webhook.
	testutil.WaitFor(t, 20*time.Second, "the webhook to refuse a snippet", func() bool {
		err := create(snippet, true)
		return err != nil && strings.Contains(err.Error(), "weir refuses")
	})
	for _, tc := range []struct {
		ing  *networkingv1.Ingress
		want string
	}{
		{snippet, `admission webhook "validate.nginx.ingress.kubernetes.io" denied the request: weir refuses ingress app/snippet: InvalidIngress: annotation group ConfigurationSnippet contains risky annotation based on ingress configuration; the ingress is not served`},
		{webIngress("timeout", "t.example", map[string]string{"nginx.ingress.kubernetes.io/proxy-read-timeout": "soon"}),
			`weir refuses ingress app/timeout: InvalidAnnotation: annotation nginx.ingress.kubernetes.io/proxy-read-timeout: value "soon"`},
		{webIngress("waf", "w.example", map[string]string{"nginx.ingress.kubernetes.io/enable-modsecurity": "true"}),
			"UnsupportedAnnotation: annotation nginx.ingress.kubernetes.io/enable-modsecurity is not supported by Weir; ignored (Weir has no ModSecurity web application firewall)"},
		{func() *networkingv1.Ingress {
			ing := webIngress("path", "p.example", nil)
			ing.Spec.Rules[0].HTTP.Paths[0].PathType = ptr(networkingv1.PathTypeImplementationSpecific)
			ing.Spec.Rules[0].HTTP.Paths[0].Path = "/(["
			ing.Annotations = map[string]string{"nginx.ingress.kubernetes.io/use-regex": "true"}
			return ing
		}(), `InvalidPath: path "/([" of host "p.example" is not a valid regular expression`},
	} {
		err := create(tc.ing, false)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("create ingress %s: %v; want refused with %q", tc.ing.Name, err, tc.want)
		}
	}
	// A valid Ingress is admitted; once Weir has it, another for the same
	// host and path loses the conflict and is refused.
	if err := create(webIngress("first", "web.example", nil), false); err != nil {
		t.Fatalf("create a valid ingress: %v", err)
	}
	testutil.WaitFor(t, 20*time.Second, "a conflicting ingress refused", func() bool {
		err := create(webIngress("second", "web.example", nil), true)
		return err != nil && strings.Contains(err.Error(), "weir refuses ingress app/second: ConflictLost: ")
	})
	// Updating the winner is admitted; an Ingress of another class is not
	// Weir's to judge.
	first, err := ings.Get(ctx, "first", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first.Annotations = map[string]string{"nginx.ingress.kubernetes.io/proxy-read-timeout": "30"}
	if _, err := ings.Update(ctx, first, metav1.UpdateOptions{}); err != nil {
		t.Errorf("update the winning ingress: %v", err)
	}
	other := webIngress("other", "web.example", map[string]string{"nginx.ingress.kubernetes.io/server-snippet": "x"})
	other.Spec.IngressClassName = ptr("nginx")
	if err := create(other, false); err != nil {
		t.Errorf("create an ingress of another class: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

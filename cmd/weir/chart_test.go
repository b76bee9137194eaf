package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/weir-lb/weir/deploy"
	"github.com/weir-lb/weir/test/helm"
	"github.com/weir-lb/weir/test/kubeapi"
	"github.com/weir-lb/weir/test/testutil"
)

// TestChartCommandLine runs the weir binary, against a real API server,
// with the command line ingress-nginx's Helm chart gives its controller by
// default (controller.admissionWebhooks on, controller.publishService on)
// and --election-ttl: it starts, serves the validating webhook, takes
// the Lease named --election-id in $POD_NAMESPACE for --election-ttl, and
// writes the published Service's load-balancer address to the status of the
// Ingresses of the chart's class.
func TestChartCommandLine(t *testing.T) {
	api, client, must := ingressNginxCluster(t)
	ctx := context.Background()
	svc, err := client.CoreV1().Services("ingress-nginx").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "ingress-nginx-controller"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer,
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "198.18.0.40"}}
	must(client.CoreV1().Services("ingress-nginx").UpdateStatus(ctx, svc, metav1.UpdateOptions{}))
	class := "nginx"
	must(client.NetworkingV1().Ingresses("app").Create(ctx, &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       networkingv1.IngressSpec{IngressClassName: &class, Rules: []networkingv1.IngressRule{{Host: "web.example"}}},
	}, metav1.CreateOptions{}))

	metrics := freePort(t, "127.0.0.1")
	webhook, _ := webhookCert(t, fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1")))
	p := startWeirEnv(t, []string{"POD_NAMESPACE=ingress-nginx", "POD_NAME=ingress-nginx-controller-abc12"},
		append(append(proxyPorts(t, "127.0.0.1"), "--kubeconfig", api.Kubeconfig, "--workers", "0", "--metrics-port", strconv.Itoa(metrics),
			"--publish-service=ingress-nginx/ingress-nginx-controller", "--election-id=ingress-nginx-leader",
			"--controller-class=k8s.io/ingress-nginx", "--ingress-class=nginx", "--configmap=ingress-nginx/ingress-nginx-controller",
			"--election-ttl=8s"), webhook...)...)
	waitHealthy(t, p, fmt.Sprintf("127.0.0.1:%d", metrics))
	testutil.WaitFor(t, 20*time.Second, "the Service's address in the Ingress's status", func() bool {
		ing, err := client.NetworkingV1().Ingresses("app").Get(ctx, "web", metav1.GetOptions{})
		return err == nil && len(ing.Status.LoadBalancer.Ingress) == 1 && ing.Status.LoadBalancer.Ingress[0].IP == "198.18.0.40"
	})
	lease, err := client.CoordinationV1().Leases("ingress-nginx").Get(ctx, "ingress-nginx-leader", metav1.GetOptions{})
	if err != nil || lease.Spec.LeaseDurationSeconds == nil || *lease.Spec.LeaseDurationSeconds != 8 ||
		lease.Spec.HolderIdentity == nil || !strings.HasPrefix(*lease.Spec.HolderIdentity, "ingress-nginx-controller-abc12_") {
		t.Errorf("lease ingress-nginx/ingress-nginx-leader: %+v, %v; want held by this pod for 8 s", lease.Spec, err)
	}
	if logs := p.logs.String(); strings.Contains(logs, "accepted for compatibility") || !strings.Contains(logs, "validating webhook serving") {
		t.Errorf("want the webhook served and no compatibility warning in the log:\n%s", logs)
	}
}

// TestDisableLeaderElection runs the weir binary with
// --disable-leader-election: it takes no Lease and writes no Ingress
// status (ingress-nginx's status is the leader's work), and records the
// Events a leader would.
func TestDisableLeaderElection(t *testing.T) {
	api := kubeapi.Start(t)
	client, ctx := api.Client(), context.Background()
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "app"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.NetworkingV1().Ingresses("app").Create(ctx, &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Annotations: map[string]string{
			"kubernetes.io/ingress.class": "weir", "nginx.ingress.kubernetes.io/proxy-read-timeout": "soon"}},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "web.example"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	metrics := freePort(t, "127.0.0.1")
	p := startWeirEnv(t, []string{"POD_NAMESPACE=default"},
		append(proxyPorts(t, "127.0.0.1"), "--kubeconfig", api.Kubeconfig, "--workers", "0", "--metrics-port", strconv.Itoa(metrics),
			"--disable-leader-election", "--publish-status-address=198.18.0.41")...)
	waitHealthy(t, p, fmt.Sprintf("127.0.0.1:%d", metrics))
	testutil.WaitFor(t, 20*time.Second, "the InvalidAnnotation Event", func() bool {
		evs, err := client.CoreV1().Events("app").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		for _, e := range evs.Items {
			if e.InvolvedObject.Name == "web" && e.Reason == "InvalidAnnotation" {
				return true
			}
		}
		return false
	})
	if leases, err := client.CoordinationV1().Leases("default").List(ctx, metav1.ListOptions{}); err != nil || len(leases.Items) != 0 {
		t.Errorf("leases with --disable-leader-election: %v, %v; want none", leases, err)
	}
	if ing, err := client.NetworkingV1().Ingresses("app").Get(ctx, "web", metav1.GetOptions{}); err != nil || len(ing.Status.LoadBalancer.Ingress) != 0 {
		t.Errorf("ingress status with --disable-leader-election: %v, %v; want none written", ing.Status, err)
	}
}

// TestHelmChartArgs renders Weir's own chart (deploy/chart), with its
// defaults and with an ingress-nginx release's values, and parses the
// controller's args as weir does: every flag the chart passes is one weir
// takes.
func TestHelmChartArgs(t *testing.T) {
	t.Parallel()
	for _, values := range [][]string{nil, {"../../deploy/testdata/ingress-nginx-values.yaml"}, {"../../deploy/testdata/tcp-udp-values.yaml"}} {
		out := helm.Template(t, "../../deploy/chart", "weir", "ingress", values...)
		objs, err := deploy.Decode(out)
		if err != nil {
			t.Fatal(err)
		}
		var args []string
		for _, o := range objs {
			if k := o.GetKind(); (k == "DaemonSet" || k == "Deployment") && o.GetName() == "weir-controller" {
				cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
				args, _, _ = unstructured.NestedStringSlice(cs[0].(map[string]any), "args")
			}
		}
		if len(args) == 0 {
			t.Fatalf("values %v: no controller args rendered", values)
		}
		fs, o := newFlags(io.Discard)
		if err := parse(fs, args, io.Discard); err != nil {
			t.Errorf("values %v: weir %s: %v", values, strings.Join(args, " "), err)
		}
		if o.publishService != "ingress/weir-controller" {
			t.Errorf("values %v: --publish-service parsed as %q", values, o.publishService)
		}
	}
}

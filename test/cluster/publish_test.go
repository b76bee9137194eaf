package cluster

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/weir-lb/weir/userspace/kube"
)

// TestPublishService: with --publish-service the leader writes the
// load-balancer addresses of that Service (its status, then its external
// IPs) to Ingress status, and follows them when they change. Weir runs
// with deploy/base's roles only.
func TestPublishService(t *testing.T) {
	c := newCluster(t)
	c.applyDeployRBAC()
	c.namespace("app")
	c.namespace("edge")
	c.createIngress(ingress("app", "web", "web.example", "svc", nil))
	svc, err := c.client.CoreV1().Services("edge").Create(c.ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "weir"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ExternalIPs: []string{"198.18.0.29"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt(80)}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	setLB := func(lb ...corev1.LoadBalancerIngress) {
		t.Helper()
		svc.Status.LoadBalancer.Ingress = lb
		if svc, err = c.client.CoreV1().Services("edge").UpdateStatus(c.ctx, svc, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	setLB(corev1.LoadBalancerIngress{IP: "198.18.0.20"}, corev1.LoadBalancerIngress{Hostname: "lb.example.com"})
	w := c.startWeir(weirOptions{rest: c.api.ConfigFor("weir"), identity: "weir-1", leaseNS: "weir", configMap: "weir/weir",
		status: &kube.StatusOptions{PublishService: "edge/weir"}})
	waitFor(t, 15*time.Second, "the Service's addresses in Ingress status", func() bool {
		return c.statusIPs("app", "web") == "198.18.0.20,198.18.0.29,lb.example.com"
	})
	setLB(corev1.LoadBalancerIngress{IP: "198.18.0.21"})
	waitFor(t, 15*time.Second, "Ingress status to follow the Service's new address", func() bool {
		return c.statusIPs("app", "web") == "198.18.0.21,198.18.0.29"
	})
	if l := w.log.String(); strings.Contains(l, "forbidden") {
		t.Errorf("weir log mentions a permission problem:\n%s", l)
	}
}

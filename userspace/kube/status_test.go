package kube

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"

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
	// ingress-nginx's order (status.go lessLoadBalancerIngress): by host
	// name, then IP; the IPs, without a host name, first.
	got := lbIngress(sortedUnique([]string{" 198.18.0.2", "lb.example.com", "198.18.0.1", "198.18.0.2", "", "fd00::1", "a.example.com"}))
	want := []networkingv1.IngressLoadBalancerIngress{{IP: "198.18.0.1"}, {IP: "198.18.0.2"}, {IP: "fd00::1"},
		{Hostname: "a.example.com"}, {Hostname: "lb.example.com"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lbIngress (-want +got):\n%s", diff)
	}
	if lbIngress(nil) != nil {
		t.Error("lbIngress(nil) is not nil")
	}
	// Every address of the type, as ingress-nginx's k8s.GetNodeIPs: a
	// dual-stack node has two InternalIPs.
	n := &corev1.Node{Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
		{Type: corev1.NodeHostName, Address: "n1"},
		{Type: corev1.NodeInternalIP, Address: "10.0.0.1"},
		{Type: corev1.NodeInternalIP, Address: "fd00::1"},
		{Type: corev1.NodeExternalIP, Address: "203.0.113.1"},
		{Type: corev1.NodeExternalIP, Address: "2001:db8::1"},
	}}}
	if diff := cmp.Diff([]string{"203.0.113.1", "2001:db8::1"}, nodeAddresses(n, false)); diff != "" {
		t.Errorf("nodeAddresses, want the ExternalIPs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"10.0.0.1", "fd00::1"}, nodeAddresses(n, true)); diff != "" {
		t.Errorf("nodeAddresses, internal, want the InternalIPs (-want +got):\n%s", diff)
	}
	n.Status.Addresses = n.Status.Addresses[:3]
	if diff := cmp.Diff([]string{"10.0.0.1", "fd00::1"}, nodeAddresses(n, false)); diff != "" {
		t.Errorf("nodeAddresses without ExternalIP, want the InternalIPs (-want +got):\n%s", diff)
	}
}

// TestPeerReady: the nodes of other instances count only while their pod
// is running and ready, as ingress-nginx's runningAddresses takes them.
func TestPeerReady(t *testing.T) {
	t.Parallel()
	pod := func(phase corev1.PodPhase, ready corev1.ConditionStatus) *corev1.Pod {
		return &corev1.Pod{Status: corev1.PodStatus{Phase: phase, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: ready}}}}
	}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want bool
	}{
		{"running, ready", pod(corev1.PodRunning, corev1.ConditionTrue), true},
		{"running, not ready", pod(corev1.PodRunning, corev1.ConditionFalse), false},
		{"running, no condition", &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning}}, false},
		{"pending, ready", pod(corev1.PodPending, corev1.ConditionTrue), false},
	} {
		if got := runningAndReady(tc.pod); got != tc.want {
			t.Errorf("%s: runningAndReady = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestServiceAddresses: the addresses --publish-service publishes, by the
// Service's type, as ingress-nginx's statusAddressFromService reads them.
func TestServiceAddresses(t *testing.T) {
	t.Parallel()
	svc := func(typ corev1.ServiceType, externalIPs []string, lb ...corev1.LoadBalancerIngress) *corev1.Service {
		return &corev1.Service{
			Spec:   corev1.ServiceSpec{Type: typ, ClusterIP: "10.96.0.10", ExternalIPs: externalIPs, ExternalName: "ext.example.com"},
			Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: lb}},
		}
	}
	for _, tc := range []struct {
		name string
		svc  *corev1.Service
		want []string
	}{
		{"ClusterIP", svc(corev1.ServiceTypeClusterIP, []string{"198.18.0.9"}), []string{"10.96.0.10"}},
		{"no type", svc("", nil), []string{"10.96.0.10"}},
		{"NodePort", svc(corev1.ServiceTypeNodePort, nil), []string{"10.96.0.10"}},
		{"NodePort, external IPs", svc(corev1.ServiceTypeNodePort, []string{"198.18.0.9", "198.18.0.8"}), []string{"198.18.0.9", "198.18.0.8"}},
		{"ExternalName", svc(corev1.ServiceTypeExternalName, nil), []string{"ext.example.com"}},
		{"LoadBalancer", svc(corev1.ServiceTypeLoadBalancer, []string{"198.18.0.9"},
			corev1.LoadBalancerIngress{IP: "198.18.0.1", Hostname: "ignored.example.com"}, corev1.LoadBalancerIngress{Hostname: "lb.example.com"}),
			[]string{"198.18.0.1", "lb.example.com", "198.18.0.9"}},
		{"LoadBalancer, pending", svc(corev1.ServiceTypeLoadBalancer, nil), nil},
	} {
		if diff := cmp.Diff(tc.want, serviceAddresses(tc.svc)); diff != "" {
			t.Errorf("%s: serviceAddresses (-want +got):\n%s", tc.name, diff)
		}
	}
}

// TestSourceSelector: the Source decides which Ingresses get status and
// Sync events as the build does: with the controller ConfigMap's
// annotations-risk-level, on the annotations renamed from a custom prefix.
func TestSourceSelector(t *testing.T) {
	t.Parallel()
	opts := snapshot.DefaultOptions()
	opts.ConfigMap = "ingress-nginx/ctl"
	informer := func(obj runtime.Object, objs ...any) cache.SharedIndexInformer {
		inf := cache.NewSharedIndexInformer(&cache.ListWatch{}, obj, 0, cache.Indexers{})
		for _, o := range objs {
			if err := inf.GetStore().Add(o); err != nil {
				t.Fatal(err)
			}
		}
		return inf
	}
	class := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "weir"}, Spec: networkingv1.IngressClassSpec{Controller: opts.ControllerClass}}
	ing := func(ann map[string]string) *networkingv1.Ingress {
		c := "weir"
		return &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "web", Annotations: ann}, Spec: networkingv1.IngressSpec{IngressClassName: &c}}
	}
	critical := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ingress-nginx", Name: "ctl"}, Data: map[string]string{"annotations-risk-level": "Critical"}}
	for _, tc := range []struct {
		name   string
		cms    []any
		prefix string
		ann    map[string]string
		want   bool
	}{
		{name: "plain", ann: nil, want: true},
		{name: "snippet at High", ann: map[string]string{"nginx.ingress.kubernetes.io/server-snippet": "x"}, want: false},
		{name: "snippet at Critical", cms: []any{critical}, ann: map[string]string{"nginx.ingress.kubernetes.io/server-snippet": "x"}, want: true},
		{name: "custom prefix snippet", prefix: "custom.io", ann: map[string]string{"custom.io/server-snippet": "x"}, want: false},
		{name: "default prefix unread under a custom one", prefix: "custom.io", ann: map[string]string{"nginx.ingress.kubernetes.io/server-snippet": "x"}, want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := &Source{opts: Options{Build: opts}, classes: informer(&networkingv1.IngressClass{}, class),
				configMaps: informer(&corev1.ConfigMap{}, tc.cms...), prefixer: newPrefixer(tc.prefix)}
			if got := s.selector()(ing(tc.ann)); got != tc.want {
				t.Errorf("served = %v, want %v", got, tc.want)
			}
		})
	}
}

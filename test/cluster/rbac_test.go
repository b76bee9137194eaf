package cluster

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/weir-lb/weir/deploy"
	"github.com/weir-lb/weir/userspace/kube"
)

// TestDeployRBACIsEnough runs Weir as a user that holds only the roles of
// deploy/base (bound to it in addition to the ServiceAccount) and checks
// that everything cluster mode does works: watching, the ConfigMap in
// Weir's namespace, the Lease, status from the node's address, Events.
func TestDeployRBACIsEnough(t *testing.T) {
	c := newCluster(t)
	c.applyDeployRBAC()
	c.must(c.client.CoreV1().Nodes().Create(c.ctx, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node-1"},
	}, metav1.CreateOptions{}))
	node, err := c.client.CoreV1().Nodes().Get(c.ctx, "node-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "198.18.0.20"}}
	c.must(c.client.CoreV1().Nodes().UpdateStatus(c.ctx, node, metav1.UpdateOptions{}))

	c.namespace("app")
	c.createIngress(ingress("app", "web", "web.example", "svc-missing", nil))
	w := c.startWeir(weirOptions{
		rest: c.api.ConfigFor("weir"), identity: "weir-rbac", configMap: "weir/weir", leaseNS: "weir",
		status: &kube.StatusOptions{NodeName: "node-1"},
	})
	waitFor(t, 15*time.Second, "first live configuration", func() bool { return w.d.LiveVersion() > 0 })
	waitFor(t, 15*time.Second, "route for web.example (503: no service)", func() bool {
		code, _, err := w.get("web.example", "/")
		return err == nil && code == http.StatusServiceUnavailable
	})
	waitFor(t, 15*time.Second, "status from the node's InternalIP", func() bool { return c.statusIPs("app", "web") == "198.18.0.20" })
	waitFor(t, 15*time.Second, "ServiceNotFound event", func() bool {
		return strings.Join(c.eventReasons("app", "Ingress", "web"), ",") == "ServiceNotFound"
	})
	if l := w.log.String(); strings.Contains(l, "forbidden") || strings.Contains(l, "ConfigMapNotFound") {
		t.Errorf("weir log mentions a permission problem or a missing ConfigMap:\n%s", l)
	}
}

// applyDeployRBAC creates the namespaces, roles and ConfigMaps of
// deploy/base and binds the roles to the user "weir" (api.ConfigFor).
func (c *cluster) applyDeployRBAC() {
	c.t.Helper()
	t := c.t
	objs, err := deploy.Render("../../deploy/base")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		raw, _ := json.Marshal(o.Object)
		switch o.GetKind() {
		case "Namespace":
			c.namespace(o.GetName())
		case "ClusterRole":
			var r rbacv1.ClusterRole
			decode(t, raw, &r)
			c.must(c.client.RbacV1().ClusterRoles().Create(c.ctx, &r, metav1.CreateOptions{}))
			c.must(c.client.RbacV1().ClusterRoleBindings().Create(c.ctx, &rbacv1.ClusterRoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: "weir-test-user"},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: r.Name},
				Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "weir"}},
			}, metav1.CreateOptions{}))
		case "Role":
			var r rbacv1.Role
			decode(t, raw, &r)
			c.must(c.client.RbacV1().Roles(r.Namespace).Create(c.ctx, &r, metav1.CreateOptions{}))
			c.must(c.client.RbacV1().RoleBindings(r.Namespace).Create(c.ctx, &rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: "weir-test-user"},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: r.Name},
				Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "weir"}},
			}, metav1.CreateOptions{}))
		case "ConfigMap":
			var cm corev1.ConfigMap
			decode(t, raw, &cm)
			c.must(c.client.CoreV1().ConfigMaps(cm.Namespace).Create(c.ctx, &cm, metav1.CreateOptions{}))
		}
	}
}

func decode(t testing.TB, raw []byte, into runtime.Object) {
	t.Helper()
	if err := json.Unmarshal(raw, into); err != nil {
		t.Fatal(err)
	}
}

// TestIngressClassesForbidden: a Weir that may not list IngressClasses
// serves the Ingresses of its kubernetes.io/ingress.class annotation and
// ignores those that name a class in spec.ingressClassName, as
// ingress-nginx then does (ingress-nginx e2e: settings/ingress_class.go,
// "Without IngressClass Cluster scoped Permission"), instead of waiting
// for an IngressClass informer that never syncs.
func TestIngressClassesForbidden(t *testing.T) {
	c := newCluster(t)
	c.applyDeployRBAC()
	roles, err := c.client.RbacV1().ClusterRoles().List(c.ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stripped := 0
	for _, r := range roles.Items {
		changed := false
		for i, rule := range r.Rules {
			if kept := slices.DeleteFunc(slices.Clone(rule.Resources), func(s string) bool { return s == "ingressclasses" }); len(kept) != len(rule.Resources) {
				r.Rules[i].Resources, changed = kept, true
			}
		}
		if changed {
			stripped++
			c.must(c.client.RbacV1().ClusterRoles().Update(c.ctx, &r, metav1.UpdateOptions{}))
		}
	}
	if stripped == 0 {
		t.Fatal("no ClusterRole of deploy/base grants ingressclasses")
	}
	c.namespace("app")
	legacy := ingress("app", "legacy", "legacy.example", "svc-missing", map[string]string{"kubernetes.io/ingress.class": "weir"})
	legacy.Spec.IngressClassName = nil
	c.createIngress(legacy)
	c.createIngress(ingress("app", "by-name", "by-name.example", "svc-missing", nil))
	w := c.startWeir(weirOptions{rest: c.api.ConfigFor("weir"), identity: "weir-noclass", configMap: "weir/weir", leaseNS: "weir"})
	waitFor(t, 15*time.Second, "first live configuration", func() bool { return w.d.LiveVersion() > 0 })
	if code, _, err := w.get("legacy.example", "/"); err != nil || code != http.StatusServiceUnavailable {
		t.Errorf("GET legacy.example: %d %v, want 503 (served, no service)", code, err)
	}
	if code, _, err := w.get("by-name.example", "/"); err != nil || code != http.StatusNotFound {
		t.Errorf("GET by-name.example: %d %v, want 404 (not served)", code, err)
	}
}

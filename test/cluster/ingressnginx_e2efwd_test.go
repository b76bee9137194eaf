package cluster

// Port of ingress-nginx's e2e test/e2e/settings/namespace_selector.go
// ("[Flag] watch namespace selector"), which needs the API server: the
// other files of the same task (enable_real_ip.go, forwarded_headers.go,
// disableproxyintercepterrors.go, custom_default_backend.go) are in
// test/e2e/ingressnginx_e2efwd_test.go.

import (
	"net/http"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestIngressNginxWatchNamespaceSelector ports "should ignore Ingress of
// namespace without label foo=bar and accept those of namespace with label
// foo=bar": under --watch-namespace-selector foo=bar, host foo of a
// namespace labelled foo=bar answers 200 and host bar of an unlabelled one
// 404 (the default backend); once bar's namespace gets the label (and, as
// the e2e case does to make ingress-nginx reconcile, its Ingress a label),
// bar answers 200. Each namespace has its own echo Service, as the case's
// NewEchoDeployment per namespace.
func TestIngressNginxWatchNamespaceSelector(t *testing.T) {
	net := newNetNS(t)
	c := newCluster(t)
	prepare := func(ns, host string, labels map[string]string) {
		c.must(c.client.CoreV1().Namespaces().Create(c.ctx, &corev1.Namespace{
			ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels}}, metav1.CreateOptions{}))
		c.service(ns, "echo", net.backend(t, ns))
		c.createIngress(ingress(ns, host, host, "echo", nil))
	}
	prepare("namespace-selector-bar", "bar", nil)
	prepare("namespace-selector-foo", "foo", map[string]string{"foo": "bar"})
	w := c.startWeir(weirOptions{identity: "weir-e2efwd", selector: "foo=bar"})

	w.waitBody("foo", "/", "namespace-selector-foo /")
	if code, body, err := w.get("bar", "/"); err != nil || code != http.StatusNotFound {
		t.Errorf("GET bar (namespace without foo=bar): %d %q %v, want 404", code, body, err)
	}

	ns, err := c.client.CoreV1().Namespaces().Get(c.ctx, "namespace-selector-bar", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ns.Labels = map[string]string{"foo": "bar"}
	c.must(c.client.CoreV1().Namespaces().Update(c.ctx, ns, metav1.UpdateOptions{}))
	c.updateIngress("namespace-selector-bar", "bar", func(ing *networkingv1.Ingress) {
		ing.Labels = map[string]string{"foo": "bar"}
	})
	w.waitBody("bar", "/", "namespace-selector-bar /")
	w.waitBody("foo", "/", "namespace-selector-foo /")
}

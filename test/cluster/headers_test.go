package cluster

import (
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestCustomHeadersConfigMap: custom-headers names a ConfigMap of the
// Ingress's namespace, with the controller's ConfigMap (which allows the
// header) outside the watched namespace: both are watched, and a change of
// the named ConfigMap is live.
func TestCustomHeadersConfigMap(t *testing.T) {
	c := newCluster(t)
	c.namespace("app")
	c.namespace("weir")
	cm := func(ns, name string, data map[string]string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: data}
	}
	c.must(c.client.CoreV1().ConfigMaps("weir").Create(c.ctx, cm("weir", "weir", map[string]string{"global-allowed-response-headers": "My-Header"}), metav1.CreateOptions{}))
	c.must(c.client.CoreV1().ConfigMaps("app").Create(c.ctx, cm("app", "custom", map[string]string{"My-Header": "42"}), metav1.CreateOptions{}))
	c.createIngress(ingress("app", "web", "web.example", "svc-missing", map[string]string{"nginx.ingress.kubernetes.io/custom-headers": "app/custom"}))
	w := c.startWeir(weirOptions{identity: "weir-headers", namespace: "app", configMap: "weir/weir"})
	header := func() string {
		req, _ := http.NewRequest(http.MethodGet, "http://"+w.d.HTTPAddr()+"/", nil)
		req.Host = "web.example"
		resp, err := w.client.Do(req)
		if err != nil {
			return err.Error()
		}
		resp.Body.Close()
		return resp.Header.Get("My-Header")
	}
	waitFor(t, 15*time.Second, "My-Header: 42 on web.example's 503", func() bool { return header() == "42" })
	c.must(c.client.CoreV1().ConfigMaps("app").Update(c.ctx, cm("app", "custom", map[string]string{"My-Header": "43"}), metav1.UpdateOptions{}))
	waitFor(t, 15*time.Second, "My-Header: 43 once the ConfigMap changed", func() bool { return header() == "43" })
}

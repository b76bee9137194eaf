package cluster

import (
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestWatchNamespaceSelector: only the Ingresses of the namespaces whose
// labels match --watch-namespace-selector are served and get status; a
// namespace that gains the label joins, one that loses it leaves. Weir runs
// with deploy/base's roles only.
func TestWatchNamespaceSelector(t *testing.T) {
	c := newCluster(t)
	c.applyDeployRBAC()
	for name, team := range map[string]string{"team-a": "a", "team-b": "b"} {
		c.must(c.client.CoreV1().Namespaces().Create(c.ctx, &corev1.Namespace{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"team": team}}}, metav1.CreateOptions{}))
	}
	c.createIngress(ingress("team-a", "web", "a.example", "svc-missing", nil))
	c.createIngress(ingress("team-b", "web", "b.example", "svc-missing", nil))
	w := c.startWeir(weirOptions{rest: c.api.ConfigFor("weir"), identity: "weir-sel", leaseNS: "weir", configMap: "weir/weir",
		selector: "team=a"})
	routed := func(host string) bool {
		code, _, err := w.get(host, "/")
		return err == nil && code == http.StatusServiceUnavailable // routed; its Service is missing
	}
	waitFor(t, 15*time.Second, "a.example routed", func() bool { return routed("a.example") })
	waitFor(t, 15*time.Second, "status in team-a", func() bool { return c.statusIPs("team-a", "web") == "198.18.0.10" })
	if code, _, err := w.get("b.example", "/"); err != nil || code != http.StatusNotFound {
		t.Errorf("GET b.example (namespace not selected): %d %v, want 404", code, err)
	}
	if got := c.statusIPs("team-b", "web"); got != "" {
		t.Errorf("status in team-b = %q, want untouched", got)
	}

	relabel := func(name, team string) {
		t.Helper()
		ns, err := c.client.CoreV1().Namespaces().Get(c.ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ns.Labels["team"] = team
		c.must(c.client.CoreV1().Namespaces().Update(c.ctx, ns, metav1.UpdateOptions{}))
	}
	relabel("team-b", "a")
	waitFor(t, 15*time.Second, "b.example routed once team-b is selected", func() bool { return routed("b.example") })
	relabel("team-a", "c")
	waitFor(t, 15*time.Second, "a.example gone once team-a is not selected", func() bool {
		code, _, err := w.get("a.example", "/")
		return err == nil && code == http.StatusNotFound
	})
	if l := w.log.String(); strings.Contains(l, "forbidden") {
		t.Errorf("weir log mentions a permission problem:\n%s", l)
	}
}

// TestAnnotationsPrefix: with --annotations-prefix, the annotations under
// that prefix take effect and those under nginx.ingress.kubernetes.io do
// not, as in ingress-nginx.
func TestAnnotationsPrefix(t *testing.T) {
	c := newCluster(t)
	c.namespace("app")
	c.createIngress(ingress("app", "custom", "custom.example", "svc-missing",
		map[string]string{"custom.example.com/allowlist-source-range": "10.0.0.0/8"}))
	c.createIngress(ingress("app", "default", "default.example", "svc-missing",
		map[string]string{"nginx.ingress.kubernetes.io/allowlist-source-range": "10.0.0.0/8"}))
	w := c.startWeir(weirOptions{identity: "weir-prefix", prefix: "custom.example.com"})
	waitFor(t, 15*time.Second, "custom.example refused by its allowlist (403)", func() bool {
		code, _, err := w.get("custom.example", "/")
		return err == nil && code == http.StatusForbidden
	})
	if code, _, err := w.get("default.example", "/"); err != nil || code != http.StatusServiceUnavailable {
		t.Errorf("GET default.example (its allowlist under the default prefix, not read): %d %v, want 503", code, err)
	}
}

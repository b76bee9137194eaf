package cluster

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// getAs sends GET http://host/ to Weir with basic credentials (none when
// user is empty) and returns the status.
func (w *weir) getAs(host, user, pass string) int {
	req, _ := http.NewRequest(http.MethodGet, "http://"+w.d.HTTPAddr()+"/", nil)
	req.Host = host
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestAuthSecretAndConfigMapAreLive: an Opaque Secret named by auth-secret
// is read in cluster mode, and a change to it is live; so is a change to
// the ConfigMap of auth-proxy-set-headers, whose headers reach the
// authentication service.
func TestAuthSecretAndConfigMapAreLive(t *testing.T) {
	requireRoot(t)
	net := newNetNS(t)
	a := net.backend(t, "a")
	c := newCluster(t)
	c.namespace("app")
	c.service("app", "svc", a)
	users := func(line string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "users", Namespace: "app"}, Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{"auth": []byte(line + "\n")}}
	}
	c.must(c.client.CoreV1().Secrets("app").Create(c.ctx, users("foo:$apr1$abcdefgh$h9FWgUz3n9YxylKLlR5SQ/"), metav1.CreateOptions{})) // secret
	c.createIngress(ingress("app", "basic", "basic.example", "svc", map[string]string{
		"nginx.ingress.kubernetes.io/auth-type":   "basic",
		"nginx.ingress.kubernetes.io/auth-secret": "users",
	}))

	// The auth service admits the requests that carry X-Tenant: blue.
	as := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Tenant") != "blue" {
			w.WriteHeader(http.StatusForbidden)
		}
	}))
	t.Cleanup(as.Close)
	headers := func(tenant string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "auth-headers", Namespace: "app"}, Data: map[string]string{"X-Tenant": tenant}}
	}
	c.must(c.client.CoreV1().ConfigMaps("app").Create(c.ctx, headers("blue"), metav1.CreateOptions{}))
	c.createIngress(ingress("app", "ext", "ext.example", "svc", map[string]string{
		"nginx.ingress.kubernetes.io/auth-url":               as.URL + "/check",
		"nginx.ingress.kubernetes.io/auth-proxy-set-headers": "auth-headers",
	}))

	w := c.startWeir(weirOptions{identity: "weir-auth"})
	status := func(host, user, pass string, want int) func() bool {
		return func() bool { return w.getAs(host, user, pass) == want }
	}
	waitFor(t, 15*time.Second, "basic.example admits foo", status("basic.example", "foo", "secret", 200))
	if got := w.getAs("basic.example", "", ""); got != 401 {
		t.Errorf("basic.example without credentials: %d, want 401", got)
	}
	waitFor(t, 15*time.Second, "ext.example admitted by the auth service", status("ext.example", "", "", 200))

	c.must(c.client.CoreV1().Secrets("app").Update(c.ctx, users("foo:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\nbar:{PLAIN}new"), metav1.UpdateOptions{}))
	waitFor(t, 15*time.Second, "the new user of the changed Secret", status("basic.example", "bar", "new", 200))
	if got := w.getAs("basic.example", "foo", "secret"); got != 200 {
		t.Errorf("foo after the change: %d, want 200", got)
	}
	c.must(c.client.CoreV1().ConfigMaps("app").Update(c.ctx, headers("red"), metav1.UpdateOptions{}))
	waitFor(t, 15*time.Second, "ext.example refused after the ConfigMap changed", status("ext.example", "", "", 403))

	c.must(nil, c.client.CoreV1().Secrets("app").Delete(c.ctx, "users", metav1.DeleteOptions{}))
	waitFor(t, 15*time.Second, "basic.example denied without its Secret (503)", status("basic.example", "bar", "new", 503))
}

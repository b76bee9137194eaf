package cluster

import (
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weir-lb/weir/l7/certs/certstest"
)

// servedCert returns the leaf Weir presents for SNI serverName, or nil.
func (w *weir) servedCert(serverName string, roots *x509.CertPool) *x509.Certificate {
	conn, err := tls.Dial("tcp", w.d.HTTPSAddr(), &tls.Config{ServerName: serverName, RootCAs: roots})
	if err != nil {
		return nil
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

// TestCertificateRenewalIsLive: a renewed Secret (as cert-manager renews
// it) is served on the next handshake, through a build scoped to the
// Secret, and a second Ingress's certificate is untouched.
func TestCertificateRenewalIsLive(t *testing.T) {
	net := newNetNS(t)
	a := net.backend(t, "a")
	c := newCluster(t)
	c.namespace("app")
	c.service("app", "svc", a)
	ca := certstest.NewCA(t)
	secret := func(name, host string) *corev1.Secret {
		crt, key := ca.Issue(t, host)
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "app"}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key}}
	}
	withTLS := func(ing *networkingv1.Ingress, host, sec string) *networkingv1.Ingress {
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{host}, SecretName: sec}}
		return ing
	}
	c.must(c.client.CoreV1().Secrets("app").Create(c.ctx, secret("web-tls", "web.example"), metav1.CreateOptions{}))
	c.must(c.client.CoreV1().Secrets("app").Create(c.ctx, secret("api-tls", "api.example"), metav1.CreateOptions{}))
	c.createIngress(withTLS(ingress("app", "web", "web.example", "svc", nil), "web.example", "web-tls"))
	c.createIngress(withTLS(ingress("app", "api", "api.example", "svc", nil), "api.example", "api-tls"))

	w := c.startWeir(weirOptions{identity: "weir-1"})
	var first, api *x509.Certificate
	waitFor(t, 15*time.Second, "web.example's certificate", func() bool {
		first, api = w.servedCert("web.example", ca.Pool()), w.servedCert("api.example", ca.Pool())
		return first != nil && api != nil
	})
	scoped := func() string {
		for _, l := range strings.Split(w.metrics(), "\n") {
			if v, ok := strings.CutPrefix(l, `weir_config_builds_total{build="scoped",result="changed"} `); ok {
				return v
			}
		}
		return "0"
	}
	// A renewal that comes while a change of Weir's start-up is still
	// pending (one that needs a full build: its build takes the renewal
	// with it) is served by that full build: the renewal is then made
	// again, up to three times, and one of them must be a scoped build.
	var before, after string
	for try := range 3 {
		before = scoped()
		renewed := secret("web-tls", "web.example")
		c.must(c.client.CoreV1().Secrets("app").Update(c.ctx, renewed, metav1.UpdateOptions{}))
		waitFor(t, 15*time.Second, "the renewed certificate", func() bool {
			got := w.servedCert("web.example", ca.Pool())
			if got == nil || got.SerialNumber.Cmp(first.SerialNumber) == 0 {
				return false
			}
			first = got
			return true
		})
		if got := w.servedCert("api.example", ca.Pool()); got == nil || got.SerialNumber.Cmp(api.SerialNumber) != 0 {
			t.Fatalf("api.example's certificate changed with web-tls's renewal")
		}
		if after = scoped(); after != before {
			break
		}
		t.Logf("renewal %d was served by a full build; renewing again", try+1)
	}
	if after == before {
		t.Errorf("no renewal was a scoped build (scoped changed builds still %s)", after)
	}
}

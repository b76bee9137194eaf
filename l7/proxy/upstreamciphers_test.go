package proxy

import (
	"crypto/tls"
	"testing"

	"github.com/weir-lb/weir/l7/certs"
	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// TestUpstreamOpenSSLDefaultCiphers: nginx offers an HTTPS endpoint the
// suites of OpenSSL's DEFAULT (its proxy_ssl_ciphers default, which
// ingress-nginx keeps), RSA key exchange and CBC suites included, so an
// endpoint that takes only AES128-SHA is reached (nginx 1.22.1 against
// `openssl s_server -cipher AES128-SHA`: 200); Go's own client defaults
// offer neither, which made it a 502. With proxy-ssl-ciphers from a
// Secret with ca.crt, the list is the annotation's.
func TestUpstreamOpenSSLDefaultCiphers(t *testing.T) {
	rsaOnly := func(c *tls.Config) {
		crt, err := certs.SelfSigned("backend.test")
		if err != nil {
			t.Fatal(err)
		}
		c.Certificates = []tls.Certificate{*crt}
		c.MaxVersion, c.CipherSuites = tls.VersionTLS12, []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA}
	}
	ca := certstest.NewCA(t)
	up := newTLSBackend(t, ca, rsaOnly, "backend.test")
	for _, tc := range []struct {
		name     string
		ssl      *annotations.ProxySSL
		material *snapshot.UpstreamTLS
		want     int
	}{
		{name: "no proxy-ssl-secret", want: 200},
		{name: "proxy-ssl-ciphers DEFAULT", ssl: &annotations.ProxySSL{Secret: "ns/s", VerifyDepth: 1, MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13},
			material: &snapshot.UpstreamTLS{CAPEM: caPEM(t, ca)}, want: 200},
		{name: "proxy-ssl-ciphers ECDHE+AESGCM", ssl: &annotations.ProxySSL{Secret: "ns/s", VerifyDepth: 1, MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13,
			CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}}, material: &snapshot.UpstreamTLS{CAPEM: caPEM(t, ca)}, want: 502},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := backendOf("svc", []string{addr(up.srv)}, withUpstream(annotations.Upstream{Protocol: annotations.ProtocolHTTPS, SSL: tc.ssl}))
			be.UpstreamTLS = tc.material
			_, srv := front(t, Options{}, snap(1, "a.test", be))
			if res := get(t, client(t), srv, "a.test", "/"); res.err != nil || res.status != tc.want {
				t.Errorf("got %d %q %v, want %d", res.status, res.body, res.err, tc.want)
			}
		})
	}
}

package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// startWeirTLS is startWeir with --default-ssl-certificate set.
func startWeirTLS(t *testing.T, files map[string]string, defaultCert string) *weir {
	t.Helper()
	opts := snapshot.DefaultOptions()
	opts.DefaultSSLCertificate = defaultCert
	return startWeirWith(t, files, opts)
}

// tlsIngress renders an Ingress for host whose spec.tls names secret for
// tlsHost.
func tlsIngress(name, host, tlsHost, secret, svc string) string {
	return fmt.Sprintf(`
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: %s, namespace: default}
spec:
  ingressClassName: weir
  tls: [{hosts: [%q], secretName: %s}]
  rules:
  - host: %q
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: %s, port: {number: 80}}}}]}
`, name, tlsHost, secret, host, svc)
}

// httpsTransport dials Weir's HTTPS port whatever the URL's host, verifies
// the server against ca (nil: no verification) and offers h2 and
// http/1.1. The test closes its idle connections.
func httpsTransport(t *testing.T, w *weir, ca *certstest.CA) *http.Transport {
	t.Helper()
	cfg := &tls.Config{}
	if ca != nil {
		cfg.RootCAs = ca.Pool()
	} else {
		cfg.InsecureSkipVerify = true // the test checks the certificate itself
	}
	addr := w.d.HTTPSAddr()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
		TLSClientConfig:   cfg,
		ForceAttemptHTTP2: true,
		MaxConnsPerHost:   1,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// httpsGet sends GET https://host:<weir https port>path through tr and
// returns the response with its body read, and whether the connection was
// reused.
func httpsGet(t *testing.T, w *weir, tr *http.Transport, host, path string) (*http.Response, string, bool) {
	t.Helper()
	_, port, _ := net.SplitHostPort(w.d.HTTPSAddr())
	var reused bool
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused },
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+host+":"+port+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: tr, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET https://%s%s: %v", host, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read https://%s%s: %v", host, path, err)
	}
	return resp, string(b), reused
}

// handshake dials Weir's HTTPS port with SNI serverName ("" sends none) and
// returns the leaf certificate served, unverified.
func handshake(t *testing.T, w *weir, serverName string) *x509.Certificate {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", w.d.HTTPSAddr(), &tls.Config{
		ServerName:         serverName,
		InsecureSkipVerify: true, // the caller checks the leaf
	})
	if err != nil {
		t.Fatalf("handshake with SNI %q: %v", serverName, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

// TestTLS checks TLS termination end to end: SNI selection verified against
// a test CA, the default certificate, HTTP/2 from the client proxied as
// HTTP/1.1, the ssl-redirect, HSTS, a missing Secret, and a certificate
// rotated in place while a keepalive connection stays open.
func TestTLS(t *testing.T) {
	ca := certstest.NewCA(t)
	b := newBackend(t, "tlsweb", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "tlsweb %s %s %s", r.Host, r.Proto, r.Header.Get("X-Forwarded-Proto"))
	})
	aCrt, aKey := ca.Issue(t, "a.example.com")
	bCrt, bKey := ca.Issue(t, "b.example.com")
	wCrt, wKey := ca.Issue(t, "*.wild.example.com")
	dCrt, dKey := ca.Issue(t, "default.weir.test")
	files := map[string]string{
		"class.yaml":    ingressClass,
		"svc.yaml":      service("web", b.port),
		"secret-a.yaml": certstest.SecretYAML("default", "a-tls", aCrt, aKey),
		"secrets.yaml": certstest.SecretYAML("default", "b-tls", bCrt, bKey) +
			certstest.SecretYAML("default", "wild-tls", wCrt, wKey) +
			certstest.SecretYAML("weir", "default-tls", dCrt, dKey),
		"ingresses.yaml": tlsIngress("a", "a.example.com", "a.example.com", "a-tls", "web") +
			tlsIngress("b", "b.example.com", "b.example.com", "b-tls", "web") +
			tlsIngress("wild", "*.wild.example.com", "*.wild.example.com", "wild-tls", "web") +
			tlsIngress("missing", "missing.example.com", "missing.example.com", "nope", "web") +
			ingress("plain", "plain.example.com", "web"),
	}
	w := startWeirTLS(t, files, "weir/default-tls")
	_, httpsPort, _ := net.SplitHostPort(w.d.HTTPSAddr())

	t.Run("SNI verified against the CA, HTTP/2 proxied as HTTP/1.1", func(t *testing.T) {
		for _, host := range []string{"a.example.com", "b.example.com", "x.wild.example.com"} {
			tr := httpsTransport(t, w, ca) // verifies the chain and the host name
			resp, body, _ := httpsGet(t, w, tr, host, "/p?q=1")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: status %d, body %q", host, resp.StatusCode, body)
			}
			if resp.ProtoMajor != 2 {
				t.Errorf("%s: client protocol %s, want HTTP/2", host, resp.Proto)
			}
			if want := "tlsweb " + host + ":" + httpsPort + " HTTP/1.1 https"; body != want {
				t.Errorf("%s: backend saw %q, want %q", host, body, want)
			}
			if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=31536000; includeSubDomains" {
				t.Errorf("%s: Strict-Transport-Security %q", host, got)
			}
			if v := resp.TLS.Version; v != tls.VersionTLS13 {
				t.Errorf("%s: TLS version %s, want TLS 1.3", host, tls.VersionName(v))
			}
		}
	})

	t.Run("default certificate for unknown or no SNI", func(t *testing.T) {
		for _, sni := range []string{"unknown.example.com", "", "deep.x.wild.example.com"} {
			leaf := handshake(t, w, sni)
			if leaf.Subject.CommonName != "default.weir.test" {
				t.Errorf("SNI %q: served CN %q, want the default certificate", sni, leaf.Subject.CommonName)
			}
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool()}); err != nil {
				t.Errorf("SNI %q: default certificate does not verify against the CA: %v", sni, err)
			}
		}
	})

	t.Run("missing Secret: warning, default certificate, still served", func(t *testing.T) {
		var found bool
		for _, wa := range w.d.Live().Warnings {
			if wa.Object.Name == "missing" && wa.Reason == snapshot.ReasonSecretNotFound {
				found = true
			}
		}
		if !found {
			t.Errorf("no SecretNotFound warning on ingress missing: %+v", w.d.Live().Warnings)
		}
		if cn := handshake(t, w, "missing.example.com").Subject.CommonName; cn != "default.weir.test" {
			t.Errorf("missing.example.com: served CN %q, want the default certificate", cn)
		}
		resp, body, _ := httpsGet(t, w, httpsTransport(t, w, nil), "missing.example.com", "/")
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, "tlsweb missing.example.com") {
			t.Errorf("missing.example.com over HTTPS: %d %q, want 200 from the backend", resp.StatusCode, body)
		}
	})

	t.Run("HTTP redirects to HTTPS with 308", func(t *testing.T) {
		r := w.get("a.example.com:8080", "/some/path?x=1&y=2")
		want := "https://a.example.com/some/path?x=1&y=2" // no port: as ingress-nginx without use-port-in-redirects
		if r.status != http.StatusPermanentRedirect || r.header.Get("Location") != want {
			t.Errorf("http a.example.com: %d Location %q, want 308 %q", r.status, r.header.Get("Location"), want)
		}
		if r := w.get("plain.example.com", "/"); r.status != http.StatusOK || r.header.Get("Strict-Transport-Security") != "" {
			t.Errorf("http plain.example.com: %d, HSTS %q; want 200 without HSTS", r.status, r.header.Get("Strict-Transport-Security"))
		}
	})

	// ingress-nginx's header filter never calls its certificate check
	// (lua_ingress.lua header()): a host without spec.tls, served the
	// default certificate, gets HSTS over HTTPS too.
	t.Run("HSTS over HTTPS for a host without TLS", func(t *testing.T) {
		resp, body, _ := httpsGet(t, w, httpsTransport(t, w, nil), "plain.example.com", "/")
		if got := resp.Header.Get("Strict-Transport-Security"); resp.StatusCode != http.StatusOK || got != "max-age=31536000; includeSubDomains" {
			t.Errorf("https plain.example.com: %d %q, HSTS %q; want 200 with max-age=31536000; includeSubDomains", resp.StatusCode, body, got)
		}
	})

	t.Run("certificate rotated in place, keepalive connection kept", func(t *testing.T) {
		old := httpsTransport(t, w, ca)
		resp, _, _ := httpsGet(t, w, old, "a.example.com", "/before")
		oldSerial := resp.TLS.PeerCertificates[0].SerialNumber

		newCrt, newKey := ca.Issue(t, "a.example.com")
		w.update("secret-a.yaml", certstest.SecretYAML("default", "a-tls", newCrt, newKey))

		fresh := httpsTransport(t, w, ca)
		resp, _, _ = httpsGet(t, w, fresh, "a.example.com", "/after")
		if resp.TLS.PeerCertificates[0].SerialNumber.Cmp(oldSerial) == 0 {
			t.Errorf("a new handshake still gets the old certificate")
		}
		resp, body, reused := httpsGet(t, w, old, "a.example.com", "/again")
		if !reused {
			t.Errorf("the keepalive connection opened before the rotation was not reused")
		}
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, "tlsweb a.example.com") {
			t.Errorf("old connection after rotation: %d %q", resp.StatusCode, body)
		}
		if resp.TLS.PeerCertificates[0].SerialNumber.Cmp(oldSerial) != 0 {
			t.Errorf("the old connection changed certificate: it was not the same connection")
		}
	})
}

// TestTLSSelfSigned checks that without --default-ssl-certificate an
// unknown SNI gets Weir's self-signed certificate.
func TestTLSSelfSigned(t *testing.T) {
	b := newBackend(t, "web", nil)
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"svc.yaml":   service("web", b.port),
		"ing.yaml":   ingress("plain", "plain.example.com", "web"),
	})
	// ingress-nginx's e2e defaultbackend/ssl.go and ssl/secret_update.go
	// check the issuer's CN, the subject's CN and organization and the
	// first DNS name of its fake certificate, with SNI and without.
	for _, sni := range []string{"plain.example.com", ""} {
		leaf := handshake(t, w, sni)
		const fake = "Kubernetes Ingress Controller Fake Certificate"
		if leaf.Issuer.CommonName != fake || leaf.Subject.CommonName != fake {
			t.Errorf("SNI %q: issuer CN %q, subject CN %q, want %s", sni, leaf.Issuer.CommonName, leaf.Subject.CommonName, fake)
		}
		if len(leaf.Subject.Organization) == 0 || leaf.Subject.Organization[0] != "Acme Co" {
			t.Errorf("SNI %q: organization %q, want Acme Co", sni, leaf.Subject.Organization)
		}
		if len(leaf.DNSNames) == 0 || leaf.DNSNames[0] != "ingress.local" {
			t.Errorf("SNI %q: DNS names %q, want ingress.local first", sni, leaf.DNSNames)
		}
	}
	leaf := handshake(t, w, "plain.example.com")
	if leaf.PublicKeyAlgorithm != x509.RSA {
		t.Errorf("self-signed key %v, want RSA, as ingress-nginx's fake certificate", leaf.PublicKeyAlgorithm)
	}
}

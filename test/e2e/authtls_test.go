package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/certs/certstest"
)

// authIngress is ingress with spec.tls for host, naming the Secret
// server-tls.
func authIngress(name, host, svc string, annotations ...string) string {
	return strings.Replace(ingress(name, host, svc, annotations...), "\nspec:\n",
		fmt.Sprintf("\nspec:\n  tls: [{hosts: [%q], secretName: server-tls}]\n", host), 1)
}

// caSecretYAML renders an Opaque Secret with ca.crt and, when crl is not
// nil, ca.crl.
func caSecretYAML(name string, ca, crl []byte) string {
	s := fmt.Sprintf("---\napiVersion: v1\nkind: Secret\nmetadata: {name: %s, namespace: default}\ntype: Opaque\ndata:\n  ca.crt: %s\n",
		name, base64.StdEncoding.EncodeToString(ca))
	if crl != nil {
		s += "  ca.crl: " + base64.StdEncoding.EncodeToString(crl) + "\n"
	}
	return s
}

// mtlsGet sends GET / with Host host over a new TLS connection to Weir's
// HTTPS port with SNI sni, presenting cert (nil: none), and returns what
// the client saw.
func mtlsGet(t *testing.T, w *weir, host, sni string, cert *tls.Certificate, hdr ...string) result {
	t.Helper()
	cfg := &tls.Config{ServerName: sni, InsecureSkipVerify: true} // the server certificate is TestTLS's business
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	resp, body := httpsDo(t, w, cfg, host, "/", hdr...)
	return result{status: resp.StatusCode, body: body, header: resp.Header}
}

// TestAuthTLS checks client certificate verification end to end with
// ingress-nginx's semantics (test/e2e/annotations/authtls.go and
// nginx.tmpl): per host, a client certificate is requested, nginx's 400
// pages answer a missing or invalid one, the error page redirects,
// match-cn answers 403, the ssl-client-* headers reach the upstream (and
// the client's own never do), and an unusable Secret denies the host.
func TestAuthTLS(t *testing.T) {
	serverCA, clientCA, otherCA := certstest.NewCA(t), certstest.NewCA(t), certstest.NewCA(t)
	b := newBackend(t, "authweb", func(w http.ResponseWriter, r *http.Request) {
		for _, k := range []string{"ssl-client-verify", "ssl-client-subject-dn", "ssl-client-issuer-dn", "ssl-client-cert"} {
			fmt.Fprintf(w, "%s=%s\n", k, strings.Join(r.Header.Values(k), "|"))
		}
	})
	good := clientCA.Client(t, "authtls")
	stranger := otherCA.Client(t, "authtls")
	revoked := clientCA.Client(t, "revoked")
	inter := clientCA.Intermediate(t, "Inter 1")
	inter2 := inter.Intermediate(t, "Inter 2")
	deep := inter2.Client(t, "deep", inter) // leaf <- Inter 2 <- Inter 1 <- root: two intermediates
	sCrt, sKey := serverCA.Issue(t, "*.auth.test")
	files := map[string]string{
		"class.yaml": ingressClass,
		"svc.yaml":   service("web", b.port),
		"secrets.yaml": certstest.SecretYAML("default", "server-tls", sCrt, sKey) +
			caSecretYAML("client-ca", clientCA.CertPEM(), nil) +
			caSecretYAML("client-ca-crl", clientCA.CertPEM(), clientCA.CRL(t, revoked.Leaf.SerialNumber)),
		"ingresses.yaml": authIngress("verify-on", "on.auth.test", "web", "auth-tls-secret", "default/client-ca", "auth-tls-pass-certificate-to-upstream", "true") +
			authIngress("optional", "optional.auth.test", "web", "auth-tls-secret", "default/client-ca", "auth-tls-verify-client", "optional") +
			authIngress("noca", "noca.auth.test", "web", "auth-tls-secret", "default/client-ca", "auth-tls-verify-client", "optional_no_ca") +
			authIngress("verify-off", "off.auth.test", "web", "auth-tls-secret", "default/client-ca", "auth-tls-verify-client", "off") +
			authIngress("errpage", "errpage.auth.test", "web", "auth-tls-secret", "/client-ca", "auth-tls-error-page", "http://errors.auth.test/cert") +
			authIngress("cn", "cn.auth.test", "web", "auth-tls-secret", "default/client-ca", "auth-tls-match-cn", "CN=(nomatch|authtls)") +
			authIngress("cnbad", "cnbad.auth.test", "web", "auth-tls-secret", "default/client-ca", "auth-tls-match-cn", "CN=nomatch") +
			authIngress("crl", "crl.auth.test", "web", "auth-tls-secret", "default/client-ca-crl") +
			authIngress("nocacrl", "nocacrl.auth.test", "web", "auth-tls-secret", "default/client-ca-crl", "auth-tls-verify-client", "optional_no_ca") +
			authIngress("depth", "depth.auth.test", "web", "auth-tls-secret", "default/client-ca") +
			authIngress("depth2", "depth2.auth.test", "web", "auth-tls-secret", "default/client-ca", "auth-tls-verify-depth", "2") +
			authIngress("missing", "missing.auth.test", "web", "auth-tls-secret", "default/later") +
			authIngress("badname", "badname.auth.test", "web", "auth-tls-secret", "client-ca") +
			authIngress("plain", "plain.auth.test", "web"),
		// for "resumed session keeps its certificate"; off by default, as ingress-nginx
		"cm.yaml": configMap("ssl-session-tickets", "true"),
	}
	w := startWeirWith(t, files, configMapOptions())

	const noCert = "<html>\r\n<head><title>400 No required SSL certificate was sent</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>No required SSL certificate was sent</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
	const certErr = "<html>\r\n<head><title>400 The SSL certificate error</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>The SSL certificate error</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
	check := func(t *testing.T, what string, got result, status int, body string) {
		t.Helper()
		if got.status != status || body != "" && !strings.Contains(got.body, body) {
			t.Errorf("%s: %d %q, want %d with %q", what, got.status, got.body, status, body)
		}
	}
	dn := "CN=authtls,O=Weir Tests"
	issuer := "CN=Weir Test CA"

	t.Run("on", func(t *testing.T) {
		got := mtlsGet(t, w, "on.auth.test", "on.auth.test", nil)
		check(t, "no certificate", got, http.StatusBadRequest, "")
		if got.body != noCert || got.header.Get("Content-Type") != "text/html" {
			t.Errorf("no certificate: page %q (%s), want nginx's 496 page", got.body, got.header.Get("Content-Type"))
		}
		got = mtlsGet(t, w, "on.auth.test", "on.auth.test", &stranger)
		if got.status != http.StatusBadRequest || got.body != certErr {
			t.Errorf("certificate of another CA: %d %q, want nginx's 495 page", got.status, got.body)
		}
		// A certificate for servers only (extended key usage serverAuth) is
		// refused, as OpenSSL checks the purpose sslclient.
		sc, sk := clientCA.Issue(t, "server.auth.test")
		serverOnly, err := tls.X509KeyPair(sc, sk)
		if err != nil {
			t.Fatal(err)
		}
		// optional_no_ca lets only a chain to no trusted CA through, as
		// nginx's ngx_ssl_verify_error_optional.
		check(t, "server certificate", mtlsGet(t, w, "noca.auth.test", "noca.auth.test", &serverOnly), http.StatusBadRequest, "The SSL certificate error")
		check(t, "server certificate", mtlsGet(t, w, "on.auth.test", "on.auth.test", &serverOnly), http.StatusBadRequest, "The SSL certificate error")
		got = mtlsGet(t, w, "on.auth.test", "on.auth.test", &good, "ssl-client-verify", "FORGED", "Ssl-Client-Subject-Dn", "CN=admin")
		escaped := strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(
			url.PathEscape(string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: good.Leaf.Raw}))))
		want := "ssl-client-verify=SUCCESS\nssl-client-subject-dn=" + dn + "\nssl-client-issuer-dn=" + issuer + "\nssl-client-cert=" + escaped + "\n"
		if got.status != http.StatusOK || got.body != want {
			t.Errorf("valid certificate: %d\n%s\nwant 200\n%s", got.status, got.body, want)
		}
		if !strings.Contains(got.body, "ssl-client-cert=-----BEGIN%20CERTIFICATE-----%0A") {
			t.Errorf("ssl-client-cert is not nginx's $ssl_client_escaped_cert: %q", got.body)
		}
		// Without SNI the Host's server applies: no certificate was asked for.
		check(t, "no SNI", mtlsGet(t, w, "on.auth.test", "", nil), http.StatusBadRequest, "No required SSL certificate")
		// A handshake made for a host that does not verify is not taken for
		// one that does.
		check(t, "SNI of another host", mtlsGet(t, w, "on.auth.test", "plain.auth.test", &good), http.StatusMisdirectedRequest, "421")
		// Plain HTTP is not verified, as nginx: only TLS connections are;
		// it gets the host's ssl-redirect.
		check(t, "plain HTTP", w.get("on.auth.test", "/"), http.StatusPermanentRedirect, "")
	})

	t.Run("resumed session keeps its certificate", func(t *testing.T) {
		cfg := &tls.Config{ServerName: "on.auth.test", InsecureSkipVerify: true, Certificates: []tls.Certificate{good},
			ClientSessionCache: tls.NewLRUClientSessionCache(4), NextProtos: []string{"http/1.1"}}
		for i := range 3 {
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", w.d.HTTPSAddr(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: on.auth.test\r\nConnection: close\r\n\r\n")
			b, _ := io.ReadAll(conn)
			resumed := conn.ConnectionState().DidResume
			conn.Close()
			if !strings.HasPrefix(string(b), "HTTP/1.1 200") || !strings.Contains(string(b), "ssl-client-verify=SUCCESS") {
				t.Fatalf("connection %d (resumed %v): %q", i, resumed, b)
			}
			if i == 2 && !resumed {
				t.Error("the third connection did not resume: the test proves nothing")
			}
		}
	})

	t.Run("optional", func(t *testing.T) {
		check(t, "no certificate", mtlsGet(t, w, "optional.auth.test", "optional.auth.test", nil), http.StatusOK, "ssl-client-verify=NONE\nssl-client-subject-dn=\n")
		check(t, "invalid certificate", mtlsGet(t, w, "optional.auth.test", "optional.auth.test", &stranger), http.StatusBadRequest, "The SSL certificate error")
		check(t, "valid certificate", mtlsGet(t, w, "optional.auth.test", "optional.auth.test", &good), http.StatusOK, "ssl-client-verify=SUCCESS\n")
	})

	t.Run("optional_no_ca", func(t *testing.T) {
		check(t, "no certificate", mtlsGet(t, w, "noca.auth.test", "noca.auth.test", nil), http.StatusOK, "ssl-client-verify=NONE\n")
		check(t, "invalid certificate passes", mtlsGet(t, w, "noca.auth.test", "noca.auth.test", &stranger), http.StatusOK,
			"ssl-client-verify=FAILED:unable to verify the first certificate\nssl-client-subject-dn="+dn+"\n")
		// Revoked is not a missing CA: 400, as in the other modes.
		check(t, "revoked certificate", mtlsGet(t, w, "nocacrl.auth.test", "nocacrl.auth.test", &revoked), http.StatusBadRequest, "The SSL certificate error")
		check(t, "not revoked", mtlsGet(t, w, "nocacrl.auth.test", "nocacrl.auth.test", &good), http.StatusOK, "ssl-client-verify=SUCCESS\n")
		check(t, "pass-certificate not set", mtlsGet(t, w, "noca.auth.test", "noca.auth.test", &good), http.StatusOK, "ssl-client-cert=\n")
	})

	t.Run("off", func(t *testing.T) {
		got := mtlsGet(t, w, "off.auth.test", "off.auth.test", &good, "ssl-client-verify", "SUCCESS")
		check(t, "certificate not requested; forged header removed", got, http.StatusOK, "ssl-client-verify=NONE\nssl-client-subject-dn=\n")
	})

	t.Run("error page", func(t *testing.T) {
		got := mtlsGet(t, w, "errpage.auth.test", "errpage.auth.test", nil)
		if got.status != http.StatusFound || got.header.Get("Location") != "http://errors.auth.test/cert" {
			t.Errorf("no certificate: %d Location %q, want 302 to the error page", got.status, got.header.Get("Location"))
		}
		check(t, "valid certificate", mtlsGet(t, w, "errpage.auth.test", "errpage.auth.test", &good), http.StatusOK, "SUCCESS")
	})

	t.Run("match-cn", func(t *testing.T) {
		check(t, "one alternative matches", mtlsGet(t, w, "cn.auth.test", "cn.auth.test", &good), http.StatusOK, "SUCCESS")
		got := mtlsGet(t, w, "cnbad.auth.test", "cnbad.auth.test", &good)
		if got.status != http.StatusForbidden || got.body != "client certificate unauthorized" {
			t.Errorf("no match: %d %q, want 403 client certificate unauthorized", got.status, got.body)
		}
		check(t, "no match over plain HTTP", w.get("cnbad.auth.test", "/"), http.StatusForbidden, "client certificate unauthorized")
	})

	t.Run("crl", func(t *testing.T) {
		check(t, "revoked", mtlsGet(t, w, "crl.auth.test", "crl.auth.test", &revoked), http.StatusBadRequest, "The SSL certificate error")
		check(t, "not revoked", mtlsGet(t, w, "crl.auth.test", "crl.auth.test", &good), http.StatusOK, "SUCCESS")
	})

	t.Run("verify depth", func(t *testing.T) {
		one := inter.Client(t, "one")
		check(t, "one intermediate, depth 1", mtlsGet(t, w, "depth.auth.test", "depth.auth.test", &one), http.StatusOK, "SUCCESS")
		check(t, "two intermediates, depth 1", mtlsGet(t, w, "depth.auth.test", "depth.auth.test", &deep), http.StatusBadRequest, "The SSL certificate error")
		check(t, "two intermediates, depth 2", mtlsGet(t, w, "depth2.auth.test", "depth2.auth.test", &deep), http.StatusOK, "ssl-client-subject-dn=CN=deep,O=Weir Tests\nssl-client-issuer-dn=CN=Inter 2\n")
	})

	t.Run("unusable secret fails closed", func(t *testing.T) {
		for _, host := range []string{"missing.auth.test", "badname.auth.test"} {
			got := mtlsGet(t, w, host, host, &good)
			if got.status != http.StatusForbidden || !strings.Contains(got.body, "<title>403 Forbidden</title>") {
				t.Errorf("%s: %d %q, want nginx's 403", host, got.status, got.body)
			}
			check(t, host+" over plain HTTP", w.get(host, "/"), http.StatusForbidden, "")
		}
		check(t, "other hosts unaffected", mtlsGet(t, w, "plain.auth.test", "plain.auth.test", nil), http.StatusOK, "ssl-client-verify=\n")
		waitFor(t, 5*time.Second, "warning about the missing secret logged", func() bool {
			return strings.Contains(w.logs.String(), "secret default/later not found")
		})
		// The Secret appears: the Ingress that names it is rebuilt.
		w.update("later.yaml", caSecretYAML("later", clientCA.CertPEM(), nil))
		check(t, "secret created", mtlsGet(t, w, "missing.auth.test", "missing.auth.test", &good), http.StatusOK, "SUCCESS")
		check(t, "secret created, no certificate", mtlsGet(t, w, "missing.auth.test", "missing.auth.test", nil), http.StatusBadRequest, "No required SSL certificate")
	})

	t.Run("curl --cert", func(t *testing.T) {
		curl, err := exec.LookPath("curl")
		if err != nil {
			t.Skip("no curl")
		}
		dir := t.TempDir()
		certFile, keyFile := filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
		writePEMPair(t, certFile, keyFile, good)
		_, port, _ := net.SplitHostPort(w.d.HTTPSAddr())
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, curl, "-sk", "--cert", certFile, "--key", keyFile,
			"--resolve", "on.auth.test:"+port+":127.0.0.1", "https://on.auth.test:"+port+"/").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "ssl-client-verify=SUCCESS") {
			t.Errorf("curl --cert: %v: %s", err, out)
		}
		out, err = exec.CommandContext(ctx, curl, "-sk", "-o", "/dev/null", "-w", "%{http_code}",
			"--resolve", "on.auth.test:"+port+":127.0.0.1", "https://on.auth.test:"+port+"/").CombinedOutput()
		if err != nil || string(out) != "400" {
			t.Errorf("curl without --cert: %v: %s, want 400", err, out)
		}
	})
}

// writePEMPair writes c's chain and key as PEM files.
func writePEMPair(t *testing.T, certFile, keyFile string, c tls.Certificate) {
	t.Helper()
	var chain []byte
	for _, der := range c.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	key, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, chain, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestSSLCiphersAnnotation: ssl-ciphers sets the TLS 1.2 suites of the
// Ingress's host only (nginx's server-level ssl_ciphers); other hosts keep
// the ConfigMap's.
func TestSSLCiphersAnnotation(t *testing.T) {
	serverCA := certstest.NewCA(t)
	b := newBackend(t, "cipherweb", nil)
	sCrt, sKey := serverCA.Issue(t, "*.auth.test")
	w := startWeir(t, map[string]string{
		"class.yaml":   ingressClass,
		"svc.yaml":     service("web", b.port),
		"secrets.yaml": certstest.SecretYAML("default", "server-tls", sCrt, sKey),
		"ingresses.yaml": authIngress("strict", "strict.auth.test", "web", "ssl-ciphers", "ECDHE-ECDSA-AES256-GCM-SHA384", "ssl-prefer-server-ciphers", "true") +
			authIngress("plain", "plain.auth.test", "web"),
	})
	dial := func(sni string, suites ...uint16) (uint16, error) {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", w.d.HTTPSAddr(), &tls.Config{
			ServerName: sni, InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12, CipherSuites: suites,
		})
		if err != nil {
			return 0, err
		}
		defer conn.Close()
		return conn.ConnectionState().CipherSuite, nil
	}
	aes128 := tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
	aes256 := tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
	if got, err := dial("strict.auth.test", aes128, aes256); err != nil || got != aes256 {
		t.Errorf("strict host, client offers both: %s, %v; want %s", tls.CipherSuiteName(got), err, tls.CipherSuiteName(aes256))
	}
	if _, err := dial("strict.auth.test", aes128); err == nil {
		t.Error("strict host accepted a suite its ssl-ciphers leaves out")
	}
	if got, err := dial("plain.auth.test", aes128); err != nil || got != aes128 {
		t.Errorf("other host: %s, %v; want the ConfigMap's %s", tls.CipherSuiteName(got), err, tls.CipherSuiteName(aes128))
	}
}

// This file ports ingress-nginx's test/e2e/annotations/proxyssl.go (the
// proxy-ssl-* annotations) and checks TLS to endpoints generally: each
// case's nginx.conf lines (proxy_ssl_certificate, _trusted_certificate,
// _ciphers, _protocols, _verify, _verify_depth, _server_name) are checked
// by what they do to a real HTTPS endpoint that records the client
// certificate, the SNI and the negotiated version and cipher suite.

package e2e

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/weir-lb/weir/l7/certs/certstest"
)

// sslEcho is an HTTPS endpoint on 127.0.0.1 that asks for a client
// certificate (without verifying it) and answers with what it saw of the
// connection: "sni=<SNI> cert=<client certificate CN or -> chain=<number
// of client certificates> version=<TLS version: TLS1.2> cipher=<suite>
// resumed=<bool>".
type sslEcho struct {
	srv  *httptest.Server
	port int
}

// newSSLEcho starts an sslEcho serving a certificate issuer issues for
// name, followed by the certificates of chain, its tls.Config then changed
// by tweak (nil: none).
func newSSLEcho(t *testing.T, issuer *certstest.CA, name string, tweak func(*tls.Config), chain ...*certstest.CA) *sslEcho {
	t.Helper()
	certPEM, keyPEM := issuer.Issue(t, name)
	for _, c := range chain {
		certPEM = append(certPEM, c.CertPEM()...)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	e := &sslEcho{}
	e.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cn := "-"
		if len(r.TLS.PeerCertificates) > 0 {
			cn = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		fmt.Fprintf(w, "sni=%s cert=%s chain=%d version=%s cipher=%s resumed=%v", r.TLS.ServerName, cn, len(r.TLS.PeerCertificates),
			strings.ReplaceAll(tls.VersionName(r.TLS.Version), " ", ""), tls.CipherSuiteName(r.TLS.CipherSuite), r.TLS.DidResume)
	}))
	e.srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequestClientCert}
	if tweak != nil {
		tweak(e.srv.TLS)
	}
	e.srv.StartTLS()
	t.Cleanup(e.srv.Close)
	e.port = e.srv.Listener.Addr().(*net.TCPAddr).Port
	return e
}

// untypedSecret is opaqueSecret without a type, as ingress-nginx's
// framework.CreateIngressMASecret writes its Secret (ca.crt, tls.crt,
// tls.key).
func untypedSecret(name string, data map[string][]byte) string {
	return strings.Replace(opaqueSecret(name, data), "type: Opaque\n", "", 1)
}

// sslStatus checks that res has status want (Weir's own answer, not the
// endpoint's).
func sslStatus(t *testing.T, what string, res result, want int) {
	t.Helper()
	if res.status != want {
		t.Errorf("%s: %d %q, want %d", what, res.status, res.body, want)
	}
}

// sslWant checks that res is 200 with each of the fields of an sslEcho
// answer in want.
func sslWant(t *testing.T, what string, res result, want ...string) {
	t.Helper()
	if res.status != http.StatusOK {
		t.Errorf("%s: %d %q, want 200 from the endpoint", what, res.status, res.body)
		return
	}
	fields := strings.Fields(res.body)
	for _, w := range want {
		found := false
		for _, f := range fields {
			found = found || f == w
		}
		if !found {
			t.Errorf("%s: the endpoint saw %q, want %s", what, res.body, w)
		}
	}
}

// TestIngressNginxProxySSL ports proxyssl.go's cases. Each sets
// proxy-ssl-secret to one Secret with ca.crt, tls.crt and tls.key that is
// also the host's spec.tls certificate, on an HTTP endpoint as the e2e
// does (plain HTTP is redirected, 308; HTTPS reaches the endpoint); the
// same annotations on an HTTPS route show the nginx.conf lines the case
// greps for. proxy_ssl_* as nginx 1.22.1 applied them to a Go endpoint:
// without proxy_ssl_server_name no SNI; proxy_ssl_protocols TLSv1.2
// negotiated TLS 1.2 (ECDHE-ECDSA-AES128-GCM-SHA256 from DEFAULT);
// HIGH:!AES negotiated ECDHE-ECDSA-CHACHA20-POLY1305; a certificate of
// another CA answered 502 with proxy_ssl_verify on and 200 with it off.
func TestIngressNginxProxySSL(t *testing.T) {
	const host = "proxyssl.foo.com"
	ca := certstest.NewCA(t)
	crt, key := ca.Issue(t, host)
	// ca.crt is ca's certificate alone; tls.crt is the leaf, then ca's
	// certificate (Issue's chain), which nginx trusts too.
	secret := untypedSecret("proxyssl", map[string][]byte{"ca.crt": ca.CertPEM(), "tls.crt": crt, "tls.key": key})
	echo := newBackend(t, "echo", nil)
	// Endpoints: certificates for upstream_balancer (ingress-nginx's
	// $proxy_host, what is verified without proxy-ssl-name) and for
	// backend.test, from ca; one from another CA; chains through one and
	// two intermediates; one that speaks TLS 1.3 only.
	other := certstest.NewCA(t)
	inter1 := ca.Intermediate(t, "inter1")
	inter2 := inter1.Intermediate(t, "inter2")
	balancer := newSSLEcho(t, ca, "upstream_balancer", nil)
	named := newSSLEcho(t, ca, "backend.test", nil)
	foreign := newSSLEcho(t, other, "upstream_balancer", nil)
	chain1 := newSSLEcho(t, inter1, "upstream_balancer", nil)         // leaf, inter1
	chain2 := newSSLEcho(t, inter2, "upstream_balancer", nil, inter1) // leaf, inter2, inter1
	tls13 := newSSLEcho(t, ca, "upstream_balancer", func(c *tls.Config) { c.MinVersion = tls.VersionTLS13 })

	// eps are the endpoints of an HTTPS route, by name: each gets a
	// Service and an Ingress of its own on host <name>.<host>.
	eps := map[string]*sslEcho{"balancer": balancer, "named": named, "foreign": foreign, "chain1": chain1, "chain2": chain2, "tls13": tls13}
	start := func(t *testing.T, ann []string, cm ...string) *weir {
		t.Helper()
		ann = append([]string{"proxy-ssl-secret", "default/proxyssl"}, ann...)
		app := service("echo", echo.port) + secret + withTLSHosts(ingress("proxyssl", host, "echo", ann...), "proxyssl", `"`+host+`"`)
		for name, e := range eps {
			app += service(name, e.port) + ingress(name, name+"."+host, name, append([]string{"backend-protocol", "HTTPS"}, ann...)...)
		}
		return startWeirWith(t, map[string]string{"class.yaml": ingressClass, "app.yaml": app, "cm.yaml": configMap(cm...)}, configMapOptions())
	}
	// e2e checks what the e2e case asserts: 308 over HTTP, 200 over HTTPS
	// with the Secret's certificate served.
	e2e := func(t *testing.T, w *weir) {
		t.Helper()
		if res := w.get(host, "/"); res.status != http.StatusPermanentRedirect {
			t.Errorf("plain HTTP: %d, want 308", res.status)
		}
		if cn := handshake(t, w, host).Subject.CommonName; cn != host {
			t.Errorf("served certificate CN %q, want the Secret's, %s", cn, host)
		}
		resp, body, _ := httpsGet(t, w, httpsTransport(t, w, ca), host, "/")
		if resp.StatusCode != http.StatusOK || body != "echo /" {
			t.Errorf("HTTPS: %d %q, want 200 from the endpoint", resp.StatusCode, body)
		}
	}
	get := func(w *weir, ep string) result { return w.get(ep+"."+host, "/") }

	t.Run("should set valid proxy-ssl-secret", func(t *testing.T) {
		w := start(t, nil)
		e2e(t, w)
		// proxy_ssl_certificate: the client certificate is tls.crt; no
		// proxy_ssl_server_name: no SNI; proxy_ssl_protocols TLSv1.2 and
		// proxy_ssl_ciphers DEFAULT; proxy_ssl_verify off: any certificate.
		sslWant(t, "client certificate, no SNI, TLS 1.2, DEFAULT", get(w, "balancer"),
			"sni=", "cert="+host, "version=TLS1.2", "cipher=TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")
		sslWant(t, "verify off, a certificate of another CA", get(w, "foreign"), "cert="+host)
		sslStatus(t, "TLS 1.2 only, an endpoint of TLS 1.3", get(w, "tls13"), 502)
	})

	t.Run("should set valid proxy-ssl-secret, proxy-ssl-verify to on, proxy-ssl-verify-depth to 2, and proxy-ssl-server-name to on", func(t *testing.T) {
		w := start(t, []string{"proxy-ssl-verify", "on", "proxy-ssl-verify-depth", "2", "proxy-ssl-server-name", "on"})
		e2e(t, w)
		// Without proxy-ssl-name, nginx's $proxy_host (upstream_balancer)
		// is the SNI and the name verified.
		sslWant(t, "verified, SNI upstream_balancer", get(w, "balancer"), "sni=upstream_balancer", "cert="+host)
		sslStatus(t, "a certificate for another name", get(w, "named"), 502)
		sslStatus(t, "a certificate of another CA", get(w, "foreign"), 502)
		sslWant(t, "one intermediate", get(w, "chain1"), "sni=upstream_balancer")
		sslWant(t, "two intermediates, depth 2", get(w, "chain2"), "sni=upstream_balancer")
	})

	t.Run("proxy-ssl-verify-depth 1 and proxy-ssl-name", func(t *testing.T) {
		w := start(t, []string{"proxy-ssl-verify", "on", "proxy-ssl-verify-depth", "1"})
		sslWant(t, "one intermediate, depth 1", get(w, "chain1"), "sni=")
		sslStatus(t, "two intermediates, depth 1", get(w, "chain2"), 502)
		w = start(t, []string{"proxy-ssl-verify", "on", "proxy-ssl-name", "backend.test"})
		sslWant(t, "proxy-ssl-name verified, no SNI without proxy-ssl-server-name", get(w, "named"), "sni=", "cert="+host)
		sslStatus(t, "proxy-ssl-name, a certificate for upstream_balancer", get(w, "balancer"), 502)
		w = start(t, []string{"proxy-ssl-name", "backend.test", "proxy-ssl-server-name", "on"})
		sslWant(t, "proxy-ssl-name sent as SNI", get(w, "balancer"), "sni=backend.test")
	})

	t.Run("should set valid proxy-ssl-secret, proxy-ssl-ciphers to HIGH:!AES", func(t *testing.T) {
		w := start(t, []string{"proxy-ssl-ciphers", "HIGH:!AES"})
		e2e(t, w)
		sslWant(t, "HIGH:!AES", get(w, "balancer"), "version=TLS1.2", "cipher=TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256")
	})

	t.Run("should set valid proxy-ssl-secret, proxy-ssl-protocols", func(t *testing.T) {
		w := start(t, []string{"proxy-ssl-protocols", "TLSv1.2 TLSv1.3"})
		e2e(t, w)
		sslWant(t, "TLS 1.2 and 1.3", get(w, "balancer"), "version=TLS1.3", "cert="+host)
		sslWant(t, "TLS 1.2 and 1.3, an endpoint of TLS 1.3", get(w, "tls13"), "version=TLS1.3")
		// An invalid value keeps the default (ingress-nginx's Parse
		// warns and uses TLSv1.2).
		w = start(t, []string{"proxy-ssl-protocols", "TLSv1.1"})
		sslWant(t, "invalid proxy-ssl-protocols", get(w, "balancer"), "version=TLS1.2")
	})

	// proxy-ssl-location-only: true writes the proxy_ssl_* lines in the
	// locations only, false (the default) in the server block too, which
	// the locations of the host's other Ingresses inherit where they write
	// none: another Ingress's HTTPS route then sends the client
	// certificate and verifies (against upstream_balancer: no
	// proxy-ssl-name, so no server-level proxy_ssl_server_name and no
	// SNI). The route of the Ingress that sets them behaves the same
	// either way.
	t.Run("proxy-ssl-location-only flag should change the nginx config server part", func(t *testing.T) {
		for _, only := range []string{"true", "false"} {
			w := start(t, []string{"proxy-ssl-verify", "on", "proxy-ssl-server-name", "on"}, "proxy-ssl-location-only", only)
			sslWant(t, "location-only "+only, get(w, "balancer"), "sni=upstream_balancer", "cert="+host)
			sslStatus(t, "location-only "+only+", another CA", get(w, "foreign"), 502)
			w.update("more.yaml", service("other-balancer", balancer.port)+service("other-foreign", foreign.port)+
				ingressPaths("other-balancer", "balancer."+host, "other-balancer", "Prefix", []string{"/other"}, "backend-protocol", "HTTPS")+
				ingressPaths("other-foreign", "foreign."+host, "other-foreign", "Prefix", []string{"/other"}, "backend-protocol", "HTTPS"))
			other, otherForeign := w.get("balancer."+host, "/other"), w.get("foreign."+host, "/other")
			if only == "true" {
				sslWant(t, "location-only true, another Ingress of the host", other, "sni=", "cert=-")
				sslWant(t, "location-only true, another Ingress of the host, another CA", otherForeign, "sni=", "cert=-")
				continue
			}
			sslWant(t, "location-only false, another Ingress of the host", other, "sni=", "cert="+host)
			sslStatus(t, "location-only false, another Ingress of the host, another CA", otherForeign, 502)
		}
	})
}

// TestIngressNginxProxySSLSecrets checks proxy-ssl-secret values and
// Secrets as ingress-nginx reads them (proxyssl's Parse, the store's
// getPemCertificate): a Secret that does not resolve denies the location
// (503) whatever the protocol; tls.crt and tls.key are the client
// certificate only beside a ca.crt; an HTTPS route without the annotation
// verifies nothing and sends neither SNI nor certificate; a new connection
// resumes the TLS session (proxy_ssl_session_reuse on).
func TestIngressNginxProxySSLSecrets(t *testing.T) {
	ca := certstest.NewCA(t)
	crt, key := ca.Issue(t, "weir-client")
	upCA := certstest.NewCA(t)
	up := newSSLEcho(t, upCA, "backend.test", nil)
	anchorCrt, anchorKey := upCA.Issue(t, "weir-client") // the leaf, then upCA's certificate
	closing := newSSLEcho(t, ca, "backend.test", nil)
	inner := closing.srv.Config.Handler
	closing.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close") // each request on a new connection
		inner.ServeHTTP(w, r)
	})
	secrets := untypedSecret("full", map[string][]byte{"ca.crt": ca.CertPEM(), "tls.crt": crt, "tls.key": key}) +
		untypedSecret("pair", map[string][]byte{"tls.crt": crt, "tls.key": key}) +
		untypedSecret("crtca", map[string][]byte{"tls.crt": crt, "ca.crt": ca.CertPEM()}) +
		untypedSecret("anchor", map[string][]byte{"tls.crt": anchorCrt, "tls.key": anchorKey, "ca.crt": ca.CertPEM()}) +
		untypedSecret("empty", map[string][]byte{"auth": []byte("x")}) +
		untypedSecret("badkey", map[string][]byte{"tls.crt": crt, "tls.key": []byte("no key"), "ca.crt": ca.CertPEM()}) +
		strings.Replace(untypedSecret("elsewhere", map[string][]byte{"ca.crt": ca.CertPEM()}), "namespace: default", "namespace: other", 1)
	https := func(name, secret string, more ...string) string {
		ann := append([]string{"backend-protocol", "HTTPS"}, more...)
		if secret != "" {
			ann = append(ann, "proxy-ssl-secret", secret)
		}
		return ingress(name, name+".test", "up", ann...)
	}
	w := startWeir(t, map[string]string{"class.yaml": ingressClass, "secrets.yaml": secrets, "app.yaml": service("up", up.port) +
		service("closing", closing.port) + ingress("resume", "resume.test", "closing", "backend-protocol", "HTTPS") +
		https("none", "") + https("full", "default/full") + https("pair", "default/pair") + https("crtca", "default/crtca") +
		https("verifyother", "default/full", "proxy-ssl-verify", "on", "proxy-ssl-name", "backend.test") +
		https("anchor", "default/anchor", "proxy-ssl-verify", "on", "proxy-ssl-name", "backend.test") +
		https("missing", "default/missing") + https("empty", "default/empty") + https("badkey", "default/badkey") +
		https("crossns", "other/elsewhere") + https("noslash", "full") + https("pairverify", "default/pair", "proxy-ssl-verify", "on") +
		https("badchars", "default/full;x") +
		ingress("plainhttp", "plainhttp.test", "up", "proxy-ssl-secret", "default/missing")})

	sslWant(t, "no proxy-ssl-secret", w.get("none.test", "/"), "sni=", "cert=-")
	// The client's chain is the rest of ingress-nginx's file: tls.crt's
	// CA, then ca.crt (nginx 1.22.1 sent the three certificates).
	sslWant(t, "ca.crt, tls.crt and tls.key", w.get("full.test", "/"), "cert=weir-client", "chain=3")
	// getPemCertificate stores the pair's file only with ca.crt, and
	// nginx.tmpl writes proxy_ssl_certificate only when that file is set.
	sslWant(t, "tls.crt and tls.key without ca.crt: no client certificate", w.get("pair.test", "/"), "cert=-")
	// Without tls.key, the Secret is ca.crt alone.
	sslWant(t, "tls.crt and ca.crt without tls.key", w.get("crtca.test", "/"), "cert=-")
	// Verified against another CA than the endpoint's: 502.
	sslStatus(t, "verify, another CA", w.get("verifyother.test", "/"), 502)
	// The trusted file is tls.crt, tls.key and ca.crt: the CA at the end
	// of tls.crt is trusted too (nginx 1.22.1 with such a file: 200; with
	// ca.crt alone: 502, "unable to verify the first certificate").
	sslWant(t, "verify, the endpoint's CA in tls.crt", w.get("anchor.test", "/"), "cert=weir-client")
	// ingress-nginx denies the location: "error obtaining certificate"
	// (missing, no keys, a bad key), "cross namespace secrets are not
	// supported", and ParseNameNS's error for a value without "/".
	for _, name := range []string{"missing", "empty", "badkey", "crossns", "noslash", "plainhttp"} {
		sslStatus(t, name, w.get(name+".test", "/"), 503)
	}
	// differs from ingress-nginx: verify on with a Secret without ca.crt
	// writes no proxy_ssl_verify there (nothing is verified); Weir fails
	// closed (README, proxy-ssl-verify).
	sslStatus(t, "verify on, no ca.crt", w.get("pairverify.test", "/"), 503)
	// A value out of proxy-ssl-secret's characters is a validation error:
	// ingress-nginx's Extract refuses the whole Ingress, so its host is
	// not served (the default backend's 404).
	sslStatus(t, "proxy-ssl-secret with a ';'", w.get("badchars.test", "/"), 404)

	for i, want := range []string{"resumed=false", "resumed=true", "resumed=true"} {
		sslWant(t, fmt.Sprintf("session reuse, connection %d", i+1), w.get("resume.test", "/"), want)
	}
}

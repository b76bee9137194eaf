package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/test/testutil"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// This file ports the cases of ingress-nginx's e2e files
// test/e2e/settings/{access_log, badannotationvalues,
// listen_nondefault_ports, ssl_ciphers, ssl_passthrough, ssl_session_cache,
// ssl_session_tickets, tls, global_options, hash-size,
// disable_service_external_name, default_ssl_certificate,
// disable_catch_all}.go, test/e2e/annotations/{sslciphers,
// affinitymode}.go, test/e2e/defaultbackend/ssl.go and
// test/e2e/ssl/secret_update.go that a client can observe and that no
// other test here covers yet.

// e2esetEcho answers as the framework's echo server: the Host, then the
// request's header fields, lower case, "name=value" one a line.
func e2esetEcho(t *testing.T) *backend {
	t.Helper()
	return newBackend(t, "echo", settingsEcho)
}

// e2esetWeir starts an in-process Weir on the ConfigMap default/weir-config
// holding cm, with opts changed by edit (nil: the defaults).
func e2esetWeir(t *testing.T, files map[string]string, edit func(*snapshot.Options), cm ...string) *weir {
	t.Helper()
	opts := configMapOptions()
	if edit != nil {
		edit(&opts)
	}
	all := map[string]string{"class.yaml": ingressClass, "cm.yaml": configMap(cm...)}
	for k, v := range files {
		all[k] = v
	}
	return startWeirWith(t, all, opts)
}

// httpsDo sends GET https://host+path over a new TLS connection to Weir's
// HTTPS port with the client configuration cfg (an empty ServerName sends
// host as the SNI), HTTP/2 if the server offers it, and returns the
// response, its body read.
func httpsDo(t *testing.T, w *weir, cfg *tls.Config, host, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, network, w.d.HTTPSAddr())
		},
		TLSClientConfig:   cfg,
		ForceAttemptHTTP2: true,
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, "https://"+host+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	c := &http.Client{Transport: tr, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET https://%s%s (SNI %q): %v", host, path, cfg.ServerName, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read https://%s%s: %v", host, path, err)
	}
	return resp, string(b)
}

// rsaSecretYAML renders a kubernetes.io/tls Secret with a self-signed RSA
// certificate for hosts, as the e2e framework's CreateIngressTLSSecret
// makes, and returns a client configuration that trusts it with SNI
// hosts[0].
func rsaSecretYAML(t *testing.T, name string, hosts ...string) (string, *tls.Config) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{Organization: []string{"Acme Co"}, CommonName: hosts[0]},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    hosts, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	crt := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(crt)
	return certstest.SecretYAML("default", name, crt, keyPEM), &tls.Config{RootCAs: pool, ServerName: hosts[0]}
}

// upstreamLines checks that the echo body holds every want line ("!line":
// lacks it).
func upstreamLines(t *testing.T, body string, want ...string) {
	t.Helper()
	have := map[string]bool{}
	for _, l := range strings.Split(body, "\n") {
		have[l] = true
	}
	for _, l := range want {
		if neg := strings.HasPrefix(l, "!"); neg && have[l[1:]] || !neg && !have[l] {
			t.Errorf("upstream line %q: body\n%s", l, body)
		}
	}
}

// TestIngressNginxAccessLogSettings ports test/e2e/settings/access_log.go:
// its four cases only read the access_log lines of nginx.conf
// (access-log-path, http-access-log-path, stream-access-log-path). Weir
// logs to --access-log whatever those keys say (README: ignored), so
// what a client observes is that the request is served and logged there.
func TestIngressNginxAccessLogSettings(t *testing.T) {
	echo := e2esetEcho(t)
	for _, cm := range [][]string{
		nil, // use the default configuration
		{"access-log-path", "/tmp/nginx/access.log"},               // use the specified configuration
		{"http-access-log-path", "/tmp/nginx/http-access.log"},     // http-access-log-path
		{"stream-access-log-path", "/tmp/nginx/stream-access.log"}, // stream-access-log-path
		{"http-access-log-path", "/tmp/nginx/http-access.log", "stream-access-log-path", "/tmp/nginx/stream-access.log"},
	} {
		t.Run(fmt.Sprint(cm), func(t *testing.T) {
			w := e2esetWeir(t, map[string]string{"app.yaml": service("echo", echo.port) + ingress("echo", "access-log", "echo")}, nil, cm...)
			if res := w.get("access-log", "/logged"); res.status != http.StatusOK {
				t.Fatalf("GET /logged: %d", res.status)
			}
			waitFor(t, 5*time.Second, "the access-log line", func() bool { return strings.Contains(w.access.String(), "/logged") })
		})
	}
}

// TestIngressNginxBadAnnotationValues ports
// test/e2e/settings/badannotationvalues.go with its
// AllowSnippetConfiguration (allow-snippet-annotations "true",
// annotations-risk-level Critical): an Ingress whose annotation holds a
// word of annotation-value-word-blocklist answers 404, one without is
// served (its snippet never applied: README).
func TestIngressNginxBadAnnotationValues(t *testing.T) {
	echo := e2esetEcho(t)
	for _, tc := range []struct {
		name, host, snippet, blocklist string
		want                           int
	}{
		{"should drop an ingress if there is an invalid character in some annotation", "invalid-value-test",
			"\n\t\t\t# abc { }", "something_forbidden,otherthing_forbidden,{", http.StatusNotFound},
		{"should drop an ingress if there is a forbidden word in some annotation", "forbidden-value-test",
			"\n\t\t\t  default_type text/plain;\n              content_by_lua_block {\n                ngx.say(\"Hello World\")\n            }",
			"something_forbidden,otherthing_forbidden,content_by_lua_block", http.StatusNotFound},
		{"should allow an ingress if there is a default blocklist config in place", "custom-allowed-value-test",
			"\n\t\t\t# bla_by_lua", "", http.StatusOK},
		{"should drop an ingress if there is a custom blocklist config in place and allow others to pass", "custom-forbidden-value-test",
			"\n\t\t\t# something_forbidden", "something_forbidden,otherthing_forbidden", http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cm := []string{"allow-snippet-annotations", "true", "annotations-risk-level", "Critical"}
			if tc.blocklist != "" {
				cm = append(cm, "annotation-value-word-blocklist", tc.blocklist)
			}
			w := e2esetWeir(t, map[string]string{"app.yaml": service("echo", echo.port) +
				ingress(tc.host, tc.host, "echo", "configuration-snippet", tc.snippet)}, nil, cm...)
			if res := w.get(tc.host, "/"); res.status != tc.want {
				t.Errorf("GET %s/: %d, want %d", tc.host, res.status, tc.want)
			}
		})
	}
}

// TestIngressNginxListenNondefaultPorts ports
// test/e2e/settings/listen_nondefault_ports.go (the controller on
// --http-port 1080 and --https-port 1443): X-Forwarded-Port is the HTTP
// port the request came in on, and 443 for the HTTPS port
// (lua_ingress.lua's pass_port), also behind external authentication.
func TestIngressNginxListenNondefaultPorts(t *testing.T) {
	echo := e2esetEcho(t)
	auth := newBackend(t, "auth", func(rw http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "user" || p != "password" {
			rw.WriteHeader(http.StatusUnauthorized)
		}
	})
	const host = "forwarded-headers"
	secret, tlsCfg := rsaSecretYAML(t, host, host)
	plain := service("echo", echo.port) + ingress(host, host, "echo")
	withTLS := service("echo", echo.port) + withTLSHosts(ingress(host, host, "echo"), host, host) + secret
	withAuth := service("echo", echo.port) + secret + withTLSHosts(ingress(host, host, "echo",
		"auth-url", fmt.Sprintf("http://127.0.0.1:%d/basic-auth/user/password", auth.port),
		"auth-signin", "http://$host/auth/start"), host, host)

	t.Run("should set X-Forwarded-Port headers accordingly when listening on a non-default HTTP port", func(t *testing.T) {
		w := e2esetWeir(t, map[string]string{"app.yaml": plain}, nil)
		_, port, _ := net.SplitHostPort(w.d.HTTPAddr())
		res := w.get(host, "/")
		if res.status != http.StatusOK {
			t.Fatalf("GET /: %d", res.status)
		}
		upstreamLines(t, res.body, "x-forwarded-port="+port)
	})
	t.Run("should set X-Forwarded-Port header to 443", func(t *testing.T) {
		w := e2esetWeir(t, map[string]string{"app.yaml": withTLS}, nil)
		resp, body := httpsDo(t, w, tlsCfg, host, "/")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET https /: %d", resp.StatusCode)
		}
		upstreamLines(t, body, "x-forwarded-port=443")
	})
	t.Run("when external authentication is configured should set the X-Forwarded-Port header to 443", func(t *testing.T) {
		w := e2esetWeir(t, map[string]string{"app.yaml": withAuth}, nil)
		resp, body := httpsDo(t, w, tlsCfg, host, "/", "Authorization",
			"Basic "+base64.StdEncoding.EncodeToString([]byte("user:password")))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET https / signed in: %d %q", resp.StatusCode, body)
		}
		upstreamLines(t, body, "x-forwarded-port=443")
	})
}

// TestIngressNginxSSLCiphers ports test/e2e/settings/ssl_ciphers.go (the
// ConfigMap's ssl-ciphers, conf-only there), the cipher-suite case of
// test/e2e/settings/tls.go and test/e2e/annotations/sslciphers.go: an
// OpenSSL cipher string full of keywords and strength modifiers still
// serves HTTPS; ssl-ciphers "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-SHA"
// with ssl-protocols TLSv1.2 negotiates TLS 1.2 and
// TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 with an RSA certificate.
func TestIngressNginxSSLCiphers(t *testing.T) {
	echo := e2esetEcho(t)
	const odd = "ALL:!aNULL:!EXPORT56:RC4+RSA:+HIGH:+MEDIUM:+LOW:+SSLv2:+EXP"
	secret, tlsCfg := rsaSecretYAML(t, "settings-tls", "settings-tls")
	app := service("echo", echo.port) + secret + withTLSHosts(ingress("settings-tls", "settings-tls", "echo"), "settings-tls", "settings-tls")

	// handshake12 reports whether a TLS 1.2 handshake offering only suite
	// succeeds.
	handshake12 := func(w *weir, suite uint16) error {
		cfg := tlsCfg.Clone()
		cfg.MaxVersion, cfg.CipherSuites = tls.VersionTLS12, []uint16{suite}
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", w.d.HTTPSAddr(), cfg)
		if err == nil {
			c.Close()
		}
		return err
	}
	// nginx 1.22 with OpenSSL 3.0 and ssl_ciphers set to the e2e's value
	// (ALL: every suite but the anonymous ones) completes a TLS 1.2
	// handshake that offers only a CBC suite, with or without ECDHE; with
	// ECDHE+AESGCM it refuses one that offers only CHACHA20.
	t.Run("settings/ssl_ciphers.go Add ssl ciphers", func(t *testing.T) {
		w := e2esetWeir(t, map[string]string{"app.yaml": app}, nil, "ssl-ciphers", odd)
		for _, suite := range []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_128_CBC_SHA} {
			if err := handshake12(w, suite); err != nil {
				t.Errorf("ssl-ciphers %q, a client offering only %s: %v", odd, tls.CipherSuiteName(suite), err)
			}
		}
		w.update("cm.yaml", configMap("ssl-ciphers", "ECDHE+AESGCM"))
		if err := handshake12(w, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256); err == nil {
			t.Error("ssl-ciphers ECDHE+AESGCM: a client offering only CHACHA20 completed a handshake")
		}
		if err := handshake12(w, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384); err != nil {
			t.Errorf("ssl-ciphers ECDHE+AESGCM, a client offering ECDHE-RSA-AES256-GCM-SHA384: %v", err)
		}
	})
	t.Run("settings/tls.go setting cipher suite", func(t *testing.T) {
		w := e2esetWeir(t, map[string]string{"app.yaml": app}, nil,
			"ssl-ciphers", "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-SHA", "ssl-protocols", "TLSv1.2")
		resp, _ := httpsDo(t, w, tlsCfg, "settings-tls", "/")
		if resp.StatusCode != http.StatusOK || resp.TLS.Version != tls.VersionTLS12 || resp.TLS.CipherSuite != tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 {
			t.Errorf("%d %s %s, want 200 TLS 1.2 TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", resp.StatusCode,
				tls.VersionName(resp.TLS.Version), tls.CipherSuiteName(resp.TLS.CipherSuite))
		}
	})
	for _, tc := range []struct{ name, ciphers, prefer string }{
		{"annotations/sslciphers.go should change ssl ciphers", odd, "false"},
		{"annotations/sslciphers.go should keep ssl ciphers", "ALL:!aNULL:!EXPORT56:RC4+RSA@STRENGTH:+HIGH@SECLEVEL=0:+MEDIUM:+LOW:+SSLv2:+EXP", "true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const host = "ciphers.foo.com"
			w := e2esetWeir(t, map[string]string{"app.yaml": service("echo", echo.port) +
				ingressPaths(host, host, "echo", "Prefix", []string{"/something"}, "ssl-ciphers", tc.ciphers, "ssl-prefer-server-ciphers", tc.prefer)}, nil)
			for _, max := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
				resp, body := httpsDo(t, w, &tls.Config{InsecureSkipVerify: true, MaxVersion: max}, host, "/something") // the default certificate
				if resp.StatusCode != http.StatusOK {
					t.Errorf("%s: %d %q, want 200", tls.VersionName(max), resp.StatusCode, body)
				}
			}
			// ALL holds the CBC suites, as for nginx (the fake
			// certificate is RSA).
			cbc := &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_CBC_SHA}}
			if resp, body := httpsDo(t, w, cbc, host, "/something"); resp.StatusCode != http.StatusOK {
				t.Errorf("a client offering only AES128-SHA: %d %q, want 200", resp.StatusCode, body)
			}
		})
	}
}

// TestIngressNginxSSLPassthroughProxyPort ports the first case of
// test/e2e/settings/ssl_passthrough.go ("should enable
// ssl-passthrough-proxy-port on a different port"): the controller with
// --enable-ssl-passthrough and --ssl-passthrough-proxy-port=1442 answers
// a plain HTTP request for an unknown host 404. The second case (a host
// with ssl-passthrough reaches the endpoint's own TLS, another host with
// spec.tls does not) is TestSSLPassthrough's.
func TestIngressNginxSSLPassthroughProxyPort(t *testing.T) {
	p := startWeirProcess(t, "0", map[string]string{"class.yaml": ingressClass}, "--enable-ssl-passthrough", "--ssl-passthrough-proxy-port", freePort(t))
	req, _ := http.NewRequest(http.MethodGet, p.httpURL+"/", nil)
	req.Host = "something"
	resp, err := p.httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET something/: %d, want 404", resp.StatusCode)
	}
}

// TestIngressNginxSSLSessionSettings ports
// test/e2e/settings/ssl_session_cache.go and ssl_session_tickets.go,
// conf-only there: the defaults, ssl-session-cache-size and
// ssl-session-timeout, and ssl-session-tickets with the e2e's own
// ssl-session-ticket-key (80 bytes, as nginx's key files may be) each
// still let a TLS 1.3 session resume; ssl-session-cache "false" is
// TestTLSSessionsFromConfigMap's.
func TestIngressNginxSSLSessionSettings(t *testing.T) {
	echo := e2esetEcho(t)
	ca := certstest.NewCA(t)
	crt, key := ca.Issue(t, "tls.session.test")
	files := map[string]string{"app.yaml": service("echo", echo.port) + certstest.SecretYAML("default", "server-tls", crt, key) +
		authIngress("sess", "tls.session.test", "echo")}
	const ticketKey = "WW9gcPHgfcrw6DNqY5VE2NjM6gtgUhJ4Vn6ZwRGi/7+A9TNFa4Fvfe1cmlPec9bxDoenN70aMBeZBlcrKshnKT4WJxFNLCuTHhfn4loTOEo="
	for _, cm := range [][]string{
		nil,
		{"ssl-session-cache-size", "20m"},
		{"ssl-session-timeout", "30m"},
		{"ssl-session-tickets", "true"},
		{"ssl-session-tickets", "true", "ssl-session-ticket-key", ticketKey},
	} {
		t.Run(fmt.Sprint(cm), func(t *testing.T) {
			w := e2esetWeir(t, files, nil, cm...)
			cache := tls.NewLRUClientSessionCache(4)
			var resumed bool
			for range 2 {
				conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", w.d.HTTPSAddr(),
					&tls.Config{ServerName: "tls.session.test", RootCAs: ca.Pool(), ClientSessionCache: cache, NextProtos: []string{"http/1.1"}})
				if err != nil {
					t.Fatalf("handshake: %v", err)
				}
				_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
				fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: tls.session.test\r\nConnection: close\r\n\r\n")
				resp, _ := io.ReadAll(conn) // reads the TLS 1.3 ticket too
				conn.Close()
				if !strings.HasPrefix(string(resp), "HTTP/1.1 200") {
					t.Fatalf("GET /: %q", resp)
				}
				resumed = conn.ConnectionState().DidResume
			}
			if !resumed {
				t.Error("the second connection did not resume the session")
			}
			if strings.Contains(w.logs.String(), "ssl-session-ticket-key") {
				t.Errorf("warning about the ticket key: %s", grepLines(w.logs.String(), "ssl-session-ticket-key"))
			}
		})
	}
}

// TestIngressNginxTLSRedirect ports the "ports or X-Forwarded-Host check
// during HTTP to HTTPS redirection" cases of test/e2e/settings/tls.go (its
// HSTS cases are TestIngressNginxSettingsCases's): the 308 to HTTPS names
// no port, and with use-forwarded-headers the host of X-Forwarded-Host
// without its port.
func TestIngressNginxTLSRedirect(t *testing.T) {
	echo := e2esetEcho(t)
	const host = "settings-tls"
	secret, _ := rsaSecretYAML(t, host, host)
	files := map[string]string{"app.yaml": service("echo", echo.port) + secret + withTLSHosts(ingress(host, host, "echo"), host, host)}
	t.Run("should not use ports during the HTTP to HTTPS redirection", func(t *testing.T) {
		w := e2esetWeir(t, files, nil)
		if res := w.get(host, "/"); res.status != http.StatusPermanentRedirect || res.header.Get("Location") != "https://"+host {
			t.Errorf("GET /: %d Location %q, want 308 https://%s", res.status, res.header.Get("Location"), host)
		}
	})
	t.Run("should not use ports or X-Forwarded-Host during the HTTP to HTTPS redirection", func(t *testing.T) {
		w := e2esetWeir(t, files, nil, "use-forwarded-headers", "true")
		if res := w.get(host, "/", "X-Forwarded-Host", "example.com:80"); res.status != http.StatusPermanentRedirect || res.header.Get("Location") != "https://example.com" {
			t.Errorf("GET / X-Forwarded-Host example.com:80: %d Location %q, want 308 https://example.com", res.status, res.header.Get("Location"))
		}
	})
}

// TestIngressNginxNginxInternalsSettings ports
// test/e2e/settings/global_options.go and hash-size.go, conf-only there
// (worker_rlimit_nofile, worker_processes, the hash sizes): Weir ignores
// those keys (README), and an Ingress is served with them set.
func TestIngressNginxNginxInternalsSettings(t *testing.T) {
	echo := e2esetEcho(t)
	w := e2esetWeir(t, map[string]string{"app.yaml": service("echo", echo.port) + ingress("hash-size", "hash-size", "echo")}, nil,
		"worker-processes", "11", "server-name-hash-bucket-size", "512", "server-name-hash-max-size", "4096",
		"proxy-headers-hash-bucket-size", "512", "proxy-headers-hash-max-size", "4096",
		"variables-hash-bucket-size", "512", "variables-hash-max-size", "512", "map-hash-bucket-size", "512")
	if res := w.get("hash-size", "/"); res.status != http.StatusOK {
		t.Errorf("GET hash-size/: %d", res.status)
	}
}

// TestIngressNginxDisableServiceExternalName ports
// test/e2e/settings/disable_service_external_name.go: with
// --disable-svc-external-name the host of an ExternalName Service answers
// 5xx while the host of an ordinary Service is served.
func TestIngressNginxDisableServiceExternalName(t *testing.T) {
	echo := e2esetEcho(t)
	external := `
---
apiVersion: v1
kind: Service
metadata: {name: external, namespace: default}
spec: {type: ExternalName, externalName: echo.example.org}
`
	w := e2esetWeir(t, map[string]string{"app.yaml": service("echo", echo.port) + external +
		ingress("echo-external-svc.com", "echo-external-svc.com", "external") + ingress("echo-svc.com", "echo-svc.com", "echo")},
		func(o *snapshot.Options) { o.DisableServiceExternalName = true })
	if res := w.get("echo-svc.com", "/"); res.status != http.StatusOK {
		t.Errorf("echo-svc.com: %d, want 200", res.status)
	}
	if res := w.get("echo-external-svc.com", "/"); res.status < 500 || res.status > 599 {
		t.Errorf("echo-external-svc.com: %d, want 5xx", res.status)
	}
}

// TestIngressNginxDefaultSSLCertificate ports
// test/e2e/settings/default_ssl_certificate.go: with
// --default-ssl-certificate, the certificate (for "*", as the e2e makes
// it) is served before any Ingress exists, with a catch-all Ingress, and
// for a host whose spec.tls Secret holds a certificate for another name
// ("not.foo").
func TestIngressNginxDefaultSSLCertificate(t *testing.T) {
	echo := e2esetEcho(t)
	def, defCfg := rsaSecretYAML(t, "my-custom-cert", "*")
	notFoo, _ := rsaSecretYAML(t, "foo", "not.foo")
	catchAll := `
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: catch-all, namespace: default}
spec:
  ingressClassName: weir
  defaultBackend: {service: {name: echo, port: {number: 80}}}
`
	served := func(t *testing.T, w *weir, sni string) {
		t.Helper()
		cfg := defCfg.Clone()
		cfg.ServerName = sni
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", w.d.HTTPSAddr(), cfg)
		if err != nil {
			t.Errorf("SNI %q: %v, want the default certificate", sni, err)
			return
		}
		conn.Close()
	}
	opts := func(o *snapshot.Options) { o.DefaultSSLCertificate = "default/my-custom-cert" }
	t.Run("uses default ssl certificate for catch-all ingress", func(t *testing.T) {
		w := e2esetWeir(t, map[string]string{"app.yaml": service("echo", echo.port) + def}, opts)
		served(t, w, "*") // no Ingress at all
		w.update("ing.yaml", catchAll)
		served(t, w, "*")
		if resp, _ := httpsDo(t, w, defCfg, "anything", "/"); resp.StatusCode != http.StatusOK {
			t.Errorf("catch-all over HTTPS: %d", resp.StatusCode)
		}
	})
	t.Run("uses default ssl certificate for host based ingress when configured certificate does not match host", func(t *testing.T) {
		w := e2esetWeir(t, map[string]string{"app.yaml": service("echo", echo.port) + def + notFoo +
			withTLSHosts(ingress(fooHost, fooHost, "echo"), fooHost, fooHost)}, opts)
		served(t, w, "*")
		conn, err := tls.Dial("tcp", w.d.HTTPSAddr(), &tls.Config{ServerName: fooHost, InsecureSkipVerify: true}) // the test reads the leaf
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if got := conn.ConnectionState().PeerCertificates[0].DNSNames; len(got) != 1 || got[0] != "*" {
			t.Errorf("SNI foo: certificate for %q, want the default certificate's *", got)
		}
	})
}

// fooHost is the e2e's host of default_ssl_certificate.go and
// disable_catch_all.go.
const fooHost = "foo"

// TestIngressNginxDisableCatchAll ports
// test/e2e/settings/disable_catch_all.go: with --disable-catch-all an
// Ingress with a spec.defaultBackend is ignored, rules and all (an
// unknown host gets the 404 of the default backend), an Ingress edited
// into a catch-all stops serving its host, and one with rules only is
// served.
func TestIngressNginxDisableCatchAll(t *testing.T) {
	echo := e2esetEcho(t)
	catchAll := func(name string, rules bool) string {
		s := fmt.Sprintf(`
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: %s, namespace: default}
spec:
  ingressClassName: weir
  defaultBackend: {service: {name: echo, port: {number: 80}}}
`, name)
		if rules {
			s += `  rules:
  - host: foo
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: echo, port: {number: 80}}}}]}
`
		}
		return s
	}
	opts := func(o *snapshot.Options) { o.DisableCatchAll = true }
	svc := service("echo", echo.port)
	status := func(t *testing.T, w *weir, host string, want int) {
		t.Helper()
		if res := w.get(host, "/"); res.status != want {
			t.Errorf("GET %s/: %d %q, want %d", host, res.status, res.body, want)
		}
	}
	t.Run("should ignore catch all Ingress with backend", func(t *testing.T) {
		w := e2esetWeir(t, map[string]string{"app.yaml": svc + catchAll("catch-all", false) + ingress(fooHost, fooHost, "echo")}, opts)
		status(t, w, fooHost, http.StatusOK)
		status(t, w, "unknown", http.StatusNotFound)
	})
	// ingress-nginx's store ignores every Ingress with a
	// spec.defaultBackend (hasCatchAllIngressRule), its rules too.
	t.Run("should ignore catch all Ingress with backend and rules", func(t *testing.T) {
		w := e2esetWeir(t, map[string]string{"app.yaml": svc + catchAll(fooHost, true)}, opts)
		status(t, w, fooHost, http.StatusNotFound)
		status(t, w, "unknown", http.StatusNotFound)
	})
	t.Run("should delete Ingress updated to catch-all", func(t *testing.T) {
		w := e2esetWeir(t, map[string]string{"app.yaml": svc + ingress(fooHost, fooHost, "echo")}, opts)
		status(t, w, fooHost, http.StatusOK)
		w.update("app.yaml", svc+catchAll(fooHost, false))
		status(t, w, fooHost, http.StatusNotFound)
	})
	t.Run("should allow Ingress with rules", func(t *testing.T) {
		w := e2esetWeir(t, map[string]string{"app.yaml": svc + ingress("not-catch-all", fooHost, "echo")}, opts)
		status(t, w, fooHost, http.StatusOK)
	})
}

// TestIngressNginxAffinityModeBalanced ports "Balanced affinity mode should
// balance" of test/e2e/annotations/affinitymode.go (which reads back only
// the annotations): with affinity-mode balanced and session-cookie-hash
// sha1 over five endpoints the host is served, sets hello-cookie with the
// given max age, and a client sending it stays on its endpoint.
func TestIngressNginxAffinityModeBalanced(t *testing.T) {
	var ports []int
	for i := range 5 {
		name := fmt.Sprintf("ep%d", i)
		ports = append(ports, newBackend(t, name, func(rw http.ResponseWriter, _ *http.Request) { fmt.Fprint(rw, name) }).port)
	}
	const host = "affinity-mode-balance.com"
	w := e2esetWeir(t, map[string]string{"app.yaml": endpointsService("balanced", ports...) + ingress(host, host, "balanced",
		"affinity", "cookie", "session-cookie-name", "hello-cookie", "session-cookie-expires", "172800",
		"session-cookie-max-age", "172800", "ssl-redirect", "false", "affinity-mode", "balanced", "session-cookie-hash", "sha1")}, nil)
	first := w.get(host, "/")
	c := first.header.Get("Set-Cookie")
	if first.status != http.StatusOK || !strings.HasPrefix(c, "hello-cookie=") || !strings.Contains(c, "Max-Age=172800") {
		t.Fatalf("first request: %d Set-Cookie %q", first.status, c)
	}
	cookie, _, _ := strings.Cut(c, ";")
	for range 10 {
		if res := w.get(host, "/", "Cookie", cookie); res.status != http.StatusOK || res.body != first.body {
			t.Fatalf("with %s: %d from %q, want %s", cookie, res.status, res.body, first.body)
		}
	}
}

// TestIngressNginxSSLSecretUpdate ports test/e2e/ssl/secret_update.go and
// test/e2e/defaultbackend/ssl.go: a Secret no Ingress names is never
// read (no log line about it, also after an edit); a spec.tls Secret
// without a certificate or key leaves the host served over HTTPS with the
// fake certificate (one certificate, issuer and subject CN "Kubernetes
// Ingress Controller Fake Certificate", organization Acme Co, DNS name
// ingress.local) and logs that it "contains no keypair or CA
// certificate"; without an Ingress, the fake certificate answers with no
// SNI and with a Host the server does not know.
func TestIngressNginxSSLSecretUpdate(t *testing.T) {
	echo := e2esetEcho(t)
	const fake = "Kubernetes Ingress Controller Fake Certificate"
	dummy := func(data map[string][]byte) string { return opaqueSecret("dummy", data) }
	secret, _ := rsaSecretYAML(t, "ssl-update", "ssl-update")
	invalid := "\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: invalid-ssl, namespace: default}\n"
	w := e2esetWeir(t, map[string]string{
		"dummy.yaml": dummy(map[string][]byte{"key": []byte("value")}),
		"app.yaml": service("echo", echo.port) + secret + invalid +
			withTLSHosts(ingress("ssl-update", "ssl-update", "echo"), "ssl-update", "ssl-update") +
			withTLSHosts(ingress("invalid-ssl", "invalid-ssl", "echo"), "invalid-ssl", "invalid-ssl"),
	}, nil)

	t.Run("should not appear references to secret updates not used in ingress rules", func(t *testing.T) {
		// An unused Secret changes no configuration: an Ingress added
		// after the edit shows that the folder was read past it.
		w.write("dummy.yaml", dummy(map[string][]byte{"key": []byte("value"), "some-key": []byte("some value")}))
		w.update("later.yaml", ingress("later", "later", "echo"))
		if got := grepLines(w.logs.String(), "dummy"); got != "" {
			t.Errorf("log lines about the unused Secret default/dummy:\n%s", got)
		}
	})
	t.Run("should return the fake SSL certificate if the secret is invalid", func(t *testing.T) {
		resp, body := httpsDo(t, w, &tls.Config{ServerName: "invalid-ssl", InsecureSkipVerify: true}, "invalid-ssl", "/") // the test reads the leaf
		certs := resp.TLS.PeerCertificates
		if resp.StatusCode != http.StatusOK || len(certs) != 1 {
			t.Fatalf("%d %q with %d certificates, want 200 and one", resp.StatusCode, body, len(certs))
		}
		leaf := certs[0]
		if leaf.Issuer.CommonName != fake || leaf.Subject.CommonName != fake || len(leaf.DNSNames) == 0 || leaf.DNSNames[0] != "ingress.local" ||
			len(leaf.Subject.Organization) == 0 || leaf.Subject.Organization[0] != "Acme Co" {
			t.Errorf("served issuer %q subject %q DNS %q, want the fake certificate", leaf.Issuer, leaf.Subject, leaf.DNSNames)
		}
		// The e2e greps nginx's log for `default/invalid-ssl" contains no
		// keypair or CA certificate`; Weir's log (slog) quotes the
		// message, so its quotes come escaped.
		if !strings.Contains(w.logs.String(), `default/invalid-ssl\" contains no keypair or CA certificate`) {
			t.Errorf("no log line about default/invalid-ssl:\n%s", grepLines(w.logs.String(), "invalid-ssl"))
		}
	})
	t.Run("defaultbackend/ssl.go should return a self generated SSL certificate", func(t *testing.T) {
		w := e2esetWeir(t, nil, nil)
		for _, host := range []string{"127.0.0.1", "foo.bar.com"} {
			conn, err := tls.Dial("tcp", w.d.HTTPSAddr(), &tls.Config{InsecureSkipVerify: true}) // no SNI: the e2e dials the address
			if err != nil {
				t.Fatal(err)
			}
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("Host %q: %v", host, err)
			}
			resp.Body.Close()
			certs := conn.ConnectionState().PeerCertificates
			conn.Close()
			if len(certs) != 1 || certs[0].Issuer.CommonName != fake {
				t.Errorf("Host %q: %d certificates, issuer %q; want one, the fake", host, len(certs), certs[0].Issuer.CommonName)
			}
		}
	})
}

// TestHTTPSALPNLikeNginx: found comparing Weir with nginx 1.22 configured as
// nginx.tmpl renders a TLS server (http2 on): a client whose ALPN offers
// only http/1.0 completes the handshake and is served, as nginx's ALPN list
// goes on past http/1.1 with http/1.0 and http/0.9; one offering only an
// unknown protocol gets the no_application_protocol alert from both.
func TestHTTPSALPNLikeNginx(t *testing.T) {
	echo := e2esetEcho(t)
	secret, tlsCfg := rsaSecretYAML(t, "alpn", "alpn.test")
	w := e2esetWeir(t, map[string]string{"app.yaml": service("echo", echo.port) + secret + withTLSHosts(ingress("alpn", "alpn.test", "echo"), "alpn", "alpn.test")}, nil)
	cfg := tlsCfg.Clone()
	cfg.NextProtos = []string{"http/1.0"}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", w.d.HTTPSAddr(), cfg)
	if err != nil {
		t.Fatalf("ALPN http/1.0: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprint(conn, "GET / HTTP/1.0\r\nHost: alpn.test\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read the response: %v", err)
	}
	resp.Body.Close()
	if got := conn.ConnectionState().NegotiatedProtocol; resp.StatusCode != http.StatusOK || got != "http/1.0" {
		t.Errorf("ALPN %q, status %d; want http/1.0 and 200", got, resp.StatusCode)
	}
	cfg.NextProtos = []string{"foo"}
	if c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", w.d.HTTPSAddr(), cfg); err == nil {
		c.Close()
		t.Error("ALPN foo: the handshake succeeded, want no_application_protocol")
	}
}

// TestIngressNginxConfigMapValueSyntax: the controller ConfigMap read as
// ingress-nginx's ReadConfig reads it (mapstructure v1.5.0 weak typing):
// keep-alive-requests "0x2" is 2 (strconv.ParseInt base 0), server-tokens
// "T" is true (strconv.ParseBool), ignore-invalid-headers "" is false, and
// keep-alive "75s", which fails to decode there, keeps its default with a
// warning while the other keys apply. nginx 1.22.1 configured as
// nginx.tmpl renders them (keepalive_requests 2, server_tokens on,
// ignore_invalid_headers off), three pipelined requests with "X_Y: 1" on
// one connection: two answers, each with "Server: nginx/1.22.1" and the
// upstream given $http_x_y "1", the second with "Connection: close", and
// the connection closed.
func TestIngressNginxConfigMapValueSyntax(t *testing.T) {
	echo := e2esetEcho(t)
	const host = "cm-syntax"
	w := e2esetWeir(t, map[string]string{"app.yaml": service("echo", echo.port) + ingress("echo", host, "echo")}, nil,
		"keep-alive-requests", "0x2", "server-tokens", "T", "ignore-invalid-headers", "", "keep-alive", "75s")
	get := "GET / HTTP/1.1\r\nHost: " + host + "\r\nX_Y: 1\r\n\r\n"
	rs := w.rawExchange(t, strings.Repeat(get, 3))
	if got := testutil.Statuses(rs); len(got) != 2 || got[0] != http.StatusOK || got[1] != http.StatusOK {
		t.Fatalf("keep-alive-requests \"0x2\", three pipelined requests: statuses %v, want [200 200]", got)
	}
	if rs[0].Close || !rs[1].Close {
		t.Errorf("keep-alive-requests \"0x2\": Connection: close on the responses [%v %v], want [false true]", rs[0].Close, rs[1].Close)
	}
	for i, r := range rs {
		if s := r.Header.Get("Server"); !strings.HasPrefix(s, "weir") {
			t.Errorf("server-tokens \"T\", response %d: Server %q, want weir/VERSION", i+1, s)
		}
		upstreamLines(t, r.Body, "x_y=1")
	}
	if !e2erestWarned(w, snapshot.ReasonInvalidConfigMapValue, "", "configmap key keep-alive:") {
		t.Errorf("no InvalidConfigMapValue warning for keep-alive \"75s\": %v", w.d.Live().Warnings)
	}
	for _, key := range []string{"keep-alive-requests", "server-tokens", "ignore-invalid-headers"} {
		if e2erestWarned(w, snapshot.ReasonInvalidConfigMapValue, "", "configmap key "+key+":") {
			t.Errorf("%s warned about: %v", key, w.d.Live().Warnings)
		}
	}
}

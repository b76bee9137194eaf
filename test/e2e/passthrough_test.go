package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// tlsBackend starts an HTTPS server on 127.0.0.1 with a certificate of ca
// for host, answering "<name> <SNI it saw> <path>".
func tlsBackend(t *testing.T, ca *certstest.CA, name, host string) int {
	t.Helper()
	crt, key := ca.Issue(t, host)
	pair, err := tls.X509KeyPair(crt, key)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s %s", name, r.TLS.ServerName, r.URL.Path)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	n, _ := strconv.Atoi(port)
	return n
}

// passthroughGet dials Weir's HTTPS port with SNI sni, verifying the
// server's certificate against ca for sni, and sends GET path over the
// connection. It returns the response body, or the handshake's error.
func passthroughGet(t *testing.T, addr, sni string, ca *certstest.CA, path string) (string, error) {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr,
		&tls.Config{ServerName: sni, RootCAs: ca.Pool(), NextProtos: []string{"http/1.1"}})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, sni)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response over %s: %v", sni, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), nil
}

// TestSSLPassthrough: with --enable-ssl-passthrough, a connection whose SNI
// is a host with ssl-passthrough reaches the endpoint of its "/" path
// untouched (the client verifies the backend's own certificate and speaks
// TLS with it); other hosts are terminated by Weir as before. Without the
// flag the annotation is ignored with a warning.
func TestSSLPassthrough(t *testing.T) {
	backendCA, weirCA := certstest.NewCA(t), certstest.NewCA(t)
	passPort := tlsBackend(t, backendCA, "passed", "pass.example.com")
	web := newBackend(t, "terminated", nil)
	sCrt, sKey := weirCA.Issue(t, "*.example.com")
	files := map[string]string{
		"class.yaml":   ingressClass,
		"svc.yaml":     service("pass", passPort) + service("web", web.port),
		"secrets.yaml": certstest.SecretYAML("default", "server-tls", sCrt, sKey),
		"ingresses.yaml": ingress("pass", "pass.example.com", "pass", "ssl-passthrough", "true") +
			authIngress("term", "term.example.com", "web") +
			// Only exact hosts pass through, as ingress-nginx's TLS proxy.
			ingress("wild", "*.wild.example.com", "pass", "ssl-passthrough", "true"),
	}
	opts := snapshot.DefaultOptions()
	opts.EnableSSLPassthrough = true
	w := startWeirWith(t, files, opts)
	addr := w.d.HTTPSAddr()

	body, err := passthroughGet(t, addr, "pass.example.com", backendCA, "/x")
	if err != nil || body != "passed pass.example.com /x" {
		t.Errorf("passthrough host: %q, %v; want the backend's own TLS", body, err)
	}
	body, err = passthroughGet(t, addr, "term.example.com", weirCA, "/y")
	if err != nil || body != "terminated /y" {
		t.Errorf("terminated host: %q, %v", body, err)
	}
	if _, err := passthroughGet(t, addr, "a.wild.example.com", backendCA, "/"); err == nil {
		t.Error("a wildcard host was passed through")
	}

	// The annotation removed: the host is terminated by Weir again.
	w.update("ingresses.yaml", ingress("pass", "pass.example.com", "pass")+authIngress("term", "term.example.com", "web"))
	if _, err := passthroughGet(t, addr, "pass.example.com", backendCA, "/"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("after the annotation was removed: %v, want Weir's certificate, unknown to the backend's CA", err)
	}

	t.Run("without the flag", func(t *testing.T) {
		w := startWeir(t, files)
		if _, err := passthroughGet(t, w.d.HTTPSAddr(), "pass.example.com", backendCA, "/"); err == nil {
			t.Error("passed through without --enable-ssl-passthrough")
		}
		waitFor(t, 5*time.Second, "the warning", func() bool {
			return strings.Contains(w.logs.String(), "ssl-passthrough is ignored: --enable-ssl-passthrough is not set")
		})
	})
}

// TestSSLPassthroughNextEndpoint: a passed-through connection whose endpoint
// refuses it goes to the next endpoint (nothing of the client's was sent
// yet); each connection that meets the refusing endpoint first logs it.
func TestSSLPassthroughNextEndpoint(t *testing.T) {
	ca := certstest.NewCA(t)
	port := tlsBackend(t, ca, "passed", "pass.example.com")
	// 127.0.0.2 on the backend's port refuses: the backend listens on
	// 127.0.0.1 only.
	files := map[string]string{
		"class.yaml":     ingressClass,
		"svc.yaml":       serviceOn("pass", []string{"127.0.0.2", "127.0.0.1"}, port),
		"ingresses.yaml": ingress("pass", "pass.example.com", "pass", "ssl-passthrough", "true"),
	}
	opts := snapshot.DefaultOptions()
	opts.EnableSSLPassthrough = true
	w := startWeirWith(t, files, opts)
	for i := range 4 {
		body, err := passthroughGet(t, w.d.HTTPSAddr(), "pass.example.com", ca, "/x")
		if err != nil || body != "passed pass.example.com /x" {
			t.Errorf("connection %d: %q, %v; want the second endpoint's answer", i, body, err)
		}
	}
	if n := strings.Count(w.logs.String(), "ssl-passthrough: connect to endpoint"); n < 2 {
		t.Errorf("%d refused connects logged; want one for each connection that met 127.0.0.2 first (2 of 4)", n)
	}
}

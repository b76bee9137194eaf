package e2e

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestTLSSettingsFromConfigMap checks that the controller ConfigMap's
// ssl-protocols reaches the HTTPS listener and follows an edit live: with
// "TLSv1.3" a TLS 1.2 client is refused, after the edit it is served.
func TestTLSSettingsFromConfigMap(t *testing.T) {
	b := newBackend(t, "app", nil)
	files := map[string]string{"app.yaml": service("app", b.port) + ingress("app", "app.test", "app")}
	files["cm.yaml"] = configMap("ssl-protocols", "TLSv1.3")
	w := startWeirWith(t, files, configMapOptions())

	handshake := func(version uint16) error {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", w.d.HTTPSAddr(), &tls.Config{
			InsecureSkipVerify: true, // only the protocol version matters here
			ServerName:         "app.test", MinVersion: version, MaxVersion: version,
		})
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := handshake(tls.VersionTLS13); err != nil {
		t.Fatalf("TLS 1.3 handshake with ssl-protocols TLSv1.3: %v", err)
	}
	if err := handshake(tls.VersionTLS12); err == nil {
		t.Fatalf("TLS 1.2 handshake succeeded with ssl-protocols TLSv1.3")
	}

	w.update("cm.yaml", configMap("ssl-protocols", "TLSv1.2 TLSv1.3"))
	if err := handshake(tls.VersionTLS12); err != nil {
		t.Fatalf("TLS 1.2 handshake after ssl-protocols became TLSv1.2 TLSv1.3: %v", err)
	}
}

// TestUseHTTP2FromConfigMap checks use-http2 live: "false" takes h2 out of
// ALPN (a new client negotiates HTTP/1.1) and has the HTTP port read the
// h2c preface as an HTTP/1 request (nginx's 400), while an HTTP/2
// connection opened before the edit goes on serving HTTP/2; the key back
// to "true" brings HTTP/2 back for new connections.
func TestUseHTTP2FromConfigMap(t *testing.T) {
	b := newBackend(t, "app", nil)
	files := map[string]string{"app.yaml": service("app", b.port) + ingress("app", "app.test", "app")}
	files["cm.yaml"] = configMap("use-http2", "true")
	w := startWeirWith(t, files, configMapOptions())

	newClient := func() *http.Client {
		var p http.Protocols
		p.SetHTTP1(true)
		p.SetHTTP2(true)
		tr := &http.Transport{Protocols: &p, TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: "app.test"}} // the protocol matters here, not the certificate
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
	proto := func(c *http.Client) string {
		t.Helper()
		req, _ := http.NewRequest("GET", "https://"+w.d.HTTPSAddr()+"/", nil)
		req.Host = "app.test"
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Proto
	}
	preface := func() string {
		t.Helper()
		c, err := net.DialTimeout("tcp", w.d.HTTPAddr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"))
		line, _ := bufio.NewReader(c).ReadString('\n')
		return strings.TrimSpace(line)
	}
	early := newClient()
	if got := proto(early); got != "HTTP/2.0" {
		t.Fatalf("use-http2 true: %s, want HTTP/2.0", got)
	}
	w.update("cm.yaml", configMap("use-http2", "false"))
	if got := proto(newClient()); got != "HTTP/1.1" {
		t.Errorf("use-http2 false, new connection: %s, want HTTP/1.1", got)
	}
	if got := preface(); got != "HTTP/1.1 400 Bad Request" {
		t.Errorf("use-http2 false, h2c preface: %q, want nginx's 400", got)
	}
	if got := proto(early); got != "HTTP/2.0" {
		t.Errorf("use-http2 false, connection opened before: %s, want HTTP/2.0 still", got)
	}
	w.update("cm.yaml", configMap("use-http2", "true"))
	if got := proto(newClient()); got != "HTTP/2.0" {
		t.Errorf("use-http2 back to true: %s, want HTTP/2.0", got)
	}
}

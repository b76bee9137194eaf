package e2e

import (
	"crypto/tls"
	"net"
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

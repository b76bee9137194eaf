package e2e

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/certs/certstest"
)

// TestTLSHandshakeHeaderTimeout: a client that opens the HTTPS port and
// stalls in the TLS handshake is closed at the ConfigMap's
// client-header-timeout, as nginx reads a handshake under
// client_header_timeout (nginx 1.22.1 with client_header_timeout 3s closed
// a silent client and one that sent half a ClientHello after 3 s); Weir
// held both 60 s whatever the key said.
func TestTLSHandshakeHeaderTimeout(t *testing.T) {
	ca := certstest.NewCA(t)
	crt, key := ca.Issue(t, "hs.test")
	web := newBackend(t, "web", nil)
	w := startWeirWith(t, map[string]string{
		"class.yaml":  ingressClass,
		"svc.yaml":    service("web", web.port),
		"secret.yaml": certstest.SecretYAML("default", "hs-tls", crt, key),
		"ing.yaml":    tlsIngress("hs", "hs.test", "hs.test", "hs-tls", "web"),
		"cm.yaml":     configMap("client-header-timeout", "1"),
	}, configMapOptions())
	for name, send := range map[string][]byte{"silent": nil, "half a ClientHello": {0x16, 0x03, 0x01, 0x02, 0x00}} {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", w.d.HTTPSAddr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write(send); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_ = c.SetReadDeadline(start.Add(15 * time.Second))
			if _, err := io.ReadAll(c); errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("a stalled handshake still open after 15s; client-header-timeout is 1s")
			}
			if took := time.Since(start); took < 500*time.Millisecond {
				t.Errorf("a stalled handshake closed after %v, before the 1s client-header-timeout", took)
			}
		})
	}
}

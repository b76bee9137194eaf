package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/test/testutil"
)

// TestSSLPassthroughModes: weir --enable-ssl-passthrough passes the TLS
// connections of an ssl-passthrough host to its endpoint untouched, in
// both modes (the listener wiring is one function, passthrough.Wrap): the
// client verifies the backend's own certificate.
func TestSSLPassthroughModes(t *testing.T) {
	ca := certstest.NewCA(t)
	crt, key := ca.Issue(t, "pass.example.com")
	pair, err := tls.X509KeyPair(crt, key)
	if err != nil {
		t.Fatal(err)
	}
	backend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	backend.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	backend.StartTLS()
	defer backend.Close()
	_, bport, _ := net.SplitHostPort(backend.Listener.Addr().String())
	files := map[string]string{"pass.yaml": `apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: weir}
spec: {controller: weir-lb.dev/ingress-controller}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: pass
  namespace: default
  annotations: {nginx.ingress.kubernetes.io/ssl-passthrough: "true"}
spec:
  ingressClassName: weir
  rules:
  - host: pass.example.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: pass, port: {number: 443}}}}]}
---
apiVersion: v1
kind: Service
metadata: {name: pass, namespace: default}
spec:
  ports: [{name: https, port: 443}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: pass-1
  namespace: default
  labels: {kubernetes.io/service-name: pass}
addressType: IPv4
ports: [{name: https, port: ` + bport + `, protocol: TCP}]
endpoints:
- addresses: ["127.0.0.1"]
  conditions: {ready: true}
`}
	for _, workers := range []string{"0", "1"} {
		t.Run("workers="+workers, func(t *testing.T) {
			httpsPort := freePort(t, "127.0.0.1")
			p := startWeir(t, files, "--workers", workers, "--bind-address", "127.0.0.1", "--enable-ssl-passthrough",
				"--http-port", strconv.Itoa(freePort(t, "127.0.0.1")), "--https-port", strconv.Itoa(httpsPort),
				"--metrics-port", strconv.Itoa(freePort(t, "127.0.0.1")))
			testutil.WaitFor(t, 20*time.Second, "a handshake with the backend's certificate", func() bool {
				select {
				case <-p.exited:
					t.Fatalf("weir exited: %v\n%s", p.err, p.logs.String())
				default:
				}
				conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", fmt.Sprintf("127.0.0.1:%d", httpsPort),
					&tls.Config{ServerName: "pass.example.com", RootCAs: ca.Pool()})
				if err != nil {
					return false
				}
				conn.Close()
				return true
			})
		})
	}
}

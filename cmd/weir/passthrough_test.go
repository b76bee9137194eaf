package main

import (
	"crypto/tls"
	"encoding/base64"
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
	"github.com/weir-lb/weir/test/testutil"
)

// TestTLSFeaturesModes: in both modes, weir --enable-ssl-passthrough passes
// the TLS connections of an ssl-passthrough host to its endpoint untouched
// (the listener wiring is one function, passthrough.Wrap): the client
// verifies the backend's own certificate; and a host with auth-tls-secret
// verifies client certificates (its ServerTLS crosses the worker protocol).
func TestTLSFeaturesModes(t *testing.T) {
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
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "verify=%s", r.Header.Get("ssl-client-verify"))
	}))
	defer web.Close()
	_, wport, _ := net.SplitHostPort(web.Listener.Addr().String())
	clientCA := certstest.NewCA(t)
	client := clientCA.Client(t, "client")
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
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: auth
  namespace: default
  annotations: {nginx.ingress.kubernetes.io/auth-tls-secret: default/client-ca}
spec:
  ingressClassName: weir
  rules:
  - host: auth.example.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: default
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports: [{name: http, port: ` + wport + `, protocol: TCP}]
endpoints:
- addresses: ["127.0.0.1"]
  conditions: {ready: true}
---
apiVersion: v1
kind: Secret
metadata: {name: client-ca, namespace: default}
data: {ca.crt: ` + base64.StdEncoding.EncodeToString(clientCA.CertPEM()) + `}
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
			get := func(cert *tls.Certificate) (int, string) {
				cfg := &tls.Config{ServerName: "auth.example.com", InsecureSkipVerify: true}
				if cert != nil {
					cfg.Certificates = []tls.Certificate{*cert}
				}
				c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
				defer c.CloseIdleConnections()
				req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d/", httpsPort), nil)
				req.Host = "auth.example.com"
				resp, err := c.Do(req)
				if err != nil {
					t.Fatalf("GET auth.example.com: %v", err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b)
			}
			if status, body := get(nil); status != http.StatusBadRequest || !strings.Contains(body, "No required SSL certificate was sent") {
				t.Errorf("auth host without a client certificate: %d %q, want 400", status, body)
			}
			if status, body := get(&client); status != http.StatusOK || body != "verify=SUCCESS" {
				t.Errorf("auth host with a client certificate: %d %q, want 200 verify=SUCCESS", status, body)
			}
		})
	}
}

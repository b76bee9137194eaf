package e2e

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/test/grpcecho"
)

// TestGRPCInProcess: a gRPC client reaches a GRPC route of Weir served
// from a folder over its HTTPS listener (TLS, ALPN h2) and over its HTTP
// listener (h2c): unary call, error status, bidirectional stream.
func TestGRPCInProcess(t *testing.T) {
	addr := grpcecho.Start(t, nil)
	var port int
	fmt.Sscanf(addr[strings.LastIndexByte(addr, ':')+1:], "%d", &port)
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("grpc", port) + ingress("grpc", "grpc.test", "grpc", "backend-protocol", "GRPC"),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := grpcecho.Exercise(ctx, grpcecho.Dial(t, w.d.HTTPSAddr(), "grpc.test"), "grpc.test"); err != nil {
		t.Fatalf("over TLS: %v", err)
	}
	// As ingress-nginx, whose servers have "http2 on": HTTP/2 with prior
	// knowledge on the clear-text listener too.
	if err := grpcecho.Exercise(ctx, grpcecho.DialClearText(t, w.d.HTTPAddr(), "grpc.test"), "grpc.test"); err != nil {
		t.Fatalf("over h2c: %v", err)
	}
}

// opaqueSecret renders a Secret of type Opaque with the given data.
func opaqueSecret(name string, data map[string][]byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: %s, namespace: default}\ntype: Opaque\ndata:\n", name)
	for k, v := range data {
		fmt.Fprintf(&b, "  %s: %s\n", k, base64.StdEncoding.EncodeToString(v))
	}
	return b.String()
}

// TestProxySSLInProcess mirrors ingress-nginx's proxyssl e2e with a real
// HTTPS endpoint that requires a client certificate: an Opaque Secret with
// ca.crt, tls.crt and tls.key from the folder verifies the endpoint and
// authenticates Weir; removing the Secret denies the route (503).
func TestProxySSLInProcess(t *testing.T) {
	ca := certstest.NewCA(t)
	crt, key := ca.Issue(t, "backend.test")
	pair, err := tls.X509KeyPair(crt, key)
	if err != nil {
		t.Fatal(err)
	}
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(rw, "sni=%s client-cert=%v", r.TLS.ServerName, len(r.TLS.PeerCertificates) > 0)
	}))
	up.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAnyClientCert}
	up.StartTLS()
	t.Cleanup(up.Close)
	var port int
	fmt.Sscanf(up.URL[strings.LastIndexByte(up.URL, ':')+1:], "%d", &port)
	rest := crt
	var caBlock *pem.Block
	for blk, r := pem.Decode(rest); blk != nil; blk, r = pem.Decode(r) {
		caBlock = blk // the last of the chain is the CA
	}
	clientCrt, clientKey := ca.Issue(t, "weir")
	ing := ingress("tls-up", "a.test", "up", "backend-protocol", "HTTPS",
		"proxy-ssl-secret", "default/upstream", "proxy-ssl-verify", "on", "proxy-ssl-verify-depth", "2",
		"proxy-ssl-name", "backend.test", "proxy-ssl-server-name", "on")
	secret := opaqueSecret("upstream", map[string][]byte{"ca.crt": pem.EncodeToMemory(caBlock), "tls.crt": clientCrt, "tls.key": clientKey})
	w := startWeir(t, map[string]string{"class.yaml": ingressClass, "app.yaml": service("up", port) + ing, "secret.yaml": secret})
	if res := w.get("a.test", "/"); res.status != 200 || res.body != "sni=backend.test client-cert=true" {
		t.Fatalf("with the secret: %d %q", res.status, res.body)
	}
	w.update("secret.yaml", opaqueSecret("other", map[string][]byte{"ca.crt": pem.EncodeToMemory(caBlock)}))
	if res := w.get("a.test", "/"); res.status != 503 {
		t.Fatalf("without the secret: %d %q, want 503", res.status, res.body)
	}
	if !strings.Contains(w.logs.String(), "secret default/upstream not found") {
		t.Errorf("no warning about the missing secret in the log")
	}
}

// TestCustomHTTPErrorsInProcess mirrors ingress-nginx's customhttperrors
// and default_backend e2e cases from a folder: a listed status is answered
// by the default-backend Service with X-Code, and a Service without
// endpoints, or missing, is served by it.
func TestCustomHTTPErrorsInProcess(t *testing.T) {
	app := newBackend(t, "app", func(rw http.ResponseWriter, r *http.Request) { rw.WriteHeader(404) })
	pages := newBackend(t, "pages", func(rw http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(rw, "pages code=%s uri=%s original=%s ingress=%s service=%s", r.Header.Get("X-Code"), r.RequestURI,
			r.Header.Get("X-Original-URI"), r.Header.Get("X-Ingress-Name"), r.Header.Get("X-Service-Name"))
	})
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml": service("app", app.port) + service("pages", pages.port) + service("empty") +
			ingress("errs", "a.test", "app", "custom-http-errors", "404,503", "default-backend", "pages") +
			ingress("down", "b.test", "empty", "default-backend", "pages") +
			ingress("default-backend", "c.test", "invalid", "default-backend", "pages"),
	})
	if res := w.get("a.test", "/missing?x=1"); res.status != 200 || res.body != "pages code=404 uri=/?x=1 original=/missing?x=1 ingress=errs service=app" {
		t.Errorf("intercepted 404: %d %q", res.status, res.body)
	}
	if res := w.get("b.test", "/p"); res.status != 200 || res.body != "pages code=503 uri=/p original= ingress=down service=empty" {
		t.Errorf("no endpoints: %d %q", res.status, res.body)
	}
	// ingress-nginx e2e: default_backend.go, a Service that does not exist.
	if res := w.get("c.test", "/alma/armud"); res.status != 200 ||
		res.body != "pages code=503 uri=/alma/armud original= ingress=default-backend service=invalid" {
		t.Errorf("missing Service: %d %q", res.status, res.body)
	}
}

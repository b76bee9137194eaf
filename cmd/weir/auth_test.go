package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/weir-lb/weir/test/testutil"
)

// TestAuth: through the weir binary, in both modes, basic authentication
// against a Secret of the manifest folder (live when the Secret's file
// changes, checked with curl too) and external authentication against a
// service whose answer's X-User reaches the backend.
func TestAuth(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "backend user=%q authz=%q", r.Header.Get("X-User"), r.Header.Get("Authorization"))
	}))
	defer backend.Close()
	authSvc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Token") != "good" || r.Header.Get("X-Sent-From") != "nginx-ingress-controller" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("X-User", "alice")
	}))
	defer authSvc.Close()
	_, bport, _ := net.SplitHostPort(backend.Listener.Addr().String())
	secret := func(line string) string {
		return `apiVersion: v1
kind: Secret
metadata: {name: users, namespace: app}
type: Opaque
data:
  auth: ` + base64.StdEncoding.EncodeToString([]byte(line+"\n")) + "\n"
	}
	ing := func(name, host, annotations string) string {
		return `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: ` + name + `
  namespace: app
  annotations:
` + annotations + `
spec:
  ingressClassName: weir
  rules:
  - host: ` + host + `
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
`
	}
	files := map[string]string{
		"class.yaml": "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: weir}\nspec: {controller: weir-lb.dev/ingress-controller}\n",
		"web.yaml": `apiVersion: v1
kind: Service
metadata: {name: web, namespace: app}
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: app, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: ` + bport + `}]
endpoints: [{addresses: ["127.0.0.1"]}]
`,
		"secret.yaml": secret("foo:$apr1$abcdefgh$h9FWgUz3n9YxylKLlR5SQ/"), // secret
		"basic.yaml": ing("basic", "basic.example", `    nginx.ingress.kubernetes.io/auth-type: basic
    nginx.ingress.kubernetes.io/auth-secret: users
    nginx.ingress.kubernetes.io/auth-realm: "Authentication Required"`),
		"ext.yaml": ing("ext", "ext.example", `    nginx.ingress.kubernetes.io/auth-url: "`+authSvc.URL+`/check?h=$host"
    nginx.ingress.kubernetes.io/auth-response-headers: X-User`),
	}
	for _, workers := range []string{"0", "1"} {
		t.Run("workers="+workers, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			httpPort := freePort(t, "127.0.0.1")
			p := startWeirEnv(t, nil, "--manifests", dir, "--workers", workers, "--bind-address", "127.0.0.1",
				"--http-port", strconv.Itoa(httpPort), "--https-port", strconv.Itoa(freePort(t, "127.0.0.1")),
				"--metrics-port", strconv.Itoa(freePort(t, "127.0.0.1")))
			client := &http.Client{Timeout: 5 * time.Second}
			get := func(host string, h http.Header) (int, string, http.Header) {
				req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/", httpPort), nil)
				req.Host = host
				for k, v := range h {
					req.Header[k] = v
				}
				resp, err := client.Do(req)
				if err != nil {
					return 0, err.Error(), nil
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b), resp.Header
			}
			basic := func(user, pass string) http.Header {
				return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}}
			}
			testutil.WaitFor(t, 20*time.Second, "basic.example to admit foo", func() bool {
				select {
				case <-p.exited:
					t.Fatalf("weir exited: %v", p.err)
				default:
				}
				code, _, _ := get("basic.example", basic("foo", "secret"))
				return code == http.StatusOK
			})
			if code, body, _ := get("basic.example", basic("foo", "secret")); body != `backend user="" authz=""` {
				t.Errorf("basic.example with credentials: %d %q; want the backend without Authorization", code, body)
			}
			if code, _, h := get("basic.example", nil); code != http.StatusUnauthorized || h.Get("Www-Authenticate") != `Basic realm="Authentication Required"` {
				t.Errorf("basic.example without credentials: %d, WWW-Authenticate %q", code, h.Get("Www-Authenticate"))
			}
			out, err := exec.Command("curl", "-sS", "-u", "foo:secret", "-H", "Host: basic.example", "-o", "/dev/null", "-w", "%{http_code}",
				fmt.Sprintf("http://127.0.0.1:%d/", httpPort)).CombinedOutput()
			if err != nil || string(out) != "200" {
				t.Errorf("curl -u foo:secret: %s (%v), want 200", out, err)
			}

			if code, _, _ := get("ext.example", http.Header{"X-Token": {"bad"}, "X-User": {"forged"}}); code != http.StatusUnauthorized {
				t.Errorf("ext.example refused by the service: %d, want 401", code)
			}
			if code, body, _ := get("ext.example", http.Header{"X-Token": {"good"}, "X-User": {"forged"}}); code != 200 || body != `backend user="alice" authz=""` {
				t.Errorf("ext.example admitted: %d %q, want the service's X-User", code, body)
			}

			// The Secret's file changes: the new user is live, the old one
			// is gone.
			if err := os.WriteFile(filepath.Join(dir, "secret.yaml"), []byte(secret("bar:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=")), 0o644); err != nil {
				t.Fatal(err)
			}
			testutil.WaitFor(t, 20*time.Second, "the changed Secret's user", func() bool {
				code, _, _ := get("basic.example", basic("bar", "secret"))
				return code == http.StatusOK
			})
			if code, _, _ := get("basic.example", basic("foo", "secret")); code != http.StatusUnauthorized {
				t.Errorf("the removed user: %d, want 401", code)
			}
		})
	}
}

package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/weir-lb/weir/test/testutil"
)

// TestDefaultBackendService: with --default-backend-service, a request no
// rule matches reaches that Service's first port instead of Weir's 404, in
// both modes.
func TestDefaultBackendService(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "fallback %s %s", r.Host, r.URL.Path)
	}))
	defer backend.Close()
	_, bport, _ := net.SplitHostPort(backend.Listener.Addr().String())
	files := map[string]string{"fallback.yaml": `apiVersion: v1
kind: Service
metadata: {name: fallback, namespace: ingress-nginx}
spec:
  ports:
  - {name: http, port: 80, targetPort: ` + bport + `}
  - {name: other, port: 81, targetPort: 1}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: fallback-1
  namespace: ingress-nginx
  labels: {kubernetes.io/service-name: fallback}
addressType: IPv4
ports:
- {name: http, port: ` + bport + `, protocol: TCP}
- {name: other, port: 1, protocol: TCP}
endpoints:
- addresses: ["127.0.0.1"]
  conditions: {ready: true}
`}
	for _, workers := range []string{"0", "1"} {
		t.Run("workers="+workers, func(t *testing.T) {
			httpPort := freePort(t, "127.0.0.1")
			p := startWeir(t, files, "--workers", workers, "--bind-address", "127.0.0.1",
				"--http-port", strconv.Itoa(httpPort), "--https-port", strconv.Itoa(freePort(t, "127.0.0.1")),
				"--metrics-port", strconv.Itoa(freePort(t, "127.0.0.1")), "--default-backend-service", "ingress-nginx/fallback")
			client := &http.Client{Timeout: 2 * time.Second}
			var body string
			testutil.WaitFor(t, 20*time.Second, "the default backend to answer", func() bool {
				select {
				case <-p.exited:
					t.Fatalf("weir exited: %v\n%s", p.err, p.logs.String())
				default:
				}
				req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/nothing/here", httpPort), nil)
				req.Host = "unknown.example"
				resp, err := client.Do(req)
				if err != nil {
					return false
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				body = string(b)
				return resp.StatusCode == http.StatusOK
			})
			if want := "fallback unknown.example /nothing/here"; body != want {
				t.Errorf("body %q, want %q", body, want)
			}
		})
	}
}

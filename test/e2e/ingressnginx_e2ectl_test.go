package e2e

// Folder-mode ports of ingress-nginx's e2e cases of the cluster-side files
// (test/e2e/endpointslices/topology.go); the rest of those files needs an
// API server and is in test/cluster/ingressnginx_e2ectl_test.go.

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
)

// TestIngressNginxEndpointSlicesTopology ports ingress-nginx's e2e
// test/e2e/endpointslices/topology.go, "should return 200 when service has
// topology hints": the Service's two endpoints carry zone hints and,
// without --enable-topology-aware-routing (ingress-nginx's default; Weir
// has no such routing), both serve.
func TestIngressNginxEndpointSlicesTopology(t *testing.T) {
	var hits [2]atomic.Int64
	var port int
	for i, ip := range []string{"127.0.0.1", "127.0.0.2"} {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err != nil {
			t.Fatalf("listen on %s: %v", ip, err)
		}
		port = ln.Addr().(*net.TCPAddr).Port
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits[i].Add(1)
			fmt.Fprintf(w, "replica %d", i)
		})}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	}
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml": fmt.Sprintf(`
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: default, annotations: {service.kubernetes.io/topology-mode: Auto}}
spec:
  ports: [{name: http, port: 80, targetPort: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: echo-1
  namespace: default
  labels: {kubernetes.io/service-name: echo}
addressType: IPv4
ports: [{name: http, port: %d, protocol: TCP}]
endpoints:
- addresses: [127.0.0.1]
  conditions: {ready: true}
  zone: zone-a
  hints: {forZones: [{name: zone-a}]}
- addresses: [127.0.0.2]
  conditions: {ready: true}
  zone: zone-b
  hints: {forZones: [{name: zone-b}]}
`, port) + ingress("topology", "topology-svc.foo.com", "echo"),
	})
	for i := 0; i < 20 && (hits[0].Load() == 0 || hits[1].Load() == 0); i++ {
		if r := w.get("topology-svc.foo.com", "/"); r.status != http.StatusOK {
			t.Fatalf("GET topology-svc.foo.com: %d %q, want 200", r.status, r.body)
		}
	}
	if hits[0].Load() == 0 || hits[1].Load() == 0 {
		t.Errorf("requests per endpoint: %d and %d; want both endpoints used (no topology-aware routing)", hits[0].Load(), hits[1].Load())
	}
}

package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// endpointSlices renders a Service named name and one EndpointSlice per
// port, each with the address 127.0.0.1: one endpoint per backend.
func endpointSlices(name string, ports ...int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `
---
apiVersion: v1
kind: Service
metadata: {name: %s, namespace: default}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
`, name)
	for i, port := range ports {
		fmt.Fprintf(&b, `
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: %s-%d
  namespace: default
  labels: {kubernetes.io/service-name: %s}
addressType: IPv4
ports: [{name: http, port: %d, protocol: TCP}]
endpoints:
- addresses: [127.0.0.1]
  conditions: {ready: true}
`, name, i, name, port)
	}
	return b.String()
}

// TestBackendKilledUnderLoad kills one backend of three (its listener and
// every connection it holds) while 8 clients send 2 000 GETs: with the
// default proxy-next-upstream ("error timeout") no request fails.
func TestBackendKilledUnderLoad(t *testing.T) {
	var backends []*backend
	var ports []int
	for _, name := range []string{"a", "b", "c"} {
		b := newBackend(t, name, nil)
		backends = append(backends, b)
		ports = append(ports, b.port)
	}
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   endpointSlices("app", ports...) + ingress("app", "app.test", "app"),
	})

	const total, clients = 2000, 8
	const killAt = total / 4
	var sent, done atomic.Int64
	var mu sync.Mutex
	var failures []string
	killed := make(chan struct{})
	deadline := time.Now().Add(20 * time.Second)
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for sent.Add(1) <= total && time.Now().Before(deadline) {
				req, _ := http.NewRequest(http.MethodGet, w.base+"/", nil)
				req.Host = "app.test"
				resp, err := c.Do(req)
				if err == nil {
					body, rerr := io.ReadAll(resp.Body)
					resp.Body.Close()
					if rerr != nil || resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("%d %q %v", resp.StatusCode, body, rerr)
					}
				}
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
				}
				if done.Add(1) == killAt {
					close(killed)
				}
			}
		})
	}
	<-killed
	victim := backends[1]
	victim.srv.Listener.Close()
	victim.srv.CloseClientConnections()
	killedAt := done.Load()
	wg.Wait()

	if n := done.Load(); n != total {
		t.Errorf("%d of %d requests done within 20s", n, total)
	}
	if len(failures) > 0 {
		t.Errorf("%d requests failed after killing backend b at request %d; first: %s", len(failures), killedAt, failures[0])
	}
	// The access log names b in the retried requests: as behind
	// ingress-nginx's Lua balancer, a failed endpoint stays in rotation.
	if retried := strings.Count(w.access.String(), fmt.Sprintf("127.0.0.1:%d, ", victim.port)); retried == 0 {
		t.Errorf("no request was passed on from the killed backend")
	}
}

// TestNextUpstreamAnnotation checks the annotation end to end: with
// proxy-next-upstream "error timeout http_502" a backend answering 502 is
// passed over; with the default its 502 reaches the client.
func TestNextUpstreamAnnotation(t *testing.T) {
	bad := newBackend(t, "bad", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad", http.StatusBadGateway)
	})
	good := newBackend(t, "good", nil)
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml": endpointSlices("app", bad.port, good.port) +
			ingress("retry", "retry.test", "app", "proxy-next-upstream", "error timeout http_502") +
			ingress("plain", "plain.test", "app"),
	})
	statuses := func(host string) map[int]int {
		got := map[int]int{}
		for range 4 {
			got[w.get(host, "/").status]++
		}
		return got
	}
	if got := statuses("plain.test"); got[http.StatusBadGateway] != 2 || got[http.StatusOK] != 2 {
		t.Errorf("by default: statuses %v, want the bad backend's 502 in turn", got)
	}
	if got := statuses("retry.test"); got[http.StatusOK] != 4 {
		t.Errorf("with http_502: statuses %v, want 4 x 200", got)
	}
	// The 502, listed there, left the bad endpoint in rotation (no passive
	// health, as ingress-nginx's Lua balancer): without http_502 its 502
	// still reaches the client in its turn.
	if got := statuses("plain.test"); got[http.StatusBadGateway] != 2 || got[http.StatusOK] != 2 {
		t.Errorf("by default, after: statuses %v, want the bad backend's 502 in turn", got)
	}
}

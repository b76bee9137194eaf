// Package e2e tests Weir end to end: Weir in-process on 127.0.0.1 serving a
// manifest folder, real backends on other loopback ports, real HTTP clients.
package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-lb/weir/l7/certs"
	"github.com/weir-lb/weir/test/testutil"
	"github.com/weir-lb/weir/userspace/controller"
	"github.com/weir-lb/weir/userspace/daemon"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// weir is one in-process Weir under test.
type weir struct {
	t       testing.TB
	dir     string
	d       *daemon.Daemon
	base    string // http://127.0.0.1:port
	logs    *syncBuffer
	access  *syncBuffer
	stopped chan error
}

// syncBuffer is a bytes.Buffer safe for the daemon's writers and the test.
// syncBuffer is the shared log buffer.
type syncBuffer = testutil.SyncBuffer

// startWeir writes files into a fresh folder and serves it.
func startWeir(t testing.TB, files map[string]string) *weir {
	t.Helper()
	return startWeirWith(t, files, snapshot.DefaultOptions())
}

// startWeirWith is startWeir with the given build options.
func startWeirWith(t testing.TB, files map[string]string, opts snapshot.Options) *weir {
	t.Helper()
	w := &weir{t: t, dir: t.TempDir(), logs: &syncBuffer{}, access: &syncBuffer{}, stopped: make(chan error, 1)}
	for name, body := range files {
		w.write(name, body)
	}
	// The registry and the certificates' expiry metrics as cmd/weir sets
	// them up.
	reg := prometheus.NewRegistry()
	d, err := daemon.New(daemon.Config{
		BindAddress:    "127.0.0.1",
		MetricsAddress: "127.0.0.1",
		Manifests:      w.dir,
		Registry:       reg,
		Publishers:     []controller.Publisher{certs.NewExpiry(reg)},
		Controller:     controller.Options{Build: opts},
		AccessLog:      w.access,
		Logger:         slog.New(slog.NewTextHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatalf("start weir: %v", err)
	}
	w.d = d
	w.base = "http://" + d.HTTPAddr()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { w.stopped <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-w.stopped:
			if err != nil {
				t.Errorf("weir stopped with: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("weir did not stop within 15s")
		}
		if t.Failed() {
			t.Logf("weir log:\n%s", w.logs.String())
		}
	})
	w.waitVersion(1)
	return w
}

func (w *weir) write(name, body string) {
	w.t.Helper()
	// Write then rename, as editors and ConfigMap mounts do, so the watcher
	// never sees half a file.
	tmp := filepath.Join(w.dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		w.t.Fatalf("write %s: %v", name, err)
	}
	if err := os.Rename(tmp, filepath.Join(w.dir, name)); err != nil {
		w.t.Fatalf("rename %s: %v", name, err)
	}
}

// waitVersion waits until configuration version v or later is live.
func (w *weir) waitVersion(v uint64) {
	w.t.Helper()
	// The proxy takes a version before the controller records it as live
	// (publishers first): wait for both, or Live can still be nil.
	waitFor(w.t, 10*time.Second, fmt.Sprintf("config version %d live", v), func() bool {
		s := w.d.Live()
		return w.d.LiveVersion() >= v && s != nil && s.Version >= v
	})
}

// update writes a file and waits until a new configuration version is live.
func (w *weir) update(name, body string) {
	w.t.Helper()
	before := w.d.LiveVersion()
	w.write(name, body)
	w.waitVersion(before + 1)
}

// waitFor waits on cond with a deadline.
var waitFor = testutil.WaitFor

// result is what a client saw.
type result struct {
	status int
	body   string
	header http.Header
}

var client = &http.Client{
	Timeout: 30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// get sends a request with the given Host to Weir.
func (w *weir) do(method, host, path string, body io.Reader, hdr ...string) result {
	w.t.Helper()
	req, err := http.NewRequest(method, w.base+path, body)
	if err != nil {
		w.t.Fatalf("new request: %v", err)
	}
	req.Host = host
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		w.t.Fatalf("%s %s%s: %v", method, host, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		w.t.Fatalf("read body of %s%s: %v", host, path, err)
	}
	return result{status: resp.StatusCode, body: string(b), header: resp.Header}
}

func (w *weir) get(host, path string, hdr ...string) result {
	w.t.Helper()
	return w.do(http.MethodGet, host, path, nil, hdr...)
}

// backend is a real HTTP server on 127.0.0.1 that answers with its name and
// what it received.
type backend struct {
	name string
	srv  *httptest.Server
	port int
	mu   sync.Mutex
	reqs []*http.Request
}

func newBackend(t testing.TB, name string, h http.HandlerFunc) *backend {
	t.Helper()
	b := &backend{name: name}
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s %s", b.name, r.URL.Path)
		}
	}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.reqs = append(b.reqs, r.Clone(context.Background()))
		b.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(b.srv.Close)
	_, port, _ := net.SplitHostPort(b.srv.Listener.Addr().String())
	b.port, _ = strconv.Atoi(port)
	return b
}

func (b *backend) last() *http.Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.reqs) == 0 {
		return nil
	}
	return b.reqs[len(b.reqs)-1]
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// service renders a Service named name with one port "http" and an
// EndpointSlice with the given ports on 127.0.0.1 (none: no endpoints).
func service(name string, ports ...int) string {
	return serviceOn(name, []string{"127.0.0.1"}, ports...)
}

// serviceOn is service with an endpoint on each of addrs (IPv4).
func serviceOn(name string, addrs []string, ports ...int) string {
	var b strings.Builder
	err := serviceTmpl.Execute(&b, map[string]any{"Name": name, "Ports": ports, "Addrs": addrs})
	if err != nil {
		panic(err)
	}
	return b.String()
}

var serviceTmpl = template.Must(template.New("svc").Parse(`
---
apiVersion: v1
kind: Service
metadata: {name: {{.Name}}, namespace: default}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {{.Name}}-1
  namespace: default
  labels: {kubernetes.io/service-name: {{.Name}}}
addressType: IPv4
ports: [{name: http, port: {{if .Ports}}{{index .Ports 0}}{{else}}1{{end}}, protocol: TCP}]
endpoints:
{{- if .Ports}}{{range .Addrs}}
- addresses: [{{.}}]
  conditions: {ready: true}
{{- end}}
{{- else}} []
{{- end}}
`))

const ingressClass = `
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: weir}
spec: {controller: weir-lb.dev/ingress-controller}
`

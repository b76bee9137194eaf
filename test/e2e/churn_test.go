package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/test/testutil"
	"github.com/weir-lb/weir/userspace/controller"
)

// TestChurnInProcess and TestChurnWorkers run the weir binary on a manifest
// folder and apply 1 000 configuration changes (hosts, paths, a TLS
// Secret's certificate, a canary Ingress, the stable Service's endpoints)
// within 60 s, one every 60 ms, while keep-alive HTTP/1.1 and HTTPS
// clients, an HTTP/2 client, new TLS handshakes and WebSockets (ws and
// wss) use a host that exists
// throughout: no request fails, every WebSocket still echoes at the end, and
// the final configuration is live. With -short, 150 changes.
func TestChurnInProcess(t *testing.T) { testChurn(t, "0") }

// TestChurnWorkers is TestChurnInProcess with two worker processes under
// the supervisor.
func TestChurnWorkers(t *testing.T) { testChurn(t, "2") }

// Churn sizes: the stable Service has one endpoint always and churnEndpoints
// more that come and go; churnHosts hosts and churnPaths paths come and go.
const (
	churnEndpoints = 3
	churnHosts     = 10
	churnPaths     = 8
	churnCerts     = 4
	churnWS        = 4
)

// churnState is the folder's content as the test last wrote it.
type churnState struct {
	hosts     [churnHosts]bool
	paths     [churnPaths]bool
	cert      int
	canary    int // index in churnCanary
	endpoints [churnEndpoints]bool
}

// churnCanary is the canary Ingress's cycle: a weight, or -1 for no canary
// Ingress.
var churnCanary = []int{-1, 20, 100, 0}

func testChurn(t *testing.T, workers string) {
	changes, every := 1000, 60*time.Millisecond
	if testing.Short() {
		changes = 150
	}
	ca := certstest.NewCA(t)
	var certs [churnCerts]string
	var serials [churnCerts]string
	for i := range certs {
		crt, key := ca.Issue(t, "stable.test")
		certs[i] = certstest.SecretYAML("default", "stable-tls", crt, key)
		serials[i] = leafSerial(t, crt)
	}
	stable := make([]*churnBackend, 1+churnEndpoints)
	for i := range stable {
		stable[i] = newChurnBackend(t, fmt.Sprintf("stable-%d", i))
	}
	canary := newChurnBackend(t, "canary")
	other := newChurnBackend(t, "other")

	// At first every endpoint and the canary at weight 20, so that the
	// WebSockets spread over backends the changes remove.
	st := churnState{canary: 1, endpoints: [churnEndpoints]bool{true, true, true}}
	files := map[string]string{
		"class.yaml":    ingressClass,
		"services.yaml": service("stable", stable[0].port) + service("canary", canary.port) + service("other", other.port),
		"stable.yaml":   st.stableIngress(),
		"cert.yaml":     certs[0],
		"canary.yaml":   canaryIngress("stable-canary", "stable.test", "canary", "canary-weight", strconv.Itoa(churnCanary[st.canary])),
	}
	for e := range st.endpoints {
		files[fmt.Sprintf("endpoint-%d.yaml", e)] = endpointSlice("stable", fmt.Sprintf("stable-e%d", e), stable[1+e].port)
	}
	p := startWeirProcess(t, workers, files)
	v0 := p.config(t, "").Version
	wss := make([]*websocket.Conn, churnWS)
	for i := range wss {
		if i%2 == 0 {
			wss[i] = p.dialWS(t, nil)
		} else {
			wss[i] = p.dialWS(t, ca)
		}
	}
	t.Cleanup(func() {
		for _, c := range wss {
			c.CloseNow()
		}
	})
	churned := canary.tunnels.Load()
	for _, b := range stable[1:] {
		churned += b.tunnels.Load()
	}
	if churned == 0 {
		t.Fatalf("none of %d WebSockets reached an endpoint the changes remove", len(wss))
	}

	// Load on stable.test until stop, each loop bounded in count.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var sent, failed atomic.Int64
	var firstErr atomic.Value
	fail := func(what string, err error) {
		failed.Add(1)
		firstErr.CompareAndSwap(nil, what+": "+err.Error())
	}
	load := func(name string, c *http.Client, method, url string, proto int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.CloseIdleConnections()
			for n := 0; n < 200000; n++ {
				select {
				case <-stop:
					return
				default:
				}
				sent.Add(1)
				if err := churnRequest(c, method, url, proto); err != nil {
					fail(name, err)
				}
			}
		}()
	}
	for i := range 3 {
		load(fmt.Sprintf("http client %d", i), p.httpClient(), http.MethodGet, p.httpURL+"/", 1)
	}
	load("http client, slow requests", p.httpClient(), http.MethodGet, p.httpURL+"/slow", 1)
	load("http client, POST requests", p.httpClient(), http.MethodPost, p.httpURL+"/upload", 1)
	for i := range 2 {
		load(fmt.Sprintf("https client %d", i), p.httpsClient(ca, false), http.MethodGet, p.httpsURL+"/", 1)
	}
	load("https client, a handshake per request", p.httpsClient(ca, true), http.MethodGet, p.httpsURL+"/", 1)
	h2 := p.httpsClient(ca, false)
	h2.Transport.(*http.Transport).ForceAttemptHTTP2 = true
	load("https client, HTTP/2", h2, http.MethodGet, p.httpsURL+"/", 2)
	var echoes atomic.Int64
	for i := range wss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for n := 0; n < 10000; n++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				if err := wsEcho(wss[i], fmt.Sprintf("ws %d message %d", i, n)); err != nil {
					fail(fmt.Sprintf("websocket %d", i), err)
					return
				}
				echoes.Add(1)
			}
		}()
	}
	stopLoad := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(stopLoad)

	// The changes, paced: one every `every`, whatever Weir makes of them.
	start := time.Now()
	tick := time.NewTicker(every)
	for i := range changes {
		p.apply(t, &st, i, certs[:], stable)
		<-tick.C
	}
	tick.Stop()
	wrote := time.Since(start)

	// The last change is live once the live Snapshot's Hash is that of a
	// Weir started on the final folder: wait on each new version (every
	// worker has it) until it is; then the routing is the folder's.
	want := p.freshHash(t)
	cfg := p.config(t, "")
	deadline := time.Now().Add(30 * time.Second)
	for cfg.Hash != want {
		if time.Now().After(deadline) {
			t.Fatalf("the final configuration is not live 30s after the last change: version %d has hash %s, a Weir started on the folder %s",
				cfg.Version, cfg.Hash, want)
		}
		cfg = p.config(t, fmt.Sprintf("?after=%d&wait=5s", cfg.Version))
	}
	v := cfg.Version
	if err := p.checkState(t, &st, serials[:], stable); err != nil {
		t.Errorf("version %d, the final configuration: %v", v, err)
	}
	live := time.Since(start)

	stopLoad()
	if failed.Load() != 0 || sent.Load() == 0 {
		t.Fatalf("%d of %d requests and WebSocket echoes failed during %d changes; first: %v",
			failed.Load(), sent.Load()+echoes.Load(), changes, firstErr.Load())
	}
	for i, c := range wss {
		if err := wsEcho(c, "at the end"); err != nil {
			t.Errorf("websocket %d at the end: %v", i, err)
		}
	}
	t.Logf("--workers %s: %d changes written in %v, live after %v as %d configuration versions (%.0f/s); %d requests and %d WebSocket echoes (%d of %d tunnels to backends removed on the way), none failed",
		workers, changes, wrote.Round(time.Millisecond), live.Round(time.Millisecond), v-v0,
		float64(v-v0)/live.Seconds(), sent.Load(), echoes.Load(), churned, len(wss))
}

// apply makes change i: by turns a host, a path, the certificate, the
// canary and an endpoint of the stable Service.
func (p *weirProcess) apply(t *testing.T, st *churnState, i int, certs []string, stable []*churnBackend) {
	t.Helper()
	k := i / 5
	switch i % 5 {
	case 0:
		h := k % churnHosts
		st.hosts[h] = !st.hosts[h]
		name := fmt.Sprintf("host-%d.yaml", h)
		if st.hosts[h] {
			p.write(t, name, ingress(fmt.Sprintf("host-%d", h), fmt.Sprintf("h%d.test", h), "other"))
		} else {
			p.remove(t, name)
		}
	case 1:
		st.paths[k%churnPaths] = !st.paths[k%churnPaths]
		p.write(t, "stable.yaml", st.stableIngress())
	case 2:
		st.cert = (st.cert + 1) % len(certs)
		p.write(t, "cert.yaml", certs[st.cert])
	case 3:
		st.canary = (st.canary + 1) % len(churnCanary)
		if w := churnCanary[st.canary]; w < 0 {
			// Its backend keeps running, and the tunnels to it open.
			p.remove(t, "canary.yaml")
		} else {
			p.write(t, "canary.yaml", canaryIngress("stable-canary", "stable.test", "canary", "canary-weight", strconv.Itoa(w)))
		}
	case 4:
		e := k % churnEndpoints
		st.endpoints[e] = !st.endpoints[e]
		name := fmt.Sprintf("endpoint-%d.yaml", e)
		if st.endpoints[e] {
			p.write(t, name, endpointSlice("stable", fmt.Sprintf("stable-e%d", e), stable[1+e].port))
		} else {
			// The backend keeps running, as a terminating pod does, so
			// requests in flight to it finish.
			p.remove(t, name)
		}
	}
}

// stableIngress renders the Ingress of stable.test: TLS with the Secret
// stable-tls and no redirect to HTTPS, / to the Service stable and the
// paths present (/p0, /p1...) to the Service other.
func (st *churnState) stableIngress() string {
	var paths strings.Builder
	paths.WriteString("{path: /, pathType: Prefix, backend: {service: {name: stable, port: {number: 80}}}}")
	for i, ok := range st.paths {
		if ok {
			fmt.Fprintf(&paths, ", {path: /p%d, pathType: Prefix, backend: {service: {name: other, port: {number: 80}}}}", i)
		}
	}
	return fmt.Sprintf(`
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: stable
  namespace: default
  annotations: {nginx.ingress.kubernetes.io/ssl-redirect: "false"}
spec:
  ingressClassName: weir
  tls: [{hosts: [stable.test], secretName: stable-tls}]
  rules:
  - host: stable.test
    http: {paths: [%s]}
`, paths.String())
}

// endpointSlice renders a second EndpointSlice of svc with one endpoint,
// 127.0.0.1:port.
func endpointSlice(svc, name string, port int) string {
	return fmt.Sprintf(`
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: %s
  namespace: default
  labels: {kubernetes.io/service-name: %s}
addressType: IPv4
ports: [{name: http, port: %d, protocol: TCP}]
endpoints:
- addresses: [127.0.0.1]
  conditions: {ready: true}
`, name, svc, port)
}

// checkState returns what of st the proxy does not serve yet: hosts
// present or not, paths of stable.test to other or not, the certificate of stable.test, the canary's
// weight at 0 or 100, and requests to stable.test reaching only the
// endpoints present.
func (p *weirProcess) checkState(t *testing.T, st *churnState, serials []string, stable []*churnBackend) error {
	t.Helper()
	c := p.httpClient()
	defer c.CloseIdleConnections()
	get := func(host, path string) string {
		req, _ := http.NewRequest(http.MethodGet, p.httpURL+path, nil)
		req.Host = host
		resp, err := c.Do(req)
		if err != nil {
			return err.Error()
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return fmt.Sprintf("%d %s", resp.StatusCode, body)
	}
	for h, ok := range st.hosts {
		host := fmt.Sprintf("h%d.test", h)
		if got := get(host, "/"); ok != (got == "200 other") || !ok && !strings.HasPrefix(got, "404 ") {
			return fmt.Errorf("%s (present %v): got %q", host, ok, got)
		}
	}
	for i, ok := range st.paths {
		path := fmt.Sprintf("/p%d", i)
		if got := get("stable.test", path); ok != (got == "200 other") || !strings.HasPrefix(got, "200 ") {
			return fmt.Errorf("stable.test%s (present %v): got %q", path, ok, got)
		}
	}
	if got := p.servedSerial(t); got != serials[st.cert] {
		return fmt.Errorf("stable.test serves certificate %s, want %s", got, serials[st.cert])
	}
	// Every answer from an endpoint present; with the canary at 100 every
	// answer from it, with none or at 0 none.
	before := make([]int64, len(stable))
	for i, b := range stable {
		before[i] = b.hits.Load()
	}
	canaries := 0
	for range 20 {
		req, _ := http.NewRequest(http.MethodGet, p.httpURL+"/", nil)
		req.Host = "stable.test"
		resp, err := c.Do(req)
		if err != nil {
			return fmt.Errorf("stable.test: %w", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) == "canary" {
			canaries++
		}
	}
	switch w := churnCanary[st.canary]; {
	case w == 100 && canaries != 20:
		return fmt.Errorf("canary weight 100: %d of 20 requests to the canary", canaries)
	case w <= 0 && canaries != 0:
		return fmt.Errorf("canary weight %d: %d of 20 requests to the canary", w, canaries)
	}
	for e, ok := range st.endpoints {
		n := stable[1+e].hits.Load() - before[1+e]
		if !ok && n != 0 {
			return fmt.Errorf("endpoint stable-%d removed: got %d requests", 1+e, n)
		}
		if ok && n == 0 && churnCanary[st.canary] <= 0 {
			return fmt.Errorf("endpoint stable-%d added: got none of the requests", 1+e)
		}
	}
	return nil
}

// servedSerial returns the serial number of the certificate stable.test is
// served with on a new connection.
func (p *weirProcess) servedSerial(t *testing.T) string {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", p.httpsAddr,
		&tls.Config{ServerName: "stable.test", InsecureSkipVerify: true}) // the test compares the serial
	if err != nil {
		return "handshake: " + err.Error()
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// leafSerial returns the serial number of the first certificate in
// certPEM.
func leafSerial(t *testing.T, certPEM []byte) string {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatal("no PEM block in the certificate")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("parse the certificate: %v", err)
	}
	return c.SerialNumber.String()
}

// churnRequest sends a request to url with stable.test's name (POST: with
// a 4 KiB body) and checks the answer is one of its backends', in
// HTTP/proto.
func churnRequest(c *http.Client, method, url string, proto int) error {
	var upload io.Reader
	if method == http.MethodPost {
		upload = strings.NewReader(strings.Repeat("x", 4096))
	}
	req, _ := http.NewRequest(method, url, upload)
	req.Host = "stable.test"
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if resp.ProtoMajor != proto {
		return fmt.Errorf("answer in %s, want HTTP/%d", resp.Proto, proto)
	}
	if resp.StatusCode != http.StatusOK || (!strings.HasPrefix(string(body), "stable-") && string(body) != "canary") {
		return fmt.Errorf("got %d %q, want 200 from a stable endpoint or the canary", resp.StatusCode, body)
	}
	return nil
}

// wsEcho sends msg on c and waits up to 5 s for its echo.
func wsEcho(c *websocket.Conn, msg string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	_, got, err := c.Read(ctx)
	if err != nil {
		return fmt.Errorf("read the echo of %q: %w", msg, err)
	}
	if string(got) != msg {
		return fmt.Errorf("echo of %q: got %q", msg, got)
	}
	return nil
}

// churnBackend answers a request with its name once it has read the body
// (4 KiB for a POST), /slow after 100 ms, and
// echoes WebSocket messages; it counts requests and WebSockets.
type churnBackend struct {
	port    int
	hits    atomic.Int64 // plain requests
	tunnels atomic.Int64 // WebSockets opened
}

func newChurnBackend(t *testing.T, name string) *churnBackend {
	t.Helper()
	b := &churnBackend{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			b.tunnels.Add(1)
			echoWebSocket(w, r)
			return
		}
		b.hits.Add(1)
		if n, err := io.Copy(io.Discard, r.Body); err != nil || r.Method == http.MethodPost && n != 4096 {
			http.Error(w, fmt.Sprintf("read %d bytes of the body: %v", n, err), http.StatusBadRequest)
			return
		}
		if r.URL.Path == "/slow" {
			time.Sleep(100 * time.Millisecond) // a request in flight across changes
		}
		io.WriteString(w, name)
	}))
	t.Cleanup(srv.Close)
	b.port = srv.Listener.Addr().(*net.TCPAddr).Port
	return b
}

// weirProcess is the weir binary serving a manifest folder on 127.0.0.1.
type weirProcess struct {
	dir                string
	cmd                *exec.Cmd
	logs               *testutil.SyncBuffer
	done               chan struct{}
	httpURL, httpsURL  string
	httpsAddr, metrics string
}

// startWeirProcess builds weir, writes files into a fresh folder and runs
// weir on it with --workers workers and extraArgs, and waits for its first
// configuration.
// The process is stopped (SIGTERM, then SIGKILL after 15 s) at cleanup.
func startWeirProcess(t *testing.T, workers string, files map[string]string, extraArgs ...string) *weirProcess {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "weir")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/weir-lb/weir/cmd/weir").CombinedOutput(); err != nil {
		t.Fatalf("build weir: %v\n%s", err, out)
	}
	p := &weirProcess{dir: t.TempDir(), logs: &testutil.SyncBuffer{}, done: make(chan struct{})}
	for name, body := range files {
		p.write(t, name, body)
	}
	httpPort, httpsPort, metricsPort := freePort(t), freePort(t), freePort(t)
	p.httpURL = "http://127.0.0.1:" + httpPort
	p.httpsAddr = "127.0.0.1:" + httpsPort
	p.httpsURL = "https://" + p.httpsAddr
	p.metrics = "http://127.0.0.1:" + metricsPort
	p.cmd = exec.Command(bin, "--workers", workers, "--manifests", p.dir, "--bind-address", "127.0.0.1",
		"--http-port", httpPort, "--https-port", httpsPort, "--metrics-port", metricsPort,
		"--access-log=false", "--xdp-mode", "off", "--bpf-pin-path", filepath.Join(t.TempDir(), "pins"))
	p.cmd.Args = append(p.cmd.Args, extraArgs...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start weir: %v", err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			t.Errorf("weir (pid %d) did not stop within 15s of SIGTERM", p.cmd.Process.Pid)
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("weir log:\n%s", p.logs.String())
		}
	})
	testutil.WaitFor(t, 20*time.Second, "weir's first configuration live", func() bool {
		select {
		case <-p.done:
			t.Fatalf("weir exited: %v\n%s", p.cmd.ProcessState, p.logs.String())
		default:
		}
		resp, err := http.Get(p.metrics + "/config")
		if err != nil {
			return false
		}
		var st controller.ConfigStatus
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		return err == nil && st.Version > 0
	})
	return p
}

// freePort returns a loopback port nothing listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	return strconv.Itoa(closedPort(t))
}

func (p *weirProcess) write(t *testing.T, name, body string) {
	t.Helper()
	// Write then rename, so the watcher never sees half a file.
	tmp := filepath.Join(p.dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		t.Fatalf("write %s: %v", name, err)
	}
	if err := os.Rename(tmp, filepath.Join(p.dir, name)); err != nil {
		t.Fatalf("rename %s: %v", name, err)
	}
}

func (p *weirProcess) remove(t *testing.T, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(p.dir, name)); err != nil {
		t.Fatalf("remove %s: %v", name, err)
	}
}

// freshHash returns the Hash of the Snapshot of an in-process Weir started
// on the manifests in the folder now.
func (p *weirProcess) freshHash(t *testing.T) string {
	t.Helper()
	entries, err := os.ReadDir(p.dir)
	if err != nil {
		t.Fatalf("read the manifest folder: %v", err)
	}
	files := map[string]string{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(p.dir, e.Name()))
		if err != nil {
			t.Fatalf("read %s: %v", e.Name(), err)
		}
		files[e.Name()] = string(b)
	}
	return startWeir(t, files).d.Live().Hash
}

// config returns /config with the query q ("?after=N&wait=D" waits for a
// version above N live on every worker).
func (p *weirProcess) config(t *testing.T, q string) controller.ConfigStatus {
	t.Helper()
	c := &http.Client{Timeout: 70 * time.Second}
	resp, err := c.Get(p.metrics + "/config" + q)
	if err != nil {
		t.Fatalf("get /config%s: %v", q, err)
	}
	defer resp.Body.Close()
	var st controller.ConfigStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("decode /config%s: %v", q, err)
	}
	return st
}

// httpClient returns a keep-alive HTTP/1.1 client of Weir's HTTP port.
func (p *weirProcess) httpClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// httpsClient returns a keep-alive HTTP/1.1 client of Weir's HTTPS port that
// verifies stable.test's certificate against ca; with handshakes, a new
// connection per request.
func (p *weirProcess) httpsClient(ca *certstest.CA, handshakes bool) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: ca.Pool(), ServerName: "stable.test"},
		MaxIdleConnsPerHost: 1,
		DisableKeepAlives:   handshakes,
	}}
}

// dialWS opens a WebSocket to stable.test: through Weir's HTTP port, or
// with ca through its HTTPS port.
func (p *weirProcess) dialWS(t *testing.T, ca *certstest.CA) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url, opts := "ws"+strings.TrimPrefix(p.httpURL, "http")+"/ws", &websocket.DialOptions{Host: "stable.test"}
	if ca != nil {
		url = "wss" + strings.TrimPrefix(p.httpsURL, "https") + "/ws"
		opts.HTTPClient = p.httpsClient(ca, false)
	}
	c, _, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	if err := wsEcho(c, "hello"); err != nil {
		t.Fatalf("websocket %s: %v", url, err)
	}
	return c
}

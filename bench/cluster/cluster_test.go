// Package cluster benchmarks Weir's cluster mode against a real
// kube-apiserver (test/kubeapi):
//
//	go test -run '^$' -bench . -benchtime 1x -timeout 30m ./bench/cluster
//
// BenchmarkCluster creates BENCH_INGRESSES (default 10 000) Ingresses, each
// with its Service and EndpointSlice, through the API server, then starts
// the weir binary with --kubeconfig and reports its time to first live
// Snapshot (/readyz), its RSS once live, and the time from an Ingress update
// (API call start) to the new configuration version live on every worker
// (/config?after=), p50 and p99 over 100 updates. BENCH_LOG_LEVEL (default
// warn) sets Weir's --log-level and BENCH_WEIR_LOG keeps its log in that
// file (default: a temporary one): with debug, each rebuild logs how long it
// was debounced, listed and synced. BENCH_PROFILE=file runs Weir with
// --profiling and writes the supervisor's CPU profile of the first 10 s of
// updates there (go tool pprof file). BENCH_WORKERS sets --workers (default
// auto: one per core; 0 runs the proxy in the supervisor's process).
// BENCH_TLS=1 gives every Ingress spec.tls with its own Secret, and each
// update moves the host in spec.tls too.
package cluster

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/test/kubeapi"
)

func BenchmarkCluster(b *testing.B) {
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("BENCH_INGRESSES")); err == nil && v > 0 {
		n = v
	}
	api := kubeapi.Start(b)
	client := api.Client()
	ctx := context.Background()
	bin := filepath.Join(b.TempDir(), "weir")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/weir-lb/weir/cmd/weir").CombinedOutput(); err != nil {
		b.Fatalf("build weir: %v\n%s", err, out)
	}

	start := time.Now()
	var tlsPEM [][]byte // cert, key: BENCH_TLS gives every Ingress spec.tls and a Secret
	if os.Getenv("BENCH_TLS") != "" {
		crt, key := certstest.NewCA(b).Issue(b, "*.bench.example")
		tlsPEM = [][]byte{crt, key}
	}
	createObjects(b, client, n, tlsPEM)
	b.Logf("created %d Ingresses, Services and EndpointSlices in %v", n, time.Since(start).Round(time.Millisecond))

	httpPort, metricsPort := freePort(b), freePort(b)
	cmd := exec.Command(bin, "--kubeconfig", api.Kubeconfig, "--bind-address", "127.0.0.1",
		"--http-port", strconv.Itoa(httpPort), "--metrics-port", strconv.Itoa(metricsPort),
		"--publish-status-address", "198.18.0.10", "--access-log=false", "--log-level="+cmp.Or(os.Getenv("BENCH_LOG_LEVEL"), "warn"))
	if w := os.Getenv("BENCH_WORKERS"); w != "" {
		cmd.Args = append(cmd.Args, "--workers", w)
	}
	profile := os.Getenv("BENCH_PROFILE")
	if profile != "" {
		cmd.Args = append(cmd.Args, "--profiling")
	}
	cmd.Env = append(os.Environ(), "POD_NAMESPACE=default")
	logPath := cmp.Or(os.Getenv("BENCH_WEIR_LOG"), filepath.Join(b.TempDir(), "weir.log"))
	logf, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	metrics := "http://127.0.0.1:" + strconv.Itoa(metricsPort)
	hc := &http.Client{Timeout: 15 * time.Second}
	waitUntil(b, 120*time.Second, "weir ready", func() bool {
		resp, err := hc.Get(metrics + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	firstLive := time.Since(t0)
	rss := vmRSS(b, cmd.Process.Pid, "VmRSS")
	b.Logf("first live Snapshot after %v; RSS %.1f MB (peak %.1f MB)", firstLive.Round(time.Millisecond), rss, vmRSS(b, cmd.Process.Pid, "VmHWM"))

	// Let the leader's status writes (n of them) settle before timing.
	settle := time.Now()
	waitUntil(b, 10*time.Minute, "status written", func() bool {
		ing, err := client.NetworkingV1().Ingresses("bench").Get(ctx, fmt.Sprintf("ing-%d", n-1), metav1.GetOptions{})
		return err == nil && len(ing.Status.LoadBalancer.Ingress) == 1
	})
	b.Logf("status of %d Ingresses written after %v more", n, time.Since(settle).Round(time.Millisecond))

	profiled := make(chan error, 1)
	if profile != "" { // the supervisor's CPU over the first 10 s of updates
		go func() { profiled <- fetch(metrics+"/debug/pprof/profile?seconds=10", profile) }()
	} else {
		profiled <- nil
	}
	var lat []time.Duration
	for i := range 100 {
		v0 := config(b, hc, metrics, "")
		ing, err := client.NetworkingV1().Ingresses("bench").Get(ctx, fmt.Sprintf("ing-%d", i), metav1.GetOptions{})
		if err != nil {
			b.Fatal(err)
		}
		ing.Spec.Rules[0].Host = fmt.Sprintf("updated-%d.bench.example", i)
		if len(ing.Spec.TLS) > 0 { // the host moves in spec.tls too: certificates are computed again
			ing.Spec.TLS[0].Hosts = []string{ing.Spec.Rules[0].Host}
		}
		t := time.Now()
		if _, err := client.NetworkingV1().Ingresses("bench").Update(ctx, ing, metav1.UpdateOptions{}); err != nil {
			b.Fatal(err)
		}
		// /config?after answers once a newer version is live on every worker.
		if v := config(b, hc, metrics, fmt.Sprintf("?after=%d&wait=10s", v0)); v <= v0 {
			b.Fatalf("update %d not live after 10s", i)
		}
		lat = append(lat, time.Since(t))
	}
	if err := <-profiled; err != nil {
		b.Errorf("cpu profile: %v", err)
	}
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
	b.Logf("Ingress update to live over %d updates: p50 %v, p99 %v, max %v", len(lat), p50, p99, lat[len(lat)-1])
	b.ReportMetric(firstLive.Seconds(), "s-first-live")
	b.ReportMetric(rss, "MB-rss")
	b.ReportMetric(float64(p50.Microseconds())/1000, "ms-update-p50")
	b.ReportMetric(float64(p99.Microseconds())/1000, "ms-update-p99")
	for b.Loop() {
	}
}

func createObjects(b *testing.B, client kubernetes.Interface, n int, tlsPEM [][]byte) {
	ctx := context.Background()
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	if _, err := client.NetworkingV1().IngressClasses().Create(ctx, &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: "weir"},
		Spec:       networkingv1.IngressClassSpec{Controller: "weir-lb.dev/ingress-controller"},
	}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	jobs := make(chan int)
	errc := make(chan error, 16)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := createOne(ctx, client, i, tlsPEM); err != nil {
					select {
					case errc <- err:
					default:
					}
				}
			}
		}()
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errc:
		b.Fatal(err)
	default:
	}
}

func createOne(ctx context.Context, client kubernetes.Interface, i int, tlsPEM [][]byte) error {
	name := fmt.Sprintf("svc-%d", i)
	class := "weir"
	prefix := networkingv1.PathTypePrefix
	port := int32(8080)
	ready := true
	if _, err := client.CoreV1().Services("bench").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Name: "http", Port: 80}}},
	}, metav1.CreateOptions{}); err != nil {
		return err
	}
	if _, err := client.DiscoveryV1().EndpointSlices("bench").Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &[]string{"http"}[0], Port: &port}},
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{fmt.Sprintf("198.18.%d.%d", 1+i/250, 1+i%250)},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready},
		}},
	}, metav1.CreateOptions{}); err != nil {
		return err
	}
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("ing-%d", i),
			Annotations: map[string]string{"nginx.ingress.kubernetes.io/proxy-read-timeout": "120"}},
		Spec: networkingv1.IngressSpec{IngressClassName: &class, Rules: []networkingv1.IngressRule{{
			Host: fmt.Sprintf("h%d.bench.example", i),
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{
					Service: &networkingv1.IngressServiceBackend{Name: name, Port: networkingv1.ServiceBackendPort{Number: 80}},
				}}},
			}},
		}}},
	}
	if tlsPEM != nil {
		if _, err := client.CoreV1().Secrets("bench").Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "tls-" + name}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: tlsPEM[0], corev1.TLSPrivateKeyKey: tlsPEM[1]},
		}, metav1.CreateOptions{}); err != nil {
			return err
		}
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{ing.Spec.Rules[0].Host}, SecretName: "tls-" + name}}
	}
	_, err := client.NetworkingV1().Ingresses("bench").Create(ctx, ing, metav1.CreateOptions{})
	return err
}

// config returns the live configuration version from /config+query.
func config(b *testing.B, hc *http.Client, metrics, query string) uint64 {
	resp, err := hc.Get(metrics + "/config" + query)
	if err != nil {
		b.Fatalf("get /config: %v", err)
	}
	defer resp.Body.Close()
	var st struct {
		Version uint64 `json:"version"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		b.Fatalf("decode /config: %v", err)
	}
	return st.Version
}

// fetch writes the body of url to path.
func fetch(url, path string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("get %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func vmRSS(b *testing.B, pid int, field string) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return float64(kb) / 1024
		}
	}
	return 0
}

func waitUntil(b *testing.B, timeout time.Duration, what string, cond func() bool) {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func freePort(b *testing.B) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

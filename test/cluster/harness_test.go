// Package cluster tests Weir's cluster mode end to end: a real etcd and
// kube-apiserver (test/kubeapi), objects created with client-go, Weir's
// in-process daemon with the kube source, backends in a network namespace the
// test creates (the API server refuses loopback endpoints) and real clients.
package cluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/weir-lb/weir/test/kubeapi"
	"github.com/weir-lb/weir/test/testutil"
	"github.com/weir-lb/weir/userspace/controller"
	"github.com/weir-lb/weir/userspace/daemon"
	"github.com/weir-lb/weir/userspace/kube"
	"github.com/weir-lb/weir/userspace/nginxmetrics"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// requireRoot skips without root, and fails instead when CI is set.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("this test needs root (network namespaces) and CI is set")
	}
	t.Skip("needs root for network namespaces")
}

// waitFor waits on cond with a deadline.
var waitFor = testutil.WaitFor

// netNS is a network namespace reached from the host over a veth pair.
type netNS struct {
	ns       netns.NsHandle
	hostIP   string
	innerIP  string
	hostLink netlink.Link
}

var nsCount atomic.Int32

// newNetNS creates a network namespace with a veth pair: the host end gets
// 198.19.P.(4k+1)/30, the inner end 198.19.P.(4k+2)/30, P from the process
// id so parallel test binaries do not collide.
func newNetNS(t testing.TB) *netNS {
	t.Helper()
	requireRoot(t)
	k := int(nsCount.Add(1))
	p := os.Getpid() % 250
	base := fmt.Sprintf("198.19.%d.", p)
	n := &netNS{hostIP: base + strconv.Itoa(4*k+1), innerIP: base + strconv.Itoa(4*k+2)}
	hostName := fmt.Sprintf("wc%dh%d", os.Getpid()%100000, k)
	innerName := fmt.Sprintf("wc%di%d", os.Getpid()%100000, k)

	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("get network namespace: %v", err)
	}
	n.ns, err = netns.New()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("create network namespace: %v", err)
	}
	if err := netns.Set(orig); err != nil {
		t.Fatalf("return to the host namespace: %v", err) // thread stays locked: it dies with the goroutine
	}
	runtime.UnlockOSThread()
	orig.Close()
	t.Cleanup(func() { n.ns.Close() })

	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: hostName}, PeerName: innerName}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatalf("add veth %s: %v", hostName, err)
	}
	t.Cleanup(func() { _ = netlink.LinkDel(veth) })
	n.hostLink, _ = netlink.LinkByName(hostName)
	peer, err := netlink.LinkByName(innerName)
	if err != nil {
		t.Fatalf("find veth peer: %v", err)
	}
	if err := netlink.LinkSetNsFd(peer, int(n.ns)); err != nil {
		t.Fatalf("move veth peer into namespace: %v", err)
	}
	addr := func(h *netlink.Handle, l netlink.Link, ip string) {
		a, _ := netlink.ParseAddr(ip + "/30")
		if err := h.AddrAdd(l, a); err != nil {
			t.Fatalf("add address %s: %v", ip, err)
		}
		if err := h.LinkSetUp(l); err != nil {
			t.Fatalf("set link up: %v", err)
		}
	}
	host, _ := netlink.NewHandle()
	defer host.Close()
	addr(host, n.hostLink, n.hostIP)
	inner, err := netlink.NewHandleAt(n.ns)
	if err != nil {
		t.Fatalf("netlink in namespace: %v", err)
	}
	defer inner.Close()
	innerLink, err := inner.LinkByName(innerName)
	if err != nil {
		t.Fatalf("find inner veth: %v", err)
	}
	addr(inner, innerLink, n.innerIP)
	return n
}

// listen opens a TCP listener on the inner address inside the namespace.
func (n *netNS) listen(t testing.TB) net.Listener {
	t.Helper()
	return n.listenPort(t, 0)
}

// listenPort opens a TCP listener on the inner address and port (0: any)
// inside the namespace.
func (n *netNS) listenPort(t testing.TB, port int) net.Listener {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("get network namespace: %v", err)
	}
	defer orig.Close()
	if err := netns.Set(n.ns); err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("enter namespace: %v", err)
	}
	ln, lerr := net.Listen("tcp", net.JoinHostPort(n.innerIP, strconv.Itoa(port)))
	if err := netns.Set(orig); err != nil {
		t.Fatalf("return to the host namespace: %v", err)
	}
	runtime.UnlockOSThread()
	if lerr != nil {
		t.Fatalf("listen in namespace: %v", lerr)
	}
	return ln
}

// backend is an HTTP server in the namespace that answers with its name.
// /slow?ms=N waits N ms before answering.
type backend struct {
	name string
	ip   string
	port int
	hits atomic.Int64
}

func (n *netNS) backend(t testing.TB, name string) *backend {
	t.Helper()
	return n.backendOn(t, name, 0)
}

// backendOn is backend on the given port (0: any).
func (n *netNS) backendOn(t testing.TB, name string, port int) *backend {
	t.Helper()
	ln := n.listenPort(t, port)
	b := &backend{name: name, ip: n.innerIP, port: ln.Addr().(*net.TCPAddr).Port}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		if ms, _ := strconv.Atoi(r.URL.Query().Get("ms")); ms > 0 {
			select {
			case <-time.After(time.Duration(ms) * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
		fmt.Fprintf(w, "%s %s", name, r.URL.Path)
	}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return b
}

// cluster is one API server with helpers to create objects.
type cluster struct {
	t      testing.TB
	api    *kubeapi.Server
	client kubernetes.Interface
	ctx    context.Context
}

func newCluster(t testing.TB) *cluster {
	t.Helper()
	api := kubeapi.Start(t)
	c := &cluster{t: t, api: api, client: api.Client(), ctx: context.Background()}
	c.must(c.client.NetworkingV1().IngressClasses().Create(c.ctx, &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: "weir"},
		Spec:       networkingv1.IngressClassSpec{Controller: snapshot.DefaultOptions().ControllerClass},
	}, metav1.CreateOptions{}))
	return c
}

func (c *cluster) must(_ any, err error) {
	c.t.Helper()
	if err != nil {
		c.t.Fatalf("kubernetes: %v", err)
	}
}

func (c *cluster) namespace(name string) {
	c.t.Helper()
	c.must(c.client.CoreV1().Namespaces().Create(c.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}))
}

// service creates a Service with one port 80 and an EndpointSlice with the
// given backends (all on the same port).
func (c *cluster) service(ns, name string, bs ...*backend) {
	c.t.Helper()
	c.must(c.client.CoreV1().Services(ns).Create(c.ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt(8080)}}},
	}, metav1.CreateOptions{}))
	c.must(c.client.DiscoveryV1().EndpointSlices(ns).Create(c.ctx, slice(name, bs...), metav1.CreateOptions{}))
}

func slice(svc string, bs ...*backend) *discoveryv1.EndpointSlice {
	ready := true
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: svc + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	if len(bs) > 0 {
		port := int32(bs[0].port)
		es.Ports = []discoveryv1.EndpointPort{{Name: ptr("http"), Port: &port}}
	}
	for _, b := range bs {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{b.ip}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}})
	}
	return es
}

func ptr[T any](v T) *T { return &v }

// ingress returns an Ingress of class weir routing host/ to svc:80.
func ingress(ns, name, host, svc string, annotations map[string]string) *networkingv1.Ingress {
	prefix := networkingv1.PathTypePrefix
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: annotations},
		Spec: networkingv1.IngressSpec{
			IngressClassName: ptr("weir"),
			Rules: []networkingv1.IngressRule{{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{
				HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
					Path: "/", PathType: &prefix,
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
						Name: svc, Port: networkingv1.ServiceBackendPort{Number: 80},
					}},
				}}},
			}}},
		},
	}
}

func (c *cluster) createIngress(ing *networkingv1.Ingress) {
	c.t.Helper()
	c.must(c.client.NetworkingV1().Ingresses(ing.Namespace).Create(c.ctx, ing, metav1.CreateOptions{}))
}

// weir is one in-process Weir on the cluster.
type weir struct {
	t      testing.TB
	d      *daemon.Daemon
	src    *kube.Source
	events *kube.Events
	cancel context.CancelFunc
	done   chan error
	log    *syncBuffer
	client *http.Client
	build  snapshot.Options // the build options it runs with
}

// syncBuffer is the shared log buffer.
type syncBuffer = testutil.SyncBuffer

// weirOptions adjusts a Weir instance.
type weirOptions struct {
	rest      *rest.Config // default: the API server's admin
	status    *kube.StatusOptions
	identity  string
	configMap string // --configmap
	leaseNS   string // default "default"
	namespace string // --watch-namespace
	selector  string // --watch-namespace-selector
	prefix    string // --annotations-prefix
	noSync    bool   // --disable-sync-events

	// tcpServices and udpServices are --tcp-services-configmap and
	// --udp-services-configmap.
	tcpServices, udpServices string
	// build, when not nil, adjusts the build options (the class flags).
	build func(*snapshot.Options)
	// noStatus takes no Lease and writes no status
	// (--disable-leader-election).
	noStatus bool
}

// startWeir starts Weir with the kube source, short lease timings and
// --publish-status-address 198.18.0.10; it stops in t.Cleanup.
func (c *cluster) startWeir(o weirOptions) *weir {
	c.t.Helper()
	rc := o.rest
	if rc == nil {
		rc = c.api.Config()
	}
	buf := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	client, err := kube.NewClient(rc, log)
	if err != nil {
		c.t.Fatalf("client: %v", err)
	}
	st := o.status
	if st == nil {
		st = &kube.StatusOptions{PublishAddresses: []string{"198.18.0.10"}}
	}
	st.Namespace = o.leaseNS
	if st.Namespace == "" {
		st.Namespace = "default"
	}
	st.LeaseDuration, st.RenewDeadline, st.RetryPeriod = 2*time.Second, 1500*time.Millisecond, 250*time.Millisecond
	if st.Identity == "" {
		st.Identity = o.identity
	}
	cfg := daemon.Config{
		BindAddress:    "127.0.0.1",
		MetricsAddress: "127.0.0.1",
		Controller:     controller.Options{Build: snapshot.DefaultOptions()},
		Logger:         log,
	}
	cfg.Controller.Build.ConfigMap = o.configMap
	cfg.Controller.Build.TCPServices, cfg.Controller.Build.UDPServices = o.tcpServices, o.udpServices
	if o.build != nil {
		o.build(&cfg.Controller.Build)
	}
	if o.noStatus {
		st = nil
	}
	cfg.Registry = newRegistry()
	w := &weir{t: c.t, log: buf, done: make(chan error, 1), build: cfg.Controller.Build}
	w.events = kube.NewEvents(client, "test-node", cfg.Registry, log)
	cfg.Controller.WatchNamespace = o.namespace
	sel, err := labels.Parse(o.selector)
	if err != nil {
		c.t.Fatalf("namespace selector: %v", err)
	}
	w.src = kube.NewSource(client, kube.Options{Build: cfg.Controller.Build, WatchNamespace: o.namespace,
		NamespaceSelector: sel, AnnotationsPrefix: o.prefix, Status: st, Events: w.events,
		DisableSyncEvents: o.noSync, Logger: log})
	cfg.Source = w.src
	// As cmd/weir: the leader gauge, named after the Lease.
	if st != nil {
		lease := st.ElectionID
		if lease == "" {
			lease = "weir-leader"
		}
		cfg.Registry.MustRegister(nginxmetrics.NewLeaderElection(lease, w.src.Leading))
	}
	w.d, err = daemon.New(cfg)
	if err != nil {
		c.t.Fatalf("start weir: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go func() { w.done <- w.d.Run(ctx) }()
	w.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	c.t.Cleanup(w.stop)
	c.t.Cleanup(func() {
		if c.t.Failed() {
			c.t.Logf("weir log:\n%s", buf.String())
		}
	})
	return w
}

// stop stops Weir and waits for it (up to 20 s).
func (w *weir) stop() {
	if w.cancel == nil {
		return
	}
	w.cancel()
	w.cancel = nil
	select {
	case <-w.done:
	case <-time.After(20 * time.Second):
		w.t.Errorf("weir did not stop within 20s")
	}
	w.events.Close()
	w.client.CloseIdleConnections()
}

// get sends GET http://host/path to Weir and returns status and body.
func (w *weir) get(host, path string) (int, string, error) {
	req, _ := http.NewRequest(http.MethodGet, "http://"+w.d.HTTPAddr()+path, nil)
	req.Host = host
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// waitBody waits until host/path answers 200 with body.
func (w *weir) waitBody(host, path, body string) {
	w.t.Helper()
	w.waitBodyFor(15*time.Second, host, path, body)
}

func (w *weir) waitBodyFor(timeout time.Duration, host, path, body string) {
	w.t.Helper()
	var last string
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		code, got, err := w.get(host, path)
		if err == nil && code == 200 && got == body {
			return
		}
		last = fmt.Sprintf("%d %q %v", code, got, err)
		time.Sleep(20 * time.Millisecond)
	}
	w.t.Fatalf("GET %s%s: want 200 %q, last got %s", host, path, body, last)
}

func newRegistry() *prometheus.Registry { return prometheus.NewRegistry() }

// client-go's klog lines (failed watches while the API server is down) would
// flood the test output; Weir logs those state changes itself.
func init() { klog.SetLogger(logr.Discard()) }

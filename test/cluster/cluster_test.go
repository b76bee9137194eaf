package cluster

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/weir-lb/weir/userspace/kube"
)

// statusIPs returns the IPs in an Ingress's status.loadBalancer.ingress.
func (c *cluster) statusIPs(ns, name string) string {
	ing, err := c.client.NetworkingV1().Ingresses(ns).Get(c.ctx, name, metav1.GetOptions{})
	if err != nil {
		return "error: " + err.Error()
	}
	var ips []string
	for _, lb := range ing.Status.LoadBalancer.Ingress {
		ips = append(ips, lb.IP+lb.Hostname)
	}
	return strings.Join(ips, ",")
}

// eventReasons returns "reason" of every Warning Event on an object.
func (c *cluster) eventReasons(ns, kind, name string) []string {
	sel := fields.Set{"involvedObject.kind": kind, "involvedObject.name": name, "type": corev1.EventTypeWarning}.AsSelector().String()
	evs, err := c.client.CoreV1().Events(ns).List(c.ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	var out []string
	for _, e := range evs.Items {
		for range e.Count {
			out = append(out, e.Reason)
		}
	}
	return out
}

// syncEvents returns how many Normal "Sync" Events ("Scheduled for sync")
// an Ingress has.
func (c *cluster) syncEvents(ns, name string) int {
	sel := fields.Set{"involvedObject.kind": "Ingress", "involvedObject.name": name, "type": corev1.EventTypeNormal,
		"reason": "Sync"}.AsSelector().String()
	evs, err := c.client.CoreV1().Events(ns).List(c.ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		c.t.Fatalf("list events: %v", err)
	}
	n := 0
	for _, e := range evs.Items {
		if e.Message == "Scheduled for sync" {
			n += int(e.Count)
		}
	}
	return n
}

// TestSyncEvents: as ingress-nginx's store, Weir records a Normal Sync
// Event on each Ingress it serves when it is added (ingress-nginx e2e:
// settings/disable_sync_events.go), none on an Ingress of another class,
// and none at all with --disable-sync-events.
func TestSyncEvents(t *testing.T) {
	c := newCluster(t)
	c.namespace("app")
	c.service("app", "svc")

	// Disabled: the bad annotation's Warning is recorded after the
	// Ingress was added, through the same recorder, so once it is there a
	// Sync Event would be too.
	w := c.startWeir(weirOptions{identity: "weir-quiet", noSync: true})
	c.createIngress(ingress("app", "quiet", "quiet.example", "svc",
		map[string]string{"nginx.ingress.kubernetes.io/proxy-read-timeout": "-1"}))
	waitFor(t, 20*time.Second, "the Warning on quiet", func() bool {
		return slices.Contains(c.eventReasons("app", "Ingress", "quiet"), "InvalidAnnotation")
	})
	if n := c.syncEvents("app", "quiet"); n != 0 {
		t.Errorf("--disable-sync-events: %d Sync Events on quiet, want 0", n)
	}
	w.stop()

	c.startWeir(weirOptions{identity: "weir-1"})
	other := ingress("app", "other-class", "other.example", "svc", nil)
	other.Spec.IngressClassName = ptr("other")
	c.createIngress(other)
	c.createIngress(ingress("app", "a", "a.example", "svc", nil))
	for deadline := time.Now().Add(20 * time.Second); c.syncEvents("app", "a") == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			evs, _ := c.client.CoreV1().Events("app").List(c.ctx, metav1.ListOptions{})
			for _, e := range evs.Items {
				t.Logf("event on %s: %s %s %q x%d", e.InvolvedObject.Name, e.Type, e.Reason, e.Message, e.Count)
			}
			t.Fatal("timed out after 20s waiting for a Sync Event on a")
		}
	}
	// other-class was added before a, through the same recorder.
	if n := c.syncEvents("app", "other-class"); n != 0 {
		t.Errorf("%d Sync Events on an Ingress of another class, want 0", n)
	}
}

func TestRoutingStatusAndEvents(t *testing.T) {
	net := newNetNS(t)
	a, b := net.backend(t, "a"), net.backend(t, "b")
	c := newCluster(t)
	c.namespace("app")
	c.service("app", "svc-a", a)
	c.service("app", "svc-b", b)
	c.createIngress(ingress("app", "a", "a.example", "svc-a", nil))
	c.createIngress(ingress("app", "b", "b.example", "svc-b", nil))
	c.createIngress(ingress("app", "bad-annotation", "bad.example", "svc-a",
		map[string]string{"nginx.ingress.kubernetes.io/proxy-read-timeout": "-1"}))
	c.createIngress(ingress("app", "no-service", "gone.example", "svc-missing", nil))
	other := ingress("app", "other-class", "other.example", "svc-a", nil)
	other.Spec.IngressClassName = ptr("other")
	c.createIngress(other)

	w := c.startWeir(weirOptions{identity: "weir-1"})
	w.waitBody("a.example", "/x", "a /x")
	w.waitBody("b.example", "/y", "b /y")
	// The bad annotation keeps its default; the route still works.
	w.waitBody("bad.example", "/", "a /")
	if code, _, err := w.get("gone.example", "/"); err != nil || code != http.StatusServiceUnavailable {
		t.Errorf("GET gone.example: %d %v, want 503 (service not found)", code, err)
	}
	if code, _, err := w.get("other.example", "/"); err != nil || code != http.StatusNotFound {
		t.Errorf("GET other.example: %d %v, want 404 (other class)", code, err)
	}

	for _, name := range []string{"a", "b", "bad-annotation", "no-service"} {
		waitFor(t, 15*time.Second, "status of ingress "+name, func() bool { return c.statusIPs("app", name) == "198.18.0.10" })
	}
	if got := c.statusIPs("app", "other-class"); got != "" {
		t.Errorf("status of the other class's Ingress = %q, want untouched (empty)", got)
	}

	waitFor(t, 15*time.Second, "InvalidAnnotation event", func() bool {
		return strings.Join(c.eventReasons("app", "Ingress", "bad-annotation"), ",") == "InvalidAnnotation"
	})
	waitFor(t, 15*time.Second, "ServiceNotFound event", func() bool {
		return strings.Join(c.eventReasons("app", "Ingress", "no-service"), ",") == "ServiceNotFound"
	})
	// A later, unrelated change does not repeat the events.
	c.createIngress(ingress("app", "c", "c.example", "svc-b", nil))
	w.waitBody("c.example", "/", "b /")
	if got := c.eventReasons("app", "Ingress", "bad-annotation"); len(got) != 1 {
		t.Errorf("events on bad-annotation after another change: %v, want exactly one", got)
	}
	if got := c.eventReasons("app", "Ingress", "a"); len(got) != 0 {
		t.Errorf("events on a good Ingress: %v", got)
	}
	metrics := w.metrics()
	// Ingress c's creation was a build scoped to its host.
	for _, want := range []string{`weir_events_total{reason="InvalidAnnotation"} 1`, `weir_events_total{reason="ServiceNotFound"} 1`,
		`weir_config_builds_total{build="scoped",result="changed"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func (w *weir) metrics() string {
	resp, err := http.Get("http://" + w.d.MetricsAddr() + "/metrics")
	if err != nil {
		w.t.Fatalf("get metrics: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestEndpointSliceChangeKeepsRequestsInFlight(t *testing.T) {
	net := newNetNS(t)
	a, b := net.backend(t, "a"), net.backend(t, "b")
	c := newCluster(t)
	c.namespace("app")
	c.service("app", "svc", a)
	c.createIngress(ingress("app", "web", "web.example", "svc", nil))
	w := c.startWeir(weirOptions{identity: "weir-1"})
	w.waitBody("web.example", "/", "a /")

	// A slow request to a is in flight while the slice moves to b.
	slow := make(chan string, 1)
	go func() {
		code, body, err := w.get("web.example", "/slow?ms=2000")
		slow <- fmt.Sprintf("%d %s %v", code, body, err)
	}()
	waitFor(t, 10*time.Second, "slow request to reach a", func() bool { return a.hits.Load() >= 2 })

	// Steady traffic during the change: every request must succeed.
	stop := make(chan struct{})
	var failures []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 5000; i++ { // bounded: ~20 s at most
			select {
			case <-stop:
				return
			default:
			}
			code, body, err := w.get("web.example", "/")
			if err != nil || code != 200 {
				mu.Lock()
				failures = append(failures, fmt.Sprintf("%d %q %v", code, body, err))
				mu.Unlock()
			}
		}
	}()
	port := int32(b.port)
	es := slice("svc", b)
	es.Ports[0].Port = &port
	cur, err := c.client.DiscoveryV1().EndpointSlices("app").Get(c.ctx, "svc-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	es.ResourceVersion = cur.ResourceVersion
	c.must(c.client.DiscoveryV1().EndpointSlices("app").Update(c.ctx, es, metav1.UpdateOptions{}))
	w.waitBody("web.example", "/", "b /")
	close(stop)
	wg.Wait()
	if got := <-slow; got != "200 a /slow <nil>" {
		t.Errorf("request in flight during the change: %s, want 200 from a", got)
	}
	if len(failures) > 0 {
		t.Errorf("%d requests failed during the change, first: %s", len(failures), failures[0])
	}
}

func TestLeaderFailover(t *testing.T) {
	net := newNetNS(t)
	a := net.backend(t, "a")
	c := newCluster(t)
	c.namespace("app")
	c.service("app", "svc", a)
	c.createIngress(ingress("app", "web", "web.example", "svc", nil))

	w1 := c.startWeir(weirOptions{identity: "weir-1", status: &kube.StatusOptions{PublishAddresses: []string{"198.18.0.11"}}})
	w1.waitBody("web.example", "/", "a /")
	waitFor(t, 15*time.Second, "weir-1 to lead and write status", func() bool { return c.statusIPs("app", "web") == "198.18.0.11" })
	w2 := c.startWeir(weirOptions{identity: "weir-2", status: &kube.StatusOptions{PublishAddresses: []string{"198.18.0.12"}}})
	w2.waitBody("web.example", "/", "a /")
	if !w1.leading() || w2.leading() {
		t.Errorf("leader_election_status: weir-1 %v, weir-2 %v; want 1 and 0", w1.leading(), w2.leading())
	}
	// The follower serves but never writes: status stays the leader's
	// through several of its retry periods (250 ms).
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if got := c.statusIPs("app", "web"); got != "198.18.0.11" {
			t.Fatalf("status = %q while weir-1 leads, want 198.18.0.11", got)
		}
		time.Sleep(100 * time.Millisecond)
	}
	w1.stop()
	waitFor(t, 15*time.Second, "weir-2 to take over and write status", func() bool { return c.statusIPs("app", "web") == "198.18.0.12" })
	lease, err := c.client.CoordinationV1().Leases("default").Get(c.ctx, "weir-leader", metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != "weir-2" {
		t.Errorf("lease holder after failover: %v %v, want weir-2", lease.Spec.HolderIdentity, err)
	}
	waitFor(t, 5*time.Second, "weir-2's leader_election_status 1", w2.leading)
	w2.waitBody("web.example", "/", "a /")
}

// leading reads ingress-nginx's leader_election_status on /metrics: true
// for 1, false for 0, a test failure when it is missing.
func (w *weir) leading() bool {
	w.t.Helper()
	m := regexp.MustCompile(`(?m)^nginx_ingress_controller_leader_election_status\{[^}]*name="weir-leader"[^}]*\} (\S+)$`).FindStringSubmatch(w.metrics())
	if m == nil {
		w.t.Fatalf("no leader_election_status{name=\"weir-leader\"} on /metrics")
	}
	return m[1] == "1"
}

func TestUpdateStatusOnShutdown(t *testing.T) {
	c := newCluster(t)
	c.namespace("app")
	c.createIngress(ingress("app", "web", "web.example", "svc", nil))
	w := c.startWeir(weirOptions{identity: "weir-1", status: &kube.StatusOptions{
		PublishAddresses: []string{"198.18.0.13", "lb.example.com"}, UpdateOnShutdown: true}})
	waitFor(t, 15*time.Second, "status written", func() bool { return c.statusIPs("app", "web") == "198.18.0.13,lb.example.com" })
	w.stop()
	if got := c.statusIPs("app", "web"); got != "" {
		t.Errorf("status after the last instance stopped = %q, want cleared", got)
	}
}

func TestAPIServerDownKeepsServing(t *testing.T) {
	net := newNetNS(t)
	a := net.backend(t, "a")
	c := newCluster(t)
	c.namespace("app")
	c.service("app", "svc", a)
	c.createIngress(ingress("app", "web", "web.example", "svc", nil))
	w := c.startWeir(weirOptions{identity: "weir-1"})
	w.waitBody("web.example", "/", "a /")

	c.api.StopAPIServer()
	down := time.Now()
	n := 0
	for time.Since(down) < 10*time.Second && n < 100000 {
		code, body, err := w.get("web.example", "/")
		if err != nil || code != 200 || body != "a /" {
			t.Fatalf("request %d with the API server down: %d %q %v", n, code, body, err)
		}
		n++
	}
	resp, err := http.Get("http://" + w.d.MetricsAddr() + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/readyz with the API server down: %v %v", resp, err)
	}
	resp.Body.Close()
	if err := c.api.StartAPIServer(); err != nil {
		t.Fatalf("restart the API server: %v", err)
	}
	t.Logf("%d requests served in 10 s with the API server down", n)
	// Changes flow again.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = c.client.NetworkingV1().Ingresses("app").Create(ctx, ingress("app", "web2", "web2.example", "svc", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create after restart: %v", err)
	}
	// The reflectors back off up to 30 s while the API server is away.
	w.waitBodyFor(60*time.Second, "web2.example", "/", "a /")
	waitFor(t, 20*time.Second, "log of the lost and regained API server", func() bool {
		l := w.log.String()
		return strings.Contains(l, "api server unreachable") && strings.Contains(l, "api server reachable again")
	})
	if n := strings.Count(w.log.String(), "api server unreachable"); n != 1 {
		t.Errorf("logged 'api server unreachable' %d times, want once", n)
	}
}

var _ = networkingv1.PathTypePrefix

func TestWatchNamespace(t *testing.T) {
	c := newCluster(t)
	c.namespace("app")
	c.namespace("other")
	c.createIngress(ingress("app", "web", "web.example", "svc-missing", nil))
	c.createIngress(ingress("other", "web", "other.example", "svc-missing", nil))
	w := c.startWeir(weirOptions{identity: "weir-ns", namespace: "app"})
	waitFor(t, 15*time.Second, "first live configuration", func() bool { return w.d.LiveVersion() > 0 })
	waitFor(t, 15*time.Second, "web.example routed (503: no service)", func() bool {
		code, _, err := w.get("web.example", "/")
		return err == nil && code == http.StatusServiceUnavailable
	})
	if code, _, err := w.get("other.example", "/"); err != nil || code != http.StatusNotFound {
		t.Errorf("GET other.example (namespace not watched): %d %v, want 404", code, err)
	}
	waitFor(t, 15*time.Second, "status in the watched namespace", func() bool { return c.statusIPs("app", "web") == "198.18.0.10" })
	if got := c.statusIPs("other", "web"); got != "" {
		t.Errorf("status in a namespace not watched = %q, want untouched", got)
	}
}

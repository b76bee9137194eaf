package cluster

// Ports of ingress-nginx's e2e tests that need a real API server
// (test/e2e/settings/ingress_class.go, admission/admission.go,
// status/update.go, servicebackend/service_externalname.go,
// lua/dynamic_certificates.go, lua/dynamic_configuration.go,
// settings/configmap_change.go, disableleaderelection/disable_leader.go,
// tcpudp/tcp.go), one test per e2e file and one subtest per case. Weir's
// class annotation value is "weir" where ingress-nginx's e2e uses "nginx".

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/userspace/admission"
	"github.com/weir-lb/weir/userspace/kube"
	"github.com/weir-lb/weir/userspace/snapshot"
)

const classAnnotation = "kubernetes.io/ingress.class"

// sub returns c for the subtest t: its failures and cleanups are t's.
func (c *cluster) sub(t *testing.T) *cluster {
	s := *c
	s.t = t
	return &s
}

// sub returns w for the subtest t: its waits fail t.
func (w *weir) sub(t *testing.T) *weir {
	s := *w
	s.t = t
	return &s
}

// updateIngress applies edit to the stored Ingress ns/name, again when
// Weir's status write came in between.
func (c *cluster) updateIngress(ns, name string, edit func(*networkingv1.Ingress)) {
	c.t.Helper()
	ings := c.client.NetworkingV1().Ingresses(ns)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ing, err := ings.Get(c.ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		edit(ing)
		_, err = ings.Update(c.ctx, ing, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		c.t.Fatalf("update ingress %s/%s: %v", ns, name, err)
	}
}

// setConfigMap creates or replaces the data of the ConfigMap ns/name.
func (c *cluster) setConfigMap(ns, name string, data map[string]string) {
	c.t.Helper()
	cms := c.client.CoreV1().ConfigMaps(ns)
	cm, err := cms.Get(c.ctx, name, metav1.GetOptions{})
	if err != nil {
		c.must(cms.Create(c.ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: data}, metav1.CreateOptions{}))
		return
	}
	cm.Data = data
	c.must(cms.Update(c.ctx, cm, metav1.UpdateOptions{}))
}

// setSlice replaces the endpoints of Service ns/svc (its slice svc-1) with
// bs, all on bs[0]'s port; none leaves the Service without endpoints.
func (c *cluster) setSlice(ns, svc string, bs ...*backend) {
	c.t.Helper()
	slices := c.client.DiscoveryV1().EndpointSlices(ns)
	es := slice(svc, bs...)
	cur, err := slices.Get(c.ctx, es.Name, metav1.GetOptions{})
	if err != nil {
		c.must(slices.Create(c.ctx, es, metav1.CreateOptions{}))
		return
	}
	es.ResourceVersion = cur.ResourceVersion
	c.must(slices.Update(c.ctx, es, metav1.UpdateOptions{}))
}

// code returns the status of GET http://host/path, 0 on an error.
func (w *weir) code(host, path string) int {
	code, _, err := w.get(host, path)
	if err != nil {
		return 0
	}
	return code
}

// waitCode waits until GET host/path answers want.
func (w *weir) waitCode(host, path string, want int) {
	w.t.Helper()
	waitLast(w.t, 15*time.Second, fmt.Sprintf("GET %s%s to answer %d", host, path, want), func() (bool, string) {
		code := w.code(host, path)
		return code == want, strconv.Itoa(code)
	})
}

// waitLast waits on cond with a deadline, as waitFor, and says what cond
// last saw when it times out.
func waitLast(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(20 * time.Millisecond) {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last: %s", timeout, what, last)
		}
	}
}

// TestIngressNginxIngressClass ports ingress-nginx's e2e
// test/e2e/settings/ingress_class.go: which Ingresses a controller serves
// by their class (IngressClass, the legacy annotation, none) under
// --ingress-class, --controller-class, --watch-ingress-without-class and
// --ingress-class-by-name, and how it follows an Ingress's class changing.
// "Without IngressClass Cluster scoped Permission" is TestIngressClassesForbidden.
func TestIngressNginxIngressClass(t *testing.T) {
	n := newNetNS(t)
	echo := n.backend(t, "echo")
	c := newCluster(t)
	otherClass := "test-new-ingress-class"
	c.must(c.client.NetworkingV1().IngressClasses().Create(c.ctx, &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: otherClass},
		Spec:       networkingv1.IngressClassSpec{Controller: "k8s.io/other-class"},
	}, metav1.CreateOptions{}))
	nsCount := 0
	// run starts a Weir that watches only a fresh namespace holding
	// Service echo, with build adjusting its class flags.
	run := func(t *testing.T, build func(*snapshot.Options)) (*cluster, *weir, string) {
		sc := c.sub(t)
		nsCount++
		ns := fmt.Sprintf("class-%d", nsCount)
		sc.namespace(ns)
		sc.service(ns, "echo", echo)
		w := sc.startWeir(weirOptions{identity: "weir-" + ns, namespace: ns, build: build})
		waitFor(t, 15*time.Second, "first live configuration", func() bool { return w.d.LiveVersion() > 0 })
		return sc, w, ns
	}
	// create creates an Ingress for host (its name too) to echo, with
	// spec.ingressClassName className (nil: none) and the class
	// annotation (empty: none).
	create := func(sc *cluster, ns, host string, className *string, annotation string) {
		ing := ingress(ns, host, host, "echo", nil)
		ing.Spec.IngressClassName = className
		if annotation != "" {
			ing.Annotations = map[string]string{classAnnotation: annotation}
		}
		sc.createIngress(ing)
	}
	weirClass := ptr("weir")

	// ingress_class.go: With default ingress class config.
	t.Run("should ignore Ingress with a different class annotation", func(t *testing.T) {
		sc, w, ns := run(t, nil)
		create(sc, ns, "foo", nil, "testclass")
		create(sc, ns, "bar", nil, "weir")
		w.waitBody("bar", "/", "echo /")
		w.waitCode("foo", "/", http.StatusNotFound)
	})
	t.Run("should ignore Ingress with different controller class", func(t *testing.T) {
		sc, w, ns := run(t, nil)
		create(sc, ns, "foo-1", &otherClass, "")
		create(sc, ns, "bar-1", weirClass, "")
		w.waitBody("bar-1", "/", "echo /")
		w.waitCode("foo-1", "/", http.StatusNotFound)
	})
	t.Run("should accept both Ingresses with default IngressClassName and IngressClass annotation", func(t *testing.T) {
		sc, w, ns := run(t, nil)
		create(sc, ns, "foo-ok", nil, "weir")
		create(sc, ns, "bar-ok", weirClass, "")
		w.waitBody("foo-ok", "/", "echo /")
		w.waitBody("bar-ok", "/", "echo /")
	})
	t.Run("should ignore Ingress without IngressClass configuration", func(t *testing.T) {
		sc, w, ns := run(t, nil)
		create(sc, ns, "foo-invalid", nil, "")
		create(sc, ns, "bar-valid", weirClass, "")
		w.waitBody("bar-valid", "/", "echo /")
		w.waitCode("foo-invalid", "/", http.StatusNotFound)
	})
	t.Run("should delete Ingress when class is removed", func(t *testing.T) {
		sc, w, ns := run(t, nil)
		create(sc, ns, "foo-annotation", nil, "weir")
		create(sc, ns, "foo-class", weirClass, "")
		w.waitBody("foo-annotation", "/", "echo /")
		w.waitBody("foo-class", "/", "echo /")
		sc.updateIngress(ns, "foo-annotation", func(ing *networkingv1.Ingress) { delete(ing.Annotations, classAnnotation) })
		sc.updateIngress(ns, "foo-class", func(ing *networkingv1.Ingress) { ing.Spec.IngressClassName = nil })
		w.waitCode("foo-annotation", "/", http.StatusNotFound)
		w.waitCode("foo-class", "/", http.StatusNotFound)
	})
	t.Run("should serve Ingress when class is added", func(t *testing.T) {
		sc, w, ns := run(t, nil)
		create(sc, ns, "foo-no-annotation", nil, "")
		create(sc, ns, "foo-no-class", nil, "")
		w.waitCode("foo-no-annotation", "/", http.StatusNotFound)
		w.waitCode("foo-no-class", "/", http.StatusNotFound)
		sc.updateIngress(ns, "foo-no-annotation", func(ing *networkingv1.Ingress) {
			ing.Annotations = map[string]string{classAnnotation: "weir"}
		})
		sc.updateIngress(ns, "foo-no-class", func(ing *networkingv1.Ingress) { ing.Spec.IngressClassName = weirClass })
		w.waitBody("foo-no-annotation", "/", "echo /")
		w.waitBody("foo-no-class", "/", "echo /")
	})
	t.Run("should serve Ingress when class is updated between annotation and ingressClassName", func(t *testing.T) {
		sc, w, ns := run(t, nil)
		create(sc, ns, "foo-annotation2class", nil, "weir")
		create(sc, ns, "foo-class2annotation", weirClass, "")
		w.waitBody("foo-annotation2class", "/", "echo /")
		w.waitBody("foo-class2annotation", "/", "echo /")
		v := w.d.LiveVersion()
		sc.updateIngress(ns, "foo-annotation2class", func(ing *networkingv1.Ingress) {
			delete(ing.Annotations, classAnnotation)
			ing.Spec.IngressClassName = weirClass
		})
		sc.updateIngress(ns, "foo-class2annotation", func(ing *networkingv1.Ingress) {
			ing.Spec.IngressClassName = nil
			ing.Annotations = map[string]string{classAnnotation: "weir"}
		})
		// Both updates are seen (their Sync Events), and both hosts are
		// still served all along.
		waitFor(t, 15*time.Second, "the updates' Sync Events", func() bool {
			return sc.syncEvents(ns, "foo-annotation2class") >= 2 && sc.syncEvents(ns, "foo-class2annotation") >= 2
		})
		for _, host := range []string{"foo-annotation2class", "foo-class2annotation"} {
			if code, body, err := w.get(host, "/"); err != nil || code != 200 || body != "echo /" {
				t.Errorf("GET %s after the class moved (version %d, then %d): %d %q %v, want 200", host, v, w.d.LiveVersion(), code, body, err)
			}
		}
	})

	// ingress_class.go: With specific ingress-class flags.
	t.Run("should ignore Ingress with no class and accept the correctly configured Ingresses", func(t *testing.T) {
		sc, w, ns := run(t, func(o *snapshot.Options) { o.IngressClass, o.ControllerClass = "testclass", "k8s.io/other-class" })
		create(sc, ns, "bar", nil, "")
		create(sc, ns, "foo", nil, "testclass")
		create(sc, ns, "foobar123", &otherClass, "")
		w.waitBody("foo", "/", "echo /")
		w.waitBody("foobar123", "/", "echo /")
		w.waitCode("bar", "/", http.StatusNotFound)
	})

	// ingress_class.go: With watch-ingress-without-class flag.
	t.Run("should watch Ingress with no class and ignore ingress with a different class", func(t *testing.T) {
		sc, w, ns := run(t, func(o *snapshot.Options) { o.WatchIngressWithoutClass = true })
		create(sc, ns, "bar", nil, "")
		create(sc, ns, "foo", nil, "testclass123")
		w.waitBody("bar", "/", "echo /")
		w.waitCode("foo", "/", http.StatusNotFound)
	})

	// ingress_class.go: With ingress-class-by-name flag.
	t.Run("should watch Ingress that uses the class name even if spec is different", func(t *testing.T) {
		sc, w, ns := run(t, func(o *snapshot.Options) { o.IngressClass, o.IngressClassByName = otherClass, true })
		create(sc, ns, "validhostclassname", &otherClass, "")
		create(sc, ns, "validhostclassspec", weirClass, "")
		create(sc, ns, "invalidannotation", nil, "testclass123")
		w.waitBody("validhostclassspec", "/", "echo /")
		w.waitBody("validhostclassname", "/", "echo /")
		w.waitCode("invalidannotation", "/", http.StatusNotFound)
	})
}

// serveWebhook serves Weir's validating webhook on w's objects, on a free
// port of 127.0.0.1 with a certificate of a fresh CA, and registers it with
// the API server as ingress-nginx's chart does; it returns its URL.
func (c *cluster) serveWebhook(w *weir) string {
	c.t.Helper()
	ca := certstest.NewCA(c.t)
	certFile, keyFile := ca.IssueFiles(c.t, "127.0.0.1")
	srv, err := admission.Listen("127.0.0.1:0", certFile, keyFile,
		&admission.Reviewer{Objects: w.src.ReviewObjects, Options: w.build}, slog.New(slog.DiscardHandler))
	if err != nil {
		c.t.Fatalf("listen for admission reviews: %v", err)
	}
	c.t.Cleanup(srv.Close)
	url := "https://" + srv.Addr().String() + "/networking/v1/ingresses"
	fail, none, exact := admissionregistrationv1.Fail, admissionregistrationv1.SideEffectClassNone, admissionregistrationv1.Exact
	c.must(c.client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(c.ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "ingress-nginx-admission"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:         "validate.nginx.ingress.kubernetes.io",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: ca.PEM()},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{"networking.k8s.io"}, APIVersions: []string{"v1"}, Resources: []string{"ingresses"}},
			}},
			FailurePolicy: &fail, MatchPolicy: &exact, SideEffects: &none,
			AdmissionReviewVersions: []string{"v1"},
		}},
	}, metav1.CreateOptions{}))
	return url
}

// TestIngressNginxAdmission ports ingress-nginx's e2e
// test/e2e/admission/admission.go against Weir's validating webhook (as
// --validating-webhook serves it), called by a real API server. "overlaps
// of host and paths without canary annotations" and "an invalid Ingress
// when it has unknown class" are cmd/weir's TestValidatingWebhook; the two
// cases ingress-nginx deactivated (configuration-snippet, CVE-2025-1974)
// are snippets, which Weir refuses (TestValidatingWebhook too).
func TestIngressNginxAdmission(t *testing.T) {
	n := newNetNS(t)
	echo := n.backend(t, "echo")
	c := newCluster(t)
	c.namespace("admission")
	c.namespace("weir")
	c.service("admission", "echo", echo)
	c.service("admission", "slow-echo", echo)
	c.setConfigMap("weir", "weir", nil)
	w := c.startWeir(weirOptions{identity: "weir-admission", configMap: "weir/weir"})
	url := c.serveWebhook(w)
	ings := c.client.NetworkingV1().Ingresses("admission")
	create := func(ing *networkingv1.Ingress) error {
		_, err := ings.Create(c.ctx, ing, metav1.CreateOptions{})
		return err
	}
	// The API server takes a moment to call a new webhook, and the webhook
	// answers 503 until Weir has the objects.
	waitFor(t, 20*time.Second, "the webhook to refuse an unsafe path", func() bool {
		ing := ingress("admission", "probe", "probe", "echo", nil)
		ing.Spec.Rules[0].HTTP.Paths[0].Path = "/etc/nginx"
		_, err := ings.Create(c.ctx, ing, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil && strings.Contains(err.Error(), "weir refuses")
	})
	paths := func(name, host string, ps ...string) *networkingv1.Ingress {
		ing := ingress("admission", name, host, "echo", nil)
		p := ing.Spec.Rules[0].HTTP.Paths[0]
		ing.Spec.Rules[0].HTTP.Paths = nil
		for _, path := range ps {
			p.Path = path
			ing.Spec.Rules[0].HTTP.Paths = append(ing.Spec.Rules[0].HTTP.Paths, p)
		}
		return ing
	}
	// waitServed waits until Weir serves host/path, so that a later
	// Ingress is reviewed against it.
	waitServed := func(t *testing.T, host, path string) { w.sub(t).waitBody(host, path, "echo "+path) }

	t.Run("should not allow REALLY large ingresses", func(t *testing.T) {
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		defer client.CloseIdleConnections()
		resp, err := client.Post(url, "application/json", strings.NewReader(strings.Repeat("b", 9<<20)))
		if err != nil {
			t.Fatalf("post 9 MiB to the webhook: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("9 MiB review: %d, want 413", resp.StatusCode)
		}
	})
	t.Run("should not allow overlaps of host and paths without canary annotations in any rule", func(t *testing.T) {
		if err := create(paths("first-any", "any.admission", "/safe-path-1", "/conflict-path")); err != nil {
			t.Fatalf("create the first ingress: %v", err)
		}
		waitServed(t, "any.admission", "/conflict-path")
		err := create(paths("second-any", "any.admission", "/safe-path-2", "/conflict-path"))
		if err == nil || !strings.Contains(err.Error(), "ConflictLost") {
			t.Errorf("an ingress with one path of another's: %v, want refused (ConflictLost)", err)
		}
	})
	t.Run("should allow overlaps of host and paths with canary annotation", func(t *testing.T) {
		if err := create(paths("first-canary", "canary.admission", "/")); err != nil {
			t.Fatalf("create the first ingress: %v", err)
		}
		waitServed(t, "canary.admission", "/")
		canary := ingress("admission", "second-canary", "canary.admission", "slow-echo", map[string]string{
			"nginx.ingress.kubernetes.io/canary":           "true",
			"nginx.ingress.kubernetes.io/canary-by-header": "CanaryByHeader",
		})
		if err := create(canary); err != nil {
			t.Errorf("a canary for the same host and path: %v, want admitted", err)
		}
	})
	t.Run("should block ingress with invalid path", func(t *testing.T) {
		if err := create(paths("valid-path", "invalid-path", "/mypage")); err != nil {
			t.Fatalf("create the first ingress: %v", err)
		}
		waitServed(t, "invalid-path", "/mypage")
		if err := create(paths("second-invalid-path", "invalid-path", "/etc/nginx")); err == nil {
			t.Error("an ingress with path /etc/nginx was admitted")
		}
	})
	// blocklisted sets annotation-value-word-blocklist and waits until the
	// webhook refuses an Ingress with connection-proxy-header value.
	blocklisted := func(t *testing.T, word, value string) {
		c.sub(t).setConfigMap("weir", "weir", map[string]string{"annotation-value-word-blocklist": word})
		defer c.sub(t).setConfigMap("weir", "weir", nil)
		ing := ingress("admission", "first-ingress", "blocklist.admission", "echo", map[string]string{
			"nginx.ingress.kubernetes.io/connection-proxy-header": value})
		waitFor(t, 15*time.Second, "the ingress refused", func() bool { return create(ing) != nil })
	}
	t.Run("should return an error if there is an invalid value in some annotation", func(t *testing.T) {
		blocklisted(t, "}", "a;}")
	})
	t.Run("should return an error if there is a forbidden value in some annotation", func(t *testing.T) {
		blocklisted(t, "set_by_lua", "set_by_lua")
	})
	t.Run("should return an error if there is an invalid path and wrong pathType is set", func(t *testing.T) {
		c.sub(t).setConfigMap("weir", "weir", map[string]string{"strict-validate-path-type": "true"})
		defer c.sub(t).setConfigMap("weir", "weir", nil)
		for _, pt := range []networkingv1.PathType{networkingv1.PathTypeExact, networkingv1.PathTypePrefix} {
			ing := paths("first-ingress", "path-validation", "/foo/bar/[a-z]{3}")
			ing.Spec.Rules[0].HTTP.Paths[0].PathType = &pt
			if err := create(ing); err == nil {
				t.Errorf("path /foo/bar/[a-z]{3} of type %s admitted", pt)
				_ = ings.Delete(c.ctx, ing.Name, metav1.DeleteOptions{})
			}
		}
		spec := paths("pathspec-ingress", "path-validation", "/foo/bar/[a-z]{3}")
		spec.Annotations = map[string]string{"nginx.ingress.kubernetes.io/use-regex": "true", "nginx.ingress.kubernetes.io/rewrite-target": "/new/backend"}
		spec.Spec.Rules[0].HTTP.Paths[0].PathType = ptr(networkingv1.PathTypeImplementationSpecific)
		if err := create(spec); err != nil {
			t.Errorf("a regular expression of type ImplementationSpecific: %v, want admitted", err)
		}
		if err := create(paths("second-ingress", "path-validation", "/bloblo")); err != nil {
			t.Errorf("a valid path: %v, want admitted", err)
		}
	})
	t.Run("should not return an error if the Ingress V1 definition is valid with Ingress Class", func(t *testing.T) {
		if err := create(ingress("admission", "extensions", "extensions", "echo", nil)); err != nil {
			t.Fatalf("create: %v", err)
		}
		waitServed(t, "extensions", "/")
	})
	t.Run("should not return an error if the Ingress V1 definition is valid with IngressClass annotation", func(t *testing.T) {
		ing := ingress("admission", "extensions-class", "extensions-class", "echo", map[string]string{classAnnotation: "weir"})
		ing.Spec.IngressClassName = nil
		if err := create(ing); err != nil {
			t.Fatalf("create: %v", err)
		}
		waitServed(t, "extensions-class", "/")
	})
}

// apiProxy forwards TCP connections to the API server until it is cut,
// as the kubectl proxy of ingress-nginx's status test.
type apiProxy struct {
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func newAPIProxy(t testing.TB, target string) *apiProxy {
	t.Helper()
	p := &apiProxy{target: target}
	if err := p.start(); err != nil {
		t.Fatalf("start the API proxy: %v", err)
	}
	t.Cleanup(p.cut)
	return p
}

// start listens on p.addr (a free port the first time).
func (p *apiProxy) start() error {
	addr := p.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go p.serve(ln)
	return nil
}

func (p *apiProxy) serve(ln net.Listener) {
	for {
		in, err := ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(out, in); out.Close() }()
		go func() { _, _ = io.Copy(in, out); in.Close() }()
	}
}

// cut closes the listener and every connection.
func (p *apiProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestIngressNginxStatusUpdate ports ingress-nginx's e2e
// test/e2e/status/update.go, "should update status field after client-go
// reconnection": Weir reaches the API server through a proxy that is cut;
// meanwhile the Ingress's status is cleared and the leader's Lease deleted;
// once the proxy is back, Weir writes the status again.
func TestIngressNginxStatusUpdate(t *testing.T) {
	c := newCluster(t)
	c.namespace("app")
	c.createIngress(ingress("app", "status-update", "status-update", "svc-missing", nil))
	rc := rest.CopyConfig(c.api.Config())
	target := strings.TrimPrefix(rc.Host, "https://")
	proxy := newAPIProxy(t, target)
	rc.Host = "https://" + proxy.addr
	c.startWeir(weirOptions{rest: rc, identity: "weir-status", status: &kube.StatusOptions{PublishAddresses: []string{"1.1.0.0"}}})
	waitFor(t, 15*time.Second, "the initial status", func() bool { return c.statusIPs("app", "status-update") == "1.1.0.0" })

	proxy.cut()
	ing, err := c.client.NetworkingV1().Ingresses("app").Get(c.ctx, "status-update", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ing.Status.LoadBalancer.Ingress = nil
	c.must(c.client.NetworkingV1().Ingresses("app").UpdateStatus(c.ctx, ing, metav1.UpdateOptions{}))
	if err := c.client.CoordinationV1().Leases("default").Delete(c.ctx, "weir-leader", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete the leader's lease: %v", err)
	}
	if err := proxy.start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 90*time.Second, "the status written again", func() bool { return c.statusIPs("app", "status-update") == "1.1.0.0" })
}

// TestIngressNginxDisableLeaderElection ports ingress-nginx's e2e
// test/e2e/disableleaderelection/disable_leader.go: with no leader election
// (--disable-leader-election) two Ingresses route by host and path.
func TestIngressNginxDisableLeaderElection(t *testing.T) {
	n := newNetNS(t)
	echo := n.backend(t, "echo")
	c := newCluster(t)
	c.namespace("app")
	c.service("app", "echo", echo)
	for host, path := range map[string]string{"leader.election.disabled.com": "/foo", "leader.election.disabled2.com": "/ping"} {
		ing := ingress("app", host, host, "echo", nil)
		ing.Spec.Rules[0].HTTP.Paths[0].Path = path
		c.createIngress(ing)
	}
	w := c.startWeir(weirOptions{identity: "weir-noleader", noStatus: true})
	w.waitBody("leader.election.disabled.com", "/foo", "echo /foo")
	w.waitBody("leader.election.disabled2.com", "/ping", "echo /ping")
	for _, tc := range []struct {
		host, path string
		want       int
	}{
		{"leader.election.disabled.com", "/bar", 404},
		{"leader.election.disabled2.com", "/foo", 404},
		{"leader.election.disabled2.com", "/pong", 404},
		{"leader.election.disabled.com", "/ping", 404},
	} {
		if got := w.code(tc.host, tc.path); got != tc.want {
			t.Errorf("GET %s%s: %d, want %d", tc.host, tc.path, got, tc.want)
		}
	}
	if leases, err := c.client.CoordinationV1().Leases("default").List(c.ctx, metav1.ListOptions{}); err != nil || len(leases.Items) != 0 {
		t.Errorf("leases without leader election: %v %v, want none", leases, err)
	}
}

// externalService returns a Service of type ExternalName pointing to name,
// with the given ports.
func externalService(svcName, name string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: svcName},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: name, Ports: ports}}
}

// TestIngressNginxServiceExternalName ports ingress-nginx's e2e
// test/e2e/servicebackend/service_externalname.go with external names that
// are the addresses of backends in network namespaces (port 80, as
// httpbun's). "works with external name set to incomplete fqdn" needs the
// cluster's DNS search path and is not ported.
func TestIngressNginxServiceExternalName(t *testing.T) {
	n1, n2 := newNetNS(t), newNetNS(t)
	a, b := n1.backendOn(t, "a", 80), n2.backendOn(t, "eu-server", 80)
	c := newCluster(t)
	w := c.startWeir(weirOptions{identity: "weir-externalname"})
	nsCount := 0
	// run makes a fresh namespace with an Ingress for echo to Service
	// svc, whose backend is be (nil: port 80 by number).
	run := func(t *testing.T, svc *corev1.Service, be *networkingv1.IngressServiceBackend) (*cluster, string) {
		sc := c.sub(t)
		nsCount++
		ns := fmt.Sprintf("ext-%d", nsCount)
		sc.namespace(ns)
		if svc != nil {
			sc.must(sc.client.CoreV1().Services(ns).Create(sc.ctx, svc, metav1.CreateOptions{}))
		}
		ing := ingress(ns, "echo", "echo-"+ns, "external", nil)
		if be != nil {
			ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service = be
		}
		sc.createIngress(ing)
		return sc, "echo-" + ns
	}
	port80 := corev1.ServicePort{Name: "echo", Port: 80, TargetPort: intstr.FromInt(80)}

	t.Run("should return 200 for service type=ExternalName without a port defined", func(t *testing.T) {
		w := w.sub(t)
		_, host := run(t, externalService("external", a.ip), nil)
		w.waitBody(host, "/get", "a /get")
	})
	t.Run("should return 200 for service type=ExternalName with a port defined", func(t *testing.T) {
		w := w.sub(t)
		_, host := run(t, externalService("external", a.ip, port80), nil)
		w.waitBody(host, "/get", "a /get")
	})
	t.Run("should return status 502 for service type=ExternalName with an invalid host", func(t *testing.T) {
		w := w.sub(t)
		_, host := run(t, externalService("external", "invalid.hostname"), nil)
		waitLast(t, 30*time.Second, "a 502 for an external name that does not resolve", func() (bool, string) {
			code := w.code(host, "/get")
			return code == http.StatusBadGateway, strconv.Itoa(code)
		})
	})
	t.Run("should return 200 for service type=ExternalName using a port name", func(t *testing.T) {
		w := w.sub(t)
		_, host := run(t, externalService("external", a.ip, port80),
			&networkingv1.IngressServiceBackend{Name: "external", Port: networkingv1.ServiceBackendPort{Name: "echo"}})
		w.waitBody(host, "/get", "a /get")
	})
	t.Run("should return 200 for service type=ExternalName using FQDN with trailing dot", func(t *testing.T) {
		w := w.sub(t)
		_, host := run(t, externalService("external", a.ip+"."), nil)
		w.waitBody(host, "/get", "a /get")
	})
	t.Run("should update the external name after a service update", func(t *testing.T) {
		w := w.sub(t)
		sc, host := run(t, externalService("external", a.ip, port80),
			&networkingv1.IngressServiceBackend{Name: "external", Port: networkingv1.ServiceBackendPort{Name: "echo"}})
		w.waitBody(host, "/get", "a /get")
		ns := strings.TrimPrefix(host, "echo-")
		svc, err := sc.client.CoreV1().Services(ns).Get(sc.ctx, "external", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		svc.Spec.ExternalName = b.ip
		sc.must(sc.client.CoreV1().Services(ns).Update(sc.ctx, svc, metav1.UpdateOptions{}))
		w.waitBody(host, "/get", "eu-server /get")
	})
	t.Run("should sync ingress on external name service addition/deletion", func(t *testing.T) {
		w := w.sub(t)
		sc, host := run(t, nil, nil)
		ns := strings.TrimPrefix(host, "echo-")
		w.waitCode(host, "/get", http.StatusServiceUnavailable)
		sc.must(sc.client.CoreV1().Services(ns).Create(sc.ctx, externalService("external", a.ip, port80), metav1.CreateOptions{}))
		w.waitBody(host, "/get", "a /get")
		if err := sc.client.CoreV1().Services(ns).Delete(sc.ctx, "external", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		w.waitCode(host, "/get", http.StatusServiceUnavailable)
	})
}

// httpsGet sends GET https://host/ to Weir with SNI serverName, not
// verifying the certificate, and returns the status and the first DNS name
// of the certificate served.
func (w *weir) httpsGet(serverName, host string) (int, string, error) {
	tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: serverName, InsecureSkipVerify: true}, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, "https://"+w.d.HTTPSAddr()+"/", nil)
	req.Host = host
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if len(resp.TLS.PeerCertificates) == 0 || len(resp.TLS.PeerCertificates[0].DNSNames) == 0 {
		return resp.StatusCode, "", errors.New("no certificate with a DNS name")
	}
	return resp.StatusCode, resp.TLS.PeerCertificates[0].DNSNames[0], nil
}

// waitHTTPS waits until an HTTPS request for host with SNI serverName
// answers 200 with a certificate for dnsName, as ingress-nginx's
// ensureHTTPSRequest checks it.
func (w *weir) waitHTTPS(serverName, host, dnsName string) {
	w.t.Helper()
	waitLast(w.t, 15*time.Second, fmt.Sprintf("https %s (SNI %s) to answer 200 with %s's certificate", host, serverName, dnsName), func() (bool, string) {
		code, name, err := w.httpsGet(serverName, host)
		return err == nil && code == 200 && name == dnsName, fmt.Sprintf("%d %s %v", code, name, err)
	})
}

// TestIngressNginxDynamicCertificates ports ingress-nginx's e2e
// test/e2e/lua/dynamic_certificates.go: what a client sees as the TLS
// Secret and spec.tls of an Ingress come and go. "picks up the updated
// certificate without reloading" is TestCertificateRenewalIsLive; the
// default certificate is for ingress.local, as ingress-nginx's.
func TestIngressNginxDynamicCertificates(t *testing.T) {
	n := newNetNS(t)
	echo := n.backend(t, "echo")
	c := newCluster(t)
	ca := certstest.NewCA(t)
	w := c.startWeir(weirOptions{identity: "weir-certs"})
	nsCount := 0
	run := func(t *testing.T) (*cluster, string) {
		sc := c.sub(t)
		nsCount++
		ns := fmt.Sprintf("certs-%d", nsCount)
		sc.namespace(ns)
		sc.service(ns, "echo", echo)
		return sc, ns
	}
	createSecret := func(sc *cluster, ns, host string) {
		crt, key := ca.Issue(t, host)
		sc.must(sc.client.CoreV1().Secrets(ns).Create(sc.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: host}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key}}, metav1.CreateOptions{}))
	}
	tlsIngress := func(ns, host string) *networkingv1.Ingress {
		ing := ingress(ns, host, host, "echo", nil)
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{host}, SecretName: host}}
		return ing
	}
	// withTLS is the BeforeEach of "given an ingress with TLS correctly
	// configured": the Ingress first, served with the default certificate
	// until its Secret exists.
	withTLS := func(t *testing.T, host string) (*cluster, string) {
		sc, ns := run(t)
		sc.createIngress(tlsIngress(ns, host))
		w := w.sub(t)
		w.waitHTTPS(host, host, "ingress.local")
		createSecret(sc, ns, host)
		w.waitHTTPS(host, host, host)
		return sc, ns
	}

	t.Run("picks up the certificate when we add TLS spec to existing ingress", func(t *testing.T) {
		w := w.sub(t)
		sc, ns := run(t)
		host := "add.foo.com"
		sc.createIngress(ingress(ns, host, host, "echo", nil))
		w.waitBody(host, "/", "echo /")
		createSecret(sc, ns, host)
		sc.updateIngress(ns, host, func(ing *networkingv1.Ingress) {
			ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{host}, SecretName: host}}
		})
		w.waitHTTPS(host, host, host)
	})
	t.Run("picks up the previously missing secret for a given ingress without reloading", func(t *testing.T) {
		withTLS(t, "missing.foo.com")
	})
	t.Run("supports requests with domain with trailing dot", func(t *testing.T) {
		w := w.sub(t)
		host := "dot.foo.com"
		withTLS(t, host)
		// Go's client sends the SNI without the dot (RFC 6066); the Host
		// header keeps it.
		w.waitHTTPS(host+".", host+".", host)
	})
	t.Run("falls back to using default certificate when secret gets deleted without reloading", func(t *testing.T) {
		w := w.sub(t)
		host := "deleted.foo.com"
		sc, ns := withTLS(t, host)
		if err := sc.client.CoreV1().Secrets(ns).Delete(sc.ctx, host, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		w.waitHTTPS(host, host, "ingress.local")
	})
	t.Run("picks up a non-certificate only change", func(t *testing.T) {
		w := w.sub(t)
		host := "change.foo.com"
		sc, ns := withTLS(t, host)
		newHost := "change.foo2.com"
		sc.updateIngress(ns, host, func(ing *networkingv1.Ingress) { ing.Spec.Rules[0].Host = newHost })
		w.waitHTTPS(newHost, newHost, "ingress.local")
	})
	t.Run("removes HTTPS configuration when we delete TLS spec", func(t *testing.T) {
		w := w.sub(t)
		host := "remove.foo.com"
		sc, ns := withTLS(t, host)
		// With spec.tls, plain HTTP is redirected (ssl-redirect).
		noFollow := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		req, _ := http.NewRequest(http.MethodGet, "http://"+w.d.HTTPAddr()+"/", nil)
		req.Host = host
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatalf("GET http://%s/: %v", host, err)
		}
		resp.Body.Close()
		// ingress-nginx's Lua drops the trailing slash
		// (preserve-trailing-slash false).
		if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != "https://"+host {
			t.Errorf("GET http://%s/ with spec.tls: %d to %q, want 308 to https", host, resp.StatusCode, resp.Header.Get("Location"))
		}
		sc.updateIngress(ns, host, func(ing *networkingv1.Ingress) { ing.Spec.TLS = nil })
		w.waitBody(host, "/", "echo /")
	})
}

// TestIngressNginxDynamicConfiguration ports ingress-nginx's e2e
// test/e2e/lua/dynamic_configuration.go: endpoint-only changes and an
// annotation change are live, with no failed request in between.
// "configures balancer Lua middleware correctly" is nginx.conf text only.
func TestIngressNginxDynamicConfiguration(t *testing.T) {
	n1, n2 := newNetNS(t), newNetNS(t)
	// Two replicas of one Deployment: the same port, two addresses.
	r1, r2 := n1.backendOn(t, "echo", 8080), n2.backendOn(t, "echo", 8080)
	c := newCluster(t)
	c.namespace("app")
	c.service("app", "echo", r1)
	lb := map[string]string{"nginx.ingress.kubernetes.io/load-balance": "ewma"}
	c.createIngress(ingress("app", "foo.com", "foo.com", "echo", lb))
	w := c.startWeir(weirOptions{identity: "weir-dynamic"})
	w.waitBody("foo.com", "/", "echo /")

	t.Run("handles endpoints only changes", func(t *testing.T) {
		w := w.sub(t)
		c.sub(t).setSlice("app", "echo", r1, r2)
		waitFor(t, 15*time.Second, "both replicas to serve", func() bool {
			before := r2.hits.Load()
			return w.code("foo.com", "/") == 200 && w.code("foo.com", "/") == 200 && r2.hits.Load() > before
		})
	})
	t.Run("handles endpoints only changes (down scaling of replicas)", func(t *testing.T) {
		w := w.sub(t)
		sc := c.sub(t)
		sc.setSlice("app", "echo", r1, r2)
		w.waitBody("foo.com", "/", "echo /")
		sc.setSlice("app", "echo")
		w.waitCode("foo.com", "/", http.StatusServiceUnavailable)
		sc.setSlice("app", "echo", r1)
		w.waitBody("foo.com", "/", "echo /")
	})
	t.Run("handles endpoints only changes consistently (down scaling of replicas vs. empty service)", func(t *testing.T) {
		w := w.sub(t)
		sc := c.sub(t)
		sc.service("app", "scalingecho")
		sc.createIngress(ingress("app", "scaling.foo.com", "scaling.foo.com", "scalingecho", lb))
		w.waitCode("scaling.foo.com", "/", http.StatusServiceUnavailable)
		sc.setSlice("app", "scalingecho", r1, r2)
		w.waitBody("scaling.foo.com", "/", "echo /")
		sc.setSlice("app", "scalingecho")
		w.waitCode("scaling.foo.com", "/", http.StatusServiceUnavailable)
	})
	t.Run("handles an annotation change", func(t *testing.T) {
		w := w.sub(t)
		sc := c.sub(t)
		stop := make(chan struct{})
		failed := make(chan string, 1)
		go func() {
			defer close(failed)
			for i := 0; i < 2000; i++ { // bounded
				select {
				case <-stop:
					return
				default:
				}
				if code, body, err := w.get("foo.com", "/"); err != nil || code != 200 {
					failed <- fmt.Sprintf("%d %q %v", code, body, err)
					return
				}
			}
		}()
		v := w.d.LiveVersion()
		sc.updateIngress("app", "foo.com", func(ing *networkingv1.Ingress) {
			ing.Annotations["nginx.ingress.kubernetes.io/load-balance"] = "round_robin"
		})
		waitFor(t, 15*time.Second, "the change live", func() bool { return w.d.LiveVersion() > v })
		w.waitBody("foo.com", "/", "echo /")
		close(stop)
		if f, ok := <-failed; ok {
			t.Errorf("a request failed across the annotation change: %s", f)
		}
	})
}

// TestIngressNginxConfigMapChange ports ingress-nginx's e2e
// test/e2e/settings/configmap_change.go: an edit of the controller's
// ConfigMap is live (whitelist-source-range 1.1.1.1 refuses this client),
// and a second one is built too. The reload and its checksum are nginx's.
func TestIngressNginxConfigMapChange(t *testing.T) {
	n := newNetNS(t)
	echo := n.backend(t, "echo")
	c := newCluster(t)
	c.namespace("app")
	c.namespace("weir")
	c.service("app", "echo", echo)
	c.setConfigMap("weir", "weir", nil)
	c.createIngress(ingress("app", "configmap-change", "configmap-change", "echo", nil))
	w := c.startWeir(weirOptions{identity: "weir-cm", configMap: "weir/weir"})
	w.waitBody("configmap-change", "/", "echo /")
	c.setConfigMap("weir", "weir", map[string]string{"whitelist-source-range": "1.1.1.1"})
	w.waitCode("configmap-change", "/", http.StatusForbidden)
	// error-log-level is nginx's: Weir's build is the same, and dropped.
	builds := func() (n int) {
		for _, l := range strings.Split(w.metrics(), "\n") {
			if strings.HasPrefix(l, "weir_config_builds_total{") {
				v, _ := strconv.Atoi(l[strings.LastIndexByte(l, ' ')+1:])
				n += v
			}
		}
		return n
	}
	before := builds()
	c.setConfigMap("weir", "weir", map[string]string{"whitelist-source-range": "1.1.1.1", "error-log-level": "debug"})
	waitFor(t, 15*time.Second, "a build after the second change", func() bool { return builds() > before })
	if got := w.code("configmap-change", "/"); got != http.StatusForbidden {
		t.Errorf("GET after the second change: %d, want 403", got)
	}
}

// streamGet sends an HTTP request through the TCP port and returns what
// came back.
func streamGet(port int) string {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
	if err != nil {
		return err.Error()
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c, "GET /stream HTTP/1.1\r\nHost: any\r\nConnection: close\r\n\r\n")
	got, _ := io.ReadAll(c)
	return string(got)
}

// TestIngressNginxTCP ports ingress-nginx's e2e test/e2e/tcpudp/tcp.go
// (--tcp-services-configmap). "should expose a TCP service" is
// TestClusterStreams; the ExternalName Service points to a backend's
// address instead of Google's DNS server.
func TestIngressNginxTCP(t *testing.T) {
	n1, n2 := newNetNS(t), newNetNS(t)
	first, second := n1.backendOn(t, "first-service", 80), n2.backendOn(t, "second-service", 80)
	c := newCluster(t)
	c.namespace("tcp")
	c.service("tcp", "first-service", first)
	c.service("tcp", "second-service", second)
	c.must(c.client.CoreV1().Services("tcp").Create(c.ctx, externalService("dns-external-name-svc", first.ip,
		corev1.ServicePort{Name: "dns-external-name-svc", Port: 5353, TargetPort: intstr.FromInt(80)}), metav1.CreateOptions{}))
	c.setConfigMap("tcp", "tcp-services", nil)
	c.startWeir(weirOptions{identity: "weir-tcp", tcpServices: "tcp/tcp-services"})
	answers := func(t *testing.T, port int, name string) {
		t.Helper()
		waitLast(t, 20*time.Second, fmt.Sprintf("port %d forwarding to %s", port, name), func() (bool, string) {
			got := streamGet(port)
			return strings.HasPrefix(got, "HTTP/1.1 200") && strings.HasSuffix(got, name+" /stream"), got
		})
	}

	t.Run("should expose an ExternalName TCP service", func(t *testing.T) {
		port := freeTCPPort(t)
		c.sub(t).setConfigMap("tcp", "tcp-services", map[string]string{strconv.Itoa(port): "tcp/dns-external-name-svc:5353"})
		answers(t, port, "first-service")
	})
	t.Run("should reload after an update in the configuration", func(t *testing.T) {
		sc, port := c.sub(t), freeTCPPort(t)
		sc.setConfigMap("tcp", "tcp-services", map[string]string{strconv.Itoa(port): "tcp/first-service:80"})
		answers(t, port, "first-service")
		sc.setConfigMap("tcp", "tcp-services", map[string]string{strconv.Itoa(port): "tcp/second-service:80"})
		answers(t, port, "second-service")
	})
}

package controller

import (
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weir-lb/weir/userspace/snapshot"
)

type recorder struct {
	got []*snapshot.Snapshot
	err error
}

func (r *recorder) Apply(s *snapshot.Snapshot) error {
	r.got = append(r.got, s)
	return r.err
}

func objects(hosts ...string) snapshot.Objects {
	class := "weir"
	prefix := networkingv1.PathTypePrefix
	objs := snapshot.Objects{IngressClasses: []*networkingv1.IngressClass{{
		ObjectMeta: metav1.ObjectMeta{Name: "weir"},
		Spec:       networkingv1.IngressClassSpec{Controller: "weir-lb.dev/ingress-controller"},
	}}}
	for _, h := range hosts {
		objs.Ingresses = append(objs.Ingresses, &networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Name: h, Namespace: "ns-" + h},
			Spec: networkingv1.IngressSpec{
				IngressClassName: &class,
				Rules: []networkingv1.IngressRule{{Host: h, IngressRuleValue: networkingv1.IngressRuleValue{
					HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
						Path: "/", PathType: &prefix,
						Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
							Name: "svc", Port: networkingv1.ServiceBackendPort{Number: 80},
						}},
					}}},
				}}},
			},
		})
	}
	return objs
}

func TestSyncVersionsAndDropsUnchanged(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	rec := &recorder{}
	c := New(Options{Build: snapshot.DefaultOptions(), Registry: reg,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, rec)

	s1, changed := c.Sync(objects("a.test"), nil)
	if !changed || s1.Version != 1 {
		t.Fatalf("first sync: changed=%v version=%d, want true 1", changed, s1.Version)
	}
	if _, changed := c.Sync(objects("a.test"), nil); changed {
		t.Fatalf("identical objects: changed=true, want the build dropped")
	}
	s2, changed := c.Sync(objects("a.test", "b.test"), []error{errors.New("x.yaml: broken")})
	if !changed || s2.Version != 2 {
		t.Fatalf("new host: changed=%v version=%d, want true 2", changed, s2.Version)
	}
	if len(rec.got) != 2 || rec.got[1] != s2 || c.Live() != s2 {
		t.Fatalf("publisher got %d snapshots, want 2 with the live one last", len(rec.got))
	}
	if v := testutil.ToFloat64(c.mVersion); v != 2 {
		t.Errorf("weir_config_version = %v, want 2", v)
	}
	if v := testutil.ToFloat64(c.mProblems); v != 1 {
		t.Errorf("weir_source_problems = %v, want 1", v)
	}
	if v := testutil.ToFloat64(c.mBuilds.WithLabelValues("unchanged", "full")); v != 1 {
		t.Errorf("unchanged builds = %v, want 1", v)
	}
}

func TestUnchangedSyncCarriesNewWarnings(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	c := New(Options{Build: snapshot.DefaultOptions(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, rec)
	s1, _ := c.Sync(objects("a.test"), nil)
	reasons := func(s *snapshot.Snapshot) []string {
		var out []string
		for _, w := range s.Warnings {
			out = append(out, w.Reason)
		}
		return out
	}
	if diff := cmp.Diff([]string{snapshot.ReasonServiceNotFound}, reasons(s1)); diff != "" {
		t.Fatalf("first sync warnings (-want +got):\n%s", diff)
	}

	// An unsupported annotation adds a warning but changes no route.
	objs := objects("a.test")
	objs.Ingresses[0].Annotations = map[string]string{"nginx.ingress.kubernetes.io/no-such-annotation": "x"}
	s2, changed := c.Sync(objs, nil)
	if changed {
		t.Fatalf("changed=true, want the same routes dropped")
	}
	want := []string{snapshot.ReasonUnsupportedAnnotation, snapshot.ReasonServiceNotFound} // sorted by message
	if diff := cmp.Diff(want, reasons(s2)); diff != "" {
		t.Errorf("unchanged sync warnings (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, reasons(c.Live())); diff != "" {
		t.Errorf("Live() warnings (-want +got):\n%s", diff)
	}
	if s2.Version != 1 || s2.Hash != s1.Hash || len(rec.got) != 1 {
		t.Errorf("version %d hash %s, %d publishes; want version 1, hash %s, 1 publish", s2.Version, s2.Hash, len(rec.got), s1.Hash)
	}
	if len(s1.Warnings) != 1 {
		t.Errorf("the first Snapshot was modified: %d warnings, want 1", len(s1.Warnings))
	}

	// Back to the first objects: the warning goes away again.
	s3, _ := c.Sync(objects("a.test"), nil)
	if diff := cmp.Diff([]string{snapshot.ReasonServiceNotFound}, reasons(s3)); diff != "" {
		t.Errorf("third sync warnings (-want +got):\n%s", diff)
	}
}

func TestPublisherErrorDoesNotStopOthers(t *testing.T) {
	t.Parallel()
	bad, good := &recorder{err: errors.New("refused")}, &recorder{}
	c := New(Options{Build: snapshot.DefaultOptions(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, bad, good)
	c.Sync(objects("a.test"), nil)
	if len(good.got) != 1 || c.Live() == nil {
		t.Fatalf("good publisher got %d snapshots, live=%v; want 1 and a live snapshot", len(good.got), c.Live())
	}
}

func TestWatchNamespace(t *testing.T) {
	t.Parallel()
	c := New(Options{Build: snapshot.DefaultOptions(), WatchNamespace: "ns-b.test",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	s, _ := c.Sync(objects("a.test", "b.test"), nil)
	var hosts []string
	for _, srv := range s.Servers {
		hosts = append(hosts, srv.Host)
	}
	if len(hosts) != 1 || hosts[0] != "b.test" {
		t.Fatalf("servers %v, want only b.test from the watched namespace", hosts)
	}
}

func TestWatchNamespaceKeepsDefaultCertificate(t *testing.T) {
	t.Parallel()
	opts := snapshot.DefaultOptions()
	opts.DefaultSSLCertificate = "weir/default-cert"
	c := New(Options{Build: opts, WatchNamespace: "ns-b.test", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	objs := objects("b.test")
	objs.Secrets = []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "weir", Name: "default-cert"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "x"}},
	}
	got := c.filter(objs).Secrets
	if len(got) != 1 || got[0].Name != "default-cert" {
		t.Fatalf("filtered secrets %v, want only weir/default-cert", got)
	}
}

// TestReloadMetrics checks ingress-nginx's reload figures: a publish every
// publisher takes is a successful reload (success counts it, the hash and
// the timestamp are set); one a publisher refuses is an error, and
// last_reload_successful and config_hash drop to 0; an unchanged build is
// no reload.
func TestReloadMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	rec := &recorder{}
	c := New(Options{Build: snapshot.DefaultOptions(), Registry: reg,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, rec)
	s, _ := c.Sync(objects("a.test"), nil)
	c.Sync(objects("a.test"), nil)
	if got, want := testutil.ToFloat64(c.mReloads), 1.0; got != want {
		t.Errorf("success = %v, want %v", got, want)
	}
	if got := testutil.ToFloat64(c.mReloadOK); got != 1 {
		t.Errorf("config_last_reload_successful = %v, want 1", got)
	}
	if got, want := testutil.ToFloat64(c.mHash), float64(hashNumber(s.Hash)); got != want || got == 0 {
		t.Errorf("config_hash = %v, want %v (of %s)", got, want, s.Hash)
	}
	if got := testutil.ToFloat64(c.mReloadTime); got < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("config_last_reload_successful_timestamp_seconds = %v, want about now", got)
	}
	rec.err = errors.New("refused")
	c.Sync(objects("a.test", "b.test"), nil)
	if got := testutil.ToFloat64(c.mReloadFails); got != 1 {
		t.Errorf("errors = %v, want 1", got)
	}
	if ok, hash := testutil.ToFloat64(c.mReloadOK), testutil.ToFloat64(c.mHash); ok != 0 || hash != 0 {
		t.Errorf("after a refused publish: config_last_reload_successful = %v, config_hash = %v, want 0 and 0", ok, hash)
	}
	if got := testutil.ToFloat64(c.mReloads); got != 1 {
		t.Errorf("success = %v after a refused publish, want still 1", got)
	}
}

func TestHashNumber(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]uint64{"fffffffffffff0123": 1<<52 - 1, "0000000000001": 1, "hash-other": 0, "": 0} {
		if got := hashNumber(in); got != want {
			t.Errorf("hashNumber(%q) = %d, want %d", in, got, want)
		}
	}
}

// TestOrphanIngress: an Ingress whose Service is missing is orphan_ingress
// type no-service, set back to 0 once no build reports it.
func TestOrphanIngress(t *testing.T) {
	t.Parallel()
	c := New(Options{Build: snapshot.DefaultOptions(), Registry: prometheus.NewRegistry(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	c.Sync(objects("a.test"), nil)
	orphan := c.mOrphans.WithLabelValues("ns-a.test", "a.test", "no-service")
	if got := testutil.ToFloat64(orphan); got != 1 {
		t.Errorf("orphan_ingress{a.test, no-service} = %v, want 1", got)
	}
	c.Sync(objects(), nil)
	if got := testutil.ToFloat64(orphan); got != 0 {
		t.Errorf("orphan_ingress{a.test, no-service} = %v once the Ingress went, want 0", got)
	}
	if n := testutil.CollectAndCount(c.mOrphans); n != 1 {
		t.Errorf("%d orphan_ingress series, want 1", n)
	}
}

package proxy

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/weir-lb/weir/userspace/snapshot"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	up := named(t, "a")
	reg := prometheus.NewRegistry()
	s := &snapshot.Snapshot{Version: 4, Servers: []snapshot.Server{
		{Host: "*.foo.com", Paths: []snapshot.Path{
			{Path: "/api", Match: snapshot.MatchPrefix, Backend: backendOf("a", []string{addr(up)})},
			{Path: "/dead", Match: snapshot.MatchPrefix, Backend: backendOf("dead", []string{refusedAddr(t)})},
		}},
	}}
	p, srv := front(t, Options{Registry: reg}, s)
	c := client(t)
	for _, path := range []string{"/api/1", "/api/2", "/api/3"} {
		get(t, c, srv, "x.foo.com", path)
	}
	get(t, c, srv, "x.foo.com", "/dead")
	get(t, c, srv, "nope.com", "/")
	do(t, c, srv, "BREW", "x.foo.com", "/api", nil)

	m := p.metrics
	want := []struct {
		labels []string
		n      float64
	}{
		{[]string{"ing-a", "ns", "a", "200", "GET", "/api", "*.foo.com", ""}, 3},
		{[]string{"ing-dead", "ns", "dead", "502", "GET", "/dead", "*.foo.com", ""}, 1},
		{[]string{"", "", "", "404", "GET", "", "", ""}, 1},
		{[]string{"ing-a", "ns", "a", "200", "OTHER", "/api", "*.foo.com", ""}, 1},
	}
	// A request is counted after its response is written: wait for all.
	waitFor(t, "six requests counted", func() bool {
		for _, w := range want {
			if testutil.ToFloat64(m.requests.WithLabelValues(w.labels...)) != w.n {
				return false
			}
		}
		return testutil.CollectAndCount(m.requests) == len(want)
	})
	if got := testutil.ToFloat64(m.version); got != 4 {
		t.Errorf("weir_config_version_live = %v, want 4", got)
	}
	if got := testutil.ToFloat64(m.upstreamErrors.WithLabelValues(reasonConnectRefused)); got != 1 {
		t.Errorf("weir_upstream_errors_total{reason=connect_refused} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.upstreamErrors.WithLabelValues(reasonReadTimeout)); got != 0 {
		t.Errorf("weir_upstream_errors_total{reason=read_timeout} = %v, want 0", got)
	}

	// The registry carries ingress-nginx's names.
	names := map[string]bool{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{
		"nginx_ingress_controller_requests",
		"nginx_ingress_controller_request_duration_seconds",
		"nginx_ingress_controller_response_size",
		"weir_config_version_live",
		"weir_upstream_errors_total",
	} {
		if !names[n] {
			t.Errorf("registry lacks %s (has %v)", n, names)
		}
	}
	if n := testutil.CollectAndCount(m.duration); n != 4 {
		t.Errorf("duration histogram has %d series, want 4", n)
	}
	lint, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range lint {
		// ingress-nginx's names are kept on purpose, units and all.
		if !strings.Contains(p.Metric, "nginx_ingress_controller") {
			t.Errorf("lint %s: %s", p.Metric, p.Text)
		}
	}
}

func TestMetricsDuplicateRegistryPanics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	New(Options{Registry: reg})
	defer func() {
		if recover() == nil {
			t.Error("second New on the same registry did not panic")
		}
	}()
	New(Options{Registry: reg})
}

func TestMethodLabel(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"GET": "GET", "PATCH": "PATCH", "get": "OTHER", "BREW": "OTHER"} {
		if got := methodLabel(in); got != want {
			t.Errorf("methodLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

package nginxmetrics

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// workers is a Gatherer of two workers' registries, each metric labelled
// worker="<n>" as the supervisor's gathering does.
func workers(tb testing.TB) prometheus.Gatherers {
	tb.Helper()
	var gs prometheus.Gatherers
	for i, n := range []float64{2, 3} {
		reg := prometheus.NewRegistry()
		w := prometheus.WrapRegistererWith(prometheus.Labels{"worker": string(rune('0' + i))}, reg)
		conns := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: summed + "connections", Help: "h"}, []string{"state"})
		conns.WithLabelValues("active").Set(n)
		reqs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: Prefix + "requests", Help: "h"}, []string{"status"})
		reqs.WithLabelValues("200").Add(n)
		ssl := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: Prefix + "ssl_expire_time_seconds", Help: "h"}, []string{"host"})
		ssl.WithLabelValues("a.test").Set(1)
		own := prometheus.NewGauge(prometheus.GaugeOpts{Name: "weir_own", Help: "h"})
		w.MustRegister(conns, reqs, ssl, own)
		gs = append(gs, reg)
	}
	return gs
}

func TestGatherer(t *testing.T) {
	t.Parallel()
	g := Gatherer(workers(t), Identity{Namespace: "ingress", Class: "k8s.io/ingress-nginx", Pod: "ctl-0"}, DefaultOptions())
	want := `
# HELP nginx_ingress_controller_nginx_process_connections h
# TYPE nginx_ingress_controller_nginx_process_connections gauge
nginx_ingress_controller_nginx_process_connections{controller_class="k8s.io/ingress-nginx",controller_namespace="ingress",controller_pod="ctl-0",state="active"} 5
# HELP nginx_ingress_controller_requests h
# TYPE nginx_ingress_controller_requests counter
nginx_ingress_controller_requests{controller_class="k8s.io/ingress-nginx",controller_namespace="ingress",controller_pod="ctl-0",status="200",worker="0"} 2
nginx_ingress_controller_requests{controller_class="k8s.io/ingress-nginx",controller_namespace="ingress",controller_pod="ctl-0",status="200",worker="1"} 3
# HELP nginx_ingress_controller_ssl_expire_time_seconds h
# TYPE nginx_ingress_controller_ssl_expire_time_seconds gauge
nginx_ingress_controller_ssl_expire_time_seconds{class="k8s.io/ingress-nginx",host="a.test",worker="0"} 1
nginx_ingress_controller_ssl_expire_time_seconds{class="k8s.io/ingress-nginx",host="a.test",worker="1"} 1
# HELP weir_own h
# TYPE weir_own gauge
weir_own{worker="0"} 0
weir_own{worker="1"} 0
`
	if err := testutil.GatherAndCompare(g, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

func TestIdentityFromEnv(t *testing.T) {
	t.Setenv("POD_NAMESPACE", "")
	t.Setenv("POD_NAME", "weir-abc")
	if got, want := IdentityFromEnv("c"), (Identity{Namespace: "default", Class: "c", Pod: "weir-abc"}); got != want {
		t.Errorf("IdentityFromEnv = %+v, want %+v", got, want)
	}
}

// TestProcessCollector reads this test process as a worker, twice: the
// figures of two processes are the sums.
func TestProcessCollector(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewProcessCollector(func() []int { return []int{os.Getpid(), os.Getpid(), 1 << 30} }))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		m := mf.Metric[0]
		got[strings.TrimPrefix(mf.GetName(), summed)] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
	}
	if got["num_procs"] != 2 {
		t.Errorf("num_procs = %v, want 2 (the third process does not exist)", got["num_procs"])
	}
	if got["resident_memory_bytes"] < 1<<20 || got["virtual_memory_bytes"] < got["resident_memory_bytes"] {
		t.Errorf("resident_memory_bytes = %v, virtual_memory_bytes = %v: want at least 1 MiB, virtual above resident",
			got["resident_memory_bytes"], got["virtual_memory_bytes"])
	}
	start := time.Unix(int64(got["oldest_start_time_seconds"]), 0)
	if since := time.Since(start); since < 0 || since > time.Hour {
		t.Errorf("oldest_start_time_seconds = %v, want this test's start", start)
	}
	for _, n := range []string{"cpu_seconds_total", "read_bytes_total", "write_bytes_total"} {
		if _, ok := got[n]; !ok || got[n] < 0 {
			t.Errorf("%s = %v, %v", n, got[n], ok)
		}
	}
}

func TestBuildInfoAndLeaderElection(t *testing.T) {
	t.Parallel()
	if err := testutil.CollectAndCompare(NewLeaderElection("weir-leader", func() bool { return true }), strings.NewReader(`
# HELP nginx_ingress_controller_leader_election_status Gauge reporting status of the leader election, 0 indicates follower, 1 indicates leader. 'name' is the string used to identify the lease.
# TYPE nginx_ingress_controller_leader_election_status gauge
nginx_ingress_controller_leader_election_status{name="weir-leader"} 1
`)); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(NewBuildInfo(), Prefix+"build_info"); n != 1 {
		t.Errorf("build_info has %d series, want 1", n)
	}
}

// requestFamilies is a registry with ingress-nginx's requests counter and
// request_duration_seconds histogram for a defined host, the any-host
// server (""), a wildcard, and two statuses of one class.
func requestFamilies(tb testing.TB) *prometheus.Registry {
	tb.Helper()
	reg := prometheus.NewRegistry()
	labels := []string{"status", "host"}
	reqs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: Prefix + "requests", Help: "h"}, labels)
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: Prefix + "request_duration_seconds", Help: "h", Buckets: []float64{1}}, labels)
	hdr := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: Prefix + "header_duration_seconds", Help: "h", Buckets: []float64{1}}, labels)
	for _, s := range []struct {
		status, host string
		n            int
	}{{"200", "a.test", 1}, {"201", "a.test", 2}, {"404", "", 4}, {"200", "*.w.test", 8}} {
		reqs.WithLabelValues(s.status, s.host).Add(float64(s.n))
		for range s.n {
			dur.WithLabelValues(s.status, s.host).Observe(0.5)
			hdr.WithLabelValues(s.status, s.host).Observe(0.5)
		}
	}
	reg.MustRegister(reqs, dur, hdr)
	return reg
}

// TestRequestMetricsOptions: --metrics-per-host (default true) keeps the
// host label, false drops it and adds up the series; --report-status-classes reports 2xx; --exclude-socket-metrics
// drops families, with or without the prefix.
func TestRequestMetricsOptions(t *testing.T) {
	t.Parallel()
	id := Identity{Namespace: "ns", Class: "c", Pod: "p"}
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{{
		name: "defaults, exclusions",
		opts: Options{PerHost: true, Exclude: []string{"request_duration_seconds", "nginx_ingress_controller_header_duration_seconds"}},
		want: `
# HELP nginx_ingress_controller_requests h
# TYPE nginx_ingress_controller_requests counter
nginx_ingress_controller_requests{controller_class="c",controller_namespace="ns",controller_pod="p",host="",status="404"} 4
nginx_ingress_controller_requests{controller_class="c",controller_namespace="ns",controller_pod="p",host="*.w.test",status="200"} 8
nginx_ingress_controller_requests{controller_class="c",controller_namespace="ns",controller_pod="p",host="a.test",status="200"} 1
nginx_ingress_controller_requests{controller_class="c",controller_namespace="ns",controller_pod="p",host="a.test",status="201"} 2
`,
	}, {
		name: "no host label, status classes",
		opts: Options{StatusClasses: true},
		want: `
# HELP nginx_ingress_controller_requests h
# TYPE nginx_ingress_controller_requests counter
nginx_ingress_controller_requests{controller_class="c",controller_namespace="ns",controller_pod="p",status="2xx"} 11
nginx_ingress_controller_requests{controller_class="c",controller_namespace="ns",controller_pod="p",status="4xx"} 4
# HELP nginx_ingress_controller_request_duration_seconds h
# TYPE nginx_ingress_controller_request_duration_seconds histogram
nginx_ingress_controller_request_duration_seconds_bucket{controller_class="c",controller_namespace="ns",controller_pod="p",status="2xx",le="1"} 11
nginx_ingress_controller_request_duration_seconds_bucket{controller_class="c",controller_namespace="ns",controller_pod="p",status="2xx",le="+Inf"} 11
nginx_ingress_controller_request_duration_seconds_sum{controller_class="c",controller_namespace="ns",controller_pod="p",status="2xx"} 5.5
nginx_ingress_controller_request_duration_seconds_count{controller_class="c",controller_namespace="ns",controller_pod="p",status="2xx"} 11
nginx_ingress_controller_request_duration_seconds_bucket{controller_class="c",controller_namespace="ns",controller_pod="p",status="4xx",le="1"} 4
nginx_ingress_controller_request_duration_seconds_bucket{controller_class="c",controller_namespace="ns",controller_pod="p",status="4xx",le="+Inf"} 4
nginx_ingress_controller_request_duration_seconds_sum{controller_class="c",controller_namespace="ns",controller_pod="p",status="4xx"} 2
nginx_ingress_controller_request_duration_seconds_count{controller_class="c",controller_namespace="ns",controller_pod="p",status="4xx"} 4
`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			g := Gatherer(requestFamilies(t), id, tc.opts)
			names := []string{Prefix + "requests"}
			if tc.name == "no host label, status classes" {
				names = append(names, Prefix+"request_duration_seconds")
			}
			if err := testutil.GatherAndCompare(g, strings.NewReader(tc.want), names...); err != nil {
				t.Error(err)
			}
			if tc.opts.Exclude != nil {
				mfs, err := g.Gather()
				if err != nil {
					t.Fatal(err)
				}
				for _, mf := range mfs {
					if n := mf.GetName(); n == Prefix+"request_duration_seconds" || n == Prefix+"header_duration_seconds" {
						t.Errorf("excluded family %s exported", n)
					}
				}
			}
		})
	}
}

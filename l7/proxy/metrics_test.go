package proxy

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/weir-lb/weir/l7/h1server"
	"github.com/weir-lb/weir/l7/h1server/h1servertest"

	"github.com/weir-lb/weir/l7/router"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// TestMetrics counts every request (CountUndefinedHosts, as
// --metrics-per-undefined-host): the host label is the request's host.
func TestMetrics(t *testing.T) {
	t.Parallel()
	up := named(t, "a")
	reg := prometheus.NewRegistry()
	s := &snapshot.Snapshot{Version: 4, Servers: []snapshot.Server{
		{Host: "*.foo.com", Paths: []snapshot.Path{
			{Path: "/api", Match: snapshot.MatchPrefix, Backend: backendOf("a", []string{addr(up)})},
			{Path: "/dead", Match: snapshot.MatchPrefix, Backend: backendOf("dead", []string{refusedAddr(t)}, nextUpstream("error timeout", 1, 0))},
		}},
	}}
	p, srv := front(t, Options{Registry: reg, CountUndefinedHosts: true}, s)
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
		{[]string{"200", "GET", "/api", "ns", "ing-a", "a", "", "x.foo.com"}, 3},
		{[]string{"502", "GET", "/dead", "ns", "ing-dead", "dead", "", "x.foo.com"}, 1},
		{[]string{"404", "GET", "", "", "", "", "", "nope.com"}, 1},
		{[]string{"200", "OTHER", "/api", "ns", "ing-a", "a", "", "x.foo.com"}, 1},
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
	// Every request has its sizes; the upstream timings need an upstream:
	// the refused one has no connect or header time, the 404 none at all.
	api, dead, none := want[0].labels, want[1].labels, want[2].labels
	for _, c := range []struct {
		name   string
		h      *histVec
		labels []string
		n      uint64
	}{
		{"request_size /api", m.requestSize, api, 3},
		{"response_size /api", m.responseSize, api, 3},
		{"bytes_sent 404", m.bytesSent, none, 1},
		{"connect_duration_seconds /api", m.upConnect, api, 3},
		{"header_duration_seconds /api", m.upHeader, api, 3},
		{"response_duration_seconds /api", m.upResponse, api, 3},
		{"response_duration_seconds /dead", m.upResponse, dead, 1},
		{"connect_duration_seconds /dead", m.upConnect, dead, 0},
		{"header_duration_seconds /dead", m.upHeader, dead, 0},
		{"connect_duration_seconds 404", m.upConnect, none, 0},
	} {
		if got := histogramCount(t, c.h, c.labels); got != c.n {
			t.Errorf("%s: %d observations, want %d", c.name, got, c.n)
		}
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

// TestMetricsDefinedHostsOnly: by default only the requests for a host the
// configuration defines are counted, as ingress-nginx's socket collector
// without --metrics-per-undefined-host: a Server's host or alias (labelled
// with the name the request used, in lower case and without its port) and
// "_" (no Host); not a host a wildcard serves, nor one only the default
// backend or a host-less rule serves.
func TestMetricsDefinedHostsOnly(t *testing.T) {
	t.Parallel()
	up := named(t, "a")
	reg := prometheus.NewRegistry()
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{
		{Host: "foo.com", Aliases: []string{"alias.com"}, Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: backendOf("a", []string{addr(up)})}}},
		{Host: "*.bar.com", Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: backendOf("a", []string{addr(up)})}}},
		{Host: "", Paths: []snapshot.Path{{Path: "/any", Match: snapshot.MatchPrefix, Backend: backendOf("a", []string{addr(up)})}}},
	}}
	p, srv := front(t, Options{Registry: reg}, s)
	c := client(t)
	// The undefined first: requests on one keep-alive connection are
	// recorded in order, so once the last is counted all were seen.
	get(t, c, srv, "x.bar.com", "/")
	get(t, c, srv, "nope.com", "/any")
	get(t, c, srv, "nope.com", "/")
	get(t, c, srv, "FOO.com:8080", "/")
	get(t, c, srv, "alias.com", "/")
	m := p.metrics
	want := [][]string{
		{"200", "GET", "/", "ns", "ing-a", "a", "", "foo.com"},
		{"200", "GET", "/", "ns", "ing-a", "a", "", "alias.com"},
	}
	waitFor(t, "the defined hosts' requests counted", func() bool {
		return testutil.ToFloat64(m.requests.WithLabelValues(want[1]...)) == 1
	})
	if got := testutil.ToFloat64(m.requests.WithLabelValues(want[0]...)); got != 1 {
		t.Errorf("requests for foo.com: %v, want 1", got)
	}
	if n := testutil.CollectAndCount(m.requests); n != len(want) {
		t.Errorf("%d request series, want %d: the undefined hosts must not be counted", n, len(want))
	}
}

// histogramCount is the number of observations of h's child with labels.
func histogramCount(tb testing.TB, h *histVec, labels []string) uint64 {
	tb.Helper()
	var m dto.Metric
	if err := h.WithLabelValues(labels...).Write(&m); err != nil {
		tb.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// TestMetricsSizes checks request_size, response_size and bytes_sent
// against the access log's $request_length and $bytes_sent, the figures
// ingress-nginx's monitor.lua observes: a chunked POST (its framing
// counted as received) answered with a chunked body, and a HEAD (no body
// counted), each a sample equal to its log line's.
func TestMetricsSizes(t *testing.T) {
	t.Parallel()
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Up", "1")
		w.(http.Flusher).Flush() // chunked to the client
		io.WriteString(w, strings.Repeat("r", 100))
	})
	reg := prometheus.NewRegistry()
	var buf syncBuffer
	s := withLogFormat(t, snap(1, "foo.com", backendOf("a", []string{addr(up)})), map[string]string{"log-format-upstream": "$request_length $bytes_sent"})
	p, srv := front(t, Options{Registry: reg, AccessLog: &buf}, s)
	for _, tc := range []struct{ method, raw string }{
		{"POST", "POST /x HTTP/1.1\r\nHost: foo.com\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n12c\r\n" + strings.Repeat("b", 300) + "\r\n0\r\n\r\n"},
		{"HEAD", "HEAD /x HTTP/1.1\r\nHost: foo.com\r\nConnection: close\r\n\r\n"},
	} {
		before := strings.Count(buf.String(), "\n")
		if resp, _ := rawExchange(t, addr(srv), tc.raw); resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", tc.method, resp.StatusCode)
		}
		waitFor(t, "the access-log line", func() bool { return strings.Count(buf.String(), "\n") > before })
		var reqLen, sent float64
		if _, err := fmt.Sscan(strings.Split(buf.String(), "\n")[before], &reqLen, &sent); err != nil {
			t.Fatalf("%s: log line: %v", tc.method, err)
		}
		if h1servertest.Kind() != h1server.KindNet && reqLen != float64(len(tc.raw)) {
			t.Errorf("%s: $request_length %v, want %d (the bytes sent)", tc.method, reqLen, len(tc.raw))
		}
		labels := []string{"200", tc.method, "/", "ns", "ing-a", "a", "", "foo.com"}
		for _, h := range []struct {
			name string
			vec  *histVec
			want float64
		}{{"request_size", p.metrics.requestSize, reqLen}, {"response_size", p.metrics.responseSize, sent}, {"bytes_sent", p.metrics.bytesSent, sent}} {
			var m dto.Metric
			if err := h.vec.WithLabelValues(labels...).Write(&m); err != nil {
				t.Fatal(err)
			}
			if got := m.GetHistogram(); got.GetSampleCount() != 1 || got.GetSampleSum() != h.want {
				t.Errorf("%s: %s %d samples, sum %v; want 1, %v (the access log's)", tc.method, h.name, got.GetSampleCount(), got.GetSampleSum(), h.want)
			}
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

// TestNowFrom: nowFrom is time.Now within the clock's progress, with a
// monotonic reading, from a reference of time.Now's and from none.
// TestDeadlineFrom: deadlineFrom(ref, d) is a time now plus d, with or
// without ref, and keeps ref's monotonic reading (Round(0) strips it).
func TestDeadlineFrom(t *testing.T) {
	t.Parallel()
	const d = 90 * time.Second
	for _, ref := range []time.Time{time.Now().Add(-time.Hour), {}} {
		before := time.Now().Add(d)
		got := deadlineFrom(ref, d)
		after := time.Now().Add(d)
		if got.Before(before) || got.After(after) {
			t.Errorf("deadlineFrom(%v, %v) = %v, not within [%v, %v]", ref, d, got, before, after)
		}
		if got == got.Round(0) {
			t.Errorf("deadlineFrom(%v, %v) = %v has no monotonic reading", ref, d, got)
		}
	}
}

func TestNowFrom(t *testing.T) {
	t.Parallel()
	for _, ref := range []time.Time{time.Now().Add(-time.Hour), {}} {
		before := time.Now()
		got := nowFrom(ref)
		after := time.Now()
		if got.Before(before) || got.After(after) {
			t.Errorf("nowFrom(%v) = %v, not within [%v, %v]", ref, got, before, after)
		}
		if d := time.Since(got); d < 0 || d > time.Minute {
			t.Errorf("time.Since(nowFrom(%v)) = %v", ref, d)
		}
	}
}

// TestObserversForRecent: a key's observers come from its slot of recent
// once children gave them, compared by the whole key; two keys in one
// slot take turns and each gets its own; reset empties the slots.
func TestObserversForRecent(t *testing.T) {
	t.Parallel()
	m := newMetrics(prometheus.NewRegistry())
	r1, r2 := &router.Route{Path: "/a", Backend: &snapshot.Backend{}}, &router.Route{Path: "/b", Backend: &snapshot.Backend{}}
	k := childKey{route: r1, status: 200, method: "GET", host: "a1b.com"}
	o := m.observersFor(k)
	if got := m.recent[recentSlot(&k)].Load(); got != o {
		t.Fatal("the observers are not kept in the key's slot")
	}
	if again := m.observersFor(k); again != o {
		t.Fatal("the same key got other observers")
	}
	// Same route, status, host length and ends: the same slot.
	k2 := childKey{route: r1, status: 200, method: "GET", host: "a2b.com"}
	if recentSlot(&k2) != recentSlot(&k) {
		t.Fatal("the test's keys are not in one slot")
	}
	for _, kk := range []childKey{k2, k, k2} {
		if got := m.observersFor(kk); got.key != kk {
			t.Errorf("observers of %+v for %+v", got.key, kk)
		}
	}
	for _, kk := range []childKey{{route: r2, status: 200, method: "GET", host: "a1b.com"}, {route: r1, status: 404, method: "GET", host: "a1b.com"},
		{route: r1, status: 200, method: "POST", host: "a1b.com"}, {route: r1, canary: "c", status: 200, method: "GET", host: "a1b.com"}} {
		if got := m.observersFor(kk); got == o || got.key != kk {
			t.Errorf("%+v got the observers of %+v", kk, got.key)
		}
	}
	m.reset()
	for i := range m.recent {
		if m.recent[i].Load() != nil {
			t.Fatal("reset left observers in recent")
		}
	}
}

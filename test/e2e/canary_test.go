package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// canaryIngress renders a canary Ingress of host to svc with the given
// canary-* annotations (without the "canary: true", which it adds).
func canaryIngress(name, host, svc string, annotations ...string) string {
	return ingress(name, host, svc, append([]string{"canary", "true"}, annotations...)...)
}

// canaryWeir serves three backends v1 (main), v2 and v3 (canaries) as
// Services of the same names.
func canaryWeir(t *testing.T, files map[string]string) *weir {
	t.Helper()
	v1 := newBackend(t, "v1", nil)
	v2 := newBackend(t, "v2", nil)
	v3 := newBackend(t, "v3", nil)
	all := map[string]string{
		"class.yaml": ingressClass,
		"svc.yaml":   service("v1", v1.port) + service("v2", v2.port) + service("v3", v3.port),
	}
	for k, v := range files {
		all[k] = v
	}
	return startWeir(t, all)
}

// backendOf sends one request and returns the name of the backend that
// answered, or "404"/"503"... for a Weir error.
func (w *weir) backendOf(host string, hdr ...string) string {
	w.t.Helper()
	got := w.get(host, "/", hdr...)
	if got.status != http.StatusOK {
		return strconv.Itoa(got.status)
	}
	name, _, _ := strings.Cut(got.body, " ")
	return name
}

// countBackends sends n requests and counts the answering backends.
func (w *weir) countBackends(n int, host string, hdr ...string) map[string]int {
	w.t.Helper()
	counts := map[string]int{}
	for range n {
		counts[w.backendOf(host, hdr...)]++
	}
	return counts
}

// requestsMetricReaches waits up to 5 s for requestsMetric to be want (a
// request is counted once its response is out, so the client may read the
// response first) and returns its last value.
func (w *weir) requestsMetricReaches(host, canary string, want int) int {
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := w.requestsMetric(host, canary)
		if got == want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// requestsMetric returns the nginx_ingress_controller_requests count of
// host with the given canary label, summed over the other labels.
func (w *weir) requestsMetric(host, canary string) int {
	w.t.Helper()
	resp, err := client.Get("http://" + w.d.MetricsAddr() + "/metrics")
	if err != nil {
		w.t.Fatalf("get /metrics: %v", err)
	}
	body := readAll(w.t, resp)
	total := 0
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "nginx_ingress_controller_requests{") ||
			!strings.Contains(line, fmt.Sprintf(`host=%q`, host)) || !strings.Contains(line, fmt.Sprintf(`canary=%q`, canary)) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			w.t.Fatalf("metric line %q: %v", line, err)
		}
		total += int(v)
	}
	return total
}

// TestCanaryRules checks each per-request rule through Weir with real
// clients and backends: header, header value, header pattern, invalid
// pattern, cookie.
func TestCanaryRules(t *testing.T) {
	w := canaryWeir(t, map[string]string{
		"main.yaml": ingress("main-header", "header.test", "v1") +
			ingress("main-value", "value.test", "v1") +
			ingress("main-pattern", "pattern.test", "v1") +
			ingress("main-badpattern", "badpattern.test", "v1") +
			ingress("main-cookie", "cookie.test", "v1"),
		"canary.yaml": canaryIngress("c-header", "header.test", "v2", "canary-by-header", "X-Canary") +
			canaryIngress("c-value", "value.test", "v2", "canary-by-header", "X-Canary", "canary-by-header-value", "blue") +
			canaryIngress("c-pattern", "pattern.test", "v2", "canary-by-header", "X-Canary", "canary-by-header-pattern", "beta") +
			canaryIngress("c-badpattern", "badpattern.test", "v2", "canary-by-header", "X-Canary", "canary-by-header-pattern", "a(b",
				"canary-weight", "100") +
			canaryIngress("c-cookie", "cookie.test", "v2", "canary-by-cookie", "beta"),
	})
	tests := []struct {
		host string
		hdr  []string
		want string
	}{
		{"header.test", nil, "v1"},
		{"header.test", []string{"X-Canary", "always"}, "v2"},
		{"header.test", []string{"x-canary", "always"}, "v2"},
		{"header.test", []string{"X-Canary", "never"}, "v1"},
		{"header.test", []string{"X-Canary", "yes"}, "v1"},
		{"value.test", []string{"X-Canary", "blue"}, "v2"},
		{"value.test", []string{"X-Canary", "Blue"}, "v1"},
		{"value.test", []string{"X-Canary", "always"}, "v1"},
		{"value.test", nil, "v1"},
		{"pattern.test", []string{"X-Canary", "x-beta-1"}, "v2"},
		{"pattern.test", []string{"X-Canary", "alpha"}, "v1"},
		{"pattern.test", []string{"X-Canary", "always"}, "v1"},
		// Invalid pattern: a request with the header goes to main, even
		// though the weight is 100; one without it is decided by weight.
		{"badpattern.test", []string{"X-Canary", "a(b"}, "v1"},
		{"badpattern.test", []string{"X-Canary", "anything"}, "v1"},
		{"badpattern.test", nil, "v2"},
		{"cookie.test", []string{"Cookie", "beta=always"}, "v2"},
		{"cookie.test", []string{"Cookie", "a=1; beta=always; b=2"}, "v2"},
		{"cookie.test", []string{"Cookie", "beta=never"}, "v1"},
		{"cookie.test", []string{"Cookie", "beta=sometimes"}, "v1"},
		{"cookie.test", []string{"Cookie", "gamma=always"}, "v1"},
		{"cookie.test", nil, "v1"},
	}
	for _, tc := range tests {
		// Each case is asserted several times: a decision is never random
		// here (no weight, or weight 100).
		for range 5 {
			if got := w.backendOf(tc.host, tc.hdr...); got != tc.want {
				t.Errorf("%s %q: served by %s, want %s", tc.host, tc.hdr, got, tc.want)
				break
			}
		}
	}
	if got := w.requestsMetricReaches("header.test", "default-v2-80", 10); got != 10 {
		t.Errorf("requests of header.test with canary label default-v2-80 = %d, want 10", got)
	}
	if got := w.requestsMetricReaches("header.test", "", 15); got != 15 {
		t.Errorf("requests of header.test with canary label \"\" = %d, want 15", got)
	}
	if live := w.d.Live(); !strings.Contains(fmt.Sprint(live.Warnings), "canary-by-header-pattern") {
		t.Errorf("no warning for the invalid pattern: %v", live.Warnings)
	}
}

// TestCanaryWeights: weights 0, 100 and 1000 of total 1000 are exact over
// 200 requests each; 50 % is within 45–55 % over 1000 requests.
func TestCanaryWeights(t *testing.T) {
	w := canaryWeir(t, map[string]string{
		"main.yaml": ingress("m0", "w0.test", "v1") + ingress("m100", "w100.test", "v1") +
			ingress("m1000", "w1000.test", "v1") + ingress("m50", "w50.test", "v1"),
		"canary.yaml": canaryIngress("c0", "w0.test", "v2", "canary-weight", "0", "canary-weight-total", "1000") +
			canaryIngress("c100", "w100.test", "v2", "canary-weight", "100", "canary-weight-total", "1000") +
			canaryIngress("c1000", "w1000.test", "v2", "canary-weight", "1000", "canary-weight-total", "1000") +
			canaryIngress("c50", "w50.test", "v2", "canary-weight", "50"),
	})
	if got := w.countBackends(200, "w0.test"); got["v1"] != 200 {
		t.Errorf("weight 0/1000: %v, want all 200 on v1", got)
	}
	if got := w.countBackends(200, "w1000.test"); got["v2"] != 200 {
		t.Errorf("weight 1000/1000: %v, want all 200 on v2", got)
	}
	if got := w.requestsMetricReaches("w1000.test", "default-v2-80", 200); got != 200 {
		t.Errorf("metric of w1000.test with canary label default-v2-80 = %d, want 200", got)
	}
	// 100/1000 is random: 200 requests are all answered, by v1 or v2 only,
	// and (at 10 %, 200 draws) v2 at least once and at most 25 % of them
	// with overwhelming probability.
	got := w.countBackends(200, "w100.test")
	if got["v1"]+got["v2"] != 200 || got["v2"] == 0 || got["v2"] > 50 {
		t.Errorf("weight 100/1000: %v, want 200 on v1 and v2 with v2 in [1, 50]", got)
	}
	got = w.countBackends(1000, "w50.test")
	t.Logf("weight 50/100 over 1000 requests: %v", got)
	if got["v1"]+got["v2"] != 1000 || got["v2"] < 450 || got["v2"] > 550 {
		t.Errorf("weight 50/100: %v, want v2 in [450, 550] of 1000", got)
	}
}

// TestCanaryTwoShareTotal: two canaries of one rule share one total (the
// largest, 1000); header and cookie rules are tried canary by canary.
func TestCanaryTwoShareTotal(t *testing.T) {
	w := canaryWeir(t, map[string]string{
		"main.yaml": ingress("main", "two.test", "v1"),
		// Same (zero) creation time in the folder: name orders them, the
		// greater first as ingress-nginx's sortIngressSlice, so c-b is first.
		"canary.yaml": canaryIngress("c-b", "two.test", "v2", "canary-weight", "250", "canary-weight-total", "1000",
			"canary-by-header", "X-A") +
			canaryIngress("c-a", "two.test", "v3", "canary-weight", "25", "canary-by-cookie", "b"),
	})
	got := w.countBackends(1000, "two.test")
	t.Logf("weights 250/1000 and 25/100 (as 25/1000) over 1000 requests: %v", got)
	if got["v1"]+got["v2"]+got["v3"] != 1000 || got["v2"] < 200 || got["v2"] > 300 || got["v3"] < 5 || got["v3"] > 60 {
		t.Errorf("got %v, want v2 in [200, 300] (25 %%) and v3 in [5, 60] (2.5 %%) of 1000", got)
	}
	// c-b's header "never" excludes c-b only: c-a's cookie still decides.
	if got := w.backendOf("two.test", "X-A", "never", "Cookie", "b=always"); got != "v3" {
		t.Errorf("X-A never, cookie b=always: served by %s, want v3", got)
	}
	// The oldest canary's header wins over the second's cookie.
	if got := w.backendOf("two.test", "X-A", "always", "Cookie", "b=always"); got != "v2" {
		t.Errorf("X-A always, cookie b=always: served by %s, want v2", got)
	}
	// Both excluded: main, whatever the draw.
	got = w.countBackends(50, "two.test", "X-A", "never", "Cookie", "b=never")
	if got["v1"] != 50 {
		t.Errorf("both canaries excluded: %v, want all 50 on v1", got)
	}
}

// TestCanaryMainLifecycle: a canary created before its main Ingress routes
// nothing (404); once the main is added it works; once the main is deleted
// its host answers 404 again.
func TestCanaryMainLifecycle(t *testing.T) {
	w := canaryWeir(t, map[string]string{
		"canary.yaml": canaryIngress("late-canary", "late.test", "v2", "canary-by-header", "X-Canary", "canary-weight", "100"),
	})
	if got := w.backendOf("late.test", "X-Canary", "always"); got != "404" {
		t.Errorf("canary without main: got %s, want 404", got)
	}
	if !strings.Contains(fmt.Sprint(w.d.Live().Warnings), "CanaryWithoutMain") {
		t.Errorf("no CanaryWithoutMain warning: %v", w.d.Live().Warnings)
	}

	w.update("main.yaml", ingress("late", "late.test", "v1"))
	if got := w.backendOf("late.test", "X-Canary", "never"); got != "v1" {
		t.Errorf("main added, header never: served by %s, want v1", got)
	}
	if got := w.countBackends(20, "late.test"); got["v2"] != 20 {
		t.Errorf("main added, weight 100: %v, want all 20 on v2", got)
	}

	before := w.d.LiveVersion()
	if err := os.Remove(filepath.Join(w.dir, "main.yaml")); err != nil {
		t.Fatal(err)
	}
	w.waitVersion(before + 1)
	if got := w.backendOf("late.test", "X-Canary", "always"); got != "404" {
		t.Errorf("main deleted: got %s, want 404", got)
	}
	if got := w.backendOf("late.test"); got != "404" {
		t.Errorf("main deleted, no header: got %s, want 404", got)
	}
}

// TestCanaryWithoutEndpoints: a canary whose Service has no ready endpoint
// is skipped, as in ingress-nginx: the main backend serves, never 503.
func TestCanaryWithoutEndpoints(t *testing.T) {
	w := canaryWeir(t, map[string]string{
		"empty.yaml":  service("empty"),
		"main.yaml":   ingress("main", "empty.test", "v1"),
		"canary.yaml": canaryIngress("c", "empty.test", "empty", "canary-weight", "100", "canary-by-header", "X-Canary"),
	})
	if got := w.countBackends(20, "empty.test"); got["v1"] != 20 {
		t.Errorf("weight 100 to a canary without endpoints: %v, want all 20 on v1", got)
	}
	if got := w.backendOf("empty.test", "X-Canary", "always"); got != "v1" {
		t.Errorf("header always to a canary without endpoints: served by %s, want v1", got)
	}
}

package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weir-lb/weir/test/testutil"
)

// TestRequestMetricsFlags runs the weir binary with one worker and
// ingress-nginx's flags that shape the request metrics:
// --metrics-per-host=false drops the host label, --report-status-classes
// reports 2xx and 4xx, and --exclude-socket-metrics drops a family (as
// test/e2e/metrics/metrics.go of ingress-nginx checks it).
func TestRequestMetricsFlags(t *testing.T) {
	b := newBackend(t, "m", nil)
	p := startWeirProcess(t, "1", map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("m", b.port) + ingress("m", "m.test", "m"),
	}, "--metrics-per-host=false", "--report-status-classes",
		"--exclude-socket-metrics=nginx_ingress_controller_request_size,nginx_ingress_controller_header_duration_seconds")
	for _, path := range []string{"/", "/", "/"} {
		req, _ := http.NewRequest(http.MethodGet, p.httpURL+path, nil)
		req.Host = "m.test"
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET m.test%s: %v", path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	var body string
	testutil.WaitFor(t, 10*time.Second, "the three requests counted", func() bool {
		resp, err := client.Get(p.metrics + "/metrics")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		return strings.Contains(body, `nginx_ingress_controller_requests{`)
	})
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, "nginx_ingress_controller_") {
			continue
		}
		if strings.HasPrefix(line, "nginx_ingress_controller_request_size") || strings.HasPrefix(line, "nginx_ingress_controller_header_duration_seconds") {
			t.Errorf("excluded family exported: %s", line)
		}
		if strings.HasPrefix(line, "nginx_ingress_controller_requests{") {
			if strings.Contains(line, `host=`) || !strings.Contains(line, `status="2xx"`) {
				t.Errorf("requests series %s: want no host label and status 2xx", line)
			}
		}
	}
	if !strings.Contains(body, "nginx_ingress_controller_response_size_count{") {
		t.Error("nginx_ingress_controller_response_size not exported: only the excluded families may go")
	}
}

// TestMetricsPerUndefinedHost is ingress-nginx's e2e "request metrics per
// undefined host": a request for wildcard.foo.com, a host no Ingress
// defines (only foo.com is), answered 404, is not counted by default, and
// is counted with host="wildcard.foo.com" under
// --metrics-per-undefined-host (here with one worker process, which gets it
// from the supervisor).
func TestMetricsPerUndefinedHost(t *testing.T) {
	b := newBackend(t, "m", nil)
	files := map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("m", b.port) + ingress("m", "foo.com", "m"),
	}
	get := func(p *weirProcess, host string, want int) {
		req, _ := http.NewRequest(http.MethodGet, p.httpURL+"/", nil)
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s/: %v", host, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s/: %d, want %d", host, resp.StatusCode, want)
		}
	}
	// waitSeries waits for a requests series with host="host" and returns
	// the requests series then exported.
	waitSeries := func(p *weirProcess, host string) string {
		var series string
		testutil.WaitFor(t, 10*time.Second, "a request for "+host+" counted", func() bool {
			resp, err := client.Get(p.metrics + "/metrics")
			if err != nil {
				return false
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			series = grepLines(string(b), "nginx_ingress_controller_requests{")
			return strings.Contains(series, `host="`+host+`"`)
		})
		return series
	}
	t.Run("default", func(t *testing.T) {
		p := startWeirProcess(t, "0", files)
		get(p, "wildcard.foo.com", http.StatusNotFound)
		get(p, "foo.com", http.StatusOK)
		// Once foo.com's request is counted, the earlier one was recorded
		// too (one keep-alive connection serves both, in order).
		if series := waitSeries(p, "foo.com"); strings.Contains(series, "wildcard.foo.com") {
			t.Errorf("a request for an undefined host is counted without --metrics-per-undefined-host:\n%s", series)
		}
	})
	t.Run("flag", func(t *testing.T) {
		p := startWeirProcess(t, "1", files, "--metrics-per-undefined-host")
		get(p, "wildcard.foo.com", http.StatusNotFound)
		waitSeries(p, "wildcard.foo.com")
	})
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// ingressPaths renders an Ingress with one rule for host ("" for none)
// whose paths (of pathType) all go to svc.
func ingressPaths(name, host, svc, pathType string, paths []string, annotations ...string) string {
	var ann strings.Builder
	for i := 0; i+1 < len(annotations); i += 2 {
		fmt.Fprintf(&ann, "\n    nginx.ingress.kubernetes.io/%s: %q", annotations[i], annotations[i+1])
	}
	annBlock := ""
	if ann.Len() > 0 {
		annBlock = "\n  annotations:" + ann.String()
	}
	hostLine := ""
	if host != "" {
		hostLine = "host: " + host + "\n    "
	}
	var p []string
	for _, path := range paths {
		p = append(p, fmt.Sprintf(`{path: %q, pathType: %s, backend: {service: {name: %s, port: {number: 80}}}}`, path, pathType, svc))
	}
	return fmt.Sprintf(`
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: %s
  namespace: default%s
spec:
  ingressClassName: weir
  rules:
  - %shttp: {paths: [%s]}
`, name, annBlock, hostLine, strings.Join(p, ", "))
}

// ingress renders an Ingress with one rule for host whose path / (Prefix)
// goes to svc.
func ingress(name, host, svc string, annotations ...string) string {
	return ingressPaths(name, host, svc, "Prefix", []string{"/"}, annotations...)
}

// TestForwardedHeaders checks the headers the backend receives.
func TestForwardedHeaders(t *testing.T) {
	b := newBackend(t, "hdr", nil)
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("hdr", b.port) + ingress("hdr", "hdr.test", "hdr"),
	})
	_, weirPort, _ := net.SplitHostPort(strings.TrimPrefix(w.base, "http://"))

	w.get("hdr.test:1234", "/p?q=1", "X-Forwarded-For", "203.0.113.9", "Connection", "keep-alive, X-Secret", "X-Secret", "hop")
	r := b.last()
	checks := map[string]string{
		// use-forwarded-headers is off: the connection's address, the
		// client's value only as X-Original-Forwarded-For.
		"X-Forwarded-For":          "127.0.0.1",
		"X-Original-Forwarded-For": "203.0.113.9",
		"X-Forwarded-Proto":        "http",
		"X-Forwarded-Host":         "hdr.test:1234",
		"X-Forwarded-Port":         weirPort,
		"X-Real-Ip":                "127.0.0.1",
		"X-Secret":                 "hop", // named in Connection: passed, as nginx does not read its tokens
	}
	for k, want := range checks {
		if got := r.Header.Get(k); got != want {
			t.Errorf("backend got %s = %q, want %q", k, got, want)
		}
	}
	if r.Host != "hdr.test:1234" {
		t.Errorf("backend got Host %q, want the client's hdr.test:1234", r.Host)
	}
	if id := r.Header.Get("X-Request-Id"); !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
		t.Errorf("generated X-Request-ID %q is not 32 hex digits", id)
	}
	w.get("hdr.test", "/", "X-Request-ID", "keep-me")
	if got := b.last().Header.Get("X-Request-Id"); got != "keep-me" {
		t.Errorf("X-Request-ID = %q, want the client's keep-me", got)
	}
}

// TestUpstreamErrors checks 502, 503, 504 and 413.
func TestUpstreamErrors(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	stall := newBackend(t, "stall", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	ok := newBackend(t, "ok", nil)
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml": service("stall", stall.port) + service("refused", closedPort(t)) +
			service("empty") + service("ok", ok.port) +
			ingress("stall", "stall.test", "stall", "proxy-read-timeout", "1") +
			ingress("refused", "refused.test", "refused") +
			ingress("empty", "empty.test", "empty") +
			ingress("missing", "missing.test", "nosuchservice") +
			ingress("small", "small.test", "ok", "proxy-body-size", "10"),
	})

	start := time.Now()
	if got := w.get("stall.test", "/"); got.status != http.StatusGatewayTimeout {
		t.Errorf("stalled backend: got %d, want 504", got.status)
	}
	// The lone endpoint is tried proxy-next-upstream-tries (3) times, as
	// ingress-nginx's balancer picks it again at each retry.
	if d := time.Since(start); d < 3*time.Second || d > 4*time.Second {
		t.Errorf("stalled backend answered after %v, want within [3s, 4s] for 3 tries of proxy-read-timeout 1", d)
	}
	if got := w.get("refused.test", "/"); got.status != http.StatusBadGateway {
		t.Errorf("refused backend: got %d, want 502", got.status)
	}
	if got := w.get("empty.test", "/"); got.status != http.StatusServiceUnavailable {
		t.Errorf("no endpoints: got %d, want 503", got.status)
	}
	if got := w.get("missing.test", "/"); got.status != http.StatusServiceUnavailable {
		t.Errorf("missing service: got %d, want 503", got.status)
	}
	if got := w.do(http.MethodPost, "small.test", "/", strings.NewReader("0123456789")); got.status != http.StatusOK {
		t.Errorf("body at the limit: got %d, want 200", got.status)
	}
	if got := w.do(http.MethodPost, "small.test", "/", strings.NewReader("0123456789+")); got.status != http.StatusRequestEntityTooLarge {
		t.Errorf("body over the limit: got %d, want 413", got.status)
	}
	// Weir and its other routes keep working after all of that.
	if got := w.get("small.test", "/"); got.status != http.StatusOK {
		t.Errorf("healthy route after errors: got %d, want 200", got.status)
	}
}

// TestMetricsAndHealth checks /metrics, /healthz and /readyz.
func TestMetricsAndHealth(t *testing.T) {
	b := newBackend(t, "m", nil)
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("m", b.port) + ingress("m", "m.test", "m"),
	})
	w.get("m.test", "/")
	metricsBase := "http://" + w.d.MetricsAddr()
	// The request's metrics and access-log line are recorded once its
	// response is out (as ingress-nginx's log phase): the client may read
	// the response first.
	waitFor(t, 5*time.Second, "the request counted and logged", func() bool {
		resp, err := client.Get(metricsBase + "/metrics")
		if err != nil {
			return false
		}
		return strings.Contains(readAll(t, resp), `nginx_ingress_controller_requests{`) &&
			strings.Contains(w.access.String(), `"host":"m.test"`)
	})
	for path, want := range map[string]string{
		"/healthz": "ok",
		"/readyz":  "configuration version 1 live",
		"/metrics": `nginx_ingress_controller_requests{`,
	} {
		resp, err := client.Get(metricsBase + path)
		if err != nil {
			t.Fatalf("get %s: %v", path, err)
		}
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("%s: got %d, want 200 containing %q; body:\n%.2000s", path, resp.StatusCode, want, body)
		}
	}
	resp, err := client.Get(metricsBase + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	for _, want := range []string{`ingress="m"`, `namespace="default"`, `service="m"`, `status="200"`, "weir_config_version 1"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if !strings.Contains(w.access.String(), `"host":"m.test"`) {
		t.Errorf("access log lacks the request: %q", w.access.String())
	}
}

func readAll(t testing.TB, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}

package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weir-lb/weir/userspace/snapshot"
)

// TestSourceRange checks the source-range annotations through Weir with a
// real client on 127.0.0.1: an allow list excluding it → 403, one including
// 127.0.0.0/8 → 200, a deny list → 403; each 403 counted and access-logged.
func TestSourceRange(t *testing.T) {
	web := newBackend(t, "web", nil)
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"svc.yaml":   service("web", web.port),
		"ing.yaml": ingress("excluded", "excluded.test", "web", "whitelist-source-range", "10.0.0.0/8, 2001:db8::/32") +
			ingress("included", "included.test", "web", "allowlist-source-range", "127.0.0.0/8") +
			ingress("denied", "denied.test", "web", "denylist-source-range", "192.0.2.0/24,127.0.0.1"),
	})
	w.wantStatus("", map[string]int{"excluded.test": http.StatusForbidden, "included.test": http.StatusOK, "denied.test": http.StatusForbidden})
	// The access-log lines (and the metrics before them) are written once
	// the responses are out.
	waitFor(t, 5*time.Second, "the two 403 access-log lines", func() bool { return strings.Count(w.access.String(), `"status":403`) >= 2 })
	if strings.Count(w.access.String(), `"status":403`) != 2 {
		t.Errorf("access log holds %d lines with status 403, want 2:\n%s", strings.Count(w.access.String(), `"status":403`), w.access.String())
	}
	resp, err := client.Get("http://" + w.d.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatalf("get /metrics: %v", err)
	}
	body := readAll(t, resp)
	for _, want := range []string{
		`weir_source_range_denied_total{ingress="excluded",list="allow",namespace="default"} 1`,
		`weir_source_range_denied_total{ingress="denied",list="deny",namespace="default"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(w.logs.String(), "source-range") {
		t.Errorf("source-range annotations warned about:\n%s", w.logs.String())
	}
}

// configMap is a ConfigMap default/weir-config with data, the controller
// ConfigMap of the options configMapOptions returns.
func configMap(data ...string) string {
	var b strings.Builder
	b.WriteString("\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: weir-config\n  namespace: default\ndata:")
	if len(data) == 0 {
		b.WriteString(" {}")
	}
	for i := 0; i+1 < len(data); i += 2 {
		fmt.Fprintf(&b, "\n  %s: %q", data[i], data[i+1])
	}
	return b.String() + "\n"
}

// configMapOptions are the default build options reading configMap.
func configMapOptions() snapshot.Options {
	opts := snapshot.DefaultOptions()
	opts.ConfigMap = "default/weir-config"
	return opts
}

// TestSourceRangeFailsClosed checks that a source-range value that does not
// parse denies its route (503, as ingress-nginx's denied location) instead
// of opening it, with a warning naming the Ingress and the annotation; and
// that an invalid ConfigMap list denies the routes that inherit it, while
// a route with its own valid list is served.
func TestSourceRangeFailsClosed(t *testing.T) {
	web := newBackend(t, "web", nil)
	w := startWeirWith(t, map[string]string{
		"class.yaml": ingressClass,
		"svc.yaml":   service("web", web.port),
		"ing.yaml": ingress("semicolon", "semicolon.test", "web", "whitelist-source-range", "10.0.0.0/8;192.168.0.0/16") +
			ingress("trailing", "trailing.test", "web", "allowlist-source-range", "127.0.0.0/8,") +
			ingress("baddeny", "baddeny.test", "web", "denylist-source-range", "192.0.2.0/24, nonsense") +
			ingress("valid", "valid.test", "web", "allowlist-source-range", "127.0.0.0/8"),
		"cm.yaml": configMap(),
	}, configMapOptions())
	w.wantStatus("invalid annotations", map[string]int{
		"semicolon.test": http.StatusServiceUnavailable,
		"trailing.test":  http.StatusServiceUnavailable,
		"baddeny.test":   http.StatusServiceUnavailable,
		"valid.test":     http.StatusOK,
	})
	for _, want := range []string{"default/semicolon", "nginx.ingress.kubernetes.io/whitelist-source-range", "InvalidAnnotation"} {
		if !strings.Contains(w.logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, w.logs.String())
		}
	}
	web.mu.Lock()
	n := len(web.reqs)
	web.mu.Unlock()
	if n != 1 {
		t.Errorf("backend got %d requests, want 1 (valid.test only)", n)
	}

	w.update("cm.yaml", configMap("whitelist-source-range", "127.0.0.0/8 192.168.0.0/16"))
	w.wantStatus("invalid ConfigMap list", map[string]int{"valid.test": http.StatusOK, "baddeny.test": http.StatusServiceUnavailable})
	w.update("ing.yaml", ingress("inherits", "inherits.test", "web")+ingress("valid", "valid.test", "web", "allowlist-source-range", "127.0.0.0/8"))
	w.wantStatus("route inheriting an invalid ConfigMap list", map[string]int{"inherits.test": http.StatusServiceUnavailable, "valid.test": http.StatusOK})
	if !strings.Contains(w.logs.String(), "InvalidConfigMapValue") {
		t.Errorf("log lacks the InvalidConfigMapValue warning:\n%s", w.logs.String())
	}
}

// wantStatus checks the status of GET / for each host of want; what names
// the case in errors.
func (w *weir) wantStatus(what string, want map[string]int) {
	w.t.Helper()
	for host, status := range want {
		if got := w.get(host, "/").status; got != status {
			w.t.Errorf("%s: GET %s: status %d, want %d", what, host, got, status)
		}
	}
}

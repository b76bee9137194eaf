package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestClientAddress checks ingress-nginx's client-address model through
// Weir with a real client on 127.0.0.1 and a backend that records what it
// receives: by default the client's X-Forwarded-For is not trusted (it
// cannot pass a source range, it travels as X-Original-Forwarded-For);
// with use-forwarded-headers and the client in proxy-real-ip-cidr, the
// forwarded address is the client address that source ranges judge, the
// access log writes and X-Forwarded-For and X-Real-IP carry, and
// X-Forwarded-Proto and X-Forwarded-Host are passed on.
func TestClientAddress(t *testing.T) {
	w, web := startEchoAndAllow(t)
	spoof := []string{"X-Forwarded-For", "203.0.113.7", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "front.test"}
	checkHeaders := func(what string, want map[string]string) {
		t.Helper()
		r := web.last()
		for k, v := range want {
			got := r.Header.Get(k)
			if k == "Host" {
				got = r.Host
			}
			if got != v {
				t.Errorf("%s: backend got %s = %q, want %q", what, k, got, v)
			}
		}
	}

	if got := w.get("allow.test", "/", spoof...).status; got != http.StatusForbidden {
		t.Errorf("defaults: a spoofed X-Forwarded-For passed the source range: status %d, want 403", got)
	}
	w.get("echo.test", "/", spoof...)
	checkHeaders("defaults", map[string]string{
		"X-Forwarded-For":           "127.0.0.1",
		"X-Real-Ip":                 "127.0.0.1",
		"X-Original-Forwarded-For":  "203.0.113.7",
		"X-Forwarded-Proto":         "http",
		"X-Scheme":                  "http",
		"X-Forwarded-Host":          "echo.test",
		"X-Original-Forwarded-Host": "front.test",
		"Host":                      "echo.test",
	})

	w.update("cm.yaml", configMap("use-forwarded-headers", "true", "proxy-real-ip-cidr", "127.0.0.1/32"))
	w.wantStatus("use-forwarded-headers, no X-Forwarded-For", map[string]int{"allow.test": http.StatusForbidden})
	if got := w.get("allow.test", "/", spoof...).status; got != http.StatusOK {
		t.Errorf("use-forwarded-headers: a trusted proxy's X-Forwarded-For in the source range: status %d, want 200", got)
	}
	w.get("echo.test", "/", spoof...)
	checkHeaders("use-forwarded-headers", map[string]string{
		"X-Forwarded-For":    "203.0.113.7",
		"X-Real-Ip":          "203.0.113.7",
		"X-Forwarded-Proto":  "https",
		"X-Forwarded-Scheme": "https",
		"X-Forwarded-Host":   "front.test",
		"Host":               "front.test",
	})
	if !strings.Contains(w.access.String(), `"client":"203.0.113.7"`) {
		t.Errorf("access log lacks the forwarded client address:\n%s", w.access.String())
	}

	w.update("cm.yaml", configMap("use-forwarded-headers", "true", "compute-full-forwarded-for", "true", "proxy-real-ip-cidr", "127.0.0.1/32"))
	w.get("echo.test", "/", spoof...)
	checkHeaders("compute-full-forwarded-for", map[string]string{"X-Forwarded-For": "203.0.113.7, 127.0.0.1", "X-Real-Ip": "203.0.113.7"})

	w.update("cm.yaml", configMap("use-forwarded-headers", "true", "proxy-real-ip-cidr", "10.0.0.0/8"))
	if got := w.get("allow.test", "/", spoof...).status; got != http.StatusForbidden {
		t.Errorf("an untrusted peer's X-Forwarded-For passed the source range: status %d, want 403", got)
	}
}

// startEchoAndAllow serves echo.test and allow.test (whitelist
// 203.0.113.0/24) from one recording backend, with the controller
// ConfigMap of configMapOptions, empty.
func startEchoAndAllow(t *testing.T) (*weir, *backend) {
	t.Helper()
	web := newBackend(t, "web", nil)
	w := startWeirWith(t, map[string]string{
		"class.yaml": ingressClass,
		"svc.yaml":   service("web", web.port),
		"ing.yaml": ingress("echo", "echo.test", "web") +
			ingress("allow", "allow.test", "web", "whitelist-source-range", "203.0.113.0/24"),
		"cm.yaml": configMap(),
	}, configMapOptions())
	return w, web
}

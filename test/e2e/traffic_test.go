package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// namedConfigMap is a ConfigMap default/name with data.
func namedConfigMap(name string, data ...string) string {
	return strings.Replace(configMap(data...), "name: weir-config", "name: "+name, 1)
}

// TestLimitRPM: limit-rpm 1 (burst 5) lets 6 of 8 requests in and answers
// the others with the ConfigMap's limit-req-status-code; limit-whitelist
// exempts the client, live.
func TestLimitRPM(t *testing.T) {
	b := newBackend(t, "rl", nil)
	files := map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("rl", b.port) + ingress("rl", "rl.test", "rl", "limit-rpm", "1"),
		"cm.yaml":    configMap("limit-req-status-code", "429"),
	}
	w := startWeirWith(t, files, configMapOptions())
	count := map[int]int{}
	for range 8 {
		count[w.get("rl.test", "/").status]++
	}
	if count[200] != 6 || count[429] != 2 {
		t.Errorf("limit-rpm 1, 8 requests: statuses %v, want 6 × 200 and 2 × 429", count)
	}
	w.update("app.yaml", service("rl", b.port)+ingress("rl", "rl.test", "rl", "limit-rpm", "1", "limit-whitelist", "127.0.0.1"))
	if got := w.get("rl.test", "/").status; got != 200 {
		t.Errorf("client in limit-whitelist: %d, want 200", got)
	}
}

// TestCORSPreflight: an OPTIONS from an allowed origin is answered 204 by
// Weir with the CORS headers, even from a client the allow-list refuses;
// the refusal itself carries them.
func TestCORSPreflight(t *testing.T) {
	b := newBackend(t, "cors", nil)
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml": service("cors", b.port) + ingress("cors", "cors.test", "cors", "enable-cors", "true",
			"cors-allow-origin", "https://*.example.com", "cors-max-age", "60", "whitelist-source-range", "10.0.0.0/8"),
	})
	res := w.do(http.MethodOptions, "cors.test", "/", nil, "Origin", "https://app.example.com")
	if res.status != 204 || res.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		res.header.Get("Access-Control-Max-Age") != "60" || res.header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("preflight: %d %v", res.status, res.header)
	}
	res = w.get("cors.test", "/", "Origin", "https://app.example.com")
	if res.status != 403 || res.header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Errorf("GET refused by the allow-list: %d %v", res.status, res.header)
	}
	if res := w.do(http.MethodOptions, "cors.test", "/", nil, "Origin", "https://example.org"); res.status != 403 {
		t.Errorf("OPTIONS from another origin: %d, want the allow-list's 403", res.status)
	}
}

// TestHeadersFromConfigMaps: add-headers, proxy-set-headers, hide-headers
// and custom-headers (allowed by global-allowed-response-headers) from the
// ConfigMaps of the folder (a proxy-set-headers value's nginx variable
// evaluated per request, one naming a variable nginx would refuse
// skipped); a custom-headers ConfigMap that goes away denies the route
// (503), live.
func TestHeadersFromConfigMaps(t *testing.T) {
	b := newBackend(t, "hd", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "backend")
		w.Header().Set("Got-X-Env", r.Header.Get("X-Env"))
		w.Header().Set("Got-X-Bad", r.Header.Get("X-Bad"))
		fmt.Fprint(w, "ok")
	})
	files := map[string]string{
		"class.yaml":  ingressClass,
		"app.yaml":    service("hd", b.port) + ingress("hd", "hd.test", "hd", "custom-headers", "default/custom"),
		"cm.yaml":     configMap("add-headers", "default/resp", "proxy-set-headers", "default/req", "hide-headers", "Server", "global-allowed-response-headers", "My-Header"),
		"resp.yaml":   namedConfigMap("resp", "X-Frame-Options", "DENY"),
		"req.yaml":    namedConfigMap("req", "X-Env", "$host", "X-Bad", "$prod"),
		"custom.yaml": namedConfigMap("custom", "My-Header", "42"),
	}
	w := startWeirWith(t, files, configMapOptions())
	res := w.get("hd.test", "/")
	h := res.header
	if res.status != 200 || h.Get("X-Frame-Options") != "DENY" || h.Get("My-Header") != "42" || h.Get("Got-X-Env") != "hd.test" || h.Get("Got-X-Bad") != "" || h.Get("Server") != "" {
		t.Errorf("headers: %d %v", res.status, h)
	}
	w.update("custom.yaml", namedConfigMap("other", "My-Header", "42"))
	if res := w.get("hd.test", "/"); res.status != 503 {
		t.Errorf("custom-headers ConfigMap gone: %d, want 503", res.status)
	}
}

// TestMirrorFromManifests: mirror-target with $request_uri gets a copy of
// each request.
func TestMirrorFromManifests(t *testing.T) {
	b := newBackend(t, "main", nil)
	copies := make(chan string, 4)
	m := newBackend(t, "mirror", func(w http.ResponseWriter, r *http.Request) { copies <- r.Host + " " + r.RequestURI })
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("main", b.port) + ingress("mi", "mi.test", "main", "mirror-target", fmt.Sprintf("http://127.0.0.1:%d$request_uri", m.port)),
	})
	if res := w.get("mi.test", "/x?y=1"); res.status != 200 {
		t.Fatalf("GET: %d", res.status)
	}
	select {
	case got := <-copies:
		if got != "127.0.0.1 /x?y=1" {
			t.Errorf("copy: %q, want %q", got, "127.0.0.1 /x?y=1")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no copy within 10s")
	}
}

// TestLimitRateThroughServer: limit-rate 1 (KiB/s) paces a 2 KiB body
// through Weir's own HTTP/1.1 server: it takes at least a second. As in
// ingress-nginx's e2e limitrate.go, with proxy-buffering on: nginx paces
// no unbuffered response.
func TestLimitRateThroughServer(t *testing.T) {
	body := strings.Repeat("x", 2<<10)
	b := newBackend(t, "lr", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) })
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("lr", b.port) + ingress("lr", "lr.test", "lr", "limit-rate", "1", "proxy-buffering", "on"),
	})
	w.wantPaced("lr.test", body) // ingressnginx_e2elimit_test.go
}

package e2e

// Ports of ingress-nginx's e2e cases on access control, limits, mirroring,
// logging, error pages, default backends and load balancing
// (test/e2e/annotations/{ipallowlist,ipdenylist,limitconnections,satisfy,
// mirror,log,disableaccesslog,clientbodybuffersize,upstreamhashby,
// customhttperrors}.go and test/e2e/settings/limit_rate.go;
// test/e2e/loadbalance/ is in ingressnginx_e2ebal_test.go,
// test/e2e/defaultbackend/default_backend.go in
// ingressnginx_e2eback_test.go). The cases these files
// assert only as nginx.conf text are ported as what that configuration
// does on the wire.

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// e2elimitEcho answers with the Host it got, as the framework's echo
// server prints it, and the request's URI.
func e2elimitEcho(name string) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(rw, "%s host=%s uri=%s\n", name, r.Host, r.RequestURI)
	}
}

// e2elimitWaitLogged waits until the access log holds a line with sub.
func (w *weir) e2elimitWaitLogged(sub string) {
	w.t.Helper()
	waitFor(w.t, 5*time.Second, "an access-log line with "+sub, func() bool { return strings.Contains(w.access.String(), sub) })
}

// TestIngressNginxIPAllowlist ports test/e2e/annotations/ipallowlist.go.
func TestIngressNginxIPAllowlist(t *testing.T) {
	echo := newBackend(t, "echo", e2elimitEcho("echo"))
	// "should set valid ip allowlist range": nginx.conf holds allow
	// 18.0.0.0/8; allow 56.0.0.0/8; deny all; so a client outside them
	// gets nginx's 403 page and one inside is served.
	w := startWeirWith(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml": service("echo", echo.port) +
			ingress("ipallowlist.foo.com", "ipallowlist.foo.com", "echo", "allowlist-source-range", "18.0.0.0/8, 56.0.0.0/8"),
		"cm.yaml": configMap("use-forwarded-headers", "true"),
	}, configMapOptions())
	for _, tc := range []struct {
		xff  string
		want int
	}{{"", 403}, {"18.0.0.1", 200}, {"56.1.2.3", 200}, {"57.0.0.1", 403}} {
		var hdr []string
		if tc.xff != "" {
			hdr = []string{"X-Forwarded-For", tc.xff}
		}
		res := w.get("ipallowlist.foo.com", "/", hdr...)
		if res.status != tc.want {
			t.Errorf("X-Forwarded-For %q: %d, want %d", tc.xff, res.status, tc.want)
		}
		if tc.want == 403 && !strings.Contains(res.body, "<title>403 Forbidden</title>") {
			t.Errorf("X-Forwarded-For %q: body %q, want nginx's 403 page", tc.xff, res.body)
		}
	}
}

// TestIngressNginxIPDenylist ports test/e2e/annotations/ipdenylist.go: with
// use-forwarded-headers the client address is X-Forwarded-For's.
func TestIngressNginxIPDenylist(t *testing.T) {
	echo := newBackend(t, "echo", e2elimitEcho("echo"))
	files := func(ann ...string) map[string]string {
		return map[string]string{
			"class.yaml": ingressClass,
			"app.yaml":   service("echo", echo.port) + ingress("ipdenylist.foo.com", "ipdenylist.foo.com", "echo", ann...),
			"cm.yaml":    configMap("use-forwarded-headers", "true"),
		}
	}
	check := func(t *testing.T, w *weir, want map[string]int) {
		t.Helper()
		for xff, status := range want {
			if got := w.get("ipdenylist.foo.com", "/", "X-Forwarded-For", xff).status; got != status {
				t.Errorf("X-Forwarded-For %s: %d, want %d", xff, got, status)
			}
		}
	}
	t.Run("only deny explicitly denied IPs, allow all others", func(t *testing.T) {
		w := startWeirWith(t, files("denylist-source-range", "18.0.0.0/8, 56.0.0.1"), configMapOptions())
		check(t, w, map[string]int{"18.0.0.1": 403, "56.0.0.1": 403, "56.0.0.2": 200})
	})
	t.Run("only allow explicitly allowed IPs, deny all others", func(t *testing.T) {
		w := startWeirWith(t, files("denylist-source-range", "18.1.0.0/16, 56.0.0.0/8",
			"whitelist-source-range", "18.0.0.0/8, 55.0.0.0/8"), configMapOptions())
		check(t, w, map[string]int{"18.1.0.1": 403, "10.10.10.10": 403, "18.4.0.1": 200, "55.55.55.55": 200})
	})
}

// TestIngressNginxLimitConnectionsE2E ports
// test/e2e/annotations/limitconnections.go ("should limit-connections"):
// limit-connections 8 and 20 concurrent slow requests: 8 × 200, 12 × 503.
func TestIngressNginxLimitConnectionsE2E(t *testing.T) {
	b, arrived, release := slowBackend(t, "slow")
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("slow", b.port) + ingress("limit-connections", "limit-connections", "slow", "limit-connections", "8"),
	})
	const limit, requests = 8, 20
	results := make(chan int, requests)
	for range limit {
		go func() { results <- getOwnConn(w.base, "limit-connections") }()
		arrived()
	}
	var wg sync.WaitGroup
	for range requests - limit {
		wg.Add(1)
		go func() { defer wg.Done(); results <- getOwnConn(w.base, "limit-connections") }()
	}
	wg.Wait()
	release()
	counts := map[int]int{}
	for range requests {
		counts[<-results]++
	}
	if counts[200] != limit || counts[503] != requests-limit || len(counts) != 2 {
		t.Errorf("statuses %v, want %d × 200 and %d × 503", counts, limit, requests-limit)
	}
}

// TestIngressNginxMirrorRequestBody ports test/e2e/annotations/mirror.go's
// "should disable mirror-request-body" (mirror_request_body off) on the
// wire: the mirror gets the request without its body while the main
// backend gets it whole; with the default (on) the mirror gets the body.
// "should set mirror-target to http://localhost/mirror" and "...
// $request_uri" are covered by traffic_test.go:TestMirrorFromManifests.
func TestIngressNginxMirrorRequestBody(t *testing.T) {
	type copyOf struct{ uri, body string }
	copies := make(chan copyOf, 4)
	mirror := newBackend(t, "mirror", func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		copies <- copyOf{r.RequestURI, string(b)}
	})
	main := newBackend(t, "main", func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(rw, "main body=%s", b)
	})
	target := fmt.Sprintf("http://127.0.0.1:%d/mirror", mirror.port)
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml": service("main", main.port) + service("mirror", mirror.port) +
			ingress("body-on", "on.mirror.foo.com", "main", "mirror-target", target) +
			ingress("body-off", "off.mirror.foo.com", "main", "mirror-target", target, "mirror-request-body", "off"),
	})
	for _, tc := range []struct{ host, wantCopy string }{{"on.mirror.foo.com", "payload"}, {"off.mirror.foo.com", ""}} {
		res := w.do(http.MethodPost, tc.host, "/x", strings.NewReader("payload"))
		if res.status != 200 || res.body != "main body=payload" {
			t.Errorf("%s: %d %q, want 200 with the whole body", tc.host, res.status, res.body)
		}
		select {
		case c := <-copies:
			if c.body != tc.wantCopy || c.uri != "/mirror" {
				t.Errorf("%s: the mirror got %q with body %q, want /mirror with %q", tc.host, c.uri, c.body, tc.wantCopy)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no copy within 10s", tc.host)
		}
	}
}

// TestIngressNginxAccessLogSwitches ports test/e2e/annotations/log.go
// ("set access_log off") and test/e2e/annotations/disableaccesslog.go: the
// request is served and, where access_log is off, not logged.
func TestIngressNginxAccessLogSwitches(t *testing.T) {
	echo := newBackend(t, "echo", e2elimitEcho("echo"))
	for _, tc := range []struct {
		name   string
		ann    []string
		cm     []string
		logged bool
	}{
		{"log.go: set access_log off", []string{"enable-access-log", "false"}, nil, false},
		{"disableaccesslog.go: disable-access-log", nil, []string{"disable-access-log", "true"}, false},
		{"disableaccesslog.go: disable-http-access-log", nil, []string{"disable-http-access-log", "true"}, false},
		{"disableaccesslog.go: disable-stream-access-log", nil, []string{"disable-stream-access-log", "true"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := startWeirWith(t, map[string]string{
				"class.yaml": ingressClass,
				"app.yaml": service("echo", echo.port) + ingress("log", "log.foo.com", "echo", tc.ann...) +
					ingress("other", "other.foo.com", "echo"),
				"cm.yaml": configMap(tc.cm...),
			}, configMapOptions())
			if res := w.get("log.foo.com", "/first"); res.status != 200 {
				t.Fatalf("GET log.foo.com: %d, want 200", res.status)
			}
			if tc.logged {
				w.e2elimitWaitLogged(`"path":"/first"`)
				return
			}
			// The request is counted before its line would be written;
			// a later request on a host that is logged (the annotation
			// cases) is logged after it.
			if tc.ann != nil {
				w.get("other.foo.com", "/second")
				w.e2elimitWaitLogged(`"path":"/second"`)
			} else if got := w.requestsMetricReaches("log.foo.com", "", 1); got != 1 {
				t.Fatalf("requests metric of log.foo.com: %d, want 1", got)
			}
			if strings.Contains(w.access.String(), "/first") {
				t.Errorf("access log holds the request of a host with access_log off:\n%s", w.access.String())
			}
		})
	}
	// log.go "set rewrite_log on": nginx's rewrite debug log, which Weir
	// does not have; the Ingress is served, with a warning.
	t.Run("log.go: set rewrite_log on", func(t *testing.T) {
		w := startWeir(t, map[string]string{
			"class.yaml": ingressClass,
			"app.yaml":   service("echo", echo.port) + ingress("log", "log.foo.com", "echo", "enable-rewrite-log", "true"),
		})
		if res := w.get("log.foo.com", "/"); res.status != 200 {
			t.Errorf("GET: %d, want 200", res.status)
		}
		if !strings.Contains(w.logs.String(), "enable-rewrite-log") {
			t.Errorf("no warning names enable-rewrite-log:\n%s", w.logs.String())
		}
	})
}

// TestIngressNginxClientBodyBufferSize ports
// test/e2e/annotations/clientbodybuffersize.go: each valid size (1000, 1K,
// 1k, 1m, 1M) and the invalid 1b leave the location served; a body larger
// than the buffer reaches the endpoint whole.
func TestIngressNginxClientBodyBufferSize(t *testing.T) {
	echo := newBackend(t, "echo", func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(rw, "host=%s len=%d", r.Host, len(b))
	})
	sizes := []string{"1000", "1K", "1k", "1m", "1M", "1b"}
	var ings strings.Builder
	for i, size := range sizes {
		ings.WriteString(ingress(fmt.Sprintf("cbbs%d", i), size+".clientbodybuffersize.com", "echo",
			"client-body-buffer-size", size))
	}
	w := startWeir(t, map[string]string{"class.yaml": ingressClass, "app.yaml": service("echo", echo.port) + ings.String()})
	body := strings.Repeat("b", 3000)
	for _, size := range sizes {
		t.Run("should set client_body_buffer_size to "+size, func(t *testing.T) {
			host := size + ".clientbodybuffersize.com"
			if res := w.get(host, "/"); res.status != 200 {
				t.Errorf("GET: %d %q, want 200", res.status, res.body)
			}
			if res := w.do(http.MethodPost, host, "/", strings.NewReader(body)); res.status != 200 || !strings.HasSuffix(res.body, "len=3000") {
				t.Errorf("POST of 3000 bytes: %d %q, want 200 with all of it", res.status, res.body)
			}
		})
	}
}

// TestIngressNginxUpstreamHashBy ports test/e2e/annotations/upstreamhashby.go
// with six endpoints: upstream-hash-by $request_uri sends one URI to one
// endpoint; with upstream-hash-by-subset (size 3) to the three of its
// subset, chosen at random within it. Each Ingress has its own Service
// (the e2e cases their own namespace): the hashing of a Service port is
// its oldest Ingress's.
func TestIngressNginxUpstreamHashBy(t *testing.T) {
	var ports []int
	for i := range 6 {
		ports = append(ports, newBackend(t, fmt.Sprintf("pod%d", i), nil).port)
	}
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml": affServices(ports, "one", "subset") +
			ingress("one", "upstream-hash-by.foo.com", "one", "upstream-hash-by", "$request_uri") +
			ingress("subset", "subset.upstream-hash-by.foo.com", "subset", "upstream-hash-by", "$request_uri",
				"upstream-hash-by-subset", "true", "upstream-hash-by-subset-size", "3"),
	})
	t.Run("should connect to the same pod", func(t *testing.T) {
		if got := w.countBackends(40, "upstream-hash-by.foo.com"); len(got) != 1 {
			t.Errorf("40 requests of one URI reached %v, want one endpoint", got)
		}
	})
	t.Run("should connect to the same subset of pods", func(t *testing.T) {
		// 100 requests, as the e2e case: the chance that one of three
		// endpoints chosen at random gets none is 3·(2/3)^100.
		if got := w.countBackends(100, "subset.upstream-hash-by.foo.com"); len(got) != 3 {
			t.Errorf("100 requests of one URI reached %v, want the three endpoints of its subset", got)
		}
	})
}

// TestIngressNginxCustomHTTPErrorsE2E ports
// test/e2e/annotations/customhttperrors.go on the wire: the listed codes
// are answered by the default backend with X-Code, a changed list takes
// effect, a second Ingress of the same host with its own list, and the
// default-backend annotation's Service answers instead.
func TestIngressNginxCustomHTTPErrorsE2E(t *testing.T) {
	app := newBackend(t, "app", func(rw http.ResponseWriter, r *http.Request) {
		code := 200
		fmt.Sscanf(strings.TrimPrefix(r.URL.Path[strings.LastIndexByte(r.URL.Path, '/'):], "/"), "%d", &code)
		rw.WriteHeader(code)
		fmt.Fprint(rw, "app")
	})
	page := func(name string) http.HandlerFunc {
		return func(rw http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(rw, "%s x-code=%s", name, r.Header.Get("X-Code"))
		}
	}
	deflt := newBackend(t, "deflt", page("deflt"))
	custom := newBackend(t, "from-annotation", page("from-annotation"))
	svcs := service("app", app.port) + service("deflt", deflt.port) + service("from-annotation", custom.port)
	opts := configMapOptions()
	opts.DefaultBackendService = "default/deflt"
	w := startWeirWith(t, map[string]string{
		"class.yaml": ingressClass, "cm.yaml": configMap(),
		"app.yaml": svcs + ingress("customerrors", "customerrors.foo.com", "app", "custom-http-errors", "404,500"),
	}, opts)
	check := func(what string, want map[string]string) {
		t.Helper()
		for path, body := range want {
			res := w.get("customerrors.foo.com", path)
			wantStatus := 200
			if body == "app" {
				fmt.Sscanf(path[strings.LastIndexByte(path, '/')+1:], "%d", &wantStatus)
			}
			if res.status != wantStatus || res.body != body {
				t.Errorf("%s: GET %s: %d %q, want %d %q", what, path, res.status, res.body, wantStatus, body)
			}
		}
	}
	check("404,500", map[string]string{"/status/404": "deflt x-code=404", "/status/500": "deflt x-code=500", "/status/503": "app"})
	w.update("app.yaml", svcs+ingress("customerrors", "customerrors.foo.com", "app", "custom-http-errors", "503"))
	check("503", map[string]string{"/status/404": "app", "/status/500": "app", "/status/503": "deflt x-code=503"})
	w.update("app.yaml", svcs+ingress("customerrors", "customerrors.foo.com", "app", "custom-http-errors", "503")+
		ingressPaths("customerrors-else", "customerrors.foo.com", "app", "Prefix", []string{"/else"}, "custom-http-errors", "404, 503"))
	check("second Ingress 404, 503", map[string]string{"/status/404": "app", "/else/status/404": "deflt x-code=404",
		"/else/status/503": "deflt x-code=503", "/status/503": "deflt x-code=503"})
	w.update("app.yaml", svcs+ingress("customerrors", "customerrors.foo.com", "app", "custom-http-errors", "503",
		"default-backend", "from-annotation"))
	check("default-backend annotation", map[string]string{"/status/503": "from-annotation x-code=503"})
}

// TestIngressNginxLimitRateConfigMap ports test/e2e/settings/limit_rate.go
// (limit_rate 1k from the ConfigMap) on the wire: a 2 KiB response of a
// route with proxy-buffering on, as the e2e case sets it, takes a second
// or more; one of a route with proxy-buffering off (the default) is not
// paced, as nginx's unbuffered responses. The annotation's case is
// traffic_test.go's TestLimitRateThroughServer.
func TestIngressNginxLimitRateConfigMap(t *testing.T) {
	body := strings.Repeat("x", 2<<10)
	b := newBackend(t, "lr", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, body) })
	w := startWeirWith(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml": service("lr", b.port) + ingress("limit-rate", "limit-rate", "lr", "proxy-buffering", "on") +
			ingress("unbuffered", "unbuffered.limit-rate", "lr"),
		"cm.yaml": configMap("limit-rate", "1"),
	}, configMapOptions())
	w.wantPaced("limit-rate", body)
	start := time.Now()
	if res := w.get("unbuffered.limit-rate", "/"); res.status != 200 || res.body != body || time.Since(start) > 500*time.Millisecond {
		t.Errorf("proxy-buffering off: %d, %d bytes in %v; want all of it at once", res.status, len(res.body), time.Since(start))
	}
}

// wantPaced checks that GET / of host answers 200 with body, 2 KiB, in a
// second or more: paced at 1 KiB/s.
func (w *weir) wantPaced(host, body string) {
	w.t.Helper()
	start := time.Now()
	res := w.get(host, "/")
	if d := time.Since(start); res.status != 200 || res.body != body || d < time.Second {
		w.t.Errorf("2 KiB at 1 KiB/s: %d, %d bytes in %v; want 200, all of it, at least 1s", res.status, len(res.body), d)
	}
}

// TestIngressNginxLimitRPSBurst compares limit-rps with nginx 1.22.1 as
// ingress-nginx renders it (limit_req zone=... burst=rps×5 nodelay;
// limit_req_status from limit-req-status-code): limit-rps 2 with 12
// requests at once lets 11 in (1 + burst 10) and refuses the last with
// nginx's 503 page, or 429's with limit-req-status-code 429.
func TestIngressNginxLimitRPSBurst(t *testing.T) {
	b := newBackend(t, "rps", nil)
	w := startWeirWith(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("rps", b.port) + ingress("rps", "rps.test", "rps", "limit-rps", "2"),
		"cm.yaml":    configMap(),
	}, configMapOptions())
	burst := func(host string) (map[int]int, result) {
		counts := map[int]int{}
		var last result
		for range 12 {
			res := w.get(host, "/")
			counts[res.status]++
			if res.status != 200 {
				last = res
			}
		}
		return counts, last
	}
	counts, refused := burst("rps.test")
	if counts[200] != 11 || counts[503] != 1 {
		t.Errorf("limit-rps 2, 12 requests: %v, want 11 × 200 and 1 × 503", counts)
	}
	if !strings.Contains(refused.body, "<title>503 Service Temporarily Unavailable</title>") || refused.header.Get("Content-Type") != "text/html" {
		t.Errorf("refused: %q %v, want nginx's 503 page", refused.body, refused.header)
	}
	w.update("cm.yaml", configMap("limit-req-status-code", "429"))
	w.update("app.yaml", service("rps", b.port)+ingress("rps2", "rps2.test", "rps", "limit-rps", "2"))
	counts, refused = burst("rps2.test")
	if counts[200] != 11 || counts[429] != 1 {
		t.Errorf("limit-rps 2, limit-req-status-code 429, 12 requests: %v, want 11 × 200 and 1 × 429", counts)
	}
	if !strings.Contains(refused.body, "<title>429 Too Many Requests</title>") {
		t.Errorf("refused with 429: %q, want nginx's 429 page", refused.body)
	}
}

// TestIngressNginxLimitByForwardedAddress: with use-forwarded-headers, the
// limit_req key ($binary_remote_addr) and limit-allowlist's geo
// ($remote_addr) are the address the realip module took from
// X-Forwarded-For: each client has its own 1 + burst 1, and an allowlisted
// one none.
func TestIngressNginxLimitByForwardedAddress(t *testing.T) {
	b := newBackend(t, "la", nil)
	w := startWeirWith(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml": service("la", b.port) + ingress("la", "la.test", "la",
			"limit-rps", "1", "limit-burst-multiplier", "1", "limit-allowlist", "18.0.0.0/8"),
		"cm.yaml": configMap("use-forwarded-headers", "true"),
	}, configMapOptions())
	for _, tc := range []struct{ xff, want string }{
		{"18.1.1.1", "200 200 200 200"}, {"19.1.1.1", "200 200 503 503"}, {"20.1.1.1", "200 200 503 503"},
	} {
		var got []string
		for range 4 {
			got = append(got, fmt.Sprint(w.get("la.test", "/", "X-Forwarded-For", tc.xff).status))
		}
		if g := strings.Join(got, " "); g != tc.want {
			t.Errorf("X-Forwarded-For %s: %s, want %s", tc.xff, g, tc.want)
		}
	}
}

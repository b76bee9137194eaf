package e2e

// Ports of ingress-nginx's e2e cases on backends and paths:
// test/e2e/annotations/default_backend.go,
// test/e2e/defaultbackend/default_backend.go,
// test/e2e/annotations/forcesslredirect.go,
// test/e2e/annotations/limitrate.go, test/e2e/ingress/pathtype_mixed.go,
// test/e2e/ingress/pathtype_prefix.go,
// test/e2e/servicebackend/service_backend.go and
// test/e2e/servicebackend/service_nil_backend.go. Each ginkgo.It is a
// subtest named as it; cases that only read nginx.conf are ported as what
// that configuration does on the wire.

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weir-lb/weir/userspace/snapshot"
)

// backEcho starts the echo backend (redirEcho) and a Weir that serves it
// as the Service echo, with the Ingresses ings.
func backEcho(t *testing.T, ings string) (*weir, *backend) {
	t.Helper()
	echo := newBackend(t, "echo", redirEcho("echo"))
	return startWeir(t, map[string]string{"class.yaml": ingressClass, "app.yaml": service("echo", echo.port) + ings}), echo
}

// TestIngressNginxDefaultBackendAnnotation ports
// test/e2e/annotations/default_backend.go: an Ingress whose Service does
// not exist, with default-backend naming the echo Service, is proxied to
// echo with the headers nginx.tmpl sets for a location whose backend is a
// custom-default-backend upstream (X-Code 503, X-Format, X-Namespace,
// X-Ingress-Name, X-Service-Name, X-Service-Port, X-Request-ID), and the
// request's own URI, from the route's own location.
func TestIngressNginxDefaultBackendAnnotation(t *testing.T) {
	const host = "default-backend"
	w, _ := backEcho(t, ingress(host, host, "invalid", "default-backend", "echo"))
	t.Run("should use a custom default backend as upstream", func(t *testing.T) {
		redirWant(t, "GET /alma/armud", w.get(host, "/alma/armud", "X-Request-ID", "something-unique", "Accept", "text/html"),
			http.StatusOK, []string{"service=echo\n", "x-code=503\n", "x-ingress-name=" + host + "\n", "x-service-name=invalid\n",
				"x-request-id=something-unique\n", "x-namespace=default\n", "x-service-port=80\n", "x-format=text/html\n",
				"request_uri=http://" + host + "/alma/armud\n"})
	})
	// Beyond the e2e case: that upstream is reached by the route's own
	// location (its proxy_pass), so the request keeps its method and
	// body, and the location's rewrite-target and backend-protocol apply
	// (nginx 1.22.1, the location with rewrite "(?i)/app(/|$)(.*)" /new/$2
	// break: GET /app/x?q=1 reached the upstream as /new/x?q=1; with
	// proxy_pass https://, over TLS).
	t.Run("the route's own location", func(t *testing.T) {
		answer := func(rw http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			fmt.Fprintf(rw, "%s %s tls=%v code=%s body=%s", r.Method, r.RequestURI, r.TLS != nil, r.Header.Get("X-Code"), body)
		}
		pages := newBackend(t, "pages", answer)
		tlsPages := httptest.NewTLSServer(http.HandlerFunc(answer))
		t.Cleanup(tlsPages.Close)
		tlsPort, _ := strconv.Atoi(tlsPages.URL[strings.LastIndexByte(tlsPages.URL, ':')+1:])
		w.update("own.yaml", service("pages", pages.port)+service("tlspages", tlsPort)+
			pathIngress("rw", "rw.test", "/app(/|$)(.*)", "ImplementationSpecific", "invalid", "default-backend", "pages",
				"rewrite-target", "/new/$2", "use-regex", "true")+
			ingress("tls", "tls.test", "invalid", "default-backend", "tlspages", "backend-protocol", "HTTPS"))
		for _, tc := range []struct {
			host, method, path, want string
		}{
			{"rw.test", http.MethodPost, "/app/x?q=1", "POST /new/x?q=1 tls=false code=503 body=hello"},
			{"tls.test", http.MethodGet, "/t", "GET /t tls=true code=503 body="},
		} {
			body := ""
			if tc.method == http.MethodPost {
				body = "hello"
			}
			if got := w.do(tc.method, tc.host, tc.path, strings.NewReader(body)); got.status != http.StatusOK || got.body != tc.want {
				t.Errorf("%s %s%s: %d %q, want 200 %q", tc.method, tc.host, tc.path, got.status, got.body, tc.want)
			}
		}
	})
}

// TestIngressNginxDefaultBackend ports test/e2e/defaultbackend/
// default_backend.go: with only the default backend, every request gets
// 404, over HTTP and HTTPS, GET and POST, with and without a Host; the
// default backend's requests are logged only with
// enable-access-log-for-default-backend.
func TestIngressNginxDefaultBackend(t *testing.T) {
	w := startWeirWith(t, map[string]string{"class.yaml": ingressClass, "cm.yaml": configMap()}, configMapOptions())
	https := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	t.Run("should return 404 sending requests when only a default backend is running", func(t *testing.T) {
		for _, scheme := range []string{"http", "https"} {
			base := w.base
			c := client
			if scheme == "https" {
				base, c = "https://"+w.d.HTTPSAddr(), https
			}
			for _, method := range []string{http.MethodGet, http.MethodPost} {
				for _, host := range []string{"", "foo.bar.com"} {
					for _, path := range []string{"/", "/demo"} {
						req, _ := http.NewRequest(method, base+path, nil)
						if host != "" {
							req.Host = host
						}
						resp, err := c.Do(req)
						if err != nil {
							t.Fatalf("%s %s %s%s: %v", scheme, method, host, path, err)
						}
						resp.Body.Close()
						if resp.StatusCode != http.StatusNotFound {
							t.Errorf("%s %s %q %s: %d, want 404", scheme, method, host, path, resp.StatusCode)
						}
					}
				}
			}
		}
	})
	t.Run("enables access logging for default backend", func(t *testing.T) {
		w.update("cm.yaml", configMap("enable-access-log-for-default-backend", "true"))
		if got := w.get("foo", "/somethingOne").status; got != 404 {
			t.Errorf("GET foo/somethingOne: %d, want 404", got)
		}
		w.e2elimitWaitLogged("/somethingOne")
	})
	t.Run("disables access logging for default backend", func(t *testing.T) {
		w.update("cm.yaml", configMap("enable-access-log-for-default-backend", "false"))
		if got := w.get("bar", "/somethingTwo").status; got != 404 {
			t.Errorf("GET bar/somethingTwo: %d, want 404", got)
		}
		// Logged again once on: its line comes after the one before.
		w.update("cm.yaml", configMap("enable-access-log-for-default-backend", "true"))
		w.get("bar", "/somethingThree")
		w.e2elimitWaitLogged("/somethingThree")
		if strings.Contains(w.access.String(), "/somethingTwo") {
			t.Errorf("access log holds a default-backend request with enable-access-log-for-default-backend false:\n%s", w.access.String())
		}
	})
	// Beyond the e2e cases: the default server's location /healthz
	// (nginx.tmpl, for cloud load balancers) answers 200, empty, for any
	// method, over HTTP and HTTPS, and logs nothing, even with
	// enable-access-log-for-default-backend (nginx 1.22.1 with that
	// server: GET, POST, HEAD, DELETE /healthz 200, Content-Length 0).
	t.Run("the default server's /healthz", func(t *testing.T) {
		for _, base := range []string{w.base, "https://" + w.d.HTTPSAddr()} {
			for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodHead, http.MethodDelete} {
				req, _ := http.NewRequest(method, base+"/healthz", nil)
				req.Host = "foo.bar.com"
				resp, err := https.Do(req)
				if err != nil {
					t.Fatalf("%s %s/healthz: %v", method, base, err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || len(body) != 0 {
					t.Errorf("%s %s/healthz: %d %q, want 200 and no body", method, base, resp.StatusCode, body)
				}
			}
		}
		w.get("bar", "/afterHealthz")
		w.e2elimitWaitLogged("/afterHealthz")
		if strings.Contains(w.access.String(), "/healthz") {
			t.Errorf("access log holds /healthz:\n%s", w.access.String())
		}
	})
}

// TestIngressNginxForceSSLRedirect ports
// test/e2e/annotations/forcesslredirect.go: without a TLS section, the
// plain HTTP request is redirected to https, without the trailing "/" of
// the URI (lua_ingress.lua) nor a port (TestSSLRedirectLocation has more
// paths).
func TestIngressNginxForceSSLRedirect(t *testing.T) {
	const host = "forcesslredirect.bar.com"
	w, echo := backEcho(t, ingress(host, host, "echo", "force-ssl-redirect", "true"))
	t.Run("should redirect to https", func(t *testing.T) {
		redirLocation(t, "GET /", w.get(host, "/"), http.StatusPermanentRedirect, "https://forcesslredirect.bar.com")
		if n := echo.e2ecorsCount(); n != 0 {
			t.Errorf("the upstream got %d requests, want none", n)
		}
	})
}

// backPaced sends GET path to host and returns when the first cut bytes
// of the body arrived, when all of it did (within 10s), and the body.
func (w *weir) backPaced(host, path string, cut int) (first, all time.Duration, body []byte) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.base+path, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	req.Host = host
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		w.t.Fatalf("GET %s%s: %v", host, path, err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 4<<10)
	for {
		n, err := resp.Body.Read(buf)
		body = append(body, buf[:n]...)
		if first == 0 && len(body) >= cut {
			first = time.Since(start)
		}
		if err == io.EOF {
			return first, time.Since(start), body
		}
		if err != nil {
			w.t.Fatalf("read GET %s%s after %d bytes: %v", host, path, len(body), err)
		}
	}
}

// TestIngressNginxLimitRate ports test/e2e/annotations/limitrate.go, which
// reads "limit_rate 1k;" and then "limit_rate 90k;" in nginx.conf: here the
// rate a client observes on a route with proxy-buffering on, as the e2e
// case sets it, before and after the annotation changes, and the
// limit-rate-after that follows it. nginx's limit_rate lets rate×(s+1)
// bytes go by s whole seconds (plus limit_rate_after first), the head's
// among them. nginx 1.22.1 with proxy_buffering on answered (body bytes
// received over time, after a head of about 240 bytes): limit_rate 1k, 2048
// bytes: 789 at once, 1813 after 1s, all after 2.004s; limit_rate 90k,
// 2048 bytes at once, 102400 bytes all after 1.003s; limit_rate 1k and
// limit_rate_after 2k, 4096 bytes: 2836 at once, 3860 after 1s, all after
// 2.003s.
func TestIngressNginxLimitRate(t *testing.T) {
	const host = "limit-rate-annotation"
	bodies := map[string]string{"/2k": strings.Repeat("s", 2<<10), "/4k": strings.Repeat("a", 4<<10), "/100k": strings.Repeat("l", 100<<10)}
	echo := newBackend(t, "echo", func(rw http.ResponseWriter, r *http.Request) { io.WriteString(rw, bodies[r.URL.Path]) })
	app := func(ann ...string) string {
		return service("echo", echo.port) + ingress(host, host, "echo", append([]string{"proxy-buffering", "on"}, ann...)...)
	}
	w := startWeir(t, map[string]string{"class.yaml": ingressClass, "app.yaml": app("limit-rate", "1")})
	// paced checks that the first cut bytes of path's body come before
	// firstBefore and all of it after allAfter.
	paced := func(t *testing.T, what, path string, cut int, firstBefore, allAfter time.Duration) {
		t.Helper()
		first, all, got := w.backPaced(host, path, cut)
		if string(got) != bodies[path] {
			t.Fatalf("%s: %d bytes, want %d", what, len(got), len(bodies[path]))
		}
		if first >= firstBefore || all < allAfter {
			t.Errorf("%s: the first %d bytes in %v, all %d in %v; want the first before %v, all after %v",
				what, cut, first, len(got), all, firstBefore, allAfter)
		}
	}
	t.Run("Check limit-rate annotation", func(t *testing.T) {
		// 2 KiB and a head at 1 KiB/s: half a KiB at once, all of it
		// after two seconds.
		paced(t, "limit-rate 1, 2 KiB", "/2k", 512, 900*time.Millisecond, 2*time.Second)
		w.update("app.yaml", app("limit-rate", "90"))
		// 2 KiB at 90 KiB/s: at once.
		paced(t, "limit-rate 90, 2 KiB", "/2k", 2<<10, 900*time.Millisecond, 0)
		// 100 KiB at 90 KiB/s: 80 KiB at once, all of it after a second
		// (within the 10s of backPaced: 1 KiB/s would take 100).
		paced(t, "limit-rate 90, 100 KiB", "/100k", 80<<10, 900*time.Millisecond, time.Second)
	})
	t.Run("limit-rate-after", func(t *testing.T) {
		w.update("app.yaml", app("limit-rate", "1", "limit-rate-after", "2"))
		// 2 KiB free, then 1 KiB/s: 2.5 KiB at once, 4 KiB and a head
		// after two seconds.
		paced(t, "limit-rate 1, limit-rate-after 2, 4 KiB", "/4k", 2560, 900*time.Millisecond, 2*time.Second)
	})
}

// TestIngressNginxPathTypeMixed ports test/e2e/ingress/pathtype_mixed.go.
// The e2e case tells its four Ingresses apart by the request headers their
// configuration-snippets add (with AllowSnippetConfiguration); Weir serves
// those Ingresses and never applies a snippet (README, SnippetIgnored), so
// here each Ingress has its own Service, whose name the echo answers, and
// the upstream gets no pathtype nor pathheader field.
func TestIngressNginxPathTypeMixed(t *testing.T) {
	const host = "mixed.path"
	names := []string{"exact-root", "prefix-root", "exact-foo", "prefix-foo"}
	svcs := ""
	for _, name := range names {
		svcs += service(name, newBackend(t, name, redirEcho(name)).port)
	}
	ing := func(name, path, pathType, header string) string {
		return pathIngress(name, host, path, pathType, name, "configuration-snippet",
			`more_set_input_headers "pathType: `+strings.ToLower(pathType)+`";more_set_input_headers "pathheader: `+header+`";`)
	}
	root := ing("exact-root", "/", "Exact", "/") + ing("prefix-root", "/", "Prefix", "/")
	w := e2esetWeir(t, map[string]string{"app.yaml": svcs + root}, nil, "allow-snippet-annotations", "true", "annotations-risk-level", "Critical")
	check := func(t *testing.T, path, from string) {
		t.Helper()
		redirWant(t, "GET "+path, w.get(host, path), http.StatusOK, []string{"service=" + from + "\n"}, "pathtype=", "pathheader=")
	}
	t.Run("should choose the correct location", func(t *testing.T) {
		check(t, "/", "exact-root")
		check(t, "/bar", "prefix-root")
		w.update("app.yaml", svcs+root+ing("exact-foo", "/foo", "Exact", "/foo")+ing("prefix-foo", "/foo", "Prefix", "/foo"))
		check(t, "/foo", "exact-foo")
		check(t, "/foo/bar", "prefix-foo")
		check(t, "/foobar", "prefix-root")
		for _, name := range names {
			if !e2erestWarned(w, snapshot.ReasonSnippetIgnored, name, "configuration-snippet") {
				t.Errorf("no SnippetIgnored warning for %s: %v", name, w.d.Live().Warnings)
			}
		}
	})
}

// TestIngressNginxPathTypePrefix ports test/e2e/ingress/pathtype_prefix.go:
// a Prefix path matches whole segments; with use-regex, a path is a
// case-insensitive regular expression anchored at the start only.
func TestIngressNginxPathTypePrefix(t *testing.T) {
	for _, tc := range []struct {
		name, host, path string
		regex            bool
		want             map[string]int // request path: status
	}{
		{"should return 404 when prefix /aaa does not match request /aaaccc", "prefix.path", "/aaa", false,
			map[string]int{"/aaa": 200, "/aaacccc": 404, "/aaa/cccc": 200, "/aaa/": 200}},
		{"should test prefix path using simple regex pattern for /id/{int}", "echo.com.br", "/id/[0-9]+", true,
			map[string]int{"/id/1": 200, "/id/12": 200, "/id/123": 200, "/id/aaa": 404, "/id/123a": 200}},
		{"should test prefix path using regex pattern for /id/{int} ignoring non-digits characters at end of string", "echo.regex.br", "/id/[0-9]+$", true,
			map[string]int{"/id/1": 200, "/id/aaa": 404, "/id/123a": 404}},
		{"should test prefix path using fixed path size regex pattern /id/{int}{3}", "echo.regex.size.br", "/id/[0-9]{3}$", true,
			map[string]int{"/id/99": 404, "/id/123": 200, "/id/9999": 404, "/id/123a": 404}},
		{"should correctly route multi-segment path patterns", "echo.multi.segment.br", "/id/[0-9]+/post/[a-zA-Z]+$", true,
			map[string]int{"/id/123/post/abc": 200, "/id/123/post/abc123": 404, "/id/abc/post/abc": 404}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ann []string
			if tc.regex {
				ann = []string{"use-regex", "true"}
			}
			w, _ := backEcho(t, pathIngress(tc.host, tc.host, tc.path, "Prefix", "echo", ann...))
			for path, status := range tc.want {
				got := w.get(tc.host, path)
				if got.status != status || status == http.StatusOK && !strings.Contains(got.body, "request_uri=http://"+tc.host+path+"\n") {
					t.Errorf("GET %s%s: %d %q, want %d", tc.host, path, got.status, got.body, status)
				}
			}
		})
	}
}

// TestIngressNginxServiceBackend ports
// test/e2e/servicebackend/service_backend.go and service_nil_backend.go: a
// Service that does not exist, or whose endpoints are all unavailable,
// answers 503 on its route; a rule whose backend is a resource, not a
// Service, answers 404 and leaves the other Ingress served.
func TestIngressNginxServiceBackend(t *testing.T) {
	w, echo := backEcho(t, service("unavailable-svc")+
		pathIngress("nonexistent.svc.com", "nonexistent.svc.com", "/", "Prefix", "nonexistent-svc")+
		pathIngress("unavailable.svc.com", "unavailable.svc.com", "/", "Prefix", "unavailable-svc")+
		pathIngress("valid.svc.com", "valid.svc.com", "/", "Prefix", "echo")+`
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: nilbackend.svc.com, namespace: default}
spec:
  ingressClassName: weir
  rules:
  - host: nilbackend.svc.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend: {resource: {apiGroup: otherobj.testingress.com, kind: Anything, name: mytest}}
`)
	for _, tc := range []struct {
		name, host string
		status     int
	}{
		{"should return 503 when backend service does not exist", "nonexistent.svc.com", http.StatusServiceUnavailable},
		{"should return 503 when all backend service endpoints are unavailable", "unavailable.svc.com", http.StatusServiceUnavailable},
		{"should return 404 when backend service is nil: the valid host", "valid.svc.com", http.StatusOK},
		{"should return 404 when backend service is nil", "nilbackend.svc.com", http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := echo.e2ecorsCount()
			got := w.get(tc.host, "/")
			if got.status != tc.status {
				t.Errorf("GET %s/: %d %q, want %d", tc.host, got.status, got.body, tc.status)
			}
			if reached := echo.e2ecorsCount() > before; reached != (tc.status == http.StatusOK) {
				t.Errorf("GET %s/: echo reached %v", tc.host, reached)
			}
		})
	}
}

package e2e

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/certs/certstest"
)

// settingsEcho answers as the backends of ingress-nginx's e2e tests do:
// httpbun's /xml, /html and /bytes/N, and otherwise the echo server's
// "host=" line and the request's header fields, lower case, one a line.
// ?hsts=true adds the upstream's own Strict-Transport-Security.
func settingsEcho(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/xml":
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprint(w, "<?xml version='1.0'?>"+strings.Repeat("<a>hello world</a>", 50))
		return
	case r.URL.Path == "/html":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<html>"+strings.Repeat("<p>hello world</p>", 50)+"</html>")
		return
	case strings.HasPrefix(r.URL.Path, "/bytes/"):
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/bytes/"))
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(n))
		fmt.Fprint(w, strings.Repeat("a", n))
		return
	}
	if r.URL.Query().Get("hsts") == "true" {
		w.Header().Set("Strict-Transport-Security", "max-age=3600")
	}
	lines := []string{"host=" + r.Host}
	for k, v := range r.Header {
		lines = append(lines, strings.ToLower(k)+"="+strings.Join(v, ","))
	}
	sort.Strings(lines[1:])
	fmt.Fprint(w, strings.Join(lines, "\n")+"\n")
}

// wantLines checks body, settingsEcho's lines of what the upstream
// received, for each of want: a line it must hold, or, after "!", one it
// must not.
func wantLines(t testing.TB, body string, want ...string) {
	t.Helper()
	have := map[string]bool{}
	for _, l := range strings.Split(body, "\n") {
		have[l] = true
	}
	for _, l := range want {
		if l[0] == '!' {
			if have[l[1:]] {
				t.Errorf("upstream got %s:\n%s", l[1:], body)
			}
		} else if !have[l] {
			t.Errorf("upstream did not get %s:\n%s", l, body)
		}
	}
}

// TestIngressNginxSettingsCases runs the cases of ingress-nginx's e2e tests
// of controller ConfigMap settings (test/e2e/settings: brotli, gzip,
// global_access_block, custom_header, enable_real_ip, forwarded_headers,
// global_external_auth, log-format, tls) that assert what a client sees or what is logged, one
// Weir per ConfigMap.
func TestIngressNginxSettingsCases(t *testing.T) {
	echo := newBackend(t, "echo", settingsEcho)
	start := func(t *testing.T, extra map[string]string, cm ...string) *weir {
		t.Helper()
		files := map[string]string{
			"class.yaml": ingressClass,
			"app.yaml":   service("echo", echo.port) + ingress("echo", "echo.test", "echo"),
			"cm.yaml":    configMap(cm...),
		}
		for k, v := range extra {
			files[k] = v
		}
		return startWeirWith(t, files, configMapOptions())
	}
	encoding := func(t *testing.T, w *weir, path string, want string, hdr ...string) {
		t.Helper()
		r := w.get("echo.test", path, hdr...)
		if got := r.header.Get("Content-Encoding"); r.status != http.StatusOK || got != want {
			t.Errorf("GET %s %q: %d Content-Encoding %q, want 200 %q", path, hdr, r.status, got, want)
		}
	}
	status := func(t *testing.T, w *weir, want int, hdr ...string) {
		t.Helper()
		if got := w.get("echo.test", "/", hdr...).status; got != want {
			t.Errorf("GET / %q: %d, want %d", hdr, got, want)
		}
	}

	t.Run("brotli-min-length", func(t *testing.T) {
		w := start(t, nil, "enable-brotli", "true", "brotli-types", "application/octet-stream", "brotli-min-length", "24")
		encoding(t, w, "/bytes/24", "br", "Accept-Encoding", "br")
		encoding(t, w, "/bytes/23", "", "Accept-Encoding", "br")
	})
	t.Run("gzip off by default", func(t *testing.T) {
		encoding(t, start(t, nil), "/xml", "", "Accept-Encoding", "gzip")
	})
	t.Run("gzip-level and gzip-disable msie6", func(t *testing.T) {
		w := start(t, nil, "use-gzip", "true", "gzip-level", "4", "gzip-disable", "msie6")
		encoding(t, w, "/xml", "gzip", "Accept-Encoding", "gzip", "User-Agent", "Mozilla/4.8 [en] (Windows NT 5.1; U)")
		encoding(t, w, "/xml", "", "Accept-Encoding", "gzip", "User-Agent", "Mozilla/45.0 (compatible; MSIE 6.0; Windows NT 5.1)")
	})
	t.Run("gzip-min-length", func(t *testing.T) {
		w := start(t, nil, "use-gzip", "true", "gzip-min-length", "100", "gzip-types", "application/octet-stream")
		encoding(t, w, "/bytes/99", "", "Accept-Encoding", "gzip")
		encoding(t, w, "/bytes/100", "gzip", "Accept-Encoding", "gzip")
	})
	t.Run("gzip-types text/html", func(t *testing.T) {
		w := start(t, nil, "use-gzip", "true", "gzip-types", "text/html")
		encoding(t, w, "/xml", "", "Accept-Encoding", "gzip")
		encoding(t, w, "/html", "gzip", "Accept-Encoding", "gzip")
	})
	t.Run("block-cidrs", func(t *testing.T) {
		status(t, start(t, nil, "block-cidrs", "172.16.0.0/12,192.168.0.0/16,127.0.0.0/8"), http.StatusForbidden)
	})
	t.Run("block-user-agents and block-referers", func(t *testing.T) {
		w := start(t, nil, "block-user-agents", `~*chrome\/68\.0\.3440\.106\ safari\/537\.36,AlphaBot`,
			"block-referers", `~*example\.com,qwerty`)
		status(t, w, http.StatusForbidden, "User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/68.0.3440.106 Safari/537.36")
		status(t, w, http.StatusForbidden, "User-Agent", "AlphaBot")
		status(t, w, http.StatusOK, "User-Agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 11_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/11.0 Mobile/15E148 Safari/604.1")
		status(t, w, http.StatusForbidden, "Referer", "example.com")
		status(t, w, http.StatusForbidden, "Referer", "qwerty")
		status(t, w, http.StatusOK, "Referer", "qwerty123")
	})
	t.Run("add-headers", func(t *testing.T) {
		w := start(t, map[string]string{"ah.yaml": namedConfigMap("ah", "X-First", "Prepare for trouble!", "X-Second", "And make it double!")},
			"add-headers", "default/ah")
		r := w.get("echo.test", "/")
		if r.header.Get("X-First") != "Prepare for trouble!" || r.header.Get("X-Second") != "And make it double!" {
			t.Errorf("add-headers: %v", r.header)
		}
	})
	forwarded := []string{"X-Forwarded-Port", "1234", "X-Forwarded-Proto", "myproto", "X-Forwarded-Scheme", "myproto",
		"X-Forwarded-For", "1.2.3.4", "X-Forwarded-Host", "myhost"}
	t.Run("enable-real-ip", func(t *testing.T) {
		w := start(t, nil, "enable-real-ip", "true")
		wantLines(t, w.get("echo.test", "/", forwarded...).body, "host=echo.test", "x-forwarded-host=echo.test",
			"x-forwarded-proto=http", "x-forwarded-for=1.2.3.4", "!x-forwarded-port=1234", "!host=myhost")
		w = start(t, nil, "enable-real-ip", "false")
		wantLines(t, w.get("echo.test", "/", forwarded...).body, "host=echo.test", "x-forwarded-proto=http",
			"x-original-forwarded-for=1.2.3.4", "x-original-forwarded-host=myhost", "!x-forwarded-for=1.2.3.4")
	})
	t.Run("use-forwarded-headers", func(t *testing.T) {
		w := start(t, nil, "use-forwarded-headers", "true")
		wantLines(t, w.get("echo.test", "/", forwarded...).body, "host=myhost", "x-forwarded-host=myhost",
			"x-forwarded-proto=myproto", "x-forwarded-scheme=myproto", "x-forwarded-port=1234", "x-forwarded-for=1.2.3.4")
		wantLines(t, w.get("echo.test", "/", "X-Forwarded-Host", "myhost.com, another.host,example.net").body,
			"host=myhost.com", "x-forwarded-host=myhost.com")
		w = start(t, nil, "use-forwarded-headers", "false")
		wantLines(t, w.get("echo.test", "/", forwarded...).body, "host=echo.test", "x-forwarded-proto=http",
			"x-forwarded-scheme=http", "x-original-forwarded-for=1.2.3.4", "x-original-forwarded-host=myhost",
			"!x-forwarded-port=1234", "!x-forwarded-for=1.2.3.4")
	})
	// nginx logs a missing variable as "-" by default and as nothing with
	// escape=json or escape=none.
	const format = `"{"my_header1":"$http_header1", "my_header2":"$http_header2"}"`
	for _, tc := range []struct{ key, want string }{
		{"log-format-escape-json", `{"my_header1":"Here is \"header1\" with escape", "my_header2":""}`},
		{"", `{"my_header1":"Here is \x22header1\x22 with escape", "my_header2":"-"}`},
		{"log-format-escape-none", `{"my_header1":"Here is "header1" with escape", "my_header2":""}`},
	} {
		t.Run("log-format "+tc.key, func(t *testing.T) {
			cm := []string{"log-format-upstream", format}
			if tc.key != "" {
				cm = append(cm, tc.key, "true")
			}
			w := start(t, nil, cm...)
			w.get("echo.test", "/", "header1", `Here is "header1" with escape`)
			waitFor(t, 5*time.Second, "the access-log line", func() bool { return strings.Contains(w.access.String(), "my_header2") })
			if got := w.access.String(); !strings.Contains(got, tc.want) {
				t.Errorf("access log %q, want it to hold %q", got, tc.want)
			}
		})
	}
	t.Run("global-auth-url", func(t *testing.T) {
		var calls atomic.Int32
		auth := newBackend(t, "auth", func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			if code, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/status/")); err == nil {
				w.WriteHeader(code)
				return
			}
			w.Header().Set("Set-Cookie", "alma=armud") // /cookies/set/alma/armud
		})
		up := newBackend(t, "up", func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/error") {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		})
		at := func(path string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", auth.port, path) }
		onPath := func(name, path string, ann ...string) string {
			return ingressPaths(name, "ga.test", "up", "Prefix", []string{path}, ann...)
		}
		apps := func(barAnn ...string) string {
			return service("up", up.port) + onPath("foo", "/foo") + onPath("bar", "/bar", barAnn...) + onPath("err", "/error")
		}
		w := start(t, map[string]string{"app.yaml": apps()}, "global-auth-url", at("/status/401"))
		code := func(path string, want int) {
			t.Helper()
			if got := w.get("ga.test", path).status; got != want {
				t.Errorf("GET %s: %d, want %d", path, got, want)
			}
		}
		code("/foo", http.StatusUnauthorized)
		code("/bar", http.StatusUnauthorized)
		w.update("cm.yaml", configMap("global-auth-url", at("/status/401"), "no-auth-locations", "/bar"))
		code("/foo", http.StatusUnauthorized)
		code("/bar", http.StatusOK)
		w.update("cm.yaml", configMap("global-auth-url", at("/status/401")))
		w.update("app.yaml", apps("enable-global-auth", "false"))
		code("/foo", http.StatusUnauthorized)
		code("/bar", http.StatusOK)
		w.update("cm.yaml", configMap("global-auth-url", at("/status/200"), "global-auth-cache-key", "foo",
			"global-auth-cache-duration", "200 201 401 30m"))
		calls.Store(0)
		code("/foo", http.StatusOK)
		code("/foo", http.StatusOK)
		if n := calls.Load(); n != 1 {
			t.Errorf("global-auth-cache-key: %d auth requests for 2, want 1", n)
		}
		cookie := func(path string, want int, cookie string) {
			t.Helper()
			r := w.get("ga.test", path)
			if r.status != want || r.header.Get("Set-Cookie") != cookie {
				t.Errorf("GET %s: %d Set-Cookie %q, want %d %q", path, r.status, r.header.Get("Set-Cookie"), want, cookie)
			}
		}
		w.update("cm.yaml", configMap("global-auth-url", at("/cookies/set/alma/armud")))
		cookie("/foo?a=b&c=d", http.StatusOK, "alma=armud")
		cookie("/error?a=b&c=d", http.StatusServiceUnavailable, "")
		w.update("cm.yaml", configMap("global-auth-url", at("/cookies/set/alma/armud"), "global-auth-always-set-cookie", "true"))
		cookie("/error?a=b&c=d", http.StatusServiceUnavailable, "alma=armud")
	})
	t.Run("hsts", func(t *testing.T) {
		ca := certstest.NewCA(t)
		crt, key := ca.Issue(t, "settings-tls")
		w := start(t, map[string]string{
			"app.yaml": service("echo", echo.port) + tlsIngress("echo", "settings-tls", "settings-tls", "tls", "echo"),
			"tls.yaml": certstest.SecretYAML("default", "tls", crt, key),
		}, "hsts-max-age", "86400")
		check := func(path string, want string) {
			t.Helper()
			resp, _, _ := httpsGet(t, w, httpsTransport(t, w, nil), "settings-tls", path)
			if got := resp.Header.Values("Strict-Transport-Security"); len(got) != 1 || got[0] != want {
				t.Errorf("GET %s: Strict-Transport-Security %q, want only %q", path, got, want)
			}
		}
		check("/", "max-age=86400; includeSubDomains")
		w.update("cm.yaml", configMap("hsts-max-age", "86400", "hsts-include-subdomains", "false"))
		check("/", "max-age=86400")
		w.update("cm.yaml", configMap("hsts-max-age", "86400", "hsts-include-subdomains", "false", "hsts-preload", "true"))
		check("/", "max-age=86400; preload")
		check("/?hsts=true", "max-age=86400; preload") // the upstream's is replaced
	})
}

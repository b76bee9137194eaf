package e2e

// This file ports test/e2e/annotations/cors.go of ingress-nginx, each
// ginkgo.It a subtest of TestIngressNginxCORSAnnotations. Where the e2e
// case greps nginx.conf, the subtest asserts what the line causes on the
// wire. "nginx 1.22.1 answered" below is the answer of nginx 1.22.1 with
// headers-more, configured as nginx.tmpl renders the case (its CORS block:
// buildCorsOriginRegex, "if ($request_method = 'OPTIONS')", the two
// more_set_headers blocks, "return 204"), to the same request.

import (
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// e2ecorsDefaults are the Access-Control-* fields of enable-cors alone
// (cors/main.go's defaults), but Access-Control-Allow-Origin.
var e2ecorsDefaults = map[string]string{
	"Access-Control-Allow-Credentials": "true",
	"Access-Control-Allow-Methods":     "GET, PUT, POST, DELETE, PATCH, OPTIONS",
	"Access-Control-Allow-Headers":     "DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization",
	"Access-Control-Max-Age":           "1728000",
}

// e2ecorsFields returns the Access-Control-* fields of h, one value each
// (a second value is kept, joined, so that a test sees it).
func e2ecorsFields(h http.Header) map[string]string {
	out := map[string]string{}
	for k, vv := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			out[k] = strings.Join(vv, "|")
		}
	}
	return out
}

// e2ecorsWant checks that a GET of host with origin ("" none) is answered
// 200 by the upstream with exactly the Access-Control-* fields want (nil:
// none; else want's, with Access-Control-Allow-Origin allow).
func e2ecorsWant(t *testing.T, w *weir, host, origin, allow string, want map[string]string) {
	t.Helper()
	var hdr []string
	if origin != "" {
		hdr = []string{"Origin", origin}
	}
	res := w.get(host, "/", hdr...)
	wantAll := map[string]string{}
	if want != nil {
		for k, v := range want {
			wantAll[k] = v
		}
		wantAll["Access-Control-Allow-Origin"] = allow
	}
	got := e2ecorsFields(res.header)
	if res.status != http.StatusOK || !strings.HasPrefix(res.body, "echo ") || !e2ecorsSame(got, wantAll) {
		t.Errorf("GET %s Origin %q: %d %q, Access-Control-* %v; want 200 from the upstream with %v", host, origin, res.status, res.body, got, wantAll)
	}
}

// e2ecorsAllowed checks each origin of allowed, sent to host, against the
// Access-Control-Allow-Origin it maps to ("" none: then no
// Access-Control-* field at all), the other fields enable-cors' defaults.
func e2ecorsAllowed(t *testing.T, w *weir, host string, allowed map[string]string) {
	t.Helper()
	for origin, allow := range allowed {
		if allow == "" {
			e2ecorsWant(t, w, host, origin, "", nil)
		} else {
			e2ecorsWant(t, w, host, origin, allow, e2ecorsDefaults)
		}
	}
}

func e2ecorsSame(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// e2ecorsHead sends raw to w on a new connection and returns the status
// line, the header lines (Date left out) and the body of the one
// response, read until Weir closes the connection (raw asks it to).
func e2ecorsHead(t *testing.T, w *weir, raw string) (string, []string, string) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(w.base, "http://"))
	if err != nil {
		t.Fatalf("dial weir: %v", err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatalf("write %q: %v", raw, err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read the answer to %q: %v", raw, err)
	}
	head, body, ok := strings.Cut(string(b), "\r\n\r\n")
	if !ok {
		t.Fatalf("answer to %q: %q, want a whole head", raw, b)
	}
	lines := strings.Split(head, "\r\n")
	var fields []string
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l, "Date: ") {
			fields = append(fields, l)
		}
	}
	return lines[0], fields, body
}

// e2ecorsCount is how many requests b has received.
func (b *backend) e2ecorsCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.reqs)
}

// TestIngressNginxCORSAnnotations ports test/e2e/annotations/cors.go: one
// Weir serves every case's Ingress, each on its own host.
func TestIngressNginxCORSAnnotations(t *testing.T) {
	echo := newBackend(t, "echo", nil)
	cases := map[string][]string{
		"enable":            nil,
		"methods":           {"cors-allow-methods", "POST, GET"},
		"maxage":            {"cors-max-age", "200"},
		"nocredentials":     {"cors-allow-credentials", "false"},
		"origin":            {"cors-allow-origin", "https://origin.cors.com:8080"},
		"headers":           {"cors-allow-headers", "DNT, User-Agent"},
		"expose":            {"cors-expose-headers", "X-CustomResponseHeader, X-CustomSecondHeader"},
		"multiple":          {"cors-allow-origin", "https://origin.cors.com:8080, https://origin2.cors.com"},
		"multiplenot":       {"cors-allow-origin", "http://origin2.cors.com, https://origin.com"},
		"multiplecorrect":   {"cors-allow-origin", "origin.cors.com:8080, https://origin2.cors.com, https://origin.com"},
		"star":              {"cors-allow-origin", "*"},
		"starextra":         {"cors-allow-origin", "*, foo.bar.com"},
		"nomatch":           {"cors-allow-origin", "https://foo.bar.com"},
		"port":              {"cors-allow-origin", "http://origin.cors.com:8080, http://origin.com:8080"},
		"portless":          {"cors-allow-origin", "https://origin2.cors.com, http://origin.com"},
		"wildcard":          {"cors-allow-origin", "http://*.origin.cors.com, http://*.origin.com:8080"},
		"wildcardport":      {"cors-allow-origin", "http://origin.cors.com:8080, http://*.origin.com:8080"},
		"blank":             {"cors-allow-origin", "      "},
		"trailing":          {"cors-allow-origin", "https://origin-123.cors.com:8080,   ,https://origin-321.cors.com:8080,"},
		"schemes":           {"cors-allow-origin", "test://localhost, tauri://localhost:3000"},
		"invalid":           {"cors-allow-methods", "GET;DELETE", "cors-allow-headers", "X-A;", "cors-expose-headers", "X A/", "cors-max-age", "a day"},
		"departurepath":     {"cors-allow-origin", "https://a.test/x, https://b.test"},
		"departureunanchor": {"cors-allow-origin", "https://origin.cors.com:8080"},
	}
	var manifests strings.Builder
	manifests.WriteString(service("echo", echo.port))
	for name, ann := range cases {
		manifests.WriteString(ingress(name, name+".cors.foo.com", "echo", append([]string{"enable-cors", "true"}, ann...)...))
	}
	w := startWeir(t, map[string]string{"class.yaml": ingressClass, "app.yaml": manifests.String()})
	host := func(name string) string { return name + ".cors.foo.com" }
	with := func(k, v string) map[string]string {
		m := map[string]string{k: v}
		for dk, dv := range e2ecorsDefaults {
			if dk != k {
				m[dk] = dv
			}
		}
		return m
	}

	// "should enable cors": the default fields, and "set $http_origin *"
	// (cors-allow-origin "*", the default) answers "*" with an Origin or
	// without, while the upstream gets the Origin the client sent (nginx
	// 1.22.1's upstream read "Origin: http://x.test").
	t.Run("enable cors", func(t *testing.T) {
		e2ecorsWant(t, w, host("enable"), "", "*", e2ecorsDefaults)
		e2ecorsWant(t, w, host("enable"), "http://x.test", "*", e2ecorsDefaults)
		if got := echo.last().Header.Get("Origin"); got != "http://x.test" {
			t.Errorf("the upstream got Origin %q, want http://x.test", got)
		}
	})
	// The preflight of "if ($cors = "trueoptions")": 204 from Weir, the
	// upstream not reached, with exactly these lines, in this order (nginx
	// 1.22.1 answered the same, and "Server: nginx/1.22.1", which
	// ingress-nginx clears): the Content-Type more_set_headers sets is
	// dropped by nginx's header filter on its own 204, the Content-Length
	// it sets is written after the Access-Control-* lines. No Vary: the
	// template adds none, though the answer depends on Origin.
	t.Run("preflight", func(t *testing.T) {
		before := echo.e2ecorsCount()
		for _, tc := range []struct {
			name, origin string
			want         []string
		}{
			{"enable", "http://x.test", []string{
				"Connection: close",
				"Access-Control-Allow-Origin: *",
				"Access-Control-Allow-Credentials: true",
				"Access-Control-Allow-Methods: GET, PUT, POST, DELETE, PATCH, OPTIONS",
				"Access-Control-Allow-Headers: DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization",
				"Access-Control-Max-Age: 1728000",
				"Content-Length: 0",
			}},
			// The Origin as sent, whatever its case (~*).
			{"wildcardport", "HTTP://ABC.origin.com:8080", []string{
				"Connection: close",
				"Access-Control-Allow-Origin: HTTP://ABC.origin.com:8080",
				"Access-Control-Allow-Credentials: true",
				"Access-Control-Allow-Methods: GET, PUT, POST, DELETE, PATCH, OPTIONS",
				"Access-Control-Allow-Headers: DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization",
				"Access-Control-Max-Age: 1728000",
				"Content-Length: 0",
			}},
			{"expose", "", []string{
				"Connection: close",
				"Access-Control-Allow-Origin: *",
				"Access-Control-Allow-Credentials: true",
				"Access-Control-Allow-Methods: GET, PUT, POST, DELETE, PATCH, OPTIONS",
				"Access-Control-Allow-Headers: DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization",
				"Access-Control-Expose-Headers: X-CustomResponseHeader, X-CustomSecondHeader",
				"Access-Control-Max-Age: 1728000",
				"Content-Length: 0",
			}},
			{"nocredentials", "", []string{
				"Connection: close",
				"Access-Control-Allow-Origin: *",
				"Access-Control-Allow-Methods: GET, PUT, POST, DELETE, PATCH, OPTIONS",
				"Access-Control-Allow-Headers: DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization",
				"Access-Control-Max-Age: 1728000",
				"Content-Length: 0",
			}},
		} {
			raw := "OPTIONS / HTTP/1.1\r\nHost: " + host(tc.name) + "\r\nConnection: close\r\n"
			if tc.origin != "" {
				raw += "Origin: " + tc.origin + "\r\n"
			}
			status, fields, body := e2ecorsHead(t, w, raw+"\r\n")
			if status != "HTTP/1.1 204 No Content" || body != "" || strings.Join(fields, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("OPTIONS %s Origin %q:\n%s\n%s\nwant HTTP/1.1 204 No Content\n%s", tc.name, tc.origin, status,
					strings.Join(fields, "\n"), strings.Join(tc.want, "\n"))
			}
		}
		if n := echo.e2ecorsCount(); n != before {
			t.Errorf("the upstream got %d preflights", n-before)
		}
		// An OPTIONS from an Origin that does not match is the
		// upstream's to answer (nginx 1.22.1: 200 from its upstream,
		// with the upstream's fields only).
		res := w.do(http.MethodOptions, host("nomatch"), "/", nil, "Origin", "https://fooxbar.com")
		if got := e2ecorsFields(res.header); res.status != http.StatusOK || res.body != "echo /" || len(got) != 0 {
			t.Errorf("OPTIONS nomatch from https://fooxbar.com: %d %q %v, want the upstream's 200 without Access-Control-*", res.status, res.body, got)
		}
	})
	// The fields on a normal request come after the upstream's, in the
	// template's order (nginx 1.22.1: "Access-Control-Allow-Origin", then
	// "-Credentials", "-Methods", "-Headers", "-Max-Age"), with no Vary.
	t.Run("fields on a normal request", func(t *testing.T) {
		status, fields, body := e2ecorsHead(t, w, "GET / HTTP/1.1\r\nHost: "+host("port")+"\r\nOrigin: http://origin.com:8080\r\nConnection: close\r\n\r\n")
		var cors []string
		for _, f := range fields {
			if strings.HasPrefix(f, "Access-Control-") || strings.HasPrefix(f, "Vary:") {
				cors = append(cors, f)
			}
		}
		want := []string{
			"Access-Control-Allow-Origin: http://origin.com:8080",
			"Access-Control-Allow-Credentials: true",
			"Access-Control-Allow-Methods: GET, PUT, POST, DELETE, PATCH, OPTIONS",
			"Access-Control-Allow-Headers: DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization",
			"Access-Control-Max-Age: 1728000",
		}
		if status != "HTTP/1.1 200 OK" || body != "echo /" || strings.Join(cors, "\n") != strings.Join(want, "\n") {
			t.Errorf("GET port from http://origin.com:8080: %s %q\n%s\nwant 200 from the upstream with\n%s", status, body, strings.Join(cors, "\n"), strings.Join(want, "\n"))
		}
	})
	// "should set cors methods to only allow POST, GET"
	t.Run("methods", func(t *testing.T) {
		e2ecorsWant(t, w, host("methods"), "", "*", with("Access-Control-Allow-Methods", "POST, GET"))
	})
	// "should set cors max-age"
	t.Run("max-age", func(t *testing.T) {
		e2ecorsWant(t, w, host("maxage"), "", "*", with("Access-Control-Max-Age", "200"))
	})
	// "should disable cors allow credentials": no field at all.
	t.Run("no credentials", func(t *testing.T) {
		want := with("Access-Control-Allow-Credentials", "")
		delete(want, "Access-Control-Allow-Credentials")
		e2ecorsWant(t, w, host("nocredentials"), "", "*", want)
	})
	// "should allow origin for cors"
	t.Run("allow origin", func(t *testing.T) {
		e2ecorsAllowed(t, w, host("origin"), map[string]string{"https://origin.cors.com:8080": "https://origin.cors.com:8080"})
	})
	// "should allow headers for cors"
	t.Run("allow headers", func(t *testing.T) {
		e2ecorsWant(t, w, host("headers"), "", "*", with("Access-Control-Allow-Headers", "DNT, User-Agent"))
	})
	// "should expose headers for cors"
	t.Run("expose headers", func(t *testing.T) {
		e2ecorsWant(t, w, host("expose"), "", "*", with("Access-Control-Expose-Headers", "X-CustomResponseHeader, X-CustomSecondHeader"))
	})
	// "should allow - single origin for multiple cors values"
	t.Run("single origin of several", func(t *testing.T) {
		e2ecorsAllowed(t, w, host("multiple"), map[string]string{"https://origin.cors.com:8080": "https://origin.cors.com:8080"})
	})
	// "should not allow - single origin for multiple cors values": the
	// upstream still answers, without any Access-Control-* field.
	t.Run("origin not among several", func(t *testing.T) {
		e2ecorsAllowed(t, w, host("multiplenot"), map[string]string{"http://no.origin.com": ""})
	})
	// "should allow correct origins - single origin for multiple cors
	// values": "origin.cors.com:8080" (no scheme) is skipped.
	t.Run("correct origins of several", func(t *testing.T) {
		e2ecorsAllowed(t, w, host("multiplecorrect"), map[string]string{
			"origin.cors.com:8080": "", "https://origin2.cors.com": "https://origin2.cors.com", "https://origin.com": "https://origin.com"})
	})
	// "should not break functionality"
	t.Run("star", func(t *testing.T) {
		e2ecorsAllowed(t, w, host("star"), map[string]string{"": "*", "https://any.test": "*"})
	})
	// "should not break functionality - without `*`"
	t.Run("default origin", func(t *testing.T) {
		e2ecorsAllowed(t, w, host("enable"), map[string]string{"": "*"})
	})
	// "should not break functionality with extra domain"
	t.Run("star and a domain", func(t *testing.T) {
		e2ecorsAllowed(t, w, host("starextra"), map[string]string{"": "*", "https://foo.bar.com": "*"})
	})
	// "should not match": the dot is literal.
	t.Run("not match", func(t *testing.T) {
		e2ecorsAllowed(t, w, host("nomatch"), map[string]string{"https://fooxbar.com": "", "https://foo.bar.com": "https://foo.bar.com"})
	})
	// "should allow - single origin with required port"
	t.Run("required port", func(t *testing.T) {
		e2ecorsAllowed(t, w, host("port"), map[string]string{"http://origin.com:8080": "http://origin.com:8080"})
	})
	// "should not allow - single origin with port and origin without port"
	t.Run("port against portless", func(t *testing.T) {
		e2ecorsAllowed(t, w, host("portless"), map[string]string{"http://origin.com:8080": ""})
	})
	// "should not allow - single origin without port and origin with required port"
	t.Run("portless against port", func(t *testing.T) {
		e2ecorsAllowed(t, w, host("port"), map[string]string{"http://origin.com": ""})
	})
	// "should allow - matching origin with wildcard origin (2 subdomains)"
	t.Run("wildcard", func(t *testing.T) {
		e2ecorsAllowed(t, w, host("wildcard"), map[string]string{
			"http://foo.origin.cors.com": "http://foo.origin.cors.com", "http://bar-foo.origin.cors.com": "http://bar-foo.origin.cors.com"})
	})
	// "should not allow - unmatching origin with wildcard origin (2 subdomains)":
	// "*" is one label.
	t.Run("wildcard two labels", func(t *testing.T) {
		e2ecorsAllowed(t, w, host("wildcard"), map[string]string{"http://bar.foo.origin.cors.com": ""})
	})
	// "should allow - matching origin+port with wildcard origin"
	t.Run("wildcard and port", func(t *testing.T) {
		e2ecorsAllowed(t, w, host("wildcardport"), map[string]string{"http://abc.origin.com:8080": "http://abc.origin.com:8080"})
	})
	// "should not allow - portless origin with wildcard origin"
	t.Run("wildcard portless", func(t *testing.T) {
		e2ecorsAllowed(t, w, host("wildcardport"), map[string]string{"http://abc.origin.com": ""})
	})
	// "should allow correct origins - missing subdomain + origin with
	// wildcard origin and correct origin"
	t.Run("wildcard missing label", func(t *testing.T) {
		e2ecorsAllowed(t, w, host("wildcardport"), map[string]string{
			"http://origin.com:8080": "", "http://bar.origin.com:8080": "http://bar.origin.com:8080"})
	})
	// "should allow - missing origins (should allow all origins)": a
	// blank value is a missing one, "*".
	t.Run("blank origins", func(t *testing.T) {
		e2ecorsAllowed(t, w, host("blank"), map[string]string{"http://origin.com": "*", "http://book.origin.com": "*", "test.origin.com": "*"})
	})
	// "should allow correct origin but not others - cors allow origin
	// annotations contain trailing comma"
	t.Run("trailing comma", func(t *testing.T) {
		e2ecorsAllowed(t, w, host("trailing"), map[string]string{
			"https://origin-123.cors.com:8080": "https://origin-123.cors.com:8080",
			"https://origin-321.cors.com:8080": "https://origin-321.cors.com:8080",
			"https://unknown.cors.com:8080":    ""})
	})
	// "should allow - origins with non-http[s] protocols"
	t.Run("other schemes", func(t *testing.T) {
		e2ecorsAllowed(t, w, host("schemes"), map[string]string{"test://localhost": "test://localhost", "tauri://localhost:3000": "tauri://localhost:3000"})
	})
	// Not an e2e case: values cors/main.go's validators refuse are the
	// defaults (methods, headers, max-age) or no field (expose).
	t.Run("invalid values", func(t *testing.T) {
		e2ecorsWant(t, w, host("invalid"), "", "*", e2ecorsDefaults)
	})
	// differs from ingress-nginx: an entry outside its origin pattern (a
	// path) makes its validator refuse the whole value, which is then
	// "*" (any origin answered "*"); Weir skips that entry and keeps the
	// others (README, "Rate limits, CORS, headers, mirror").
	t.Run("departure: invalid entry", func(t *testing.T) {
		e2ecorsAllowed(t, w, host("departurepath"), map[string]string{"https://b.test": "https://b.test", "https://c.test": ""})
	})
	// differs from ingress-nginx: its "~* (...)$" is anchored at the end
	// only, so "xhttps://origin.cors.com:8080" passes there; Weir anchors
	// both ends (README).
	t.Run("departure: anchored", func(t *testing.T) {
		e2ecorsAllowed(t, w, host("departureunanchor"), map[string]string{"xhttps://origin.cors.com:8080": ""})
	})
}

// TestIngressNginxCORSWithHeaders: with add-headers (more_set_headers in
// http{}) and custom-headers (in the location) on a route with enable-cors,
// nginx 1.22.1 wrote the upstream's fields, then X-Global (add-headers),
// X-Custom (custom-headers), then the CORS block's lines, and on the
// preflight "Connection: close", "X-Global: g", "X-Custom: c", the
// Access-Control-* lines, "Content-Length: 0"; its own 502 of a closed
// port has the fields of the GET after Connection.
func TestIngressNginxCORSWithHeaders(t *testing.T) {
	echo := newBackend(t, "echo", nil)
	w := startWeirWith(t, map[string]string{
		"class.yaml": ingressClass,
		"cm.yaml":    configMap("add-headers", "default/ah", "global-allowed-response-headers", "X-Custom"),
		"ah.yaml":    namedConfigMap("ah", "X-Global", "g") + namedConfigMap("ch", "X-Custom", "c"),
		"app.yaml": service("echo", echo.port) + service("down", closedPort(t)) +
			ingress("down", "down.cors.foo.com", "down", "enable-cors", "true", "cors-max-age", "5", "cors-allow-credentials", "false",
				"cors-allow-methods", "GET", "cors-allow-headers", "X-A", "custom-headers", "default/ch") +
			ingress("hdr", "hdr.cors.foo.com", "echo", "enable-cors", "true", "cors-max-age", "5", "cors-allow-credentials", "false",
				"cors-allow-methods", "GET", "cors-allow-headers", "X-A", "custom-headers", "default/ch"),
	}, configMapOptions())
	cors := []string{
		"Access-Control-Allow-Origin: *",
		"Access-Control-Allow-Methods: GET",
		"Access-Control-Allow-Headers: X-A",
		"Access-Control-Max-Age: 5",
	}
	for _, tc := range []struct {
		method, host, status string
		want                 []string
	}{
		{"OPTIONS", "hdr", "HTTP/1.1 204 No Content", append(append([]string{"Connection: close", "X-Global: g", "X-Custom: c"}, cors...), "Content-Length: 0")},
		{"GET", "hdr", "HTTP/1.1 200 OK", append([]string{"X-Global: g", "X-Custom: c"}, cors...)},
		{"GET", "down", "HTTP/1.1 502 Bad Gateway", append([]string{"X-Global: g", "X-Custom: c"}, cors...)},
	} {
		status, fields, _ := e2ecorsHead(t, w, tc.method+" / HTTP/1.1\r\nHost: "+tc.host+".cors.foo.com\r\nConnection: close\r\n\r\n")
		if tc.method == http.MethodGet {
			// After the upstream's own fields, which Go's server wrote.
			i := slices.Index(fields, "X-Global: g")
			if i < 0 {
				i = len(fields)
			}
			fields = fields[i:]
		}
		if status != tc.status || strings.Join(fields, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s %s: %s\n%s\nwant %s\n%s", tc.method, tc.host, status, strings.Join(fields, "\n"), tc.status, strings.Join(tc.want, "\n"))
		}
	}
}

package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/h1guard"
	"github.com/weir-lb/weir/l7/h1server"
	"github.com/weir-lb/weir/l7/h1server/h1servertest"
	"github.com/weir-lb/weir/l7/router"
	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// withLogFormat returns s with the controller ConfigMap's log-format-* keys
// data applied.
func withLogFormat(tb testing.TB, s *snapshot.Snapshot, data map[string]string) *snapshot.Snapshot {
	tb.Helper()
	g, errs := annotations.ParseGlobal(data)
	if len(errs) > 0 {
		tb.Fatalf("ParseGlobal: %v", errs)
	}
	s.Global = g
	return s
}

// logRequest sends a GET with the given headers and returns its access
// line once written.
func logRequest(t *testing.T, c *http.Client, url, host string, buf *syncBuffer, header map[string]string) string {
	t.Helper()
	before := strings.Count(buf.String(), "\n")
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if r := send(c, req); r.err != nil {
		t.Fatal(r.err)
	}
	var lines []string
	waitFor(t, "the access-log line", func() bool {
		lines = strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
		return len(lines) > before && buf.String() != ""
	})
	return lines[before]
}

func TestLogFormatUpstreamInfo(t *testing.T) {
	t.Parallel()
	up := named(t, "a")
	var buf syncBuffer
	s := withLogFormat(t, snap(1, "foo.com", backendOf("a", []string{addr(up)})), map[string]string{"log-format-upstream": annotations.DefaultLogFormat})
	_, srv := front(t, Options{AccessLog: &buf}, s)
	line := logRequest(t, client(t), srv.URL+"/x?q=1", "foo.com", &buf, map[string]string{
		"Referer": "http://ref/", "User-Agent": `ua "quoted" \ é`, "X-Request-ID": "rid1",
	})
	body := len("a /x?q=1")
	want := `^127\.0\.0\.1 - - \[\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "GET /x\?q=1 HTTP/1\.1" 200 ` +
		strconv.Itoa(body) + ` "http://ref/" "ua \\x22quoted\\x22 \\x5C \\xC3\\xA9" \d+ \d+\.\d{3} \[ns-a-http\] \[\] ` +
		regexp.QuoteMeta(addr(up)) + ` ` + strconv.Itoa(body) + ` \d+\.\d{3} 200 rid1$`
	if !regexp.MustCompile(want).MatchString(line) {
		t.Errorf("line\n%s\ndoes not match\n%s", line, want)
	}
}

func TestLogFormatEscapes(t *testing.T) {
	t.Parallel()
	const format = `"$http_x_custom" $http_x_missing ${request_method}!$pipe $remote_user`
	header := map[string]string{"X-Custom": "a\"b\\c\td é"}
	for _, tc := range []struct {
		name string
		data map[string]string
		want string
	}{
		{"default", map[string]string{}, `"a\x22b\x5Cc\x09d \xC3\xA9" - GET!. -`},
		{"json", map[string]string{"log-format-escape-json": "true"}, `"a\"b\\c\td é"  GET!. `},
		// nginx's escape=none, as escape=json, logs a missing value as
		// nothing (ingress-nginx e2e: settings/log-format.go,
		// "log-format-escape-none enabled": "my_header6":"").
		{"none", map[string]string{"log-format-escape-none": "true", "log-format-escape-json": "true"}, "\"a\"b\\c\td é\"  GET!. "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			up := named(t, "a")
			var buf syncBuffer
			tc.data["log-format-upstream"] = format
			_, srv := front(t, Options{AccessLog: &buf}, withLogFormat(t, snap(1, "foo.com", backendOf("a", []string{addr(up)})), tc.data))
			if got := logRequest(t, client(t), srv.URL+"/", "foo.com", &buf, header); got != tc.want {
				t.Errorf("line %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLogFormatVariables(t *testing.T) {
	t.Parallel()
	up := named(t, "a")
	var buf syncBuffer
	const format = `$host|$http_host|$request_uri|$uri|$args|$query_string|$server_protocol|$scheme|$namespace|$ingress_name|$service_name|$service_port|$the_real_ip|$remote_addr|$status|$req_id|$nope|$remote_user`
	s := snap(1, "foo.com", backendOf("a", []string{addr(up)}))
	g, errs := annotations.ParseGlobal(map[string]string{"log-format-upstream": format})
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "$nope") {
		t.Fatalf("ParseGlobal errors %v, want one naming $nope", errs)
	}
	s.Global = g
	_, srv := front(t, Options{AccessLog: &buf}, s)
	c := client(t)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/p%20q?a=1&b=2", nil)
	req.Host = "Foo.com:80"
	req.SetBasicAuth("alice", "pw")
	req.Header.Set("X-Request-ID", "rid")
	if r := send(c, req); r.err != nil || r.status != 200 {
		t.Fatalf("request: %d %v", r.status, r.err)
	}
	waitFor(t, "the access-log line", func() bool { return strings.HasSuffix(buf.String(), "\n") })
	want := "foo.com|Foo.com:80|/p%20q?a=1&b=2|/p q|a=1&b=2|a=1&b=2|HTTP/1.1|http|ns|ing-a|a|http|127.0.0.1|127.0.0.1|200|rid|-|alice\n"
	if got := buf.String(); got != want {
		t.Errorf("line %q, want %q", got, want)
	}
}

// TestLogFormatLive: a new Snapshot changes the format of the next line, and
// one without log-format-upstream brings Weir's JSON line back.
func TestLogFormatLive(t *testing.T) {
	t.Parallel()
	up := named(t, "a")
	var buf syncBuffer
	be := backendOf("a", []string{addr(up)})
	p, srv := front(t, Options{AccessLog: &buf}, withLogFormat(t, snap(1, "foo.com", be), map[string]string{"log-format-upstream": "one $status"}))
	c := client(t)
	if got := logRequest(t, c, srv.URL+"/", "foo.com", &buf, nil); got != "one 200" {
		t.Fatalf("first line %q", got)
	}
	if err := p.Apply(withLogFormat(t, snap(2, "foo.com", be), map[string]string{"log-format-upstream": "two $request_method"})); err != nil {
		t.Fatal(err)
	}
	if got := logRequest(t, c, srv.URL+"/", "foo.com", &buf, nil); got != "two GET" {
		t.Fatalf("second line %q", got)
	}
	if err := p.Apply(snap(3, "foo.com", be)); err != nil {
		t.Fatal(err)
	}
	if got := logRequest(t, c, srv.URL+"/", "foo.com", &buf, nil); !strings.HasPrefix(got, `{"time":"`) {
		t.Fatalf("third line %q, want Weir's JSON line", got)
	}
}

func TestLogFormatNoAllocs(t *testing.T) {
	lf := compileLogFormat(annotations.LogFormat{Upstream: `$remote_addr [$time_local] "$request" $status $body_bytes_sent "$http_user_agent" $request_time [$proxy_upstream_name] $upstream_addr $upstream_status $req_id`})
	r, _ := http.NewRequest(http.MethodGet, "http://foo.com/x", nil)
	r.RequestURI, r.Header = "/x", http.Header{"User-Agent": {"ua"}}
	ex := &exchange{requestID: "id"}
	ex.fwd.remoteText = "127.0.0.1"
	l := &logLine{r: r, ex: ex, rec: &responseRecorder{}, status: 200}
	var buf, scratch []byte
	buf, scratch = lf.append(buf, scratch, l)
	if n := testing.AllocsPerRun(10, func() { buf, scratch = lf.append(buf[:0], scratch, l) }); n != 0 {
		t.Errorf("%v allocations per line, want 0", n)
	}
}

func TestNginxEscapes(t *testing.T) {
	in := []byte("a\"\\\x00\x01\n\r\t\b\f\x1f\x7f\x80é~")
	if got, want := string(annotations.AppendLogEscaped(nil, in)), `a\x22\x5C\x00\x01\x0A\x0D\x09\x08\x0C\x1F\x7F\x80\xC3\xA9~`; got != want {
		t.Errorf("escape=default %q, want %q", got, want)
	}
	if got, want := string(appendNginxJSON(nil, in)), "a\\\"\\\\\\u0000\\u0001\\n\\r\\t\\b\\f\\u001F\x7f\x80é~"; got != want {
		t.Errorf("escape=json %q, want %q", got, want)
	}
}

// TestLogFormatBodyBytesChunked checks $body_bytes_sent of a response
// chunked to the client: nginx's counts the bytes after the head, the
// chunks' framing and the last chunk included (checked against nginx 1.22:
// "hello world" from an upstream is 21 bytes, b\r\n...\r\n0\r\n\r\n). On
// net/http's server (h1servertest's net kind) the proxy sees the payload
// only.
func TestLogFormatBodyBytesChunked(t *testing.T) {
	t.Parallel()
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
		w.(http.Flusher).Flush()
		io.WriteString(w, " world")
	})
	buf, c := loggedConn(t, up, "$body_bytes_sent")
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: foo.com\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	_, body, ok := strings.Cut(string(raw), "\r\n\r\n")
	if !ok || !strings.Contains(string(raw), "Transfer-Encoding: chunked") {
		t.Fatalf("response %q, want a chunked one", raw)
	}
	want := len(body)
	if h1servertest.Kind() == h1server.KindNet {
		want = len("hello world")
	}
	waitFor(t, "the access-log line", func() bool { return strings.HasSuffix(buf.String(), "\n") })
	if got := strings.TrimSpace(buf.String()); got != strconv.Itoa(want) {
		t.Errorf("$body_bytes_sent %s, want %d (the body on the wire: %q)", got, want, body)
	}
}

// loggedConn fronts the upstream up for foo.com with an access log of
// format alone, and returns the log and a raw client connection to the
// proxy (closed at the test's end, 10 s to run).
func loggedConn(t *testing.T, up *httptest.Server, format string) (*syncBuffer, net.Conn) {
	t.Helper()
	buf := new(syncBuffer)
	s := withLogFormat(t, snap(1, "foo.com", backendOf("a", []string{addr(up)})), map[string]string{"log-format-upstream": format})
	_, srv := front(t, Options{AccessLog: buf}, s)
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return buf, c
}

// TestLogFormatClientClosed checks the upstream variables of a client that
// left before the upstream answered: nginx 1.22 logs 499 with the address,
// a length of 0 and no upstream status ("-"), the upstream having sent
// none, and a $bytes_sent of 0: nothing went to the client.
func TestLogFormatClientClosed(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{})
	up := stalling(t, func(http.ResponseWriter) { close(entered) })
	var buf syncBuffer
	s := withLogFormat(t, snap(1, "foo.com", backendOf("a", []string{addr(up)})),
		map[string]string{"log-format-upstream": "$status $upstream_addr $upstream_response_length $upstream_status $bytes_sent"})
	_, srv := front(t, Options{AccessLog: &buf}, s)
	leaveWhenClosed(t, srv, entered)
	waitFor(t, "the access-log line", func() bool { return strings.HasSuffix(buf.String(), "\n") })
	if got, want := buf.String(), "499 "+addr(up)+" 0 - 0\n"; got != want {
		t.Errorf("line %q, want %q", got, want)
	}
}

// TestLogFormatHeadBodyBytes checks $body_bytes_sent of Weir's own page
// (a 503, no endpoints) answered to a HEAD request: the server drops the
// body, and nginx 1.22 logs 0 (its 308 and error pages to HEAD too).
func TestLogFormatHeadBodyBytes(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	s := withLogFormat(t, snap(1, "foo.com", backendOf("a", nil)), map[string]string{"log-format-upstream": "$request_method $status $body_bytes_sent"})
	_, srv := front(t, Options{AccessLog: &buf}, s)
	c := client(t)
	for _, method := range []string{http.MethodHead, http.MethodGet} {
		got := do(t, c, srv, method, "foo.com", "/", nil)
		if got.status != http.StatusServiceUnavailable {
			t.Fatalf("%s: status %d %v, want 503", method, got.status, got.err)
		}
	}
	waitFor(t, "two access-log lines", func() bool { return strings.Count(buf.String(), "\n") == 2 })
	want := "HEAD 503 0\nGET 503 " + strconv.Itoa(len(h1guard.ErrorPage(503))) + "\n"
	if got := buf.String(); got != want {
		t.Errorf("lines %q, want %q", got, want)
	}
}

// TestLogFormatRequestLength checks $request_length against the bytes the
// client sent, as nginx 1.22 counts them: the head as received (an
// absolute-form target's Host line included once) and the body with its
// chunked framing. On net/http's server (h1servertest's net kind) the
// proxy rebuilds the head from the parsed request and counts the body's
// data only.
func TestLogFormatRequestLength(t *testing.T) {
	t.Parallel()
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	})
	var buf syncBuffer
	s := withLogFormat(t, snap(1, "foo.com", backendOf("a", []string{addr(up)})), map[string]string{"log-format-upstream": "$request_length"})
	_, srv := front(t, Options{AccessLog: &buf}, s)
	for _, tc := range []struct {
		name, raw string
		netKind   int // the length on net/http's server
	}{
		{"chunked body", "POST / HTTP/1.1\r\nHost: foo.com\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\na\r\nabcdefghij\r\n3\r\nklm\r\n0\r\n\r\n",
			len("POST / HTTP/1.1\r\nHost: foo.com\r\nConnection: close\r\n\r\nabcdefghijklm")},
		{"absolute-form", "GET http://foo.com/x HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n",
			len("GET http://foo.com/x HTTP/1.1\r\nHost: foo.com\r\nConnection: close\r\n\r\n")},
	} {
		before := strings.Count(buf.String(), "\n")
		if resp, _ := rawExchange(t, addr(srv), tc.raw); resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", tc.name, resp.StatusCode)
		}
		want := len(tc.raw)
		if h1servertest.Kind() == h1server.KindNet {
			want = tc.netKind
		}
		waitFor(t, "the access-log line", func() bool { return strings.Count(buf.String(), "\n") > before })
		if got := strings.Split(buf.String(), "\n")[before]; got != strconv.Itoa(want) {
			t.Errorf("%s: $request_length %s, want %d", tc.name, got, want)
		}
	}
}

// TestLogFormatUpstreamLength checks $upstream_response_length against the
// body bytes the upstream sent, as nginx 1.22 counts them (checked with
// proxy_buffering off): a chunked body with its framing (26 bytes for
// "hello world" in two chunks), a body read to the connection's close, a
// Content-Length one; not the bytes sent to the client, which gzip
// changes.
func TestLogFormatUpstreamLength(t *testing.T) {
	t.Parallel()
	bodies := map[string]string{
		"/chunked": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
		"/close":   "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabcdefgh",
		"/length":  "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
	}
	up := rawBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.WriteString(c, bodies[req.URL.Path])
	})
	var buf syncBuffer
	s := withLogFormat(t, snap(1, "foo.com", backendOf("a", []string{up})), map[string]string{"log-format-upstream": "$upstream_response_length"})
	_, srv := front(t, Options{AccessLog: &buf}, s)
	c := client(t)
	for path, want := range map[string]string{"/chunked": "26", "/close": "8", "/length": "5"} {
		if line := logRequest(t, c, srv.URL+path, "foo.com", &buf, nil); line != want {
			t.Errorf("%s: $upstream_response_length %s, want %s", path, line, want)
		}
	}
}

// TestLogFormatBodyBytesContinue checks $body_bytes_sent of a request
// whose Expect: 100-continue was answered: nginx 1.22 counts the interim
// "HTTP/1.1 100 Continue" (25 bytes), which it sends outside the head it
// subtracts (30, not 5, for a 5-byte body). On net/http's server the proxy
// cannot see it.
func TestLogFormatBodyBytesContinue(t *testing.T) {
	t.Parallel()
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "hello")
	})
	buf, c := loggedConn(t, up, "$body_bytes_sent")
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: foo.com\r\nContent-Length: 3\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
	br := bufio.NewReader(c)
	if line, err := br.ReadString('\n'); err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("first line %q %v, want the 100 Continue", line, err)
	}
	io.WriteString(c, "abc")
	if rest, err := io.ReadAll(br); err != nil || !strings.HasSuffix(string(rest), "\r\n\r\nhello") {
		t.Fatalf("response %q %v", rest, err)
	}
	want := len("HTTP/1.1 100 Continue\r\n\r\n") + len("hello")
	if h1servertest.Kind() == h1server.KindNet {
		want = len("hello")
	}
	waitFor(t, "the access-log line", func() bool { return strings.HasSuffix(buf.String(), "\n") })
	if got := strings.TrimSpace(buf.String()); got != strconv.Itoa(want) {
		t.Errorf("$body_bytes_sent %s, want %d", got, want)
	}
}

// TestLogFormatBodyBytesContinueBodiless: the 100 Continue the proxy sends
// a request without a body (continueBodiless) counts in $body_bytes_sent,
// as nginx 1.22.1 counts it (50 for a 25-byte body, read side by side).
func TestLogFormatBodyBytesContinueBodiless(t *testing.T) {
	t.Parallel()
	if h1servertest.Kind() == h1server.KindNet {
		t.Skip("net/http's server does not tell the proxy what it sent")
	}
	up := backend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	buf, c := loggedConn(t, up, "$body_bytes_sent")
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: foo.com\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
	if rest, err := io.ReadAll(c); err != nil || !strings.HasPrefix(string(rest), "HTTP/1.1 100 Continue\r\n\r\n") {
		t.Fatalf("response %q %v", rest, err)
	}
	want := len("HTTP/1.1 100 Continue\r\n\r\n") + len("hello")
	waitFor(t, "the access-log line", func() bool { return strings.HasSuffix(buf.String(), "\n") })
	if got := strings.TrimSpace(buf.String()); got != strconv.Itoa(want) {
		t.Errorf("$body_bytes_sent %s, want %d", got, want)
	}
}

// TestLogFormatFindConfigUpstreamName checks $proxy_upstream_name of a
// request answered in nginx's find-config phase, before its location's
// `set $proxy_upstream_name`: a declared body over proxy-body-size (413)
// logs the server's "-" (nginx.tmpl's server-level set; nginx 1.22.1 so
// configured: `"POST /big HTTP/2.0" 413 176 ... [-] []`, over HTTP/1.1
// too), a request served the location's.
func TestLogFormatFindConfigUpstreamName(t *testing.T) {
	t.Parallel()
	up := named(t, "a")
	var buf syncBuffer
	s := withLogFormat(t, snap(1, "foo.com", backendOf("a", []string{addr(up)}, limit(4))),
		map[string]string{"log-format-upstream": "$status [$proxy_upstream_name] [$proxy_alternative_upstream_name]"})
	_, srv := front(t, Options{AccessLog: &buf}, s)
	c := client(t)
	for _, body := range []string{"12345", "123"} {
		if got := do(t, c, srv, http.MethodPost, "foo.com", "/", strings.NewReader(body)); got.err != nil {
			t.Fatal(got.err)
		}
	}
	waitFor(t, "two access-log lines", func() bool { return strings.Count(buf.String(), "\n") == 2 })
	if got, want := buf.String(), "413 [-] []\n200 [ns-a-http] []\n"; got != want {
		t.Errorf("lines %q, want %q", got, want)
	}
}

// TestLogFormatClientAddressVariables checks the client-address variables
// of log-format-upstream under use-proxy-protocol and
// use-forwarded-headers, as nginx 1.22.1 logs them configured as
// ingress-nginx renders these keys: $realip_remote_addr is the balancer,
// $proxy_protocol_addr and _port the PROXY header's source (not trusted
// here: it is the client, and X-Forwarded-For is not read),
// $proxy_add_x_forwarded_for the client's lines then $remote_addr.
func TestLogFormatClientAddressVariables(t *testing.T) {
	t.Parallel()
	up := named(t, "a")
	var buf syncBuffer
	s := withLogFormat(t, snap(1, "example.com", backendOf("a", []string{addr(up)})), map[string]string{
		"log-format-upstream": "$remote_addr|$realip_remote_addr|$proxy_protocol_addr|$proxy_protocol_port|$proxy_add_x_forwarded_for",
		"use-proxy-protocol":  "true", "use-forwarded-headers": "true", "proxy-real-ip-cidr": "127.0.0.1/32",
	})
	plain, secure := refusingFrontPP(t, Options{AccessLog: &buf}, s, true)
	const pp = "PROXY TCP4 192.0.2.7 198.51.100.1 1111 80\r\n"
	sendRefused(t, refusedCase{send: sendPlain, req: pp + "GET /p HTTP/1.1\r\nHost: example.com\r\nX-Forwarded-For: 203.0.113.7\r\nX-Forwarded-For: 10.0.0.1\r\nConnection: close\r\n\r\n"}, plain, secure)
	waitFor(t, "the access-log line", func() bool { return strings.HasSuffix(buf.String(), "\n") })
	if got, want := buf.String(), "192.0.2.7|127.0.0.1|192.0.2.7|1111|203.0.113.7, 10.0.0.1, 192.0.2.7\n"; got != want {
		t.Errorf("line %q, want %q", got, want)
	}
}

// TestLogFormatEmptyRequestID: with generate-request-id "false" and no
// X-Request-ID, $req_id (ingress-nginx's map of $http_x_request_id) is
// found and empty, which nginx 1.22.1 logs as nothing, not "-".
func TestLogFormatEmptyRequestID(t *testing.T) {
	t.Parallel()
	up := named(t, "a")
	var buf syncBuffer
	s := withLogFormat(t, snap(1, "foo.com", backendOf("a", []string{addr(up)})),
		map[string]string{"log-format-upstream": "[$req_id] $status", "generate-request-id": "false"})
	_, srv := front(t, Options{AccessLog: &buf}, s)
	if got, want := logRequest(t, client(t), srv.URL+"/", "foo.com", &buf, nil), "[] 200"; got != want {
		t.Errorf("line %q, want %q", got, want)
	}
}

// TestLogFormatNginxRequestID: $request_id is nginx's own ID, which
// $req_id (ingress-nginx's map) is only when the client sent no
// X-Request-ID; a client's ID is $req_id alone.
func TestLogFormatNginxRequestID(t *testing.T) {
	t.Parallel()
	up := named(t, "a")
	var buf syncBuffer
	s := withLogFormat(t, snap(1, "foo.com", backendOf("a", []string{addr(up)})),
		map[string]string{"log-format-upstream": "$req_id $request_id"})
	_, srv := front(t, Options{AccessLog: &buf}, s)
	c := client(t)
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	line := strings.Fields(logRequest(t, c, srv.URL+"/", "foo.com", &buf, nil))
	if len(line) != 2 || line[0] != line[1] || !hex32.MatchString(line[0]) {
		t.Errorf("without X-Request-ID: %q, want one generated ID twice", line)
	}
	line = strings.Fields(logRequest(t, c, srv.URL+"/", "foo.com", &buf, map[string]string{"X-Request-ID": "rid"}))
	if len(line) != 2 || line[0] != "rid" || !hex32.MatchString(line[1]) {
		t.Errorf("with X-Request-ID rid: %q, want rid and a generated ID", line)
	}
}

// TestLogFormatAbsoluteForm checks the host and URI variables of an
// absolute-form request against nginx 1.22.1's line for the same bytes:
// $host is the target's host, $http_host the Host line, $request_uri the
// target from its path on, $request the line as sent.
func TestLogFormatAbsoluteForm(t *testing.T) {
	t.Parallel()
	if h1servertest.Kind() == h1server.KindNet {
		t.Skip("net/http's server drops an absolute-form request's Host line")
	}
	up := named(t, "a")
	var buf syncBuffer
	s := withLogFormat(t, snap(1, "foo.com", backendOf("a", []string{addr(up)})),
		map[string]string{"log-format-upstream": "$host|$http_host|$request_uri|$request"})
	_, srv := front(t, Options{AccessLog: &buf}, s)
	if resp, _ := rawExchange(t, addr(srv), "GET http://foo.com/x?a=1 HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n"); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	waitFor(t, "the access-log line", func() bool { return strings.HasSuffix(buf.String(), "\n") })
	if got, want := buf.String(), "foo.com|other|/x?a=1|GET http://foo.com/x?a=1 HTTP/1.1\n"; got != want {
		t.Errorf("line %q, want %q", got, want)
	}
}

// TestAppendHostIsHostVar: the log format's $host is router.HostVar's,
// nginx's (nginx 1.22.1: "foo.example.com" for Host "Foo.Example.COM.:80",
// "[::1]" for "[::1]:80", "_" for none at the default server).
func TestAppendHostIsHostVar(t *testing.T) {
	t.Parallel()
	for _, host := range []string{"", "foo.com", "Foo.Example.COM.:80", "FOO.com:8080", "[::1]:80", "[::1]", "10.0.0.1:80", "_"} {
		if got, want := string(appendHost(nil, host)), router.HostVar(host); got != want {
			t.Errorf("appendHost(%q) = %q, want router.HostVar's %q", host, got, want)
		}
	}
}

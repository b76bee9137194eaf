package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/weir-lb/weir/l7/h1guard"
	"github.com/weir-lb/weir/userspace/annotations"
)

// recording is a backend that counts its requests and answers 200 "ok
// <body>".
func recording(tb testing.TB) (string, *atomic.Int64) {
	tb.Helper()
	var hits atomic.Int64
	up := backend(tb, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "ok %s", b)
	})
	return addr(up), &hits
}

func nextUpstream(v string, tries, timeout int) func(*annotations.Proxy) {
	return func(p *annotations.Proxy) {
		n, err := annotations.ParseNextUpstream(v)
		if err != nil {
			panic(err)
		}
		p.NextUpstream, p.NextUpstreamTries, p.NextUpstreamTimeoutSeconds = n, tries, timeout
	}
}

func TestNextUpstreamRules(t *testing.T) {
	t.Parallel()
	answering := func(code int) string {
		return addr(backend(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
			fmt.Fprintf(w, "answered %d", code)
		}))
	}
	refused := refusedAddr(t)
	stall := addr(stalling(t, nil))
	for _, tc := range []struct {
		name       string
		first      []string // the upstreams before the recording one, in turn
		method     string
		body       string
		opt        func(*annotations.Proxy)
		wantStatus int
		wantBody   string
		wantTried  int // upstreams in the access log
	}{
		{"GET refused is passed on", []string{refused}, "GET", "", nextUpstream("error timeout", 3, 0), 200, "ok ", 2},
		{"POST refused is passed on with its body", []string{refused}, "POST", "hello", nextUpstream("error timeout", 3, 0), 200, "ok hello", 2},
		{"GET timeout is passed on", []string{stall}, "GET", "", nextUpstream("error timeout", 3, 0), 200, "ok ", 2},
		{"POST timeout is not", []string{stall}, "POST", "", nextUpstream("error timeout", 3, 0), 504, h1guard.ErrorPage(504), 1},
		{"POST timeout with non_idempotent is", []string{stall}, "POST", "", nextUpstream("error timeout non_idempotent", 3, 0), 200, "ok ", 2},
		{"PUT timeout is", []string{stall}, "PUT", "", nextUpstream("error timeout", 3, 0), 200, "ok ", 2},
		{"timeout not listed", []string{stall}, "GET", "", nextUpstream("error", 3, 0), 504, h1guard.ErrorPage(504), 1},
		{"off", []string{refused}, "GET", "", nextUpstream("off", 3, 0), 502, h1guard.ErrorPage(502), 1},
		{"tries bound", []string{refused, refusedAddr(t)}, "GET", "", nextUpstream("error timeout", 2, 0), 502, h1guard.ErrorPage(502), 2},
		{"tries 0 is no bound", []string{refused, refusedAddr(t), refusedAddr(t)}, "GET", "", nextUpstream("error timeout", 0, 0), 200, "ok ", 4},
		{"timeout bound", []string{stall}, "GET", "", nextUpstream("error timeout", 3, 1), 504, h1guard.ErrorPage(504), 1},
		{"timeout not reached", []string{refused}, "GET", "", nextUpstream("error timeout", 3, 60), 200, "ok ", 2},
		{"http_502 listed", []string{answering(502)}, "GET", "", nextUpstream("error timeout http_502", 3, 0), 200, "ok ", 2},
		{"http_502 not listed is relayed", []string{answering(502)}, "GET", "", nextUpstream("error timeout", 3, 0), 502, "answered 502", 1},
		{"http_404 listed", []string{answering(404)}, "GET", "", nextUpstream("http_404", 3, 0), 200, "ok ", 2},
		{"last answer relayed", []string{answering(503)}, "GET", "", nextUpstream("http_503", 1, 0), 503, "answered 503", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ok, _ := recording(t)
			eps := append(append([]string(nil), tc.first...), ok)
			var access syncBuffer
			_, srv := front(t, Options{AccessLog: &access}, snap(1, "foo.com", backendOf("a", eps, readTimeout(1), tc.opt)))
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			got := do(t, client(t), srv, tc.method, "foo.com", "/", body)
			if got.status != tc.wantStatus || got.body != tc.wantBody {
				t.Errorf("got %d %q %v, want %d %q", got.status, got.body, got.err, tc.wantStatus, tc.wantBody)
			}
			waitFor(t, "the access-log line", func() bool { return len(entries(t, access.String())) == 1 })
			e := entries(t, access.String())[0]
			want := strings.Join(eps[:tc.wantTried], ", ")
			if e.Upstream != want || e.Status != tc.wantStatus {
				t.Errorf("access log: upstream %q status %d, want %q %d", e.Upstream, e.Status, want, tc.wantStatus)
			}
		})
	}
}

// TestNextUpstreamBodyNotReplayed checks that a request whose streamed
// body (proxy-request-buffering off) was consumed by the failed upstream is
// not passed on, and that a buffered one (the default) is, whole.
func TestNextUpstreamBodyNotReplayed(t *testing.T) {
	t.Parallel()
	reset := rawBackend(t, func(c net.Conn) {
		_, _ = io.ReadFull(c, make([]byte, 64)) // the head and some body, then gone
	})
	ok, hits := recording(t)
	body := strings.Repeat("x", 1<<20)
	_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("a", []string{reset, ok}, nextUpstream("error timeout non_idempotent", 3, 0), streamBody)))
	got := do(t, client(t), srv, http.MethodPut, "foo.com", "/", strings.NewReader(body))
	if got.status != http.StatusBadGateway || hits.Load() != 0 {
		t.Errorf("streamed: got %d %q %v, %d requests passed on; want 502 and none", got.status, got.body[:min(len(got.body), 80)], got.err, hits.Load())
	}
	_, srv = front(t, Options{}, snap(1, "foo.com", backendOf("a", []string{reset, ok}, nextUpstream("error timeout non_idempotent", 3, 0))))
	got = do(t, client(t), srv, http.MethodPut, "foo.com", "/", strings.NewReader(body))
	if got.status != http.StatusOK || got.body != "ok "+body {
		t.Errorf("buffered: got %d %q %v; want 200 with the whole body passed on", got.status, got.body[:min(len(got.body), 80)], got.err)
	}
}

// TestNextUpstreamTriesRepeat checks that proxy-next-upstream-tries
// bounds the attempts, not the endpoints: once every endpoint was tried the
// balancer picks among all again, as ingress-nginx's round robin, which
// never skips a peer tried (its $upstream_addr "a, a, a" for one refusing
// endpoint). tries 0, no limit there, tries each endpoint once.
func TestNextUpstreamTriesRepeat(t *testing.T) {
	t.Parallel()
	r1, r2 := refusedAddr(t), refusedAddr(t)
	for _, tc := range []struct {
		name  string
		eps   []string
		tries int
		want  []string
	}{
		{"one endpoint, tries 3", []string{r1}, 3, []string{r1, r1, r1}},
		{"two endpoints, tries 3", []string{r1, r2}, 3, []string{r1, r2, r1}},
		{"two endpoints, tries 5", []string{r1, r2}, 5, []string{r1, r2, r1, r2, r1}},
		{"two endpoints, tries 0", []string{r1, r2}, 0, []string{r1, r2}},
		{"two endpoints, tries 1", []string{r1, r2}, 1, []string{r1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf syncBuffer
			s := withLogFormat(t, snap(1, "foo.com", backendOf("a", tc.eps, nextUpstream("error timeout", tc.tries, 0))),
				map[string]string{"log-format-upstream": "$status|$upstream_addr|$upstream_status"})
			_, srv := front(t, Options{AccessLog: &buf}, s)
			line := logRequest(t, client(t), srv.URL+"/", "foo.com", &buf, nil)
			statuses := strings.TrimSuffix(strings.Repeat("502, ", len(tc.want)), ", ")
			if want := "502|" + strings.Join(tc.want, ", ") + "|" + statuses; line != want {
				t.Errorf("log line %q, want %q", line, want)
			}
		})
	}
}

// TestNoPassiveHealth checks that an upstream that failed stays in
// rotation, as behind ingress-nginx's Lua balancer (nginx's max_fails never
// counts its peers): each request whose turn it is tries it again and is
// passed on, and a new configuration changes nothing of that.
func TestNoPassiveHealth(t *testing.T) {
	t.Parallel()
	var accepted atomic.Int64
	failing := rawBackend(t, func(c net.Conn) { accepted.Add(1) }) // closes at once
	ok1, _ := recording(t)
	ok2, _ := recording(t)
	var access syncBuffer
	p, srv := front(t, Options{AccessLog: &access, Registry: prometheus.NewRegistry()}, snap(1, "foo.com", backendOf("a", []string{failing, ok1, ok2})))
	c := client(t)
	for i := range 9 {
		if got := get(t, c, srv, "foo.com", "/"); got.status != 200 {
			t.Fatalf("request %d: got %d %q %v", i, got.status, got.body, got.err)
		}
		if i == 4 {
			if err := p.Apply(snap(2, "foo.com", backendOf("a", []string{failing, ok1, ok2}, readTimeout(30)))); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Round robin over three, a request passed on taking two turns: the
	// failing upstream is tried by every other request (with passive
	// health it would be tried once).
	n := accepted.Load()
	if n < 4 {
		t.Errorf("the failing upstream got %d connections, want one in each of its turns (4 or more)", n)
	}
	if got := testutil.ToFloat64(p.metrics.upstreamErrors.WithLabelValues(reasonUpstreamError)); got != float64(n) {
		t.Errorf("weir_upstream_errors_total{reason=upstream_error} = %v, want the %d attempts passed on", got, n)
	}
	waitFor(t, "the access-log lines", func() bool { return len(entries(t, access.String())) == 9 })
	passedOn := 0
	for _, e := range entries(t, access.String()) {
		if e.Upstream == failing+", "+ok1 {
			passedOn++
		}
	}
	if passedOn != int(n) {
		t.Errorf("%d access-log lines list %q, want %d", passedOn, failing+", "+ok1, n)
	}
}

func TestConditionOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want annotations.NextUpstream
	}{
		{&dialError{addr: "a", err: fmt.Errorf("%w: x", errConnectTimeout)}, annotations.NextTimeout},
		{&dialError{addr: "a", err: &net.OpError{Op: "dial", Err: io.EOF}}, annotations.NextError},
		{fmt.Errorf("%w: read", errReadTimeout), annotations.NextTimeout},
		{fmt.Errorf("read response header: %w", io.ErrUnexpectedEOF), annotations.NextError},
		{fmt.Errorf("read response header: %w", errHeaderTooLarge), annotations.NextInvalidHeader},
		{fmt.Errorf("write request: %w", syscall.ECONNRESET), annotations.NextError},
		{fmt.Errorf("read response header: malformed HTTP status code \"x\""), annotations.NextInvalidHeader},
	} {
		if got := conditionOf(tc.err); got != tc.want {
			t.Errorf("conditionOf(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestNextUpstreamUpgrade checks that an upgrade whose upstream refuses the
// connection goes to the next one.
func TestNextUpstreamUpgrade(t *testing.T) {
	t.Parallel()
	up := backend(t, echoUpgrade)
	var access syncBuffer
	_, srv := front(t, Options{AccessLog: &access}, snap(1, "foo.com", backendOf("ws", []string{refusedAddr(t), addr(up)})))
	conn := dialRaw(t, addr(srv))
	fmt.Fprint(conn, "GET /ws HTTP/1.1\r\nHost: foo.com\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("got %v %v, want 101 from the second upstream", resp, err)
	}
	fmt.Fprint(conn, "hi\n")
	if line, err := br.ReadString('\n'); err != nil || line != "echo hi\n" {
		t.Fatalf("echo: %q %v", line, err)
	}
	conn.Close()
	waitFor(t, "the access-log line", func() bool { return len(entries(t, access.String())) == 1 })
	if e := entries(t, access.String())[0]; !strings.HasSuffix(e.Upstream, ", "+addr(up)) || e.Status != 101 {
		t.Errorf("access log: upstream %q status %d, want two addresses and 101", e.Upstream, e.Status)
	}
}

// TestNextUpstreamLogValues checks the upstream variables of a request
// passed to the next upstream, as nginx writes them (checked against nginx
// 1.22 with proxy_next_upstream): one value per attempt, ", " between; an
// attempt passed on read no body (length 0), took its time to fail, and has
// the status it answered, 504 for a timeout or 502 for an error; its
// $upstream_connect_time and $upstream_header_time are "-" for the steps
// it did not reach (a refused connection, a header that never came).
func TestNextUpstreamLogValues(t *testing.T) {
	t.Parallel()
	answer503 := addr(backend(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, "answered 503")
	}))
	refused := refusedAddr(t)
	stall := addr(stalling(t, nil))
	for _, tc := range []struct {
		name, first, want string
	}{
		// A refused connection fails within milliseconds (0.000 on an idle
		// machine, a few ms under -race and load).
		{"refused", refused, `^502, 200\|0, 5\|0\.0\d\d, \d+\.\d{3}\|-, 0\.\d{3}\|-, 0\.\d{3}$`},
		{"timeout", stall, `^504, 200\|0, 5\|1\.\d{3}, \d+\.\d{3}\|0\.\d{3}, 0\.\d{3}\|-, 0\.\d{3}$`},
		{"http_503", answer503, `^503, 200\|0, 5\|0\.\d{3}, \d+\.\d{3}\|0\.\d{3}, 0\.\d{3}\|0\.\d{3}, 0\.\d{3}$`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ok := addr(backend(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello") }))
			var buf syncBuffer
			s := withLogFormat(t, snap(1, "foo.com", backendOf("a", []string{tc.first, ok}, readTimeout(1), nextUpstream("error timeout http_503", 3, 0))),
				map[string]string{"log-format-upstream": "$upstream_addr|$upstream_status|$upstream_response_length|$upstream_response_time|$upstream_connect_time|$upstream_header_time"})
			_, srv := front(t, Options{AccessLog: &buf}, s)
			line := logRequest(t, client(t), srv.URL+"/", "foo.com", &buf, nil)
			addrs, rest, _ := strings.Cut(line, "|")
			if want := tc.first + ", " + ok; addrs != want {
				t.Errorf("$upstream_addr %q, want %q", addrs, want)
			}
			if !regexp.MustCompile(tc.want).MatchString(rest) {
				t.Errorf("status|length|time|connect|header %q, want it to match %s", rest, tc.want)
			}
		})
	}
}

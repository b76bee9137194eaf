package proxy

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/weir-lb/weir/l7/h1guard"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// named returns a backend that answers its name and the request path.
func named(tb testing.TB, name string) *httptest.Server {
	tb.Helper()
	return backend(tb, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s?%s", name, r.URL.Path, r.URL.RawQuery)
	})
}

func TestRouting(t *testing.T) {
	t.Parallel()
	a, b, def := named(t, "a"), named(t, "b"), named(t, "def")
	defBe := backendOf("def", []string{addr(def)})
	s := &snapshot.Snapshot{Version: 7, DefaultBackend: &defBe, Servers: []snapshot.Server{
		{Host: "foo.com", Paths: []snapshot.Path{
			{Path: "/api", Match: snapshot.MatchPrefix, Backend: backendOf("b", []string{addr(b)})},
			{Path: "/", Match: snapshot.MatchPrefix, Backend: backendOf("a", []string{addr(a)})},
		}},
		{Host: "*.foo.com", Paths: []snapshot.Path{
			{Path: "/only", Match: snapshot.MatchExact, Backend: backendOf("b", []string{addr(b)})},
		}},
		{Host: "empty.com", Paths: []snapshot.Path{
			{Path: "/", Match: snapshot.MatchPrefix, Backend: backendOf("gone", nil)},
		}},
	}}
	_, srv := front(t, Options{}, s)
	c := client(t)
	for _, tc := range []struct {
		host, path string
		status     int
		body       string
	}{
		{"foo.com", "/", 200, "a /?"},
		{"FOO.com:80", "/x?q=1", 200, "a /x?q=1"},
		{"foo.com", "/api/v1?x=y", 200, "b /api/v1?x=y"},
		{"foo.com", "/apix", 200, "a /apix?"},
		{"bar.foo.com", "/only", 200, "b /only?"},
		{"bar.foo.com", "/other", 200, "def /other?"},
		{"empty.com", "/", 503, h1guard.ErrorPage(503)},
	} {
		got := get(t, c, srv, tc.host, tc.path)
		if got.err != nil {
			t.Fatalf("GET %s%s: %v", tc.host, tc.path, got.err)
		}
		if diff := cmp.Diff([2]any{tc.status, tc.body}, [2]any{got.status, got.body}); diff != "" {
			t.Errorf("GET %s%s (-want +got):\n%s", tc.host, tc.path, diff)
		}
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	a := named(t, "a")
	_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("a", []string{addr(a)})))
	got := get(t, client(t), srv, "other.com", "/")
	if got.status != 404 || got.body != h1guard.ErrorPage(404) {
		t.Errorf("got %d %q, want 404 %q", got.status, got.body, h1guard.ErrorPage(404))
	}
	if ct := got.header.Get("Content-Type"); ct != "text/html" {
		t.Errorf("Content-Type = %q", ct)
	}
}

func TestNotLive(t *testing.T) {
	t.Parallel()
	p, srv := front(t, Options{}, nil)
	if p.Live() || p.Version() != 0 {
		t.Errorf("new proxy: Live %v Version %d, want false 0", p.Live(), p.Version())
	}
	if got := get(t, client(t), srv, "foo.com", "/"); got.status != 503 {
		t.Errorf("before Apply: status %d, want 503", got.status)
	}
	if err := p.Apply(&snapshot.Snapshot{Version: 3}); err != nil {
		t.Fatal(err)
	}
	if !p.Live() || p.Version() != 3 {
		t.Errorf("after Apply: Live %v Version %d, want true 3", p.Live(), p.Version())
	}
}

func TestApplyRejectsInvalid(t *testing.T) {
	t.Parallel()
	p := New(Options{})
	if err := p.Apply(snap(1, "a.com", backendOf("a", nil))); err != nil {
		t.Fatal(err)
	}
	bad := &snapshot.Snapshot{Version: 2, Servers: []snapshot.Server{{Host: "a.com", Paths: []snapshot.Path{{Path: "/(", Match: snapshot.MatchRegex}}}}}
	err := p.Apply(bad)
	if err == nil || !strings.HasPrefix(err.Error(), "apply snapshot: ") {
		t.Fatalf("Apply(bad regex) = %v, want an apply snapshot error", err)
	}
	if p.Version() != 1 {
		t.Errorf("Version after failed Apply = %d, want 1", p.Version())
	}
}

func TestRoundRobinAcrossEndpoints(t *testing.T) {
	t.Parallel()
	a, b := named(t, "a"), named(t, "b")
	_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("ab", []string{addr(a), addr(b)})))
	c := client(t)
	counts := map[string]int{}
	for range 10 {
		got := get(t, c, srv, "foo.com", "/")
		counts[strings.Fields(got.body)[0]]++
	}
	if diff := cmp.Diff(map[string]int{"a": 5, "b": 5}, counts); diff != "" {
		t.Errorf("distribution (-want +got):\n%s", diff)
	}
}

func TestKeepalive(t *testing.T) {
	t.Parallel()
	var conns atomic.Int64
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	}))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	up.Start()
	t.Cleanup(up.Close)
	_, srv := front(t, Options{}, snap(1, "foo.com", backendOf("a", []string{addr(up)})))
	c := client(t)
	for i := range 20 {
		if got := get(t, c, srv, "foo.com", "/"); got.status != 200 {
			t.Fatalf("request %d: status %d %v", i, got.status, got.err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("backend saw %d connections for 20 sequential requests, want 1", n)
	}
}

func TestApplyDuringInFlight(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{})
	release := make(chan struct{})
	old := backend(t, func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		fmt.Fprint(w, "old")
	})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	newer := named(t, "new")
	p, srv := front(t, Options{}, snap(1, "foo.com", backendOf("old", []string{addr(old)})))
	c := client(t)

	done := make(chan result, 1)
	go getInto(done, t, c, srv, "foo.com", "/")
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("request never reached the old backend")
	}
	if err := p.Apply(snap(2, "foo.com", backendOf("new", []string{addr(newer)}))); err != nil {
		t.Fatal(err)
	}
	if got := get(t, c, srv, "foo.com", "/"); got.body != "new /?" {
		t.Errorf("request after Apply got %q, want the new backend", got.body)
	}
	once.Do(func() { close(release) })
	select {
	case got := <-done:
		if got.status != 200 || got.body != "old" {
			t.Errorf("in-flight request got %d %q %v, want 200 \"old\"", got.status, got.body, got.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("in-flight request never completed")
	}
	if p.Version() != 2 {
		t.Errorf("Version = %d, want 2", p.Version())
	}
}

func TestInFlightCounter(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{})
	release := make(chan struct{})
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	p, srv := front(t, Options{}, snap(1, "foo.com", backendOf("a", []string{addr(up)})))
	c := client(t)
	done := make(chan result, 1)
	go getInto(done, t, c, srv, "foo.com", "/")
	<-entered
	// The counter lives on across an Apply that keeps the address.
	if err := p.Apply(snap(2, "bar.com", backendOf("a", []string{addr(up)}))); err != nil {
		t.Fatal(err)
	}
	u := p.router.Load().Upstream(addr(up))
	if n := u.InFlight.Load(); n != 1 {
		t.Errorf("in flight = %d, want 1", n)
	}
	once.Do(func() { close(release) })
	<-done
	waitFor(t, "in-flight counter back to 0", func() bool { return u.InFlight.Load() == 0 })
}

// echoUpgrade is a backend that accepts "Upgrade: echo" and then echoes
// lines until the connection closes.
func echoUpgrade(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Upgrade") != "echo" {
		http.Error(w, "upgrade required", http.StatusUpgradeRequired)
		return
	}
	c, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer c.Close()
	fmt.Fprint(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	brw.Flush()
	for {
		line, err := brw.ReadString('\n')
		if err != nil {
			return
		}
		fmt.Fprint(brw, "echo "+line)
		brw.Flush()
	}
}

func TestUpgradeSurvivesApply(t *testing.T) {
	t.Parallel()
	up := backend(t, echoUpgrade)
	var access syncBuffer
	p, srv := front(t, Options{AccessLog: &access}, snap(1, "foo.com", backendOf("ws", []string{addr(up)}, readTimeout(1))))
	conn, err := net.Dial("tcp", addr(srv))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprint(conn, "GET /ws HTTP/1.1\r\nHost: foo.com\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	roundTrip := func(msg string) {
		t.Helper()
		fmt.Fprint(conn, msg+"\n")
		line, err := br.ReadString('\n')
		if err != nil || line != "echo "+msg+"\n" {
			t.Fatalf("echo of %q = %q, %v", msg, line, err)
		}
	}
	roundTrip("one")
	// A new configuration without the route does not cut the connection.
	if err := p.Apply(&snapshot.Snapshot{Version: 2}); err != nil {
		t.Fatal(err)
	}
	roundTrip("two")
	conn.Close()
	waitFor(t, "the access-log line", func() bool { return strings.Contains(access.String(), `"status":101`) })
}

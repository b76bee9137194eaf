package proxy

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/weir-lb/weir/userspace/annotations"
)

type mirrored struct {
	method, uri, host, body, header string
}

// TestMirror: a copy of each request (method, URI, headers, body, the
// mirror's Host) reaches mirror-target; a mirror that holds its copies
// delays no response; past the copies in flight, more are dropped and
// counted; an unreachable mirror fails nothing.
func TestMirror(t *testing.T) {
	t.Parallel()
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "main")
	})
	got := make(chan mirrored, 16)
	hold := make(chan struct{})
	var released bool
	release := func() {
		if !released {
			released = true
			close(hold)
		}
	}
	mirror := backend(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- mirrored{r.Method, r.RequestURI, r.Host, string(b), r.Header.Get("X-Test") + " ua=" + strings.Join(r.Header["User-Agent"], ",")}
		if r.Header.Get("X-Hold") != "" {
			<-hold
		}
		io.WriteString(w, "ignored")
	})
	t.Cleanup(release) // before the mirror's Close, which waits for its handlers
	withMirror := func(m *annotations.Mirror) func(*annotations.Proxy) {
		return func(p *annotations.Proxy) { p.Mirror = m }
	}
	_, srv := front(t, Options{}, snap(1, "app.test", backendOf("app", []string{addr(up)},
		withMirror(&annotations.Mirror{Target: "http://" + addr(mirror), RequestURI: true, Host: "mirror.test"}))))
	c := client(t)
	send := func(method, body string, hdr ...string) result {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+"/a/b?c=d", strings.NewReader(body))
		req.Host = "app.test"
		req.Header.Set("X-Test", "yes")
		for i := 0; i < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			return result{err: err}
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return result{status: resp.StatusCode, body: string(b), err: err}
	}
	next := func() mirrored {
		t.Helper()
		select {
		case m := <-got:
			return m
		case <-time.After(10 * time.Second):
			t.Fatal("no copy reached the mirror within 10s")
		}
		return mirrored{}
	}
	if res := send(http.MethodPost, "payload"); res.status != 200 || res.body != "main" {
		t.Fatalf("POST: %d %q %v", res.status, res.body, res.err)
	}
	want := mirrored{"POST", "/a/b?c=d", "mirror.test", "payload", "yes ua=Go-http-client/1.1"}
	if m := next(); m != want {
		t.Errorf("copy %+v, want %+v", m, want)
	}

	_, nobody := front(t, Options{}, snap(1, "app.test", backendOf("app", []string{addr(up)},
		withMirror(&annotations.Mirror{Target: "http://" + addr(mirror) + "/copy", Host: "mirror.test", NoBody: true}))))
	srv = nobody
	// An empty User-Agent: Go's client sends none, nor must the copy.
	if res := send(http.MethodPost, "payload", "User-Agent", ""); res.status != 200 {
		t.Fatalf("POST, mirror-request-body off: %d %v", res.status, res.err)
	}
	// nginx passes the request's arguments after the target's path, and
	// adds no User-Agent.
	want = mirrored{"POST", "/copy?c=d", "mirror.test", "", "yes ua="}
	if m := next(); m != want {
		t.Errorf("mirror-request-body off, a target with a path: copy %+v, want %+v", m, want)
	}

	// A mirror holding its copies delays nothing; the third copy in
	// flight of a Proxy that allows two is dropped.
	p, srv := front(t, Options{Registry: prometheus.NewRegistry()}, snap(1, "app.test", backendOf("app", []string{addr(up)},
		withMirror(&annotations.Mirror{Target: "http://" + addr(mirror), RequestURI: true, Host: "mirror.test"}))))
	p.mirrors.sem = make(chan struct{}, 2) // before its first request
	for i := range 3 {
		if res := send(http.MethodGet, "", "X-Hold", "1"); res.status != 200 || res.body != "main" {
			t.Fatalf("GET %d with the mirror holding its copies: %d %q %v", i, res.status, res.body, res.err)
		}
	}
	next()
	next()
	waitFor(t, "the dropped copy counted", func() bool {
		return testutil.ToFloat64(p.mirrors.dropped) == 1
	})
	release()

	_, off := front(t, Options{}, snap(1, "app.test", backendOf("app", []string{addr(up)},
		withMirror(&annotations.Mirror{Target: "http://" + refusedAddr(t), Host: "gone.test"}))))
	srv = off
	if res := send(http.MethodPost, "x"); res.status != 200 || res.body != "main" {
		t.Errorf("unreachable mirror: %d %q %v", res.status, res.body, res.err)
	}
}

// TestMirrorWithoutEndpoints: a route without endpoints still sends its
// mirror copies, the body's too, as nginx's mirror runs in the precontent
// phase, before the balancer finds no endpoint (nginx 1.22.1, location /
// with mirror /_mirror and proxy_pass to an upstream whose one server is
// down: 502, and the mirror got GET /m1?x and POST /m2 with its body).
func TestMirrorWithoutEndpoints(t *testing.T) {
	t.Parallel()
	got := make(chan mirrored, 4)
	mirror := backend(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- mirrored{method: r.Method, uri: r.RequestURI, body: string(b)}
	})
	_, srv := front(t, Options{}, snap(1, "app.test", backendOf("app", nil, func(p *annotations.Proxy) {
		p.Mirror = &annotations.Mirror{Target: "http://" + addr(mirror), RequestURI: true}
	})))
	c := client(t)
	for _, want := range []mirrored{{method: http.MethodGet, uri: "/m1?x"}, {method: http.MethodPost, uri: "/m2", body: "hello"}} {
		if res := do(t, c, srv, want.method, "app.test", want.uri, strings.NewReader(want.body)); res.status != http.StatusServiceUnavailable {
			t.Errorf("%s %s: %d, want 503", want.method, want.uri, res.status)
		}
		select {
		case m := <-got:
			if m != want {
				t.Errorf("mirror copy %+v, want %+v", m, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s %s: no mirror copy within 10s", want.method, want.uri)
		}
	}
}

package demobackend

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestHandler(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		method  string
		target  string
		headers map[string]string
		want    string
	}{{
		name:   "plain",
		method: "GET",
		target: "http://web.localhost/a/b?q=1",
		want:   "web GET web.localhost/a/b\n",
	}, {
		name:   "forwarded headers in a fixed order, others ignored",
		method: "POST",
		target: "http://api.localhost:8080/v1",
		headers: map[string]string{
			"X-Request-Id":      "r1",
			"X-Real-Ip":         "10.0.0.1",
			"X-Forwarded-Port":  "8080",
			"X-Forwarded-Host":  "api.localhost:8080",
			"X-Forwarded-Proto": "http",
			"X-Forwarded-For":   "10.0.0.1",
			"User-Agent":        "curl",
		},
		want: "web POST api.localhost:8080/v1\n" +
			"X-Forwarded-For: 10.0.0.1\n" +
			"X-Forwarded-Proto: http\n" +
			"X-Forwarded-Host: api.localhost:8080\n" +
			"X-Forwarded-Port: 8080\n" +
			"X-Real-IP: 10.0.0.1\n" +
			"X-Request-ID: r1\n",
	}, {
		name:   "bench",
		method: "GET",
		target: "http://bench.local/bench",
		want:   "hello, weir!\n",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(tc.method, tc.target, nil)
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			Handler("web").ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				t.Errorf("status = %d, want 200", w.Code)
			}
			if diff := cmp.Diff(tc.want, w.Body.String()); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			if got := w.Header().Get("Content-Type"); !strings.HasPrefix(got, "text/plain") {
				t.Errorf("Content-Type = %q", got)
			}
		})
	}
}

func TestBenchBodyIs13Bytes(t *testing.T) {
	t.Parallel()
	if len(BenchBody) != 13 {
		t.Errorf("len(BenchBody) = %d, want 13", len(BenchBody))
	}
}

// nopWriter is a ResponseWriter that keeps its header map, like net/http's.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

func TestBenchAllocatesNothing(t *testing.T) {
	h := Handler("web")
	r := httptest.NewRequest("GET", "http://bench.local/bench", nil)
	w := &nopWriter{h: http.Header{}}
	if n := testing.AllocsPerRun(1000, func() { h.ServeHTTP(w, r) }); n != 0 {
		t.Errorf("bench path: %v allocations per request, want 0", n)
	}
}

func BenchmarkBench(b *testing.B) {
	h := Handler("web")
	r := httptest.NewRequest("GET", "http://bench.local/bench", nil)
	w := &nopWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}

func TestServeListener(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeListener(ctx, "api", ln) }()

	resp, err := http.Get("http://" + ln.Addr().String() + "/x")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := "api GET " + ln.Addr().String() + "/x\n"; string(body) != want {
		t.Errorf("body = %q, want %q", body, want)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeListener = %v, want nil after cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeListener did not return after cancel")
	}
}

func TestServeListenError(t *testing.T) {
	t.Parallel()
	err := Serve(context.Background(), "web", "256.0.0.1:1")
	if err == nil || !strings.HasPrefix(err.Error(), "listen 256.0.0.1:1: ") {
		t.Errorf("Serve = %v, want a listen error", err)
	}
}

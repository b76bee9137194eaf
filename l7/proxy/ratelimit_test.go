package proxy

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/connlimit"
	"github.com/weir-lb/weir/userspace/annotations"
)

// TestRateLimitAcrossWorkers: two Proxies sharing one connlimit.Table (as
// two workers of a node, each with its own mapping of the memfd) let in
// 1 + burst requests of one client in all, limit-rpm 1 with
// limit-burst-multiplier 5, and refuse the others with
// limit-req-status-code; a client in limit-allowlist is not counted.
func TestRateLimitAcrossWorkers(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	up := backend(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1); io.WriteString(w, "ok") })
	shared, err := connlimit.NewSharedTable(2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shared.File().Close() })
	second, err := shared.Remap()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { second.File().Close() })
	limited := func(allow ...string) func(*annotations.Proxy) {
		return func(p *annotations.Proxy) {
			p.RateLimit = &annotations.RateLimit{RPM: 1, BurstMultiplier: 5, Allowlist: allow}
		}
	}
	s := snap(1, "app.test", backendOf("app", []string{addr(up)}, limited()))
	s.Global.LimitReqStatus = http.StatusTooManyRequests
	_, w0 := front(t, Options{ConnTable: shared, ConnTableWorker: 0}, s)
	_, w1 := front(t, Options{ConnTable: second, ConnTableWorker: 1}, s)
	c := client(t)
	statuses := map[int]int{}
	for i := range 20 {
		srv := w0
		if i%2 == 1 {
			srv = w1
		}
		res := get(t, c, srv, "app.test", "/")
		if res.err != nil {
			t.Fatal(res.err)
		}
		statuses[res.status]++
	}
	if statuses[200] != 6 || statuses[429] != 14 || hits.Load() != 6 {
		t.Errorf("limit-rpm 1, burst multiplier 5, 20 requests over two workers: statuses %v, backend hits %d; want 6 × 200 and 14 × 429", statuses, hits.Load())
	}

	free := snap(2, "app.test", backendOf("app", []string{addr(up)}, limited("127.0.0.0/8")))
	_, w2 := front(t, Options{ConnTable: second, ConnTableWorker: 1}, free)
	for range 10 {
		if res := get(t, c, w2, "app.test", "/"); res.status != 200 {
			t.Fatalf("client in limit-allowlist, past the limit: %d, want 200", res.status)
		}
	}
}

// TestLimitRate: limit-rate 1 (KiB/s) with limit-rate-after 1 (KiB) and
// proxy-buffering on: of a 3 KiB body, the 2 KiB less the head's bytes
// arrive at once, 1 KiB more after a second, the last after two, as nginx
// counts the head in what it paces (1.22.1, limit_rate 1k and
// limit_rate_after 2k, a 4096-byte body after a 236-byte head: 2836 body
// bytes at once, 3860 after 1s, all after 2s). With proxy-buffering off
// nothing is paced, as nginx's unbuffered responses.
func TestLimitRate(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("x", 3<<10)
	up := backend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) })
	limited := func(buffering bool) func(p *annotations.Proxy) {
		return func(p *annotations.Proxy) {
			p.LimitRateKiB, p.LimitRateAfterKiB = 1, 1
			p.Upstream = &annotations.Upstream{Buffering: buffering}
		}
	}
	_, unbuffered := front(t, Options{}, snap(1, "app.test", backendOf("app", []string{addr(up)}, limited(false))))
	start := time.Now()
	if res := get(t, client(t), unbuffered, "app.test", "/"); res.status != 200 || res.body != body || time.Since(start) > 500*time.Millisecond {
		t.Errorf("proxy-buffering off: %d, %d bytes in %v; want the whole body at once", res.status, len(res.body), time.Since(start))
	}
	_, srv := front(t, Options{}, snap(1, "app.test", backendOf("app", []string{addr(up)}, limited(true))))
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
	req.Host = "app.test"
	start = time.Now()
	resp, err := client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, 3<<9)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	t1 := time.Since(start)
	rest, err := io.ReadAll(resp.Body)
	t2 := time.Since(start)
	if err != nil || len(rest) != 3<<9 {
		t.Fatalf("rest of the body: %d bytes, %v", len(rest), err)
	}
	if t2 < 2*time.Second {
		t.Errorf("3 KiB and a head at 1 KiB/s after 1 KiB: whole body in %v, want at least 2s", t2)
	}
	if t1 > 900*time.Millisecond {
		t.Errorf("the first 1.5 KiB came at %v: want them at once", t1)
	}
}

// TestLimitConnZoneVariable: with limit-conn-zone-variable
// "$http_x_api_key", limit-rpm counts by that header, not by the client
// address: every key has its own budget (1 + burst 1), and a request
// without the header (an empty key) is not counted, as nginx's.
func TestLimitConnZoneVariable(t *testing.T) {
	t.Parallel()
	up := backend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	s := snap(1, "app.test", backendOf("app", []string{addr(up)}, func(p *annotations.Proxy) {
		p.RateLimit = &annotations.RateLimit{RPM: 1, BurstMultiplier: 1}
	}))
	s.Global.LimitConnZoneVariable = "$http_x_api_key"
	_, srv := front(t, Options{}, s)
	c := client(t)
	hit := func(key string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "app.test"
		if key != "" {
			req.Header.Set("X-Api-Key", key)
		}
		res := send(c, req)
		if res.err != nil {
			t.Fatal(res.err)
		}
		return res.status
	}
	var got []int
	for _, key := range []string{"a", "a", "a", "b", "b", "", "", "", "a"} {
		got = append(got, hit(key))
	}
	want := []int{200, 200, 503, 200, 200, 200, 200, 200, 503}
	if !slices.Equal(got, want) {
		t.Errorf("statuses by key a a a b b - - - a: %v, want %v", got, want)
	}
}

package supervisor_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weir-lb/weir/userspace/supervisor/supervisortest"
)

// TestLimitConnectionsAcrossWorkers: limit-connections 2 holds for the
// node, not per worker: three concurrent slow requests from 127.0.0.1, on
// connections of their own, get two 200 and one 503 whichever workers
// they land on. Rounds repeat until both workers took part in one.
func TestLimitConnectionsAcrossWorkers(t *testing.T) {
	cores := twoCores(t)
	arrived := make(chan struct{}, 8)
	var (
		mu      sync.Mutex
		release = make(chan struct{})
	)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		rel := release
		mu.Unlock()
		arrived <- struct{}{}
		<-rel
		io.WriteString(w, "ok")
	}))
	t.Cleanup(backend.Close)
	t.Cleanup(func() { mu.Lock(); close(release); release = nil; mu.Unlock() })
	manifest := strings.Replace(supervisortest.Manifest("app.test", "a", "127.0.0.1", backendPort(backend)),
		"metadata: {name: app, namespace: default}",
		`metadata: {name: app, namespace: default, annotations: {nginx.ingress.kubernetes.io/limit-connections: "2"}}`, 1)
	r := start(t, cores, manifest)

	status := func() int {
		req, _ := http.NewRequest("GET", "http://"+r.sup.HTTPAddr()+"/", nil)
		req.Host = "app.test"
		resp, err := newClient().Do(req)
		if err != nil {
			return 0 // reported as a status 0 in the round's statuses
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	accepted := func() []float64 {
		var per []float64
		for _, cpu := range cores {
			n := 0.0
			for k, v := range r.metric("weir_worker_connections_total") {
				if strings.HasPrefix(k, "cpu="+strconv.Itoa(cpu)+",") {
					n += v
				}
			}
			per = append(per, n)
		}
		return per
	}
	for round := 1; round <= 8; round++ {
		before := accepted()
		statuses := make(chan int, 3)
		for range 3 {
			go func() { statuses <- status() }()
		}
		var got []int
		for arrivals := 0; arrivals < 2 || len(got) < 1; {
			select {
			case <-arrived:
				arrivals++
				if arrivals > 2 {
					t.Fatalf("round %d: a third request reached the backend under limit-connections 2", round)
				}
			case s := <-statuses:
				got = append(got, s)
			case <-time.After(10 * time.Second):
				t.Fatalf("round %d: after 10s, statuses %v", round, got)
			}
		}
		mu.Lock()
		close(release)
		release = make(chan struct{})
		mu.Unlock()
		for len(got) < 3 {
			got = append(got, <-statuses)
		}
		slices.Sort(got)
		if !slices.Equal(got, []int{200, 200, 503}) {
			t.Fatalf("round %d: statuses %v, want [200 200 503]", round, got)
		}
		after := accepted()
		if after[0] > before[0] && after[1] > before[1] {
			return // both workers served a connection of this round
		}
	}
	t.Skip("the connections of 8 rounds all landed on one worker: the node-wide count was not exercised")
}

package supervisor_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
	hb := newHeldBackend(t)
	r := start(t, cores, limitedManifest(hb.port, 2))

	status := func() int { return statusOf(r.sup.HTTPAddr()) }
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
			case <-hb.arrived:
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
		hb.release()
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

// heldBackend holds every request until release, and reports each
// arrival on arrived.
type heldBackend struct {
	port    int
	arrived chan struct{}
	mu      sync.Mutex
	held    chan struct{} // closed by release; nil once the test ended
}

func newHeldBackend(t testing.TB) *heldBackend {
	hb := &heldBackend{arrived: make(chan struct{}, 16), held: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hb.mu.Lock()
		held := hb.held
		hb.mu.Unlock()
		hb.arrived <- struct{}{}
		if held != nil {
			<-held
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { hb.mu.Lock(); close(hb.held); hb.held = nil; hb.mu.Unlock() })
	hb.port = backendPort(srv)
	return hb
}

// release answers the requests held, and holds the next ones.
func (hb *heldBackend) release() {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	close(hb.held)
	hb.held = make(chan struct{})
}

// limitedManifest is supervisortest.Manifest for app.test with
// limit-connections n.
func limitedManifest(port, n int) string {
	return annotatedManifest(port, "limit-connections", strconv.Itoa(n))
}

// annotatedManifest is supervisortest.Manifest for app.test with the
// annotation key (without its prefix) set to value.
func annotatedManifest(port int, key, value string) string {
	return strings.Replace(supervisortest.Manifest("app.test", "a", "127.0.0.1", port),
		"metadata: {name: app, namespace: default}",
		`metadata: {name: app, namespace: default, annotations: {nginx.ingress.kubernetes.io/`+key+`: "`+value+`"}}`, 1)
}

// TestLimitRPMAcrossWorkers: limit-rpm 1 (burst 5) holds for the node,
// not per worker: of 20 requests from 127.0.0.1 on connections of their
// own, spread over two workers, 6 get 200 and 14 get 503.
func TestLimitRPMAcrossWorkers(t *testing.T) {
	cores := twoCores(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(srv.Close)
	r := start(t, cores, annotatedManifest(backendPort(srv), "limit-rpm", "1"))
	count := map[int]int{}
	for range 20 {
		count[statusOf(r.sup.HTTPAddr())]++
	}
	per := map[string]float64{}
	for k, v := range r.metric("weir_worker_connections_total") {
		per[strings.SplitN(k, ",", 2)[0]] += v
	}
	if count[200] != 6 || count[503] != 14 {
		t.Errorf("limit-rpm 1, 20 requests over the workers (connections %v): statuses %v, want 6 × 200 and 14 × 503", per, count)
	}
	if len(per) < 2 {
		t.Skipf("the connections all landed on one worker (%v): the node-wide count was not exercised", per)
	}
}

// statusOf sends GET / with Host app.test to addr on a connection of its
// own and returns the status, 0 when the request failed.
func statusOf(addr string) int {
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Host = "app.test"
	resp, err := newClient().Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestLimitConnectionsDeadWorker: the count of a request held by a worker
// that is killed is taken back before its successor serves: with
// limit-connections 1, a request is let in once every worker was killed
// and restarted, while the backend still holds the first.
func TestLimitConnectionsDeadWorker(t *testing.T) {
	cores := twoCores(t)
	hb := newHeldBackend(t)
	r := start(t, cores, limitedManifest(hb.port, 1))
	t.Cleanup(hb.release) // before the supervisor stops: its drain waits for the requests held
	first := make(chan int, 1)
	go func() { first <- statusOf(r.sup.HTTPAddr()) }()
	select {
	case <-hb.arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the first request did not reach the backend")
	}
	if got := statusOf(r.sup.HTTPAddr()); got != http.StatusServiceUnavailable {
		t.Fatalf("second request while the first is held: %d, want 503", got)
	}
	before := r.sup.Workers()
	for _, st := range before {
		if err := syscall.Kill(st.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 15*time.Second, "every worker killed and back", func() bool {
		for i, st := range r.sup.Workers() {
			if st.PID == 0 || st.PID == before[i].PID || st.Version < 1 {
				return false
			}
		}
		return true
	})
	<-first // its worker died
	second := make(chan int, 1)
	go func() { second <- statusOf(r.sup.HTTPAddr()) }()
	select {
	case <-hb.arrived:
	case got := <-second:
		t.Fatalf("request after the holder died: %d, want it let in", got)
	case <-time.After(10 * time.Second):
		t.Fatal("the request after the holder died neither reached the backend nor got an answer")
	}
}

package proxy

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weir-lb/weir/userspace/annotations"
)

// sendWaits records writeAndWait's results for the test (sendwait.go).
type sendWaits struct {
	mu       sync.Mutex
	ok, fell int
}

func recordSendWaits(t *testing.T) *sendWaits {
	sw := &sendWaits{}
	testHookSendWait = func(_ int, ok bool) {
		sw.mu.Lock()
		defer sw.mu.Unlock()
		if ok {
			sw.ok++
		} else {
			sw.fell++
		}
	}
	t.Cleanup(func() { testHookSendWait, sendWaitMax = nil, 0 })
	return sw
}

func (sw *sendWaits) counts() (ok, fell int) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return sw.ok, sw.fell
}

// TestSendWait: a request without a body is written and its answer waited
// for in one poller operation, on new and reused upstream connections;
// each answer is the request's own.
func TestSendWait(t *testing.T) {
	sw := recordSendWaits(t)
	up := backend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "answer to "+r.URL.Path) })
	_, srv := front(t, Options{}, snap(1, "a.test", backendOf("web", []string{addr(up)})))
	c := client(t)
	for i := range 5 {
		path := "/r" + string(rune('0'+i))
		if res := get(t, c, srv, "a.test", path); res.err != nil || res.status != 200 || res.body != "answer to "+path {
			t.Fatalf("GET %s: %d %q %v", path, res.status, res.body, res.err)
		}
	}
	if ok, fell := sw.counts(); ok != 5 || fell != 0 {
		t.Fatalf("writeAndWait: %d whole, %d fell back; want 5 and 0", ok, fell)
	}
	// A body takes the ordinary path.
	res := do(t, c, srv, http.MethodPost, "a.test", "/post", strings.NewReader("body"))
	if res.err != nil || res.status != 200 {
		t.Fatalf("POST: %d %v", res.status, res.err)
	}
	if ok, fell := sw.counts(); ok != 5 || fell != 0 {
		t.Fatalf("after a POST, writeAndWait: %d whole, %d fell back; want 5 and 0", ok, fell)
	}
}

// TestSendWaitPartialWrite: a socket that takes only part of the request
// at once gets the rest through the ordinary write; the answer is the same.
func TestSendWaitPartialWrite(t *testing.T) {
	sw := recordSendWaits(t)
	sendWaitMax = 7
	up := backend(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Method+" "+r.URL.Path+" "+r.Header.Get("X-Test"))
	})
	_, srv := front(t, Options{}, snap(1, "a.test", backendOf("web", []string{addr(up)})))
	c := client(t)
	for range 3 {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/partial", nil)
		req.Host = "a.test"
		req.Header.Set("X-Test", strings.Repeat("v", 300))
		if res := send(c, req); res.err != nil || res.status != 200 || res.body != "GET /partial "+strings.Repeat("v", 300) {
			t.Fatalf("GET: %d %q %v", res.status, res.body, res.err)
		}
	}
	if ok, fell := sw.counts(); ok != 0 || fell != 3 {
		t.Fatalf("writeAndWait: %d whole, %d fell back; want 0 and 3", ok, fell)
	}
}

// TestSendWaitReadTimeout: proxy-read-timeout bounds the wait that follows
// the write: an upstream that never answers is a 504 after the timeout,
// as before.
func TestSendWaitReadTimeout(t *testing.T) {
	sw := recordSendWaits(t)
	release := make(chan struct{})
	up := backend(t, func(w http.ResponseWriter, r *http.Request) { <-release })
	defer close(release)
	be := backendOf("web", []string{addr(up)}, func(p *annotations.Proxy) { p.ReadTimeoutSeconds = 1 }, nextUpstream("error timeout", 1, 0))
	_, srv := front(t, Options{}, snap(1, "a.test", be))
	start := time.Now()
	res := get(t, client(t), srv, "a.test", "/slow")
	if res.err != nil || res.status != http.StatusGatewayTimeout {
		t.Fatalf("GET: %d %v; want 504", res.status, res.err)
	}
	if d := time.Since(start); d < time.Second || d > 5*time.Second {
		t.Fatalf("504 after %v; want after the 1 s proxy-read-timeout", d)
	}
	if ok, _ := sw.counts(); ok != 1 {
		t.Fatalf("writeAndWait whole: %d; want 1", ok)
	}
}

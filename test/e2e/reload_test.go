package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weir-lb/weir/userspace/manifest"
)

// TestFolderEditGoesLive edits the manifest folder while requests are in
// flight: each edit is live without a restart and no request fails.
func TestFolderEditGoesLive(t *testing.T) {
	blue := newBackend(t, "blue", nil)
	green := newBackend(t, "green", nil)
	services := service("blue", blue.port) + service("green", green.port)
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"svc.yaml":   services,
		"app.yaml":   ingress("app", "app.test", "blue"),
	})
	if got := w.get("app.test", "/"); got.body != "blue /" {
		t.Fatalf("before the edit: got %q, want blue", got.body)
	}

	// Load in the background: sequential keepalive requests, bounded by count
	// and by the test's end.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var sent, failed atomic.Int64
	var firstErr atomic.Value
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 20000 && ctx.Err() == nil; n++ {
				req, _ := http.NewRequest(http.MethodGet, w.base+"/", nil)
				req.Host = "app.test"
				resp, err := client.Do(req)
				sent.Add(1)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				body := readAll(t, resp)
				if resp.StatusCode != http.StatusOK || (body != "blue /" && body != "green /") {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%d %q", resp.StatusCode, body))
				}
			}
		}()
	}

	for i := 0; i < 10; i++ {
		color := []string{"green", "blue"}[i%2]
		w.update("app.yaml", ingress("app", "app.test", color))
		want := color + " /"
		waitFor(t, 5*time.Second, "route to "+color, func() bool { return w.get("app.test", "/").body == want })
	}
	cancel()
	wg.Wait()
	if sent.Load() == 0 || failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed during 10 edits; first: %v", failed.Load(), sent.Load(), firstErr.Load())
	}
	t.Logf("%d requests, none failed, across 10 folder edits", sent.Load())
}

// TestMalformedManifestKeepsLastGood breaks a file and an object: both are
// reported, the last good version of each keeps serving, and the rest of
// the configuration still changes.
func TestMalformedManifestKeepsLastGood(t *testing.T) {
	a := newBackend(t, "a", nil)
	b := newBackend(t, "b", nil)
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"svc.yaml":   service("a", a.port) + service("b", b.port),
		"a.yaml":     ingress("a", "a.test", "a"),
		"b.yaml":     ingress("b", "b.test", "b"),
	})

	// A field that does not exist: the object's last good version stays.
	w.write("a.yaml", strings.Replace(ingress("a", "a.test", "b"), "rules:", "rulez:", 1))
	// Garbage: the file's last good objects stay.
	w.write("garbage.yaml", "{{{ not yaml")
	// And a good change elsewhere still goes live.
	w.update("c.yaml", ingress("c", "c.test", "b"))
	waitFor(t, 5*time.Second, "problems logged", func() bool {
		logs := w.logs.String()
		return strings.Contains(logs, "a.yaml") && strings.Contains(logs, "rulez") && strings.Contains(logs, "garbage.yaml")
	})
	for host, want := range map[string]string{"a.test": "a /", "b.test": "b /", "c.test": "b /"} {
		if got := w.get(host, "/"); got.status != http.StatusOK || got.body != want {
			t.Errorf("%s: got %d %q, want 200 %q", host, got.status, got.body, want)
		}
	}
	// Fixing the file applies the new version.
	w.update("a.yaml", ingress("a", "a.test", "b"))
	if got := w.get("a.test", "/"); got.body != "b /" {
		t.Errorf("after the fix: got %q, want b /", got.body)
	}
}

// TestOversizedManifestSkipped writes a file one byte over the default size
// limit: it is not read, the log and weir_source_problems name it, and the
// rest of the folder, an edit included, is served.
func TestOversizedManifestSkipped(t *testing.T) {
	a := newBackend(t, "a", nil)
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"svc.yaml":   service("a", a.port),
		"a.yaml":     ingress("a", "a.test", "a"),
	})
	big := ingress("big", "big.test", "a") + "#"
	w.write("big.yaml", big+strings.Repeat("x", manifest.DefaultMaxFileSize+1-len(big)-1)+"\n")
	w.update("c.yaml", ingress("c", "c.test", "a"))
	waitFor(t, 5*time.Second, "big.yaml reported", func() bool {
		return strings.Contains(w.logs.String(), "file=big.yaml") && strings.Contains(w.logs.String(), "file too large")
	})
	for host, want := range map[string]int{"a.test": http.StatusOK, "c.test": http.StatusOK, "big.test": http.StatusNotFound} {
		if got := w.get(host, "/"); got.status != want {
			t.Errorf("%s: status %d, want %d", host, got.status, want)
		}
	}
	if !strings.Contains(w.metrics(), "\nweir_source_problems 1\n") {
		t.Errorf("/metrics lacks weir_source_problems 1")
	}
}

// TestFolderEditIsScoped: an edit in the folder names what changed, so the
// build is scoped to it (weir_config_builds_total{build="scoped"}), and it
// routes as a full build would.
func TestFolderEditIsScoped(t *testing.T) {
	blue := newBackend(t, "blue", nil)
	green := newBackend(t, "green", nil)
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"svc.yaml":   service("blue", blue.port) + service("green", green.port),
		"app.yaml":   ingress("app", "app.test", "blue"),
		"other.yaml": ingress("other", "other.test", "blue"),
	})
	w.update("app.yaml", ingress("app", "app.test", "green"))
	for host, want := range map[string]string{"app.test": "green /", "other.test": "blue /"} {
		if got := w.get(host, "/"); got.body != want {
			t.Errorf("%s: got %q, want %q", host, got.body, want)
		}
	}
	if want := `weir_config_builds_total{build="scoped",result="changed"} 1`; !strings.Contains(w.metrics(), want) {
		t.Errorf("/metrics lacks %s", want)
	}
}

// metrics returns the text of Weir's /metrics.
func (w *weir) metrics() string {
	w.t.Helper()
	resp, err := client.Get("http://" + w.d.MetricsAddr() + "/metrics")
	if err != nil {
		w.t.Fatalf("get /metrics: %v", err)
	}
	return readAll(w.t, resp)
}

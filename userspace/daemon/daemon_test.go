package daemon

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/weir-lb/weir/userspace/controller"
	"github.com/weir-lb/weir/userspace/manifest"
	"github.com/weir-lb/weir/userspace/snapshot"
	"github.com/weir-lb/weir/userspace/supervisor/supervisortest"
)

// gatedSource syncs its objects once open is closed.
type gatedSource struct {
	open chan struct{}
	objs snapshot.Objects
}

func (s *gatedSource) Run(ctx context.Context, sync func(snapshot.Objects, []error) (*snapshot.Snapshot, bool)) error {
	select {
	case <-ctx.Done():
		return nil
	case <-s.open:
	}
	sync(s.objs, nil)
	<-ctx.Done()
	return nil
}

// TestServesOnceLive: the in-process proxy accepts only once its first
// configuration is live, as a worker does. A request sent before then
// waits in the accept queue and is answered by the configuration, where it
// used to be answered 503 (no configuration yet).
func TestServesOnceLive(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "backend")
	}))
	defer backend.Close()
	port := backend.Listener.Addr().(*net.TCPAddr).Port
	objs, problems := manifest.DecodeObjects([]byte(supervisortest.Manifest("app.example", "app", "127.0.0.1", port)))
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	src := &gatedSource{open: make(chan struct{}), objs: objs}
	d, err := New(Config{
		BindAddress: "127.0.0.1",
		Source:      src,
		Controller:  controller.Options{Build: snapshot.DefaultOptions()},
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	type answer struct {
		status int
		body   string
		err    error
	}
	answers := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, "http://"+d.HTTPAddr()+"/", nil)
		req.Host = "app.example"
		client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{}}
		resp, err := client.Do(req)
		if err != nil {
			answers <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		answers <- answer{status: resp.StatusCode, body: string(b)}
	}()
	// Not a synchronisation: a window in which an answer would be wrong.
	select {
	case a := <-answers:
		t.Fatalf("answered before the configuration was live: %d %q %v", a.status, a.body, a.err)
	case <-time.After(500 * time.Millisecond):
	}
	close(src.open)
	a := <-answers
	if a.err != nil || a.status != http.StatusOK || a.body != "backend" {
		t.Fatalf("request sent before the configuration: got %d %q %v, want 200 \"backend\"", a.status, a.body, a.err)
	}
}

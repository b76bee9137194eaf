package controller

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// TestMetricsServerTimeouts: the metrics port's server bounds a request
// header, an idle connection and an answer as ingress-nginx's
// (pkg/metrics/handler.go: 10 s, 120 s, 300 s), and leaves a /config long
// poll its whole wait.
func TestMetricsServerTimeouts(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := MetricsServer(ctx, http.NotFoundHandler())
	if srv.ReadHeaderTimeout != 10*time.Second || srv.IdleTimeout != 120*time.Second || srv.WriteTimeout != 300*time.Second {
		t.Errorf("timeouts: header %v, idle %v, write %v; want 10s, 2m0s, 5m0s", srv.ReadHeaderTimeout, srv.IdleTimeout, srv.WriteTimeout)
	}
	if srv.ReadTimeout != 0 && srv.ReadTimeout < MaxConfigWait || srv.WriteTimeout < MaxConfigWait {
		t.Errorf("read %v, write %v: shorter than a /config wait (%v)", srv.ReadTimeout, srv.WriteTimeout, MaxConfigWait)
	}
	if got := srv.BaseContext(nil); got != ctx {
		t.Errorf("BaseContext is not ctx")
	}
}

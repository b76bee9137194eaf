package controller

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestProfilesHandler: the profiles answer a client on a loopback address
// (a real one over 127.0.0.1, and ::1 or a v4-mapped 127.0.0.1) and are
// not found for any other, as ingress-nginx keeps them on 127.0.0.1.
func TestProfilesHandler(t *testing.T) {
	t.Parallel()
	h := ProfilesHandler()
	for _, tc := range []struct {
		remote string
		want   int
	}{
		{"[::1]:4000", http.StatusOK},
		{"[::ffff:127.0.0.1]:4000", http.StatusOK},
		{"127.0.0.2:4000", http.StatusOK},
		{"192.0.2.10:4000", http.StatusNotFound},
		{"[2001:db8::1]:4000", http.StatusNotFound},
		{"10.0.0.1:4000", http.StatusNotFound},
		{"not an address", http.StatusNotFound},
	} {
		req := httptest.NewRequest(http.MethodGet, "/debug/pprof/cmdline", nil)
		req.RemoteAddr = tc.remote
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("client %s: %d, want %d", tc.remote, rec.Code, tc.want)
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-done })
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + ln.Addr().String() + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "controller.test") {
		t.Errorf("over 127.0.0.1: %d %q, want 200 and the test binary's command line", resp.StatusCode, b)
	}
}

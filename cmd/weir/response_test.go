package main

import (
	"compress/gzip"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weir-lb/weir/test/testutil"
	"github.com/weir-lb/weir/userspace/supervisor/supervisortest"
)

// TestResponseSettingsModes checks, with --workers 0 and 1, that the
// ConfigMap's use-gzip and server-tokens reach the proxy (they cross the
// worker protocol): an eligible response is gzipped and names Weir in its
// Server header, the upstream's Server replaced.
func TestResponseSettingsModes(t *testing.T) {
	body := strings.Repeat("compressible text. ", 100)
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "upstream")
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(be.Close)
	for _, workers := range []string{"0", "1"} {
		t.Run("workers="+workers, func(t *testing.T) {
			const host = "app.test"
			httpPort, metricsPort := freePort(t, "127.0.0.1"), freePort(t, "127.0.0.1")
			cm := "\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: weir-config, namespace: default}\ndata: {use-gzip: \"true\", server-tokens: \"true\"}\n"
			p := startWeir(t, map[string]string{"app.yaml": supervisortest.Manifest(host, "app", "127.0.0.1", be.Listener.Addr().(*net.TCPAddr).Port) + cm},
				"--workers", workers, "--bind-address", "127.0.0.1", "--configmap", "default/weir-config",
				"--http-port", strconv.Itoa(httpPort), "--https-port", strconv.Itoa(freePort(t, "127.0.0.1")),
				"--metrics-port", strconv.Itoa(metricsPort))
			waitHealthy(t, p, "127.0.0.1:"+strconv.Itoa(metricsPort))
			tr := &http.Transport{DisableCompression: true}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
			var resp *http.Response
			testutil.WaitFor(t, 10*time.Second, "a gzipped response through weir", func() bool {
				req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(httpPort)+"/", nil)
				req.Host = host
				req.Header.Set("Accept-Encoding", "gzip")
				r, err := c.Do(req)
				if err != nil {
					return false
				}
				if r.StatusCode != http.StatusOK || r.Header.Get("Content-Encoding") != "gzip" {
					r.Body.Close()
					return false
				}
				resp = r
				return true
			})
			defer resp.Body.Close()
			zr, err := gzip.NewReader(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(zr)
			if err != nil || string(got) != body {
				t.Errorf("gunzipped body of %d bytes, %v; want the upstream's", len(got), err)
			}
			if s := resp.Header.Values("Server"); len(s) != 1 || !strings.HasPrefix(s[0], "weir") {
				t.Errorf("Server %q, want weir's only", s)
			}
		})
	}
}

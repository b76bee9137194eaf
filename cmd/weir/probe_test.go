package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weir-lb/weir/test/testutil"
	"github.com/weir-lb/weir/userspace/cmdline"
)

// TestHealthzFlags: --healthz-host, --healthz-port and --health-check-path
// move the health check as ingress-nginx's do, in both modes: the check
// answers on that address, port and path only, /metrics beside it.
func TestHealthzFlags(t *testing.T) {
	for _, workers := range []string{"0", "1"} {
		t.Run("workers="+workers, func(t *testing.T) {
			port := freePort(t, "127.0.0.2")
			p := startWeir(t, nil, append(proxyPorts(t, "127.0.0.1"), "--workers", workers,
				"--healthz-host", "127.0.0.2", "--healthz-port", strconv.Itoa(port), "--health-check-path", "/is-alive")...)
			base := fmt.Sprintf("http://127.0.0.2:%d", port)
			client := &http.Client{Timeout: time.Second}
			get := func(path string) int {
				resp, err := client.Get(base + path)
				if err != nil {
					return 0
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			testutil.WaitFor(t, 20*time.Second, "the health check on "+base+"/is-alive", func() bool {
				select {
				case <-p.exited:
					t.Fatalf("weir exited: %v\n%s", p.err, p.logs.String())
				default:
				}
				return get("/is-alive") == http.StatusOK
			})
			if code := get("/healthz"); code != http.StatusNotFound {
				t.Errorf("GET /healthz with --health-check-path /is-alive: %d, want 404", code)
			}
			if code := get("/metrics"); code != http.StatusOK {
				t.Errorf("GET /metrics on the healthz port: %d, want 200", code)
			}
		})
	}
}

// TestProbeFlagsRefused: a health check path the metrics port cannot serve
// is a usage error.
func TestProbeFlagsRefused(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"healthz", "/metrics", "/readyz", "/", "/debug/pprof/", "/a b", "/{x}", "GET /x"} {
		fs, o := newFlags(io.Discard)
		if err := parse(fs, []string{"--health-check-path", path}, io.Discard); err != nil {
			t.Fatal(err)
		}
		var usage *cmdline.UsageError
		if err := checkProbeFlags(fs, o); !errors.As(err, &usage) {
			t.Errorf("--health-check-path %q: %v, want a usage error", path, err)
		}
	}
}

// TestVerbosity: -v 3 or more logs at debug level (Weir's and its
// workers'), below that --log-level decides.
func TestVerbosity(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args  []string
		debug bool
	}{
		{nil, false}, {[]string{"-v", "2"}, false}, {[]string{"--v=3"}, true},
		{[]string{"--v=5", "--log-level=error"}, true}, {[]string{"--v=1", "--log-level=debug"}, true},
	} {
		fs, o := newFlags(io.Discard)
		if err := parse(fs, tc.args, io.Discard); err != nil {
			t.Fatal(err)
		}
		log, err := newLogger(o, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if got := log.Enabled(context.Background(), slog.LevelDebug); got != tc.debug || (logLevel(o) == "debug") != tc.debug {
			t.Errorf("weir %s: debug %v (workers' level %q), want %v", strings.Join(tc.args, " "), got, logLevel(o), tc.debug)
		}
	}
}

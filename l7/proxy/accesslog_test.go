package proxy

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// entries decodes the access log, one JSON object per line.
func entries(tb testing.TB, log string) []accessEntry {
	tb.Helper()
	var out []accessEntry
	for _, line := range strings.Split(strings.TrimSuffix(log, "\n"), "\n") {
		if line == "" {
			continue
		}
		var e accessEntry
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			tb.Fatalf("access log line %q: %v", line, err)
		}
		out = append(out, e)
	}
	return out
}

func TestAccessLog(t *testing.T) {
	t.Parallel()
	up := named(t, "a")
	var buf syncBuffer
	_, srv := front(t, Options{AccessLog: &buf}, snap(1, "foo.com", backendOf("a", []string{addr(up)})))
	c := client(t)
	before := time.Now()
	get(t, c, srv, "foo.com:80", "/x?secret=1")
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/missing", nil)
	req.Host = "nope.com"
	req.Header.Set("X-Request-ID", "given")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	var got []accessEntry
	waitFor(t, "two access-log lines", func() bool {
		got = entries(t, buf.String())
		return len(got) == 2
	})
	want := []accessEntry{
		{Client: "127.0.0.1", Method: "GET", Host: "foo.com:80", Path: "/x", Status: 200, Bytes: int64(len("a /x?secret=1")),
			Upstream: addr(up), Namespace: "ns", Ingress: "ing-a", Service: "a"},
		{Client: "127.0.0.1", Method: "POST", Host: "nope.com", Path: "/missing", Status: 404, Bytes: int64(len("404 page not found\n")),
			RequestID: "given"},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(accessEntry{}, "Time", "DurationMS"), cmp.FilterPath(func(p cmp.Path) bool {
		return p.Last().String() == ".RequestID" && p.Index(-2).(cmp.SliceIndex).Key() == 0
	}, cmp.Ignore())); diff != "" {
		t.Errorf("access log (-want +got):\n%s", diff)
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(got[0].RequestID) {
		t.Errorf("request_id = %q, want 32 hex digits", got[0].RequestID)
	}
	for _, e := range got {
		ts, err := time.Parse(time.RFC3339Nano, e.Time)
		if err != nil || ts.Before(before.Add(-time.Second)) || ts.After(time.Now()) {
			t.Errorf("time %q: %v, not within the test", e.Time, err)
		}
		if e.DurationMS <= 0 || e.DurationMS > 5000 {
			t.Errorf("duration_ms = %v", e.DurationMS)
		}
	}
	if !strings.Contains(buf.String(), `"duration_ms":`) || !strings.Contains(buf.String(), `"request_id":"given"`) {
		t.Errorf("field names differ from the contract:\n%s", buf.String())
	}
}

func TestAccessLogClientClosed(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{})
	up := stalling(t, func(http.ResponseWriter) { close(entered) })
	var buf, logs syncBuffer
	_, srv := front(t, Options{AccessLog: &buf, Logger: testLogger(&logs)}, snap(1, "foo.com", backendOf("a", []string{addr(up)})))
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/", nil)
	req.Host = "foo.com"
	go cancelWhenClosed(entered, cancel)
	if _, err := client(t).Do(req); err == nil {
		t.Fatal("canceled request succeeded")
	}
	var got []accessEntry
	waitFor(t, "one access-log line", func() bool {
		got = entries(t, buf.String())
		return len(got) == 1
	})
	if got[0].Status != statusClientClosed || got[0].Upstream != addr(up) {
		t.Errorf("status %d upstream %q, want 499 %q", got[0].Status, got[0].Upstream, addr(up))
	}
	if strings.Contains(logs.String(), "upstream error") {
		t.Errorf("a client that went away was logged as an upstream error:\n%s", logs.String())
	}
}

// cancelWhenClosed calls cancel once ch is closed.
func cancelWhenClosed(ch <-chan struct{}, cancel context.CancelFunc) {
	<-ch
	cancel()
}

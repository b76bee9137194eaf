package controller

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/weir-lb/weir/userspace/snapshot"
)

func TestWaitReturnsOnceAVersionAboveIsLive(t *testing.T) {
	t.Parallel()
	c := New(Options{Build: snapshot.DefaultOptions(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})

	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if s, err := c.Wait(ctx, 0); err == nil || s != nil {
		t.Fatalf("Wait before any Sync: got %v, %v; want nil and the context's error", s, err)
	}

	got := make(chan *snapshot.Snapshot, 1)
	go func() {
		s, err := c.Wait(context.Background(), 0)
		if err != nil {
			t.Error(err)
		}
		got <- s
	}()
	c.Sync(objects("a.example"), nil)
	select {
	case s := <-got:
		if s == nil || s.Version != 1 {
			t.Fatalf("Wait(0) after the first Sync: got %+v, want version 1", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait(0) did not return after Sync published version 1")
	}

	// An unchanged build publishes nothing: Wait(1) keeps waiting.
	c.Sync(objects("a.example"), nil)
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if s, err := c.Wait(ctx, 1); err == nil {
		t.Fatalf("Wait(1) with version 1 live returned %d", s.Version)
	}
	if s, err := c.Wait(context.Background(), 0); err != nil || s.Version != 1 {
		t.Fatalf("Wait(0) with version 1 live: got %v, %v", s, err)
	}
}

func TestConfigHandler(t *testing.T) {
	t.Parallel()
	c := New(Options{Build: snapshot.DefaultOptions(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	c.Sync(objects("a.example"), nil)
	srv := httptest.NewServer(c.ConfigHandler())
	defer srv.Close()

	get := func(query string) (int, ConfigStatus) {
		t.Helper()
		resp, err := http.Get(srv.URL + "/config" + query)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st ConfigStatus
		if resp.StatusCode == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode, st
	}
	if code, st := get(""); code != 200 || st.Version != 1 || st.Servers != 1 || st.Routes != 1 || st.Hash == "" {
		t.Fatalf("GET /config: %d %+v", code, st)
	}
	if code, st := get("?after=1&wait=10ms"); code != 200 || st.Version != 1 {
		t.Fatalf("GET /config?after=1&wait=10ms: %d %+v, want version 1 after the wait", code, st)
	}
	done := make(chan ConfigStatus, 1)
	go func() {
		_, st := get("?after=1&wait=10s")
		done <- st
	}()
	// The request may arrive before or after this Sync: both must answer 2.
	c.Sync(objects("a.example", "b.example"), nil)
	if st := <-done; st.Version != 2 || st.Servers != 2 {
		t.Fatalf("GET /config?after=1 across a change: %+v, want version 2 with 2 servers", st)
	}
	for _, q := range []string{"?after=x", "?after=1&wait=soon", "?after=1&wait=-1s"} {
		if code, _ := get(q); code != http.StatusBadRequest {
			t.Errorf("GET /config%s: %d, want 400", q, code)
		}
	}
}

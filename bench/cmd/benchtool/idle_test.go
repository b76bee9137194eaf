package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestBackend(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(backendHandler())
	defer srv.Close()
	for path, want := range map[string]int{smallPath: len(smallBody), largePath: largeSize, "/other": len(smallBody)} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || len(body) != want || resp.ContentLength != int64(want) {
			t.Errorf("GET %s: status %d, %d bytes (Content-Length %d), %v; want 200 and %d bytes", path, resp.StatusCode, len(body), resp.ContentLength, err, want)
		}
	}
}

func TestOpenIdle(t *testing.T) {
	t.Parallel()
	for _, useTLS := range []bool{false, true} {
		srv := httptest.NewUnstartedServer(backendHandler())
		if useTLS {
			srv.StartTLS()
		} else {
			srv.Start()
		}
		defer srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		addr := strings.TrimPrefix(strings.TrimPrefix(srv.URL, "https://"), "http://")
		req := []byte("GET /bench HTTP/1.1\r\nHost: bench.local\r\n\r\n")
		c, err := openIdle(ctx, addr, "bench.local", useTLS, req)
		if err != nil {
			t.Fatalf("tls %v: %v", useTLS, err)
		}
		// The connection is still usable: a second request on it is answered.
		if _, err := c.Write(req); err != nil {
			t.Fatalf("tls %v: second request: %v", useTLS, err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 12)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "HTTP/1.1 200" {
			t.Errorf("tls %v: second answer %q, %v", useTLS, buf, err)
		}
		c.Close()
	}
}

func TestOpenIdleRefused(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.Write([]byte("bye"))
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := openIdle(ctx, strings.TrimPrefix(srv.URL, "http://"), "bench.local", false, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err == nil {
		t.Error("openIdle succeeded on a connection the server closes, want an error")
	}
}

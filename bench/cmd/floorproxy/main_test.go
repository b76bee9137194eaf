package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// bigSize is larger than loopback's socket buffers (tcp_rmem and tcp_wmem's
// maximum), so that the proxy's writes can fill them and wait for a reader
// that reads 4 KiB at a time (epoll mode's pending bytes).
const bigSize = 16 << 20

var bigBody = bytes.Repeat([]byte("0123456789abcdef"), bigSize/16)

// backend serves /small (a short body), /big (bigBody) and /len (the length
// of the request body it read), and counts the connections it accepted.
func backend(t *testing.T) (addr string, conns *atomic.Int64) {
	t.Helper()
	conns = new(atomic.Int64)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.Header().Set("Content-Length", strconv.Itoa(len(bigBody)))
			w.Write(bigBody)
		case "/len":
			n, err := io.Copy(io.Discard, r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			fmt.Fprint(w, n)
		default:
			fmt.Fprint(w, "hello, floor!")
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), conns
}

// startFloor starts floorproxy's mode on 127.0.0.1 forwarding to upstream
// and stops it when the test ends.
func startFloor(t *testing.T, mode, upstream string) string {
	t.Helper()
	errc := make(chan error, 1)
	var addr string
	var stop func() error
	switch mode {
	case "goroutine":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr, stop = ln.Addr().String(), ln.Close
		go func() { errc <- serveGoroutine(ln, upstream) }()
	default:
		p, err := newLoop(mode, "127.0.0.1:0", upstream)
		if err != nil {
			t.Fatal(err)
		}
		addr, stop = p.Addr(), p.Close
		go func() { errc <- p.Serve() }()
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("stop %s: %v", mode, err)
		}
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("%s: %v", mode, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s still serving 10s after stop", mode)
		}
	})
	return addr
}

// dial connects to the proxy with a deadline that fails a stuck test.
func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c.(*net.TCPConn)
}

// roundTrip writes raw and reads one response from r, returning its status
// and body.
func roundTrip(t *testing.T, c net.Conn, r *bufio.Reader, raw string) (int, []byte) {
	t.Helper()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatalf("write request: %v", err)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp.StatusCode, body
}

func TestFloorProxy(t *testing.T) {
	for _, tc := range []struct {
		mode string
		raw  bool
	}{{"goroutine", false}, {"epoll", false}, {"epoll", true}, {"uring", false}, {"uring", true}} {
		name, mode := tc.mode, tc.mode
		if tc.raw {
			name += "-raw-wait"
		}
		t.Run(name, func(t *testing.T) {
			saved := rawWait
			rawWait = tc.raw
			t.Cleanup(func() { rawWait = saved })
			upstream, conns := backend(t)
			addr := startFloor(t, mode, upstream)

			t.Run("keep-alive", func(t *testing.T) {
				before := conns.Load()
				c := dial(t, addr)
				r := bufio.NewReader(c)
				for i := range 5 {
					code, body := roundTrip(t, c, r, "GET /small HTTP/1.1\r\nHost: bench.local\r\n\r\n")
					if code != 200 || string(body) != "hello, floor!" {
						t.Fatalf("request %d: %d %q, want 200 %q", i, code, body, "hello, floor!")
					}
				}
				if got := conns.Load() - before; got != 1 {
					t.Errorf("backend accepted %d connections for one client connection, want 1", got)
				}
			})

			t.Run("big response to a slow reader", func(t *testing.T) {
				c := dial(t, addr)
				code, body := roundTrip(t, c, bufio.NewReaderSize(c, 4096), "GET /big HTTP/1.1\r\nHost: bench.local\r\n\r\n")
				if code != 200 || !bytes.Equal(body, bigBody) {
					t.Fatalf("got %d and %d bytes (equal: %v), want 200 and bigBody's %d", code, len(body), bytes.Equal(body, bigBody), len(bigBody))
				}
			})

			t.Run("big request", func(t *testing.T) {
				c := dial(t, addr)
				raw := fmt.Sprintf("POST /len HTTP/1.1\r\nHost: bench.local\r\nContent-Length: %d\r\n\r\n%s", len(bigBody), bigBody)
				code, body := roundTrip(t, c, bufio.NewReader(c), raw)
				if want := strconv.Itoa(len(bigBody)); code != 200 || string(body) != want {
					t.Fatalf("got %d %q, want 200 %q", code, body, want)
				}
			})

			t.Run("connection close", func(t *testing.T) {
				c := dial(t, addr)
				r := bufio.NewReader(c)
				code, body := roundTrip(t, c, r, "GET /small HTTP/1.1\r\nHost: bench.local\r\nConnection: close\r\n\r\n")
				if code != 200 || string(body) != "hello, floor!" {
					t.Fatalf("got %d %q", code, body)
				}
				// The backend closes after its answer; the proxy passes
				// the FIN on.
				if n, err := r.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
					t.Fatalf("after a Connection: close answer: read %d bytes, %v; want EOF", n, err)
				}
			})

			t.Run("client half-close", func(t *testing.T) {
				c := dial(t, addr)
				// A request, then the client's FIN: the backend answers,
				// sees the end and closes, and the client reads both.
				if _, err := io.WriteString(c, "GET /small HTTP/1.1\r\nHost: bench.local\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
				if err := c.CloseWrite(); err != nil {
					t.Fatal(err)
				}
				all, err := io.ReadAll(c)
				if err != nil {
					t.Fatalf("read to the end: %v", err)
				}
				if !strings.HasPrefix(string(all), "HTTP/1.1 200") || !strings.HasSuffix(string(all), "hello, floor!") {
					t.Fatalf("got %q, want one 200 answer ending in the body", all)
				}
			})
		})
	}
}

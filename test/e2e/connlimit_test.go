package e2e

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/weir-lb/weir/test/testutil"
)

// TestKeepAliveFromConfigMap: the ConfigMap's keep-alive-requests closes a
// connection after its N-th response (Connection: close on it, pipelined
// requests after it unanswered), and keep-alive "0" closes every
// connection after its first response; both apply live.
func TestKeepAliveFromConfigMap(t *testing.T) {
	b := newBackend(t, "ka", nil)
	files := map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("ka", b.port) + ingress("ka", "ka.test", "ka"),
		"cm.yaml":    configMap("keep-alive-requests", "2"),
	}
	w := startWeirWith(t, files, configMapOptions())
	get := "GET / HTTP/1.1\r\nHost: ka.test\r\n\r\n"
	closes := func(rs []testutil.RawResponse) []bool {
		var out []bool
		for _, r := range rs {
			out = append(out, r.Close)
		}
		return out
	}
	rs := w.rawExchange(t, strings.Repeat(get, 3))
	if got := testutil.Statuses(rs); len(got) != 2 || got[0] != 200 || got[1] != 200 {
		t.Errorf("keep-alive-requests 2, three pipelined requests: statuses %v, want [200 200]", got)
	}
	if got := closes(rs); len(got) != 2 || got[0] || !got[1] {
		t.Errorf("keep-alive-requests 2: Connection: close on the responses %v, want [false true]", got)
	}

	w.update("cm.yaml", configMap("keep-alive", "0"))
	rs = w.rawExchange(t, strings.Repeat(get, 2))
	if got := testutil.Statuses(rs); len(got) != 1 || got[0] != 200 || !rs[0].Close {
		t.Errorf("keep-alive 0, two pipelined requests: statuses %v (close %v), want [200] with Connection: close", got, closes(rs))
	}
}

// TestMaxWorkerConnectionsFromConfigMap: with max-worker-connections 2 a
// third connection is accepted by the kernel but not served until one of
// the first two closes.
func TestMaxWorkerConnectionsFromConfigMap(t *testing.T) {
	b := newBackend(t, "cap", nil)
	files := map[string]string{
		"class.yaml": ingressClass,
		"app.yaml":   service("cap", b.port) + ingress("cap", "cap.test", "cap"),
		"cm.yaml":    configMap("max-worker-connections", "2"),
	}
	w := startWeirWith(t, files, configMapOptions())
	addr := strings.TrimPrefix(w.base, "http://")
	type conn struct {
		net.Conn
		br *bufio.Reader
	}
	open := func() conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: cap.test\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		return conn{c, bufio.NewReader(c)}
	}
	read := func(c conn, d time.Duration) (int, error) {
		_ = c.SetReadDeadline(time.Now().Add(d))
		resp, err := http.ReadResponse(c.br, nil)
		if err != nil {
			return 0, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, err
	}
	first, second := open(), open()
	for i, c := range []conn{first, second} {
		if status, err := read(c, 5*time.Second); err != nil || status != 200 {
			t.Fatalf("connection %d: %d, %v", i+1, status, err)
		}
	}
	third := open()
	if _, err := read(third, 500*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("third connection with two open and max-worker-connections 2: %v, want no response", err)
	}
	first.Close()
	if status, err := read(third, 5*time.Second); err != nil || status != 200 {
		t.Fatalf("third connection once the first closed: %d, %v", status, err)
	}
}

package e2e

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestKeepAliveRequestsUpgrade: requests that carry Upgrade count towards
// keep-alive-requests, as nginx counts every request: with "2" the second
// answer says Connection: close and the connection ends, where a client
// that put "Upgrade: x" on each request kept it open for ever. nginx
// 1.22.1 with keepalive_requests 2 and nginx.tmpl's Upgrade and Connection
// lines answered three pipelined such requests 200 keep-alive, 200
// Connection: close, and closed. An upgrade that does switch at the limit
// still gets its tunnel.
func TestKeepAliveRequestsUpgrade(t *testing.T) {
	port := rawUpstream(t, func(c net.Conn, br *bufio.Reader, r *http.Request) bool {
		if r.URL.Path != "/switch" {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			return true
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n")
		line, _ := br.ReadString('\n')
		io.WriteString(c, "echo "+line)
		return false
	})
	w := startWeirWith(t, map[string]string{
		"class.yaml": ingressClass,
		"svc.yaml":   service("app", port),
		"ing.yaml":   ingress("app", "app.test", "app"),
		"cm.yaml":    configMap("keep-alive-requests", "2"),
	}, configMapOptions())
	for _, last := range []string{"/plain", "/switch"} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(w.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(conn)
		for i, path := range []string{"/plain", last} {
			io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: app.test\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n")
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("%s, request %d: %v", last, i+1, err)
			}
			readAll(t, resp)
			switch {
			case path == "/switch":
				if resp.StatusCode != http.StatusSwitchingProtocols {
					t.Fatalf("the upgrade at the limit: %d, want 101", resp.StatusCode)
				}
				io.WriteString(conn, "ping\n")
				if line, err := br.ReadString('\n'); err != nil || line != "echo ping\n" {
					t.Errorf("through the tunnel at the limit: %q %v", line, err)
				}
			case resp.Close != (i == 1):
				t.Errorf("%s, request %d with Upgrade: Connection: close %v, want %v", last, i+1, resp.Close, i == 1)
			}
		}
		if last == "/plain" {
			if _, err := br.ReadByte(); err == nil || strings.Contains(err.Error(), "timeout") {
				t.Errorf("the connection after its keep-alive-requests-th answer: %v, want it closed", err)
			}
		}
		conn.Close()
	}
}

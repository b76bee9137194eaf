package e2e

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestH2CSmugglingRefused: a client may not reach a path an allow list
// guards by upgrading a public path of the same Service to h2c and sending
// its requests on the HTTP/2 connection that follows. The backend switches
// to h2c whenever asked; Weir does not ask it (the request goes upstream
// without Upgrade) and answers the client on HTTP/1.1, so the request for
// /admin written after the handshake is read by Weir, routed and refused
// 403. nginx 1.22.1 configured as nginx.tmpl renders the two locations
// (proxy_set_header Upgrade $http_upgrade, Connection $connection_upgrade;
// /admin denied) relayed the backend's 101 and tunnelled "GET /admin" to it
// (h2c smuggling); Weir deliberately differs.
func TestH2CSmugglingRefused(t *testing.T) {
	var mu sync.Mutex
	var seen []string // request lines and tunnelled lines the backend read
	record := func(s string) {
		mu.Lock()
		seen = append(seen, strings.TrimRight(s, "\r\n"))
		mu.Unlock()
	}
	port := rawUpstream(t, func(c net.Conn, br *bufio.Reader, r *http.Request) bool {
		record(r.Method + " " + r.RequestURI)
		if !strings.EqualFold(r.Header.Get("Upgrade"), "h2c") {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\npublic")
			return true
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return false
			}
			record("tunnel " + line)
		}
	})
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"svc.yaml":   service("app", port),
		"ing.yaml": ingress("public", "app.test", "app") +
			ingressPaths("admin", "app.test", "app", "Prefix", []string{"/admin"}, "whitelist-source-range", "10.0.0.0/8"),
	})
	if res := w.get("app.test", "/admin"); res.status != http.StatusForbidden {
		t.Fatalf("GET /admin: %d, want 403", res.status)
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(w.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"+
		"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\nGET /admin HTTP/1.1\r\nHost: app.test\r\n\r\n")
	br := bufio.NewReader(conn)
	var got []string
	for range 2 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("after %v: read response: %v", got, err)
		}
		body := readAll(t, resp)
		got = append(got, strconv.Itoa(resp.StatusCode)+" "+strings.SplitN(body, "\n", 2)[0])
		if resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
	}
	if len(got) != 2 || got[0] != "200 public" || !strings.HasPrefix(got[1], "403 ") {
		t.Errorf("the client got %q, want 200 public, then 403 for /admin", got)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range seen {
		if strings.Contains(s, "/admin") {
			t.Errorf("the backend read %q; /admin is allowed from 10.0.0.0/8 only (it read %q)", s, seen)
		}
	}
}

// rawUpstream starts a backend on 127.0.0.1 that reads HTTP/1 requests off
// each connection (10 s at most) and has serve answer each on c; serve
// returns false to end the connection. It returns the port; the test waits
// for the connections to end.
func rawUpstream(t *testing.T, serve func(c net.Conn, br *bufio.Reader, r *http.Request) bool) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	t.Cleanup(conns.Wait)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Go(func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(c)
				for {
					r, err := http.ReadRequest(br)
					if err != nil || !serve(c, br, r) {
						return
					}
				}
			})
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

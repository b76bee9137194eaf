package e2e

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawRequest writes header, then a GET of host on a new connection to addr
// (over TLS when tlsOn), and returns the response status, or the error
// reading it.
func rawRequest(t *testing.T, addr, header, host string, tlsOn bool) (int, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, header); err != nil {
		return 0, err
	}
	var rw io.ReadWriter = c
	if tlsOn {
		tc := tls.Client(c, &tls.Config{ServerName: host, InsecureSkipVerify: true}) // the test checks headers, not certificates
		if err := tc.Handshake(); err != nil {
			return 0, err
		}
		rw = tc
	}
	if _, err := io.WriteString(rw, "GET / HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n"); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(rw), nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// TestProxyProtocol: with use-proxy-protocol, the HTTP and HTTPS listeners
// take the client address from the PROXY header (v1 and v2) of a trusted
// balancer: the backend gets it in X-Forwarded-For and X-Real-IP, source
// ranges judge it, and a connection without a header is closed without an
// answer. The ConfigMap switches it live.
func TestProxyProtocol(t *testing.T) {
	w, web := startEchoAndAllow(t)
	httpAddr, httpsAddr := strings.TrimPrefix(w.base, "http://"), w.d.HTTPSAddr()
	const v1 = "PROXY TCP4 203.0.113.7 198.18.0.1 5555 443\r\n"
	v2 := "\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c" + "\xcb\x00\x71\x08" + "\xc6\x12\x00\x01" + "\x15\xb3\x00\x50" // 203.0.113.8:5555 -> 198.18.0.1:80

	if got, err := rawRequest(t, httpAddr, "", "echo.test", false); err != nil || got != http.StatusOK {
		t.Fatalf("use-proxy-protocol off: status %d, %v", got, err)
	}
	w.update("cm.yaml", configMap("use-proxy-protocol", "true"))

	for _, tc := range []struct {
		name, addr, header, wantXFF, wantProto string
	}{
		{"http v1", httpAddr, v1, "203.0.113.7", "https"}, // destination port 443: $pass_access_scheme https
		{"http v2", httpAddr, v2, "203.0.113.8", "http"},
		{"https v1", httpsAddr, v1, "203.0.113.7", "https"},
	} {
		if got, err := rawRequest(t, tc.addr, tc.header, "echo.test", tc.addr == httpsAddr); err != nil || got != http.StatusOK {
			t.Errorf("%s: status %d, %v", tc.name, got, err)
			continue
		}
		r := web.last()
		if r.Header.Get("X-Forwarded-For") != tc.wantXFF || r.Header.Get("X-Real-Ip") != tc.wantXFF || r.Header.Get("X-Forwarded-Proto") != tc.wantProto {
			t.Errorf("%s: backend got X-Forwarded-For %q, X-Real-IP %q, X-Forwarded-Proto %q; want %s, %s",
				tc.name, r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Real-Ip"), r.Header.Get("X-Forwarded-Proto"), tc.wantXFF, tc.wantProto)
		}
	}
	if got, err := rawRequest(t, httpAddr, v1, "allow.test", false); err != nil || got != http.StatusOK {
		t.Errorf("PROXY source in the source range: status %d, %v; want 200", got, err)
	}
	if got, err := rawRequest(t, httpAddr, "PROXY TCP4 192.0.2.1 198.18.0.1 5555 80\r\n", "allow.test", false); err != nil || got != http.StatusForbidden {
		t.Errorf("PROXY source outside the source range: status %d, %v; want 403", got, err)
	}
	for _, addr := range []string{httpAddr, httpsAddr} {
		if got, err := rawRequest(t, addr, "", "echo.test", addr == httpsAddr); err == nil {
			t.Errorf("%s without a PROXY header: answered %d, want the connection closed", addr, got)
		}
	}
}

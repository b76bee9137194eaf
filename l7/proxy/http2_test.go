package proxy

import (
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/certs/certstest"
)

// TestHTTP2MaxConcurrentStreams: a server with HTTP2Config advertises
// nginx's http2_max_concurrent_streams, 128, in its first SETTINGS frame
// (read off a real h2c prior-knowledge connection), not Go's 250.
func TestHTTP2MaxConcurrentStreams(t *testing.T) {
	t.Parallel()
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	srv := serveH2C(t, &http.Server{Handler: http.NotFoundHandler(), Protocols: &protos, HTTP2: HTTP2Config()})
	conn, err := net.Dial("tcp", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"); err != nil {
		t.Fatal(err)
	}
	var hdr [9]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		t.Fatalf("read the server's first frame: %v", err)
	}
	n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
	if hdr[3] != 0x4 || n%6 != 0 {
		t.Fatalf("first frame: type %d length %d, want a SETTINGS frame", hdr[3], n)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(conn, payload); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i += 6 {
		if binary.BigEndian.Uint16(payload[i:]) == 0x3 { // SETTINGS_MAX_CONCURRENT_STREAMS
			if got := binary.BigEndian.Uint32(payload[i+2:]); got != 128 {
				t.Errorf("MAX_CONCURRENT_STREAMS = %d, want 128", got)
			}
			return
		}
	}
	t.Errorf("SETTINGS without MAX_CONCURRENT_STREAMS: %x", payload)
}

// serveH2C serves srv on 127.0.0.1 until the test ends and returns its
// address.
func serveH2C(tb testing.TB, srv *http.Server) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// TestHTTP2OverCBCSuite: a client that negotiates h2 in TLS 1.2 over a CBC
// suite (which ssl-ciphers ALL or HIGH enable) is served HTTP/2, as by
// nginx, which does not enforce RFC 7540's list of prohibited suites; Go's
// default answers such a connection with a GOAWAY.
func TestHTTP2OverCBCSuite(t *testing.T) {
	t.Parallel()
	ca := certstest.NewCA(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) }))
	srv.EnableHTTP2 = true
	srv.Config.HTTP2 = HTTP2Config()
	srv.TLS = ca.ServerConfig(t, "h2.test", "h2", "http/1.1")
	srv.StartTLS()
	defer srv.Close()
	tr := &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: "h2.test",
		MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(srv.URL)
	if err != nil {
		t.Fatalf("GET over h2 and ECDHE-ECDSA-AES128-SHA: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "HTTP/2.0" || resp.TLS.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA {
		t.Errorf("%d %q over %s, want 200 HTTP/2.0 over ECDHE-ECDSA-AES128-SHA", resp.StatusCode, body, tls.CipherSuiteName(resp.TLS.CipherSuite))
	}
}

package admission

import (
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/certs/certstest"
)

// TestListenHTTP1Only: the webhook's server offers only HTTP/1.1 in ALPN,
// as ingress-nginx's (its empty TLSNextProto, after kubernetes#80313): a
// client that offers h2 first still speaks HTTP/1.1, and is answered.
func TestListenHTTP1Only(t *testing.T) {
	t.Parallel()
	ca := certstest.NewCA(t)
	certFile, keyFile := ca.IssueFiles(t, "127.0.0.1")
	srv, err := Listen("127.0.0.1:0", certFile, keyFile, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(r.Proto))
	}), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", srv.Addr().String(),
		&tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := c.ConnectionState().NegotiatedProtocol; p == "h2" {
		t.Errorf("ALPN chose %q, want HTTP/1.1 only", p)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + srv.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Proto != "HTTP/1.1" {
		t.Errorf("a client that tries HTTP/2 was answered over %s, want HTTP/1.1", resp.Proto)
	}
}

package proxy

import (
	"bytes"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// tlsBackend starts an HTTPS server on 127.0.0.1 with a certificate of ca
// for names, configured by tweak (nil: none). It records the SNI and
// whether a client certificate came of each request, and counts the
// connections.
type tlsBackend struct {
	srv   *httptest.Server
	mu    sync.Mutex
	sni   []string
	certs []bool
	conns atomic.Int32
}

func newTLSBackend(tb testing.TB, ca *certstest.CA, tweak func(*tls.Config), names ...string) *tlsBackend {
	tb.Helper()
	b := &tlsBackend{}
	b.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.sni = append(b.sni, r.TLS.ServerName)
		b.certs = append(b.certs, len(r.TLS.PeerCertificates) > 0)
		b.mu.Unlock()
		w.Write([]byte("tls " + r.Proto))
	}))
	crt, key := ca.Issue(tb, names...)
	pair, err := tls.X509KeyPair(crt, key)
	if err != nil {
		tb.Fatal(err)
	}
	b.srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	if tweak != nil {
		tweak(b.srv.TLS)
	}
	countConns(b.srv.Config, &b.conns)
	b.srv.StartTLS()
	tb.Cleanup(b.srv.Close)
	return b
}

func (b *tlsBackend) last() (sni string, cert bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sni[len(b.sni)-1], b.certs[len(b.certs)-1]
}

// caPEM returns the PEM of ca's certificate: the last block of a chain it
// issued.
func caPEM(tb testing.TB, ca *certstest.CA) []byte {
	tb.Helper()
	crt, _ := ca.Issue(tb, "unused.test")
	rest := crt
	var last *pem.Block
	for {
		blk, r := pem.Decode(rest)
		if blk == nil {
			break
		}
		last, rest = blk, r
	}
	return pem.EncodeToMemory(last)
}

func withUpstream(u annotations.Upstream) func(*annotations.Proxy) {
	return func(p *annotations.Proxy) { p.Upstream = &u }
}

// TestBackendProtocolHTTPS: an HTTPS route speaks TLS to its endpoint,
// without SNI and without verifying its certificate (nginx's defaults), and
// reuses the connection for the next request.
func TestBackendProtocolHTTPS(t *testing.T) {
	ca := certstest.NewCA(t)
	up := newTLSBackend(t, ca, nil, "backend.test")
	be := backendOf("svc", []string{addr(up.srv)}, withUpstream(annotations.Upstream{Protocol: annotations.ProtocolHTTPS}))
	_, srv := front(t, Options{}, snap(1, "a.test", be))
	c := client(t)
	for i := range 2 {
		res := get(t, c, srv, "a.test", "/")
		if res.err != nil || res.status != 200 || res.body != "tls HTTP/1.1" {
			t.Fatalf("request %d: %d %q %v, want 200 \"tls HTTP/1.1\"", i, res.status, res.body, res.err)
		}
	}
	if sni, _ := up.last(); sni != "" {
		t.Errorf("SNI %q, want none (proxy-ssl-server-name off)", sni)
	}
	if n := up.conns.Load(); n != 1 {
		t.Errorf("%d upstream connections for 2 requests, want 1 (keep-alive over TLS)", n)
	}
	// The same endpoint as plain HTTP does not share the TLS connection.
	plain := backendOf("svc", []string{addr(up.srv)})
	_, srv2 := front(t, Options{}, snap(1, "a.test", plain))
	if res := get(t, c, srv2, "a.test", "/"); res.status != 400 {
		t.Errorf("plain HTTP to a TLS endpoint: %d, want the endpoint's 400", res.status)
	}
}

// TestBackendProtocolAutoHTTP: AUTO_HTTP is ingress-nginx's proxy_pass
// $scheme://: a request that came over TLS goes to the endpoint over TLS,
// one in clear text in clear text (here to a TLS endpoint, which answers
// 400), each on its own connections.
func TestBackendProtocolAutoHTTP(t *testing.T) {
	ca := certstest.NewCA(t)
	up := newTLSBackend(t, ca, nil, "backend.test")
	be := backendOf("svc", []string{addr(up.srv)}, withUpstream(annotations.Upstream{Protocol: annotations.ProtocolAutoHTTP}))
	p, srv := front(t, Options{}, snap(1, "a.test", be))
	if res := get(t, client(t), srv, "a.test", "/"); res.status != 400 {
		t.Errorf("over HTTP: %d %q, want the TLS endpoint's 400 to a clear-text request", res.status, res.body)
	}
	tlsFront := httptest.NewUnstartedServer(p)
	tlsFront.StartTLS()
	t.Cleanup(tlsFront.Close)
	c := tlsFront.Client()
	t.Cleanup(c.CloseIdleConnections)
	for i := range 2 {
		req, _ := http.NewRequest(http.MethodGet, tlsFront.URL+"/", nil)
		req.Host = "a.test"
		if res := send(c, req); res.err != nil || res.status != 200 || res.body != "tls HTTP/1.1" {
			t.Fatalf("over HTTPS, request %d: %d %q %v, want 200 \"tls HTTP/1.1\"", i, res.status, res.body, res.err)
		}
	}
	if n := up.conns.Load(); n != 2 {
		t.Errorf("%d connections to the endpoint, want 2 (the clear-text one, then one TLS connection kept alive)", n)
	}
}

// TestProxySSL mirrors ingress-nginx's proxyssl e2e cases with a real TLS
// endpoint: verification against ca.crt and proxy-ssl-name, SNI with
// proxy-ssl-server-name, the client certificate of the Secret, the verify
// depth, the protocols, and the fail-closed denial.
func TestProxySSL(t *testing.T) {
	ca := certstest.NewCA(t)
	// The client certificate comes from a CA of its own, which verifies
	// nothing here.
	clientCrt, clientKey := certstest.NewCA(t).Issue(t, "weir-client")
	needCert := func(c *tls.Config) { c.ClientAuth = tls.RequireAnyClientCert }
	up := newTLSBackend(t, ca, needCert, "backend.test")
	tls13 := newTLSBackend(t, ca, func(c *tls.Config) { needCert(c); c.MinVersion = tls.VersionTLS13 }, "backend.test")
	other := certstest.NewCA(t)
	material := &snapshot.UpstreamTLS{Secret: snapshot.ObjectRef{Kind: "Secret", Namespace: "ns", Name: "s"}, CertPEM: clientCrt, KeyPEM: clientKey, CAPEM: caPEM(t, ca)}
	ssl := func(mod func(*annotations.ProxySSL)) *annotations.ProxySSL {
		s := &annotations.ProxySSL{Secret: "ns/s", VerifyDepth: 1, MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12}
		if mod != nil {
			mod(s)
		}
		return s
	}
	// Chains through intermediates: inter1 is issued by ca, inter2 by
	// inter1.
	inter1 := ca.Intermediate(t, "inter1")
	inter2 := inter1.Intermediate(t, "inter2")
	serve := func(issuer *certstest.CA, leafOnly bool, more ...*certstest.CA) func(*tls.Config) {
		return func(c *tls.Config) {
			needCert(c)
			crt, key := issuer.Issue(t, "backend.test")
			if leafOnly {
				blk, _ := pem.Decode(crt)
				crt = pem.EncodeToMemory(blk)
			}
			for _, m := range more {
				crt = append(crt, m.CertPEM()...)
			}
			pair, err := tls.X509KeyPair(crt, key)
			if err != nil {
				t.Fatal(err)
			}
			c.Certificates = []tls.Certificate{pair}
		}
	}
	chain1 := newTLSBackend(t, ca, serve(inter1, false), "backend.test")
	chain2 := newTLSBackend(t, ca, serve(inter2, false, inter1), "backend.test")
	leafOnly := newTLSBackend(t, ca, serve(inter1, true), "backend.test")
	withCA := func(pems ...[]byte) *snapshot.UpstreamTLS {
		m := *material
		m.CAPEM = bytes.Join(pems, nil)
		return &m
	}
	verify := func(depth int) *annotations.ProxySSL {
		return ssl(func(s *annotations.ProxySSL) { s.Verify, s.Name, s.VerifyDepth = true, "backend.test", depth })
	}

	cases := []struct {
		name     string
		up       *tlsBackend
		ssl      *annotations.ProxySSL
		material *snapshot.UpstreamTLS
		want     int
		wantSNI  string
	}{
		{name: "client certificate, no verify", up: up, ssl: ssl(nil), material: material, want: 200},
		{name: "verify with proxy-ssl-name", up: up, ssl: ssl(func(s *annotations.ProxySSL) { s.Verify, s.Name = true, "backend.test" }), material: material, want: 200},
		{name: "verify against upstream_balancer by default", up: up, ssl: ssl(func(s *annotations.ProxySSL) { s.Verify = true }), material: material, want: 502},
		{name: "verify with a wrong name", up: up, ssl: ssl(func(s *annotations.ProxySSL) { s.Verify, s.Name = true, "other.test" }), material: material, want: 502},
		{name: "verify against another CA", up: up, ssl: ssl(func(s *annotations.ProxySSL) { s.Verify, s.Name = true, "backend.test" }),
			material: &snapshot.UpstreamTLS{CertPEM: clientCrt, KeyPEM: clientKey, CAPEM: caPEM(t, other)}, want: 502},
		// OpenSSL's verify depth, as nginx 1.22.1 showed: depth d allows d
		// intermediates between the endpoint's certificate and the anchor.
		{name: "verify depth 0 takes a certificate the CA issued", up: up, ssl: verify(0), material: material, want: 200},
		{name: "verify depth 1 takes one intermediate", up: chain1, ssl: verify(1), material: material, want: 200},
		{name: "verify depth 1 refuses two intermediates", up: chain2, ssl: verify(1), material: material, want: 502},
		{name: "verify depth 2 takes two intermediates", up: chain2, ssl: verify(2), material: material, want: 200},
		// nginx sets no partial-chain flag: the chain must reach a
		// self-signed CA of ca.crt; its other CAs serve as intermediates.
		{name: "verify refuses an intermediate of ca.crt as anchor", up: chain1, ssl: verify(1), material: withCA(inter1.CertPEM()), want: 502},
		{name: "verify takes an intermediate from ca.crt", up: leafOnly, ssl: verify(1), material: withCA(inter1.CertPEM(), ca.CertPEM()), want: 200},
		{name: "sni on", up: up, ssl: ssl(func(s *annotations.ProxySSL) { s.ServerNameOn, s.Name = true, "backend.test" }), material: material, want: 200, wantSNI: "backend.test"},
		{name: "sni on without a name", up: up, ssl: ssl(func(s *annotations.ProxySSL) { s.ServerNameOn = true }), material: material, want: 200, wantSNI: "upstream_balancer"},
		{name: "TLS 1.2 only against a TLS 1.3 endpoint", up: tls13, ssl: ssl(nil), material: material, want: 502},
		{name: "TLS 1.3 allowed", up: tls13, ssl: ssl(func(s *annotations.ProxySSL) { s.MaxVersion = tls.VersionTLS13 }), material: material, want: 200},
		// Without ca.crt nginx.tmpl writes no proxy_ssl_protocols: nginx's
		// defaults (TLS 1.3 included since nginx 1.23.4), whatever the
		// annotation says.
		{name: "client certificate without ca.crt keeps the default protocols", up: tls13, ssl: ssl(nil),
			material: &snapshot.UpstreamTLS{CertPEM: clientCrt, KeyPEM: clientKey}, want: 200},
		{name: "no client certificate", up: up, ssl: ssl(nil), material: &snapshot.UpstreamTLS{CAPEM: caPEM(t, ca)}, want: 502},
		{name: "denied", up: up, ssl: ssl(nil), material: &snapshot.UpstreamTLS{Denied: "secret ns/s not found"}, want: 503},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			be := backendOf("svc", []string{addr(tc.up.srv)}, withUpstream(annotations.Upstream{Protocol: annotations.ProtocolHTTPS, SSL: tc.ssl}))
			be.UpstreamTLS = tc.material
			_, srv := front(t, Options{}, snap(1, "a.test", be))
			res := get(t, client(t), srv, "a.test", "/")
			if res.err != nil || res.status != tc.want {
				t.Fatalf("got %d %q %v, want %d", res.status, res.body, res.err, tc.want)
			}
			if tc.want != 200 {
				return
			}
			sni, cert := tc.up.last()
			if sni != tc.wantSNI || cert != (tc.material.CertPEM != nil) {
				t.Errorf("endpoint saw SNI %q, client certificate %v; want %q, %v", sni, cert, tc.wantSNI, tc.material.CertPEM != nil)
			}
		})
	}
}

// TestProxySSLSessionReuse: a new TLS connection to an endpoint resumes
// the session of the one before, as nginx's proxy_ssl_session_reuse, which
// nginx.tmpl turns on (nginx 1.22.1 resumed the second connection to a Go
// endpoint).
func TestProxySSLSessionReuse(t *testing.T) {
	ca := certstest.NewCA(t)
	var mu sync.Mutex
	var resumed []bool
	up := newTLSBackend(t, ca, nil, "backend.test")
	up.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		resumed = append(resumed, r.TLS.DidResume)
		mu.Unlock()
		w.Header().Set("Connection", "close") // each request on a new connection
		w.Write([]byte("ok"))
	})
	for _, tc := range []struct {
		name     string
		ssl      *annotations.ProxySSL
		material *snapshot.UpstreamTLS
	}{
		{name: "without proxy-ssl-secret"},
		{name: "verified", ssl: &annotations.ProxySSL{Secret: "ns/s", Verify: true, Name: "backend.test", VerifyDepth: 1, MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS13},
			material: &snapshot.UpstreamTLS{CAPEM: caPEM(t, ca)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			resumed = nil
			mu.Unlock()
			be := backendOf("svc", []string{addr(up.srv)}, withUpstream(annotations.Upstream{Protocol: annotations.ProtocolHTTPS, SSL: tc.ssl}))
			be.UpstreamTLS = tc.material
			_, srv := front(t, Options{}, snap(1, "a.test", be))
			c := client(t)
			for i := 0; i < 3; i++ {
				if res := get(t, c, srv, "a.test", "/"); res.err != nil || res.status != 200 {
					t.Fatalf("request %d: %d %v", i, res.status, res.err)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if want := []bool{false, true, true}; fmt.Sprint(resumed) != fmt.Sprint(want) {
				t.Errorf("sessions resumed %v, want %v", resumed, want)
			}
		})
	}
}

// TestProxySSLDeniedAnyProtocol: a failed proxy-ssl-secret denies the route
// even when it is plain HTTP, as ingress-nginx denies the location: 503
// before anything else of the location (here an allow-list that would
// answer 403).
func TestProxySSLDeniedAnyProtocol(t *testing.T) {
	up := backend(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	be := backendOf("svc", []string{addr(up)}, withUpstream(annotations.Upstream{SSL: &annotations.ProxySSL{Secret: "ns/missing"}}),
		func(p *annotations.Proxy) { p.SourceRange = &annotations.SourceRange{Allow: []string{"10.0.0.0/8"}} })
	be.UpstreamTLS = &snapshot.UpstreamTLS{Denied: "secret ns/missing not found"}
	_, srv := front(t, Options{}, snap(1, "a.test", be))
	if res := get(t, client(t), srv, "a.test", "/"); res.status != 503 {
		t.Fatalf("got %d, want 503", res.status)
	}
	// Its location has no client_max_body_size (nginx.tmpl writes it in
	// the allowed block only): nginx's 1m, checked before the 503.
	for _, tc := range []struct{ length, want int }{{1 << 20, 503}, {1<<20 + 1, 413}} {
		resp, _ := rawExchange(t, addr(srv), fmt.Sprintf("POST / HTTP/1.1\r\nHost: a.test\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", tc.length))
		if resp.StatusCode != tc.want {
			t.Errorf("Content-Length %d: %d, want %d", tc.length, resp.StatusCode, tc.want)
		}
	}
}

// TestBackendProtocolHTTPSWebSocket: a WebSocket of an HTTPS route goes
// to its endpoint over TLS.
func TestBackendProtocolHTTPSWebSocket(t *testing.T) {
	plain := newWSEcho(t, "")
	up := httptest.NewUnstartedServer(plain.srv.Config.Handler)
	up.StartTLS()
	t.Cleanup(up.Close)
	be := backendOf("svc", []string{addr(up)}, withUpstream(annotations.Upstream{Protocol: annotations.ProtocolHTTPS}))
	_, srv := front(t, Options{}, snap(1, "foo.com", be))
	c := dialWS(t, srv, "foo.com", "/")
	echo(t, c, "over tls")
	if r := <-plain.reqs; r.TLS == nil {
		t.Error("the endpoint got the handshake in clear text")
	}
}

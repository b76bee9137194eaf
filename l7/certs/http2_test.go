package certs

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestTLSConfigServesHTTP2WhateverTheSuites: net/http's HTTP/2 setup
// refuses to serve (Serve returns an error) when the server's
// tls.Config lists TLS 1.2 suites without an ECDHE AES-128-GCM one, so
// the configuration TLSConfig returns lists none (each handshake gets
// the suites of the settings): with ssl-ciphers ECDHE+CHACHA20 as the
// settings when the listener starts (a worker restarted after that
// ConfigMap), HTTPS is served, over HTTP/2, as by nginx.
func TestTLSConfigServesHTTP2WhateverTheSuites(t *testing.T) {
	t.Parallel()
	m, err := NewManager(Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := m.TLSSettings()
	s.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}
	m.SetTLSSettings(s)
	cfg := m.TLSConfig()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) }), TLSConfig: cfg}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(tls.NewListener(ln, cfg)) }()
	defer srv.Close()
	tr := &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}} // the fake certificate
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://" + ln.Addr().String() + "/")
	if err != nil {
		select {
		case serr := <-served:
			t.Fatalf("Serve returned %v", serr)
		default:
			t.Fatal(err)
		}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "HTTP/2.0" || resp.TLS.CipherSuite != tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 {
		t.Errorf("%q over %s, want HTTP/2.0 over ECDHE-RSA-CHACHA20-POLY1305", body, tls.CipherSuiteName(resp.TLS.CipherSuite))
	}
}

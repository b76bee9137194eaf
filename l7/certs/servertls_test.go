package certs

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// pipeHandshake runs one handshake of cfg (the server) with a TLS 1.2
// client for sni over a pipe and reports whether the server asked for a
// client certificate, and the suite.
func pipeHandshake(t *testing.T, cfg *tls.Config, sni string) (asked bool, suite uint16) {
	t.Helper()
	c, s := net.Pipe()
	defer c.Close()
	go func() {
		_ = tls.Server(s, cfg).Handshake()
		s.Close()
	}()
	client := tls.Client(c, &tls.Config{ServerName: sni, InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			asked = true
			return &tls.Certificate{}, nil
		}})
	if err := client.Handshake(); err != nil {
		t.Fatalf("handshake for %q: %v", sni, err)
	}
	return asked, client.ConnectionState().CipherSuite
}

// TestTLSConfigPerHost: a host whose ServerTLS verifies client
// certificates gets a handshake that asks for one, a host with ssl-ciphers
// its suites, any other host (and a denied one) neither; wildcard hosts
// match one label; aliases select their server's settings, and an exact
// name without settings wins over a wildcard with them; a change of the global settings reaches the hosts'
// variants.
func TestTLSConfigPerHost(t *testing.T) {
	t.Parallel()
	m, err := NewManager(Options{})
	if err != nil {
		t.Fatal(err)
	}
	auth := func(mode, denied string) *snapshot.ServerTLS {
		return &snapshot.ServerTLS{ClientAuth: &snapshot.ClientAuth{Settings: annotations.AuthTLS{VerifyClient: mode}, Denied: denied}}
	}
	aes256 := tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
	s := &snapshot.Snapshot{Servers: []snapshot.Server{
		{Host: "on.example.com", TLS: auth(annotations.VerifyOn, "")},
		{Host: "off.example.com", TLS: auth(annotations.VerifyOff, "")},
		{Host: "denied.example.com", TLS: auth(annotations.VerifyOn, "no secret")},
		{Host: "ciphers.example.com", TLS: &snapshot.ServerTLS{Ciphers: []uint16{aes256}}},
		{Host: "*.wild.example.com", TLS: auth(annotations.VerifyOptional, "")},
		// nginx picks an exact name over a wildcard host whatever their
		// settings, and a server by its aliases too (a wildcard alias at
		// any depth, before the wildcard hosts' one-label expressions).
		{Host: "plain.wild.example.com"},
		{Host: "aliased.example.com", Aliases: []string{"alias.example.net", "*.feral.example.net", "*.alias.wild.example.com"},
			TLS: auth(annotations.VerifyOn, "")},
		{Host: "tame.example.com", Aliases: []string{"*.tame.example.net", "on.example.com"}},
	}}
	if err := m.Apply(s); err != nil {
		t.Fatal(err)
	}
	cfg := m.TLSConfig()
	for _, tc := range []struct {
		sni   string
		asked bool
	}{
		{"on.example.com", true}, {"ON.example.com.", true}, {"off.example.com", false}, {"denied.example.com", false},
		{"a.wild.example.com", true}, {"a.b.wild.example.com", false}, {"other.example.com", false}, {"", false},
		{"plain.wild.example.com", false}, {"alias.example.net", true}, {"a.feral.example.net", true},
		{"a.b.feral.example.net", true}, {"x.alias.wild.example.com", true}, {"x.tame.example.net", false},
	} {
		if asked, _ := pipeHandshake(t, cfg, tc.sni); asked != tc.asked {
			t.Errorf("SNI %q: asked for a client certificate %v, want %v", tc.sni, asked, tc.asked)
		}
	}
	if _, suite := pipeHandshake(t, cfg, "ciphers.example.com"); suite != aes256 {
		t.Errorf("ciphers host: suite %s", tls.CipherSuiteName(suite))
	}
	if _, suite := pipeHandshake(t, cfg, "other.example.com"); suite == aes256 {
		t.Errorf("other host got the ciphers host's suite")
	}
	// New global settings (TLS 1.3 only) reach the variants.
	set := annotations.DefaultTLSSettings()
	set.MinVersion = tls.VersionTLS13
	m.SetTLSSettings(set)
	c, srv := net.Pipe()
	defer c.Close()
	go func() {
		_ = tls.Server(srv, cfg).Handshake()
		srv.Close()
	}()
	if err := tls.Client(c, &tls.Config{ServerName: "on.example.com", InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}).Handshake(); err == nil {
		t.Error("a TLS 1.2 handshake succeeded after ssl-protocols became TLS 1.3 only")
	}
}

// TestServerNameWithNUL: a ClientHello whose server name holds a NUL byte
// gets the unrecognized_name alert, as OpenSSL answers it under nginx
// 1.22.1; other odd names are served the default certificate, as nginx
// served them.
func TestServerNameWithNUL(t *testing.T) {
	t.Parallel()
	m, err := NewManager(Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		sni string
		ok  bool
	}{{"a\x00b.example.com", false}, {"a b.example.com", true}, {"A.EXAMPLE.COM", true}, {"a/b.example.com", true}} {
		c, s := net.Pipe()
		go func() {
			_ = tls.Server(s, m.TLSConfig()).Handshake()
			s.Close()
		}()
		err := tls.Client(c, &tls.Config{ServerName: tc.sni, InsecureSkipVerify: true}).Handshake()
		c.Close()
		if tc.ok != (err == nil) || !tc.ok && !strings.Contains(fmt.Sprint(err), "unrecognized name") {
			t.Errorf("SNI %q: %v, want served %v (else the unrecognized_name alert)", tc.sni, err, tc.ok)
		}
	}
}

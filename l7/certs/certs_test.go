package certs

import (
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"net"
	"slices"
	"testing"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// TestManagerApplyRotates checks that Apply swaps the certificates served
// per handshake, and reuses the parse of unchanged material.
func TestManagerApplyRotates(t *testing.T) {
	t.Parallel()
	m, err := NewManager(Options{})
	if err != nil {
		t.Fatal(err)
	}
	hello := &tls.ClientHelloInfo{ServerName: "a.example.com"}
	got, _ := m.GetCertificate(hello)
	if cn(got) != FallbackCommonName {
		t.Fatalf("before Apply: %s, want the self-signed %s", cn(got), FallbackCommonName)
	}
	ca := certstest.NewCA(t)
	a1 := cert(t, ca, "a", []string{"a.example.com"}, "a.example.com")
	b := cert(t, ca, "b", []string{"b.example.com"}, "b.example.com")
	if err := m.Apply(&snapshot.Snapshot{Version: 1, Certificates: []snapshot.Certificate{a1, b}}); err != nil {
		t.Fatal(err)
	}
	first, _ := m.GetCertificate(hello)
	bFirst, _ := m.GetCertificate(&tls.ClientHelloInfo{ServerName: "b.example.com"})

	a2 := cert(t, ca, "a", []string{"a.example.com"}, "a.example.com")
	if err := m.Apply(&snapshot.Snapshot{Version: 2, Certificates: []snapshot.Certificate{a2, b}}); err != nil {
		t.Fatal(err)
	}
	second, _ := m.GetCertificate(hello)
	bSecond, _ := m.GetCertificate(&tls.ClientHelloInfo{ServerName: "b.example.com"})
	if first.Leaf.SerialNumber.Cmp(second.Leaf.SerialNumber) == 0 {
		t.Errorf("a.example.com serves the same certificate after a rotation")
	}
	if bFirst != bSecond {
		t.Errorf("unchanged certificate b was parsed again")
	}
	if m.Store().Len() != 2 {
		t.Errorf("Store().Len() = %d, want 2", m.Store().Len())
	}
}

// TestTLSConfigHandshake runs real handshakes: TLS 1.2 and 1.3 succeed with
// ALPN h2, TLS 1.1 is refused, and the self-signed certificate is served
// with ingress-nginx's fake certificate's names and key when nothing
// matches.
func TestTLSConfigHandshake(t *testing.T) {
	t.Parallel()
	m, err := NewManager(Options{})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, m.TLSConfig())
	for _, tc := range []struct {
		name    string
		version uint16
		wantErr bool
	}{
		{"tls1.3", tls.VersionTLS13, false},
		{"tls1.2", tls.VersionTLS12, false},
		{"tls1.1", tls.VersionTLS11, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := tls.DialWithDialer(&net.Dialer{}, "tcp", addr, &tls.Config{
				InsecureSkipVerify: true, // the self-signed certificate; checked below
				MinVersion:         tc.version, MaxVersion: tc.version,
				NextProtos: []string{"h2", "http/1.1"},
				ServerName: "unknown.example.com",
			})
			if tc.wantErr {
				if err == nil {
					conn.Close()
					t.Fatalf("handshake with %s succeeded, want refused", tc.name)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			st := conn.ConnectionState()
			if st.NegotiatedProtocol != "h2" {
				t.Errorf("ALPN = %q, want h2", st.NegotiatedProtocol)
			}
			leaf := st.PeerCertificates[0]
			if leaf.Subject.CommonName != FallbackCommonName {
				t.Errorf("CN = %q, want %q", leaf.Subject.CommonName, FallbackCommonName)
			}
			// ingress-nginx's fake certificate: RSA 2048, O "Acme Co", DNS ingress.local.
			if leaf.PublicKeyAlgorithm != x509.RSA || leaf.PublicKey.(*rsa.PublicKey).N.BitLen() != 2048 {
				t.Errorf("public key %v, want RSA 2048", leaf.PublicKeyAlgorithm)
			}
			if !slices.Equal(leaf.Subject.Organization, []string{"Acme Co"}) || !slices.Equal(leaf.DNSNames, []string{"ingress.local"}) ||
				leaf.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment {
				t.Errorf("O %q, DNS names %q, key usage %v, want ingress-nginx's", leaf.Subject.Organization, leaf.DNSNames, leaf.KeyUsage)
			}
		})
	}
}

// TestTLSConfigUseHTTP2 checks use-http2 "false" (TLSSettings.HTTP2Off):
// from the next handshake on, ALPN offers no h2, as nginx's
// listener without http2 (a client offering only h2 is refused, as
// nginx's fatal no_application_protocol alert); "true" offers h2 again.
func TestTLSConfigUseHTTP2(t *testing.T) {
	t.Parallel()
	m, err := NewManager(Options{})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, m.TLSConfig())
	alpn := func(protos ...string) (string, error) {
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: protos, ServerName: "a.example.com"})
		if err != nil {
			return "", err
		}
		defer conn.Close()
		return conn.ConnectionState().NegotiatedProtocol, nil
	}
	for _, tc := range []struct {
		name    string
		off     bool
		protos  []string
		want    string
		wantErr bool
	}{
		{"on", false, []string{"h2", "http/1.1"}, "h2", false},
		{"off", true, []string{"h2", "http/1.1"}, "http/1.1", false},
		{"off h2 only", true, []string{"h2"}, "", true},
		{"on again", false, []string{"h2", "http/1.1"}, "h2", false},
		// nginx's list goes on with http/1.0 and http/0.9; a protocol
		// not in it is refused.
		{"http/1.0 only", false, []string{"http/1.0"}, "http/1.0", false},
		{"off, http/1.0 and http/0.9", true, []string{"http/0.9", "http/1.0"}, "http/1.0", false},
		{"unknown protocol", false, []string{"foo"}, "", true},
	} {
		s := m.TLSSettings()
		s.HTTP2Off = tc.off
		m.SetTLSSettings(s)
		got, err := alpn(tc.protos...)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("%s: ALPN %q, error %v; want %q, error %v", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
}

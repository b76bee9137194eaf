package snapshot

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"testing"
)

// TestValidFor checks validFor against ingress-nginx's checks of a server's
// certificate: x509's VerifyHostname, then its verifyHostname, which
// matches a wildcard host to the same wildcard and reads the Common Name
// of a certificate without DNS names.
func TestValidFor(t *testing.T) {
	t.Parallel()
	leaf := func(cn string, names ...string) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: cn}, DNSNames: names}
	}
	ip := &x509.Certificate{IPAddresses: []net.IP{net.ParseIP("10.0.0.1")}}
	tests := []struct {
		name string
		leaf *x509.Certificate
		host string
		want bool
	}{
		{"no certificate", nil, "a.example.com", false},
		{"SAN", leaf("", "a.example.com"), "a.example.com", true},
		{"SAN any case, final dot", leaf("", "A.Example.com."), "a.example.com", true},
		{"other SAN", leaf("", "b.example.com"), "a.example.com", false},
		{"wildcard SAN", leaf("", "*.example.com"), "a.example.com", true},
		{"wildcard SAN is one label", leaf("", "*.example.com"), "a.b.example.com", false},
		{"wildcard SAN for the wildcard host", leaf("", "*.example.com"), "*.example.com", true},
		{"exact SAN for a wildcard host", leaf("", "a.example.com"), "*.example.com", false},
		{"Common Name without SANs", leaf("cn.example.com"), "cn.example.com", true},
		{"wildcard Common Name without SANs", leaf("*.example.com"), "a.example.com", true},
		{"Common Name ignored with SANs", leaf("cn.example.com", "a.example.com"), "cn.example.com", false},
		{"IP SAN", ip, "10.0.0.1", true},
		{"other IP", ip, "10.0.0.2", false},
	}
	for _, tc := range tests {
		if got := validFor(tc.leaf, tc.host); got != tc.want {
			t.Errorf("%s: validFor(%q) = %v, want %v", tc.name, tc.host, got, tc.want)
		}
	}
}

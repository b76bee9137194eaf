package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// TestClientCertVerifyReasons: the reasons of a failed client
// certificate are OpenSSL 3's, and only those of a chain that reaches no
// trusted CA (or is longer than the verify depth allows, but for the
// client's own certificates) are let through by optional_no_ca; a chain
// must end at a self-signed CA of ca.crt (nginx sets no partial chain);
// the leaf's purpose (sslclient) and the issuers' CA flags fail every
// mode, unless a leaf alone without its issuer hides them; with ca.crl every
// certificate of the chain needs a current CRL of its issuer. Each case
// is what nginx 1.22 (OpenSSL 3.0) answered with the same certificates and
// CRLs ($ssl_client_verify under optional_no_ca, or its 400).
func TestClientCertVerifyReasons(t *testing.T) {
	t.Parallel()
	root, other := certstest.NewCA(t), certstest.NewCA(t)
	inter, otherInter := root.Intermediate(t, "Inter"), other.Intermediate(t, "Other Inter")
	inter2 := inter.Intermediate(t, "Inter 2")
	notCA := root.Issuer(t, &x509.Certificate{Subject: pkix.Name{CommonName: "not a CA"}, BasicConstraintsValid: true})
	encipherOnly := func() *x509.Certificate { return &x509.Certificate{KeyUsage: x509.KeyUsageKeyEncipherment} }
	anyEKU := func() *x509.Certificate {
		return &x509.Certificate{ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	}
	chain := func(c tls.Certificate) []*x509.Certificate {
		var out []*x509.Certificate
		for _, der := range c.Certificate {
			x, err := x509.ParseCertificate(der)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, x)
		}
		return out
	}
	good, revoked := root.Client(t, "good"), root.Client(t, "revoked")
	viaInter := inter.Client(t, "via inter")
	srvPEM, srvKey := root.Issue(t, "server.test")
	serverOnly, err := tls.X509KeyPair(srvPEM, srvKey)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	fresh := root.CRL(t)
	revoking := root.CRL(t, revoked.Leaf.SerialNumber)
	both := append(root.CRL(t), inter.CRL(t)...)
	for _, tc := range []struct {
		name   string
		cert   tls.Certificate
		crl    []byte
		at     time.Time
		reason string
		noCA   bool
		ca     []byte // ca.crt; nil: root's
		depth  int    // 0: 1
	}{
		{name: "good", cert: good},
		{name: "another CA's leaf alone", cert: other.Client(t, "x"), reason: "unable to verify the first certificate", noCA: true},
		{name: "another CA's leaf and root", cert: other.Client(t, "x", other), reason: "self-signed certificate in certificate chain", noCA: true},
		{name: "another CA's leaf and intermediate", cert: otherInter.Client(t, "x"), reason: "unable to get local issuer certificate", noCA: true},
		{name: "self-signed leaf, not a CA", cert: certstest.SelfSigned(t, "self"), reason: "self-signed certificate", noCA: true},
		{name: "ca.crt of an intermediate alone", cert: viaInter, ca: inter.CertPEM(), reason: "unable to get issuer certificate"},
		{name: "too long: the client's intermediates", cert: inter2.Client(t, "x", inter), reason: "unable to get local issuer certificate", noCA: true},
		{name: "too long: an intermediate of ca.crt", cert: inter2.Client(t, "x", inter), ca: append(root.CertPEM(), inter.CertPEM()...),
			reason: "unable to get issuer certificate"},
		{name: "depth 2", cert: inter2.Client(t, "x", inter), depth: 2},
		{name: "key usage without digitalSignature", cert: root.Sign(t, encipherOnly()), reason: "unsupported certificate purpose"},
		{name: "anyExtendedKeyUsage alone", cert: root.Sign(t, anyEKU()), reason: "unsupported certificate purpose"},
		{name: "issuer not a CA", cert: notCA.Sign(t, &x509.Certificate{}), reason: "invalid CA certificate"},
		{name: "another CA's leaf alone, wrong purpose", cert: other.Sign(t, encipherOnly()), reason: "unable to verify the first certificate", noCA: true},
		{name: "another CA's leaf and root, wrong purpose", cert: other.Sign(t, anyEKU(), other), reason: "unsupported certificate purpose"},
		{name: "too long, wrong purpose", cert: inter2.Sign(t, anyEKU(), inter), reason: "unsupported certificate purpose"},
		{name: "server purpose", cert: serverOnly, reason: "unsupported certificate purpose"},
		{name: "expired", cert: good, at: now.Add(48 * time.Hour), reason: "certificate has expired"},
		{name: "crl: another CA's leaf alone", cert: other.Client(t, "x"), crl: fresh, reason: "unable to verify the first certificate", noCA: true},
		{name: "crl: self-signed leaf", cert: certstest.SelfSigned(t, "self"), crl: fresh, reason: "unable to get certificate CRL"},
		{name: "crl: good", cert: good, crl: fresh},
		{name: "crl: revoked", cert: revoked, crl: revoking, reason: "certificate revoked"},
		{name: "crl: another's revoked", cert: good, crl: revoking},
		{name: "crl: none for the intermediate", cert: viaInter, crl: fresh, reason: "unable to get certificate CRL"},
		{name: "crl: the intermediate's alone", cert: good, crl: inter.CRL(t), reason: "unable to get certificate CRL"},
		{name: "crl: both", cert: viaInter, crl: both},
		{name: "crl: expired", cert: good, crl: root.CRLAt(t, now.Add(-48*time.Hour), now.Add(-24*time.Hour)), reason: "CRL has expired"},
		{name: "crl: not yet valid", cert: good, crl: root.CRLAt(t, now.Add(time.Hour), now.Add(48*time.Hour)), reason: "CRL is not yet valid"},
	} {
		ca, depth := tc.ca, tc.depth
		if ca == nil {
			ca = root.CertPEM()
		}
		if depth == 0 {
			depth = 1
		}
		a := compileAuth(&snapshot.ClientAuth{CAPEM: ca, CRLPEM: tc.crl,
			Settings: annotations.AuthTLS{VerifyClient: annotations.VerifyOptionalNoCA, VerifyDepth: depth}})
		if a.err != nil {
			t.Fatalf("%s: %v", tc.name, a.err)
		}
		at := tc.at
		if at.IsZero() {
			at = now
		}
		reason, noCA := a.verify(chain(tc.cert), at)
		if reason != tc.reason || noCA != tc.noCA {
			t.Errorf("%s: %q (no CA %v), want %q (%v)", tc.name, reason, noCA, tc.reason, tc.noCA)
		}
	}
}

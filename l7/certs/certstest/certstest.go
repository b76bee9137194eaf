// Package certstest issues certificates for tests: a throwaway certificate
// authority, generated in memory, that signs server certificates for any
// host names.
package certstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a test certificate authority.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

// NewCA generates a CA valid from an hour ago for a day.
func NewCA(tb testing.TB) *CA {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(tb),
		Subject:               pkix.Name{CommonName: "Weir Test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{cert: cert, key: key, pool: pool}
}

func serial(tb testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// PEM returns the CA's certificate in PEM (a caBundle).
func (ca *CA) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
}

// Pool returns a pool holding only the CA, for tls.Config.RootCAs.
func (ca *CA) Pool() *x509.CertPool { return ca.pool }

// Issue signs a server certificate for hosts (DNS names, wildcards allowed,
// or IP addresses; the first is also the subject CN) and returns the PEM of the leaf
// followed by the CA (a chain, as in a kubernetes.io/tls Secret's tls.crt)
// and the PEM of its key.
func (ca *CA) Issue(tb testing.TB, hosts ...string) (certPEM, keyPEM []byte) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(tb),
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})...)
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	return certPEM, keyPEM
}

// IssueFiles is Issue with the certificate chain and key written to the
// files "cert" and "key" of a new temporary directory the test removes;
// it returns their paths.
func (ca *CA) IssueFiles(tb testing.TB, hosts ...string) (certFile, keyFile string) {
	tb.Helper()
	certPEM, keyPEM := ca.Issue(tb, hosts...)
	dir := tb.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert"), filepath.Join(dir, "key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		tb.Fatal(err)
	}
	return certFile, keyFile
}

// SecretYAML renders a kubernetes.io/tls Secret manifest holding certPEM
// and keyPEM.
func SecretYAML(namespace, name string, certPEM, keyPEM []byte) string {
	return fmt.Sprintf("---\napiVersion: v1\nkind: Secret\nmetadata: {name: %s, namespace: %s}\ntype: kubernetes.io/tls\ndata:\n  tls.crt: %s\n  tls.key: %s\n",
		name, namespace, base64.StdEncoding.EncodeToString(certPEM), base64.StdEncoding.EncodeToString(keyPEM))
}

// ServerConfig returns a TLS server configuration with a certificate ca
// issued for host, offering nextProtos (such as "h2", "http/1.1").
func (ca *CA) ServerConfig(tb testing.TB, host string, nextProtos ...string) *tls.Config {
	tb.Helper()
	crtPEM, keyPEM := ca.Issue(tb, host)
	crt, err := tls.X509KeyPair(crtPEM, keyPEM)
	if err != nil {
		tb.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{crt}, NextProtos: nextProtos}
}

// HTTPSClient returns an HTTPS client that trusts ca and expects serverName,
// speaking HTTP/2 when h2 is true and HTTP/1.1 only otherwise; the test
// closes its idle connections.
func (ca *CA) HTTPSClient(tb testing.TB, serverName string, h2 bool) *http.Client {
	tb.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: serverName}, ForceAttemptHTTP2: h2}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// CertPEM returns the PEM of the CA's certificate, as a Secret's ca.crt
// holds it.
func (ca *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
}

// Intermediate returns a CA whose certificate ca signs: certificates it
// issues chain through it to ca.
func (ca *CA) Intermediate(tb testing.TB, cn string) *CA {
	tb.Helper()
	return ca.Issuer(tb, &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	})
}

// Issuer returns an issuer whose certificate, tmpl as it is (a CA or
// not), ca signs: the certificates it issues name it as their issuer.
func (ca *CA) Issuer(tb testing.TB, tmpl *x509.Certificate) *CA {
	tb.Helper()
	cert, key := ca.sign(tb, tmpl)
	return &CA{cert: cert, key: key, pool: ca.pool}
}

// Client issues a client certificate with subject CN cn (organization
// "Weir Tests") and returns it ready for tls.Config.Certificates: the
// leaf, then ca's certificate when ca is an intermediate, then chain.
func (ca *CA) Client(tb testing.TB, cn string, chain ...*CA) tls.Certificate {
	tb.Helper()
	return ca.Sign(tb, &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn, Organization: []string{"Weir Tests"}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, chain...)
}

// Sign issues tmpl as it is (subject, key and extended key usages) and
// returns it ready for tls.Config.Certificates as Client does: the leaf,
// then ca's certificate when ca is an intermediate, then chain.
func (ca *CA) Sign(tb testing.TB, tmpl *x509.Certificate, chain ...*CA) tls.Certificate {
	tb.Helper()
	leaf, key := ca.sign(tb, tmpl)
	c := tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}
	if ca.cert.Subject.String() != ca.cert.Issuer.String() {
		c.Certificate = append(c.Certificate, ca.cert.Raw)
	}
	for _, inter := range chain {
		c.Certificate = append(c.Certificate, inter.cert.Raw)
	}
	return c
}

// SelfSigned returns a client certificate with subject CN cn signed by
// its own key, not a CA's.
func SelfSigned(tb testing.TB, cn string) tls.Certificate {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: serial(tb), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// sign issues tmpl, valid from an hour ago for a day with a new serial,
// for a new P-256 key.
func (ca *CA) sign(tb testing.TB, tmpl *x509.Certificate) (*x509.Certificate, *ecdsa.PrivateKey) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl.SerialNumber = serial(tb)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return cert, key
}

// CRL returns a PEM certificate revocation list of ca revoking the
// certificates with the given serial numbers.
func (ca *CA) CRL(tb testing.TB, revoked ...*big.Int) []byte {
	tb.Helper()
	return ca.CRLAt(tb, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), revoked...)
}

// CRLAt is CRL with the list's thisUpdate and nextUpdate times.
func (ca *CA) CRLAt(tb testing.TB, thisUpdate, nextUpdate time.Time, revoked ...*big.Int) []byte {
	tb.Helper()
	list := &x509.RevocationList{Number: serial(tb), ThisUpdate: thisUpdate, NextUpdate: nextUpdate}
	for _, n := range revoked {
		list.RevokedCertificateEntries = append(list.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: n, RevocationTime: time.Now().Add(-time.Minute)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, list, ca.cert, ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

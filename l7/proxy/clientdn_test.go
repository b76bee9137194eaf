package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// TestOpenSSLDN: ssl-client-subject-dn and ssl-client-issuer-dn are
// OpenSSL's RFC 2253 form, as nginx 1.22.1 (OpenSSL 3.0) sent them for
// certificates with these subjects: the attributes reversed, multi-valued
// RDNs joined by "+", OpenSSL's short names, bytes above 0x7f and control
// characters as \XX, unknown attributes as #DER.
func TestOpenSSLDN(t *testing.T) {
	t.Parallel()
	oid := func(s ...int) asn1.ObjectIdentifier { return asn1.ObjectIdentifier(s) }
	var (
		cn, o, ou, c  = oid(2, 5, 4, 3), oid(2, 5, 4, 10), oid(2, 5, 4, 11), oid(2, 5, 4, 6)
		l, street     = oid(2, 5, 4, 7), oid(2, 5, 4, 9)
		serial, title = oid(2, 5, 4, 5), oid(2, 5, 4, 12)
		email         = oid(1, 2, 840, 113549, 1, 9, 1)
		uid, dc       = oid(0, 9, 2342, 19200300, 100, 1, 1), oid(0, 9, 2342, 19200300, 100, 1, 25)
		jurC          = oid(1, 3, 6, 1, 4, 1, 311, 60, 2, 1, 3)
	)
	av := func(t asn1.ObjectIdentifier, tag int, v string) dnAttribute {
		return dnAttribute{Type: t, Value: asn1.RawValue{Tag: tag, Bytes: []byte(v)}}
	}
	utf := func(t asn1.ObjectIdentifier, v string) dnAttribute { return av(t, asn1.TagUTF8String, v) }
	one := func(a ...dnAttribute) []dnRDNSET {
		var out []dnRDNSET
		for _, x := range a {
			out = append(out, dnRDNSET{x})
		}
		return out
	}
	for _, tc := range []struct {
		name string
		rdns []dnRDNSET
		want string
	}{
		{"empty", nil, ""},
		{"reversed", one(utf(cn, "first"), utf(o, "Org"), av(c, asn1.TagPrintableString, "FR")), "C=FR,O=Org,CN=first"},
		{"multi-valued", []dnRDNSET{{utf(o, "Org")}, {utf(cn, "mv"), av(uid, asn1.TagPrintableString, "uid1"), utf(ou, "Unit")}},
			"UID=uid1+OU=Unit+CN=mv,O=Org"},
		{"specials", one(utf(o, `Doe, John "JD" + Co; <x> \ y`), utf(cn, " #lead and trail ")),
			`CN=\ #lead and trail\ ,O=Doe\, John \"JD\" \+ Co\; \<x\> \\ y`},
		{"leading hash", one(utf(cn, "#hash=eq")), `CN=\#hash=eq`},
		{"lone hash and spaces", one(utf(o, " "), utf(title, " "), utf(cn, "a "), av(street, asn1.TagIA5String, "#")),
			`street=#,CN=a\ ,title=\ ,O=\ `},
		{"utf-8", one(utf(o, "Müller GmbH"), utf(cn, "José 日本 😀")),
			`CN=Jos\C3\A9 \E6\97\A5\E6\9C\AC \F0\9F\98\80,O=M\C3\BCller GmbH`},
		{"short names", one(utf(cn, "mail"), av(email, asn1.TagIA5String, "a.b@example.com"),
			av(serial, asn1.TagPrintableString, "12345"), av(dc, asn1.TagIA5String, "example"), av(dc, asn1.TagIA5String, "com"),
			av(jurC, asn1.TagPrintableString, "DE")),
			"jurisdictionC=DE,DC=com,DC=example,serialNumber=12345,emailAddress=a.b@example.com,CN=mail"},
		{"unknown attribute", one(utf(oid(1, 2, 3, 4, 5), "custom"), utf(cn, "unk")), "CN=unk,1.2.3.4.5=#0C06637573746F6D"},
		{"string types", one(av(o, asn1.TagBMPString, "\x00b\x00m\x00p\x00 \x00\xe9\x00 \x65\xe5"),
			av(ou, asn1.TagT61String, "t61 \xc3\xa9"), av(l, 28, "\x00\x00\x00u\x00\x00\x00n"), utf(cn, "x")),
			`CN=x,L=un,OU=t61 \C3\83\C2\A9,O=bmp \C3\A9 \E6\97\A5`},
		{"control characters", one(utf(cn, "tab\there\x7fdel=x")), `CN=tab\09here\7Fdel=x`},
	} {
		raw, err := asn1.Marshal(tc.rdns)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := opensslDN(raw); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestClientCertDNHeaders: over a real TLS connection, the upstream gets
// the DNs in OpenSSL's form (here the subject's attributes in the order
// CN, O, emailAddress, which Go's pkix.Name.String reorders and prints
// emailAddress of as a dotted OID), and auth-tls-match-cn is matched
// against that form, as nginx's $ssl_client_s_dn; both as nginx 1.22.1.
func TestClientCertDNHeaders(t *testing.T) {
	t.Parallel()
	ca := certstest.NewCA(t)
	subject, err := asn1.Marshal([]dnRDNSET{
		{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte("José")}}},
		{{Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte("Org")}}},
		{{Type: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}, Value: asn1.RawValue{Tag: asn1.TagIA5String, Bytes: []byte("j@example.com")}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	client := ca.Sign(t, &x509.Certificate{RawSubject: subject, KeyUsage: x509.KeyUsageDigitalSignature})

	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s|%s", r.Header.Get("ssl-client-subject-dn"), r.Header.Get("ssl-client-issuer-dn"))
	}))
	t.Cleanup(up.Close)
	be := backendOf("web", []string{addr(up)})
	server := func(host, matchCN string) snapshot.Server {
		return snapshot.Server{Host: host, Paths: []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: be}},
			TLS: &snapshot.ServerTLS{ClientAuth: &snapshot.ClientAuth{CAPEM: ca.CertPEM(),
				Settings: annotations.AuthTLS{VerifyClient: annotations.VerifyOn, VerifyDepth: 1, MatchCN: matchCN}}}}
	}
	at := serveClientAuth(t, server("any.test", ""), server("email.test", "CN=.*Jos"), server("first.test", "^CN="))
	for _, tc := range []struct {
		host, want string
	}{
		{"any.test", `HTTP/1.1 200 (?s).*\r\n\r\nemailAddress=j@example.com,O=Org,CN=Jos\\C3\\A9\|CN=Weir Test CA$`},
		{"email.test", `HTTP/1.1 200 `},
		{"first.test", `HTTP/1.1 403 (?s).*client certificate unauthorized$`},
	} {
		b := clientAuthGet(t, at, tc.host, tc.host, &client)
		if !regexp.MustCompile(`^` + tc.want).Match(b) {
			t.Errorf("%s: %q, want %s", tc.host, b, tc.want)
		}
	}
}

// serveClientAuth serves servers over TLS on 127.0.0.1, requesting client
// certificates as l7/certs does for a host that verifies them; it returns
// the address.
func serveClientAuth(tb testing.TB, servers ...snapshot.Server) string {
	tb.Helper()
	p := New(Options{})
	if err := p.Apply(&snapshot.Snapshot{Version: 1, Servers: servers}); err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(p)
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	tb.Cleanup(func() { srv.Close(); p.Close() })
	return srv.Listener.Addr().String()
}

// clientAuthGet sends GET / with Host host over a new TLS connection to at
// with SNI sni and, when not nil, the client certificate cert; it returns
// all that was answered until the connection closed.
func clientAuthGet(tb testing.TB, at, sni, host string, cert *tls.Certificate) []byte {
	tb.Helper()
	cfg := &tls.Config{ServerName: sni, InsecureSkipVerify: true} // the server certificate is not the point
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", at, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host)
	b, _ := io.ReadAll(conn)
	return b
}

package proxy

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/weir-lb/weir/l7/router"
	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// Client certificate verification (auth-tls-*), at the server level as
// nginx's ssl_verify_client: the handshake of a host that verifies client
// certificates requests one (l7/certs) without verifying it, and each
// request is checked here, before routing, so that the answers are nginx's:
//
//   - a host whose auth-tls configuration is unusable answers 403 to every
//     request (ingress-nginx's AuthTLSError; fails closed);
//   - over TLS, with auth-tls-verify-client "on", no certificate gets 400
//     "No required SSL certificate was sent" (nginx's 496), and with "on" or
//     "optional" a certificate that fails verification gets 400 "The SSL
//     certificate error" (495); auth-tls-error-page turns both into a 302
//     to the page;
//   - auth-tls-match-cn: a subject DN ($ssl_client_s_dn, "" without a
//     certificate, so also over plain HTTP) that does not match gets 403
//     "client certificate unauthorized";
//   - the SNI is not the Host header's name, whose server verifies client
//     certificates: 421, as nginx (ngx_http_set_virtual_server), so that a
//     handshake made for one host is never taken for another's;
//     without SNI, or with one no server is named by, the Host's server
//     applies (no certificate: 400).
//
// Passing requests get ssl-client-verify, ssl-client-subject-dn,
// ssl-client-issuer-dn and, with auth-tls-pass-certificate-to-upstream,
// ssl-client-cert; whatever the client sent under these names is removed
// first, so the upstream can trust them.

// clientAuths caches the compiled ClientAuth of the Snapshot last seen.
type clientAuths struct {
	last atomic.Pointer[compiledAuths]
}

// compiledAuths are the compiled ClientAuths of one Snapshot, by pointer.
type compiledAuths struct {
	snap *snapshot.Snapshot
	by   map[*snapshot.ClientAuth]*compiledAuth
}

// compiledAuth is a ClientAuth ready to verify with.
type compiledAuth struct {
	src *snapshot.ClientAuth
	// roots are ca.crt's certificates, anchors those of them OpenSSL takes
	// for self-signed and storeInter the others: OpenSSL (no
	// X509_V_FLAG_PARTIAL_CHAIN in nginx) trusts a chain only when it
	// ends at a self-signed certificate of the store, and uses the store's
	// other certificates as intermediates.
	roots      *x509.CertPool
	anchors    *x509.CertPool
	storeInter []*x509.Certificate
	crls       []*x509.RevocationList
	matchCN    *regexp.Regexp // nil: any
	err        error          // the material did not compile: deny
}

// of returns the compiled form of a, a ClientAuth of rt's Snapshot.
func (c *clientAuths) of(rt *router.Router, a *snapshot.ClientAuth) *compiledAuth {
	s := rt.Snapshot()
	last := c.last.Load()
	if last == nil || last.snap != s {
		next := &compiledAuths{snap: s, by: map[*snapshot.ClientAuth]*compiledAuth{}}
		for i := range s.Servers {
			t := s.Servers[i].TLS
			if t == nil || t.ClientAuth == nil {
				continue
			}
			if last != nil && last.by[t.ClientAuth] != nil {
				next.by[t.ClientAuth] = last.by[t.ClientAuth]
			} else {
				next.by[t.ClientAuth] = compileAuth(t.ClientAuth)
			}
		}
		c.last.Store(next)
		last = next
	}
	if ca := last.by[a]; ca != nil {
		return ca
	}
	return compileAuth(a) // a Server reused from an older Router
}

func compileAuth(a *snapshot.ClientAuth) *compiledAuth {
	ca := &compiledAuth{src: a, roots: x509.NewCertPool(), anchors: x509.NewCertPool()}
	if a.Denied != "" {
		return ca
	}
	if !ca.roots.AppendCertsFromPEM(a.CAPEM) {
		ca.err = errors.New("ca.crt holds no certificate")
	}
	for rest := a.CAPEM; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil || block.Type != "CERTIFICATE" {
			continue // as AppendCertsFromPEM
		}
		if likelySelfIssued(c) {
			ca.anchors.AddCert(c)
		} else {
			ca.storeInter = append(ca.storeInter, c)
		}
	}
	for rest := a.CRLPEM; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		crl, err := x509.ParseRevocationList(block.Bytes)
		if err != nil {
			ca.err = fmt.Errorf("parse ca.crl: %w", err)
			continue
		}
		ca.crls = append(ca.crls, crl)
	}
	if p := a.Settings.MatchCN; p != "" {
		re, err := regexp.Compile(p)
		if err != nil {
			ca.err = fmt.Errorf("compile auth-tls-match-cn: %w", err)
		}
		ca.matchCN = re
	}
	return ca
}

// Headers set for the upstream, lower-case as nginx writes them.
const (
	hdrClientCert      = "ssl-client-cert"
	hdrClientVerify    = "ssl-client-verify"
	hdrClientSubjectDN = "ssl-client-subject-dn"
	hdrClientIssuerDN  = "ssl-client-issuer-dn"
)

// clientCert applies the client certificate verification of the host of r
// and reports whether it answered the request (see the package comment
// above); hs is r's host in rt.
func (p *Proxy) clientCert(w http.ResponseWriter, r *http.Request, rt *router.Router, hs router.Host) bool {
	t := hs.ServerTLS()
	if t == nil || t.ClientAuth == nil {
		return false
	}
	a := p.clientAuths.of(rt, t.ClientAuth)
	if a.src.Denied != "" || a.err != nil {
		writeCertPage(w, http.StatusForbidden, "", "", "")
		return true
	}
	set := a.src.Settings
	if r.TLS != nil && set.VerifyClient != annotations.VerifyOff && rt.Served(r.TLS.ServerName) &&
		router.NormalizeHost(r.TLS.ServerName) != router.NormalizeHost(r.Host) {
		// The Host's server verifies and the Host is not the SNI: nginx
		// compares the names, not the servers they select, so two hosts
		// of one wildcard or a server-alias get 421 too. An SNI no server
		// is named by is as none (nginx keeps no server name for it):
		// the Host's server applies, and its handshake asked for no
		// certificate.
		writeCertPage(w, http.StatusMisdirectedRequest, "", "", "")
		return true
	}
	verify, subject, issuer, cert := "", "", "", ""
	if r.TLS != nil {
		verify = "NONE"
		if certs := r.TLS.PeerCertificates; len(certs) > 0 && set.VerifyClient != annotations.VerifyOff {
			leaf := certs[0]
			subject, issuer = opensslDN(leaf.RawSubject), opensslDN(leaf.RawIssuer)
			if set.PassCertificate {
				cert = escapeComponent(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Raw}))
			}
			verify = "SUCCESS"
			if reason, noCA := a.verify(certs, time.Now()); reason != "" {
				verify = "FAILED:" + reason
				if set.VerifyClient != annotations.VerifyOptionalNoCA || !noCA {
					p.certError(w, r, set.ErrorPage, "The SSL certificate error")
					return true
				}
			}
		} else if set.VerifyClient == annotations.VerifyOn {
			p.certError(w, r, set.ErrorPage, "No required SSL certificate was sent")
			return true
		}
	}
	if a.matchCN != nil && !a.matchCN.MatchString(subject) {
		writeCertPage(w, http.StatusForbidden, "", "client certificate unauthorized", p.liveGlobal().contentType)
		return true
	}
	h := r.Header
	for _, k := range [...]string{"Ssl-Client-Cert", "Ssl-Client-Verify", "Ssl-Client-Subject-Dn", "Ssl-Client-Issuer-Dn"} {
		delete(h, k)
	}
	for _, kv := range [...][2]string{{hdrClientCert, cert}, {hdrClientVerify, verify}, {hdrClientSubjectDN, subject}, {hdrClientIssuerDN, issuer}} {
		if kv[1] != "" {
			h[kv[0]] = []string{kv[1]}
		}
	}
	return false
}

// verify checks the client's chain (leaf first, then what it sent as
// intermediates) against the CAs, the verify depth and the CRLs, at now;
// it returns "" when it passes, else OpenSSL's reason, as nginx's
// $ssl_client_verify gives it after "FAILED:" (OpenSSL 3's words, as in
// ingress-nginx's image), and whether the failure is one of a chain that
// reaches no trusted CA, the only kind auth-tls-verify-client
// "optional_no_ca" lets through (nginx's ngx_ssl_verify_error_optional):
// an expired, revoked or wrong-purpose certificate, or a CRL missing or
// out of date, gets 400 in every mode.
func (a *compiledAuth) verify(certs []*x509.Certificate, now time.Time) (reason string, noCA bool) {
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	for _, c := range a.storeInter {
		inter.AddCert(c)
	}
	opts := x509.VerifyOptions{
		Roots: a.anchors, Intermediates: inter, CurrentTime: now,
		// OpenSSL checks a client certificate's purpose (sslclient): an
		// extended key usage without clientAuth is refused, none is fine.
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	chains, err := certs[0].Verify(opts)
	if err != nil {
		var inv x509.CertificateInvalidError
		if errors.As(err, &inv) && inv.Reason == x509.Expired {
			return "certificate has expired", false
		}
		if errors.As(err, &inv) && inv.Reason == x509.IncompatibleUsage {
			return "unsupported certificate purpose", false
		}
		var unknown x509.UnknownAuthorityError
		if errors.As(err, &unknown) {
			if opts.Roots = a.roots; len(a.storeInter) > 0 {
				if _, err := certs[0].Verify(opts); err == nil {
					// The chain reaches a CA of ca.crt that is not
					// self-signed, and no self-signed one above it:
					// OpenSSL's X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT,
					// which optional_no_ca does not let through.
					return "unable to get issuer certificate", false
				}
			}
			if reason := untrustedFatal(certs, len(a.crls) > 0); reason != "" {
				return reason, false
			}
			return unknownAuthority(certs), true
		}
		return "certificate verify failed", false
	}
	// OpenSSL's verify depth counts the CA certificates above the leaf
	// that are not the trust anchor: depth d allows chains of d+2.
	shortest := chains[0]
	for _, chain := range chains {
		if len(chain) <= a.src.Settings.VerifyDepth+2 {
			if !sslClientPurpose(certs[0]) {
				return "unsupported certificate purpose", false
			}
			return a.checkCRLs(chain, now), false
		}
		if len(chain) < len(shortest) {
			shortest = chain
		}
	}
	if !sslClientPurpose(certs[0]) {
		return "unsupported certificate purpose", false
	}
	return a.tooLong(shortest)
}

// tooLong is OpenSSL 3's reason for chain (leaf first, trust anchor last),
// longer than verify depth allows, and whether optional_no_ca lets it
// through: OpenSSL's build_chain stops at depth+2 certificates, reports
// the chain too long and then, last, that the issuer of the last one it
// kept was not found, the reason nginx's $ssl_client_verify shows: as for
// a chain that reaches no CA when that one is the client's, else (a CA of
// ca.crt, which OpenSSL prefers to the client's copy of it) "unable to get
// issuer certificate", refused in every mode.
func (a *compiledAuth) tooLong(chain []*x509.Certificate) (string, bool) {
	kept := chain[:max(a.src.Settings.VerifyDepth+2, 1)]
	last := kept[len(kept)-1]
	for _, c := range a.storeInter {
		if c.Equal(last) {
			return "unable to get issuer certificate", false
		}
	}
	if len(kept) == 1 {
		return "unable to verify the first certificate", true
	}
	return "unable to get local issuer certificate", true
}

// sslClientPurpose reports whether OpenSSL's purpose sslclient accepts
// leaf: a key usage, if any, with digitalSignature or keyAgreement, and an
// extended key usage, if any, with clientAuth (anyExtendedKeyUsage is not
// it, unlike for Go's Verify).
func sslClientPurpose(leaf *x509.Certificate) bool {
	if leaf.KeyUsage != 0 && leaf.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageKeyAgreement) == 0 {
		return false
	}
	if len(leaf.ExtKeyUsage) == 0 && len(leaf.UnknownExtKeyUsage) == 0 {
		return true
	}
	return slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
}

// untrustedFatal is the reason OpenSSL ends with for a chain the client
// sent, certs, that reaches none of the CAs, when that reason is not one
// optional_no_ca lets through; "" otherwise. nginx's $ssl_client_verify is
// the last error OpenSSL reported: after the chain's, it checks the
// leaf's purpose (sslclient) and that each issuer, followed by name, can
// be a CA (basic constraints with CA, a key usage with keyCertSign), and
// then, with crls (ca.crl), that no CRL of theirs is at hand, and,
// verifying the signatures, reports a leaf alone without its issuer once
// more ("unable to verify the first certificate"), which hides the others.
func untrustedFatal(certs []*x509.Certificate, crls bool) string {
	cur, walked, bad := certs[0], 1, ""
	for range certs {
		if likelySelfIssued(cur) {
			walked++ // its own issuer: no leaf alone
			break
		}
		var next *x509.Certificate
		for _, c := range certs[1:] {
			if c != cur && bytes.Equal(c.RawSubject, cur.RawIssuer) {
				next = c
				break
			}
		}
		if next == nil {
			break
		}
		if bad == "" && (next.KeyUsage != 0 && next.KeyUsage&x509.KeyUsageCertSign == 0 || !next.BasicConstraintsValid || !next.IsCA) {
			bad = "invalid CA certificate"
		}
		cur, walked = next, walked+1
	}
	switch {
	case walked == 1:
		return ""
	case bad != "":
		return bad
	case !sslClientPurpose(certs[0]):
		return "unsupported certificate purpose"
	case crls:
		return "unable to get certificate CRL"
	}
	return ""
}

// unknownAuthority is OpenSSL 3's reason for a chain, certs as the client
// sent it, that reaches none of the CAs.
func unknownAuthority(certs []*x509.Certificate) string {
	last := certs[len(certs)-1]
	selfSigned := likelySelfIssued(last)
	switch {
	case len(certs) == 1 && selfSigned:
		return "self-signed certificate"
	case len(certs) == 1:
		return "unable to verify the first certificate"
	case selfSigned:
		return "self-signed certificate in certificate chain"
	default:
		return "unable to get local issuer certificate"
	}
}

// likelySelfIssued reports whether OpenSSL 3 takes c for self-signed
// (X509_self_signed without verifying the signature): its issuer is its
// subject and its authority key identifier, if any, is its own subject key
// identifier. Unlike Go's CheckSignatureFrom it does not ask c to be a CA.
func likelySelfIssued(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) &&
		(len(c.AuthorityKeyId) == 0 || len(c.SubjectKeyId) == 0 || bytes.Equal(c.AuthorityKeyId, c.SubjectKeyId))
}

// checkCRLs applies ca.crl to chain (leaf first, trust anchor last) as
// nginx's ssl_crl does (OpenSSL's CRL_CHECK and CRL_CHECK_ALL): with any
// CRL, every certificate of the chain, the anchor included, needs a CRL of
// its issuer (the anchor's own for the anchor) that is current and does
// not list it. It returns "" or OpenSSL's reason.
func (a *compiledAuth) checkCRLs(chain []*x509.Certificate, now time.Time) string {
	if len(a.crls) == 0 {
		return ""
	}
	for i, c := range chain {
		issuer := c
		if i+1 < len(chain) {
			issuer = chain[i+1]
		}
		var crl *x509.RevocationList
		for _, l := range a.crls {
			if bytes.Equal(l.RawIssuer, issuer.RawSubject) && l.CheckSignatureFrom(issuer) == nil {
				crl = l
				break
			}
		}
		switch {
		case crl == nil:
			return "unable to get certificate CRL"
		case now.Before(crl.ThisUpdate):
			return "CRL is not yet valid"
		case !crl.NextUpdate.IsZero() && now.After(crl.NextUpdate):
			return "CRL has expired"
		}
		for _, e := range crl.RevokedCertificateEntries {
			if e.SerialNumber.Cmp(c.SerialNumber) == 0 {
				return "certificate revoked"
			}
		}
	}
	return ""
}

// certError answers a request whose client certificate is missing or
// invalid: 400 with nginx's page, or a 302 to auth-tls-error-page, as
// nginx's error_page 495 496 = page. Either way the connection closes, as
// nginx ends keep-alive after these errors.
func (p *Proxy) certError(w http.ResponseWriter, r *http.Request, page, reason string) {
	w.Header().Set("Connection", "close")
	if page != "" {
		w.Header().Set("Location", page)
		writeCertPage(w, http.StatusFound, "", "", "")
		return
	}
	writeCertPage(w, http.StatusBadRequest, reason, "", "")
}

// writeCertPage writes nginx's HTML error page of status: with reason, the
// pages of its 495 and 496 (status 400); with body, that text alone, as
// nginx's "return 403 text", of type defaultType (default-type; "" means
// text/html).
func writeCertPage(w http.ResponseWriter, status int, reason, body, defaultType string) {
	text := strconv.Itoa(status) + " " + http.StatusText(status)
	var page string
	switch {
	case body != "":
		page = body
		ct := "text/html" // nginx's default_type in ingress-nginx
		if defaultType != "" {
			ct = defaultType // default-type
		}
		w.Header().Set("Content-Type", ct)
	case reason != "":
		page = "<html>\r\n<head><title>" + strconv.Itoa(status) + " " + reason + "</title></head>\r\n<body>\r\n" +
			"<center><h1>" + text + "</h1></center>\r\n<center>" + reason + "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
		w.Header().Set("Content-Type", "text/html")
	default:
		page = "<html>\r\n<head><title>" + text + "</title></head>\r\n<body>\r\n<center><h1>" + text +
			"</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
		w.Header().Set("Content-Type", "text/html")
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(page)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(page))
}

// escapeComponent escapes b as nginx's ngx_escape_uri with
// NGX_ESCAPE_URI_COMPONENT ($ssl_client_escaped_cert): every byte but
// letters, digits, '-', '.', '_' and '~' as %XX, upper-case hex.
func escapeComponent(b []byte) string {
	const hex = "0123456789ABCDEF"
	out := make([]byte, 0, len(b)*3/2)
	for _, c := range b {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			out = append(out, c)
			continue
		}
		out = append(out, '%', hex[c>>4], hex[c&15])
	}
	return string(out)
}

package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// The protocol to an upstream is the route's backend-protocol: HTTP and
// HTTPS go through the pooled HTTP/1.1 client of forward.go, whose idle
// connections are keyed by address and, for HTTPS, by TLS settings; GRPC,
// GRPCS and H2C through one net/http HTTP/2 Transport per protocol and TLS
// settings (h2.go), which multiplexes requests on its connections. TLS to
// an upstream is nginx's proxy_ssl_*: without proxy-ssl-secret no
// certificate is verified, no client certificate is sent and no SNI; with
// it, the settings of annotations.ProxySSL and the material of
// snapshot.UpstreamTLS. Dial and handshake share the connect timeout
// (proxy_connect_timeout bounds both in nginx); a failed handshake is a
// connection error (502, next upstream "error").

// upstreamKind is how a request reaches its upstream: the protocol and the
// TLS client settings, compiled once per distinct configuration.
type upstreamKind struct {
	protocol annotations.Protocol
	tls      *tls.Config // nil for clear text
	key      string      // distinguishes kinds in the pool keys: "" for HTTP
}

// plainHTTP is the kind of a route without backend-protocol.
var plainHTTP = &upstreamKind{protocol: annotations.ProtocolHTTP}

// upstreamKinds caches the kinds by the snapshot objects they are made
// from, which are immutable; it is cleared when it grows past a bound (a
// kind is cheap to make again).
type upstreamKinds struct {
	mu    sync.Mutex
	kinds map[kindSource]*upstreamKind
}

type kindSource struct {
	u   *annotations.Upstream
	tls *snapshot.UpstreamTLS
}

const maxUpstreamKinds = 4096

// kindOf returns the kind of be for a request that came over TLS (https)
// or not, or an error when its TLS material does not load (Build
// validated it: only a corrupted Snapshot).
func (k *upstreamKinds) kindOf(be *snapshot.Backend, https bool) (*upstreamKind, error) {
	u := be.Proxy.Upstream
	if u == nil || u.Protocol == "" || u.Protocol.For(https) == annotations.ProtocolHTTP {
		return plainHTTP, nil
	}
	src := kindSource{u, be.UpstreamTLS}
	k.mu.Lock()
	defer k.mu.Unlock()
	if kind := k.kinds[src]; kind != nil {
		return kind, nil
	}
	kind, err := newUpstreamKind(u, be.UpstreamTLS)
	if err != nil {
		return nil, err
	}
	if k.kinds == nil || len(k.kinds) >= maxUpstreamKinds {
		k.kinds = make(map[kindSource]*upstreamKind)
	}
	k.kinds[src] = kind
	return kind, nil
}

// newUpstreamKind compiles the TLS client settings of u with the material
// of t (nil: none).
func newUpstreamKind(u *annotations.Upstream, t *snapshot.UpstreamTLS) (*upstreamKind, error) {
	// AUTO_HTTP reaches here over TLS only (kindOf), so it is HTTPS, and
	// the cache holds that one kind for it.
	proto := u.Protocol.For(true)
	kind := &upstreamKind{protocol: proto, key: string(proto)}
	if !proto.TLS() {
		return kind, nil
	}
	// Without proxy-ssl-secret: no verification, no SNI, no client
	// certificate, nginx's defaults.
	// The session cache is nginx's proxy_ssl_session_reuse, which
	// nginx.tmpl turns on: a new connection to an endpoint resumes the
	// TLS session of an earlier one (seen with nginx 1.22.1).
	cfg := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12, ClientSessionCache: tls.NewLRUClientSessionCache(0)}
	h := sha256.New()
	if s := u.SSL; s != nil && t != nil {
		if t.CAPEM != nil {
			// nginx.tmpl writes proxy_ssl_protocols and proxy_ssl_ciphers
			// (with proxy_ssl_verify) only for a Secret with ca.crt:
			// without one nginx's defaults apply.
			cfg.MinVersion, cfg.MaxVersion, cfg.CipherSuites = s.MinVersion, s.MaxVersion, s.CipherSuites
		}
		if s.ServerNameOn {
			// Sent as SNI; crypto/tls verifies nothing (InsecureSkipVerify):
			// VerifyConnection does when proxy-ssl-verify is on.
			cfg.ServerName = s.VerifyName()
		}
		if t.CertPEM != nil {
			pair, err := tls.X509KeyPair(t.CertPEM, t.KeyPEM)
			if err != nil {
				return nil, fmt.Errorf("load client certificate of secret %s/%s: %w", t.Secret.Namespace, t.Secret.Name, err)
			}
			cfg.Certificates = []tls.Certificate{pair}
		}
		if s.Verify {
			// CAPEM is ingress-nginx's proxy_ssl_trusted_certificate file
			// (ca.crt, and tls.crt with a pair): OpenSSL trusts every
			// certificate in it.
			cas, err := parseCertificates(t.CAPEM)
			if err != nil {
				return nil, fmt.Errorf("load ca.crt of secret %s/%s: %w", t.Secret.Namespace, t.Secret.Name, err)
			}
			cfg.VerifyConnection = verifyUpstream(cas, s.VerifyName(), s.VerifyDepth)
		}
		fmt.Fprintf(h, "%s|%v|%d|%s|%v|%d|%d|%v|", t.Secret.Namespace+"/"+t.Secret.Name, s.Verify, s.VerifyDepth, s.Name, s.ServerNameOn, s.MinVersion, s.MaxVersion, s.CipherSuites)
		h.Write(t.CertPEM)
		h.Write([]byte{0})
		h.Write(t.KeyPEM)
		h.Write([]byte{0})
		h.Write(t.CAPEM)
	}
	if cfg.CipherSuites == nil {
		// nginx's proxy_ssl_ciphers default, DEFAULT, whatever the
		// Secret: Go's client defaults lack its RSA key exchange and CBC
		// suites, which some endpoints need.
		cfg.CipherSuites = annotations.OpenSSLDefaultCiphers()
	}
	if proto.HTTP2() {
		cfg.NextProtos = []string{"h2"}
	}
	kind.tls = cfg
	kind.key += "/" + hex.EncodeToString(h.Sum(nil)[:12])
	return kind, nil
}

// errUpstreamCertificate marks an upstream certificate proxy-ssl-verify
// refused.
var errUpstreamCertificate = errors.New("upstream certificate verify error")

// verifyUpstream is proxy_ssl_verify on, as OpenSSL verifies for nginx:
// the chain the upstream presents must lead, through its own certificates
// and those of cas, to a self-signed certificate of cas (OpenSSL's
// trust anchor: a CA of cas that is not self-signed is only an
// intermediate, as nginx sets no X509_V_FLAG_PARTIAL_CHAIN), with at most
// depth certificates between the upstream's and that anchor (OpenSSL's
// verify depth: depth d allows chains of d+2), and the upstream's
// certificate must be valid for name.
func verifyUpstream(cas []*x509.Certificate, name string, depth int) func(tls.ConnectionState) error {
	roots, known := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range cas {
		if selfSigned(c) {
			roots.AddCert(c)
		} else {
			known.AddCert(c)
		}
	}
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("%w: no certificate", errUpstreamCertificate)
		}
		inter := known.Clone()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		chains, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: name})
		if err != nil {
			return fmt.Errorf("%w: %w", errUpstreamCertificate, err)
		}
		for _, ch := range chains {
			if len(ch) <= depth+2 {
				return nil
			}
		}
		return fmt.Errorf("%w: certificate chain longer than proxy-ssl-verify-depth %d", errUpstreamCertificate, depth)
	}
}

// selfSigned reports whether c is issued by its own subject and signed by
// its own key: what OpenSSL takes as the end of a chain.
func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// parseCertificates returns the certificates of the PEM blocks of b,
// skipping what does not parse as x509.CertPool's AppendCertsFromPEM (the
// check of the Secret's ca.crt), or an error when none does.
func parseCertificates(b []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(blk.Bytes); err == nil {
			certs = append(certs, c)
		}
	}
	if len(certs) == 0 {
		return nil, errors.New("no certificate")
	}
	return certs, nil
}

// dial connects to addr for kind within the connect timeout of the
// exchange in ctx, TLS handshake included. Every error is a *dialError.
func (p *Proxy) dialKind(ctx context.Context, kind *upstreamKind, addr string) (net.Conn, error) {
	ex := exchangeFrom(ctx)
	c, err := p.pool.dial.DialContext(ctx, "tcp", addr)
	if err != nil || kind.tls == nil {
		return c, err
	}
	tc := tls.Client(c, kind.tls)
	hctx := ctx
	if ex != nil && ex.timeouts.connect > 0 {
		var cancel context.CancelFunc
		hctx, cancel = context.WithTimeout(ctx, ex.timeouts.connect)
		defer cancel()
	}
	if err := tc.HandshakeContext(hctx); err != nil {
		c.Close()
		if hctx.Err() != nil && ctx.Err() == nil {
			err = fmt.Errorf("%w: tls handshake: %w", errConnectTimeout, err)
		}
		return nil, &dialError{addr: addr, err: fmt.Errorf("tls handshake: %w", err)}
	}
	return tc, nil
}

// poolKey is the key of addr's idle connections of kind.
func (kind *upstreamKind) poolKey(addr string) string {
	if kind.key == "" {
		return addr
	}
	return kind.key + "|" + addr
}

// upstreamDenial reports whether be's proxy-ssl-secret or custom-headers
// failed, for which ingress-nginx denies the location (503).
func upstreamDenial(be *snapshot.Backend) bool {
	return be.UpstreamTLS != nil && be.UpstreamTLS.Denied != "" ||
		be.Proxy.CustomHeaders != nil && be.Proxy.CustomHeaders.Invalid != ""
}

// accessDenial reports whether be's source ranges or authentication did
// not parse, for which the route is denied (503) as ingress-nginx denies
// the location; the access phase (auth.go) answers and counts it.
func accessDenial(be *snapshot.Backend) bool {
	return be.Proxy.SourceRange != nil && be.Proxy.SourceRange.Denied() != "" ||
		be.Proxy.Auth != nil && be.Proxy.Auth.Invalid != ""
}

// nginxBodySize is nginx's default client_max_body_size, 1m: the limit of
// a location whose nginx.tmpl block writes none.
const nginxBodySize = 1 << 20

// dialUpgrade connects to ex.upstream for a protocol upgrade of a request
// that came over TLS (https) or not: over TLS for an HTTPS route (or
// AUTO_HTTP over TLS), else in clear text (an upgrade is HTTP/1.1).
func (p *Proxy) dialUpgrade(ctx context.Context, ex *exchange, https bool) (net.Conn, error) {
	kind, err := p.kinds.kindOf(ex.route.Backend, https)
	if err != nil {
		return nil, &dialError{addr: ex.upstream.Addr, err: err}
	}
	if kind.protocol != annotations.ProtocolHTTPS {
		kind = plainHTTP
	}
	return p.dialKind(ctx, kind, ex.upstream.Addr)
}

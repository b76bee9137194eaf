package snapshot

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/weir-lb/weir/userspace/annotations"
)

// ServerTLS is the server-level TLS configuration of one host, as
// ingress-nginx sets it on the nginx server block: the first Ingress of the
// host (oldest first) that sets a setting configures it.
type ServerTLS struct {
	// ClientAuth is the client certificate verification of the host
	// (auth-tls-*). Nil means none.
	ClientAuth *ClientAuth `json:"clientAuth,omitempty"`
	// Ciphers are the TLS 1.2 cipher suites of the host's handshakes
	// (ssl-ciphers). Nil means the ConfigMap's.
	Ciphers []uint16 `json:"ciphers,omitempty"`
	// PreferServerCiphers is ssl-prefer-server-ciphers, "on" or "off"; ""
	// means not set. Go's choice of suite does not depend on it.
	PreferServerCiphers string `json:"preferServerCiphers,omitempty"`
	// Passthrough sends the TLS connections whose SNI is the host, not
	// terminated, to the endpoints of the host's "/" Prefix path
	// (ssl-passthrough with Options.EnableSSLPassthrough). Default false.
	Passthrough bool `json:"passthrough,omitempty"`
}

// ClientAuth is the client certificate verification of a host: the CA
// bundle of an auth-tls-secret and the auth-tls settings of the Ingress
// that named it.
type ClientAuth struct {
	// Ingress is the Ingress whose annotations configured the host.
	Ingress ObjectRef `json:"ingress"`
	// Secret is the Secret of CAPEM; zero when Denied says it was not
	// usable.
	Secret ObjectRef `json:"secret,omitzero"`
	// CAPEM is the Secret's ca.crt: the CA certificates, PEM, every one of
	// which parsed.
	CAPEM []byte `json:"caPEM,omitempty"`
	// CRLPEM is the Secret's ca.crl, PEM; nil means no revocation list.
	CRLPEM []byte `json:"crlPEM,omitempty"`
	// Settings are the auth-tls annotations of Ingress (Invalid empty).
	Settings annotations.AuthTLS `json:"settings"`
	// Denied, when not empty, is why the host's client certificate
	// verification is not usable: every request to the host gets 403
	// (ingress-nginx's AuthTLSError). Default "".
	Denied string `json:"denied,omitempty"`
}

// serverTLS sets the TLS of each Server of s from the annotations of ings
// (served, oldest first), reading auth-tls Secrets from secrets.
func (b *builder) serverTLS(secrets []*corev1.Secret, ings []*ingress, s *Snapshot) {
	byHost := map[string]*ServerTLS{}
	get := func(host string) *ServerTLS {
		t := byHost[host]
		if t == nil {
			t = &ServerTLS{}
			byHost[host] = t
		}
		return t
	}
	var secretIndex map[nsName]*corev1.Secret
	for _, ing := range ings {
		cfg := &ing.cfg
		if cfg.Canary.Enabled || cfg.AuthTLS == nil && cfg.SSLCipher.Ciphers == nil && cfg.SSLCipher.PreferServerCiphers == "" && !cfg.SSLPassthrough {
			continue
		}
		var auth *ClientAuth
		if cfg.AuthTLS != nil {
			if secretIndex == nil {
				secretIndex = make(map[nsName]*corev1.Secret)
				for _, sec := range secrets {
					if sec != nil {
						secretIndex[nsName{sec.Namespace, sec.Name}] = sec
					}
				}
			}
			auth = b.clientAuth(ing, secretIndex)
		}
		passthrough := cfg.SSLPassthrough && b.opts.EnableSSLPassthrough
		if cfg.SSLPassthrough && !b.opts.EnableSSLPassthrough {
			b.warn(ing.ref, ReasonInvalidAnnotation, "annotation %sssl-passthrough is ignored: --enable-ssl-passthrough is not set", annotations.Prefix)
		}
		for _, rule := range ing.obj.Spec.Rules {
			host := strings.ToLower(rule.Host)
			if rule.HTTP == nil || host != "" && !validHost(host) {
				continue
			}
			t := get(host)
			switch {
			case auth == nil:
			case auth.Denied != "":
				// A denial wins over any verification (nginx's return 403 at
				// the server level); the first one is kept.
				if t.ClientAuth == nil || t.ClientAuth.Denied == "" {
					t.ClientAuth = auth
				}
			case t.ClientAuth == nil:
				t.ClientAuth = auth
			}
			if t.Ciphers == nil {
				t.Ciphers = cfg.SSLCipher.Ciphers
			}
			if t.PreferServerCiphers == "" {
				t.PreferServerCiphers = cfg.SSLCipher.PreferServerCiphers
			}
			t.Passthrough = t.Passthrough || passthrough && host != ""
		}
	}
	for i := range s.Servers {
		if t := byHost[s.Servers[i].Host]; t != nil && !reflect.ValueOf(*t).IsZero() {
			s.Servers[i].TLS = t
		}
	}
}

// clientAuth resolves the auth-tls Secret of ing. A problem is reported on
// ing and denies its hosts (fails closed).
func (b *builder) clientAuth(ing *ingress, secrets map[nsName]*corev1.Secret) *ClientAuth {
	a := *ing.cfg.AuthTLS
	auth := &ClientAuth{Ingress: ing.ref}
	deny := func(format string, args ...any) *ClientAuth {
		auth.Denied = fmt.Sprintf(format, args...)
		b.warn(ing.ref, ReasonInvalidAnnotation, "%s; the hosts of the ingress answer 403 to every request", auth.Denied)
		return auth
	}
	if a.Invalid != "" {
		auth.Denied = a.Invalid // reported with the annotations
		return auth
	}
	key := annotations.Prefix + "auth-tls-secret"
	ns, name, err := annotations.SplitAuthTLSSecret(a.Secret)
	if err != nil {
		return deny("annotation %s: value %q: %v", key, a.Secret, err)
	}
	if ns == "" {
		ns = ing.obj.Namespace
	}
	if ns != ing.obj.Namespace && !b.crossNamespace {
		return deny("annotation %s: secret %s/%s is in another namespace, which allow-cross-namespace-resources refuses by default", key, ns, name)
	}
	sec := secrets[nsName{ns, name}]
	if sec == nil {
		return deny("annotation %s: secret %s/%s not found", key, ns, name)
	}
	ca := secretValue(sec, "ca.crt")
	if err := parsePEMs(ca, "CERTIFICATE", func(der []byte) error { _, err := x509.ParseCertificate(der); return err }); err != nil {
		return deny("annotation %s: ca.crt of secret %s/%s: %v", key, ns, name, err)
	}
	crl := secretValue(sec, "ca.crl")
	if crl != nil {
		if err := parsePEMs(crl, "X509 CRL", func(der []byte) error { _, err := x509.ParseRevocationList(der); return err }); err != nil {
			return deny("annotation %s: ca.crl of secret %s/%s: %v", key, ns, name, err)
		}
	}
	a.Secret = ns + "/" + name
	auth.Secret = ObjectRef{Kind: "Secret", Namespace: ns, Name: name}
	auth.CAPEM, auth.CRLPEM, auth.Settings = ca, crl, a
	return auth
}

// parsePEMs checks that data holds at least one PEM block, every one of
// type typ and accepted by parse.
func parsePEMs(data []byte, typ string, parse func(der []byte) error) error {
	n := 0
	for rest := data; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			if strings.TrimSpace(string(rest)) != "" {
				return errors.New("holds data that is not PEM")
			}
			break
		}
		if block.Type != typ {
			return fmt.Errorf("holds a PEM block of type %q, not %q", block.Type, typ)
		}
		if err := parse(block.Bytes); err != nil {
			return fmt.Errorf("parse: %w", err)
		}
	}
	if n == 0 {
		return fmt.Errorf("is missing or holds no %s", typ)
	}
	return nil
}

// equal reports whether t and o (either nil) are the same settings.
func (t *ServerTLS) equal(o *ServerTLS) bool {
	if t == o {
		return true
	}
	if t == nil || o == nil {
		return false
	}
	return reflect.DeepEqual(t, o)
}

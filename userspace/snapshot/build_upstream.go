package snapshot

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/weir-lb/weir/userspace/annotations"
)

// UpstreamTLS is the material of a route's proxy-ssl-secret
// (annotations.ProxySSL), validated by Build. The proxy uses it for HTTPS
// and GRPCS endpoints only; Denied applies to every protocol, as
// ingress-nginx denies a location whose proxy-ssl-secret fails.
type UpstreamTLS struct {
	// Secret is the Secret the material comes from.
	Secret ObjectRef `json:"secret"`
	// CertPEM and KeyPEM are tls.crt, followed by ca.crt, and tls.key:
	// the client certificate and the chain sent with it to the endpoints
	// (those of ingress-nginx's proxy_ssl_certificate file), set only with
	// CAPEM (ingress-nginx writes proxy_ssl_certificate for a Secret with
	// ca.crt only). Nil means none.
	CertPEM []byte `json:"certPEM,omitempty"`
	KeyPEM  []byte `json:"keyPEM,omitempty"`
	// CAPEM is ca.crt, followed by the Secret's tls.crt when it has a key
	// pair: the certificates trusted to verify the endpoints' certificates
	// (proxy-ssl-verify), those of ingress-nginx's
	// proxy_ssl_trusted_certificate file, which holds both. Nil means none.
	CAPEM []byte `json:"caPEM,omitempty"`
	// Denied, when not empty, says why the route answers 503: the Secret
	// is missing, in another namespace, invalid, or has no ca.crt while
	// proxy-ssl-verify is on (failing closed). Default "".
	Denied string `json:"denied,omitempty"`
}

// secret returns the Secret ns/name of the build's objects, or nil.
func (b *builder) secret(ns, name string) *corev1.Secret {
	if b.secrets == nil {
		b.secrets = make(map[nsName]*corev1.Secret, len(b.secretList))
		for _, s := range b.secretList {
			if s != nil {
				b.secrets[nsName{s.Namespace, s.Name}] = s
			}
		}
	}
	return b.secrets[nsName{ns, name}]
}

// upstreamTLS resolves the proxy-ssl-secret of be, defined by ing, into
// be.UpstreamTLS; a problem denies the route and warns.
func (b *builder) upstreamTLS(ing *ingress, be *Backend) {
	if u := be.Proxy.Upstream; u != nil && u.SSL != nil {
		be.UpstreamTLS = b.proxySSLMaterial(ing, u)
	}
}

// proxySSLMaterial resolves u.SSL's Secret for ing (the same warnings
// each time).
func (b *builder) proxySSLMaterial(ing *ingress, u *annotations.Upstream) *UpstreamTLS {
	ns, name, _ := strings.Cut(u.SSL.Secret, "/")
	t := &UpstreamTLS{Secret: ObjectRef{Kind: "Secret", Namespace: ns, Name: name}}
	b.fillProxySSLMaterial(ing, u, t, ns, name)
	return t
}

// fillProxySSLMaterial fills t from the Secret ns/name, or denies it.
func (b *builder) fillProxySSLMaterial(ing *ingress, u *annotations.Upstream, t *UpstreamTLS, ns, name string) {
	// Warned as InvalidAnnotation: SecretNotFound and InvalidCertificate
	// are the spec.tls warnings, which a scoped build recomputes apart.
	deny := func(format string, args ...any) {
		t.Denied = fmt.Sprintf(format, args...)
		b.warn(ing.ref, ReasonInvalidAnnotation, "annotation %sproxy-ssl-secret: %s; its routes answer 503", annotations.Prefix, t.Denied)
	}
	switch sec := b.secret(ns, name); {
	case ns == "" || name == "":
		t.Denied = "invalid secret reference" // warned by the annotation's parser
	case ns != ing.obj.Namespace && !b.crossNamespace: // allow-cross-namespace-resources
		deny("secret %s/%s is not in the ingress's namespace", ns, name)
	case sec == nil:
		deny("secret %s/%s not found", ns, name)
	default:
		// As ingress-nginx's getPemCertificate: tls.crt and tls.key (both
		// keys present) make a key pair, which must be valid; ca.crt then
		// makes them the client certificate and, with ca.crt, the trusted
		// file (proxy_ssl_trusted_certificate holds the pair's certificates
		// and ca.crt). A pair without ca.crt is no client certificate:
		// nginx.tmpl writes proxy_ssl_certificate for a Secret with ca.crt
		// only. Without a pair (tls.key or tls.crt absent) ca.crt alone
		// counts.
		crt, hasCrt := sec.Data[corev1.TLSCertKey]
		key, hasKey := sec.Data[corev1.TLSPrivateKeyKey]
		ca := sec.Data["ca.crt"]
		pair := hasCrt && hasKey
		if pair {
			if _, err := tls.X509KeyPair(crt, key); err != nil {
				deny("secret %s/%s: tls.crt and tls.key: %v", ns, name, err)
				return
			}
		}
		if len(ca) > 0 {
			if !x509.NewCertPool().AppendCertsFromPEM(ca) {
				deny("secret %s/%s: ca.crt holds no PEM certificate", ns, name)
				return
			}
			t.CAPEM = ca
			if pair {
				// ingress-nginx's file is tls.crt, tls.key and ca.crt, and
				// nginx sends every certificate of it after the first as
				// the client's chain (nginx 1.22.1: tls.crt's, then
				// ca.crt's).
				t.CertPEM, t.KeyPEM = bytes.Join([][]byte{crt, ca}, []byte("\n")), key
				t.CAPEM = bytes.Join([][]byte{ca, crt}, []byte("\n"))
			}
		}
		switch {
		case !pair && t.CAPEM == nil:
			deny("secret %s/%s has neither tls.crt and tls.key nor ca.crt", ns, name)
		case u.SSL.Verify && t.CAPEM == nil:
			deny("secret %s/%s has no ca.crt to verify the endpoints with (proxy-ssl-verify is on)", ns, name)
		case t.CAPEM == nil:
			b.warn(ing.ref, ReasonInvalidAnnotation, "annotation %sproxy-ssl-secret: secret %s/%s has no ca.crt: no client certificate is sent, as ingress-nginx",
				annotations.Prefix, ns, name)
		}
	}
}

// serverSSL is the proxy-ssl-* of a host's server block in ingress-nginx:
// the settings and material of the first Ingress of the host whose Secret
// has a ca.crt.
type serverSSL struct {
	ssl *annotations.ProxySSL
	tls *UpstreamTLS
}

// serverProxySSL gives the HTTPS and GRPCS routes of each Server what
// ingress-nginx writes in its server block when proxy-ssl-location-only is
// "false" (the default): the proxy_ssl_* lines of the first Ingress of the
// host (oldest first, canaries included) whose proxy-ssl-secret resolves
// with a ca.crt, which nginx's locations inherit line by line where they
// write none of their own. A location writes proxy_ssl_trusted_certificate,
// _ciphers, _protocols, _verify and _verify_depth for a Secret with
// ca.crt, proxy_ssl_certificate for one with a key pair beside it,
// proxy_ssl_name when proxy-ssl-name is set and proxy_ssl_server_name for
// any Secret that resolves; the server block writes proxy_ssl_name and
// proxy_ssl_server_name only with a proxy-ssl-name. A denied route stays
// denied.
func (b *builder) serverProxySSL(ings []*ingress, s *Snapshot) {
	if b.proxySSLLocationOnly {
		return
	}
	byHost := map[string]*serverSSL{}
	for _, ing := range ings {
		u := ing.cfg.Proxy.Upstream
		if u == nil || u.SSL == nil {
			continue
		}
		var t *UpstreamTLS
		for _, rule := range ing.obj.Spec.Rules {
			host := strings.ToLower(rule.Host)
			if rule.HTTP == nil || byHost[host] != nil {
				continue
			}
			if t == nil {
				t = b.proxySSLMaterial(ing, u)
			}
			if t.Denied == "" && t.CAPEM != nil {
				byHost[host] = &serverSSL{ssl: u.SSL, tls: t}
			}
		}
	}
	for i := range s.Servers {
		srv := byHost[s.Servers[i].Host]
		if srv == nil {
			continue
		}
		for j := range s.Servers[i].Paths {
			p := &s.Servers[i].Paths[j]
			if !inheritProxySSL(&p.Backend, srv) {
				continue
			}
			// A canary's request goes through the main rule's location:
			// its proxy_ssl_* lines.
			for k := range p.Canaries {
				if c := &p.Canaries[k].Backend; c.UpstreamTLS == nil || c.UpstreamTLS.Denied == "" {
					c.Proxy.Upstream, c.UpstreamTLS = p.Backend.Proxy.Upstream, p.Backend.UpstreamTLS
				}
			}
		}
	}
}

// inheritProxySSL completes be's proxy-ssl-* with the server block's srv,
// as nginx inherits each proxy_ssl_* line be's location does not write; it
// reports whether it did.
func inheritProxySSL(be *Backend, srv *serverSSL) bool {
	u := be.Proxy.Upstream
	if u == nil || !u.Protocol.For(true).TLS() {
		return false // no TLS to the endpoints
	}
	own, mine := u.SSL, be.UpstreamTLS
	if mine != nil && mine.Denied != "" || mine != nil && mine.CAPEM != nil && mine.CertPEM != nil && own.Name != "" {
		return false // denied, or every line its own
	}
	e, t := *srv.ssl, &UpstreamTLS{Secret: srv.tls.Secret, CAPEM: srv.tls.CAPEM, CertPEM: srv.tls.CertPEM, KeyPEM: srv.tls.KeyPEM}
	if srv.ssl.Name == "" {
		e.ServerNameOn = false // the server block writes no proxy_ssl_server_name
	}
	if mine != nil {
		e.ServerNameOn = own.ServerNameOn
		if own.Name != "" {
			e.Name = own.Name
		}
		if mine.CAPEM != nil {
			e.Verify, e.VerifyDepth, e.MinVersion, e.MaxVersion, e.CipherSuites = own.Verify, own.VerifyDepth, own.MinVersion, own.MaxVersion, own.CipherSuites
			t.Secret, t.CAPEM = mine.Secret, mine.CAPEM
		}
		if mine.CertPEM != nil {
			t.CertPEM, t.KeyPEM = mine.CertPEM, mine.KeyPEM
		}
	}
	e.Secret = t.Secret.Namespace + "/" + t.Secret.Name
	c := *u
	c.SSL = &e
	be.Proxy.Upstream, be.UpstreamTLS = &c, t
	return true
}

// errorBackend resolves the default-backend annotation of be, defined by
// ing, into be.ErrorBackend: the Service of ing's namespace on its first
// port, spoken to in plain HTTP, as ingress-nginx's custom default
// backend. Its problems are warned like a route's.
func (b *builder) errorBackend(ing *ingress, be *Backend) {
	u := be.Proxy.Upstream
	if u == nil || u.DefaultBackend == "" {
		return
	}
	ib := b.firstPort(ing.obj.Namespace, u.DefaultBackend)
	// Its own settings are the Ingress's, without the backend family: no
	// interception, no TLS, no default backend of its own.
	owner := *ing
	owner.cfg.Proxy.Upstream = nil
	if eb, ok := b.backend(&owner, ib); ok {
		be.ErrorBackend = &eb
	}
}

// firstPort returns the IngressBackend of the Service ns/name on its first
// port.
func (b *builder) firstPort(ns, name string) *networkingv1.IngressBackend {
	ib := &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: name}}
	if svc := b.services[nsName{ns, name}]; svc != nil && len(svc.Spec.Ports) > 0 {
		ib.Service.Port.Number = svc.Spec.Ports[0].Port
	} else {
		ib.Service.Port.Number = 80 // unused: the Service or its port is missing, and says so
	}
	return ib
}

// serviceUpstream returns the ClusterIP endpoint of svc's port sp when
// ing sets service-upstream, as ingress-nginx: a Service without ClusterIP
// keeps its endpoints, with a warning.
func (b *builder) serviceUpstream(ing *ingress, svc *corev1.Service, sp *corev1.ServicePort) ([]string, bool) {
	if u := ing.cfg.Proxy.Upstream; u == nil || !u.ServiceUpstream {
		return nil, false
	}
	ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
	if err != nil || sp.Port <= 0 || sp.Port > 65535 {
		b.warn(ing.ref, ReasonInvalidAnnotation, "annotation %sservice-upstream: service %s/%s has no ClusterIP; its endpoints are used",
			annotations.Prefix, svc.Namespace, svc.Name)
		return nil, false
	}
	return []string{netip.AddrPortFrom(ip, uint16(sp.Port)).String()}, true
}

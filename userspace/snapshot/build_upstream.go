package snapshot

import (
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
	// CertPEM and KeyPEM are tls.crt and tls.key: the client certificate
	// sent to the endpoints, set only with CAPEM (ingress-nginx writes
	// proxy_ssl_certificate for a Secret with ca.crt only); CertPEM's
	// certificates are also trusted with CAPEM's, as they share nginx's
	// proxy_ssl_trusted_certificate file. Nil means none.
	CertPEM []byte `json:"certPEM,omitempty"`
	KeyPEM  []byte `json:"keyPEM,omitempty"`
	// CAPEM is ca.crt: the CAs that verify the endpoints' certificates
	// (proxy-ssl-verify). Nil means none.
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
	u := be.Proxy.Upstream
	if u == nil || u.SSL == nil {
		return
	}
	ns, name, _ := strings.Cut(u.SSL.Secret, "/")
	t := &UpstreamTLS{Secret: ObjectRef{Kind: "Secret", Namespace: ns, Name: name}}
	be.UpstreamTLS = t
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
				t.CertPEM, t.KeyPEM = crt, key
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

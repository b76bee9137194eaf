package snapshot

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/weir-lb/weir/userspace/annotations"
)

// Warning reasons of TLS.
const (
	// ReasonSecretNotFound: a spec.tls secretName (or the default
	// certificate) names no Secret.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonInvalidCertificate: the Secret is not of type kubernetes.io/tls,
	// lacks tls.crt or tls.key, or they do not parse as a matching pair.
	ReasonInvalidCertificate = "InvalidCertificate"
)

// tlsResult is what the spec.tls sections and the Secrets give: the hosts
// with TLS, the certificates and the default certificate. It is immutable.
type tlsResult struct {
	hosts map[string]bool
	certs []Certificate
	def   *Certificate
	// leaves are the leaf certificates of the hosts claimed by one of
	// certs (build_rewrite.go checks that they cover a www redirect).
	leaves map[string]*x509.Certificate
}

// certificates validates the certificates of the spec.tls sections of
// tlsIngs (served, oldest first) and the default certificate, and collects
// the hosts with TLS. Hosts whose Secret is missing or invalid keep their
// redirect and HSTS (as in ingress-nginx) and are served the default
// certificate.
func (b *builder) certificates(objs Objects, tlsIngs []*ingress) *tlsResult {
	b.certs.next()
	tr := &tlsResult{leaves: map[string]*x509.Certificate{}}
	secrets := map[string]*corev1.Secret{}
	for _, sec := range objs.Secrets {
		if sec != nil {
			secrets[sec.Namespace+"/"+sec.Name] = sec
		}
	}
	// Hosts with TLS, and the valid certificates by Secret.
	tlsHosts := map[string]bool{}
	certs := map[string]*Certificate{}
	leaves := map[string]*x509.Certificate{}
	claimed := map[string]bool{}
	for _, ing := range tlsIngs {
		for _, t := range ing.obj.Spec.TLS {
			var hosts []string
			for _, h := range t.Hosts {
				h = strings.TrimSuffix(strings.ToLower(h), ".")
				if h == "" {
					continue
				}
				tlsHosts[h] = true
				hosts = append(hosts, h)
			}
			if t.SecretName == "" {
				// ingress-nginx serves the default certificate for these
				// hosts: so does Weir, quietly.
				continue
			}
			key := ing.obj.Namespace + "/" + t.SecretName
			c, ok := certs[key]
			if !ok {
				var leaf *x509.Certificate
				c, leaf, ok = b.certificate(ing.ref, secrets[key], ing.obj.Namespace, t.SecretName, hosts)
				if !ok {
					continue
				}
				certs[key] = c
				leaves[key] = leaf
			}
			// A host is claimed, for SNI, by the oldest Ingress whose
			// certificate covers it (as ingress-nginx): a younger Ingress,
			// or one in another namespace, cannot take a host's name with a
			// certificate that does not match it.
			for _, h := range hosts {
				if claimed[h] {
					continue
				}
				if !covers(leaves[key], h) {
					b.warn(ing.ref, ReasonInvalidCertificate, "tls secret %s/%s does not cover host %s; it is not used for that host", ing.obj.Namespace, t.SecretName, h)
					continue
				}
				claimed[h] = true
				tr.leaves[h] = leaves[key]
				c.Hosts = append(c.Hosts, h)
			}
		}
	}
	for _, key := range sortedKeys(certs) {
		c := certs[key]
		slices.Sort(c.Hosts)
		c.Hosts = slices.Compact(c.Hosts)
		if len(c.Hosts) == 0 {
			c.Hosts = nil
		}
		tr.certs = append(tr.certs, *c)
	}

	if name := b.opts.DefaultSSLCertificate; name != "" {
		ns, n, ok := strings.Cut(name, "/")
		if !ok {
			ns, n = "", name
		}
		ref := ObjectRef{Kind: "Secret", Namespace: ns, Name: n}
		if c, _, ok := b.certificate(ref, secrets[ns+"/"+n], ns, n, nil); ok {
			tr.def = c
		}
	}
	tr.hosts = tlsHosts
	return tr
}

// tls sets, per route of ings, the ssl-redirect and HSTS settings: a host
// has TLS when tlsHosts (or their wildcards) name it.
func (b *builder) tls(objs Objects, ings []*ingress, tlsHosts map[string]bool, s *Snapshot) {
	sslDefaults, hsts := b.tlsDefaults(objs.ConfigMaps)

	// Per route: redirect and HSTS.
	ssl := make(map[ObjectRef]annotations.SSL, len(ings))
	for _, ing := range ings {
		// Every served Ingress went through parseAnnotations; sslDefaults
		// are the same for all of them.
		p := ing.parsed
		if !p.sslDone {
			p.ssl, p.sslErrs = annotations.ParseSSL(ing.obj.Annotations, sslDefaults)
			p.sslDone = true
		}
		for _, err := range p.sslErrs {
			b.warn(ing.ref, ReasonInvalidAnnotation, "%v", err)
		}
		ssl[ing.ref] = p.ssl
	}
	header := hsts.Header()
	for i := range s.Servers {
		srv := &s.Servers[i]
		hasTLS := hostHasTLS(srv.Host, tlsHosts)
		for j := range srv.Paths {
			be := &srv.Paths[j].Backend
			cfg := ssl[be.Ingress]
			be.SSLRedirect = cfg.ForceRedirect || hasTLS && cfg.Redirect
			if hasTLS {
				be.HSTS = header
			}
		}
	}
}

// tlsDefaults reads the global TLS settings of opts.ConfigMap. A missing
// ConfigMap was reported by configMapDefaults; its invalid values are
// reported here.
func (b *builder) tlsDefaults(cms []*corev1.ConfigMap) (annotations.SSL, annotations.HSTS) {
	data, ref, _ := b.configMap(cms)
	s, h, errs := annotations.ParseTLSDefaults(data)
	b.warnConfigMap(ref, errs)
	return s, h
}

// certificate validates the Secret ns/name, named by obj, and returns its
// material and parsed leaf; false means it was reported on obj and hosts get the default
// certificate.
func (b *builder) certificate(obj ObjectRef, sec *corev1.Secret, ns, name string, hosts []string) (*Certificate, *x509.Certificate, bool) {
	fallback := "the default certificate is served instead"
	if len(hosts) > 0 {
		fallback = "hosts " + strings.Join(hosts, ", ") + " get the default certificate"
	}
	switch {
	case sec == nil:
		b.warn(obj, ReasonSecretNotFound, "tls secret %s/%s not found; %s", ns, name, fallback)
		return nil, nil, false
	case sec.Type != corev1.SecretTypeTLS:
		b.warn(obj, ReasonInvalidCertificate, "tls secret %s/%s is of type %q, not %q; %s", ns, name, sec.Type, corev1.SecretTypeTLS, fallback)
		return nil, nil, false
	}
	crt, key := secretValue(sec, corev1.TLSCertKey), secretValue(sec, corev1.TLSPrivateKeyKey)
	if len(crt) == 0 || len(key) == 0 {
		b.warn(obj, ReasonInvalidCertificate, "tls secret %s/%s lacks %s or %s; %s", ns, name, corev1.TLSCertKey, corev1.TLSPrivateKeyKey, fallback)
		return nil, nil, false
	}
	pair := b.certs.pair(sec, crt, key)
	if pair.err != nil {
		b.warn(obj, ReasonInvalidCertificate, "tls secret %s/%s: %v; %s", ns, name, pair.err, fallback)
		return nil, nil, false
	}
	return &Certificate{Secret: ObjectRef{Kind: "Secret", Namespace: ns, Name: name}, CertPEM: pair.crt, KeyPEM: pair.key, Digest: pair.digest}, pair.leaf, true
}

// certCache memoizes the validation of TLS Secrets: tls.X509KeyPair and the
// leaf's parse cost tens of microseconds each, seconds for 10 000 Secrets,
// on every build. Entries are keyed by Secret object, which sources never
// modify (a changed Secret is a new object); a build keeps only the entries
// it used. The zero value (nil) memoizes within one build only.
type certCache struct {
	prev, cur map[*corev1.Secret]*keyPair
}

// keyPair is a validated tls.crt and tls.key: the Secret's PEM (shared by
// every Snapshot that serves it, never modified) and the parsed leaf, or why
// they are not a usable pair.
type keyPair struct {
	crt, key []byte
	digest   string // MaterialDigest(crt, key)
	leaf     *x509.Certificate
	err      error
}

func newCertCache() *certCache { return &certCache{cur: map[*corev1.Secret]*keyPair{}} }

// next starts a validation of every certificate: entries the previous one
// did not use are dropped.
func (c *certCache) next() {
	c.prev, c.cur = c.cur, make(map[*corev1.Secret]*keyPair, len(c.cur))
}

func (c *certCache) pair(sec *corev1.Secret, crt, key []byte) *keyPair {
	if p, ok := c.cur[sec]; ok {
		return p
	}
	if p, ok := c.prev[sec]; ok {
		c.cur[sec] = p
		return p
	}
	p := &keyPair{}
	pair, err := tls.X509KeyPair(crt, key) // parses the leaf too
	switch {
	case err != nil:
		p.err = err
	case pair.Leaf != nil:
		p.leaf = pair.Leaf
	default:
		p.leaf, p.err = x509.ParseCertificate(pair.Certificate[0])
	}
	p.crt, p.key = crt, key // the Secret's own bytes: never modified, like it
	p.digest = MaterialDigest(p.crt, p.key)
	c.cur[sec] = p
	return p
}

// covers reports whether leaf is valid for host by x509's rules; a wildcard
// host ("*.foo.com") needs the same wildcard among the DNS names.
func covers(leaf *x509.Certificate, host string) bool {
	if leaf == nil {
		return false
	}
	if strings.HasPrefix(host, "*.") {
		return slices.Contains(leaf.DNSNames, host)
	}
	return leaf.VerifyHostname(host) == nil
}

// secretValue returns data[key], or stringData[key] as the API server would
// have merged it: a folder of manifests is never applied by one.
func secretValue(sec *corev1.Secret, key string) []byte {
	if v, ok := sec.Data[key]; ok {
		return v
	}
	if v, ok := sec.StringData[key]; ok {
		return []byte(v)
	}
	return nil
}

// hostHasTLS reports whether the Server host is listed in tlsHosts, exactly
// or through a wildcard entry ("*.foo.com" covers "bar.foo.com"). The
// any-host server never has TLS.
func hostHasTLS(host string, tlsHosts map[string]bool) bool {
	if host == "" {
		return false
	}
	if tlsHosts[host] {
		return true
	}
	if dot := strings.IndexByte(host, '.'); dot > 0 && !strings.HasPrefix(host, "*.") {
		return tlsHosts["*"+host[dot:]]
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, cmp.Compare)
	return keys
}

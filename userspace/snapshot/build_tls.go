package snapshot

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/weir-lb/weir/userspace/annotations"
)

// Warning reasons of TLS.
const (
	// ReasonSecretNotFound: a spec.tls secretName (or the default
	// certificate) names no Secret.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonInvalidCertificate: the Secret lacks tls.crt or tls.key, or they
	// do not parse as a matching pair.
	ReasonInvalidCertificate = "InvalidCertificate"
)

// tlsResult is what the spec.tls sections of the served Ingresses and the
// Secrets give: the hosts with TLS and the certificate each is served, the
// certificates, the default certificate and their warnings.
// Build computes one whole (certificates); a Builder keeps its own and
// settles again, in place, only the hosts and Secrets a change touches
// (Builder.updateTLS), so that a spec.tls edit among 10 000 costs what its
// hosts cost. Snapshots share its certs, never its maps.
type tlsResult struct {
	// claims are the hosts with TLS (lower-case rule hosts, never "") and
	// the Secret each is served from, the zero nsName for the default
	// certificate: as ingress-nginx's createServers sets a server's
	// SSLCert, the oldest served Ingress with a rule for the host and a
	// spec.tls, canaries excepted, decides (claim).
	claims map[string]nsName
	// keys are the Secrets the sections name, with what they hold.
	keys map[nsName]*tlsKey
	// warnings are the warnings of the sections, by Ingress.
	warnings map[nsName][]tlsWarning
	// certs are the valid certificates of keys, sorted by Secret;
	// immutable once built (Snapshots share it).
	certs []Certificate
	// def and defWarnings are the default certificate and what its Secret
	// was warned of.
	def         *Certificate
	defWarnings []Warning
	defSec      *corev1.Secret
	// defHosts are the hosts claims gives the default certificate, sorted;
	// immutable once built (Snapshots share it).
	defHosts []string
	// named are the server-alias and from-to-www-redirect names served
	// the certificate of their host: a full build's only, as there is no
	// scoped build while an Ingress sets either.
	named map[string]bool
}

// tlsKey is one Secret spec.tls sections name.
type tlsKey struct {
	n   int            // sections naming it
	sec *corev1.Secret // validated
	// cert is its certificate (Hosts: those it is served for); nil when
	// the Secret is missing or invalid, problem says why.
	cert    *Certificate
	leaf    *x509.Certificate
	reason  string
	problem string
}

// tlsWarning is a warning of a section: about host, that the certificate
// does not cover; or, host "", about the Secret key, missing or invalid.
type tlsWarning struct {
	Warning
	host string
	key  nsName
}

// leaf returns the leaf certificate of the Secret host is served, nil when
// it is served the default certificate or has no TLS.
func (tr *tlsResult) leaf(host string) *x509.Certificate {
	if k, ok := tr.claims[host]; ok && k != (nsName{}) {
		return tr.keys[k].leaf
	}
	return nil
}

// allWarnings returns the warnings of tr, sorted, without duplicates.
func (tr *tlsResult) allWarnings() []Warning {
	ws := slices.Clone(tr.defWarnings)
	for _, list := range tr.warnings {
		for _, w := range list {
			ws = append(ws, w.Warning)
		}
	}
	slices.SortFunc(ws, compareWarnings)
	return slices.Compact(ws)
}

// tlsHostsOf returns the hosts of t as certificates compare them.
func tlsHostsOf(t *networkingv1.IngressTLS) []string {
	var hosts []string
	for _, h := range t.Hosts {
		if h = strings.TrimSuffix(strings.ToLower(h), "."); h != "" {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// ruleHostsOf returns the hosts ing's rules name that can have TLS:
// lower-case, valid, not "" (the any-host server never has TLS).
func ruleHostsOf(ing *networkingv1.Ingress) []string {
	var hosts []string
	for _, r := range ing.Spec.Rules {
		if h := strings.ToLower(r.Host); h != "" && validHost(h) {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// count adds d (1 or -1) to the Secrets the sections of ing name. A Secret
// named for the first time is validated through certs (secret finds it);
// one no longer named is dropped.
func (tr *tlsResult) count(ing *networkingv1.Ingress, d int, secret func(nsName) *corev1.Secret, certs *certCache) {
	for i := range ing.Spec.TLS {
		t := &ing.Spec.TLS[i]
		if t.SecretName == "" {
			continue
		}
		k := nsName{ing.Namespace, t.SecretName}
		tk := tr.keys[k]
		if tk == nil {
			tk = &tlsKey{}
			tr.keys[k] = tk
			tr.validate(k, secret(k), certs)
		}
		if tk.n += d; tk.n <= 0 {
			certs.forget(tk.sec)
			delete(tr.keys, k)
		}
	}
}

// validate sets what the Secret k, sec (nil: missing), holds.
func (tr *tlsResult) validate(k nsName, sec *corev1.Secret, certs *certCache) {
	tk := tr.keys[k]
	tk.sec = sec
	tk.cert, tk.leaf, tk.reason, tk.problem = checkCertificate(sec, k.namespace, k.name, certs)
	if tk.cert != nil {
		tk.cert.Hosts = nil
	}
}

// settle claims hosts again (nil: every host) from ings, the served
// Ingresses with a rule for one of them, oldest first, and computes their
// warnings again: every warning of the Ingresses redo names, and of the
// others those about hosts and about the Secrets of rekeyed. The warnings
// of other Ingresses and the claims of other hosts stay.
func (tr *tlsResult) settle(ings []*ingress, hosts map[string]bool, redo func(nsName) bool, rekeyed map[nsName]bool) {
	inScope := func(h string) bool { return hosts == nil || hosts[h] }
	for h := range hosts {
		delete(tr.claims, h)
	}
	for _, ing := range ings {
		k := nsName{ing.obj.Namespace, ing.obj.Name}
		all := redo(k)
		var ws []tlsWarning
		if !all {
			for _, w := range tr.warnings[k] {
				if w.host != "" && !inScope(w.host) || w.host == "" && !rekeyed[w.key] {
					ws = append(ws, w)
				}
			}
		}
		for i := range ing.obj.Spec.TLS {
			t := &ing.obj.Spec.TLS[i]
			if t.SecretName == "" {
				// ingress-nginx serves the default certificate for these
				// hosts: so does Weir, quietly.
				continue
			}
			key := nsName{ing.obj.Namespace, t.SecretName}
			if tk := tr.keys[key]; tk.cert == nil && (all || rekeyed[key]) {
				sectionHosts := tlsHostsOf(t)
				fallback := "hosts " + strings.Join(sectionHosts, ", ") + " get the default certificate"
				if len(sectionHosts) == 0 {
					fallback = "the default certificate is served instead"
				}
				ws = append(ws, tlsWarning{key: key, Warning: Warning{Object: ing.ref, Reason: tk.reason,
					Message: tk.problem + "; " + fallback}})
			}
		}
		// ingress-nginx's createServers: a canary makes no server, and
		// an Ingress without spec.tls leaves its hosts to the next one.
		if len(ing.obj.Spec.TLS) > 0 && !annotations.CanaryEnabled(ing.obj.Annotations) {
			for _, h := range ruleHostsOf(ing.obj) {
				if _, claimed := tr.claims[h]; claimed || !inScope(h) {
					continue
				}
				key, w := tr.claim(ing, h)
				tr.claims[h] = key
				if w != nil {
					ws = append(ws, *w)
				}
			}
		}
		if len(ws) > 0 {
			tr.warnings[k] = ws
		} else {
			delete(tr.warnings, k)
		}
	}
}

// claim returns the Secret whose certificate ing, which has a rule for
// host and spec.tls, gives host, as ingress-nginx's createServers and
// extractTLSSecretName choose it: the first section listing the host (any
// case), else the first whose certificate is valid for it. None, an empty
// secretName, a missing or invalid Secret (its section's warning says
// why), or a certificate that is not valid for host (warned) give the
// default certificate (the zero nsName); later Ingresses cannot change it.
func (tr *tlsResult) claim(ing *ingress, host string) (nsName, *tlsWarning) {
	name, listed := "", false
	for i := 0; i < len(ing.obj.Spec.TLS) && !listed; i++ {
		t := &ing.obj.Spec.TLS[i]
		for _, h := range t.Hosts {
			if strings.TrimSuffix(strings.ToLower(h), ".") == host {
				name, listed = t.SecretName, true
				break
			}
		}
	}
	if !listed {
		for _, t := range ing.obj.Spec.TLS {
			if t.SecretName == "" {
				continue
			}
			if tk := tr.keys[nsName{ing.obj.Namespace, t.SecretName}]; tk != nil && tk.cert != nil && tk.leaf.VerifyHostname(host) == nil {
				name = t.SecretName
				break
			}
		}
	}
	if name == "" {
		return nsName{}, nil
	}
	key := nsName{ing.obj.Namespace, name}
	tk := tr.keys[key]
	if tk == nil || tk.cert == nil {
		return nsName{}, nil
	}
	if !validFor(tk.leaf, host) {
		return nsName{}, &tlsWarning{host: host, Warning: Warning{Object: ing.ref, Reason: ReasonInvalidCertificate,
			Message: fmt.Sprintf("tls secret %s/%s does not cover host %s; the host is served the default certificate", ing.obj.Namespace, name, host)}}
	}
	return key, nil
}

// certificates validates the certificates of the spec.tls sections of
// tlsIngs (served, oldest first) and the default certificate, and settles
// the hosts with TLS and their certificates. Hosts served the default
// certificate keep their redirect and HSTS (as in ingress-nginx). The
// server-aliases and from-to-www-redirect names of servers (a full build's
// only) are served the certificate of their host when it is valid for them
// (ingress-nginx's configureCertificates and BuildRedirects).
func (b *builder) certificates(objs Objects, tlsIngs []*ingress, servers []Server) *tlsResult {
	b.certs.next()
	secrets := make(map[nsName]*corev1.Secret, len(objs.Secrets))
	for _, sec := range objs.Secrets {
		if sec != nil {
			secrets[nsName{sec.Namespace, sec.Name}] = sec
		}
	}
	secret := func(k nsName) *corev1.Secret { return secrets[k] }
	tr := &tlsResult{claims: map[string]nsName{}, keys: map[nsName]*tlsKey{}, warnings: map[nsName][]tlsWarning{}, named: map[string]bool{}}
	for _, ing := range tlsIngs {
		tr.count(ing.obj, 1, secret, b.certs)
	}
	tr.settle(tlsIngs, nil, func(nsName) bool { return true }, nil)
	byKey := map[nsName][]string{}
	for h, k := range tr.claims {
		byKey[k] = append(byKey[k], h)
	}
	for i := range servers {
		srv := &servers[i]
		k := tr.claims[srv.Host]
		leaf := tr.leaf(srv.Host)
		for _, name := range append(slices.Clip(srv.Aliases), srv.RedirectFrom) {
			if _, claimed := tr.claims[name]; name != "" && !claimed && validFor(leaf, name) {
				byKey[k] = append(byKey[k], name)
				tr.named[name] = true
			}
		}
	}
	for k, tk := range tr.keys {
		if tk.cert != nil {
			c := tk.withHosts(byKey[k])
			tk.cert.Hosts = c.Hosts
			tr.certs = append(tr.certs, c)
		}
	}
	slices.SortFunc(tr.certs, func(x, y Certificate) int { return compareCerts(&x, &y) })
	tr.def, tr.defWarnings, tr.defSec = b.defaultCertificate(secret)
	tr.defHosts = sortedHosts(byKey[nsName{}])
	return tr
}

// sortedHosts returns hosts sorted and without duplicates, nil when empty.
func sortedHosts(hosts []string) []string {
	slices.Sort(hosts)
	if hosts = slices.Compact(hosts); len(hosts) == 0 {
		return nil
	}
	return hosts
}

// withHosts returns the certificate of tk for hosts, sorted.
func (tk *tlsKey) withHosts(hosts []string) Certificate {
	c := *tk.cert
	c.Hosts = sortedHosts(hosts)
	return c
}

// defaultCertificate validates Options.DefaultSSLCertificate's Secret
// (nil without one) and returns its certificate (nil: none), what it is
// warned of and the Secret.
func (b *builder) defaultCertificate(secret func(nsName) *corev1.Secret) (*Certificate, []Warning, *corev1.Secret) {
	name := b.opts.DefaultSSLCertificate
	if name == "" {
		return nil, nil, nil
	}
	ns, n, ok := strings.Cut(name, "/")
	if !ok {
		ns, n = "", name
	}
	sec := secret(nsName{ns, n})
	c, _, reason, problem := checkCertificate(sec, ns, n, b.certs)
	if c == nil {
		return nil, []Warning{{Object: ObjectRef{Kind: "Secret", Namespace: ns, Name: n}, Reason: reason,
			Message: problem + "; the default certificate is served instead"}}, sec
	}
	return c, nil, sec
}

// tls sets, per route of ings, the ssl-redirect settings (a host has TLS
// when tr claims it or its wildcard), and the Snapshot's HSTS, which
// every route and the default backend send, TLS host or not: ingress-nginx's
// header filter (lua_ingress.lua header(), run for every location) tests
// certificate_configured_for_current_request without calling it, and a
// function value is true, so every HTTPS response of a location gets the
// header while hsts is on, the default certificate's too.
func (b *builder) tls(objs Objects, ings []*ingress, tr *tlsResult, s *Snapshot) {
	sslDefaults, hsts := b.tlsDefaults(objs.ConfigMaps)

	// Per route: redirect.
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
	s.HSTS = hsts.Header()
	for i := range s.Servers {
		srv := &s.Servers[i]
		hasTLS := tr.hasTLS(srv.Host)
		for j := range srv.Paths {
			be := &srv.Paths[j].Backend
			cfg := ssl[be.Ingress]
			be.SSLRedirect = cfg.ForceRedirect || hasTLS && cfg.Redirect
			be.ForceSSLRedirect = cfg.ForceRedirect
		}
		// ingress-nginx decides ssl-redirect by the request's host: an
		// alias without a certificate of its own is not redirected by it.
		// (The other way round, an alias under a wildcard host with a
		// certificate of a host without one, is not kept apart: its
		// requests redirect as the host's.)
		srv.NoTLSAliases = nil
		if hasTLS {
			for _, a := range srv.Aliases {
				if !tr.hasTLS(a) {
					srv.NoTLSAliases = append(srv.NoTLSAliases, a)
				}
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

// checkCertificate validates the Secret ns/name, sec (nil: missing),
// through certs and returns its material and parsed leaf; or nil, the
// warning's reason and what is wrong (the warning's message before the
// hosts that get the default certificate).
func checkCertificate(sec *corev1.Secret, ns, name string, certs *certCache) (*Certificate, *x509.Certificate, string, string) {
	switch {
	case sec == nil:
		return nil, nil, ReasonSecretNotFound, fmt.Sprintf("tls secret %s/%s not found", ns, name)
	case len(secretValue(sec, corev1.TLSCertKey)) == 0 && len(secretValue(sec, corev1.TLSPrivateKeyKey)) == 0 && len(secretValue(sec, "ca.crt")) == 0:
		// ingress-nginx's words for it (its e2e ssl/secret_update.go
		// looks for them in the log).
		return nil, nil, ReasonInvalidCertificate, fmt.Sprintf("tls secret \"%s/%s\" contains no keypair or CA certificate", ns, name)
	}
	// Any type holding tls.crt and tls.key, Opaque included, as
	// ingress-nginx's store reads them (its e2e framework writes its TLS
	// Secrets without a type).
	crt, key := secretValue(sec, corev1.TLSCertKey), secretValue(sec, corev1.TLSPrivateKeyKey)
	if len(crt) == 0 || len(key) == 0 {
		return nil, nil, ReasonInvalidCertificate, fmt.Sprintf("tls secret %s/%s lacks %s or %s", ns, name, corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
	}
	pair := certs.pair(sec, crt, key)
	if pair.err != nil {
		return nil, nil, ReasonInvalidCertificate, fmt.Sprintf("tls secret %s/%s: %v", ns, name, pair.err)
	}
	return &Certificate{Secret: ObjectRef{Kind: "Secret", Namespace: ns, Name: name}, CertPEM: pair.crt, KeyPEM: pair.key, Digest: pair.digest}, pair.leaf, "", ""
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

// forget drops the entry of sec (nil: none), a Secret no longer named or
// replaced by a newer version, between two calls of next.
func (c *certCache) forget(sec *corev1.Secret) {
	if sec != nil {
		delete(c.cur, sec)
		delete(c.prev, sec)
	}
}

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

// validFor reports whether leaf (nil: none) is valid for host as
// ingress-nginx checks a server's certificate: x509's VerifyHostname, else
// its own older check (certificate.go verifyHostname), which matches a
// wildcard host ("*.foo.com") to the same wildcard, and the Common Name
// when the certificate has no DNS names.
func validFor(leaf *x509.Certificate, host string) bool {
	if leaf == nil {
		return false
	}
	if leaf.VerifyHostname(host) == nil {
		return true
	}
	if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return false // IP addresses match IP SANs only: VerifyHostname's
	}
	patterns := leaf.DNSNames
	if len(patterns) == 0 {
		patterns = []string{leaf.Subject.CommonName}
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	for _, p := range patterns {
		if matchHostname(strings.TrimSuffix(strings.ToLower(p), "."), host) {
			return true
		}
	}
	return false
}

// matchHostname reports whether pattern matches host label by label, a
// first label "*" matching any one label ("*" included).
func matchHostname(pattern, host string) bool {
	if pattern == "" || host == "" {
		return false
	}
	if rest, ok := strings.CutPrefix(pattern, "*."); ok {
		_, hostRest, found := strings.Cut(host, ".")
		return found && rest == hostRest
	}
	return pattern == host
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

// hasTLS reports whether a request for host (a Server host or alias) has
// a certificate, as ingress-nginx's certificate.lua
// configured_for_current_request finds one by the request's host: tr
// claims host (the default certificate included) or serves it as an alias
// or from-to-www-redirect name (named), or else its wildcard ("*.foo.com"
// for "bar.foo.com"). The any-host server never has TLS.
func (tr *tlsResult) hasTLS(host string) bool {
	if host == "" {
		return false
	}
	if tr.byName(host) {
		return true
	}
	if dot := strings.IndexByte(host, '.'); dot > 0 && !strings.HasPrefix(host, "*.") {
		return tr.byName("*" + host[dot:])
	}
	return false
}

// byName reports whether name has a certificate by name.
func (tr *tlsResult) byName(name string) bool {
	_, ok := tr.claims[name]
	return ok || tr.named[name]
}

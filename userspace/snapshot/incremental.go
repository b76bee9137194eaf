package snapshot

import (
	"cmp"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/weir-lb/weir/userspace/annotations"
)

// Builder builds Snapshots like Build, and when told which objects changed
// since its previous Snapshot (Objects.Changed), rebuilds only what they can
// affect: the hosts of the changed Ingresses (their rules and spec.tls, all
// hosts under a wildcard host whose TLS changed) and of the Ingresses that
// use a changed Service or EndpointSlice, closed over every Ingress sharing
// one of those hosts, and over every Ingress routing to a Service of one
// of them that an Ingress sets affinity for (shareAffinity), or whose
// Ingresses differ in load-balance or upstream-hash-by* (shareBalancing); and, when an Ingress with spec.tls or a Secret one
// names (or the default certificate's) changed, the certificates of the
// hosts of the rules of those Ingresses, from every Ingress with a rule for
// one of them. Its result is always the Snapshot Build gives for the same
// Objects (TestBuilderMatchesBuild checks it on every golden case and on
// random edits); only the cost differs: a few milliseconds for one edited
// Ingress among 10 000 instead of a full build's tens.
//
// A ConfigMap other than the controller's (Options.ConfigMap) or a Secret
// rebuilds the Ingresses whose auth annotations or custom-headers name it;
// one the controller's add-headers or proxy-set-headers names is a full
// Build. A change it
// cannot scope (the controller's, TCP or UDP services' ConfigMap or an IngressClass, an Ingress with
// spec.defaultBackend before or after the change or using a changed Service,
// a Service a Stream forwards to or one of its EndpointSlices,
// any change while an Ingress sets server-alias or from-to-www-redirect, a
// change whose scope holds the rules without a host or a canary with
// spec.defaultBackend while there is such a canary,
// more than MaxScopedChanges objects, or a scope covering a quarter of the
// Ingresses) is a full Build. Objects given to a Builder must never be modified (as an
// informer's: a changed object is a new one): it keeps them, and its
// validated certificates, from one build to the next. A Builder is not safe
// for concurrent use.
type Builder struct {
	opts Options
	prev *Snapshot

	ingresses map[nsName]*networkingv1.Ingress
	services  map[nsName]*corev1.Service
	slices    map[nsName]*discoveryv1.EndpointSlice
	// sliceService is the Service (namespace, name label) of each slice.
	sliceService map[nsName]nsName
	// slicesOf lists the slices of each Service.
	slicesOf map[nsName]map[nsName]bool
	// hostsOf lists the hosts an Ingress touches (rules and spec.tls,
	// lower-cased, "" for rules without a host); ingressesOf inverts it.
	hostsOf     map[nsName][]string
	ingressesOf map[string]map[nsName]bool
	// usersOf lists the Ingresses naming each Service in a backend.
	usersOf map[nsName]map[nsName]bool
	// tlsSecrets counts the spec.tls sections naming each Secret: a change
	// to another Secret leaves the certificates as they are.
	tlsSecrets map[nsName]int
	// secrets are the Secrets of the last Objects, by name.
	secrets map[nsName]*corev1.Secret
	// secretUsers and configMapUsers list the Ingresses whose auth-secret
	// names each Secret, whose auth-proxy-set-headers each ConfigMap.
	secretUsers, configMapUsers map[nsName]map[nsName]bool
	// authUsersOf lists the Ingresses naming each Secret in
	// auth-tls-secret; authSecretOf inverts it.
	authUsersOf  map[nsName]map[nsName]bool
	authSecretOf map[nsName]nsName
	// withTLS are the Ingresses with spec.tls: every scoped build takes
	// the certificates and the hosts with TLS from them. withDefault are
	// those with spec.defaultBackend: every scoped build routes them too, so
	// that the default backend's conflicts come out as in a full build.
	withTLS, withDefault map[nsName]bool
	// withCanaryDefault are the canaries with spec.defaultBackend: they
	// join the paths of the rules without a host (attachDefaultCanaries),
	// so a change to those is a full build while there is one.
	withCanaryDefault map[nsName]bool
	// withNames are those with server-alias or from-to-www-redirect, whose
	// names compete with every host: while there is one, every build is
	// full.
	withNames map[nsName]bool
	// certs keeps the validated certificates of the last build, tls what
	// its spec.tls sections and Secrets gave: a scoped build settles again
	// only the hosts and Secrets its changes touch (updateTLS).
	certs *certCache
	tls   *tlsResult
	// hashes keeps the digests of the last Snapshot's Servers and
	// certificates: those a scoped build carries over are not hashed again.
	hashes     *hashCache
	lastScoped bool
}

// MaxScopedChanges is the most changed objects a Builder scopes a rebuild
// to; more is a full Build. 64.
const MaxScopedChanges = 64

// NewBuilder returns a Builder with opts.
func NewBuilder(opts Options) *Builder {
	return &Builder{opts: opts, certs: newCertCache(), hashes: newHashCache()}
}

// Build returns the Snapshot of objs, as Build(objs, opts) does. When
// objs.Changed is non-nil it must name every object that changed since the
// Objects of the previous call.
func (bl *Builder) Build(objs Objects) *Snapshot {
	if s, ok := bl.scoped(objs); ok {
		bl.prev, bl.lastScoped = s, true
		return s
	}
	bl.lastScoped = false
	s, tr := build(objs, bl.opts, bl.certs, tlsSource{})
	s.Hash = hashWith(s, bl.hashes)
	bl.tls = tr
	bl.index(objs)
	bl.prev = s
	return s
}

// Scoped reports whether the last Build was scoped to its changes (false:
// a full build).
func (bl *Builder) Scoped() bool { return bl.lastScoped }

// index remembers objs for the next scoped build.
func (bl *Builder) index(objs Objects) {
	bl.ingresses = make(map[nsName]*networkingv1.Ingress, len(objs.Ingresses))
	bl.services = make(map[nsName]*corev1.Service, len(objs.Services))
	bl.slices = make(map[nsName]*discoveryv1.EndpointSlice, len(objs.EndpointSlices))
	bl.sliceService = make(map[nsName]nsName, len(objs.EndpointSlices))
	bl.slicesOf = make(map[nsName]map[nsName]bool, len(objs.Services))
	bl.hostsOf = make(map[nsName][]string, len(objs.Ingresses))
	bl.ingressesOf = make(map[string]map[nsName]bool, len(objs.Ingresses))
	bl.usersOf = make(map[nsName]map[nsName]bool, len(objs.Services))
	bl.secretUsers, bl.configMapUsers = map[nsName]map[nsName]bool{}, map[nsName]map[nsName]bool{}
	bl.tlsSecrets = map[nsName]int{}
	bl.secrets = make(map[nsName]*corev1.Secret, len(objs.Secrets))
	for _, sec := range objs.Secrets {
		if sec != nil {
			bl.secrets[nsName{sec.Namespace, sec.Name}] = sec
		}
	}
	bl.authUsersOf, bl.authSecretOf = map[nsName]map[nsName]bool{}, map[nsName]nsName{}
	bl.withTLS, bl.withDefault, bl.withNames = map[nsName]bool{}, map[nsName]bool{}, map[nsName]bool{}
	bl.withCanaryDefault = map[nsName]bool{}
	for _, s := range objs.Services {
		if s != nil {
			bl.services[nsName{s.Namespace, s.Name}] = s
		}
	}
	for _, es := range objs.EndpointSlices {
		if es != nil {
			bl.setSlice(nsName{es.Namespace, es.Name}, es)
		}
	}
	for _, ing := range objs.Ingresses {
		if ing != nil {
			bl.setIngress(nsName{ing.Namespace, ing.Name}, ing)
		}
	}
}

func (bl *Builder) setSlice(k nsName, es *discoveryv1.EndpointSlice) {
	if old, ok := bl.sliceService[k]; ok {
		delete(bl.slicesOf[old], k)
		delete(bl.sliceService, k)
	}
	delete(bl.slices, k)
	if es == nil {
		return
	}
	bl.slices[k] = es
	svc := nsName{es.Namespace, es.Labels[ServiceNameLabel]}
	bl.sliceService[k] = svc
	addTo(bl.slicesOf, svc, k)
}

func (bl *Builder) setIngress(k nsName, ing *networkingv1.Ingress) {
	if old := bl.ingresses[k]; old != nil {
		for _, h := range bl.hostsOf[k] {
			delete(bl.ingressesOf[h], k)
		}
		for _, svc := range servicesOf(old) {
			delete(bl.usersOf[svc], k)
		}
		for _, sec := range tlsSecretsOf(old) {
			if bl.tlsSecrets[sec]--; bl.tlsSecrets[sec] <= 0 {
				delete(bl.tlsSecrets, sec)
			}
		}
		secs, cms := objectsOf(old.Namespace, old.Annotations) // build_headers.go
		for _, sec := range secs {
			delete(bl.secretUsers[sec], k)
		}
		for _, cm := range cms {
			delete(bl.configMapUsers[cm], k)
		}
		if sec, ok := bl.authSecretOf[k]; ok {
			delete(bl.authUsersOf[sec], k)
			delete(bl.authSecretOf, k)
		}
		for _, sec := range annotatedSecrets(old) {
			delete(bl.secretUsers[sec], k)
		}
		delete(bl.withTLS, k)
		delete(bl.withDefault, k)
		delete(bl.withCanaryDefault, k)
		delete(bl.withNames, k)
		delete(bl.hostsOf, k)
		delete(bl.ingresses, k)
	}
	if ing == nil {
		return
	}
	bl.ingresses[k] = ing
	hosts := hostsOf(ing)
	bl.hostsOf[k] = hosts
	for _, h := range hosts {
		addTo(bl.ingressesOf, h, k)
	}
	for _, svc := range servicesOf(ing) {
		addTo(bl.usersOf, svc, k)
	}
	for _, sec := range tlsSecretsOf(ing) {
		bl.tlsSecrets[sec]++
	}
	secs, cms := objectsOf(ing.Namespace, ing.Annotations)
	for _, sec := range secs {
		addTo(bl.secretUsers, sec, k)
	}
	for _, cm := range cms {
		addTo(bl.configMapUsers, cm, k)
	}
	if sec, ok := authSecretOf(ing); ok {
		bl.authSecretOf[k] = sec
		addTo(bl.authUsersOf, sec, k)
	}
	for _, sec := range annotatedSecrets(ing) {
		addTo(bl.secretUsers, sec, k)
	}
	if len(ing.Spec.TLS) > 0 {
		bl.withTLS[k] = true
	}
	if ing.Spec.DefaultBackend != nil {
		bl.withDefault[k] = true
		if annotations.CanaryEnabled(ing.Annotations) {
			bl.withCanaryDefault[k] = true
		}
	}
	if hasServerNames(ing.Annotations) {
		bl.withNames[k] = true
	}
}

func addTo[K comparable](m map[K]map[nsName]bool, k K, v nsName) {
	set := m[k]
	if set == nil {
		set = map[nsName]bool{}
		m[k] = set
	}
	set[v] = true
}

// hostsOf returns the hosts ing touches, as Build compares them.
func hostsOf(ing *networkingv1.Ingress) []string {
	var hosts []string
	for _, r := range ing.Spec.Rules {
		hosts = append(hosts, strings.ToLower(r.Host))
	}
	for _, t := range ing.Spec.TLS {
		for _, h := range t.Hosts {
			hosts = append(hosts, strings.TrimSuffix(strings.ToLower(h), "."))
		}
	}
	slices.Sort(hosts)
	return slices.Compact(hosts)
}

// tlsSecretsOf returns the Secrets ing's spec.tls sections name.
func tlsSecretsOf(ing *networkingv1.Ingress) []nsName {
	var out []nsName
	for _, t := range ing.Spec.TLS {
		if t.SecretName != "" {
			out = append(out, nsName{ing.Namespace, t.SecretName})
		}
	}
	return out
}

// authSecretOf returns the Secret ing names in auth-tls-secret, if any.
func authSecretOf(ing *networkingv1.Ingress) (nsName, bool) {
	ns, name, err := annotations.SplitAuthTLSSecret(ing.Annotations[annotations.Prefix+"auth-tls-secret"])
	if err != nil {
		return nsName{}, false
	}
	if ns == "" {
		ns = ing.Namespace
	}
	return nsName{ns, name}, true

}

// annotatedSecrets returns the Secrets ing's annotations name
// (proxy-ssl-secret, "namespace/name").
func annotatedSecrets(ing *networkingv1.Ingress) []nsName {
	v, ok := ing.Annotations[annotations.Prefix+"proxy-ssl-secret"]
	if !ok {
		return nil
	}
	ns, name, _ := strings.Cut(strings.TrimSpace(v), "/")
	return []nsName{{ns, name}}
}

// hasAffinity reports whether ing (nil: none) sets the affinity or the
// affinity-canary-behavior annotation, whatever its value: its rules may
// share their Service's cookie affinity (shareAffinity), its legacy
// canaries that of a sticky canary of the same Service port
// (shareCanaryAffinity).
func hasAffinity(ing *networkingv1.Ingress) bool {
	return ing != nil && (ing.Annotations[annotations.Prefix+"affinity"] != "" || ing.Annotations[annotations.Prefix+"affinity-canary-behavior"] != "")
}

// sameBalancing reports whether a and b (nil: none) write the same
// load-balance and upstream-hash-by* (shareBalancing), so that an upstream
// they share is balanced the same whichever owns it. The subset
// annotations count only under upstream-hash-by.
func sameBalancing(a, b *networkingv1.Ingress) bool {
	get := func(ing *networkingv1.Ingress, k string) (string, bool) {
		if ing == nil {
			return "", false
		}
		v, ok := ing.Annotations[annotations.Prefix+k]
		return v, ok
	}
	same := func(k string) bool {
		va, oka := get(a, k)
		vb, okb := get(b, k)
		return va == vb && oka == okb
	}
	if !same("load-balance") || !same("upstream-hash-by") {
		return false
	}
	if v, _ := get(a, "upstream-hash-by"); v == "" {
		return true
	}
	return same("upstream-hash-by-subset") && same("upstream-hash-by-subset-size")
}

// servicesOf returns the Services ing's backends name.
func servicesOf(ing *networkingv1.Ingress) []nsName {
	var out []nsName
	add := func(be *networkingv1.IngressBackend) {
		if be != nil && be.Service != nil {
			out = append(out, nsName{ing.Namespace, be.Service.Name})
		}
	}
	add(ing.Spec.DefaultBackend)
	if name := strings.TrimSpace(ing.Annotations[annotations.Prefix+"default-backend"]); name != "" {
		out = append(out, nsName{ing.Namespace, name})
	}
	for _, r := range ing.Spec.Rules {
		if r.HTTP != nil {
			for i := range r.HTTP.Paths {
				add(&r.HTTP.Paths[i].Backend)
			}
		}
	}
	return out
}

// scoped builds from the previous Snapshot and the changes of objs, or
// reports false when a full Build is needed. It updates the index as it
// goes; a full Build rebuilds it.
func (bl *Builder) scoped(objs Objects) (*Snapshot, bool) {
	if bl.prev == nil || objs.Changed == nil || len(objs.Changed) > MaxScopedChanges || len(bl.withNames) > 0 {
		return nil, false
	}
	// The Ingresses whose routes the changes may alter, and the hosts the
	// changed Ingresses had: their Servers may lose paths or go.
	affected := map[nsName]bool{}
	hosts := map[string]bool{}
	// tlsChanged: the certificates, their hosts and their warnings are
	// settled again for the hosts of the spec.tls sections of tlsIngs (the
	// Ingresses changed, as they were and are) and those naming a Secret of
	// tlsSecrets (changed), and the default certificate when defChanged.
	tlsChanged, defChanged := false, false
	tlsIngs := map[nsName][2]*networkingv1.Ingress{}
	var tlsSecrets []nsName
	var wildcards []string // of TLS hosts that changed: every host under them
	users := func(svc nsName) {
		for i := range bl.usersOf[svc] {
			affected[i] = true
		}
	}
	// sticky reports whether an Ingress routing to svc sets affinity.
	stickySvcs := map[nsName]bool{}
	sticky := func(svc nsName) bool {
		v, ok := stickySvcs[svc]
		if !ok {
			for i := range bl.usersOf[svc] {
				if v = hasAffinity(bl.ingresses[i]); v {
					break
				}
			}
			stickySvcs[svc] = v
		}
		return v
	}
	// mixed reports whether the Ingresses routing to svc differ in their
	// balancing annotations: the oldest's are every one's
	// (shareBalancing), so a scope with one needs them all.
	// Only the Ingresses served count: one of another class, or
	// refused, owns no upstream.
	var sel *ClassSelector
	servedIng := map[*networkingv1.Ingress]bool{}
	served := func(ing *networkingv1.Ingress) bool {
		v, ok := servedIng[ing]
		if !ok {
			if sel == nil {
				s := NewClassSelector(objs.IngressClasses, bl.opts)
				s.refusal = (&builder{opts: bl.opts, warnings: map[Warning]bool{}}).refusalPolicy(objs.ConfigMaps)
				sel = &s
			}
			v = sel.Serves(ing)
			servedIng[ing] = v
		}
		return v
	}
	mixed := func(svc nsName) bool {
		var first *networkingv1.Ingress
		for i := range bl.usersOf[svc] {
			switch ing := bl.ingresses[i]; {
			case !served(ing):
			case first == nil:
				first = ing
			case !sameBalancing(first, ing):
				return true
			}
		}
		return false
	}
	for _, ref := range objs.Changed {
		k := nsName{ref.Namespace, ref.Name}
		switch ref.Kind {
		case "Ingress":
			old, cur := bl.ingresses[k], find(objs.Ingresses, k)
			if old != nil && old.Spec.DefaultBackend != nil || cur != nil && cur.Spec.DefaultBackend != nil {
				return nil, false
			}
			if !tlsInputsEqual(old, cur) {
				tlsChanged = true
				if prev, ok := tlsIngs[k]; ok {
					old = prev[0]
				}
				tlsIngs[k] = [2]*networkingv1.Ingress{old, cur}
				wildcards = append(wildcards, wildcardSuffixes(old)...)
				wildcards = append(wildcards, wildcardSuffixes(cur)...)
			}
			for _, h := range bl.hostsOf[k] {
				hosts[h] = true
			}
			var svcs []nsName
			for _, ing := range []*networkingv1.Ingress{old, cur} {
				if ing != nil {
					svcs = append(svcs, servicesOf(ing)...)
				}
			}
			// The balancing of a Service port is its oldest Ingress's
			// (shareBalancing): when its Ingresses differ before or
			// after the change, theirs may change.
			wasMixed := make([]bool, len(svcs))
			for i, svc := range svcs {
				wasMixed[i] = mixed(svc)
			}
			bl.setIngress(k, cur)
			affected[k] = true
			// Cookie affinity is shared by every Ingress routing to
			// its Service port (shareAffinity): one that had or has it
			// changes theirs.
			for i, svc := range svcs {
				if hasAffinity(old) || hasAffinity(cur) || sticky(svc) || wasMixed[i] || mixed(svc) {
					users(svc)
				}
			}
		case "Secret":
			if cur := find(objs.Secrets, k); cur != nil {
				bl.secrets[k] = cur
			} else {
				delete(bl.secrets, k)
			}
			if bl.tlsSecrets[k] > 0 {
				tlsChanged = true
				tlsSecrets = append(tlsSecrets, k)
			}
			if def := bl.opts.DefaultSSLCertificate; def == ref.Name || strings.HasSuffix(def, "/"+ref.Name) { // by name: to be safe
				tlsChanged, defChanged = true, true
			}
			for i := range bl.secretUsers[k] {
				affected[i] = true
			}
			for i := range bl.authUsersOf[k] {
				affected[i] = true
			}
		case "ConfigMap":
			// The controller's (by name, in any namespace: to be safe) is
			// global; another is read only through auth-proxy-set-headers.
			ctl := bl.opts.ConfigMap
			if _, name, ok := strings.Cut(ctl, "/"); ok {
				ctl = name
			}
			if ctl != "" && ref.Name == ctl || k.namespace+"/"+k.name == bl.opts.TCPServices || k.namespace+"/"+k.name == bl.opts.UDPServices ||
				bl.prev != nil && namesGlobalHeaders(&bl.prev.Global, ref.Name) {
				return nil, false
			}
			for i := range bl.configMapUsers[k] {
				affected[i] = true
			}
		case "Service":
			if bl.isDefaultService(k) || bl.isStreamService(k) {
				return nil, false
			}
			users(k)
			if cur := find(objs.Services, k); cur != nil {
				bl.services[k] = cur
			} else {
				delete(bl.services, k)
			}
		case "EndpointSlice":
			if svc, ok := bl.sliceService[k]; ok {
				users(svc)
			}
			cur := find(objs.EndpointSlices, k)
			var curSvc nsName
			if cur != nil {
				curSvc = nsName{cur.Namespace, cur.Labels[ServiceNameLabel]}
			}
			if old := bl.sliceService[k]; bl.isDefaultService(old) || bl.isStreamService(old) ||
				cur != nil && (bl.isDefaultService(curSvc) || bl.isStreamService(curSvc)) {
				return nil, false
			}
			bl.setSlice(k, find(objs.EndpointSlices, k))
			if svc, ok := bl.sliceService[k]; ok {
				users(svc)
			}
		default:
			return nil, false
		}
	}
	// A default backend that may have changed is the Snapshot's.
	if len(bl.withNames) > 0 {
		return nil, false
	}
	for k := range affected {
		if bl.withDefault[k] {
			return nil, false
		}
	}
	// A wildcard host with TLS gives TLS to the hosts one label under it.
	if len(wildcards) > 0 {
		for h := range bl.ingressesOf {
			if dot := strings.IndexByte(h, '.'); dot > 0 && slices.Contains(wildcards, h[dot+1:]) {
				hosts[h] = true
			}
		}
	}

	// Close over shared hosts: every Ingress with a rule on a host in
	// scope competes for it (conflicts, regex, canaries, age order).
	queue := make([]nsName, 0, len(affected))
	for k := range affected {
		queue = append(queue, k)
	}
	walked := map[string]bool{}
	walk := func(h string) {
		if walked[h] {
			return
		}
		walked[h], hosts[h] = true, true
		for i := range bl.ingressesOf[h] {
			if !affected[i] {
				affected[i] = true
				queue = append(queue, i)
			}
		}
	}
	for h := range hosts {
		walk(h)
	}
	for len(queue) > 0 {
		k := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		for _, h := range bl.hostsOf[k] {
			walk(h)
		}
		// and over the Services whose cookie affinity or balancing they
		// share.
		if ing := bl.ingresses[k]; ing != nil {
			for _, svc := range servicesOf(ing) {
				if !sticky(svc) && !mixed(svc) {
					continue
				}
				for i := range bl.usersOf[svc] {
					if !affected[i] {
						affected[i] = true
						queue = append(queue, i)
					}
				}
			}
		}
		if len(affected) > len(bl.ingresses)/4+8 {
			return nil, false
		}
	}
	// Whether a canary's spec.defaultBackend joins a path of the rules
	// without a host, or is warned of joining nothing, is decided over
	// all of them: a scope with those paths, or with such a canary (which
	// would be warned as if there were none), is a full build.
	if len(bl.withCanaryDefault) > 0 {
		if hosts[""] {
			return nil, false
		}
		for k := range bl.withCanaryDefault {
			if affected[k] {
				return nil, false
			}
		}
	}

	// Build the Ingresses in scope with everything they read.
	part := Objects{IngressClasses: objs.IngressClasses, Secrets: objs.Secrets, ConfigMaps: objs.ConfigMaps}
	svcs := map[nsName]bool{}
	take := func(k nsName) {
		ing := bl.ingresses[k]
		if ing == nil {
			return
		}
		part.Ingresses = append(part.Ingresses, ing)
		for _, svc := range servicesOf(ing) {
			if svcs[svc] {
				continue
			}
			svcs[svc] = true
			if s := bl.services[svc]; s != nil {
				part.Services = append(part.Services, s)
			}
			for es := range bl.slicesOf[svc] {
				part.EndpointSlices = append(part.EndpointSlices, bl.slices[es])
			}
		}
	}
	for k := range affected {
		take(k)
	}
	for k := range bl.withDefault {
		if !affected[k] {
			take(k)
		}
	}
	if tlsChanged {
		refusal := (&builder{opts: bl.opts, warnings: map[Warning]bool{}}).refusalPolicy(objs.ConfigMaps)
		bl.updateTLS(objs.IngressClasses, refusal, tlsIngs, tlsSecrets, defChanged)
	}
	ps, _ := build(part, bl.opts, bl.certs, tlsSource{prev: bl.tls}) // its Hash is not needed

	// Merge: the Servers of the hosts in scope from ps, the others from
	// prev; the warnings of the Ingresses in scope from ps, the others from
	// prev. Everything else cannot have changed.
	prev := bl.prev
	s := &Snapshot{DefaultBackend: prev.DefaultBackend, DefaultCanaries: prev.DefaultCanaries, DefaultService: prev.DefaultService, Certificates: prev.Certificates, DefaultCertificate: prev.DefaultCertificate, DefaultCertificateHosts: prev.DefaultCertificateHosts, Global: prev.Global,
		HSTS: prev.HSTS, Streams: prev.Streams}
	if tlsChanged {
		s.Certificates, s.DefaultCertificate, s.DefaultCertificateHosts = bl.tls.certs, bl.tls.def, bl.tls.defHosts
	}
	s.Servers = make([]Server, 0, len(prev.Servers)+len(ps.Servers))
	i, j := 0, 0
	for i < len(prev.Servers) || j < len(ps.Servers) {
		for j < len(ps.Servers) && !hosts[ps.Servers[j].Host] {
			j++
		}
		for i < len(prev.Servers) && hosts[prev.Servers[i].Host] {
			i++
		}
		switch {
		case i < len(prev.Servers) && j < len(ps.Servers):
			if CompareHosts(prev.Servers[i].Host, ps.Servers[j].Host) < 0 {
				s.Servers = append(s.Servers, prev.Servers[i])
				i++
			} else {
				s.Servers = append(s.Servers, ps.Servers[j])
				j++
			}
		case i < len(prev.Servers):
			s.Servers = append(s.Servers, prev.Servers[i])
			i++
		case j < len(ps.Servers):
			s.Servers = append(s.Servers, ps.Servers[j])
			j++
		}
	}
	// The warnings of the Ingresses in scope come from ps, and those of
	// the certificates from bl.tls when they were settled again (ps has
	// none: its build took bl.tls as it was).
	isTLS := func(w Warning) bool { return w.Reason == ReasonSecretNotFound || w.Reason == ReasonInvalidCertificate }
	fromPart := func(w Warning) bool {
		return !isTLS(w) && w.Object.Kind == "Ingress" && affected[nsName{w.Object.Namespace, w.Object.Name}]
	}
	for _, w := range prev.Warnings {
		if !fromPart(w) && !(tlsChanged && isTLS(w)) {
			s.Warnings = append(s.Warnings, w)
		}
	}
	for _, w := range ps.Warnings {
		if fromPart(w) {
			s.Warnings = append(s.Warnings, w)
		}
	}
	if tlsChanged {
		s.Warnings = append(s.Warnings, bl.tls.allWarnings()...)
	}
	slices.SortFunc(s.Warnings, compareWarnings)
	s.Warnings = slices.Compact(s.Warnings)
	if len(s.Warnings) == 0 {
		s.Warnings = nil
	}
	s.Hash = hashWith(s, bl.hashes)
	return s, true
}

// wildcardSuffixes returns "foo.com" for each rule host "*.foo.com" of ing
// (nil: none), whose TLS the hosts under it have.
func wildcardSuffixes(ing *networkingv1.Ingress) []string {
	var out []string
	if ing == nil {
		return nil
	}
	for _, h := range ruleHostsOf(ing) {
		if suffix, ok := strings.CutPrefix(h, "*."); ok {
			out = append(out, suffix)
		}
	}
	return out
}

// tlsInputsEqual reports whether old and cur (either nil: absent) give the
// same certificates and hosts with TLS: no spec.tls (an Ingress without
// one never claims a host), or the same spec.tls and rule hosts under the
// same class, annotations (canary) and age (the oldest Ingress claims a
// host).
func tlsInputsEqual(old, cur *networkingv1.Ingress) bool {
	hasTLS := func(i *networkingv1.Ingress) bool { return i != nil && len(i.Spec.TLS) > 0 }
	switch {
	case !hasTLS(old) && !hasTLS(cur):
		return true
	case old == nil || cur == nil:
		return false
	}
	// The annotations and the deep inspection decide whether the Ingress
	// is served at all (Refused, deepInspect), so whether its sections
	// claim their hosts.
	return reflect.DeepEqual(old.Spec.TLS, cur.Spec.TLS) && slices.Equal(ruleHostsOf(old), ruleHostsOf(cur)) &&
		reflect.DeepEqual(old.Spec.IngressClassName, cur.Spec.IngressClassName) &&
		maps.Equal(old.Annotations, cur.Annotations) &&
		(deepInspect(old) == "") == (deepInspect(cur) == "") &&
		old.CreationTimestamp.Equal(&cur.CreationTimestamp)
}

// find returns the object named k in objs, or nil.
func find[T interface {
	*networkingv1.Ingress | *corev1.Service | *discoveryv1.EndpointSlice | *corev1.Secret
	GetNamespace() string
	GetName() string
}](objs []T, k nsName) T {
	for _, o := range objs {
		if o != nil && o.GetName() == k.name && o.GetNamespace() == k.namespace {
			return o
		}
	}
	var zero T
	return zero
}

// compareWarnings is the order of Snapshot.Warnings.
func compareWarnings(x, y Warning) int {
	return cmp.Or(
		cmp.Compare(x.Object.Kind, y.Object.Kind),
		cmp.Compare(x.Object.Namespace, y.Object.Namespace),
		cmp.Compare(x.Object.Name, y.Object.Name),
		cmp.Compare(x.Message, y.Message),
		cmp.Compare(x.Reason, y.Reason),
	)
}

// isDefaultService reports whether svc is Options.DefaultBackendService,
// whose changes may change the Snapshot's default backend.
func (bl *Builder) isDefaultService(svc nsName) bool {
	return bl.opts.DefaultBackendService != "" && bl.opts.DefaultBackendService == svc.namespace+"/"+svc.name
}

// isStreamService reports whether svc is the Service of one of the previous
// Snapshot's Streams (those of a missing Service included), whose changes
// may change its Streams.
func (bl *Builder) isStreamService(svc nsName) bool {
	for i := range bl.prev.Streams {
		if r := &bl.prev.Streams[i].Service; r.Namespace == svc.namespace && r.Name == svc.name {
			return true
		}
	}
	return false
}

// updateTLS settles bl.tls again after the changes of ings (each as it was
// and is, nil: absent) and of the Secrets secrets, which bl.ingresses and
// bl.secrets hold already: the hosts of their rules (and of the rules of
// every Ingress whose spec.tls names a changed Secret) are claimed again
// from the served Ingresses naming them, oldest first; the certificates whose hosts,
// validity or use changed are replaced; the default certificate is
// validated again when def. The rest of bl.tls, its certificates included,
// stays as it was: a spec.tls edit costs what its hosts cost, not what
// every certificate does.
func (bl *Builder) updateTLS(classes []*networkingv1.IngressClass, refusal annotations.RefusalPolicy, ings map[nsName][2]*networkingv1.Ingress, secrets []nsName, def bool) {
	tr := bl.tls
	sel := NewClassSelector(classes, bl.opts)
	sel.refusal = refusal
	secret := func(k nsName) *corev1.Secret { return bl.secrets[k] }
	hosts := map[string]bool{}
	addHosts := func(ing *networkingv1.Ingress) { // the hosts it may claim
		for _, h := range ruleHostsOf(ing) {
			hosts[h] = true
		}
	}
	users := map[nsName]bool{} // the Ingresses to settle
	keys := map[nsName]bool{}  // the Secrets whose certificate may change
	addKeys := func(ing *networkingv1.Ingress) {
		for _, k := range tlsSecretsOf(ing) {
			keys[k] = true
		}
	}
	for k, oc := range ings {
		old, cur := oc[0], oc[1]
		// The new sections count first: a Secret both name is not
		// validated again.
		if cur != nil {
			addHosts(cur)
			addKeys(cur)
			if sel.Serves(cur) {
				tr.count(cur, 1, secret, bl.certs)
				users[k] = true
			}
		}
		if old != nil {
			addHosts(old)
			addKeys(old)
			if sel.Serves(old) {
				tr.count(old, -1, secret, bl.certs)
			}
		}
		delete(tr.warnings, k)
	}
	rekeyed := map[nsName]bool{}
	for _, k := range secrets {
		tk := tr.keys[k]
		if tk == nil || tk.sec == bl.secrets[k] {
			continue
		}
		bl.certs.forget(tk.sec)
		tr.validate(k, bl.secrets[k], bl.certs)
		rekeyed[k], keys[k] = true, true
	}
	if len(rekeyed) > 0 {
		// The Ingresses naming them: Secrets change seldom, a scan of the
		// Ingresses with spec.tls costs less than an index kept up to date.
		for i := range bl.withTLS {
			for _, sec := range tlsSecretsOf(bl.ingresses[i]) {
				if rekeyed[sec] {
					users[i] = true
					addHosts(bl.ingresses[i])
				}
			}
		}
	}
	for h := range hosts {
		for i := range bl.ingressesOf[h] {
			users[i] = true
		}
		if k, ok := tr.claims[h]; ok && k != (nsName{}) {
			keys[k] = true
		}
	}
	list := make([]*networkingv1.Ingress, 0, len(users))
	for i := range users {
		if ing := bl.ingresses[i]; ing != nil {
			list = append(list, ing)
		}
	}
	// The warnings of served (deep inspection, refusal) are the scoped
	// build's.
	tr.settle((&builder{opts: bl.opts, warnings: map[Warning]bool{}, refusal: refusal}).served(classes, list), hosts, func(k nsName) bool { _, ok := ings[k]; return ok }, rekeyed)

	// The certificates of keys: replaced, added or removed.
	for h := range hosts {
		if k, ok := tr.claims[h]; ok && k != (nsName{}) {
			keys[k] = true
		}
	}
	var changed []Certificate
	var removed []ObjectRef
	for k := range keys {
		tk := tr.keys[k]
		if tk == nil || tk.cert == nil {
			removed = append(removed, ObjectRef{Kind: "Secret", Namespace: k.namespace, Name: k.name})
			continue
		}
		var claimed []string
		for _, h := range tk.cert.Hosts {
			if !hosts[h] {
				claimed = append(claimed, h)
			}
		}
		for h := range hosts {
			if tr.claims[h] == k {
				claimed = append(claimed, h)
			}
		}
		tk.cert.Hosts = nil
		c := tk.withHosts(claimed)
		tk.cert.Hosts = c.Hosts
		changed = append(changed, c)
	}
	slices.SortFunc(changed, func(x, y Certificate) int { return compareCerts(&x, &y) })
	// Only the removed that the previous certificates hold, in their order.
	removed = slices.DeleteFunc(removed, func(r ObjectRef) bool {
		_, found := slices.BinarySearchFunc(tr.certs, r, func(c Certificate, r ObjectRef) int {
			return compareCerts(&c, &Certificate{Secret: r})
		})
		return !found
	})
	slices.SortFunc(removed, func(x, y ObjectRef) int {
		return compareCerts(&Certificate{Secret: x}, &Certificate{Secret: y})
	})
	certs, err := mergeSorted(tr.certs, changed, removed, func(c *Certificate) ObjectRef { return c.Secret }, compareCerts)
	if err != nil {
		panic(fmt.Sprintf("snapshot: settle certificates: %v", err)) // changed and removed are built to fit
	}
	tr.certs = certs
	// The hosts served the default certificate: those out of scope as
	// they were, those in scope as claimed now. A new slice: Snapshots
	// share the old one.
	var defHosts []string
	for _, h := range tr.defHosts {
		if !hosts[h] {
			defHosts = append(defHosts, h)
		}
	}
	for h := range hosts {
		if k, ok := tr.claims[h]; ok && k == (nsName{}) {
			defHosts = append(defHosts, h)
		}
	}
	tr.defHosts = sortedHosts(defHosts)
	if def {
		bl.certs.forget(tr.defSec)
		tr.def, tr.defWarnings, tr.defSec = (&builder{opts: bl.opts, certs: bl.certs}).defaultCertificate(secret)
	}
}

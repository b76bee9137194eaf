package snapshot

import (
	"cmp"
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
// hosts under a wildcard TLS host) and of the Ingresses that use a changed
// Service or EndpointSlice, closed over every Ingress sharing one of those
// hosts; and, when an Ingress with spec.tls or a Secret one names (or the
// default certificate's) changed, the certificates from the spec.tls of
// every Ingress. Its result is always the Snapshot Build gives for the same
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
// any change while an Ingress sets server-alias or from-to-www-redirect,
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
	// withNames are those with server-alias or from-to-www-redirect, whose
	// names compete with every host: while there is one, every build is
	// full.
	withNames map[nsName]bool
	// certs keeps the validated certificates of the last build, tls what
	// its spec.tls sections and Secrets gave.
	certs      *certCache
	tls        *tlsResult
	lastScoped bool
}

// MaxScopedChanges is the most changed objects a Builder scopes a rebuild
// to; more is a full Build. 64.
const MaxScopedChanges = 64

// NewBuilder returns a Builder with opts.
func NewBuilder(opts Options) *Builder { return &Builder{opts: opts, certs: newCertCache()} }

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
	bl.authUsersOf, bl.authSecretOf = map[nsName]map[nsName]bool{}, map[nsName]nsName{}
	bl.withTLS, bl.withDefault, bl.withNames = map[nsName]bool{}, map[nsName]bool{}, map[nsName]bool{}
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
	// computed again from every Ingress's spec.tls.
	tlsChanged := false
	var wildcards []string // of TLS hosts that changed: every host under them
	users := func(svc nsName) {
		for i := range bl.usersOf[svc] {
			affected[i] = true
		}
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
				wildcards = append(wildcards, wildcardSuffixes(old)...)
				wildcards = append(wildcards, wildcardSuffixes(cur)...)
			}
			for _, h := range bl.hostsOf[k] {
				hosts[h] = true
			}
			bl.setIngress(k, cur)
			affected[k] = true
		case "Secret":
			def := bl.opts.DefaultSSLCertificate
			if bl.tlsSecrets[k] > 0 || len(bl.authUsersOf[k]) > 0 || def == ref.Name || strings.HasSuffix(def, "/"+ref.Name) { // by name: to be safe
				tlsChanged = true
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
	// A wildcard TLS host gives TLS to the hosts one label under it.
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
		if len(affected) > len(bl.ingresses)/4+8 {
			return nil, false
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
	src := tlsSource{prev: bl.tls}
	if tlsChanged {
		src = tlsSource{from: make([]*networkingv1.Ingress, 0, len(bl.withTLS))}
		for k := range bl.withTLS {
			src.from = append(src.from, bl.ingresses[k])
		}
	}
	ps, tr := build(part, bl.opts, bl.certs, src)
	bl.tls = tr

	// Merge: the Servers of the hosts in scope from ps, the others from
	// prev; the warnings of the Ingresses in scope from ps, the others from
	// prev. Everything else cannot have changed.
	prev := bl.prev
	s := &Snapshot{DefaultBackend: prev.DefaultBackend, Certificates: prev.Certificates, DefaultCertificate: prev.DefaultCertificate, Global: prev.Global,
		Streams: prev.Streams}
	if tlsChanged {
		s.Certificates, s.DefaultCertificate = ps.Certificates, ps.DefaultCertificate
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
	// The warnings of the Ingresses in scope come from ps, and so do those
	// of the certificates when they were computed again (else ps has none).
	fromPart := func(w Warning) bool {
		if w.Reason == ReasonSecretNotFound || w.Reason == ReasonInvalidCertificate {
			return tlsChanged
		}
		return w.Object.Kind == "Ingress" && affected[nsName{w.Object.Namespace, w.Object.Name}]
	}
	for _, w := range prev.Warnings {
		if !fromPart(w) {
			s.Warnings = append(s.Warnings, w)
		}
	}
	for _, w := range ps.Warnings {
		if fromPart(w) {
			s.Warnings = append(s.Warnings, w)
		}
	}
	slices.SortFunc(s.Warnings, compareWarnings)
	if len(s.Warnings) == 0 {
		s.Warnings = nil
	}
	s.Hash = hashOf(s)
	return s, true
}

// wildcardSuffixes returns "foo.com" for each TLS host "*.foo.com" of ing
// (nil: none).
func wildcardSuffixes(ing *networkingv1.Ingress) []string {
	var out []string
	if ing == nil {
		return nil
	}
	for _, t := range ing.Spec.TLS {
		for _, h := range t.Hosts {
			if suffix, ok := strings.CutPrefix(strings.ToLower(h), "*."); ok {
				out = append(out, strings.TrimSuffix(suffix, "."))
			}
		}
	}
	return out
}

// tlsInputsEqual reports whether old and cur (either nil: absent) give the
// same certificates and hosts with TLS: the same spec.tls, or none, under
// the same class and age (the oldest Ingress claims a host).
func tlsInputsEqual(old, cur *networkingv1.Ingress) bool {
	hasTLS := func(i *networkingv1.Ingress) bool { return i != nil && len(i.Spec.TLS) > 0 }
	switch {
	case !hasTLS(old) && !hasTLS(cur):
		return true
	case old == nil || cur == nil:
		return false
	}
	return reflect.DeepEqual(old.Spec.TLS, cur.Spec.TLS) &&
		reflect.DeepEqual(old.Spec.IngressClassName, cur.Spec.IngressClassName) &&
		old.Annotations[LegacyClassAnnotation] == cur.Annotations[LegacyClassAnnotation] &&
		old.CreationTimestamp.Equal(&cur.CreationTimestamp)
}

// find returns the object named k in objs, or nil.
func find[T interface {
	*networkingv1.Ingress | *corev1.Service | *discoveryv1.EndpointSlice
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

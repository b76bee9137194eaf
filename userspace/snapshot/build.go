package snapshot

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/weir-lb/weir/userspace/annotations"
)

// Well-known keys Build reads.
const (
	// LegacyClassAnnotation is the pre-IngressClass way of naming a class.
	LegacyClassAnnotation = "kubernetes.io/ingress.class"
	// DefaultClassAnnotation marks an IngressClass as the cluster default.
	DefaultClassAnnotation = "ingressclass.kubernetes.io/is-default-class"
	// ServiceNameLabel links an EndpointSlice to its Service.
	ServiceNameLabel = "kubernetes.io/service-name"
)

// Warning reasons, in addition to those listed on Warning.Reason.
const (
	ReasonInvalidAnnotation     = "InvalidAnnotation"
	ReasonUnsupportedAnnotation = "UnsupportedAnnotation"
	ReasonSnippetIgnored        = "SnippetIgnored"
	// ReasonInvalidIngress: ingress-nginx does not serve the Ingress for
	// its annotations (a blocklisted word, an annotation riskier than
	// annotations-risk-level, a value its validator rejects); neither does
	// Weir.
	ReasonInvalidIngress = "InvalidIngress"
	ReasonInvalidHost    = "InvalidHost"
	ReasonInvalidPath    = "InvalidPath"
	// ReasonInvalidPathType: a path of pathType Exact or Prefix with a
	// byte other than a letter, a digit, '.', '_', '-' or '/', under
	// strict-validate-path-type (the default); the admission webhook
	// refuses the Ingress, the path is served.
	ReasonInvalidPathType = "InvalidPathType"
	// ReasonPathTypeNotStrict is ReasonInvalidPathType with
	// strict-validate-path-type "false": a warning only.
	ReasonPathTypeNotStrict     = "PathTypeNotStrict"
	ReasonInvalidBackend        = "InvalidBackend"
	ReasonConflictLost          = "ConflictLost"
	ReasonServiceNotFound       = "ServiceNotFound"
	ReasonUnsupportedService    = "UnsupportedService"
	ReasonPortNotFound          = "PortNotFound"
	ReasonNoReadyEndpoints      = "NoReadyEndpoints"
	ReasonConfigMapNotFound     = "ConfigMapNotFound"
	ReasonInvalidConfigMapValue = "InvalidConfigMapValue"
	// ReasonUnsupportedConfigMapKey: a controller ConfigMap key Weir does
	// not apply (annotations.CheckConfigMap).
	ReasonUnsupportedConfigMapKey = "UnsupportedConfigMapKey"
)

// Build turns objs into a Snapshot for opts. It is pure and deterministic:
// the same objects in any order give an identical Snapshot and Hash. It
// never fails; whatever it rejects or ignores is reported in
// Snapshot.Warnings and the rest is built regardless.
//
// An Ingress is served when spec.ingressClassName names an IngressClass
// whose spec.controller is opts.ControllerClass; or, without
// ingressClassName, when its kubernetes.io/ingress.class annotation equals
// opts.IngressClass; or, naming no class at all (an empty name or annotation
// counts as none), when opts.WatchIngressWithoutClass is set or one of
// Weir's IngressClasses is the cluster default. Other Ingresses are ignored
// without warnings: they may belong to another controller.
//
// When several Ingresses define the same host, path and match type, or the
// same spec.defaultBackend slot, the oldest (creationTimestamp, then the
// greater "namespace/name", as ingress-nginx) wins and the others get a ConflictLost warning. A route
// whose Service, port or endpoints are missing is kept with Unavailable
// set, so the proxy answers 503 rather than 404.
func Build(objs Objects, opts Options) *Snapshot {
	s, _ := build(objs, opts, newCertCache(), tlsSource{})
	s.Hash = hashOf(s)
	return s
}

// tlsSource says where a build takes the certificates and the hosts with TLS
// from. The zero value: the spec.tls of the Ingresses built.
type tlsSource struct {
	// prev, when non-nil, is what the TLS inputs of every Ingress give (a
	// Builder's scoped build routes a few Ingresses under the TLS of all):
	// it is used as is, and the warnings of spec.tls sections and Secrets
	// are not reported.
	prev *tlsResult
}

// build is Build with certificates validated through certs and TLS from
// tls, without the Hash (its callers compute it, or do not need it). It
// returns what the TLS inputs gave, for a later build's tlsSource.
func build(objs Objects, opts Options, certs *certCache, tls tlsSource) (*Snapshot, *tlsResult) {
	b := &builder{
		certs:    certs,
		opts:     opts,
		services: make(map[nsName]*corev1.Service, len(objs.Services)),
		slices:   make(map[nsName][]*discoveryv1.EndpointSlice, len(objs.EndpointSlices)),
		warnings: map[Warning]bool{},
		parsed:   map[string]*parsedAnnotations{},
	}
	b.index(objs)
	defaults := b.configMapDefaults(objs.ConfigMaps)
	global := b.global(objs.ConfigMaps)
	b.refusal = b.refusalPolicy(objs.ConfigMaps)
	ings := b.served(objs.IngressClasses, objs.Ingresses)
	b.routes(ings, defaults)
	b.defaultBackend(ings, defaults)
	b.attachDefaultCanaries(ings) // build_canary.go
	b.shareDefaultBalancing()     // build_balance.go

	s := &Snapshot{Servers: b.servers(), DefaultBackend: b.def, DefaultCanaries: b.defCanaries, DefaultService: b.defSvc, Global: global, Streams: b.streams(objs.ConfigMaps)}
	tr := tls.prev
	if tr == nil {
		tr = b.certificates(objs, ings, s.Servers)
		for _, w := range tr.allWarnings() {
			b.warnings[w] = true
		}
	}
	s.Certificates, s.DefaultCertificate, s.DefaultCertificateHosts = tr.certs, tr.def, tr.defHosts
	b.tls(objs, ings, tr, s)
	b.redirectCertificates(tr, s) // build_rewrite.go
	b.serverTLS(objs.Secrets, ings, s)
	b.serverProxySSL(ings, s) // build_upstream.go
	s.Warnings = b.sortedWarnings()
	return s, tr
}

// ingress is a served Ingress with its parsed annotations and its rank by
// age (0 is the oldest).
type ingress struct {
	obj  *networkingv1.Ingress
	ref  ObjectRef
	rank int
	cfg  annotations.Config
	// parsed is shared by the Ingresses with the same annotations.
	parsed *parsedAnnotations
}

// route is a candidate Path before conflicts are settled and backends are
// resolved.
type route struct {
	host    string
	path    string
	match   MatchType
	slash   bool   // Path.SlashRedirect
	written string // the rule's path as written, "/" for none: Path.CookiePath
	ing     *ingress
	backend *networkingv1.IngressBackend
}

type builder struct {
	opts     Options
	certs    *certCache
	services map[nsName]*corev1.Service
	slices   map[nsName][]*discoveryv1.EndpointSlice // by Service
	warnings map[Warning]bool
	hosts    map[string]*hostBuild
	def      *Backend
	// defIngress: def is a non-canary Ingress's spec.defaultBackend.
	defIngress bool
	// defCanaries are the canaries of def (attachDefaultCanaries).
	defCanaries []Canary
	defSvc      *Backend // Options.DefaultBackendService's
	// owners are the Ingresses whose balancing settings each upstream
	// takes (build_balance.go).
	owners upstreamOwners
	// parsed memoizes annotations.Parse by the Ingress's annotations
	// (annotationKey): Ingresses often share them.
	parsed map[string]*parsedAnnotations
	// refusal decides which Ingresses ingress-nginx refuses for their
	// annotations (refusalPolicy).
	refusal annotations.RefusalPolicy
	keyBuf  []byte
	// allowedHeaders is global-allowed-response-headers
	// (build_headers.go).
	allowedHeaders []string
	// laxPathType is strict-validate-path-type "false".
	laxPathType bool
	// crossNamespace is allow-cross-namespace-resources.
	crossNamespace bool
	// proxySSLLocationOnly is proxy-ssl-location-only.
	proxySSLLocationOnly bool
	// wwwOwner is the Ingress that set from-to-www-redirect on each host
	// with a RedirectFrom (build_rewrite.go).
	wwwOwner map[string]ObjectRef
	auth     authState // the objects auth annotations name (build_auth.go)
	// secretList are the build's Secrets, indexed into secrets on first
	// use (build_upstream.go).
	secretList []*corev1.Secret
	secrets    map[nsName]*corev1.Secret
}

// nsName keys objects by namespace and name without building a string.
type nsName struct{ namespace, name string }

// parsedAnnotations is a memoized result of annotations.Parse, and of
// annotations.ParseSSL once sslDone.
type parsedAnnotations struct {
	cfg     annotations.Config
	errs    []error
	sslDone bool
	ssl     annotations.SSL
	sslErrs []error
}

// annotationKey appends to buf the annotations ann, sorted and encoded
// unambiguously: equal keys mean annotations.Parse and annotations.ParseSSL
// return the same. (Only the keys under annotations.Prefix matter today;
// all are taken so that a parser reading another key stays correct.)
func annotationKey(buf []byte, ann map[string]string) []byte {
	var arr [8]string
	keys := arr[:0]
	for k := range ann {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := ann[k]
		buf = strconv.AppendInt(buf, int64(len(k)), 10)
		buf = append(buf, ':')
		buf = append(buf, k...)
		buf = strconv.AppendInt(buf, int64(len(v)), 10)
		buf = append(buf, ':')
		buf = append(buf, v...)
	}
	return buf
}

func (b *builder) warn(obj ObjectRef, reason, format string, args ...any) {
	b.warnings[Warning{Object: obj, Reason: reason, Message: fmt.Sprintf(format, args...)}] = true
}

func (b *builder) sortedWarnings() []Warning {
	if len(b.warnings) == 0 {
		return nil
	}
	ws := make([]Warning, 0, len(b.warnings))
	for w := range b.warnings {
		ws = append(ws, w)
	}
	slices.SortFunc(ws, compareWarnings)
	return ws
}

func (b *builder) index(objs Objects) {
	b.indexAuth(objs)
	b.secretList = objs.Secrets
	for _, s := range objs.Services {
		if s != nil {
			b.services[nsName{s.Namespace, s.Name}] = s
		}
	}
	for _, es := range objs.EndpointSlices {
		if es == nil || es.Labels[ServiceNameLabel] == "" {
			continue
		}
		k := nsName{es.Namespace, es.Labels[ServiceNameLabel]}
		b.slices[k] = append(b.slices[k], es)
	}
}

// configMap returns the data of opts.ConfigMap among cms and its
// reference; found is false when there is none (no ConfigMap named, or not
// among cms).
func (b *builder) configMap(cms []*corev1.ConfigMap) (data map[string]string, ref ObjectRef, found bool) {
	if b.opts.ConfigMap == "" {
		return nil, ObjectRef{}, false
	}
	return findConfigMap(cms, b.opts.ConfigMap)
}

// warnConfigMap reports the rejected values of the ConfigMap ref: each
// keeps its built-in default, except those that fail closed and a
// log-format-upstream with unknown variables (applied).
func (b *builder) warnConfigMap(ref ObjectRef, errs []error) {
	for _, err := range errs {
		switch {
		case errors.Is(err, annotations.ErrUnappliedKey):
			b.warn(ref, ReasonUnsupportedConfigMapKey, "%v", err)
		case errors.Is(err, annotations.ErrDenied):
			b.warn(ref, ReasonInvalidConfigMapValue, "%v (every route that does not set its own list)", err)
		case errors.Is(err, annotations.ErrFailsClosed), errors.Is(err, annotations.ErrLoggedAsDash), errors.Is(err, annotations.ErrRiskLevel): // applied as it says
			b.warn(ref, ReasonInvalidConfigMapValue, "%v", err)
		default:
			b.warn(ref, ReasonInvalidConfigMapValue, "%v; built-in default kept", err)
		}
	}
}

// refusalPolicy returns the refusal settings of opts.ConfigMap
// (annotations-risk-level, annotation-value-word-blocklist) and of
// opts.SkipAnnotationValidation, and reports a misspelt risk level.
func (b *builder) refusalPolicy(cms []*corev1.ConfigMap) annotations.RefusalPolicy {
	data, ref, _ := b.configMap(cms)
	p, errs := annotations.RefusalPolicyFrom(data, !b.opts.SkipAnnotationValidation)
	b.warnConfigMap(ref, errs)
	return p
}

// configMapDefaults returns the global proxy settings of opts.ConfigMap,
// and reports a ConfigMap that is named and missing.
func (b *builder) configMapDefaults(cms []*corev1.ConfigMap) annotations.Proxy {
	data, ref, ok := b.configMap(cms)
	if !ok {
		if b.opts.ConfigMap != "" {
			b.warn(ref, ReasonConfigMapNotFound, "configmap %s not found; built-in defaults used", b.opts.ConfigMap)
		}
		return annotations.DefaultProxy()
	}
	p, errs := annotations.ParseDefaults(data)
	b.warnConfigMap(ref, errs)
	return p
}

// global returns the Global settings of opts.ConfigMap (zero without one).
func (b *builder) global(cms []*corev1.ConfigMap) annotations.Global {
	data, ref, _ := b.configMap(cms)
	g, errs := annotations.ParseGlobal(data)
	g.SSLPassthroughProxy = b.opts.EnableSSLPassthrough
	b.warnConfigMap(ref, append(errs, annotations.CheckConfigMap(data)...))
	b.allowedHeaders = g.AllowedResponseHeaders
	b.laxPathType = g.LaxPathType
	b.crossNamespace, b.auth.crossNamespace = g.AllowCrossNamespaceResources, g.AllowCrossNamespaceResources
	b.proxySSLLocationOnly = g.ProxySSLLocationOnly
	b.globalHeaders(&g, ref) // build_headers.go
	return g
}

// served returns the Ingresses of all that Weir's class selects, oldest
// first: by creation time, then, as ingress-nginx's sortIngressSlice, the
// greater "namespace/name" first (Ingresses applied together are often
// created in the same second).
func (b *builder) served(classList []*networkingv1.IngressClass, all []*networkingv1.Ingress) []*ingress {
	classes := NewClassSelector(classList, b.opts)
	classes.refusal = b.refusal
	var objsServed []*networkingv1.Ingress
	for _, ing := range all {
		if !classes.ServesClass(ing) {
			continue
		}
		ref := ObjectRef{Kind: "Ingress", Namespace: ing.Namespace, Name: ing.Name}
		if unsafe := deepInspect(ing); unsafe != "" && !b.opts.SkipDeepInspect {
			b.warn(ref, ReasonUnsafeIngress, "%s; the ingress is not served (deep inspection)", unsafe)
		} else if err := classes.Refused(ing); err != nil {
			b.warn(ref, ReasonInvalidIngress, "%v; the ingress is not served", err)
		} else {
			objsServed = append(objsServed, ing)
		}
	}
	// namespace/name is unique: the order is total, no stable sort needed.
	slices.SortFunc(objsServed, func(x, y *networkingv1.Ingress) int {
		return cmp.Or(
			x.CreationTimestamp.Compare(y.CreationTimestamp.Time),
			// CompareSecrets compares any two "namespace/name" keys.
			CompareSecrets(ObjectRef{Namespace: y.Namespace, Name: y.Name}, ObjectRef{Namespace: x.Namespace, Name: x.Name}),
		)
	})
	ings := make([]*ingress, 0, len(objsServed))
	store := make([]ingress, len(objsServed))
	for i, obj := range objsServed {
		ing := &store[i]
		*ing = ingress{obj: obj, rank: i, ref: ObjectRef{Kind: "Ingress", Namespace: obj.Namespace, Name: obj.Name}}
		ings = append(ings, ing)
	}
	return ings
}

// parseAnnotations fills ing.cfg over defaults and reports what was
// rejected.
func (b *builder) parseAnnotations(ing *ingress, defaults annotations.Proxy) {
	b.keyBuf = annotationKey(b.keyBuf[:0], ing.obj.Annotations)
	p := b.parsed[string(b.keyBuf)]
	if p == nil {
		p = &parsedAnnotations{}
		p.cfg, p.errs = annotations.Parse(ing.obj.Annotations, defaults)
		b.parsed[string(b.keyBuf)] = p
	}
	ing.parsed = p
	ing.cfg = p.cfg
	b.resolveAuth(ing)
	for _, err := range p.errs {
		reason := ReasonInvalidAnnotation
		switch {
		case errors.Is(err, annotations.ErrUnsupported):
			reason = ReasonUnsupportedAnnotation
		case errors.Is(err, annotations.ErrSnippet):
			reason = ReasonSnippetIgnored
		}
		b.warn(ing.ref, reason, "%v", err)
	}
}

// hostOf returns the lower-cased host of rule, and whether it is valid.
func (b *builder) hostOf(ing *ingress, rule networkingv1.IngressRule) (string, bool) {
	host := strings.ToLower(rule.Host)
	if host == "" || validHost(host) {
		return host, true
	}
	b.warn(ing.ref, ReasonInvalidHost, "host %q is not a valid DNS name or wildcard (*.example.com); rule skipped", rule.Host)
	return "", false
}

// validHost accepts a lower-case DNS-1123 subdomain, optionally behind a
// "*." wildcard label.
func validHost(h string) bool {
	return annotations.ValidHostName(strings.TrimPrefix(h, "*."))
}

// routes builds the Servers of every served Ingress: settles use-regex per
// host, normalizes paths, resolves conflicts and backends.
func (b *builder) routes(ings []*ingress, defaults annotations.Proxy) {
	for _, ing := range ings {
		b.parseAnnotations(ing, defaults)
	}
	b.owners = owners(ings) // build_balance.go
	// A host uses regex when any Ingress with rules on it says so, or
	// rewrites one of its paths (build_rewrite.go), or its root location
	// does (rootRegex).
	regexHosts := map[string]bool{}
	first, firstOrder := firstIngresses(ings)
	rootRule := map[string]bool{} // the hosts a rule "/" gives a root
	for _, ing := range ings {
		if ing.cfg.Canary.Enabled {
			continue
		}
		for _, rule := range ing.obj.Spec.Rules {
			host := strings.ToLower(rule.Host)
			if rule.HTTP == nil || host != "" && !validHost(host) {
				continue
			}
			if ing.cfg.UseRegex || rewritesOn(ing, &rule) {
				regexHosts[host] = true
			}
			if slices.ContainsFunc(rule.HTTP.Paths, replacesRoot) {
				rootRule[host] = true
			}
		}
	}
	for host, ing := range first {
		if !rootRule[host] && rootRegex(ing) {
			regexHosts[host] = true
		}
	}

	type key struct {
		host, path string
		match      MatchType
	}
	winners := make(map[key]*route, len(ings))
	order := make([]*route, 0, len(ings))
	for _, ing := range ings {
		if ing.cfg.Canary.Enabled {
			continue // attached below by attachCanaries
		}
		for _, rule := range ing.obj.Spec.Rules {
			host, ok := b.hostOf(ing, rule)
			if !ok || rule.HTTP == nil {
				continue
			}
			for i := range rule.HTTP.Paths {
				r, ok := b.route(ing, host, regexHosts[host], &rule.HTTP.Paths[i])
				if !ok {
					continue
				}
				k := key{r.host, r.path, r.match}
				if w, dup := winners[k]; dup {
					b.warn(ing.ref, ReasonConflictLost, "path %q (%s) of host %q is already defined by ingress %s/%s; ignored",
						r.path, r.match, r.host, w.ing.ref.Namespace, w.ing.ref.Name)
					continue
				}
				winners[k] = r
				order = append(order, r)
			}
		}
	}

	b.hosts = make(map[string]*hostBuild, len(order))
	for _, r := range order {
		h := b.hosts[r.host]
		if h == nil {
			h = &hostBuild{srv: Server{Host: r.host, UseRegex: regexHosts[r.host], Paths: []Path{}}}
			b.hosts[r.host] = h
		}
		be, ok := b.backend(r.ing, r.backend)
		if !ok {
			continue
		}
		h.srv.Paths = append(h.srv.Paths, Path{Path: r.path, Match: r.match, SlashRedirect: r.slash, CookiePath: r.written, Backend: be})
		h.rank = append(h.rank, r.ing.rank)
	}
	b.hostRoots(first, firstOrder, rootRule, regexHosts, defaults)
	for _, h := range b.hosts {
		sortPaths(h.srv.Paths, h.rank, h.srv.UseRegex)
	}
	b.attachCanaries(ings, regexHosts)
	for _, h := range b.hosts {
		for i := range h.srv.Paths {
			if p := &h.srv.Paths[i]; !cookieAffinity(p) {
				p.CookiePath = ""
			}
		}
	}
	b.shareBalancing() // build_balance.go
	b.shareAffinity()
	byRank := make(map[int]*ingress, len(ings))
	for _, ing := range ings {
		byRank[ing.rank] = ing
	}
	for _, h := range b.hosts {
		if h.srv.UseRegex {
			splitPrefixes(h, byRank)
			sortPaths(h.srv.Paths, h.rank, true)
		}
	}
	b.serverNames(ings) // build_rewrite.go
}

// shareAffinity gives every path routed to one Service port the cookie
// affinity ingress-nginx keeps per upstream (createServers): once an
// Ingress with affinity cookie routes there, every location of the
// upstream is balanced by the cookie, with the affinity mode of the oldest
// Ingress routing there that writes one, with or without affinity
// (upstreamOwners.mode; balanced when none does) and the cookie settings
// of the newest with affinity; a canary that keeps its main rule's
// affinity (not legacy) takes the shared one. Only the paths of the
// Ingresses with affinity set the cookie: CookiePath is left as
// cookieAffinity settled it. It runs after attachCanaries, shareBalancing
// and after CookiePath is settled, before the regex prefixes are split.
func (b *builder) shareAffinity() {
	type shared struct {
		last    int
		lastBal *annotations.Balance
	}
	var ups map[string]*shared
	for _, h := range b.hosts {
		for i := range h.srv.Paths {
			be := &h.srv.Paths[i].Backend
			if bal := be.Proxy.Balance; bal != nil && bal.Cookie && !be.DefaultUpstream && be.Service != "" {
				if ups == nil {
					ups = map[string]*shared{}
				}
				r, name := h.rank[i], be.UpstreamName()
				if u := ups[name]; u == nil || r > u.last {
					ups[name] = &shared{last: r, lastBal: bal}
				}
			}
		}
	}
	if ups == nil {
		return
	}
	for _, h := range b.hosts {
		for i := range h.srv.Paths {
			p := &h.srv.Paths[i]
			name := p.Backend.UpstreamName()
			u := ups[name]
			if u == nil || p.Backend.DefaultUpstream || p.Backend.Service == "" {
				continue
			}
			mode := b.owners.mode[name]
			m := sharedBalance(u.lastBal, mode != nil && mode.cfg.AffinityMode == "persistent", p.Backend.Proxy.Balance)
			p.Backend.Proxy.Balance = m
			for j := range p.Canaries {
				c := &p.Canaries[j].Backend.Proxy
				if c.Balance == nil || !c.Balance.CanaryLegacy {
					c.Balance = sharedBalance(m, m.Persistent, c.Balance)
				}
			}
		}
	}
	b.shareCanaryAffinity()
}

// shareCanaryAffinity gives the legacy canaries (affinity-canary-behavior
// "legacy", none of their own) the cookie affinity of a sticky canary
// routing to the same upstream: in ingress-nginx a canary's Service port
// is one upstream, and mergeAlternativeBackend copies the main rule's
// affinity onto it for the sticky canary. Of several, the one of the
// newest main rule (then the greatest host and path) is taken, a stand-in
// for ingress-nginx's last merge.
func (b *builder) shareCanaryAffinity() {
	type from struct {
		rank      int
		host, key string
		bal       *annotations.Balance
	}
	var sticky map[string]from
	for host, h := range b.hosts {
		for i := range h.srv.Paths {
			p := &h.srv.Paths[i]
			for j := range p.Canaries {
				be := &p.Canaries[j].Backend
				bal := be.Proxy.Balance
				if bal == nil || !bal.Cookie || bal.CanaryLegacy {
					continue
				}
				if sticky == nil {
					sticky = map[string]from{}
				}
				f := from{rank: h.rank[i], host: host, key: p.Path + " " + string(p.Match), bal: bal}
				name := be.UpstreamName()
				if cur, ok := sticky[name]; !ok || cmp.Or(cmp.Compare(f.rank, cur.rank), strings.Compare(f.host, cur.host), strings.Compare(f.key, cur.key)) > 0 {
					sticky[name] = f
				}
			}
		}
	}
	if sticky == nil {
		return
	}
	for _, h := range b.hosts {
		for i := range h.srv.Paths {
			p := &h.srv.Paths[i]
			for j := range p.Canaries {
				be := &p.Canaries[j].Backend
				if bal := be.Proxy.Balance; bal != nil && bal.CanaryLegacy {
					if f, ok := sticky[be.UpstreamName()]; ok {
						be.Proxy.Balance = sharedBalance(f.bal, f.bal.Persistent, bal)
					}
				}
			}
		}
	}
}

// sharedBalance is the Balance of a path whose own is own (nil: none) on
// an upstream with the cookie affinity of newest and the mode persistent:
// newest's cookie settings, own's hashing and canary behaviour (per
// Ingress in ingress-nginx too). It returns own itself when that is the
// result, so unchanged paths keep their pointer.
func sharedBalance(newest *annotations.Balance, persistent bool, own *annotations.Balance) *annotations.Balance {
	m := *newest
	m.Persistent = persistent
	m.HashBy, m.HashBySubset, m.HashBySubsetSize, m.CanaryLegacy = "", false, 0, false
	if own != nil {
		m.HashBy, m.HashBySubset, m.HashBySubsetSize, m.CanaryLegacy = own.HashBy, own.HashBySubset, own.HashBySubsetSize, own.CanaryLegacy
		if m == *own {
			return own
		}
	}
	return &m
}

// cookieAffinity reports whether the backend of p or one of its canaries
// has cookie affinity: whether p keeps its CookiePath.
func cookieAffinity(p *Path) bool {
	if b := p.Backend.Proxy.Balance; b != nil && b.Cookie {
		return true
	}
	for _, c := range p.Canaries {
		if b := c.Backend.Proxy.Balance; b != nil && b.Cookie {
			return true
		}
	}
	return false
}

// hostRoots gives each host named by a rule its root location, as
// ingress-nginx's createServers: a Prefix "/" path made by the oldest
// non-canary Ingress with a rule on the host, with that Ingress's
// settings (locationApplyAnnotations), unless a rule defines "/" (Prefix
// or ImplementationSpecific: getBackendServers' "Replacing location",
// which keeps the replacing Ingress's settings). It backs the requests
// none of the host's paths match, and a rule with a host and no paths:
// with the Ingress's spec.defaultBackend when it has a usable one, else
// with ingress-nginx's upstream-default-backend (hostRoot). Such requests
// never go to the rules without a host, nor to a catch-all Ingress's
// spec.defaultBackend, which only the default server's requests reach
// (ingress-nginx e2e: ingress/without_host.go). Rules without a host are
// the default server's, whose root is the catch-all default backend.
//
// rootRule holds the hosts whose root a rule replaces (replacesRoot),
// settled on the rules before the paths are built, since it decides
// whether the root's settings make the host a regex host (rootRegex).
func (b *builder) hostRoots(first map[string]*ingress, hosts []string, rootRule, regexHosts map[string]bool, defaults annotations.Proxy) {
	for _, host := range hosts {
		ing := first[host]
		h := b.hosts[host]
		if h == nil {
			h = &hostBuild{srv: Server{Host: host, UseRegex: regexHosts[host], Paths: []Path{}}}
			b.hosts[host] = h
		}
		if rootRule[host] {
			continue
		}
		h.srv.Paths = append(h.srv.Paths, Path{Path: "/", Match: MatchPrefix, Backend: b.hostRoot(ing, defaults)})
		h.rank = append(h.rank, ing.rank)
	}
}

// firstIngresses returns the oldest non-canary Ingress of ings (oldest
// first) with a rule on each valid host but "", the one that makes the
// host's server and its root location in ingress-nginx (createServers),
// and those hosts in the order their first Ingress names them.
func firstIngresses(ings []*ingress) (map[string]*ingress, []string) {
	first := map[string]*ingress{}
	var hosts []string
	for _, ing := range ings {
		if ing.cfg.Canary.Enabled {
			continue
		}
		for _, rule := range ing.obj.Spec.Rules {
			host := strings.ToLower(rule.Host)
			if host == "" || !validHost(host) || first[host] != nil {
				continue
			}
			first[host] = ing
			hosts = append(hosts, host)
		}
	}
	return first, hosts
}

// replacesRoot reports whether p is a rule path "/" that takes the place
// of its host's root location (hostRoots): Prefix or
// ImplementationSpecific (which ingress-nginx reads as Prefix), with a
// backend: the paths route builds as "/" and not Exact.
func replacesRoot(p networkingv1.HTTPIngressPath) bool {
	return (p.Path == "" || p.Path == "/") &&
		(p.PathType == nil || *p.PathType == networkingv1.PathTypePrefix || *p.PathType == networkingv1.PathTypeImplementationSpecific) &&
		backendProblem(&p.Backend) == ""
}

// rootRegex reports whether the root location ing makes for a host turns
// its paths into regular expressions: ingress-nginx's
// enforceRegexModifier looks at every location of the server, the root
// included, which carries ing's use-regex and rewrite-target (a target
// other than "/" rewrites the path "/").
func rootRegex(ing *ingress) bool {
	rw := ing.cfg.Proxy.Rewrite
	return ing.cfg.UseRegex || rw != nil && rw.Target != "" && rw.Target != "/"
}

// hostRoot returns the backend of the root location that ing, the oldest
// Ingress of a host, makes: its spec.defaultBackend when it has a usable
// one, else upstream-default-backend (Backend.DefaultUpstream) with ing's
// location settings. The upstream's own settings are then
// upstream-default-backend's, not ing's: the ConfigMap's balancing, no
// affinity nor hashing, plain HTTP (ingress-nginx's buildProxyPass) and no
// default-backend annotation (getBackendServers gives it no
// custom-default-backend- upstream: its custom-http-errors go to
// upstream-default-backend, as those of every location without one).
func (b *builder) hostRoot(ing *ingress, defaults annotations.Proxy) Backend {
	if ib := ing.obj.Spec.DefaultBackend; ib != nil && backendProblem(ib) == "" {
		if be, ok := b.backend(ing, ib); ok {
			return be
		}
	}
	p := ing.cfg.Proxy
	p.LoadBalance, p.Balance = defaults.LoadBalance, defaults.Balance
	if u := p.Upstream; u != nil {
		c := *u
		c.Protocol, c.DefaultBackend, c.ServiceUpstream = "", "", false
		p.Upstream = &c
	}
	be := Backend{Ingress: ing.ref, Endpoints: []string{}, Proxy: p, DefaultUpstream: true}
	locationVhost(&be)
	// A proxy-ssl-secret or custom-headers that denies the Ingress's
	// locations denies this one too.
	b.upstreamTLS(ing, &be)
	b.customHeaders(ing, &be)
	return be
}

// hostBuild is a Server being built, with the age rank of the Ingress of
// each of its paths.
type hostBuild struct {
	srv  Server
	rank []int
}

// sortPaths orders paths for first-match routing; rank[i] is the age rank
// of the Ingress of paths[i]. In a server without regex (regex false),
// longest first, Exact before Prefix on a tie, which is nginx's choice
// among "=" and prefix locations. In a use-regex server every path is an
// expression tried in order, and the order is ingress-nginx's
// (getBackendServers): longest path first, then the greater path (a byte
// comparison), then the older Ingress.
func sortPaths(paths []Path, rank []int, regex bool) {
	if len(paths) < 2 {
		return
	}
	type ranked struct {
		p    Path
		rank int
	}
	rs := make([]ranked, len(paths))
	for i := range paths {
		rs[i] = ranked{paths[i], rank[i]}
	}
	slices.SortStableFunc(rs, func(x, y ranked) int {
		c := cmp.Compare(len(y.p.Path), len(x.p.Path))
		if c != 0 {
			return c
		}
		if regex {
			return cmp.Or(strings.Compare(y.p.Path, x.p.Path), cmp.Compare(x.rank, y.rank))
		}
		exact := func(m MatchType) int {
			if m == MatchExact {
				return 0
			}
			return 1
		}
		return cmp.Or(cmp.Compare(exact(x.p.Match), exact(y.p.Match)), cmp.Compare(x.p.Path, y.p.Path))
	})
	for i := range rs {
		paths[i], rank[i] = rs[i].p, rs[i].rank
	}
}

// splitPrefixes gives the use-regex host h the two locations
// ingress-nginx's updateServerLocations makes of a Prefix rule P whose own
// Ingress neither sets use-regex nor rewrites P: "P/" and, unless an Exact
// rule has P, a copy P, both expressions ~* "^..." in such a server. They
// sort apart ("P/" is one byte longer), which decides between P's rule and
// an expression of another rule of the same length: "/app/x" of "/app"
// goes to "/app/" before "/app." ("/" is the greater byte). byRank maps
// the age rank of h's Ingresses to them; h.rank must match h.srv.Paths.
func splitPrefixes(h *hostBuild, byRank map[int]*ingress) {
	exact := map[string]bool{}
	for _, p := range h.srv.Paths {
		if p.Match == MatchExact {
			exact[p.Path] = true
		}
	}
	for i, n := 0, len(h.srv.Paths); i < n; i++ {
		p := h.srv.Paths[i]
		ing := byRank[h.rank[i]]
		if p.Match != MatchRegex || strings.HasSuffix(p.Path, "/") || ing == nil || ing.cfg.UseRegex {
			continue
		}
		if rw := ing.cfg.Proxy.Rewrite; rw != nil && rw.Target != "" && rw.Target != p.Path {
			continue // needsRewrite: ingress-nginx leaves the location as it is
		}
		p.Path += "/"
		if exact[h.srv.Paths[i].Path] {
			h.srv.Paths[i] = p // the Exact rule is the copy
			continue
		}
		h.srv.Paths = append(h.srv.Paths, p)
		h.rank = append(h.rank, h.rank[i])
	}
}

// route normalizes one path of a rule; false means it was skipped (and
// reported). p (the Ingress's own) is only read.
func (b *builder) route(ing *ingress, host string, regex bool, p *networkingv1.HTTPIngressPath) (*route, bool) {
	path := p.Path
	if path == "" {
		path = "/"
	}
	pathType := networkingv1.PathTypeImplementationSpecific
	if p.PathType != nil {
		pathType = *p.PathType
	}
	r := &route{host: host, path: path, written: path, ing: ing, backend: &p.Backend}
	switch {
	case pathType == networkingv1.PathTypeExact:
		r.match = MatchExact
	case pathType != networkingv1.PathTypePrefix && pathType != networkingv1.PathTypeImplementationSpecific:
		b.warn(ing.ref, ReasonInvalidPath, "path %q of host %q has unknown pathType %q; skipped", p.Path, host, pathType)
		return nil, false
	case regex:
		r.match = MatchRegex
	default:
		r.match = MatchPrefix
	}
	if r.match == MatchRegex {
		if _, err := regexp.Compile("(?i)^" + path); err != nil {
			b.warn(ing.ref, ReasonInvalidPath, "path %q of host %q is not a valid regular expression: %v; skipped", p.Path, host, err)
			return nil, false
		}
	} else if !strings.HasPrefix(path, "/") {
		b.warn(ing.ref, ReasonInvalidPath, "path %q of host %q does not start with \"/\"; skipped", p.Path, host)
		return nil, false
	}
	if r.match == MatchPrefix {
		if r.path = strings.TrimRight(path, "/"); r.path == "" {
			r.path = "/"
		}
		r.slash = r.path != path && r.path != "/"
	}
	if problem := backendProblem(&p.Backend); problem != "" {
		b.warn(ing.ref, ReasonInvalidBackend, "path %q of host %q %s", p.Path, host, problem)
		return nil, false
	}
	b.checkPathType(ing, p)
	return r, true
}

// validPathType is ingress-nginx's rule (internal/ingress/inspector) for
// the paths of pathType Exact and Prefix: a slash, then letters, digits,
// '.', '_', '-' and '/' only.
var validPathType = regexp.MustCompile(`(?i)^/[[:alnum:]._\-/]*$`)

// checkPathType warns about a path of pathType Exact or Prefix that
// validPathType refuses, as ingress-nginx's admission webhook does: with
// strict-validate-path-type (the default) the reason refuses the Ingress
// at admission (InvalidPathType), without it only warns
// (PathTypeNotStrict). The path is served either way, as ingress-nginx's
// sync serves it.
func (b *builder) checkPathType(ing *ingress, p *networkingv1.HTTPIngressPath) {
	if p.Path == "" || p.PathType != nil && *p.PathType == networkingv1.PathTypeImplementationSpecific || validPathType.MatchString(p.Path) {
		return
	}
	pathType := "<nil>"
	if p.PathType != nil {
		pathType = string(*p.PathType)
	}
	reason := ReasonInvalidPathType
	if b.laxPathType {
		reason = ReasonPathTypeNotStrict
	}
	b.warn(ing.ref, reason, "path %s cannot be used with pathType %s", p.Path, pathType)
}

// backendProblem says why Weir cannot route to be at all, as the end of a
// warning ("has no backend; skipped"); empty means it can.
func backendProblem(be *networkingv1.IngressBackend) string {
	switch {
	case be == nil:
		return "has no backend; skipped"
	case be.Resource != nil:
		return "has a resource backend, which Weir does not support; skipped"
	case be.Service == nil || be.Service.Name == "":
		return "has no service backend; skipped"
	}
	return ""
}

// defaultBackend picks the spec.defaultBackend of the oldest Ingress without
// rules that has a usable one, else Options.DefaultBackendService, as the
// catch-all; the Service is the error pages' backend either way.
func (b *builder) defaultBackend(ings []*ingress, defaults annotations.Proxy) {
	b.defaultBackendService(defaults)
	var winner *ingress
	for _, ing := range ings {
		be := ing.obj.Spec.DefaultBackend
		if ing.cfg.Canary.Enabled || be == nil {
			continue
		}
		if problem := backendProblem(be); problem != "" {
			b.warn(ing.ref, ReasonInvalidBackend, "default backend %s", problem)
			continue
		}
		// With rules, the Ingress's spec.defaultBackend is its hosts'
		// (hostRoots), never the catch-all: ingress-nginx's
		// createServers.
		if len(ing.obj.Spec.Rules) > 0 {
			continue
		}
		if winner != nil {
			b.warn(ing.ref, ReasonConflictLost, "default backend is already defined by ingress %s/%s; ignored",
				winner.ref.Namespace, winner.ref.Name)
			continue
		}
		winner = ing
	}
	if winner == nil {
		b.def = b.defSvc
		return
	}
	if be, ok := b.backend(winner, winner.obj.Spec.DefaultBackend); ok {
		b.def, b.defIngress = &be, true
	}
}

// defaultBackendService resolves Options.DefaultBackendService, on its
// first port, into defSvc; its warnings are the Service's. A Service that
// is missing or has no ready endpoint leaves none (Weir's 404), as
// ingress-nginx's getDefaultUpstream falls back to its internal endpoint,
// which answers 404, rather than to an empty upstream (503).
func (b *builder) defaultBackendService(defaults annotations.Proxy) {
	ns, name, ok := strings.Cut(b.opts.DefaultBackendService, "/")
	if !ok || ns == "" || name == "" {
		return
	}
	ref := ObjectRef{Kind: "Service", Namespace: ns, Name: name}
	owner := &ingress{obj: &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}},
		ref: ref, cfg: annotations.Config{Proxy: defaults}}
	// The warnings of backend say what a route answers: 503. Here the
	// answer is 404; they are reported with that said instead.
	routes := b.warnings
	b.warnings = map[Warning]bool{}
	be, ok := b.backend(owner, b.firstPort(ns, name))
	for w := range b.warnings {
		w.Message = strings.Replace(w.Message, "its routes answer 503", "requests no rule matches get 404", 1)
		routes[w] = true
	}
	b.warnings = routes
	if ok && be.Unavailable == "" {
		b.defSvc = &be
	}
}

// backend resolves a checked IngressBackend to its ready endpoints. A
// backend without endpoints is still returned, with Unavailable set.
func (b *builder) backend(ing *ingress, ib *networkingv1.IngressBackend) (Backend, bool) {
	if ib == nil || ib.Service == nil {
		return Backend{}, false
	}
	ns := ing.obj.Namespace
	sb := ib.Service
	be := Backend{Ingress: ing.ref, Service: sb.Name, Endpoints: []string{}, Proxy: ing.cfg.Proxy}
	b.upstreamTLS(ing, &be)
	b.errorBackend(ing, &be)
	// The Ingress's port, denied or not: ingress-nginx's $service_port
	// (X-Service-Port of the location's error pages).
	be.Port = servicePort(sb)
	locationVhost(&be) // in build_rewrite.go
	if eb := be.ErrorBackend; eb != nil && eb.Proxy.Rewrite != nil {
		// Its requests for want of endpoints go from the same location:
		// the location's Host ($service_name the rule's, not eb's).
		eb.Proxy.Rewrite = be.Proxy.Rewrite
	}
	if !b.customHeaders(ing, &be) { // build_headers.go
		return be, true
	}
	svcKey := func() string { return ns + "/" + sb.Name } // for messages
	key := nsName{ns, sb.Name}
	svc := b.services[key]
	if svc == nil {
		be.Unavailable = fmt.Sprintf("service %s not found", svcKey())
		b.warn(ing.ref, ReasonServiceNotFound, "service %s not found; its routes answer 503", svcKey())
		return be, true
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return b.externalBackend(ing, be, sb, svc)
	}
	var sp *corev1.ServicePort
	for i := range svc.Spec.Ports {
		// As ingress-nginx's serviceEndpoints: the first port whose number,
		// target port or name is the backend's port, so that a backend
		// naming the target port (8080 of 80->8080) is that port.
		p := &svc.Spec.Ports[i]
		if be.Port != "" && (strconv.Itoa(int(p.Port)) == be.Port || p.TargetPort.String() == be.Port || p.Name == be.Port) {
			sp = p
			break
		}
	}
	if be.Port == "" {
		be.Unavailable = fmt.Sprintf("no port of service %s is named", svcKey())
		b.warn(ing.ref, ReasonPortNotFound, "backend of service %s names no port; its routes answer 503", svcKey())
		return be, true
	}
	if sp == nil {
		be.Unavailable = fmt.Sprintf("port %q not found on service %s", be.Port, svcKey())
		b.warn(ing.ref, ReasonPortNotFound, "port %q not found on service %s; its routes answer 503", be.Port, svcKey())
		return be, true
	}
	if ep, ok := b.serviceUpstream(ing, svc, sp); ok { // build_upstream.go
		be.Endpoints = ep
		return be, true
	}
	be.Endpoints = b.endpoints(b.slices[key], sp, corev1.ProtocolTCP)
	if len(be.Endpoints) == 0 {
		be.Unavailable = "no ready endpoints"
		b.warn(ing.ref, ReasonNoReadyEndpoints, "service %s port %q has no ready endpoints; its routes answer 503", svcKey(), be.Port)
	}
	return be, true
}

// endpoints returns the ready "ip:port" addresses in the EndpointSlices of
// a Service for its port sp of protocol proto, sorted and de-duplicated, as
// ingress-nginx's getEndpointsFromSlices: a slice's ports of that protocol
// with sp's name (any name when sp has none); a slice with no ports, or none
// with that name, gives sp's target port when it is a number (ingress-nginx
// #7390: EndpointSlices written by hand for a Service without selector).
func (b *builder) endpoints(slicesOf []*discoveryv1.EndpointSlice, sp *corev1.ServicePort, proto corev1.Protocol) []string {
	out := []string{}
	var target int32
	if sp.TargetPort.Type == intstr.Int {
		target = sp.TargetPort.IntVal
	}
	var ports []int32
	for _, es := range slicesOf {
		ports = slicePorts(ports[:0], es, sp.Name, target, proto)
		for _, ep := range es.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, a := range ep.Addresses {
				ip, err := netip.ParseAddr(a)
				if err != nil {
					continue
				}
				for _, port := range ports {
					// "a.b.c.d:port" or "[v6%zone]:port", as net.JoinHostPort.
					out = append(out, netip.AddrPortFrom(ip, uint16(port)).String())
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// slicePorts appends to ports the valid port numbers es gives the Service
// port named name (with the numeric target port target, 0 if none) of
// protocol proto; see endpoints. A slice port without a protocol is TCP, the
// API server's default.
func slicePorts(ports []int32, es *discoveryv1.EndpointSlice, name string, target int32, proto corev1.Protocol) []int32 {
	add := func(p int32) {
		if p > 0 && p <= 65535 {
			ports = append(ports, p)
		}
	}
	if len(es.Ports) == 0 {
		add(target)
		return ports
	}
	for _, p := range es.Ports {
		if p.Protocol != nil && *p.Protocol != proto || p.Protocol == nil && proto != corev1.ProtocolTCP {
			continue
		}
		var port int32
		if p.Port != nil && (name == "" || p.Name != nil && *p.Name == name) {
			port = *p.Port
		}
		if port == 0 {
			port = target
		}
		add(port)
	}
	return ports
}

// servers returns the Servers: every host a rule names (hostRoots)
// and the any-host server when it has paths; exact hosts sorted, then
// wildcard hosts sorted, then the any-host server.
func (b *builder) servers() []Server {
	out := make([]Server, 0, len(b.hosts))
	for host, h := range b.hosts {
		if host != "" || len(h.srv.Paths) > 0 {
			out = append(out, h.srv)
		}
	}
	slices.SortFunc(out, func(x, y Server) int { return CompareHosts(x.Host, y.Host) })
	return out
}

// CompareHosts orders Server hosts as Snapshot.Servers are sorted: exact
// hosts, then wildcard hosts, then the any-host server (""), each group by
// byte order. It returns -1, 0 or +1 like cmp.Compare.
func CompareHosts(a, b string) int {
	return cmp.Or(cmp.Compare(hostClass(a), hostClass(b)), cmp.Compare(a, b))
}

// hostClass is the group of a host in Snapshot.Servers' order.
func hostClass(h string) int {
	switch {
	case h == "":
		return 2
	case strings.HasPrefix(h, "*."):
		return 1
	}
	return 0
}

// externalBackend resolves the backend be of ing, the port sb of the
// ExternalName Service svc, as ingress-nginx's serviceEndpoints: one
// endpoint, the external name (resolved by DNS at each connection) on the
// target port of the Service's port be names (by number or name; a target
// port that is not a number is the port's own number), or on be's port
// number itself when the Service lists no such port. Refused (503, an
// UnsupportedService warning) with Options.DisableServiceExternalName, for a
// loopback or invalid name, or without a port number.
func (b *builder) externalBackend(ing *ingress, be Backend, sb *networkingv1.IngressServiceBackend, svc *corev1.Service) (Backend, bool) {
	svcKey := svc.Namespace + "/" + svc.Name
	refuse := func(why string) (Backend, bool) {
		be.Unavailable = fmt.Sprintf("service %s is of type ExternalName: %s", svcKey, why)
		b.warn(ing.ref, ReasonUnsupportedService, "service %s is of type ExternalName: %s; its routes answer 503", svcKey, why)
		return be, true
	}
	if b.opts.DisableServiceExternalName {
		return refuse("not allowed (--disable-svc-external-name)")
	}
	host, problem := externalName(svc)
	if problem != "" {
		return refuse(fmt.Sprintf("external name %q %s", svc.Spec.ExternalName, problem))
	}
	port := int(sb.Port.Number)
	for _, p := range svc.Spec.Ports {
		if sb.Port.Number != 0 && p.Port == sb.Port.Number || sb.Port.Number == 0 && sb.Port.Name != "" && p.Name == sb.Port.Name {
			port = p.TargetPort.IntValue()
			if port == 0 {
				port = int(p.Port)
			}
			break
		}
	}
	if port <= 0 || port > 65535 {
		return refuse(fmt.Sprintf("no port number for %q", be.Port))
	}
	be.Endpoints = []string{net.JoinHostPort(host, strconv.Itoa(port))}
	return be, true
}

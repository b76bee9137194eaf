// Package kube is Weir's cluster source: client-go informers on Ingress,
// IngressClass, Service, EndpointSlice, Secret (every type but those
// secretFieldSelector leaves out) and ConfigMap feed the same
// snapshot.Build as the folder source, through the controller's Sync. It also writes the status of the Ingresses Weir serves
// (leader only, on a coordination.k8s.io Lease) and turns every
// snapshot.Warning into a Kubernetes Event on the object at fault.
package kube

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/weir-lb/weir/userspace/snapshot"
)

// SyncFunc builds and publishes a Snapshot from objs (controller.Sync): it
// returns the live Snapshot and whether it changed. The Snapshot must carry
// the warnings of this build even when unchanged: they become Events.
type SyncFunc = func(objs snapshot.Objects, problems []error) (*snapshot.Snapshot, bool)

// Options configures a Source.
type Options struct {
	// Build is what the controller builds with; the Source needs the
	// classes (to know which Ingresses it serves) and the ConfigMap name.
	Build snapshot.Options
	// WatchNamespace limits the namespaced objects watched to one namespace.
	// Empty means all namespaces. IngressClasses are cluster-scoped and
	// always watched; the ConfigMaps Build names (Build.ConfigMap,
	// TCPServices, UDPServices) outside it are watched by name.
	WatchNamespace string
	// NamespaceSelector limits the Ingresses served, and whose status is
	// written, to the namespaces whose labels it matches (ingress-nginx's
	// --watch-namespace-selector); the Services, EndpointSlices and Secrets
	// of other namespaces stay readable, as a default certificate's may be.
	// Nil or empty means every namespace. Default nil.
	NamespaceSelector labels.Selector
	// AnnotationsPrefix is the prefix, without its "/", of the Ingress
	// annotations read (ingress-nginx's --annotations-prefix): under
	// another than nginx.ingress.kubernetes.io, those of the default prefix
	// are not read, as in ingress-nginx, and warnings name an annotation
	// by its default prefix. Empty means nginx.ingress.kubernetes.io.
	// Default "".
	AnnotationsPrefix string
	// Quiet separates single changes from bursts. A change that comes
	// Quiet or more after the previous one rebuilds at once; changes closer
	// together (kubectl apply of many objects, a rollout updating
	// EndpointSlices) are coalesced until the objects stay unchanged for
	// Quiet. Default 20 ms.
	Quiet time.Duration
	// MaxDelay bounds how long a burst of changes may delay a rebuild.
	// Default 250 ms: a steady stream of changes rebuilds at most 4 times a
	// second, each build of 10 000 Ingresses taking tens of milliseconds.
	MaxDelay time.Duration
	// Status writes Ingress status with leader election. Nil means Weir
	// never writes status (and never emits Events: only the leader does).
	Status *StatusOptions
	// Events records an Event for each warning. Nil means none.
	Events *Events
	// DisableSyncEvents stops Events from recording a Normal "Sync" Event
	// each time an Ingress Weir serves is added or changed (ingress-nginx's
	// --disable-sync-events). Default false: they are recorded.
	DisableSyncEvents bool
	// Logger receives the source's log. Nil means slog.Default().
	Logger *slog.Logger
}

// Source watches the API server and calls a SyncFunc after every debounced
// change. Create it with NewSource; Run it once.
type Source struct {
	client kubernetes.Interface
	opts   Options
	log    *slog.Logger

	ingresses    cache.SharedIndexInformer
	classes      cache.SharedIndexInformer
	noClasses    bool // IngressClasses may not be listed: classes is never started
	services     cache.SharedIndexInformer
	slices       cache.SharedIndexInformer
	secrets      cache.SharedIndexInformer
	configMaps   cache.SharedIndexInformer   // every ConfigMap of the watched namespaces
	namedCMs     []cache.SharedIndexInformer // the controller's, TCP and UDP services' ConfigMaps that configMaps does not hold
	namespaces   cache.SharedIndexInformer   // the selected ones; nil without NamespaceSelector
	prefixer     *prefixer                   // nil without a custom AnnotationsPrefix; used by objects only
	factories    []informers.SharedInformerFactory
	debounce     *debouncer
	changes      *changeLog
	conn         *connState
	status       *statusWriter
	mu           sync.Mutex
	lastWarnings []snapshot.Warning
}

// NewSource returns a Source reading through client. A client made by
// NewClient also lets the Source log when the API server is lost and back.
func NewSource(client kubernetes.Interface, opts Options) *Source {
	if opts.Quiet <= 0 {
		opts.Quiet = 20 * time.Millisecond
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = 250 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Source{client: client, opts: opts, log: opts.Logger, debounce: newDebouncer(opts.Quiet, opts.MaxDelay), changes: newChangeLog()}
	s.conn = &connState{log: opts.Logger}
	if c, ok := client.(*connClient); ok {
		s.conn = c.conn
	}

	ns := opts.WatchNamespace
	if ns == "" {
		ns = metav1.NamespaceAll
	}
	strip := informers.WithTransform(stripTransform)
	main := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns), strip)
	cluster := informers.NewSharedInformerFactoryWithOptions(client, 0, strip)
	secrets := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns), strip,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = secretFieldSelector }))
	s.factories = []informers.SharedInformerFactory{main, cluster, secrets}

	s.ingresses = main.Networking().V1().Ingresses().Informer()
	s.services = main.Core().V1().Services().Informer()
	s.slices = main.Discovery().V1().EndpointSlices().Informer()
	s.secrets = secrets.Core().V1().Secrets().Informer()
	if classesForbidden(client) {
		// As ingress-nginx (IgnoreIngressClass): without the right to list
		// IngressClasses, serve by the legacy annotation (and
		// --watch-ingress-without-class) alone, instead of waiting for an
		// informer that never syncs. The store stays empty: no
		// spec.ingressClassName is Weir's.
		opts.Logger.Warn("may not list IngressClasses: serving the Ingresses of the kubernetes.io/ingress.class annotation only",
			"ingress-class", opts.Build.IngressClass)
		s.classes = cache.NewSharedIndexInformer(&cache.ListWatch{}, &networkingv1.IngressClass{}, 0, cache.Indexers{})
		s.noClasses = true
	} else {
		s.classes = cluster.Networking().V1().IngressClasses().Informer()
	}
	// Every ConfigMap of the watched namespaces: auth-proxy-set-headers
	// names them; the controller's, when outside, on its own.
	s.configMaps = main.Core().V1().ConfigMaps().Informer()
	for _, named := range slices.Compact(slices.Sorted(slices.Values([]string{opts.Build.ConfigMap, opts.Build.TCPServices, opts.Build.UDPServices}))) {
		cmNS, cmName, ok := strings.Cut(named, "/")
		if !ok || cmName == "" || ns == metav1.NamespaceAll || cmNS == ns {
			continue
		}
		cm := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(cmNS), strip,
			informers.WithTweakListOptions(func(o *metav1.ListOptions) {
				o.FieldSelector = fields.OneTermEqualSelector("metadata.name", cmName).String()
			}))
		s.factories = append(s.factories, cm)
		s.namedCMs = append(s.namedCMs, cm.Core().V1().ConfigMaps().Informer())
	}
	s.prefixer = newPrefixer(opts.AnnotationsPrefix)
	if sel := opts.NamespaceSelector; sel != nil && !sel.Empty() {
		nsf := informers.NewSharedInformerFactoryWithOptions(client, 0, strip,
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = sel.String() }))
		s.factories = append(s.factories, nsf)
		s.namespaces = nsf.Core().V1().Namespaces().Informer()
	}
	for key, inf := range s.informers() {
		kind, _, _ := strings.Cut(key, "#")
		_ = inf.SetWatchErrorHandlerWithContext(s.conn.watchError)
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { s.changed(kind, obj) },
			UpdateFunc: func(old, cur any) { s.update(kind, old, cur) },
			DeleteFunc: func(obj any) { s.changed(kind, obj) },
		})
	}
	if opts.Status != nil {
		s.status = newStatusWriter(client, *opts.Status, opts.Build, s.ingresses.GetStore(), s.classes.GetStore(), nil, opts.Logger)
		s.status.inScope = s.inScope
		s.status.selector = s.selector
	}
	if opts.Events != nil && s.status != nil {
		s.status.onLead = func() { // record the warnings present now
			s.mu.Lock()
			defer s.mu.Unlock()
			opts.Events.Observe(s.lastWarnings, true)
		}
	}
	if opts.Events != nil {
		store := s.ingresses.GetStore()
		opts.Events.uid = func(o snapshot.ObjectRef) types.UID {
			if o.Kind != "Ingress" {
				return ""
			}
			if obj, ok, _ := store.GetByKey(o.Namespace + "/" + o.Name); ok {
				return obj.(*networkingv1.Ingress).UID
			}
			return ""
		}
	}
	return s
}

// classesForbidden reports whether the API server forbids client to list
// IngressClasses. Any other answer, an error included, is not: the
// informer then retries as for any other kind.
func classesForbidden(client kubernetes.Interface) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := client.NetworkingV1().IngressClasses().List(ctx, metav1.ListOptions{Limit: 1})
	return apierrors.IsForbidden(err)
}

// informers returns the informers by the Kind of their objects.
// Leading reports whether this instance holds the leader Lease; false
// without status writing (Options.Status nil).
func (s *Source) Leading() bool { return s.status != nil && s.status.Leading() }

func (s *Source) informers() map[string]cache.SharedIndexInformer {
	infs := map[string]cache.SharedIndexInformer{"Ingress": s.ingresses,
		"Service": s.services, "EndpointSlice": s.slices, "Secret": s.secrets}
	if !s.noClasses {
		infs["IngressClass"] = s.classes
	}
	infs["ConfigMap"] = s.configMaps
	for i, cm := range s.namedCMs {
		infs["ConfigMap#"+strconv.Itoa(i)] = cm // kind before the '#'
	}
	if s.namespaces != nil {
		infs["Namespace"] = s.namespaces
	}
	return infs
}

// update pokes the rebuild loop unless only the status or the resource
// version of an Ingress changed (Weir's own status writes).
func (s *Source) update(kind string, old, cur any) {
	o, ok1 := old.(*networkingv1.Ingress)
	c, ok2 := cur.(*networkingv1.Ingress)
	if ok1 && ok2 && onlyStatus(o, c) {
		if s.status != nil {
			s.status.poke() // someone else may have overwritten our status
		}
		return
	}
	s.changed(kind, cur)
}

// syncEvent records the Sync Event of cur, an Ingress added (old nil) or
// updated, when Weir serves it, as ingress-nginx's store does: on an
// update, when it was not served before or anything but its status
// changed.
func (s *Source) syncEvent(old, cur any) {
	c, ok := cur.(*networkingv1.Ingress)
	if !ok || !s.inScope(c.Namespace) {
		return
	}
	serves := s.selector()
	if !serves(c) {
		return
	}
	if o, ok := old.(*networkingv1.Ingress); ok && serves(o) && onlyStatus(o, c) {
		return
	}
	s.opts.Events.Sync(c)
}

// selector returns whether the next build serves an Ingress as it is in
// the informer's store: by class, deep inspection and, with the controller
// ConfigMap's risk level and word blocklist, its annotations (renamed from
// a custom prefix first, as the build gets them).
func (s *Source) selector() func(*networkingv1.Ingress) bool {
	sel := snapshot.NewClassSelector(list[*networkingv1.IngressClass](s.classes), s.opts.Build).WithConfigMap(s.controllerData())
	return func(ing *networkingv1.Ingress) bool {
		if s.prefixer != nil {
			ing = s.prefixer.rename(ing)
		}
		return sel.Serves(ing)
	}
}

// controllerData returns the data of the controller ConfigMap
// (Build.ConfigMap) from the informers, or nil.
func (s *Source) controllerData() map[string]string {
	key := s.opts.Build.ConfigMap
	if key == "" {
		return nil
	}
	for _, inf := range append([]cache.SharedIndexInformer{s.configMaps}, s.namedCMs...) {
		if obj, ok, _ := inf.GetStore().GetByKey(key); ok {
			if cm, ok := obj.(*corev1.ConfigMap); ok {
				return cm.Data
			}
		}
	}
	return nil
}

// onlyStatus reports whether an update from o to c of an Ingress changed
// nothing but its status or resource version (Weir's own status writes).
func onlyStatus(o, c *networkingv1.Ingress) bool {
	return o.Generation == c.Generation && o.Generation != 0 &&
		maps.Equal(o.Annotations, c.Annotations) && maps.Equal(o.Labels, c.Labels) &&
		o.DeletionTimestamp.Equal(c.DeletionTimestamp)
}

// changed records that obj of kind changed and pokes the rebuild loop.
func (s *Source) changed(kind string, obj any) {
	s.changes.record(kind, obj)
	s.debounce.poke()
}

// Run starts the informers, waits for their first list, then syncs once and
// again after every change (debounced: see Options.Quiet) until ctx is done. A lost API server
// does not stop Run: the last Snapshot stays live while client-go retries.
func (s *Source) Run(ctx context.Context, syncFn SyncFunc) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, f := range s.factories {
		f.Start(ctx.Done())
	}
	defer func() {
		cancel()
		for _, f := range s.factories {
			f.Shutdown()
		}
	}()
	s.log.Info("watching the API server", "namespace", nsOrAll(s.opts.WatchNamespace), "configmap", s.opts.Build.ConfigMap)
	synced := make([]cache.InformerSynced, 0, 6)
	for _, inf := range s.informers() {
		synced = append(synced, inf.HasSynced)
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return ctx.Err()
	}
	if s.opts.Events != nil && !s.opts.DisableSyncEvents {
		// Once the IngressClasses are listed, so that the first Ingresses
		// are judged by them; the informer replays those it holds as adds,
		// as ingress-nginx records a Sync for each at its start.
		_, _ = s.ingresses.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { s.syncEvent(nil, obj) },
			UpdateFunc: s.syncEvent,
		})
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	if s.status != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.status.run(ctx)
		}()
	}
	var first time.Time // of the changes that led to this rebuild
	for {
		t0 := time.Now()
		changes := s.changes.take() // before listing: see take
		objs := s.objects()
		objs.Changed = changes
		t1 := time.Now()
		// The returned Snapshot carries the warnings of this build even
		// when its routes are unchanged (controller.Sync).
		live, changed := syncFn(objs, nil)
		if !first.IsZero() {
			s.log.Debug("rebuilt after change", "changed", changed, "debounced", t0.Sub(first),
				"list", t1.Sub(t0), "sync", time.Since(t1))
		}
		warnings := live.Warnings
		if s.opts.Events != nil {
			s.mu.Lock()
			s.lastWarnings = warnings
			s.opts.Events.Observe(warnings, s.status == nil || s.status.Leading())
			s.mu.Unlock()
		}
		if s.status != nil {
			s.status.observe()
		}
		var err error
		if first, err = s.debounce.wait(ctx); err != nil {
			return nil
		}
	}
}

// objects reads every cached object. Only the Run loop calls it (the
// prefixer's state is its own).
func (s *Source) objects() snapshot.Objects {
	return s.cached(s.prefixer.apply(slices.DeleteFunc(list[*networkingv1.Ingress](s.ingresses), func(ing *networkingv1.Ingress) bool {
		return !s.inScope(ing.Namespace)
	})))
}

// cached returns ings with every other cached object.
func (s *Source) cached(ings []*networkingv1.Ingress) snapshot.Objects {
	o := snapshot.Objects{Ingresses: ings}
	o.IngressClasses = list[*networkingv1.IngressClass](s.classes)
	o.Services = list[*corev1.Service](s.services)
	o.EndpointSlices = list[*discoveryv1.EndpointSlice](s.slices)
	o.Secrets = list[*corev1.Secret](s.secrets)
	o.ConfigMaps = list[*corev1.ConfigMap](s.configMaps)
	for _, cm := range s.namedCMs {
		o.ConfigMaps = append(o.ConfigMaps, list[*corev1.ConfigMap](cm)...)
	}
	return o
}

// inScope reports whether the Ingresses of namespace ns are served: always
// without NamespaceSelector, else when the namespace's labels match it.
func (s *Source) inScope(ns string) bool {
	if s.namespaces == nil {
		return true
	}
	_, ok, _ := s.namespaces.GetStore().GetByKey(ns)
	return ok
}

func list[T any](inf cache.SharedIndexInformer) []T {
	items := inf.GetStore().List()
	out := make([]T, 0, len(items))
	for _, it := range items {
		if v, ok := it.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// secretFieldSelector leaves out the Secret types Weir never reads, which
// are many (a token per ServiceAccount) or large (a Helm release per
// revision): every other type is watched, Opaque for auth-secret (and the
// other families that name Secrets) and kubernetes.io/tls for spec.tls.
var secretFieldSelector = fields.AndSelectors(
	fields.OneTermNotEqualSelector("type", "helm.sh/release.v1"),
	fields.OneTermNotEqualSelector("type", string(corev1.SecretTypeServiceAccountToken)),
	fields.OneTermNotEqualSelector("type", string(corev1.SecretTypeDockercfg)),
	fields.OneTermNotEqualSelector("type", string(corev1.SecretTypeDockerConfigJson)),
	fields.OneTermNotEqualSelector("type", string(corev1.SecretTypeBootstrapToken)),
).String()

// keepsSecretData reports whether Weir may read the data of a Secret of
// type t: Opaque (or no type) and kubernetes.io/tls. Others (basic-auth,
// ssh-auth, custom types) are cached without their data, so the memory
// they take stays bounded by their number.
func keepsSecretData(t corev1.SecretType) bool {
	return t == "" || t == corev1.SecretTypeOpaque || t == corev1.SecretTypeTLS
}

// stripTransform drops what Weir never reads before an object is cached:
// managed fields, the last-applied annotation, for Services the status,
// for Secrets of types Weir does not read the data (keepsSecretData), for
// ConfigMaps the binary data.
func stripTransform(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
		if a := m.GetAnnotations(); a[corev1.LastAppliedConfigAnnotation] != "" {
			a = maps.Clone(a)
			delete(a, corev1.LastAppliedConfigAnnotation)
			m.SetAnnotations(a)
		}
	}
	switch o := obj.(type) {
	case *corev1.Service:
		o.Status = corev1.ServiceStatus{}
	case *corev1.Secret:
		if !keepsSecretData(o.Type) {
			o.Data, o.StringData = nil, nil
		}
	case *corev1.ConfigMap:
		o.BinaryData = nil
	}
	return obj, nil
}

func nsOrAll(ns string) string {
	if ns == "" {
		return "(all)"
	}
	return ns
}

// connState logs once per change of state whether the API server is
// reachable. It learns it from every request of the client (the leader
// election renews every RetryPeriod, so there is always traffic): the
// reflectors retry refused connections internally without telling their
// error handler.
type connState struct {
	log  *slog.Logger
	next http.RoundTripper

	mu   sync.Mutex
	down bool
}

// RoundTrip passes the request on and records whether the API server
// answered.
func (c *connState) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	switch {
	case err != nil && req.Context().Err() == nil:
		c.set(true, err)
	case err == nil && resp.StatusCode < 500:
		c.set(false, nil)
	}
	return resp, err
}

func (c *connState) set(down bool, err error) {
	c.mu.Lock()
	changed := c.down != down
	c.down = down
	c.mu.Unlock()
	switch {
	case changed && down:
		c.log.Warn("api server unreachable; serving the last configuration while client-go retries", "error", err)
	case changed:
		c.log.Info("api server reachable again")
	}
}

// watchError logs a failed list or watch that reached the API server
// (forbidden, gone, ...); client-go retries it with backoff.
func (c *connState) watchError(_ context.Context, r *cache.Reflector, err error) {
	c.log.Debug("list or watch failed; client-go retries", "reflector", r.TypeDescription(), "error", err)
}

// NewClient returns a client for rc whose requests tell Sources created with
// it whether the API server is reachable, and logs through log (nil means
// slog.Default()).
func NewClient(rc *rest.Config, log *slog.Logger) (kubernetes.Interface, error) {
	if log == nil {
		log = slog.Default()
	}
	rc = rest.CopyConfig(rc)
	conn := &connState{log: log}
	prev := rc.WrapTransport
	rc.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		if prev != nil {
			rt = prev(rt)
		}
		conn.next = rt
		return conn
	}
	c, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("create kubernetes client: %w", err)
	}
	return &connClient{Interface: c, conn: conn}, nil
}

// connClient is a clientset that carries its connState.
type connClient struct {
	kubernetes.Interface
	conn *connState
}

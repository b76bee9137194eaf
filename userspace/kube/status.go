package kube

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/weir-lb/weir/userspace/snapshot"
)

// StatusOptions configures leader election and the Ingress status writer.
type StatusOptions struct {
	// ElectionID is the name of the coordination.k8s.io Lease. Default
	// "weir-leader".
	ElectionID string
	// Namespace holds the Lease. Default $POD_NAMESPACE, else "default".
	Namespace string
	// Identity names this instance in the Lease. Default $POD_NAME, else
	// the host name, with a random suffix.
	Identity string
	// PublishAddresses are written to status.loadBalancer.ingress (IPs or
	// host names), sorted. Empty means the addresses of the nodes that run
	// Weir: ExternalIP, else InternalIP.
	PublishAddresses []string
	// PublishService is the namespace/name of the Service in front of
	// Weir whose addresses are written when PublishAddresses is empty, as
	// ingress-nginx's --publish-service: a LoadBalancer's status addresses
	// and external IPs, a NodePort's external IPs (else its cluster IP), a
	// ClusterIP's cluster IP, an ExternalName's name. Default "": the
	// nodes' addresses.
	PublishService string
	// UseNodeInternalIP publishes the nodes' InternalIP, never their
	// ExternalIP (--report-node-internal-ip-address). Default false.
	UseNodeInternalIP bool
	// NodeName is this instance's node. Default $NODE_NAME.
	NodeName string
	// PodName is this instance's pod, in Namespace. Default $POD_NAME. When
	// set, the nodes of every running pod with the same labels count as
	// "nodes that run Weir", and those pods as other instances.
	PodName string
	// UpdateOnShutdown clears the status of the served Ingresses when the
	// leader stops and no other instance runs. Default false (the flag's
	// default is true).
	UpdateOnShutdown bool
	// LeaseDuration, RenewDeadline and RetryPeriod are the leader election
	// timings. Defaults 15 s, 10 s and 2 s.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Resync rewrites status this often even without a change, to undo
	// others' edits. Default 1 minute.
	Resync time.Duration
}

func (o *StatusOptions) defaults() {
	if o.ElectionID == "" {
		o.ElectionID = "weir-leader"
	}
	if o.Namespace == "" {
		o.Namespace = cmpOr(os.Getenv("POD_NAMESPACE"), "default")
	}
	if o.PodName == "" {
		o.PodName = os.Getenv("POD_NAME")
	}
	if o.NodeName == "" {
		o.NodeName = os.Getenv("NODE_NAME")
	}
	if o.Identity == "" {
		host, _ := os.Hostname()
		o.Identity = cmpOr(o.PodName, host) + "_" + randSuffix()
	}
	if o.LeaseDuration <= 0 {
		o.LeaseDuration = 15 * time.Second
	}
	if o.RenewDeadline <= 0 {
		o.RenewDeadline = 10 * time.Second
	}
	if o.RetryPeriod <= 0 {
		o.RetryPeriod = 2 * time.Second
	}
	if o.Resync <= 0 {
		o.Resync = time.Minute
	}
}

// statusWriter holds leadership and, while it does, keeps the status of the
// served Ingresses equal to the published addresses.
type statusWriter struct {
	client    kubernetes.Interface
	opts      StatusOptions
	build     snapshot.Options
	ingresses cache.Store
	classes   cache.Store
	log       *slog.Logger
	// inScope reports whether the Ingresses of a namespace are served; nil
	// means all are.
	inScope func(ns string) bool
	// selector returns whether an Ingress is served (Source.selector:
	// with the controller ConfigMap's refusal settings); nil means by the
	// IngressClasses of classes and the defaults.
	selector func() func(*networkingv1.Ingress) bool

	leading      atomic.Bool
	onLead       func() // called each time this instance becomes leader
	pokec        chan struct{}
	shutdownOnce sync.Once
	shutdownDone chan struct{} // closed once the leader's shutdown work is done
}

func newStatusWriter(client kubernetes.Interface, opts StatusOptions, build snapshot.Options,
	ingresses, classes cache.Store, _ *Events, log *slog.Logger) *statusWriter {
	opts.defaults()
	return &statusWriter{client: client, opts: opts, build: build, ingresses: ingresses, classes: classes,
		log: log, pokec: make(chan struct{}, 1), shutdownDone: make(chan struct{})}
}

// Leading reports whether this instance holds the Lease.
func (w *statusWriter) Leading() bool { return w.leading.Load() }

func (w *statusWriter) poke() {
	select {
	case w.pokec <- struct{}{}:
	default:
	}
}

// observe is called after every sync.
func (w *statusWriter) observe() { w.poke() }

// run campaigns for the Lease until ctx is done. On ctx done, the leader
// clears status (UpdateOnShutdown, last instance) before it releases the
// Lease, so that a successor's writes are never undone.
func (w *statusWriter) run(ctx context.Context) {
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: w.opts.Namespace, Name: w.opts.ElectionID},
		Client:     w.client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: w.opts.Identity},
	}
	leCtx, leCancel := context.WithCancel(context.Background())
	defer leCancel()
	stopped := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case <-stopped:
		}
		if w.leading.Load() { // the leader's shutdown work runs before release
			select {
			case <-w.shutdownDone:
			case <-time.After(15 * time.Second):
			}
		}
		leCancel()
	}()
	defer close(stopped)
	for leCtx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   w.opts.LeaseDuration,
			RenewDeadline:   w.opts.RenewDeadline,
			RetryPeriod:     w.opts.RetryPeriod,
			ReleaseOnCancel: true,
			Name:            w.opts.ElectionID,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(lctx context.Context) { w.lead(ctx, lctx) },
				OnStoppedLeading: func() {
					if w.leading.Swap(false) {
						w.log.Info("lost leadership; no longer writing Ingress status", "lease", w.opts.Namespace+"/"+w.opts.ElectionID)
					}
				},
			},
		})
		if err != nil {
			w.log.Error("leader election", "error", err)
			return
		}
		le.Run(leCtx)
		if leCtx.Err() == nil {
			select { // lost the lease: campaign again after a pause
			case <-leCtx.Done():
			case <-time.After(w.opts.RetryPeriod):
			}
		}
	}
}

// lead writes status after every poke while lctx lasts; when the whole
// source stops (ctx done) it clears status if asked to.
func (w *statusWriter) lead(ctx, lctx context.Context) {
	w.leading.Store(true)
	if w.onLead != nil {
		w.onLead()
	}
	w.log.Info("became leader; writing Ingress status", "lease", w.opts.Namespace+"/"+w.opts.ElectionID, "identity", w.opts.Identity)
	resync := time.NewTicker(w.opts.Resync)
	defer resync.Stop()
	retry := time.NewTimer(0)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			w.shutdown()
			w.shutdownOnce.Do(func() { close(w.shutdownDone) })
			return
		case <-lctx.Done():
			return
		case <-w.pokec:
		case <-resync.C:
		case <-retry.C:
		}
		addrs, err := w.addresses(lctx)
		if err == nil {
			err = w.write(lctx, addrs)
		}
		if err != nil && lctx.Err() == nil {
			w.log.Warn("write ingress status; retrying in 5s", "error", err)
			retry.Reset(5 * time.Second)
		}
	}
}

func (w *statusWriter) shutdown() {
	if !w.opts.UpdateOnShutdown {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if n, err := w.otherInstances(ctx); err != nil || n > 0 {
		w.log.Info("other instances run; Ingress status kept", "others", n, "error", err)
		return
	}
	if err := w.write(ctx, nil); err != nil {
		w.log.Warn("clear ingress status on shutdown", "error", err)
		return
	}
	w.log.Info("cleared Ingress status on shutdown")
}

// write sets status.loadBalancer.ingress of every served Ingress to addrs.
func (w *statusWriter) write(ctx context.Context, addrs []string) error {
	want := lbIngress(addrs)
	var serves func(*networkingv1.Ingress) bool
	if w.selector != nil {
		serves = w.selector()
	} else {
		serves = snapshot.NewClassSelector(storeList[*networkingv1.IngressClass](w.classes), w.build).Serves
	}
	var errs []error
	for _, ing := range storeList[*networkingv1.Ingress](w.ingresses) {
		if ing.DeletionTimestamp != nil || !serves(ing) || w.inScope != nil && !w.inScope(ing.Namespace) {
			continue
		}
		if equalLB(ing.Status.LoadBalancer.Ingress, want) {
			continue
		}
		cp := ing.DeepCopy()
		cp.Status.LoadBalancer.Ingress = want
		ingresses := w.client.NetworkingV1().Ingresses(cp.Namespace)
		_, err := ingresses.UpdateStatus(ctx, cp, metav1.UpdateOptions{FieldManager: "weir"})
		if apierrors.IsConflict(err) { // the cache lags: once more on the latest version
			if cp, err = ingresses.Get(ctx, ing.Name, metav1.GetOptions{}); err == nil {
				cp.Status.LoadBalancer.Ingress = want
				_, err = ingresses.UpdateStatus(ctx, cp, metav1.UpdateOptions{FieldManager: "weir"})
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("update status of ingress %s/%s: %w", ing.Namespace, ing.Name, err))
			if ctx.Err() != nil {
				break
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d ingresses: first: %w", len(errs), errs[0])
	}
	return nil
}

// addresses returns PublishAddresses, else the node addresses of the
// instances, sorted and de-duplicated.
func (w *statusWriter) addresses(ctx context.Context) ([]string, error) {
	if len(w.opts.PublishAddresses) > 0 {
		return sortedUnique(w.opts.PublishAddresses), nil
	}
	if w.opts.PublishService != "" {
		return w.serviceAddresses(ctx)
	}
	nodes := map[string]bool{}
	if w.opts.NodeName != "" {
		nodes[w.opts.NodeName] = true
	}
	if w.opts.PodName != "" {
		pods, err := w.peers(ctx)
		if err != nil {
			return nil, err
		}
		for _, p := range pods {
			if p.Spec.NodeName != "" && (runningAndReady(&p) || p.Name == w.opts.PodName) {
				nodes[p.Spec.NodeName] = true
			}
		}
	}
	var addrs []string
	for name := range nodes {
		n, err := w.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("get node %s: %w", name, err)
		}
		addrs = append(addrs, nodeAddresses(n, w.opts.UseNodeInternalIP)...)
	}
	return sortedUnique(addrs), nil
}

// peers returns the running pods with this pod's labels (without the
// per-revision hash labels), this pod included.
func (w *statusWriter) peers(ctx context.Context) ([]corev1.Pod, error) {
	self, err := w.client.CoreV1().Pods(w.opts.Namespace).Get(ctx, w.opts.PodName, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get own pod %s/%s: %w", w.opts.Namespace, w.opts.PodName, err)
	}
	sel := map[string]string{}
	for k, v := range self.Labels {
		if k != "pod-template-hash" && k != "controller-revision-hash" && k != "pod-template-generation" {
			sel[k] = v
		}
	}
	pods, err := w.client.CoreV1().Pods(w.opts.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(sel).String()})
	if err != nil {
		return nil, fmt.Errorf("list weir pods in %s: %w", w.opts.Namespace, err)
	}
	var out []corev1.Pod
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil || p.Name == self.Name {
			out = append(out, p)
		}
	}
	return out, nil
}

// runningAndReady reports whether p is running and ready: ingress-nginx's
// runningAddresses publishes only the nodes of such pods.
func runningAndReady(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// otherInstances counts running Weir pods other than this one; 0 when the
// pod is unknown.
func (w *statusWriter) otherInstances(ctx context.Context) (int, error) {
	if w.opts.PodName == "" {
		return 0, nil
	}
	pods, err := w.peers(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range pods {
		if p.Name != w.opts.PodName {
			n++
		}
	}
	return n, nil
}

// serviceAddresses returns the addresses of PublishService, sorted and
// de-duplicated.
func (w *statusWriter) serviceAddresses(ctx context.Context) ([]string, error) {
	ns, name, ok := strings.Cut(w.opts.PublishService, "/")
	if !ok || ns == "" || name == "" {
		return nil, fmt.Errorf("publish service %q: want namespace/name", w.opts.PublishService)
	}
	svc, err := w.client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get publish service %s: %w", w.opts.PublishService, err)
	}
	return sortedUnique(serviceAddresses(svc)), nil
}

// serviceAddresses returns the addresses clients reach svc at, by its type.
func serviceAddresses(svc *corev1.Service) []string {
	switch svc.Spec.Type {
	case corev1.ServiceTypeExternalName:
		return []string{svc.Spec.ExternalName}
	case corev1.ServiceTypeNodePort:
		if len(svc.Spec.ExternalIPs) == 0 {
			return []string{svc.Spec.ClusterIP}
		}
		return svc.Spec.ExternalIPs
	case corev1.ServiceTypeLoadBalancer:
		var addrs []string
		for _, lb := range svc.Status.LoadBalancer.Ingress {
			addrs = append(addrs, cmpOr(lb.IP, lb.Hostname))
		}
		return append(addrs, svc.Spec.ExternalIPs...)
	default: // ClusterIP, the type's default
		return []string{svc.Spec.ClusterIP}
	}
}

// nodeAddresses are the node's ExternalIPs, else its InternalIPs; with
// internal, its InternalIPs only. All of them, as ingress-nginx's
// k8s.GetNodeIPs: a dual-stack node has an IPv4 and an IPv6 address.
func nodeAddresses(n *corev1.Node, internal bool) []string {
	var external, internalIPs []string
	for _, a := range n.Status.Addresses {
		switch {
		case a.Address == "":
		case a.Type == corev1.NodeInternalIP:
			internalIPs = append(internalIPs, a.Address)
		case a.Type == corev1.NodeExternalIP:
			external = append(external, a.Address)
		}
	}
	if internal || len(external) == 0 {
		return internalIPs
	}
	return external
}

// lbIngress returns addrs as status entries in ingress-nginx's order
// (status.go lessLoadBalancerIngress): by host name, then IP, so the IPs,
// which have no host name, come first.
func lbIngress(addrs []string) []networkingv1.IngressLoadBalancerIngress {
	if len(addrs) == 0 {
		return nil
	}
	out := make([]networkingv1.IngressLoadBalancerIngress, 0, len(addrs))
	for _, a := range addrs {
		if net.ParseIP(a) != nil {
			out = append(out, networkingv1.IngressLoadBalancerIngress{IP: a})
		} else {
			out = append(out, networkingv1.IngressLoadBalancerIngress{Hostname: a})
		}
	}
	slices.SortStableFunc(out, func(x, y networkingv1.IngressLoadBalancerIngress) int {
		return cmp.Or(strings.Compare(x.Hostname, y.Hostname), strings.Compare(x.IP, y.IP))
	})
	return out
}

func equalLB(a, b []networkingv1.IngressLoadBalancerIngress) bool {
	return slices.EqualFunc(a, b, func(x, y networkingv1.IngressLoadBalancerIngress) bool {
		return x.IP == y.IP && x.Hostname == y.Hostname && len(x.Ports) == 0 && len(y.Ports) == 0
	})
}

func sortedUnique(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func storeList[T any](s cache.Store) []T {
	items := s.List()
	out := make([]T, 0, len(items))
	for _, it := range items {
		if v, ok := it.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func randSuffix() string {
	return fmt.Sprintf("%06x", time.Now().UnixNano()&0xffffff)
}

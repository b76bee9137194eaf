package kube

import (
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/weir-lb/weir/userspace/snapshot"
)

// Events turns snapshot Warnings into Kubernetes Events of type Warning on the
// object at fault, with the Warning's Reason, once per distinct warning while
// it persists: a warning that goes away and comes back is recorded again.
// It counts the Events in weir_events_total{reason}.
type Events struct {
	emit   func(ref *corev1.ObjectReference, reason, message string)
	normal func(ref *corev1.ObjectReference, reason, message string) // Sync
	stop   func()
	uid    func(snapshot.ObjectRef) types.UID
	count  *prometheus.CounterVec
	log    *slog.Logger
	mu     sync.Mutex
	active map[snapshot.Warning]bool
}

// NewEvents returns Events recorded through client as component "weir" from
// host (the node name; may be empty). reg receives weir_events_total; nil
// means no metric. Close stops the recorder.
func NewEvents(client kubernetes.Interface, host string, reg prometheus.Registerer, log *slog.Logger) *Events {
	b := record.NewBroadcaster()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	rec := b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "weir", Host: host})
	e := newEvents(func(ref *corev1.ObjectReference, reason, msg string) {
		rec.Event(ref, corev1.EventTypeWarning, reason, msg)
	}, reg, log)
	e.normal = func(ref *corev1.ObjectReference, reason, msg string) {
		rec.Event(ref, corev1.EventTypeNormal, reason, msg)
	}
	e.stop = b.Shutdown
	return e
}

func newEvents(emit func(*corev1.ObjectReference, string, string), reg prometheus.Registerer, log *slog.Logger) *Events {
	if log == nil {
		log = slog.Default()
	}
	e := &Events{
		emit: emit,
		stop: func() {},
		log:  log,
		count: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_events_total",
			Help: "Kubernetes Events recorded for configuration warnings, by reason.",
		}, []string{"reason"}),
		active: map[snapshot.Warning]bool{},
	}
	if reg != nil {
		reg.MustRegister(e.count)
	}
	return e
}

// Sync records ingress-nginx's Normal Event "Sync" ("Scheduled for sync")
// on ing, which its store records for every Ingress of its class that is
// added or changed (tools and tests wait for it). Unlike the warnings it is
// recorded by every instance, leader or not, as ingress-nginx's replicas do.
func (e *Events) Sync(ing *networkingv1.Ingress) {
	if e.normal == nil {
		return
	}
	e.normal(&corev1.ObjectReference{Kind: "Ingress", APIVersion: "networking.k8s.io/v1",
		Namespace: ing.Namespace, Name: ing.Name, UID: ing.UID, ResourceVersion: ing.ResourceVersion},
		"Sync", "Scheduled for sync")
}

// Close stops the recorder; Events already queued may be dropped.
func (e *Events) Close() { e.stop() }

// Observe takes the warnings of the latest build and records those not
// recorded yet when emit is true (the leader). Warnings no longer present are
// forgotten, and so is everything when emit is false: a follower that becomes
// leader records the warnings present then (the API server folds an Event
// identical to the old leader's into it, raising its count).
func (e *Events) Observe(ws []snapshot.Warning, emit bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !emit {
		clear(e.active)
		return
	}
	now := make(map[snapshot.Warning]bool, len(ws))
	for _, w := range ws {
		now[w] = true
		if e.active[w] {
			continue
		}
		ref := e.ref(w.Object)
		if ref == nil {
			continue
		}
		e.emit(ref, w.Reason, w.Message)
		e.count.WithLabelValues(w.Reason).Inc()
	}
	e.active = now
}

func (e *Events) ref(o snapshot.ObjectRef) *corev1.ObjectReference {
	ref := &corev1.ObjectReference{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}
	switch o.Kind {
	case "Ingress", "IngressClass":
		ref.APIVersion = "networking.k8s.io/v1"
	case "EndpointSlice":
		ref.APIVersion = "discovery.k8s.io/v1"
	case "Service", "Secret", "ConfigMap":
		ref.APIVersion = "v1"
	default:
		e.log.Debug("no event for warning on unknown kind", "kind", o.Kind)
		return nil
	}
	if ref.Namespace == "" && o.Kind != "IngressClass" {
		ref.Namespace = "default"
	}
	if e.uid != nil {
		ref.UID = e.uid(o)
	}
	return ref
}

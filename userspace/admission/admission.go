// Package admission is Weir's validating admission webhook for Ingresses:
// it builds the Snapshot with the reviewed Ingress added (or replacing its
// older version) and refuses the Ingress when the build warns about it,
// with the same reasons its Events would give. Nothing is rendered or
// executed: the review is the pure snapshot.Build, so the class of
// ingress-nginx's CVE-2025-1974 (configuration text run by a test nginx)
// cannot exist here.
package admission

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weir-lb/weir/userspace/snapshot"
)

// ObjectsFunc returns the objects an Ingress is reviewed with (those of the
// live configuration's source) and ing as the build reads it (reviewed),
// or a nil reviewed when Weir does not watch ing's namespace. An error
// means the objects are not known yet (caches not synced).
type ObjectsFunc func(ing *networkingv1.Ingress) (objs snapshot.Objects, reviewed *networkingv1.Ingress, err error)

// Reviewer reviews Ingresses against the objects of Objects, built with
// Options.
type Reviewer struct {
	Objects ObjectsFunc
	Options snapshot.Options
	// Now gives the creation time of an Ingress being created, which is
	// the newest; nil means time.Now.
	Now func() time.Time
	// Checks, when not nil, counts the Ingresses reviewed, as
	// ingress-nginx's check_success and check_errors.
	Checks *CheckMetrics
	// MaxConcurrent is how many reviews run at once; more wait for their
	// turn (or for their request's end). 0 means DefaultMaxConcurrent.
	// Each review reads a body of up to 4 MiB and builds the whole
	// configuration beside the live one: unbounded, a burst of reviews
	// (kubectl apply of many Ingresses, or a hostile caller) would hold
	// that many bodies and configurations at once.
	MaxConcurrent int

	slotsOnce sync.Once
	slots     chan struct{}
}

// DefaultMaxConcurrent is Reviewer.MaxConcurrent's default.
const DefaultMaxConcurrent = 4

// acquire waits for a review slot until ctx ends; it reports whether it
// got one, which release gives back.
func (rv *Reviewer) acquire(ctx context.Context) bool {
	rv.slotsOnce.Do(func() {
		rv.slots = make(chan struct{}, cmp.Or(max(rv.MaxConcurrent, 0), DefaultMaxConcurrent))
	})
	select {
	case rv.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (rv *Reviewer) release() { <-rv.slots }

// CheckMetrics are ingress-nginx's nginx_ingress_controller_check_success
// and nginx_ingress_controller_check_errors: the Ingresses of the class the
// webhook reviewed and allowed, and those it refused, by namespace and
// ingress. The controller_* labels are added by the registry's gatherer
// (nginxmetrics), as for every nginx_ingress_controller_* family.
type CheckMetrics struct {
	success, errors *prometheus.CounterVec
}

// NewCheckMetrics returns the check counters, registered with reg.
func NewCheckMetrics(reg prometheus.Registerer) *CheckMetrics {
	m := &CheckMetrics{
		success: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nginx_ingress_controller_check_success",
			Help: "Cumulative number of Ingress controller syntax check operations (Ingresses the validating webhook allowed).",
		}, []string{"namespace", "ingress"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nginx_ingress_controller_check_errors",
			Help: "Cumulative number of Ingress controller errors during syntax check operations (Ingresses the validating webhook refused).",
		}, []string{"namespace", "ingress"}),
	}
	reg.MustRegister(m.success, m.errors)
	return m
}

// count records one review of namespace/name; m may be nil.
func (m *CheckMetrics) count(namespace, name string, allowed bool) {
	if m == nil {
		return
	}
	c := m.errors
	if allowed {
		c = m.success
	}
	c.WithLabelValues(namespace, name).Inc()
}

// Result is the outcome of one review.
type Result struct {
	// Denied holds the reasons the Ingress is refused, one per warning:
	// "Reason: message". Empty means allowed.
	Denied []string
	// Warnings are the build's warnings about the Ingress that do not
	// refuse it: those about objects it refers to and that may be created
	// after it (a Service, a Secret, an IngressClass: reasons ending in
	// NotFound, and NoReadyEndpoints).
	Warnings []string
}

// Refuses reports whether a build warning of this reason about an Ingress
// refuses it: every reason but those about an object the Ingress refers to
// rather than the Ingress itself, which warn (cert-manager creates the
// Secret after the Ingress).
func Refuses(reason string) bool { return !dependency(reason) }

func dependency(reason string) bool {
	return strings.HasSuffix(reason, "NotFound") || reason == snapshot.ReasonNoReadyEndpoints ||
		reason == snapshot.ReasonUnsupportedService || reason == snapshot.ReasonCanaryWithoutMain ||
		reason == snapshot.ReasonPathTypeNotStrict // ingress-nginx's CheckWarning: a warning only

}

// Review builds the configuration with ing among objs and returns what the
// build says about ing. An Ingress of another class is allowed at once.
func Review(objs snapshot.Objects, opts snapshot.Options, ing *networkingv1.Ingress, now time.Time) Result {
	// The class alone decides: one that deep inspection or its annotations
	// refuse is built and denied by its UnsafeIngress or InvalidIngress
	// warning.
	if !snapshot.NewClassSelector(objs.IngressClasses, opts).ServesClass(ing) {
		return Result{}
	}
	if ing.CreationTimestamp.IsZero() { // being created: the newest
		cp := *ing
		cp.CreationTimestamp = metav1.NewTime(now)
		ing = &cp
	}
	ing = lastCreated(objs.Ingresses, ing)
	objs.Ingresses = WithIngress(objs.Ingresses, ing)
	objs.Changed = nil
	s := snapshot.Build(objs, opts)
	ref := snapshot.ObjectRef{Kind: "Ingress", Namespace: ing.Namespace, Name: ing.Name}
	var r Result
	for _, w := range s.Warnings {
		if w.Object.Kind != ref.Kind || w.Object.Namespace != ref.Namespace || w.Object.Name != ref.Name {
			continue
		}
		line := w.Reason + ": " + w.Message
		if dependency(w.Reason) {
			r.Warnings = append(r.Warnings, line)
		} else {
			r.Denied = append(r.Denied, line)
		}
	}
	return r
}

// lastCreated returns ing, or when it is not among ings (being created) and
// its creation time is not after every one of theirs, a copy created just
// after the newest. ingress-nginx's CheckIngress appends the Ingress it
// reviews after the stored ones, so that it loses every conflict with them;
// the API server's creation times have whole seconds, and one created in the
// same second as a stored one would otherwise be ordered by name.
func lastCreated(ings []*networkingv1.Ingress, ing *networkingv1.Ingress) *networkingv1.Ingress {
	newest := ing.CreationTimestamp.Time
	for _, o := range ings {
		if o.Namespace == ing.Namespace && o.Name == ing.Name {
			return ing
		}
		if !o.CreationTimestamp.Time.Before(newest) {
			newest = o.CreationTimestamp.Add(time.Nanosecond)
		}
	}
	if newest.Equal(ing.CreationTimestamp.Time) {
		return ing
	}
	cp := *ing
	cp.CreationTimestamp = metav1.NewTime(newest)
	return &cp
}

// WithIngress returns a copy of ings with ing replacing the Ingress of the
// same namespace and name, or added.
func WithIngress(ings []*networkingv1.Ingress, ing *networkingv1.Ingress) []*networkingv1.Ingress {
	out := make([]*networkingv1.Ingress, 0, len(ings)+1)
	for _, o := range ings {
		if o.Namespace != ing.Namespace || o.Name != ing.Name {
			out = append(out, o)
		}
	}
	return append(out, ing)
}

// maxReview is the largest AdmissionReview body read (the API server's
// request limit is 3 MiB).
const maxReview = 4 << 20

// ServeHTTP answers an AdmissionReview v1 for an Ingress: allowed, or
// refused with the reasons of Review. Other kinds and DELETE are allowed.
// It answers 503 when the objects are not known yet, so that the webhook's
// failurePolicy decides.
func (rv *Reviewer) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		http.Error(w, "admission reviews are POSTed", http.StatusMethodNotAllowed)
		return
	}
	if !rv.acquire(req.Context()) {
		http.Error(w, "wait for an admission review slot: request ended", http.StatusServiceUnavailable)
		return
	}
	defer rv.release()
	var review admissionv1.AdmissionReview
	body, err := io.ReadAll(io.LimitReader(req.Body, maxReview+1))
	if err == nil && len(body) > maxReview {
		// 413, as ingress-nginx's webhook answers a body over its limit.
		http.Error(w, fmt.Sprintf("read admission review: body over %d bytes", maxReview), http.StatusRequestEntityTooLarge)
		return
	}
	if err == nil {
		err = json.Unmarshal(body, &review)
	}
	if err == nil && review.Request == nil {
		err = errors.New("no request")
	}
	if err != nil {
		http.Error(w, fmt.Sprintf("read admission review: %v", err), http.StatusBadRequest)
		return
	}
	resp, err := rv.respond(review.Request)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	out := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Response: resp,
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out) // the API server gone: nothing to do
}

// respond reviews one request.
func (rv *Reviewer) respond(req *admissionv1.AdmissionRequest) (*admissionv1.AdmissionResponse, error) {
	resp := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
	if req.Kind.Group != networkingv1.GroupName || req.Kind.Kind != "Ingress" || req.Operation == admissionv1.Delete {
		return resp, nil
	}
	ing := &networkingv1.Ingress{}
	if err := json.Unmarshal(req.Object.Raw, ing); err != nil {
		resp.Allowed = false
		resp.Result = &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusBadRequest, Message: fmt.Sprintf("decode ingress: %v", err)}
		return resp, nil
	}
	ing.Namespace = cmp.Or(ing.Namespace, req.Namespace)
	objs, reviewed, err := rv.Objects(ing)
	if err != nil {
		return nil, fmt.Errorf("review ingress %s/%s: %w", ing.Namespace, ing.Name, err)
	}
	if reviewed == nil {
		return resp, nil
	}
	now := time.Now
	if rv.Now != nil {
		now = rv.Now
	}
	r := Review(objs, rv.Options, reviewed, now())
	rv.Checks.count(ing.Namespace, ing.Name, len(r.Denied) == 0)
	resp.Warnings = r.Warnings
	if len(r.Denied) > 0 {
		slices.Sort(r.Denied)
		resp.Allowed = false
		resp.Result = &metav1.Status{
			Status:  metav1.StatusFailure,
			Code:    http.StatusBadRequest,
			Reason:  metav1.StatusReasonBadRequest,
			Message: fmt.Sprintf("weir refuses ingress %s/%s: %s", ing.Namespace, ing.Name, strings.Join(r.Denied, "; ")),
		}
	}
	return resp, nil
}

package snapshot

import (
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/weir-lb/weir/userspace/annotations"
)

// ClassSelector decides which Ingresses are Weir's: the one rule Build uses,
// shared with the sources that must agree with it (the status writer).
type ClassSelector struct {
	opts        Options
	ours        map[string]bool // names of the IngressClasses with opts.ControllerClass
	defaultOurs bool            // one of them is the cluster default
	refusal     annotations.RefusalPolicy
}

// NewClassSelector indexes classes once for many Serves calls. Weir's
// classes are those with Options.ControllerClass, and with
// Options.IngressClassByName the one named Options.IngressClass. It refuses
// Ingresses by their annotations with ingress-nginx's default risk level and
// no word blocklist; WithConfigMap applies the controller ConfigMap's.
func NewClassSelector(classes []*networkingv1.IngressClass, opts Options) ClassSelector {
	c := ClassSelector{opts: opts, ours: map[string]bool{}}
	c = c.WithConfigMap(nil)
	for _, ic := range classes {
		if ic == nil || ic.Spec.Controller != opts.ControllerClass && !(opts.IngressClassByName && ic.Name == opts.IngressClass) {
			continue
		}
		c.ours[ic.Name] = true
		c.defaultOurs = c.defaultOurs || ic.Annotations[DefaultClassAnnotation] == "true"
	}
	return c
}

// Serves reports whether ing is Weir's: spec.ingressClassName naming one of
// Weir's IngressClasses; else, without one, the legacy
// kubernetes.io/ingress.class annotation equal to Options.IngressClass; else,
// naming no class at all, Options.WatchIngressWithoutClass or one of Weir's
// classes is the cluster default. A nil ing is not served, nor with
// Options.DisableCatchAll one with a spec.defaultBackend, rules or not (as
// ingress-nginx's store since 2021: hasCatchAllIngressRule), nor without
// Options.SkipDeepInspect one that deep inspection refuses, nor one that
// ingress-nginx refuses for its annotations (Refused).
func (c ClassSelector) Serves(ing *networkingv1.Ingress) bool {
	return c.ServesClass(ing) && (c.opts.SkipDeepInspect || deepInspect(ing) == "") && c.Refused(ing) == nil
}

// WithConfigMap returns c refusing Ingresses with the annotations-risk-level
// and annotation-value-word-blocklist of data, the controller ConfigMap's
// (nil: none), as Build does.
func (c ClassSelector) WithConfigMap(data map[string]string) ClassSelector {
	c.refusal, _ = annotations.RefusalPolicyFrom(data, !c.opts.SkipAnnotationValidation)
	return c
}

// Refused returns why ingress-nginx would not serve ing for its annotations
// (annotations.Refusal), or nil.
func (c ClassSelector) Refused(ing *networkingv1.Ingress) error {
	return annotations.Refusal(ing.Annotations, c.refusal)
}

// ServesClass is Serves by the class alone: without the deep inspection
// and the annotations' refusal, which a build reports as warnings.
func (c ClassSelector) ServesClass(ing *networkingv1.Ingress) bool {
	if ing == nil || c.opts.DisableCatchAll && ing.Spec.DefaultBackend != nil {
		return false
	}
	if cn := ing.Spec.IngressClassName; cn != nil && *cn != "" {
		return c.ours[*cn]
	}
	if legacy := ing.Annotations[LegacyClassAnnotation]; legacy != "" {
		return legacy == c.opts.IngressClass
	}
	return c.opts.WatchIngressWithoutClass || c.defaultOurs
}

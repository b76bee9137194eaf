package snapshot

import networkingv1 "k8s.io/api/networking/v1"

// ClassSelector decides which Ingresses are Weir's: the one rule Build uses,
// shared with the sources that must agree with it (the status writer).
type ClassSelector struct {
	opts        Options
	ours        map[string]bool // names of the IngressClasses with opts.ControllerClass
	defaultOurs bool            // one of them is the cluster default
}

// NewClassSelector indexes classes once for many Serves calls. Weir's
// classes are those with Options.ControllerClass, and with
// Options.IngressClassByName the one named Options.IngressClass.
func NewClassSelector(classes []*networkingv1.IngressClass, opts Options) ClassSelector {
	c := ClassSelector{opts: opts, ours: map[string]bool{}}
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
// Options.SkipDeepInspect one that deep inspection refuses.
func (c ClassSelector) Serves(ing *networkingv1.Ingress) bool {
	return c.classServes(ing) && (c.opts.SkipDeepInspect || deepInspect(ing) == "")
}

// classServes is Serves without the deep inspection.
func (c ClassSelector) classServes(ing *networkingv1.Ingress) bool {
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

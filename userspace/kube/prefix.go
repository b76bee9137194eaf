package kube

import (
	"strings"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/weir-lb/weir/userspace/annotations"
)

// prefixer gives the builder the annotations of a custom prefix
// (ingress-nginx's --annotations-prefix) under annotations.Prefix, the one
// it reads, and hides those under annotations.Prefix, which ingress-nginx
// does not read then. It keeps its copies by cached object, so that an
// unchanged Ingress is the same object from one build to the next, as the
// incremental Builder wants.
type prefixer struct {
	prefix string // with its trailing "/"
	copies map[*networkingv1.Ingress]*networkingv1.Ingress
}

// newPrefixer returns nil when prefix (without its "/") is empty or the
// default one: nothing to rename.
func newPrefixer(prefix string) *prefixer {
	prefix = strings.TrimSuffix(prefix, "/") + "/"
	if prefix == "/" || prefix == annotations.Prefix {
		return nil
	}
	return &prefixer{prefix: prefix}
}

// apply replaces, in place, each Ingress that holds annotations of either
// prefix by its copy with them renamed.
func (p *prefixer) apply(ings []*networkingv1.Ingress) []*networkingv1.Ingress {
	if p == nil {
		return ings
	}
	next := make(map[*networkingv1.Ingress]*networkingv1.Ingress, len(ings))
	for i, ing := range ings {
		c, ok := p.copies[ing]
		if !ok {
			c = p.rename(ing)
		}
		next[ing] = c
		ings[i] = c
	}
	p.copies = next
	return ings
}

func (p *prefixer) rename(ing *networkingv1.Ingress) *networkingv1.Ingress {
	touched := false
	for k := range ing.Annotations {
		if strings.HasPrefix(k, p.prefix) || strings.HasPrefix(k, annotations.Prefix) {
			touched = true
			break
		}
	}
	if !touched {
		return ing
	}
	cp := *ing // the cached object is shared: only the copy's map is new
	cp.Annotations = make(map[string]string, len(ing.Annotations))
	for k, v := range ing.Annotations {
		switch {
		case strings.HasPrefix(k, p.prefix):
			cp.Annotations[annotations.Prefix+k[len(p.prefix):]] = v
		case strings.HasPrefix(k, annotations.Prefix): // not read under a custom prefix
		default:
			cp.Annotations[k] = v
		}
	}
	return &cp
}

package kube

import (
	"errors"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/weir-lb/weir/userspace/snapshot"
)

// ErrNotSynced is returned by ReviewObjects before the informers' first
// list.
var ErrNotSynced = errors.New("the caches of the API server's objects are not synced yet")

// ReviewObjects returns what the validating webhook builds an Ingress
// with: every cached object as the next build would see them, with ing's
// annotations renamed under a custom AnnotationsPrefix as the served ones
// are (reviewed; nil when ing's namespace is not watched). Safe to call
// from any goroutine while Run runs.
func (s *Source) ReviewObjects(ing *networkingv1.Ingress) (objs snapshot.Objects, reviewed *networkingv1.Ingress, err error) {
	for _, inf := range s.informers() {
		if !inf.HasSynced() {
			return objs, nil, ErrNotSynced
		}
	}
	if s.opts.WatchNamespace != "" && ing.Namespace != s.opts.WatchNamespace || !s.inScope(ing.Namespace) {
		return objs, nil, nil
	}
	var p *prefixer
	if s.prefixer != nil {
		p = &prefixer{prefix: s.prefixer.prefix} // rename is pure; the copies are Run's
	}
	rename := func(i *networkingv1.Ingress) *networkingv1.Ingress {
		if p == nil {
			return i
		}
		return p.rename(i)
	}
	var ings []*networkingv1.Ingress
	for _, i := range list[*networkingv1.Ingress](s.ingresses) {
		if s.inScope(i.Namespace) {
			ings = append(ings, rename(i))
		}
	}
	objs = s.cached(ings)
	return objs, rename(ing), nil
}

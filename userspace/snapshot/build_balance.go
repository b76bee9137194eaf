package snapshot

import (
	"strconv"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/weir-lb/weir/userspace/annotations"
)

// upstreamOwners holds, per upstream name (namespace-service-port, see
// Backend.UpstreamName), the Ingresses whose settings ingress-nginx gives
// the upstream all its locations share.
type upstreamOwners struct {
	// balance is the Ingress whose load-balance and upstream-hash-by*
	// the upstream takes (controller.go createUpstreams, over the
	// Ingresses oldest first): the newest Ingress whose
	// spec.defaultBackend names it (each makes the upstream anew), else
	// the oldest with a rule path naming it, whether or not it sets them
	// (the ConfigMap's load-balance then, and no hashing). Canary
	// Ingresses count, as there.
	balance map[string]*ingress
	// mode is the oldest non-canary Ingress with a rule path naming the
	// upstream that writes affinity-mode, with or without affinity
	// (getBackendServers keeps the first mode written).
	mode map[string]*ingress
}

// owners finds the upstreamOwners of ings, the served Ingresses oldest
// first. Rules and paths count whether or not they win their host and
// path, as in ingress-nginx, which merges before it settles locations.
func owners(ings []*ingress) upstreamOwners {
	o := upstreamOwners{balance: map[string]*ingress{}, mode: map[string]*ingress{}}
	for _, ing := range ings {
		if ib := ing.obj.Spec.DefaultBackend; ib != nil && ib.Service != nil {
			o.balance[ruleUpstream(ing, ib.Service)] = ing
		}
		for _, rule := range ing.obj.Spec.Rules {
			if rule.HTTP == nil {
				continue
			}
			for _, p := range rule.HTTP.Paths {
				if p.Backend.Service == nil {
					continue
				}
				name := ruleUpstream(ing, p.Backend.Service)
				if o.balance[name] == nil {
					o.balance[name] = ing
				}
				if o.mode[name] == nil && ing.cfg.AffinityMode != "" && !ing.cfg.Canary.Enabled {
					o.mode[name] = ing
				}
			}
		}
	}
	return o
}

// ruleUpstream is the upstream name of a backend of ing, as
// Backend.UpstreamName names the Backend built from it.
func ruleUpstream(ing *ingress, sb *networkingv1.IngressServiceBackend) string {
	return upstreamName(ing.obj.Namespace, sb.Name, servicePort(sb))
}

// servicePort is the port of sb as a Backend names it (Backend.Port): its
// number, else its name.
func servicePort(sb *networkingv1.IngressServiceBackend) string {
	if sb.Port.Number != 0 {
		return strconv.Itoa(int(sb.Port.Number))
	}
	return sb.Port.Name
}

// shareBalancing gives every path of the hosts built, and its canaries,
// the load-balance and upstream-hash-by* of its upstream's owner
// (upstreamOwners.balance), as ingress-nginx keeps them per upstream: two
// Ingresses routing to one Service port with different settings are both
// balanced by the oldest's. Cookie affinity is shared by shareAffinity,
// which runs after it.
func (b *builder) shareBalancing() {
	for _, h := range b.hosts {
		for i := range h.srv.Paths {
			p := &h.srv.Paths[i]
			b.owners.apply(&p.Backend)
			for j := range p.Canaries {
				b.owners.apply(&p.Canaries[j].Backend)
			}
		}
	}
}

// shareDefaultBalancing is shareBalancing for the catch-all default
// backend of an Ingress and its canaries.
func (b *builder) shareDefaultBalancing() {
	if b.def != nil && b.defIngress {
		b.owners.apply(b.def)
	}
	for i := range b.defCanaries {
		b.owners.apply(&b.defCanaries[i].Backend)
	}
}

// apply gives be its upstream owner's load-balance and upstream-hash-by*;
// a backend of upstream-default-backend, or of no Ingress rule, keeps its
// own.
func (o upstreamOwners) apply(be *Backend) {
	if be.DefaultUpstream || be.Service == "" {
		return
	}
	owner := o.balance[be.UpstreamName()]
	if owner == nil {
		return
	}
	be.Proxy.LoadBalance = owner.cfg.Proxy.LoadBalance
	be.Proxy.Balance = withHash(be.Proxy.Balance, owner.cfg.Proxy.Balance)
}

// withHash returns own (nil: no hash nor affinity) with the
// upstream-hash-by* of from (nil: none). It returns own itself when
// nothing changes, and nil when nothing is left.
func withHash(own, from *annotations.Balance) *annotations.Balance {
	var m annotations.Balance
	switch {
	case own != nil:
		m = *own
	case from == nil || from.HashBy == "":
		return nil
	default:
		m.CookieName = annotations.DefaultCookieName
	}
	if from != nil && from.HashBy != "" {
		m.HashBy, m.HashBySubset, m.HashBySubsetSize = from.HashBy, from.HashBySubset, from.HashBySubsetSize
	} else if m.HashBy != "" {
		m.HashBy, m.HashBySubset = "", false
	}
	switch {
	case own != nil && m == *own:
		return own
	case m.HashBy == "" && !m.Cookie && !m.CanaryLegacy:
		return nil
	}
	return &m
}

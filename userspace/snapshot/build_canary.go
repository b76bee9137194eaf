package snapshot

import (
	"fmt"
	"slices"
	"strings"

	"github.com/weir-lb/weir/userspace/annotations"
)

// Warning reasons of canary Ingresses.
const (
	// ReasonCanaryWithoutMain: a rule of a canary Ingress has no
	// non-canary rule with the same host, path and path type; it is
	// ignored (a canary never routes by itself).
	ReasonCanaryWithoutMain = "CanaryWithoutMain"
	// ReasonCanaryDefaultBackendIgnored: a canary Ingress's
	// spec.defaultBackend has nothing to join: no catch-all default backend
	// of a non-canary Ingress nor path of a rule without a host, other than
	// its own service and port.
	ReasonCanaryDefaultBackendIgnored = "CanaryDefaultBackendIgnored"
	// ReasonCanaryWeightClipped: the weights of the canaries of one rule
	// sum past their shared total; the later canaries' weights are cut.
	ReasonCanaryWeightClipped = "CanaryWeightClipped"
	// ReasonCanaryAnnotationIgnored: an annotation of a canary Ingress that
	// only the main rule's Ingress sets (timeouts, body size, use-regex...).
	ReasonCanaryAnnotationIgnored = "CanaryAnnotationIgnored"
)

// attachCanaries attaches the rules of every canary Ingress (oldest first)
// to the built non-canary Path with the same host, path and match type, and
// clips the weights of each Path's canaries to their shared total. It runs
// once the Servers' Paths are final: it keeps pointers into them.
func (b *builder) attachCanaries(ings []*ingress, regexHosts map[string]bool) {
	if !slices.ContainsFunc(ings, func(ing *ingress) bool { return ing.cfg.Canary.Enabled }) {
		return
	}
	type key struct {
		host, path string
		match      MatchType
	}
	index := map[key]*Path{}
	for _, h := range b.hosts {
		for i := range h.srv.Paths {
			// A canary never joins upstream-default-backend
			// (ingress-nginx's canMergeBackend).
			if p := &h.srv.Paths[i]; !p.Backend.DefaultUpstream {
				index[key{h.srv.Host, p.Path, p.Match}] = p
			}
		}
	}
	var withCanaries []*Path
	for _, ing := range ings {
		if !ing.cfg.Canary.Enabled {
			continue
		}
		legacy := ing.cfg.Proxy.Balance != nil && ing.cfg.Proxy.Balance.CanaryLegacy
		for _, k := range annotations.CanaryIgnored(ing.obj.Annotations) {
			key := strings.TrimPrefix(k, annotations.Prefix)
			if legacy && (key == "affinity" || key == "affinity-mode" || strings.HasPrefix(key, "session-cookie-")) {
				b.warn(ing.ref, ReasonCanaryAnnotationIgnored, "annotation %s is ignored on a canary ingress; with affinity-canary-behavior legacy the canary takes no affinity of its own", k)
				continue
			}
			b.warn(ing.ref, ReasonCanaryAnnotationIgnored, "annotation %s is ignored on a canary ingress; the main rule's setting applies", k)
		}
		attached := map[key]bool{}
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
				main := index[k]
				if main == nil {
					b.warn(ing.ref, ReasonCanaryWithoutMain, "canary path %q (%s) of host %q has no non-canary rule with the same host, path and path type; ignored",
						r.path, r.match, r.host)
					continue
				}
				if attached[k] {
					b.warn(ing.ref, ReasonConflictLost, "canary path %q (%s) of host %q is defined twice in this ingress; the first is used",
						r.path, r.match, r.host)
					continue
				}
				attached[k] = true
				be, ok := b.backend(ing, r.backend)
				if !ok {
					continue
				}
				if be.UpstreamName() == main.Backend.UpstreamName() {
					// ingress-nginx merges no alternative backend that is
					// the primary one (mergeAlternativeBackends).
					b.warn(ing.ref, ReasonCanaryWithoutMain, "canary path %q (%s) of host %q routes to %s, the main rule's own service and port; ignored",
						r.path, r.match, r.host, be.UpstreamName())
					continue
				}
				if len(main.Canaries) == 0 {
					withCanaries = append(withCanaries, main)
				}
				main.Canaries = append(main.Canaries, canaryOf(ing, be, &main.Backend))
			}
		}
	}
	for _, p := range withCanaries {
		b.clipWeights(p.Canaries, fmt.Sprintf("path %q (%s)", p.Path, p.Match))
	}
}

// canaryOf returns the canary of ing, with backend be, of the route whose
// backend is main.
func canaryOf(ing *ingress, be Backend, main *Backend) Canary {
	c := ing.cfg.Canary
	be.Proxy = main.Proxy
	// The canary's upstream is its own in ingress-nginx: its load-balance
	// (else the ConfigMap's) and upstream-hash-by come from the canary
	// Ingress (controller.go createUpstreams), its affinity from the main
	// rule (mergeAlternativeBackend).
	be.Proxy.LoadBalance = ing.cfg.Proxy.LoadBalance
	be.Proxy.Balance = canaryBalance(main.Proxy.Balance, ing.cfg.Proxy.Balance)
	return Canary{
		Backend: be, Header: c.Header, HeaderValue: c.HeaderValue, HeaderPattern: c.HeaderPattern,
		Cookie: c.Cookie, Weight: c.Weight, WeightTotal: c.WeightTotal,
	}
}

// attachDefaultCanaries makes the spec.defaultBackend of every canary
// Ingress (oldest first) a canary of the default server's routes, as
// ingress-nginx's mergeAlternativeBackends merges it into the locations of
// its "_" server: the catch-all default backend when a non-canary
// Ingress's spec.defaultBackend makes it (not --default-backend-service nor
// Weir's 404: ingress-nginx's upstream-default-backend takes no
// alternative), and the paths of the rules without a host, up to the first
// route of its own service and port. It runs once the default backend and
// the Servers' Paths are final.
func (b *builder) attachDefaultCanaries(ings []*ingress) {
	var anyHost []Path
	if h := b.hosts[""]; h != nil {
		anyHost = h.srv.Paths
	}
	withCanaries := map[*Path]bool{}
	for _, ing := range ings {
		ib := ing.obj.Spec.DefaultBackend
		if !ing.cfg.Canary.Enabled || ib == nil {
			continue
		}
		if problem := backendProblem(ib); problem != "" {
			b.warn(ing.ref, ReasonInvalidBackend, "default backend %s", problem)
			continue
		}
		be, ok := b.backend(ing, ib)
		if !ok {
			continue
		}
		// ingress-nginx goes through the "_" locations, its root (the
		// catch-all) first, and stops at one of the canary's own upstream.
		joined, own := false, false
		if b.def != nil && b.defIngress {
			if own = b.def.UpstreamName() == be.UpstreamName(); !own {
				b.defCanaries = append(b.defCanaries, canaryOf(ing, be, b.def))
				joined = true
			}
		}
		for i := 0; i < len(anyHost) && !own; i++ {
			p := &anyHost[i]
			if own = p.Backend.UpstreamName() == be.UpstreamName(); !own {
				p.Canaries = append(p.Canaries, canaryOf(ing, be, &p.Backend))
				withCanaries[p], joined = true, true
			}
		}
		if !joined {
			b.warn(ing.ref, ReasonCanaryDefaultBackendIgnored, "spec.defaultBackend of a canary ingress joins the default backend of a non-canary ingress and the paths of rules without a host, up to one of its own service and port: none to join; ignored")
		}
	}
	b.clipWeights(b.defCanaries, "the default backend")
	for p := range withCanaries {
		b.clipWeights(p.Canaries, fmt.Sprintf("path %q (%s)", p.Path, p.Match))
	}
}

// clipWeights cuts the weights of canaries, in order, so that they sum to
// at most the largest WeightTotal among them; where names their route in
// the warnings.
func (b *builder) clipWeights(canaries []Canary, where string) {
	total := CanaryTotal(canaries)
	sum := 0
	for i := range canaries {
		c := &canaries[i]
		if left := total - sum; c.Weight > left {
			b.warn(c.Backend.Ingress, ReasonCanaryWeightClipped,
				"canary weight %d on %s exceeds the %d left of the shared total %d after older canaries; clipped to %d",
				c.Weight, where, left, total, left)
			c.Weight = left
		}
		sum += c.Weight
	}
}

// CanaryTotal returns the shared weight total of canaries: the largest
// WeightTotal among them, but at least 100, as ingress-nginx's balancer.lua
// draws out of canary-weight-total only when it is above 100.
func CanaryTotal(canaries []Canary) int {
	total := annotations.DefaultCanaryWeightTotal
	for _, c := range canaries {
		total = max(total, c.WeightTotal)
	}
	return total
}

// canaryBalance is the hash and affinity settings of a canary whose main
// rule has main and whose own Ingress has own, as ingress-nginx builds the
// canary's upstream: upstream-hash-by* are own's (each upstream takes them
// from the Ingress that creates it); the cookie affinity is main's, copied
// over the canary's by mergeAlternativeBackend, unless own says
// affinity-canary-behavior "legacy": then there is none, the canary's own
// affinity annotations included, as getBackendServers skips the
// affinity of an upstream only canaries route to (NoServer) and
// mergeAlternativeBackend copies none (shareAffinity gives it the one a
// sticky canary of the same upstream copies there).
func canaryBalance(main, own *annotations.Balance) *annotations.Balance {
	var b annotations.Balance
	switch {
	case own != nil && own.CanaryLegacy:
		b.HashBy, b.HashBySubset, b.HashBySubsetSize, b.CanaryLegacy = own.HashBy, own.HashBySubset, own.HashBySubsetSize, true
	case main != nil:
		b = *main
		b.HashBy, b.HashBySubset, b.HashBySubsetSize = "", false, 0
		if own != nil {
			b.HashBy, b.HashBySubset, b.HashBySubsetSize = own.HashBy, own.HashBySubset, own.HashBySubsetSize
		}
	case own != nil:
		b.HashBy, b.HashBySubset, b.HashBySubsetSize = own.HashBy, own.HashBySubset, own.HashBySubsetSize
	}
	if b.HashBy == "" && !b.Cookie && !b.CanaryLegacy {
		return nil
	}
	return &b
}

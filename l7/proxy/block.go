package proxy

import (
	"net/http"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-lb/weir/userspace/annotations"
)

// blockRules are the controller ConfigMap's global filters (block-cidrs,
// block-user-agents, block-referers), compiled once per Apply.
type blockRules struct {
	cidrs               []netip.Prefix
	userAgents, referer []annotations.BlockMatcher
}

// compileBlock compiles b; entries that do not compile (the annotations
// package drops them) are skipped.
func compileBlock(b annotations.Block) blockRules {
	c := blockRules{cidrs: parsePrefixes(b.CIDRs)}
	matchers := func(entries []string) []annotations.BlockMatcher {
		var ms []annotations.BlockMatcher
		for _, e := range entries {
			if m, err := annotations.CompileBlockPattern(e); err == nil {
				ms = append(ms, m)
			}
		}
		return ms
	}
	c.userAgents, c.referer = matchers(b.UserAgents), matchers(b.Referers)
	return c
}

// blockedHeader returns "block-user-agents" or "block-referers" when r's User-Agent or
// Referer matches a block-* entry, else "". A request without the header is
// matched as its empty value, as nginx's map is. A header is looked up only
// when there are entries to match it (most configurations have none: two
// map lookups a request saved).
func (b *blockRules) blockedHeader(r *http.Request) string {
	if len(b.userAgents) > 0 && anyMatch(b.userAgents, firstValue(r.Header, "User-Agent")) {
		return "block-user-agents"
	}
	if len(b.referer) > 0 && anyMatch(b.referer, firstValue(r.Header, "Referer")) {
		return "block-referers"
	}
	return ""
}

// blockedAddrRule returns "block-cidrs" when client is in block-cidrs,
// else "".
func (b *blockRules) blockedAddrRule(client netip.Addr) string {
	if len(b.cidrs) > 0 && containsAddr(b.cidrs, client.Unmap()) {
		return "block-cidrs"
	}
	return ""
}

func anyMatch(ms []annotations.BlockMatcher, v string) bool {
	for _, m := range ms {
		if m(v) {
			return true
		}
	}
	return false
}

// newBlockedCounter registers weir_blocked_requests_total on reg; nil reg
// means no metric.
func newBlockedCounter(reg *prometheus.Registry) *prometheus.CounterVec {
	if reg == nil {
		return nil
	}
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "weir_blocked_requests_total",
		Help: "Requests refused with 403 by the controller ConfigMap's global filters, by rule: block-cidrs, block-user-agents or block-referers.",
	}, []string{"rule"})
	reg.MustRegister(c)
	return c
}

// block answers 403 and returns true when the rule named matched.
func (p *Proxy) block(w http.ResponseWriter, rule string) bool {
	if rule == "" {
		return false
	}
	if p.blocked != nil {
		p.blocked.WithLabelValues(rule).Inc()
	}
	writeError(w, http.StatusForbidden)
	return true
}

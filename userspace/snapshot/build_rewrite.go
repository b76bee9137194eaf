package snapshot

import (
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/weir-lb/weir/userspace/annotations"
)

// locationVhost resolves the location variables ($namespace,
// $ingress_name, $service_name, $service_port) of be's upstream-vhost to
// be's Ingress, Service and port, as nginx.tmpl's "set $namespace ..."
// lines of the location, leaving the request's variables to the proxy. be
// gets its own copy of the Rewrite it shares with its Ingress's other
// backends.
func locationVhost(be *Backend) {
	rw := be.Proxy.Rewrite
	if rw == nil || strings.IndexByte(rw.UpstreamVhost, '$') < 0 {
		return
	}
	c := *rw
	c.UpstreamVhost = annotations.ResolveLocationVars(rw.UpstreamVhost, annotations.LocationVars{
		Namespace: be.Ingress.Namespace, IngressName: be.Ingress.Name, ServiceName: be.Service, ServicePort: be.Port,
	})
	be.Proxy.Rewrite = &c
}

// rewritesOn reports whether ing's rewrite-target rewrites a path of rule:
// then, as ingress-nginx's enforceRegexModifier, every path of the host is
// a regular expression. A target equal to the path rewrites nothing.
func rewritesOn(ing *ingress, rule *networkingv1.IngressRule) bool {
	rw := ing.cfg.Proxy.Rewrite
	if rw == nil || rw.Target == "" || rule.HTTP == nil {
		return false
	}
	for _, p := range rule.HTTP.Paths {
		path := p.Path
		if path == "" {
			path = "/"
		}
		if path != rw.Target {
			return true
		}
	}
	return false
}

// hasServerNames reports whether ann sets server-alias or
// from-to-www-redirect, whose names a Builder cannot scope: they compete
// with the hosts of every Ingress.
func hasServerNames(ann map[string]string) bool {
	_, alias := ann[annotations.Prefix+"server-alias"]
	_, www := ann[annotations.Prefix+"from-to-www-redirect"]
	return alias || www
}

// serverNames sets the server-level settings of the built hosts from their
// Ingresses, oldest first: AppRoot (the oldest Ingress's; a later one is
// reported), RedirectFrom (from-to-www-redirect of any of them) and Aliases
// (the oldest Ingress's that sets any; a name that is another host, the
// RedirectFrom of any host, or an alias of a host sorted before stays
// theirs, and is reported).
func (b *builder) serverNames(ings []*ingress) {
	type owner struct {
		appRoot, aliases, www *ingress
		aliasList             []string
	}
	owners := map[string]*owner{}
	for _, ing := range ings {
		if ing.cfg.Canary.Enabled {
			continue
		}
		h := ing.cfg.Host
		if h.AppRoot == "" && len(h.Aliases) == 0 && !h.FromToWWW {
			continue
		}
		for _, rule := range ing.obj.Spec.Rules {
			host := strings.ToLower(rule.Host)
			hb := b.hosts[host]
			if hb == nil || host == "" && len(hb.srv.Paths) == 0 {
				continue
			}
			o := owners[host]
			if o == nil {
				o = &owner{}
				owners[host] = o
			}
			switch {
			case h.AppRoot == "":
			case o.appRoot == nil:
				o.appRoot = ing
				hb.srv.AppRoot = h.AppRoot
			case o.appRoot != ing && hb.srv.AppRoot != h.AppRoot:
				b.warn(ing.ref, ReasonConflictLost, "app-root of host %q is already set by ingress %s/%s; ignored",
					host, o.appRoot.ref.Namespace, o.appRoot.ref.Name)
			}
			switch {
			case len(h.Aliases) == 0 || host == "":
			case o.aliases == nil:
				o.aliases, o.aliasList = ing, h.Aliases
			case o.aliases != ing:
				b.warn(ing.ref, ReasonConflictLost, "server-alias of host %q is already set by ingress %s/%s; ignored",
					host, o.aliases.ref.Namespace, o.aliases.ref.Name)
			}
			if o.www == nil && h.FromToWWW && host != "" && !strings.HasPrefix(host, "*.") {
				o.www = ing
			}
		}
	}
	hosts := make([]string, 0, len(owners))
	for h := range owners {
		hosts = append(hosts, h)
	}
	slices.SortFunc(hosts, CompareHosts)
	taken := map[string]bool{}
	for h, hb := range b.hosts {
		if h != "" || len(hb.srv.Paths) > 0 {
			taken[h] = true
		}
	}
	for _, h := range hosts {
		if owners[h].www == nil {
			continue
		}
		from, ok := strings.CutPrefix(h, "www.")
		if !ok {
			from = "www." + h
		}
		if taken[from] {
			b.warn(owners[h].www.ref, ReasonConflictLost,
				"from-to-www-redirect of host %q: %q is a host of its own; no redirect", h, from)
			continue
		}
		taken[from] = true
		b.hosts[h].srv.RedirectFrom = from
		if b.wwwOwner == nil {
			b.wwwOwner = map[string]ObjectRef{}
		}
		b.wwwOwner[h] = owners[h].www.ref
	}
	for _, h := range hosts {
		o := owners[h]
		var kept []string
		for _, a := range o.aliasList {
			if a == h {
				continue
			}
			if taken[a] {
				b.warn(o.aliases.ref, ReasonConflictLost, "server-alias %q of host %q is already a host or alias; ignored", a, h)
				continue
			}
			taken[a] = true
			kept = append(kept, a)
		}
		b.hosts[h].srv.Aliases = kept
	}
}

// redirectCertificates reports the www redirects of hosts with TLS whose
// certificate does not cover the name redirected from: an HTTPS request
// for it gets another certificate, as ingress-nginx warns ("Redirects will
// not work for HTTPS to HTTPS"). A host without a valid certificate of
// its own was reported already.
func (b *builder) redirectCertificates(tr *tlsResult, s *Snapshot) {
	for i := range s.Servers {
		srv := &s.Servers[i]
		leaf := tr.leaf(srv.Host)
		if srv.RedirectFrom == "" || leaf == nil || validFor(leaf, srv.RedirectFrom) {
			continue
		}
		b.warn(b.wwwOwner[srv.Host], ReasonInvalidCertificate,
			"the certificate of host %s does not cover %s: from-to-www-redirect works over plain HTTP only", srv.Host, srv.RedirectFrom)
	}
}

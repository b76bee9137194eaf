package snapshot

import (
	"cmp"
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
// Ingresses, oldest first: AppRoot (appRootOwner's; another Ingress's
// that differs is reported), RedirectFrom (from-to-www-redirect of any of them) and Aliases
// (the oldest Ingress's that sets any; a name that is another host, the
// RedirectFrom of any host, or an alias of a host sorted before as text
// stays theirs, and is reported).
func (b *builder) serverNames(ings []*ingress) {
	type owner struct {
		aliases, www *ingress
		aliasList    []string
		appRoots     []*ingress // those with an app-root, oldest first
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
			if h.AppRoot != "" && (len(o.appRoots) == 0 || o.appRoots[len(o.appRoots)-1] != ing) {
				o.appRoots = append(o.appRoots, ing)
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
	for _, h := range hosts {
		if len(owners[h].appRoots) == 0 {
			continue
		}
		win := appRootOwner(h, ings)
		if win == nil {
			continue
		}
		b.hosts[h].srv.AppRoot = win.cfg.Host.AppRoot
		for _, ing := range owners[h].appRoots {
			if ing.cfg.Host.AppRoot != win.cfg.Host.AppRoot {
				b.warn(ing.ref, ReasonConflictLost, "app-root of host %q is already set by ingress %s/%s; ignored",
					h, win.ref.Namespace, win.ref.Name)
			}
		}
	}
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
	// nginx gives a name that two servers list to the first in nginx.conf
	// ("conflicting server name ..., ignored"), where ingress-nginx writes
	// its servers sorted by name as text: a wildcard host ("*." sorts
	// before letters and digits) before the exact ones.
	slices.Sort(hosts)
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

// appRootOwner returns the Ingress whose app-root a request for "/" of
// host gets, nil when none: nginx.tmpl writes an "if ($uri = /)" at server
// level for each location with an app-root, in the server's location
// order, and the first answers. The locations are ingress-nginx's: the
// root "/" of the host's first Ingress (createServers), or of the first
// with a rule "/" that replaces it; then each other rule path, of the
// oldest Ingress that has it (with its pathType), a Prefix one ending in
// "/" unless its Ingress rewrites it or uses regex (updateServerLocations;
// the Exact copy it adds sorts after it); sorted longest first, then the
// greater path, else in that order (getBackendServers). So a younger
// Ingress's app-root on a longer path wins over an older one's.
func appRootOwner(host string, ings []*ingress) *ingress {
	type location struct {
		path string
		ing  *ingress
	}
	locs := []location{{path: "/"}}
	rootSet, rootReplaced := host == "", false // "_"'s root is the default backend's
	seen := map[string]bool{}
	for _, ing := range ings {
		if ing.cfg.Canary.Enabled {
			continue
		}
		for _, rule := range ing.obj.Spec.Rules {
			if strings.ToLower(rule.Host) != host {
				continue
			}
			if !rootSet {
				locs[0].ing, rootSet = ing, true
			}
			if rule.HTTP == nil {
				continue
			}
			for _, p := range rule.HTTP.Paths {
				if p.Backend.Service == nil {
					continue
				}
				if replacesRoot(p) {
					if !rootReplaced {
						locs[0].ing, rootReplaced = ing, true
					}
					continue
				}
				path, pathType := p.Path, networkingv1.PathTypeImplementationSpecific
				if path == "" {
					path = "/"
				}
				if p.PathType != nil {
					pathType = *p.PathType
				}
				if k := path + "\x00" + string(pathType); seen[k] {
					continue
				} else {
					seen[k] = true
				}
				rw := ing.cfg.Proxy.Rewrite
				rewrites := rw != nil && rw.Target != "" && rw.Target != path
				if pathType == networkingv1.PathTypePrefix && !rewrites && !ing.cfg.UseRegex && !strings.HasSuffix(path, "/") {
					path += "/"
				}
				locs = append(locs, location{path, ing})
			}
		}
	}
	slices.SortStableFunc(locs, func(x, y location) int {
		return cmp.Or(cmp.Compare(len(y.path), len(x.path)), strings.Compare(y.path, x.path))
	})
	for _, l := range locs {
		if l.ing != nil && l.ing.cfg.Host.AppRoot != "" {
			return l.ing
		}
	}
	return nil
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

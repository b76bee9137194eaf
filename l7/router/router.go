// Package router compiles a snapshot.Snapshot into an immutable Router that
// maps a request's host and path to a Route: the Backend settings of the
// matching rule and the Pool of upstream addresses that serves it.
//
// Host selection follows nginx's server_name as ingress-nginx renders it:
// an exact host or alias first, then a wildcard alias (written as it is,
// so matched at any depth, the longest first), then a wildcard host
// ("*.foo.com", which buildServerName writes as a regular expression of
// exactly one label), then the any-host server.
// Once a server is chosen by host only its paths are tried; when none
// matches, the Snapshot's DefaultBackend is used, if any.
package router

import (
	"fmt"
	"net"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// Router is the compiled, immutable form of one Snapshot. It is safe for
// concurrent use; a new configuration is a new Router, never a mutation.
type Router struct {
	snap     *snapshot.Snapshot
	exact    map[string]*server
	wildcard map[string]*server // wildcard hosts, keyed by the suffix after "*.", e.g. "foo.com"
	// wildAlias holds the wildcard aliases, keyed by the suffix after
	// "*."; nil when there is none.
	wildAlias map[string]*server
	anyHost   *server // the Host "" server; nil when there is none
	fallback  *Route  // the DefaultBackend route; nil when there is none
	// errorPages is the DefaultService route, the fallback itself when
	// they are the same backend without canaries; nil when there is none.
	errorPages *Route
	// hostLevel is true when a server has an app-root or a www redirect
	// (HostLevel has something to say).
	hostLevel bool
	// passthrough maps the exact hosts with ssl-passthrough to the route of
	// their "/" path; nil when there is none.
	passthrough map[string]*Route
	// upstreams holds the per-address state of this Router's pools, handed
	// on to the next Router by Compile so it outlives a swap.
	upstreams map[string]*Upstream
	// noTLS holds the exact aliases, and noTLSWild the suffixes of the
	// wildcard ones, that a Server lists in NoTLSAliases; nil when there
	// is none (nearly always).
	noTLS, noTLSWild map[string]bool
}

// Route is the result of a match: what the proxy needs to serve a request.
// Routes belong to their Router and must not be modified.
type Route struct {
	// Host is the host of the matched Server as configured: an exact name,
	// a wildcard ("*.foo.com"), or "" for the any-host server and for the
	// default backend. Its cardinality is bounded, unlike the request host.
	Host string
	// Path is the path of the matched rule, "" for the default backend.
	Path string
	// Match is how Path matched, "" for the default backend.
	Match snapshot.MatchType
	// Default is true when the route is the Snapshot's DefaultBackend.
	Default bool
	// Backend holds the backend and its proxy settings.
	Backend *snapshot.Backend
	// Pool selects an upstream address; it has no upstreams when the
	// Backend has no endpoints.
	Pool *Pool
	// Canaries are the canary backends of the rule, oldest first; nil
	// means none. Pick chooses between them and Pool per request.
	Canaries []*Canary
	// ErrorRoute is the route of Backend.ErrorBackend (the default-backend
	// annotation), which answers custom-http-errors. Nil means none: the
	// Router's Fallback.
	ErrorRoute *Route
	// StandIn serves the requests of a Pool without upstreams when the
	// Backend has an ErrorBackend: the route's own location on
	// ErrorBackend's endpoints, as ingress-nginx's custom-default-backend-
	// upstream, a copy of the route's that its location's proxy_pass
	// reaches: the route's upstream family (backend-protocol, proxy-ssl-*,
	// proxy-buffering, ...) and rewrite family (rewrite-target,
	// upstream-vhost, x-forwarded-prefix) apply. Nil when ErrorRoute is.
	StandIn *Route

	// SlashRedirect is the Path's snapshot.Path.SlashRedirect: a request
	// for Path itself is answered 301 to Path + "/".
	SlashRedirect bool
	// CookiePath is the Path's snapshot.Path.CookiePath: the affinity
	// cookie's default Path attribute; "" means the route sets no
	// affinity cookie (a default backend's, or without cookie affinity).
	CookiePath string

	canaryTotal int // the shared weight total of Canaries
	// Rewrite matches the request path to substitute the $1..$9 of the
	// Backend's rewrite-target; nil when the route does not rewrite.
	Rewrite *regexp.Regexp
	// UpstreamVhost is the Backend's upstream-vhost parsed, when it names
	// request variables ($host, $http_<name>, ...) that the proxy expands
	// per request; nil when it is literal text or none.
	UpstreamVhost annotations.Vars
}

// newRoute returns a copy of rt with the fields it derives from its
// Backend's settings.
func newRoute(rt Route) *Route {
	if rw := rt.Backend.Proxy.Rewrite; rw != nil && strings.IndexByte(rw.UpstreamVhost, '$') >= 0 {
		if v, err := annotations.ParseVars(rw.UpstreamVhost); err == nil && v.HasVars() {
			rt.UpstreamVhost = v
		}
	}
	return &rt
}

// server is the compiled form of one snapshot.Server. It is immutable and
// may be shared by consecutive Routers.
type server struct {
	// src is the Server it was compiled from, copied so that a server reused
	// by later Routers keeps only its own Paths alive, not the whole Snapshot.
	src   snapshot.Server
	paths []compiledPath
	// redirectTo is set on the server of a from-to-www-redirect name
	// (snapshot.Server.RedirectFrom): the host it redirects to. Such a
	// server has no paths.
	redirectTo string
}

type compiledPath struct {
	match  snapshot.MatchType
	path   string
	re     *regexp.Regexp // set for regex paths only
	route  *Route
	prefix string // path + "/" for prefix paths other than "/"
}

// Compile turns s into a Router. prev is the Router currently serving, or
// nil for the first one. Compile reuses prev's compiled form of every Server
// of s that is Equal to the one prev compiled for the same host, so only new
// and changed Servers are compiled; a reused route's Backend may point into
// prev's Snapshot. Per-address state (in-flight counts) of the addresses both
// configurations share is carried over from prev, so it outlives the swap.
// Compile does not modify s or prev; the Router keeps a reference to s. It
// fails on an invalid regular expression or a duplicate host.
func Compile(s *snapshot.Snapshot, prev *Router) (*Router, error) {
	if s == nil {
		return nil, fmt.Errorf("compile router: nil snapshot")
	}
	b := builder{
		r: &Router{
			snap:     s,
			exact:    make(map[string]*server, len(s.Servers)),
			wildcard: make(map[string]*server),
		},
	}
	// reused[i] is prev's compiled form of s.Servers[i], nil when it must be
	// compiled. Reused pools are indexed before any server is compiled so a
	// new route with the same pool key shares the reused Pool.
	var reused []*server
	if prev != nil {
		b.prev = prev.upstreams
		b.r.upstreams = make(map[string]*Upstream, len(prev.upstreams))
		b.pools = make(map[string]*Pool, len(prev.upstreams))
		reused = make([]*server, len(s.Servers))
		for i := range s.Servers {
			srv := &s.Servers[i]
			if cs := prev.lookup(strings.ToLower(srv.Host)); cs != nil && cs.src.Equal(srv) {
				reused[i] = cs
				b.adopt(cs)
			}
		}
	} else {
		b.r.upstreams = make(map[string]*Upstream)
		b.pools = make(map[string]*Pool)
	}
	for i := range s.Servers {
		srv := &s.Servers[i]
		var cs *server
		if reused != nil {
			cs = reused[i]
		}
		if cs == nil {
			var err error
			if cs, err = b.server(srv); err != nil {
				return nil, fmt.Errorf("compile router for snapshot %d: %w", s.Version, err)
			}
		}
		host := strings.ToLower(srv.Host)
		b.r.addPassthrough(host, srv, cs)
		switch {
		case host == "":
			if b.r.anyHost != nil {
				return nil, fmt.Errorf("compile router for snapshot %d: duplicate any-host server", s.Version)
			}
			b.r.anyHost = cs
		case strings.HasPrefix(host, "*."):
			suffix := host[2:]
			if _, dup := b.r.wildcard[suffix]; dup {
				return nil, fmt.Errorf("compile router for snapshot %d: duplicate server %q", s.Version, srv.Host)
			}
			b.r.wildcard[suffix] = cs
		default:
			// One map operation per host: an insert that does not grow the
			// map replaced a duplicate, and the Router is dropped.
			n := len(b.r.exact)
			if b.r.exact[host] = cs; len(b.r.exact) == n {
				return nil, fmt.Errorf("compile router for snapshot %d: duplicate server %q", s.Version, srv.Host)
			}
		}
	}
	// The names that are not hosts: www redirects, then aliases
	// (snapshot.Server.Aliases, exact or wildcard), never over a host.
	for i := range s.Servers {
		srv := &s.Servers[i]
		if srv.RedirectFrom != "" {
			if _, dup := b.r.exact[srv.RedirectFrom]; !dup {
				b.r.exact[srv.RedirectFrom] = &server{redirectTo: strings.ToLower(srv.Host)}
			}
		}
		b.r.hostLevel = b.r.hostLevel || srv.RedirectFrom != "" || srv.AppRoot != ""
	}
	for i := range s.Servers {
		srv := &s.Servers[i]
		for _, a := range srv.Aliases {
			names, name := b.r.exact, a
			if suffix, ok := strings.CutPrefix(a, "*."); ok {
				if _, host := b.r.wildcard[suffix]; host {
					continue // a wildcard host's name stays its own
				}
				if b.r.wildAlias == nil {
					b.r.wildAlias = map[string]*server{}
				}
				names, name = b.r.wildAlias, suffix
			}
			if _, dup := names[name]; !dup {
				names[name] = b.r.lookup(strings.ToLower(srv.Host))
				if slices.Contains(srv.NoTLSAliases, a) {
					b.r.addNoTLS(a)
				}
			}
		}
	}
	if s.DefaultBackend != nil {
		b.r.fallback = newRoute(Route{Default: true, Backend: s.DefaultBackend, Pool: b.pool(s.DefaultBackend)})
		b.r.fallback.Canaries, b.r.fallback.canaryTotal = b.compileCanaries(&snapshot.Path{Canaries: s.DefaultCanaries})
	}
	if s.DefaultService != nil {
		b.r.errorPages = b.r.fallback
		if len(s.DefaultCanaries) > 0 || !reflect.DeepEqual(s.DefaultService, s.DefaultBackend) {
			b.r.errorPages = newRoute(Route{Default: true, Backend: s.DefaultService, Pool: b.pool(s.DefaultService)})
		}
	}
	return b.r, nil
}

// addNoTLS records that requests through alias (exact or "*." wildcard)
// have no certificate.
func (r *Router) addNoTLS(alias string) {
	m, name := &r.noTLS, alias
	if suffix, ok := strings.CutPrefix(alias, "*."); ok {
		m, name = &r.noTLSWild, suffix
	}
	if *m == nil {
		*m = map[string]bool{}
	}
	(*m)[name] = true
}

// SSLRedirect reports whether a plain HTTP request to host (as Match
// takes it) that matched route is redirected to HTTPS (before
// no-tls-redirect-locations): the route's Backend.SSLRedirect, except
// through an alias of its Server's NoTLSAliases (or a name a wildcard
// alias matches more than one label deep), where only
// Backend.ForceSSLRedirect does, as ingress-nginx decides ssl-redirect by
// the request's host (lua_ingress.lua redirect_to_https,
// certificate.lua configured_for_current_request).
func (r *Router) SSLRedirect(host string, route *Route) bool {
	return r.Lookup(host).SSLRedirect(route)
}

// SSLRedirect is Router.SSLRedirect of the Host's name, by the key Lookup
// found its server under.
func (h Host) SSLRedirect(route *Route) bool {
	be := route.Backend
	if !be.SSLRedirect || be.ForceSSLRedirect || h.key == "" {
		return be.SSLRedirect
	}
	if h.deep {
		return false // certificate.lua looks one label up only
	}
	if h.wild {
		return !h.r.noTLSWild[h.key]
	}
	return !h.r.noTLS[h.key] // an exact name: the alias's own, or a host's
}

// lookup returns the compiled server of r for a lower-cased Server host, or
// nil when r has none.
func (r *Router) lookup(host string) *server {
	switch {
	case host == "":
		return r.anyHost
	case strings.HasPrefix(host, "*."):
		return r.wildcard[host[2:]]
	default:
		return r.exact[host]
	}
}

type builder struct {
	r     *Router
	prev  map[string]*Upstream
	pools map[string]*Pool // every Pool of r so far, by key
}

// adopt makes the pools of a reused server r's: they are indexed by key and
// their upstreams listed in r.upstreams. The server itself is not modified.
func (b *builder) adopt(cs *server) {
	for i := range cs.paths {
		rt := cs.paths[i].route
		b.adoptPool(rt.Pool)
		for _, c := range rt.Canaries {
			b.adoptPool(c.Pool)
		}
	}
}

func (b *builder) adoptPool(p *Pool) {
	// Within one Router a key has one Pool: a key already indexed is p, and
	// its upstreams are listed already. One map operation, not a lookup and
	// an insert: this runs for every route of every reused server.
	n := len(b.pools)
	if b.pools[p.key] = p; len(b.pools) == n {
		return
	}
	for _, u := range p.upstreams {
		b.r.upstreams[u.Addr] = u
	}
}

func (b *builder) server(srv *snapshot.Server) (*server, error) {
	cs := &server{src: *srv, paths: make([]compiledPath, 0, len(srv.Paths))}
	for i := range srv.Paths {
		p := &srv.Paths[i]
		route := newRoute(Route{Host: srv.Host, Path: p.Path, Match: p.Match, Backend: &p.Backend, Pool: b.pool(&p.Backend),
			SlashRedirect: p.SlashRedirect && !srv.UseRegex, CookiePath: p.CookiePath})
		route.Canaries, route.canaryTotal = b.compileCanaries(p)
		if eb := p.Backend.ErrorBackend; eb != nil {
			route.ErrorRoute = newRoute(Route{Host: srv.Host, Path: p.Path, Match: p.Match, Backend: eb, Pool: b.pool(eb)})
			in := *eb
			in.Proxy.Upstream, in.UpstreamTLS, in.Proxy.Rewrite = p.Backend.Proxy.Upstream, p.Backend.UpstreamTLS, p.Backend.Proxy.Rewrite
			route.StandIn = newRoute(Route{Host: srv.Host, Path: p.Path, Match: p.Match, Backend: &in, Pool: b.pool(&in)})
		}
		cp := compiledPath{match: p.Match, path: p.Path, route: route}
		// A use-regex server's paths are all regular expressions, Exact
		// ones too: ingress-nginx's buildLocation renders every location
		// of an enforceRegexModifier server as ~* "^path", before it
		// would render "= path".
		match := p.Match
		if srv.UseRegex {
			match = snapshot.MatchRegex
		}
		switch match {
		case snapshot.MatchExact:
		case snapshot.MatchPrefix:
			if p.Path != "/" {
				cp.path = strings.TrimSuffix(p.Path, "/")
				cp.prefix = cp.path + "/"
			}
		case snapshot.MatchRegex:
			re, err := compileCaseless("^" + p.Path)
			if err != nil && p.Match == snapshot.MatchExact {
				// An Exact path was never checked as an expression.
				re, err = compileCaseless("^" + regexp.QuoteMeta(p.Path))
			}
			if err != nil {
				return nil, fmt.Errorf("host %q path %q: %w", srv.Host, p.Path, err)
			}
			cp.re = re
		default:
			return nil, fmt.Errorf("host %q path %q: unknown match type %q", srv.Host, p.Path, p.Match)
		}
		cp.match = match
		route.Rewrite = rewriteRegexp(p, match)
		if route.StandIn != nil {
			route.StandIn.Rewrite = route.Rewrite
		}
		cs.paths = append(cs.paths, cp)
	}
	return cs, nil
}

// pool returns the Pool of be, shared by every route with the same
// namespace, service, port and endpoint list, reused routes included.
func (b *builder) pool(be *snapshot.Backend) *Pool {
	key := be.Ingress.Namespace + "/" + be.Service + ":" + be.Port + "=" + strings.Join(be.Endpoints, ",") + balanceKey(be)
	if p, ok := b.pools[key]; ok {
		return p
	}
	ups := make([]*Upstream, 0, len(be.Endpoints))
	var fresh map[*Upstream]bool // new to a Router that replaces one
	for _, addr := range be.Endpoints {
		_, known := b.r.upstreams[addr]
		_, old := b.prev[addr]
		u := b.upstream(addr)
		if b.prev != nil && !known && !old {
			if fresh == nil {
				fresh = make(map[*Upstream]bool)
			}
			fresh[u] = true
		}
		ups = append(ups, u)
	}
	p := &Pool{key: key, sel: NewRoundRobin(ups), upstreams: ups, lb: newBalancer(be, ups)}
	if p.lb != nil && p.lb.alg == ewmaPick && fresh != nil {
		seedEWMA(ups, fresh)
	}
	b.pools[key] = p
	return p
}

func (b *builder) upstream(addr string) *Upstream {
	if u, ok := b.r.upstreams[addr]; ok {
		return u
	}
	u, ok := b.prev[addr]
	if !ok {
		u = &Upstream{Addr: addr}
	}
	b.r.upstreams[addr] = u
	return u
}

// rewriteRegexp returns the regular expression of p's rewrite-target,
// nginx's rewrite "(?i)<path>": unanchored, case-insensitive. A path that
// does not compile (an Exact path, which was never checked as one) is
// matched literally. Nil when the Backend does not rewrite: no target, or
// one equal to the path; or a path matched as a prefix (match), which is
// on a host where no path rewrites (a rewrite makes the host's paths
// regexes), its target equal to the path as written, before Build trimmed
// its trailing slash.
func rewriteRegexp(p *snapshot.Path, match snapshot.MatchType) *regexp.Regexp {
	rw := p.Backend.Proxy.Rewrite
	if rw == nil || rw.Target == "" || rw.Target == p.Path || match == snapshot.MatchPrefix {
		return nil
	}
	re, err := compileCaseless(p.Path)
	if err != nil {
		re, _ = compileCaseless(regexp.QuoteMeta(p.Path)) // a literal always compiles
	}
	return re
}

// HostLevel returns the settings of the server a request to host (as
// Match takes it) is served by that apply before any path matches:
// redirectTo, the host a from-to-www-redirect name redirects to, and
// appRoot, the server's app-root. Both are "" for most servers.
func (r *Router) HostLevel(host string) (redirectTo, appRoot string) {
	if !r.hostLevel {
		return "", "" // no lookup
	}
	return r.Lookup(host).HostLevel()
}

// Host is the server that serves a request host, looked up once for the
// questions a request asks of it in turn (ServerTLS, HostLevel, Match,
// SSLRedirect, Served): Router's methods of those names normalise the host and index
// the host maps at each call. The zero Host is not valid: Lookup makes it.
type Host struct {
	r   *Router
	srv *server // nil: no server, not even an any-host one
	// key is the name srv was found under: the normalised host in
	// Router.exact, or (wild) its suffix in Router.wildcard or
	// Router.wildAlias; "" for the any-host server or none.
	key  string
	wild bool
	// deep: a wildcard alias matched more than one label ("*.foo.com" for
	// "a.bar.foo.com"); ingress-nginx's certificate.lua, which looks one
	// label up only, finds no certificate for such a name.
	deep bool
}

// Lookup returns the Host of host (a Host header or an SNI name, as Match
// takes it): the server of its exact name, else of the longest wildcard
// alias that ends it (NginxWildcard), else of the wildcard host one label
// up, else the any-host server.
func (r *Router) Lookup(host string) Host {
	h, _ := r.LookupName(host)
	return h
}

// LookupName is Lookup, and returns the name it looked up too:
// NormalizeHost(host), from which HostVarOf gives the host's $host.
func (r *Router) LookupName(host string) (Host, string) {
	name := NormalizeHost(host)
	if srv, ok := r.exact[name]; ok {
		return Host{r: r, srv: srv, key: name}, name
	}
	if srv, suffix, ok := NginxWildcard(r.wildAlias, name); ok {
		return Host{r: r, srv: srv, key: suffix, wild: true, deep: len(name)-len(suffix)-1 != strings.IndexByte(name, '.')}, name
	}
	if dot := strings.IndexByte(name, '.'); dot > 0 {
		if srv, ok := r.wildcard[name[dot+1:]]; ok {
			return Host{r: r, srv: srv, key: name[dot+1:], wild: true}, name
		}
	}
	return Host{r: r, srv: r.anyHost}, name
}

// HostVarOf returns HostVar(host) without normalising host again, name
// being NormalizeHost(host) (LookupName's): name, but for an empty host
// and an IPv6 literal, whose $host differs from it.
func HostVarOf(host, name string) string {
	if host == "" || host[0] == '[' {
		return HostVar(host)
	}
	return name
}

// StickyCookie reports whether ingress-nginx's sticky balancer sets its
// affinity cookie for a request to the Host's name (should_set_cookie): it
// looks the name up among the server's host and aliases, then with its
// first label replaced by "*", so it finds no name a wildcard alias
// matches more than one label deep ("*.foo.com" for "a.bar.foo.com"), and
// sets no cookie there. True for every other name.
func (h Host) StickyCookie() bool { return !h.deep }

// HostLevel is Router.HostLevel of the Host's name.
func (h Host) HostLevel() (redirectTo, appRoot string) {
	if !h.r.hostLevel || h.srv == nil {
		return "", ""
	}
	return h.srv.redirectTo, h.srv.src.AppRoot
}

// HealthzPath is the location that ingress-nginx's default server "_"
// answers 200 on the HTTP and HTTPS ports, for the health checks of cloud
// load balancers (nginx.tmpl's location /healthz, nginx.HealthPath).
const HealthzPath = "/healthz"

// Healthz reports whether a request for path on the Host, for which Match
// returned route (nil: none), is answered by ingress-nginx's default
// server's location /healthz instead: the Host is that server (Served is
// false), path starts with HealthzPath, and nginx would not pick the
// rule's location over that plain prefix: no Exact path, no regular
// expression (checked after the prefixes), no longer prefix.
func (h Host) Healthz(path string, route *Route) bool {
	if h.Served() || !strings.HasPrefix(path, HealthzPath) {
		return false
	}
	if route == nil || route == h.r.fallback {
		return true
	}
	if route.Match != snapshot.MatchPrefix || h.srv != nil && h.srv.src.UseRegex {
		return false
	}
	return len(strings.TrimSuffix(route.Path, "/")) < len(HealthzPath)
}

// Match is Router.Match of the Host's name and path.
func (h Host) Match(path string) (*Route, bool) {
	if srv := h.srv; srv != nil {
		for i := range srv.paths {
			if srv.paths[i].matches(path) {
				return srv.paths[i].route, true
			}
		}
	}
	if h.r.fallback != nil {
		return h.r.fallback, true
	}
	return nil, false
}

// ServerTLS is Router.ServerTLS of the Host's name.
func (h Host) ServerTLS() *snapshot.ServerTLS {
	if h.srv != nil {
		return h.srv.src.TLS
	}
	return nil
}

// Served is Router.Served of the Host's name.
func (h Host) Served() bool { return h.srv != nil && h.srv != h.r.anyHost }

// ServerName is nginx's server_name of the Host's server, the $host of a
// request whose Host header nginx did not take (one refused while its head
// is read, its server chosen by SNI): the exact name, "*." and the suffix
// of a wildcard one, "_" for the any-host server or none.
func (h Host) ServerName() string {
	switch {
	case !h.Served():
		return DefaultServerName
	case h.wild:
		return "*." + h.key
	}
	return h.key
}

// Fallback returns the route of the Snapshot's DefaultBackend, or nil when
// there is none.
func (r *Router) Fallback() *Route { return r.fallback }

// PoolOf returns the Pool that serves route: its own, or, for a route of
// upstream-default-backend (a host's root location,
// snapshot.Backend.DefaultUpstream), the DefaultService's, looked up per
// request so that a change of that Service's endpoints recompiles no
// server; nil when there is none (the caller answers Weir's 404).
func (r *Router) PoolOf(route *Route) *Pool {
	if !route.Backend.DefaultUpstream {
		return route.Pool
	}
	if r.errorPages == nil {
		return nil
	}
	return r.errorPages.Pool
}

// ErrorPages returns the route of the Snapshot's DefaultService, where
// custom-http-errors sends the error pages of a route without a
// default-backend annotation, or nil when there is none (nginx's 404 page).
// It is Fallback when no Ingress's spec.defaultBackend took the catch-all.
func (r *Router) ErrorPages() *Route { return r.errorPages }

// Snapshot returns the Snapshot the Router was compiled from.
func (r *Router) Snapshot() *snapshot.Snapshot { return r.snap }

// Version returns the Version of the Snapshot the Router was compiled from.
func (r *Router) Version() uint64 { return r.snap.Version }

// Upstream returns the state of addr, or nil when no pool of r has addr.
func (r *Router) Upstream(addr string) *Upstream { return r.upstreams[addr] }

// Match returns the Route for a request to host (a Host header: any case,
// with or without a port, IPv6 in brackets) and path (the URL path, without
// the query). It reports false when nothing matches and there is no default
// backend; the caller answers 404.
func (r *Router) Match(host, path string) (*Route, bool) {
	return r.Lookup(host).Match(path)
}

// ServerTLS returns the server-level TLS settings of the Server that
// serves host (a Host header or an SNI name, as Match takes it), nil when
// it has none or no Server serves host.
func (r *Router) ServerTLS(host string) *snapshot.ServerTLS {
	return r.Lookup(host).ServerTLS()
}

// Defined reports whether host (a normalised request host, as
// NormalizeHost gives) is a name the configuration defines: a Server's host
// or alias, or "_", the default server's name. These are the names
// ingress-nginx's socket collector keeps the request metrics of
// (SocketCollector.SetHosts); a host a wildcard matches, or one only the
// default server or a host-less rule serves, is not defined, nor is a
// from-to-www-redirect name (nginx's redirect servers log no metrics).
func (r *Router) Defined(host string) bool {
	if host == DefaultServerName {
		return true
	}
	srv, ok := r.exact[host]
	return ok && srv.redirectTo == ""
}

// DefinedAs is Defined(host) for host the $host of the name h was looked
// up by (LookupName's name, HostVarOf): when h is r's exact match of
// host, the answer comes from h, without indexing the host map again (a
// map access some 130 instructions under callgrind, which each request's
// metrics ask); otherwise from the map, as Defined. A Host of another
// Router (a reload since its lookup) is not used.
func (r *Router) DefinedAs(h Host, host string) bool {
	// Only LookupName's exact branch gives a Host that is not wild with
	// a non-empty key (the any-host server's is "").
	if h.r == r && !h.wild && host != "" && h.key == host && host != DefaultServerName {
		return h.srv.redirectTo == ""
	}
	return r.Defined(host)
}

// Served reports whether a Server serves host (a Host header, as Match
// takes it) by name, exact or wildcard: false for a host only the any-host
// server or nothing serves (nginx's catch-all "_" server).
func (r *Router) Served(host string) bool {
	return r.Lookup(host).Served()
}

func (p *compiledPath) matches(path string) bool {
	switch p.match {
	case snapshot.MatchExact:
		return path == p.path
	case snapshot.MatchPrefix:
		return p.prefix == "" || path == p.path || strings.HasPrefix(path, p.prefix)
	default:
		return p.re.MatchString(path)
	}
}

// DefaultServerName is the server_name of ingress-nginx's catch-all default
// server, which serves the requests no Server serves by name and those
// without a host.
const DefaultServerName = "_"

// HostVar is nginx's $host of a request whose Host (r.Host) is host:
// NormalizeHost's, but an IPv6 literal keeps its brackets ("[::1]"), or,
// without one (an HTTP/1.0 request with no Host line
// and an origin-form target), the matched server's name. Such a request is
// served by the Router's any-host server, ingress-nginx's default server,
// so that name is always DefaultServerName (nginx 1.22.1 answered "GET /
// HTTP/1.0" with no Host line to "server_name _ default_server" with $host
// "_", and to a named default server with that name).
func HostVar(host string) string {
	switch {
	case host == "":
		return DefaultServerName
	case host[0] == '[':
		if end := strings.IndexByte(host, ']'); end > 0 {
			return strings.ToLower(host[:end+1])
		}
	}
	return NormalizeHost(host)
}

// NormalizeHost returns host lower-cased, without a port, without the
// brackets of an IPv6 literal and without a trailing dot: "Foo.COM:8080" is
// "foo.com", "[::1]:80" is "::1".
func NormalizeHost(host string) string {
	if normalHost(host) {
		return host // most Hosts: one scan instead of four (this runs a few times a request)
	}
	return normalizeHost(host)
}

// normalizeHost is NormalizeHost without its shortcut.
func normalizeHost(host string) string {
	if strings.HasPrefix(host, "[") {
		if end := strings.IndexByte(host, ']'); end > 0 {
			host = host[1:end]
		}
	} else if strings.Count(host, ":") == 1 {
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		} else {
			host = host[:strings.IndexByte(host, ':')]
		}
	}
	host = strings.TrimSuffix(host, ".")
	return strings.ToLower(host)
}

// normalHost reports whether NormalizeHost(host) is host: only lower-case
// ASCII letters, digits, dots and hyphens, and no trailing dot.
func normalHost(host string) bool {
	for i := 0; i < len(host); i++ {
		if c := host[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	return host == "" || host[len(host)-1] != '.'
}

// NginxWildcard returns the value in m (keyed by the suffix after "*.") of
// the longest wildcard name that ends name (lower-case, without port or
// final dot) at any depth, and that suffix, as nginx matches a server_name
// "*.example.com": every name ending in ".example.com" with a label before
// it, "a.example.com" and "a.b.example.com" alike. It reports false when
// none does.
func NginxWildcard[V any](m map[string]V, name string) (v V, suffix string, ok bool) {
	for i := strings.IndexByte(name, '.'); i > 0 && len(m) > 0; {
		if v, ok = m[name[i+1:]]; ok {
			return v, name[i+1:], true
		}
		next := strings.IndexByte(name[i+1:], '.')
		if next < 0 {
			break
		}
		i += 1 + next
	}
	return v, "", false
}

package proxy

import (
	"net/http"
	"net/netip"
	"net/textproto"
	"strings"
	"syscall"
	"time"

	"github.com/weir-lb/weir/l7/connlimit"
	"github.com/weir-lb/weir/l7/h1guard"
	"github.com/weir-lb/weir/l7/proxyproto"
	"github.com/weir-lb/weir/l7/router"
	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// globalConfig is the Global section of the live Snapshot, compiled once per
// Apply: what every request reads of the controller ConfigMap's global
// settings.
type globalConfig struct {
	annotations.Global
	// forwardedFor is Global.ForwardedFor(), canonicalised here (the
	// ConfigMap's parse already does) so that headerValue may index the
	// request's header by it.
	forwardedFor string
	// forwardedHost is Global.ForwardedHost(), canonical as forwardedFor.
	forwardedHost string
	// realIPFrom are the trusted proxies (Global.RealIPFrom()).
	realIPFrom []netip.Prefix
	// realIP is Global.RealIP().
	realIP bool
	// connLimits are keep-alive, keep-alive-requests and
	// max-worker-connections.
	connLimits connlimit.Settings
	// block is block-cidrs, block-user-agents and block-referers.
	block blockRules
	// compress is use-gzip, enable-brotli and their settings.
	compress compressConfig
	// logFormat is log-format-upstream compiled; nil for Weir's JSON line.
	logFormat *logFormat
	// skipURLs is skip-access-log-urls compiled.
	skipURLs annotations.SkipURLs
	// contentType is default-type.
	contentType string
	// limitKey is limit-conn-zone-variable; nil for the client address.
	limitKey annotations.Vars
	// What the requests read of Global's methods, taken once here: a
	// method of Global has a value receiver, and its call copies the
	// whole Global (some 900 bytes, 150 instructions) each time.
	// headerBuffers and headerBufferSize are HeaderBuffers() (4, 8192);
	// limitReqStatus and limitConnStatus are LimitReqStatusCode() and
	// LimitConnStatusCode() (503); upstreamKeepalive is
	// UpstreamKeepalive()'s connections (320); redirectCode is
	// HTTPRedirectCode() (308). The redirect and auth paths test
	// no-tls-redirect-locations and no-auth-locations with
	// annotations.InLocations on Global's fields, not its methods.
	headerBuffers, headerBufferSize int
	limitReqStatus, limitConnStatus int
	upstreamKeepalive               int
	redirectCode                    int
	// defaultBodySize is DefaultBodySizeBytes(), the limit of the
	// requests of hosts no rule names (1048576; 0: none).
	defaultBodySize int64
	// addHeaders is ResponseHeaders (add-headers) compiled, setHeaders
	// UpstreamHeaders (proxy-set-headers).
	addHeaders, setHeaders headerSet
	// hsts is the Snapshot's HSTS, for the HTTPS answers of every route
	// and of Weir's own 404 of a host no rule names; "" when hsts is off.
	hsts string
}

// noTLSRedirect is Global.NoTLSRedirect of the path of the location that
// serves route's request for path (locationSlash), without copying the
// Global.
func (g *globalConfig) noTLSRedirect(route *router.Route, path string) bool {
	return inLocations(route.Path, locationSlash(route, path), g.NoTLSRedirectLocations, annotations.DefaultNoTLSRedirectLocations)
}

// noAuth is Global.NoAuth of the path of the location that serves route's
// request for path (locationSlash), without copying the Global.
func (g *globalConfig) noAuth(route *router.Route, path string) bool {
	return inLocations(route.Path, locationSlash(route, path), g.NoAuthLocations, annotations.DefaultNoAuthLocations)
}

// locationSlash reports whether the nginx location that ingress-nginx
// writes for route and that serves a request for path has the path
// route.Path followed by "/": the path its location lists
// (no-tls-redirect-locations, no-auth-locations) are matched against by
// isLocationInLocationList. updateServerLocations makes a Prefix rule
// "/a" two locations, "= /a" and "/a/" (which serves "/a/" and below),
// and a Prefix rule "/a/" (Weir's Path "/a" with SlashRedirect) the
// locations "/a/" and "= /a/"; a regular-expression host's paths are
// routes of their own.
func locationSlash(route *router.Route, path string) bool {
	return route.Match == snapshot.MatchPrefix && route.Path != "/" && (route.SlashRedirect || path != route.Path)
}

// inLocations is annotations.InLocations of path followed by "/" when
// slash, without building that string.
func inLocations(path string, slash bool, list []string, def string) bool {
	if annotations.InLocations(path, list, def) {
		return true
	}
	if !slash {
		return false
	}
	if list == nil {
		list = []string{def}
	}
	for _, l := range list {
		// path+"/" starts with l, and path does not: l is path+"/".
		if len(l) == len(path)+1 && l[len(path)] == '/' && strings.HasPrefix(l, path) {
			return true
		}
	}
	return false
}

// limitKeyOf returns what limit-connections and limit-rps count r by
// (limit-conn-zone-variable): nil for the client address, else the
// variables' value (empty: not counted).
func (g *globalConfig) limitKeyOf(ex *exchange, r *http.Request) []byte {
	if g.limitKey == nil {
		return nil
	}
	return []byte(g.limitKey.Expand(ex.vars(r)))
}

// defaultGlobal is the configuration before the first Apply.
var defaultGlobal = compileGlobal(annotations.Global{})

// compileGlobal compiles g. A trusted prefix that does not parse (the
// annotations package never writes one) is skipped: it trusts nobody.
func compileGlobal(g annotations.Global) *globalConfig {
	c := &globalConfig{Global: g, forwardedFor: textproto.CanonicalMIMEHeaderKey(g.ForwardedFor()), forwardedHost: textproto.CanonicalMIMEHeaderKey(g.ForwardedHost()), realIP: g.RealIP(), block: compileBlock(g.Block)}
	ka, n := g.KeepAliveSettings()
	c.connLimits = connlimit.Settings{KeepAlive: time.Duration(ka) * time.Second, KeepAliveRequests: n, MaxConnections: g.WorkerConnections(), HeaderTimeout: g.ClientHeaderTimeout}
	if c.connLimits.MaxConnections == 0 {
		c.connLimits.MaxConnections = openFilesConnections()
	}
	c.realIPFrom = parsePrefixes(g.RealIPFrom())
	c.compress = compileCompress(g.Compress)
	c.logFormat = compileLogFormat(g.LogFormat)
	c.skipURLs = annotations.CompileSkipURLs(g.Logs.SkipURLs)
	c.contentType = g.ContentType()
	c.headerBuffers, c.headerBufferSize = g.HeaderBuffers()
	c.limitReqStatus, c.limitConnStatus = g.LimitReqStatusCode(), g.LimitConnStatusCode()
	c.upstreamKeepalive, _, _ = g.UpstreamKeepalive()
	c.redirectCode = g.HTTPRedirectCode()
	c.defaultBodySize = g.DefaultBodySizeBytes()
	c.addHeaders = compileHeaders(g.ResponseHeaders, false)
	c.setHeaders = compileHeaders(g.UpstreamHeaders, true)
	if g.LimitConnZoneVariable != "" {
		c.limitKey, _ = annotations.ParseVars(g.LimitConnZoneVariable) // parsed before: cannot fail
	}
	return c
}

// liveGlobal returns the compiled Global section of the live Snapshot, the
// defaults before the first Apply.
func (p *Proxy) liveGlobal() *globalConfig {
	if g := p.global.Load(); g != nil {
		return g
	}
	return defaultGlobal
}

// HeaderLimits returns large-client-header-buffers of the live
// configuration: the number of buffers and the size of each; the defaults,
// 4 and 8192, before the first Apply. Safe for concurrent use.
func (p *Proxy) HeaderLimits() (count, size int) {
	g := p.liveGlobal()
	return g.headerBuffers, g.headerBufferSize
}

// HeaderTimeout returns client-header-timeout of the live configuration, 0
// when it is unset (the server's own default, 60 s, applies). Safe for
// concurrent use.
func (p *Proxy) HeaderTimeout() time.Duration { return p.liveGlobal().ClientHeaderTimeout }

// clientBodyTimeout returns client-body-timeout of the live configuration,
// Options.ClientBodyTimeout (default 60 s) when it is unset.
func (p *Proxy) clientBodyTimeout() time.Duration {
	if d := p.liveGlobal().ClientBodyTimeout; d > 0 {
		return d
	}
	return p.clientBody
}

// ServesHTTP2 reports whether the live configuration serves HTTP/2 to
// clients: use-http2, true before the first Apply (h1guard.HTTP2Source:
// the h2c preface on the clear-text listener; TLS's ALPN follows the same
// key in l7/certs). Safe for concurrent use.
func (p *Proxy) ServesHTTP2() bool { return !p.liveGlobal().TLS.HTTP2Off }

// UseProxyProtocol reports whether the live configuration sets
// use-proxy-protocol; false before the first Apply. Safe for concurrent
// use.
func (p *Proxy) UseProxyProtocol() bool { return p.liveGlobal().UseProxyProtocol }

// TrustsProxy reports whether the live configuration trusts peer's
// forwarded address (PROXY protocol header or forwarded-for-header): peer
// is in proxy-real-ip-cidr. Safe for concurrent use.
func (p *Proxy) TrustsProxy(peer netip.Addr) bool {
	return containsAddr(p.liveGlobal().realIPFrom, peer.Unmap())
}

// ConnLimits returns keep-alive, keep-alive-requests and
// max-worker-connections of the live configuration (75 s, 1000 and 16384
// before the first Apply). Safe for concurrent use.
func (p *Proxy) ConnLimits() connlimit.Settings { return p.liveGlobal().connLimits }

// openFilesConnections is max-worker-connections "0" as ingress-nginx
// derives it from max-worker-open-files "0": three quarters of the
// process's open-file limit less 1024, that difference at least 1024.
func openFilesConnections() int {
	var rl syscall.Rlimit
	files := uint64(0)
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil && rl.Cur > 1024 {
		files = min(rl.Cur-1024, 1<<30)
	}
	return int(max(files, 1024)) * 3 / 4
}

// HTTPSPolicy returns the PROXY protocol policy of the HTTPS listener: the
// Proxy's, but the header is read under
// Global.HTTPSProxyProtocolTimeout (proxy-protocol-header-timeout with
// --enable-ssl-passthrough). Safe for concurrent use.
func (p *Proxy) HTTPSPolicy() proxyproto.Policy { return httpsPolicy{p} }

// httpsPolicy is HTTPSPolicy's: *Proxy with another HeaderTimeout.
type httpsPolicy struct{ *Proxy }

// HeaderTimeout implements proxyproto.TimeoutPolicy.
func (p httpsPolicy) HeaderTimeout() time.Duration {
	return p.liveGlobal().HTTPSProxyProtocolTimeout()
}

var (
	_ proxyproto.TimeoutPolicy = httpsPolicy{}
	_ proxyproto.Policy        = (*Proxy)(nil)
	_ connlimit.Source         = (*Proxy)(nil)
	_ h1guard.TimeoutSource    = (*Proxy)(nil)
	_ h1guard.HTTP2Source      = (*Proxy)(nil)
	_ proxyproto.TimeoutPolicy = (*Proxy)(nil)
)

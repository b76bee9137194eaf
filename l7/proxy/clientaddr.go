package proxy

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/weir-lb/weir/l7/proxyproto"
	"github.com/weir-lb/weir/l7/router"
)

// forwarding is what ingress-nginx's client-address model gives one
// request: nginx's realip module ($remote_addr), the variables its Lua
// rewrite phase sets ($pass_access_scheme, $pass_port, $best_http_host)
// and the proxy_set_header lines of a location. Source ranges judge
// remote, the access log writes it, rewrite sends the rest.
type forwarding struct {
	// remote is $remote_addr: the connection's address, or, with real IP
	// on and a trusted peer, the address taken from the forwarded-for
	// header. Invalid when the connection gave none (remoteText then holds
	// RemoteAddr as it is).
	remote     netip.Addr
	remoteText string
	// scheme is $pass_access_scheme: X-Forwarded-Proto, X-Forwarded-Scheme
	// and X-Scheme.
	scheme string
	// port is $pass_port: X-Forwarded-Port.
	port string
	// host is $best_http_host: the upstream Host and X-Forwarded-Host.
	host string
	// forwardedFor is X-Forwarded-For: remote, or with
	// use-forwarded-headers and compute-full-forwarded-for
	// $full_x_forwarded_for (the client's value, then the peer's address).
	forwardedFor string
	// originalFor and originalHost are X-Original-Forwarded-For (the
	// client's forwarded-for-header) and X-Original-Forwarded-Host (its
	// forwarded-host-header, X-Forwarded-Host by default); "" sends none.
	originalFor, originalHost string
	// originalURI is X-Original-URI, $request_uri, with
	// proxy-add-original-uri-header; "" leaves the client's header as is.
	originalURI string
	// tcpPeer is the connection's peer, nginx's $realip_remote_addr (the
	// balancer's address under use-proxy-protocol); ppSource is the PROXY
	// header's source address, $proxy_protocol_addr, invalid without
	// use-proxy-protocol or when the header gave none.
	tcpPeer, ppSource netip.Addr
	// ppForwardedFor is $forwarded_for_proxy_protocol, the value of
	// forwarded-for-proxy-protocol-header, with use-forwarded-headers and
	// use-proxy-protocol; ppHeader is that header's name, "" when it is
	// not set (a "" value removes it).
	ppForwardedFor, ppHeader string
}

// httpHost is nginx's $http_host, the Host line as sent; for an
// absolute-form target, the URL's host, which routed the request (r.Host),
// whatever the Host line says. Unlike nginx, which routes
// "GET http://public.test/x" with "Host: private.test" by the request
// line and sends its upstream Host: private.test, so that a backend
// serving both hosts answers for private.test past that host's source
// ranges and authentication; RFC 9112 has a server ignore the Host line
// then, and net/http's server (--http1-server=net) drops it.
func httpHost(r *http.Request) string {
	return r.Host
}

// forwarding sets f to the client-address model of r, answered through w
// (nil: none), under g. httpsPort is the HTTPS listener's port as text
// (httpsPortText): a request that came in on it has $pass_port 443, as
// ingress-nginx's rewrite phase sets.
func (g *globalConfig) forwarding(f *forwarding, w http.ResponseWriter, r *http.Request, httpsPort string) {
	peerText, peer := connPeerAddr(w, r.RemoteAddr)
	// $best_http_host is $http_host (lua_ingress.lua: $http_host, else
	// $host). f is set in place: a forwarding built here and returned was
	// zeroed and copied twice (232 bytes).
	*f = forwarding{}
	f.remote, f.remoteText, f.scheme, f.host = peer, peerText, "http", httpHost(r)
	if r.TLS != nil {
		f.scheme = "https"
	}
	if f.host == "" {
		// A request without a host (HTTP/1.0) is served by ingress-nginx's
		// default server: $best_http_host is then $host, its server_name.
		f.host = router.DefaultServerName
	}
	// With use-proxy-protocol, the connection's addresses are already those
	// of the PROXY header (l7/proxyproto): the peer is the client when the
	// balancer is trusted, and the local port $proxy_protocol_server_port.
	serverPort := localPort(r)
	f.tcpPeer = peer // $realip_remote_addr
	var ppSource netip.Addr
	if g.UseProxyProtocol {
		ppSource = peer // a request without l7/proxyproto's address: its own
		if pa, ok := r.Context().Value(http.LocalAddrContextKey).(*proxyproto.Addr); ok {
			f.tcpPeer, ppSource = pa.Peer.Addr(), pa.Source.Addr()
			if !ppSource.IsValid() {
				// PROXY UNKNOWN, a LOCAL header: nginx has no
				// $proxy_protocol_server_port.
				serverPort = ""
			} else if ppSource.Is4In6() && f.remote == ppSource.Unmap() {
				// An IPv4-mapped source the realip module took keeps its
				// IPv6 text (RemoteAddr's is the IPv4 address).
				f.remoteText = ngxAddrText(ppSource)
			}
		}
	}
	f.ppSource = ppSource
	ppPort := serverPort
	f.originalFor, _ = headerValue(r.Header, g.forwardedFor)
	switch {
	case g.UseForwardedHeaders && g.UseProxyProtocol:
		// real_ip_header is forwarded-for-proxy-protocol-header, which
		// ingress-nginx sets (more_set_input_headers) to
		// $forwarded_for_proxy_protocol: the forwarded-for header when the
		// PROXY source is in proxy-real-ip-cidr, else that source. The
		// walk starts at the connection's peer; an empty value is no
		// header, which leaves the peer. A client's own
		// X-Forwarded-For-Proxy-Protocol is never read (nginx's realip
		// reads it before headers-more replaces it: see the README).
		f.ppHeader = g.ForwardedForProxyProtocol()
		geoAddr := ppSource.Unmap() // geo, as set_real_ip_from, matches a mapped address as IPv4
		if !geoAddr.IsValid() {
			// nginx's geo module takes an address it cannot parse (no
			// $proxy_protocol_addr) as INADDR_NONE, which 0.0.0.0/0 holds.
			geoAddr = netip.AddrFrom4([4]byte{255, 255, 255, 255})
		}
		switch {
		case containsAddr(g.realIPFrom, geoAddr):
			f.ppForwardedFor = f.originalFor
		case ppSource.IsValid():
			f.ppForwardedFor = ngxAddrText(ppSource)
		}
		f.remote, f.remoteText = f.tcpPeer, ngxAddrText(f.tcpPeer)
		if a, found := realIP(f.tcpPeer, []string{f.ppForwardedFor}, g.realIPFrom); found {
			f.remote, f.remoteText = a.Unmap(), ngxAddrText(a)
		}
	case g.realIP && !g.UseProxyProtocol && peer.IsValid():
		// real_ip_header is proxy_protocol (done) with use-proxy-protocol
		// alone; otherwise forwarded-for-header: every line of
		// X-Forwarded-For, the first of any other header.
		lines := r.Header[g.forwardedFor]
		if g.forwardedFor != "X-Forwarded-For" && len(lines) > 1 {
			lines = lines[:1]
		}
		if a, found := realIP(peer, lines, g.realIPFrom); found {
			f.remote, f.remoteText = a.Unmap(), ngxAddrText(a)
		}
	}
	if g.UseForwardedHeaders {
		if v, ok := headerValue(r.Header, "X-Forwarded-Proto"); ok {
			f.scheme = v
		}
		if v, ok := headerValue(r.Header, "X-Forwarded-Port"); ok {
			serverPort = v
		}
		if v, ok := headerValue(r.Header, "X-Forwarded-Host"); ok {
			// lua_ingress.lua: the first of ngx.re.split(v, ","), "" for
			// ",b.test" or an empty value: then no Host and no
			// X-Forwarded-Host is sent.
			f.host, _, _ = strings.Cut(v, ",")
		}
	}
	if g.UseProxyProtocol && ppPort == "443" {
		f.scheme = "https"
	}
	f.port = serverPort
	if serverPort == httpsPort {
		f.port = "443"
	}
	f.forwardedFor = f.remoteText
	if g.UseForwardedHeaders && g.ComputeFullForwardedFor {
		// $full_x_forwarded_for: the client's X-Forwarded-For, then
		// $realip_remote_addr, or with use-proxy-protocol
		// $proxy_protocol_addr (whether trusted or not).
		src := peerText
		if g.UseProxyProtocol {
			src = ""
			if ppSource.IsValid() {
				src = ngxAddrText(ppSource)
			}
		}
		f.forwardedFor = src
		if v, _ := headerValue(r.Header, "X-Forwarded-For"); v != "" {
			f.forwardedFor = v + ", " + src
		}
	}
	f.originalHost, _ = headerValue(r.Header, g.forwardedHost)
	if g.ProxyAddOriginalURIHeader {
		f.originalURI = r.RequestURI
	}
}

// httpsPortText is the text of the HTTPS listener's port (0: 443), which
// forwarding compares each request's local port with: taken once, not
// looked up in portString's cache per request.
func httpsPortText(port int) string {
	if port == 0 {
		port = 443
	}
	return strconv.Itoa(port)
}

// headerValue is nginx's $http_<name>: every line of the header joined
// with ", "; ok is false when the request has none. name is canonical
// (textproto.CanonicalMIMEHeaderKey), as the server's field names are: the
// map is indexed by it, not canonicalised again for each request.
func headerValue(h http.Header, name string) (v string, ok bool) {
	vs := h[name]
	if len(vs) == 0 {
		return "", false
	}
	return strings.Join(vs, ", "), true
}

// parseClientAddr parses an address, optionally with a port ("1.2.3.4",
// "1.2.3.4:80", "::1", "[::1]:80"), IPv4-mapped IPv6 unmapped and without
// a zone; invalid when s is neither.
func parseClientAddr(s string) netip.Addr {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}
		}
		a = ap.Addr()
	}
	return a.WithZone("").Unmap()
}

// peerAddr returns clientIP's text of the connection's address remote
// (RemoteAddr) and parseClientAddr's parse of it. The form h1server and
// net/http give an IPv4 client, "a.b.c.d:port", is read in one scan; any
// other goes to net.SplitHostPort and netip, which cost several times as
// much for each request.
func peerAddr(remote string) (string, netip.Addr) {
	var ip [4]byte
	i := 0
	for field := range ip {
		start, val := i, 0
		for i < len(remote) && remote[i]-'0' < 10 {
			val = val*10 + int(remote[i]-'0')
			i++
		}
		if n := i - start; n == 0 || n > 3 || val > 255 || n > 1 && remote[start] == '0' {
			return slowPeerAddr(remote) // not an octet as netip takes one
		}
		ip[field] = byte(val)
		if field < 3 {
			if i == len(remote) || remote[i] != '.' {
				return slowPeerAddr(remote)
			}
			i++
		}
	}
	if i == len(remote) || remote[i] != ':' || !allDigits(remote[i+1:]) {
		return slowPeerAddr(remote) // no port, IPv6, a zone
	}
	return remote[:i], netip.AddrFrom4(ip)
}

// peerAddrMemo is l7/h1server's response writer, which keeps peerAddr's
// results of its connection's address from one request to the next
// (h1server's PeerAddr).
type peerAddrMemo interface {
	PeerAddr(remote string, parse func(string) (string, netip.Addr)) (string, netip.Addr)
}

// connPeerAddr is peerAddr(remote), parsed once per connection where w's
// server keeps it (some 150 instructions each further request).
func connPeerAddr(w http.ResponseWriter, remote string) (string, netip.Addr) {
	if m, ok := w.(peerAddrMemo); ok {
		return m.PeerAddr(remote, peerAddr)
	}
	return peerAddr(remote)
}

// slowPeerAddr is peerAddr of any address.
func slowPeerAddr(remote string) (string, netip.Addr) {
	host := clientIP(remote)
	return host, parseClientAddr(host)
}

// allDigits reports whether s is decimal digits only (or empty).
func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// clientIP returns the IP of the connection's address (RemoteAddr), or the
// whole RemoteAddr when it has no port.
func clientIP(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

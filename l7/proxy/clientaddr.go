package proxy

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
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
	// ppForwardedFor is $forwarded_for_proxy_protocol, the value of
	// forwarded-for-proxy-protocol-header, with use-forwarded-headers and
	// use-proxy-protocol; ppHeader is that header's name, "" when it is
	// not set (a "" value removes it).
	ppForwardedFor, ppHeader string
}

// defaultServerName is the server_name of ingress-nginx's default server,
// which serves the requests without a host.
const defaultServerName = "_"

// forwarding computes the client-address model of r under g. httpsPort is
// the HTTPS listener's port as text (httpsPortText): a request that came
// in on it has $pass_port 443, as ingress-nginx's rewrite phase sets.
func (g *globalConfig) forwarding(r *http.Request, httpsPort string) forwarding {
	peerText, peer := peerAddr(r.RemoteAddr)
	f := forwarding{remote: peer, remoteText: peerText, scheme: "http", host: r.Host}
	if r.URL.Host != "" {
		// An absolute-form target: r.Host, which routed it, is the URL's;
		// $best_http_host is the Host line, which l7/h1server keeps in
		// the header for it (lua_ingress.lua: $http_host, else $host).
		if h := r.Header["Host"]; len(h) > 0 {
			f.host = h[0]
		}
	}
	if r.TLS != nil {
		f.scheme = "https"
	}
	// With use-proxy-protocol, the connection's addresses are already those
	// of the PROXY header (l7/proxyproto): the peer is the client when the
	// balancer is trusted, and the local port $proxy_protocol_server_port.
	serverPort := localPort(r)
	ppPort := serverPort
	// real_ip_header is proxy_protocol (done) with use-proxy-protocol
	// alone; otherwise X-Forwarded-For (every line) or another header (its
	// first line), as nginx's realip module reads them.
	if g.realIP && (!g.UseProxyProtocol || g.UseForwardedHeaders) && peer.IsValid() {
		var v string
		if g.forwardedFor == "X-Forwarded-For" {
			v = strings.Join(r.Header.Values("X-Forwarded-For"), ",")
		} else {
			v = firstValue(r.Header, g.forwardedFor)
		}
		if a := realIP(peer, v, g.realIPFrom); a != peer {
			f.remote, f.remoteText = a, a.String()
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
			f.host, _, _ = strings.Cut(v, ",")
		}
	}
	if f.host == "" {
		// A request without a host (HTTP/1.0) is served by ingress-nginx's
		// default server: $best_http_host is then $host, its server_name.
		f.host = defaultServerName
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
		f.forwardedFor = peerText
		if v, _ := headerValue(r.Header, "X-Forwarded-For"); v != "" {
			f.forwardedFor = v + ", " + peerText
		}
	}
	f.originalFor, _ = headerValue(r.Header, g.forwardedFor)
	f.originalHost, _ = headerValue(r.Header, g.forwardedHost)
	if g.ProxyAddOriginalURIHeader {
		f.originalURI = r.RequestURI
	}
	if g.UseForwardedHeaders && g.UseProxyProtocol {
		// The connection's address is the PROXY header's when the
		// balancer is trusted (l7/proxyproto).
		f.ppHeader, f.ppForwardedFor = g.ForwardedForProxyProtocol(), peerText
		if containsAddr(g.realIPFrom, peer) {
			f.ppForwardedFor = f.originalFor
		}
	}
	return f
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

// realIP is nginx's realip module with real_ip_recursive on: when peer is
// trusted, the rightmost address of the comma- or space-separated list v
// that is not trusted, or the leftmost when every one is; an entry that is
// not an address (optionally with a port) stops the walk at the last
// address found. It returns peer when peer is not trusted or v holds no
// address.
func realIP(peer netip.Addr, v string, trusted []netip.Prefix) netip.Addr {
	addr := peer
	for containsAddr(trusted, addr) {
		v = strings.TrimRight(v, " ,")
		if v == "" {
			return addr
		}
		i := strings.LastIndexAny(v, " ,")
		a := parseClientAddr(v[i+1:])
		if !a.IsValid() {
			return addr
		}
		addr, v = a, v[:max(i, 0)]
	}
	return addr
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

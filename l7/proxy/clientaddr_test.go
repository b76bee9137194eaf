package proxy

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/weir-lb/weir/l7/proxyproto"
	"github.com/weir-lb/weir/userspace/annotations"
)

// TestForwarding checks ingress-nginx's client-address model header by
// header: nginx's realip module (real_ip_header, real_ip_recursive on,
// set_real_ip_from), the Lua rewrite phase's $pass_access_scheme,
// $pass_port and $best_http_host, and the proxy_set_header values.
func TestForwarding(t *testing.T) {
	t.Parallel()
	type want struct {
		Remote, Scheme, Port, Host, XFF, OriginalFor, OriginalHost string
	}
	ufh := annotations.Global{UseForwardedHeaders: true}
	tests := []struct {
		name      string
		g         annotations.Global
		peer      string // RemoteAddr; default 192.0.2.10:5555
		local     string // local address; default 127.0.0.1:8080
		tls       bool
		httpsPort int
		// ppPeer and ppSource, when ppPeer is set, make the local address
		// l7/proxyproto's: the balancer's address and the PROXY header's
		// source ("" for PROXY UNKNOWN); RemoteAddr is then what
		// proxyproto.Conn gives, the source when the balancer is trusted.
		ppPeer, ppSource string
		hdr              [][2]string
		want             want
		// wantPP is X-Forwarded-For-Proxy-Protocol, checked when ppPeer is set.
		wantPP string
	}{
		{
			name: "defaults, no forwarded headers",
			want: want{Remote: "192.0.2.10", Scheme: "http", Port: "8080", Host: "web.test", XFF: "192.0.2.10"},
		},
		{
			name: "defaults: the client's values are not trusted, only copied",
			hdr:  [][2]string{{"X-Forwarded-For", "203.0.113.7"}, {"X-Forwarded-For", "10.0.0.5"}, {"X-Forwarded-Proto", "https"}, {"X-Forwarded-Host", "evil.test"}, {"X-Forwarded-Port", "1"}},
			want: want{Remote: "192.0.2.10", Scheme: "http", Port: "8080", Host: "web.test", XFF: "192.0.2.10", OriginalFor: "203.0.113.7, 10.0.0.5", OriginalHost: "evil.test"},
		},
		{
			name: "use-forwarded-headers: every proxy trusted (0.0.0.0/0), leftmost address",
			g:    ufh,
			hdr:  [][2]string{{"X-Forwarded-For", "203.0.113.7, 10.0.0.5"}, {"X-Forwarded-Proto", "https"}, {"X-Forwarded-Host", "a.test,b.test"}, {"X-Forwarded-Port", "8443"}},
			want: want{Remote: "203.0.113.7", Scheme: "https", Port: "8443", Host: "a.test", XFF: "203.0.113.7", OriginalFor: "203.0.113.7, 10.0.0.5", OriginalHost: "a.test,b.test"},
		},
		{
			name: "use-forwarded-headers and compute-full-forwarded-for append the peer",
			g:    annotations.Global{UseForwardedHeaders: true, ComputeFullForwardedFor: true},
			hdr:  [][2]string{{"X-Forwarded-For", "203.0.113.7, 10.0.0.5"}},
			want: want{Remote: "203.0.113.7", Scheme: "http", Port: "8080", Host: "web.test", XFF: "203.0.113.7, 10.0.0.5, 192.0.2.10", OriginalFor: "203.0.113.7, 10.0.0.5"},
		},
		{
			// A Global built without the ConfigMap's parse (which
			// canonicalises them) may name its headers in lower case: the
			// request's canonical fields are still found.
			name: "forwarded-for-header and forwarded-host-header not canonical",
			g:    annotations.Global{EnableRealIP: true, ForwardedForHeader: "x-client-ip", ForwardedHostHeader: "x-client-host"},
			hdr:  [][2]string{{"X-Client-Ip", "203.0.113.9"}, {"X-Client-Host", "orig.test"}},
			want: want{Remote: "203.0.113.9", Scheme: "http", Port: "8080", Host: "web.test", XFF: "203.0.113.9", OriginalFor: "203.0.113.9", OriginalHost: "orig.test"},
		},
		{
			name: "compute-full-forwarded-for without a client value",
			g:    annotations.Global{UseForwardedHeaders: true, ComputeFullForwardedFor: true},
			want: want{Remote: "192.0.2.10", Scheme: "http", Port: "8080", Host: "web.test", XFF: "192.0.2.10"},
		},
		{
			name: "compute-full-forwarded-for needs use-forwarded-headers",
			g:    annotations.Global{ComputeFullForwardedFor: true},
			hdr:  [][2]string{{"X-Forwarded-For", "203.0.113.7"}},
			want: want{Remote: "192.0.2.10", Scheme: "http", Port: "8080", Host: "web.test", XFF: "192.0.2.10", OriginalFor: "203.0.113.7"},
		},
		{
			name: "recursive: the rightmost untrusted address",
			g:    annotations.Global{UseForwardedHeaders: true, ProxyRealIPCIDR: []string{"10.0.0.0/8"}},
			peer: "10.1.1.1:5555",
			hdr:  [][2]string{{"X-Forwarded-For", "203.0.113.7, 198.51.100.1, 10.0.0.5"}},
			want: want{Remote: "198.51.100.1", Scheme: "http", Port: "8080", Host: "web.test", XFF: "198.51.100.1", OriginalFor: "203.0.113.7, 198.51.100.1, 10.0.0.5"},
		},
		{
			name: "an untrusted peer's header is ignored (X-Forwarded-Proto is not: nginx trusts it from anyone)",
			g:    annotations.Global{UseForwardedHeaders: true, ProxyRealIPCIDR: []string{"10.0.0.0/8"}},
			hdr:  [][2]string{{"X-Forwarded-For", "203.0.113.7"}, {"X-Forwarded-Proto", "https"}},
			want: want{Remote: "192.0.2.10", Scheme: "https", Port: "8080", Host: "web.test", XFF: "192.0.2.10", OriginalFor: "203.0.113.7"},
		},
		{
			name: "an empty trust list (invalid proxy-real-ip-cidr) trusts nobody",
			g:    annotations.Global{UseForwardedHeaders: true, ProxyRealIPCIDR: []string{}},
			hdr:  [][2]string{{"X-Forwarded-For", "203.0.113.7"}},
			want: want{Remote: "192.0.2.10", Scheme: "http", Port: "8080", Host: "web.test", XFF: "192.0.2.10", OriginalFor: "203.0.113.7"},
		},
		{
			name: "enable-real-ip alone: the address, not the other headers",
			g:    annotations.Global{EnableRealIP: true},
			hdr:  [][2]string{{"X-Forwarded-For", "203.0.113.7"}, {"X-Forwarded-Proto", "https"}, {"X-Forwarded-Host", "evil.test"}},
			want: want{Remote: "203.0.113.7", Scheme: "http", Port: "8080", Host: "web.test", XFF: "203.0.113.7", OriginalFor: "203.0.113.7", OriginalHost: "evil.test"},
		},
		{
			name: "forwarded-for-header: its first line; a non-address stops the walk",
			g:    annotations.Global{EnableRealIP: true, ForwardedForHeader: "X-Client-Ip"},
			hdr:  [][2]string{{"X-Client-Ip", "unknown, 198.51.100.9"}, {"X-Client-Ip", "203.0.113.1"}, {"X-Forwarded-For", "203.0.113.7"}},
			want: want{Remote: "198.51.100.9", Scheme: "http", Port: "8080", Host: "web.test", XFF: "198.51.100.9", OriginalFor: "unknown, 198.51.100.9, 203.0.113.1"},
		},
		{
			// ingress-nginx's forwarded-host-header (nginx.tmpl:
			// X-Original-Forwarded-Host $http_<header>); Host still comes
			// from X-Forwarded-Host, as lua_ingress.lua reads it.
			name: "forwarded-host-header: X-Original-Forwarded-Host's source only",
			g:    annotations.Global{UseForwardedHeaders: true, ForwardedHostHeader: "X-Client-Host"},
			hdr:  [][2]string{{"X-Client-Host", "orig.test"}, {"X-Forwarded-Host", "a.test"}},
			want: want{Remote: "192.0.2.10", Scheme: "http", Port: "8080", Host: "a.test", XFF: "192.0.2.10", OriginalHost: "orig.test"},
		},
		{
			name: "an address with a port",
			g:    ufh,
			hdr:  [][2]string{{"X-Forwarded-For", "[2001:db8::7]:443"}},
			want: want{Remote: "2001:db8::7", Scheme: "http", Port: "8080", Host: "web.test", XFF: "2001:db8::7", OriginalFor: "[2001:db8::7]:443"},
		},
		{
			name: "garbage only: the peer",
			g:    ufh,
			hdr:  [][2]string{{"X-Forwarded-For", "unknown, ,"}},
			want: want{Remote: "192.0.2.10", Scheme: "http", Port: "8080", Host: "web.test", XFF: "192.0.2.10", OriginalFor: "unknown, ,"},
		},
		{
			name: "an IPv6 peer is not in the default 0.0.0.0/0",
			g:    ufh,
			peer: "[2001:db8::1]:5555",
			hdr:  [][2]string{{"X-Forwarded-For", "203.0.113.7"}},
			want: want{Remote: "2001:db8::1", Scheme: "http", Port: "8080", Host: "web.test", XFF: "2001:db8::1", OriginalFor: "203.0.113.7"},
		},
		{
			name:  "use-proxy-protocol: the PROXY addresses (the connection's here) stand, X-Forwarded-For is not read; port 443 is https",
			g:     annotations.Global{UseProxyProtocol: true},
			local: "198.18.0.1:443",
			hdr:   [][2]string{{"X-Forwarded-For", "203.0.113.7"}},
			want:  want{Remote: "192.0.2.10", Scheme: "https", Port: "443", Host: "web.test", XFF: "192.0.2.10", OriginalFor: "203.0.113.7"},
		},
		{
			name: "use-proxy-protocol and use-forwarded-headers: X-Forwarded-For of a trusted PROXY source",
			g:    annotations.Global{UseProxyProtocol: true, UseForwardedHeaders: true},
			hdr:  [][2]string{{"X-Forwarded-For", "203.0.113.7"}, {"X-Forwarded-Proto", "https"}},
			want: want{Remote: "203.0.113.7", Scheme: "https", Port: "8080", Host: "web.test", XFF: "203.0.113.7", OriginalFor: "203.0.113.7"},
		},
		{
			// nginx 1.22.1 with ingress-nginx's real_ip_header
			// X-Forwarded-For-Proxy-Protocol, its geo and map of
			// $forwarded_for_proxy_protocol and more_set_input_headers
			// (headers-more): the walk starts at the balancer, whose
			// header value is the trusted source's X-Forwarded-For.
			name:     "use-proxy-protocol and use-forwarded-headers: a trusted source's X-Forwarded-For",
			g:        annotations.Global{UseProxyProtocol: true, UseForwardedHeaders: true},
			peer:     "203.0.113.50:5555",
			ppPeer:   "127.0.0.1:40000",
			ppSource: "203.0.113.50:5555",
			local:    "127.0.0.1:80",
			hdr:      [][2]string{{"X-Forwarded-For", "198.51.100.7"}},
			want:     want{Remote: "198.51.100.7", Scheme: "http", Port: "80", Host: "web.test", XFF: "198.51.100.7", OriginalFor: "198.51.100.7"},
			wantPP:   "198.51.100.7",
		},
		{
			name:     "use-proxy-protocol and use-forwarded-headers: a trusted source without X-Forwarded-For leaves the balancer",
			g:        annotations.Global{UseProxyProtocol: true, UseForwardedHeaders: true},
			peer:     "203.0.113.50:5555",
			ppPeer:   "127.0.0.1:40000",
			ppSource: "203.0.113.50:5555",
			local:    "127.0.0.1:80",
			want:     want{Remote: "127.0.0.1", Scheme: "http", Port: "80", Host: "web.test", XFF: "127.0.0.1"},
		},
		{
			name:     "use-proxy-protocol and use-forwarded-headers: an untrusted source is the client",
			g:        annotations.Global{UseProxyProtocol: true, UseForwardedHeaders: true, ProxyRealIPCIDR: []string{"127.0.0.1/32"}},
			peer:     "203.0.113.50:5555",
			ppPeer:   "127.0.0.1:40000",
			ppSource: "203.0.113.50:5555",
			local:    "127.0.0.1:80",
			hdr:      [][2]string{{"X-Forwarded-For", "198.51.100.7"}},
			want:     want{Remote: "203.0.113.50", Scheme: "http", Port: "80", Host: "web.test", XFF: "203.0.113.50", OriginalFor: "198.51.100.7"},
			wantPP:   "203.0.113.50",
		},
		{
			name:     "use-proxy-protocol and use-forwarded-headers: an untrusted balancer, the header still names the source",
			g:        annotations.Global{UseProxyProtocol: true, UseForwardedHeaders: true, ComputeFullForwardedFor: true, ProxyRealIPCIDR: []string{"127.0.0.1/32", "10.0.0.0/8"}},
			peer:     "127.0.0.2:40000",
			ppPeer:   "127.0.0.2:40000",
			ppSource: "10.1.2.3:5555",
			local:    "127.0.0.1:80",
			hdr:      [][2]string{{"X-Forwarded-For", "203.0.113.7"}},
			want:     want{Remote: "127.0.0.2", Scheme: "http", Port: "80", Host: "web.test", XFF: "203.0.113.7, 10.1.2.3", OriginalFor: "203.0.113.7"},
			wantPP:   "203.0.113.7",
		},
		{
			name:     "use-proxy-protocol: an IPv4-mapped source keeps its IPv6 text",
			g:        annotations.Global{UseProxyProtocol: true},
			peer:     "203.0.113.51:5555",
			ppPeer:   "127.0.0.1:40000",
			ppSource: "[::ffff:203.0.113.51]:5555",
			local:    "127.0.0.1:80",
			want:     want{Remote: "::ffff:203.0.113.51", Scheme: "http", Port: "80", Host: "web.test", XFF: "::ffff:203.0.113.51"},
		},
		{
			name:     "use-proxy-protocol and use-forwarded-headers: an IPv4-mapped source is in 0.0.0.0/0",
			g:        annotations.Global{UseProxyProtocol: true, UseForwardedHeaders: true},
			peer:     "203.0.113.51:5555",
			ppPeer:   "127.0.0.1:40000",
			ppSource: "[::ffff:203.0.113.51]:5555",
			local:    "127.0.0.1:80",
			hdr:      [][2]string{{"X-Forwarded-For", "10.9.9.9"}},
			want:     want{Remote: "10.9.9.9", Scheme: "http", Port: "80", Host: "web.test", XFF: "10.9.9.9", OriginalFor: "10.9.9.9"},
			wantPP:   "10.9.9.9",
		},
		{
			name:   "PROXY UNKNOWN: no $proxy_protocol_server_port, so no X-Forwarded-Port",
			g:      annotations.Global{UseProxyProtocol: true},
			peer:   "127.0.0.1:40000",
			ppPeer: "127.0.0.1:40000",
			local:  "127.0.0.1:80",
			want:   want{Remote: "127.0.0.1", Scheme: "http", Port: "", Host: "web.test", XFF: "127.0.0.1"},
		},
		{
			name:   "PROXY UNKNOWN with use-forwarded-headers: geo takes the missing source as 255.255.255.255, in 0.0.0.0/0",
			g:      annotations.Global{UseProxyProtocol: true, UseForwardedHeaders: true},
			peer:   "127.0.0.1:40000",
			ppPeer: "127.0.0.1:40000",
			local:  "127.0.0.1:80",
			hdr:    [][2]string{{"X-Forwarded-For", "203.0.113.7"}},
			want:   want{Remote: "203.0.113.7", Scheme: "http", Port: "", Host: "web.test", XFF: "203.0.113.7", OriginalFor: "203.0.113.7"},
			wantPP: "203.0.113.7",
		},
		{
			name:   "PROXY UNKNOWN with use-forwarded-headers, a narrow proxy-real-ip-cidr: the balancer",
			g:      annotations.Global{UseProxyProtocol: true, UseForwardedHeaders: true, ProxyRealIPCIDR: []string{"127.0.0.1/32"}},
			peer:   "127.0.0.1:40000",
			ppPeer: "127.0.0.1:40000",
			local:  "127.0.0.1:80",
			hdr:    [][2]string{{"X-Forwarded-For", "203.0.113.7"}},
			want:   want{Remote: "127.0.0.1", Scheme: "http", Port: "", Host: "web.test", XFF: "127.0.0.1", OriginalFor: "203.0.113.7"},
		},
		{
			name: "X-Forwarded-Host with an empty first entry: no host",
			g:    ufh,
			hdr:  [][2]string{{"X-Forwarded-Host", ",b.test"}},
			want: want{Remote: "192.0.2.10", Scheme: "http", Port: "8080", Host: "", XFF: "192.0.2.10", OriginalHost: ",b.test"},
		},
		{
			name:      "the HTTPS listener's port is passed as 443",
			tls:       true,
			local:     "127.0.0.1:8443",
			httpsPort: 8443,
			want:      want{Remote: "192.0.2.10", Scheme: "https", Port: "443", Host: "web.test", XFF: "192.0.2.10"},
		},
		{
			name: "a forwarded port equal to the HTTPS listener's is 443 too",
			g:    ufh,
			hdr:  [][2]string{{"X-Forwarded-Port", "443"}, {"X-Forwarded-Proto", ""}},
			want: want{Remote: "192.0.2.10", Scheme: "", Port: "443", Host: "web.test", XFF: "192.0.2.10"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "http://web.test/x", nil)
			r.RemoteAddr = tc.peer
			if r.RemoteAddr == "" {
				r.RemoteAddr = "192.0.2.10:5555"
			}
			local := tc.local
			if local == "" {
				local = "127.0.0.1:8080"
			}
			la, _ := net.ResolveTCPAddr("tcp", local)
			var localAddr net.Addr = la
			if tc.ppPeer != "" {
				pa := &proxyproto.Addr{TCPAddr: *la, Peer: netip.MustParseAddrPort(tc.ppPeer)}
				if tc.ppSource != "" {
					pa.Source = netip.MustParseAddrPort(tc.ppSource)
				}
				localAddr = pa
			}
			r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, localAddr))
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			for _, kv := range tc.hdr {
				r.Header.Add(kv[0], kv[1])
			}
			var f forwarding
			compileGlobal(tc.g).forwarding(&f, nil, r, httpsPortText(tc.httpsPort))
			got := want{f.remoteText, f.scheme, f.port, f.host, f.forwardedFor, f.originalFor, f.originalHost}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			// The address source ranges judge: an IPv4-mapped one as IPv4.
			if want := netip.MustParseAddr(tc.want.Remote).Unmap(); f.remote != want {
				t.Errorf("remote = %v, want %s", f.remote, want)
			}
			if tc.ppPeer != "" && f.ppForwardedFor != tc.wantPP {
				t.Errorf("X-Forwarded-For-Proxy-Protocol = %q, want %q", f.ppForwardedFor, tc.wantPP)
			}
		})
	}
}

// FuzzPeerAddr holds peerAddr's one-scan reading of an IPv4 "a.b.c.d:port"
// to what it stands for: clientIP's text and parseClientAddr's address, for
// any RemoteAddr.
func FuzzPeerAddr(f *testing.F) {
	for _, s := range []string{"127.0.0.1:80", "1.2.3.4:", "0.0.0.0:0", "255.255.255.255:65535", "256.1.1.1:1",
		"01.2.3.4:5", "1.2.3:4", "1.2.3.4.5:6", "1.2.3.4", "[::1]:80", "::1", "[::ffff:1.2.3.4]:9", "1.2.3.4:8:9",
		"1.2.3.4:a", "1.2.3.4:[", "", ":80", "1..2.3:4", "1.2.3.4%eth0:5", "@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, remote string) {
		host, addr := peerAddr(remote)
		wantHost := clientIP(remote)
		if want := parseClientAddr(wantHost); host != wantHost || addr != want {
			t.Errorf("peerAddr(%q) = %q, %v; want %q, %v", remote, host, addr, wantHost, want)
		}
	})
}

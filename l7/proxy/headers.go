package proxy

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"sync/atomic"

	"github.com/weir-lb/weir/l7/arena"
	"github.com/weir-lb/weir/l7/proxyproto"
)

// rewrite prepares the upstream request, as ingress-nginx's proxy_set_header
// lines do, from the request's forwarding (clientaddr.go). The caller has
// already removed the hop-by-hop headers and any client-sent
// X-Forwarded-{For,Host,Proto}. A header whose value is empty is not sent,
// as nginx does not send it.
//
//   - Host and X-Forwarded-Host: $best_http_host, the client's Host (with
//     use-forwarded-headers, the first of its X-Forwarded-Host).
//   - X-Forwarded-For: the client address (see forwarding.forwardedFor).
//   - X-Real-IP: the client address ($remote_addr).
//   - X-Forwarded-Proto, X-Forwarded-Scheme, X-Scheme: "https" when the
//     client used TLS, else "http" (with use-forwarded-headers, its
//     X-Forwarded-Proto).
//   - X-Forwarded-Port: the local port the request came in on, 443 for the
//     HTTPS listener (with use-forwarded-headers, its X-Forwarded-Port).
//   - X-Original-Forwarded-For, X-Original-Forwarded-Host: the client's
//     forwarded-for-header and forwarded-host-header.
//   - X-Request-ID: the client's, else a new 32-hex-digit random ID (none
//     with generate-request-id "false").
//   - X-Original-URI: with proxy-add-original-uri-header, the client's
//     request target ($request_uri).
//   - forwarded-for-proxy-protocol-header (X-Forwarded-For-Proxy-Protocol):
//     with use-forwarded-headers and use-proxy-protocol, the client's
//     forwarded-for header when the PROXY address is trusted, else that
//     address.
//
// Then the route's rewrite-target, x-forwarded-prefix and upstream-vhost
// apply (rewriteUpstream).
func rewrite(pr *httputil.ProxyRequest) {
	in, out := pr.In, pr.Out
	ex := exchangeFrom(in.Context())
	f := &ex.fwd
	rewriteTarget(out, ex)

	vals := ex.setRewriteVals()
	h := out.Header
	for i, k := range rewriteKeys {
		if vals[i] == "" {
			delete(h, k)
			continue
		}
		h[k] = vals[i : i+1 : i+1]
	}
	if f.originalURI != "" {
		h["X-Original-Uri"] = vals[len(rewriteKeys) : len(rewriteKeys)+1 : len(rewriteKeys)+1]
	}
	if f.ppHeader != "" { // ingress-nginx's more_set_input_headers of forwarded-for-proxy-protocol-header
		delete(h, f.ppHeader)
		if f.ppForwardedFor != "" {
			h[f.ppHeader] = []string{f.ppForwardedFor}
		}
	}
	if ex.route != nil {
		rewriteUpstream(in, out, ex) // rewrite.go
	}
}

// rewriteTarget points out at ex's upstream, with the Host rewrite sends.
func rewriteTarget(out *http.Request, ex *exchange) {
	out.URL.Scheme = "http"
	out.URL.Host = ex.upstream.Addr
	out.Host = ex.fwd.host
}

// setRewriteVals fills ex.rewriteVals, the exchange's (no allocation of
// their own), with the values of rewriteKeys in their order, then
// X-Original-URI's, and returns them.
func (ex *exchange) setRewriteVals() *[len(rewriteKeys) + 1]string {
	f := &ex.fwd
	vals := &ex.rewriteVals
	// Each set in place: a literal is built in a stack temporary and
	// copied over.
	vals[0], vals[1], vals[2], vals[3], vals[4] = ex.requestID, f.remoteText, f.forwardedFor, f.host, f.port
	vals[5], vals[6], vals[7], vals[8], vals[9] = f.scheme, f.scheme, f.scheme, f.originalFor, f.originalHost
	vals[10] = f.originalURI
	return vals
}

// rewriteKeys are the headers rewrite sets, canonical so that they are set
// without textproto's canonicalisation, in the order of its values.
var rewriteKeys = [...]string{
	"X-Request-Id", "X-Real-Ip", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Port",
	"X-Forwarded-Proto", "X-Forwarded-Scheme", "X-Scheme", "X-Original-Forwarded-For", "X-Original-Forwarded-Host",
}

// localPort returns the port of the local address the request came in on,
// or the scheme's default port when the server did not record it.
func localPort(r *http.Request) string {
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		switch ta := addr.(type) {
		case *net.TCPAddr:
			return portString(ta.Port) // addr.String()'s port, without its allocations
		case *proxyproto.Addr:
			return portString(ta.Port)
		}
		if _, port, err := net.SplitHostPort(addr.String()); err == nil {
			return port
		}
	}
	if r.TLS != nil {
		return "443"
	}
	return "80"
}

// localIP is the address the connection of r came in on, as localPort's
// port ("" when the server did not say).
func localIP(r *http.Request) string {
	switch ta := r.Context().Value(http.LocalAddrContextKey).(type) {
	case *net.TCPAddr:
		return ta.IP.String()
	case *proxyproto.Addr:
		return ta.IP.String()
	case net.Addr:
		if host, _, err := net.SplitHostPort(ta.String()); err == nil {
			return host
		}
	}
	return ""
}

// requestID returns the client's X-Request-ID, or, with generate (the
// generate-request-id default), a new one: ingress-nginx's map
// $http_x_request_id $req_id; "" without generate. The new one is 16 random
// bytes in hex, like nginx's $request_id.
func requestID(r *http.Request, generate bool) string {
	// $http_x_request_id: every line, joined with ", " as nginx 1.23 and
	// later join a header's lines (a single line costs no allocation).
	if id, _ := headerValue(r.Header, "X-Request-Id"); id != "" {
		return id
	}
	if !generate {
		return ""
	}
	return newRequestID()
}

// newRequestID returns a new request ID, nginx's $request_id: 32 hex
// digits of random bits.
func newRequestID() string {
	// The runtime's ChaCha8 generator, per thread and seeded from the
	// kernel: a request ID is a correlation key, not a secret (it is sent
	// to the upstream and logged), and crypto/rand's DRBG cost 1% of a
	// keep-alive request. nginx's $request_id is RAND_bytes, or random().
	// The 32 hex digits straight from the 128 random bits, four a digit,
	// the lowest first, eight at a time (hexWord).
	var id [32]byte
	for half := range 2 {
		x := rand.Uint64()
		binary.LittleEndian.PutUint64(id[half*16:], hexWord(uint32(x)))
		binary.LittleEndian.PutUint64(id[half*16+8:], hexWord(uint32(x>>32)))
	}
	a := arena.Get()
	s := a.String(id[:])
	arena.Put(a)
	return s
}

// hexWord returns the eight lower-case hex digits of x's nibbles, the
// lowest nibble's in the lowest byte, computed in one word (a loop over a
// table cost some 90 instructions more per request): each nibble spread
// to a byte of its own, then '0' added to each, and 'a'-'0'-10 more to
// those of 10 and up, which adding 6 carries into their bit 4.
func hexWord(x uint32) uint64 {
	const (
		ones   = 0x0101010101010101
		nibble = 0x0f0f0f0f0f0f0f0f
	)
	w := uint64(x)
	w = (w | w<<16) & 0x0000ffff0000ffff
	w = (w | w<<8) & 0x00ff00ff00ff00ff
	w = (w | w<<4) & nibble
	letters := (w + 6*ones) >> 4 & ones
	return w + '0'*ones + letters*('a'-'0'-10)
}

// portStrings caches the decimal strings of the ports requests came in on
// (a worker has a few listeners), so that a request costs no allocation
// for them; copy on write, at most maxPortStrings entries.
var portStrings atomic.Pointer[map[int]string]

const maxPortStrings = 64

// portString returns strconv.Itoa(port), cached.
func portString(port int) string {
	m := portStrings.Load()
	if m != nil {
		if s, ok := (*m)[port]; ok {
			return s
		}
	}
	s := strconv.Itoa(port)
	if m == nil || len(*m) < maxPortStrings {
		next := make(map[int]string, 1+len(portMap(m)))
		for k, v := range portMap(m) {
			next[k] = v
		}
		next[port] = s
		portStrings.CompareAndSwap(m, &next) // a lost race only misses the cache once
	}
	return s
}

func portMap(m *map[int]string) map[int]string {
	if m == nil {
		return nil
	}
	return *m
}

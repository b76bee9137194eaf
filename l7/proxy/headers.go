package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
)

// rewrite prepares the upstream request, as ingress-nginx's proxy_set_header
// lines do. The reverse proxy has already removed the hop-by-hop headers and
// any client-sent Forwarded and X-Forwarded-{For,Host,Proto}.
//
//   - Host: the client's Host, unchanged; "_" for a request without one
//     (HTTP/1.0): ingress-nginx's $best_http_host is then $host, the
//     server_name of its default server.
//   - X-Forwarded-For: the client's X-Forwarded-For with the client address
//     appended ($proxy_add_x_forwarded_for).
//   - X-Forwarded-Proto: "https" when the client used TLS, else "http".
//   - X-Forwarded-Host: the same as Host.
//   - X-Forwarded-Port: the local port the request came in on.
//   - X-Real-IP: the client address.
//   - X-Request-ID: the client's, else a new 32-hex-digit random ID.
func rewrite(pr *httputil.ProxyRequest) {
	in, out := pr.In, pr.Out
	ex := exchangeFrom(in.Context())
	out.URL.Scheme = "http"
	out.URL.Host = ex.upstream.Addr
	host := in.Host
	if host == "" {
		host = defaultServerName
	}
	out.Host = host

	h := out.Header
	client := clientIP(in)
	if prior := in.Header.Values("X-Forwarded-For"); len(prior) > 0 {
		h.Set("X-Forwarded-For", strings.Join(prior, ", ")+", "+client)
	} else {
		h.Set("X-Forwarded-For", client)
	}
	proto := "http"
	if in.TLS != nil {
		proto = "https"
	}
	h.Set("X-Forwarded-Proto", proto)
	h.Set("X-Forwarded-Host", host)
	h.Set("X-Forwarded-Port", localPort(in))
	h.Set("X-Real-IP", client)
	h.Set("X-Request-ID", ex.requestID)
}

// defaultServerName is the server_name of ingress-nginx's default server,
// which serves the requests without a host.
const defaultServerName = "_"

// clientIP returns the IP of the client's address, or the whole RemoteAddr
// when it has no port.
func clientIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// localPort returns the port of the local address the request came in on,
// or the scheme's default port when the server did not record it.
func localPort(r *http.Request) string {
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, port, err := net.SplitHostPort(addr.String()); err == nil {
			return port
		}
	}
	if r.TLS != nil {
		return "443"
	}
	return "80"
}

// requestID returns the client's X-Request-ID, or a new one: 16 random
// bytes in hex, like nginx's $request_id.
func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-ID"); id != "" {
		return id
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

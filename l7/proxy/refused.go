package proxy

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"time"

	"github.com/weir-lb/weir/l7/h1guard"
)

var _ h1guard.RefusalLogger = (*Proxy)(nil)

// LogRefusal writes the access-log line of a request refused before it was
// routed (h1guard.RefusalLogger): the line nginx writes for a request it
// finalizes while it reads the head, with the http level's access_log
// (ingress-nginx's format, not a location's): no route, no upstream, none of
// a location's variables set ($proxy_upstream_name is empty), $request the
// request line as received, $request_length what nginx took of the head.
// disable-access-log and disable-http-access-log turn it off, and
// skip-access-log-urls applies to a parsed request line's target;
// enable-access-log and enable-access-log-for-default-backend, which are a
// location's, do not. It is in none of the request metrics (monitor.lua
// runs in a location's log phase), only in the count of requests (nginx's
// stub_status counts every request it reads).
func (p *Proxy) LogRefusal(rf *h1guard.Refusal) {
	if p.conns != nil {
		p.conns.requests.Add(1)
	}
	if p.access == nil {
		return
	}
	g := p.liveGlobal()
	if g.DisableAccessLog || g.DisableHTTPAccessLog {
		return
	}
	var r *http.Request
	var ref *refusedLine
	var host []byte // $host's: the request's, else the server SNI chose
	if h2 := rf.HTTP2; h2 != nil {
		r, ref = refusedHTTP2(rf, h2)
		if h2.Path && g.skipped(r) {
			return
		}
		if h2.Host != "" {
			host = []byte(h2.Host)
		}
		if h2.DefaultServer {
			rf.ServerName = ""
		}
	} else {
		h := rf.Parse(h1guard.Limits{Buffers: g.headerBuffers, BufferSize: g.headerBufferSize})
		r = refusedRequest(rf, &h)
		if h.Parsed && g.skipped(r) {
			return
		}
		ref = &refusedLine{line: h.Line, length: h.Length, sent: rf.Sent}
		host = h.Host
	}
	ex := &exchange{start: rf.Start, requestID: requestID(r, !g.Logs.NoRequestID)}
	ex.fwd.remoteText, ex.fwd.remote = peerAddr(rf.Remote)
	ref.host = "_"
	switch rt := p.router.Load(); {
	case host != nil:
		ref.host = string(host)
	case rf.ServerName != "" && rt != nil:
		ref.host = rt.Lookup(rf.ServerName).ServerName() // the server SNI chose
	}
	if rf.HTTP2 != nil {
		ref.length = requestLength(r, ex) // as a served HTTP/2 request's
	}
	p.access.emit(&logLine{r: r, ex: ex, rec: &responseRecorder{bytes: rf.BodySent}, status: rf.Status,
		d: time.Since(rf.Start), ref: ref}, g.logFormat, p.access.inFlight.Load() <= 0)
}

// refusedRequest is the Request a refused request's line reads: what nginx
// had of it (h), nothing else.
func refusedRequest(rf *h1guard.Refusal, h *h1guard.RefusedHead) *http.Request {
	r := &http.Request{Header: make(http.Header, len(h.Fields)), URL: &url.URL{}, RemoteAddr: rf.Remote}
	if h.Parsed {
		r.Method, r.RequestURI, r.Proto = string(h.Method), string(h.Target), string(h.Proto)
		if u, err := url.ParseRequestURI(r.RequestURI); err == nil {
			r.URL = u
		}
	}
	for _, f := range h.Fields {
		name := textproto.CanonicalMIMEHeaderKey(string(f.Name))
		r.Header[name] = append(r.Header[name], string(f.Value))
	}
	if hosts := r.Header["Host"]; len(hosts) > 0 {
		r.Host = hosts[0] // $http_host, the JSON line's host
	}
	if rf.TLS {
		r.TLS = &tls.ConnectionState{}
	}
	if rf.Local != nil {
		r = r.WithContext(context.WithValue(context.Background(), http.LocalAddrContextKey, rf.Local))
	}
	return r
}

// refusedHTTP2 is the Request and the line of h2, a refused HTTP/2
// request: net/http's Request, with what nginx had not taken of it unset
// (the method when refused before its :path, the target).
func refusedHTTP2(rf *h1guard.Refusal, h2 *h1guard.HTTP2Refusal) (*http.Request, *refusedLine) {
	r := h2.Request
	ref := &refusedLine{sent: rf.Sent, noLine: !h2.Line}
	if h2.Line {
		ref.line = []byte(r.Method + " " + r.RequestURI + " " + r.Proto)
	}
	if !h2.Path {
		r = r.WithContext(r.Context()) // a shallow copy: the handler's is not changed
		r.RequestURI, r.URL = "", &url.URL{}
		ref.noTarget = true
	}
	return r, ref
}

// refusedLine is what the line of a refused request takes from the
// refusal rather than from its Request (logLine.ref).
type refusedLine struct {
	line   []byte // $request: the request line as received, even unparsed
	length int64  // $request_length
	sent   int64  // $bytes_sent
	host   string // $host: the Host field's, else "_", the default server's name
	// noLine: $request is "-" (an HTTP/2 request refused before nginx
	// built its request line), not line; noTarget: $request_uri, $uri
	// and $args are "-" (refused before its :path was taken).
	noLine, noTarget bool
}

// value appends the value of v for a refused request; false when the
// Request's value is the one (as for any request).
func (f *refusedLine) value(b []byte, l *logLine, v logVar) ([]byte, bool) {
	switch v {
	case lvRequest:
		return append(b, f.line...), true // noLine: empty, "-"
	case lvRequestLength:
		return strconv.AppendInt(b, f.length, 10), true
	case lvBytesSent:
		return strconv.AppendInt(b, f.sent, 10), true
	case lvHost:
		return appendHost(b, f.host), true
	case lvUpstreamName:
		return b, true // set by a location's rewrite phase, never reached: ""
	case lvMethod, lvRequestURI, lvURI, lvArgs, lvProtocol:
		if l.r.Method == "" || f.noTarget && v != lvMethod && v != lvProtocol {
			return b, true // no request line parsed, or no :path taken: "-"
		}
	}
	return b, false
}

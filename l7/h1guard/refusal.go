package h1guard

import (
	"bytes"
	"net"
	"net/http"
	"time"
)

// Refusal is a request refused before it was routed, as nginx's log phase
// sees one that it finalized while it read the head: a head that broke a
// rule (Reject), a plain HTTP request on the HTTPS port, or a head the
// client did not finish (Reject nil: 408 when client_header_timeout ran
// out, 400 when the client left). nginx writes its access-log line with
// the http level's access_log (ingress-nginx's), none of a location's
// variables set; a connection that sent nothing has no request and no
// line.
type Refusal struct {
	// Status is the status logged: the answer's, or 408 or 400 for a head
	// the client did not finish (no answer).
	Status int
	// Reject is the rule broken; nil for a head the client did not finish.
	Reject *Reject
	// Head is what the client sent of the request, from its first byte
	// (empty lines before a request line included), as far as it was read:
	// the Refusal's own copy or a buffer valid during LogRefusal only.
	Head []byte
	// Start is when the request began.
	Start time.Time
	// Sent is the bytes of the answer written ($bytes_sent), of which
	// BodySent the page ($body_bytes_sent: none to a HEAD request).
	Sent, BodySent int64
	// Remote is the peer's address ("ip:port"), Local the address it
	// connected to (nil: unknown): the connection's, under a PROXY header
	// (PeerAddrs).
	Remote string
	Local  net.Addr
	// TLS is whether the request came over TLS; ServerName its SNI name
	// ("": none), which chose nginx's server ($host without a Host taken).
	TLS        bool
	ServerName string
	// HTTP2, for an HTTP/2 request, is what nginx's HTTP/2 module had of
	// it (Head is then empty); nil for HTTP/1.
	HTTP2 *HTTP2Refusal
}

// HTTP2Refusal is an HTTP/2 request refused before it was routed, as
// nginx's log phase sees it: its fields are taken one by one, the request
// line built once they all are, so a request refused on the way logs
// $request "-" and, before its :path, $request_uri "-".
type HTTP2Refusal struct {
	// Request is the request as net/http read it; the LogRefusal call
	// must not keep it.
	Request *http.Request
	// Line is whether nginx had built the request line: $request is
	// "METHOD URI HTTP/2.0", else "-".
	Line bool
	// Path is whether nginx had taken :path: $request_uri, else "-".
	Path bool
	// DefaultServer is whether nginx had moved the request to the default
	// server (no host at all): $host is "_", not the SNI's server.
	DefaultServer bool
	// Host is the host nginx had taken, :authority's or the Host
	// field's, when valid ($host); "" for none (the server SNI chose).
	Host string
}

// PeerAddrs returns the addresses of the connection under c's layers
// (TLS, a PROXY protocol header's, the guard's, the connection limit's): a
// Refusal's Remote and Local. nginx logs a request it refuses while it
// reads the head with its peer's address: the realip module, which takes
// a PROXY header's (use-proxy-protocol) or a forwarded-for header's, runs
// in the post-read phase, which such a request never reaches (nginx
// 1.22.1 with listen proxy_protocol and real_ip_header proxy_protocol:
// "127.0.0.1 ... \"GARBAGE\" 400" for a client 1.2.3.4, which its served
// requests log).
func PeerAddrs(c net.Conn) (remote string, local net.Addr) {
	c = Innermost(c)
	return c.RemoteAddr().String(), c.LocalAddr()
}

// Innermost returns the connection under c's layers, each taken off by its
// Unwrap or NetConn method (the guard's, PROXY protocol's, the connection
// limit's, TLS's), at most 8 deep: the accepted socket itself.
func Innermost(c net.Conn) net.Conn {
	for range 8 {
		switch v := c.(type) {
		case interface{ Unwrap() net.Conn }:
			c = v.Unwrap()
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return c
		}
	}
	return c
}

// RefusalLogger, when Options.Source implements it too, writes the
// access-log line of each refused request (the proxy's access log). It
// must not keep r or its Head after it returns.
type RefusalLogger interface {
	LogRefusal(r *Refusal)
}

// logRefusal hands r to the Source's RefusalLogger, if any.
func (g *Guard) logRefusal(r *Refusal) {
	if l := g.refusals(); l != nil {
		l.LogRefusal(r)
	}
}

// refusals is the Source's RefusalLogger; nil when there is none, so that
// a refusal copies nothing for it.
func (g *Guard) refusals() RefusalLogger {
	l, _ := g.source.(RefusalLogger)
	return l
}

// LogRefusal hands r to the live configuration's access log (the Source's
// RefusalLogger); nothing without one. A server loop that reads the
// connection itself (l7/h1server) calls it once per refused request.
func (g *Guard) LogRefusal(r *Refusal) { g.logRefusal(r) }

// LogsRefusals reports whether LogRefusal writes anything: without a
// RefusalLogger a refusal needs no Refusal.
func (g *Guard) LogsRefusals() bool { return g.refusals() != nil }

// Answered records that p, the answer to r (Response's), was written up to
// n bytes: Sent, and BodySent the bytes of them after its head.
func (r *Refusal) Answered(p []byte, n int) {
	r.Sent = int64(n)
	if i := bytes.Index(p, []byte("\r\n\r\n")); i >= 0 && n > i+4 {
		r.BodySent = int64(n - i - 4)
	}
}

// RefusedHead is what nginx had read of a refused request's head when it
// refused it, for its access-log line.
type RefusedHead struct {
	// Line is $request: the request line from its first byte up to its
	// CR or LF, or as far as it came, within one buffer (a 414's line is
	// cut there, as nginx's buffer cuts it); empty when only empty lines
	// came. nginx logs it even when it could not parse it.
	Line []byte
	// Parsed is whether the request line was parsed: Method, Target and
	// Proto are set ($request_method, $request_uri, $server_protocol).
	Parsed                bool
	Method, Target, Proto []byte
	// Fields are the header lines nginx took before it refused the
	// request, in order: its $http_* variables, $remote_user, $req_id.
	Fields []Field
	// Host is the first Host field's value when it is a valid host; nil
	// otherwise ($host is then the default server's name).
	Host []byte
	// Length is $request_length: the request line once parsed and the
	// header lines taken (a line nginx takes and then refuses, such as a
	// second Host, counts; one it cannot parse does not), the empty line
	// ending the head once read.
	Length int64
}

// Field is one header line of a RefusedHead: its name as sent and its
// value without the spaces around it.
type Field struct{ Name, Value []byte }

// Parse returns what nginx had read of r's head when it refused it, under
// the header buffer limits lim (zero fields: defaults). It parses the head
// again with the Guard's rules: a refusal costs the parse, a request that
// passes nothing.
func (r *Refusal) Parse(lim Limits) RefusedHead {
	var p headParser
	p.reset(lim.withDefaults())
	b := r.Head
	done, err := p.feed(b)
	var v RefusedHead
	start := min(p.h.Start, len(b))
	end := start
	for end < len(b) && end-start < p.lim.BufferSize && b[end] != '\r' && b[end] != '\n' {
		end++
	}
	v.Line = b[start:end]
	taken := start // the end of what nginx took of the head
	switch {
	case done:
		taken = p.h.End
	case !p.gotLine:
		if err != rejTarget {
			return v // nginx's request line parser refused it: nothing taken
		}
		if _, ok := targetPath(p.h.Target.Of(b)); !ok {
			return v
		}
		// A path nginx refuses once the line is parsed
		// (ngx_http_process_request_uri): the line counts.
		taken = p.off
		p.gotLine = true
	case err == rejHost || err == rejCL || err == rejTE || err == rejDuplicate || err == rejTooMany:
		// Refused by the handler of a line nginx took (a second Host,
		// Content-Length, Transfer-Encoding or other unique field, one
		// over max_headers; an invalid Host).
		taken = p.off
	case err != nil:
		taken = p.line // a line nginx could not parse, or over its buffer
	default:
		taken = p.off // the head's end did not come: the lines complete
	}
	if !p.gotLine {
		return v
	}
	v.Parsed = true
	v.Method, v.Target = p.h.Method.Of(b), p.h.Target.Of(b)
	lineEnd := p.h.Target.Off + p.h.Target.Len + 1
	v.Proto = bytes.TrimRight(b[lineEnd:lineEnd+len("HTTP/1.1")], "\r\n")
	v.Length = int64(taken - start)
	// The header lines: those after the request line, up to taken.
	rest := b[min(lineEnd+len("HTTP/1.1"), taken):taken]
	if i := bytes.IndexByte(rest, '\n'); i >= 0 {
		rest = rest[i+1:]
	}
	for len(rest) > 0 {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			continue
		}
		f := Field{Name: line[:colon], Value: bytes.Trim(line[colon+1:], " \t")}
		if v.Host == nil && equalFold(f.Name, "Host") && validHost(bytes.Trim(line[colon+1:], " ")) {
			v.Host = f.Value
		}
		v.Fields = append(v.Fields, f)
	}
	return v
}

package proxy

import (
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/weir-lb/weir/l7/proxyproto"
	"github.com/weir-lb/weir/l7/router"
	"github.com/weir-lb/weir/userspace/annotations"
)

// logFormat is log-format-upstream compiled once per Snapshot: the access
// line is its segments in order, each variable's value escaped.
type logFormat struct {
	ops    []logOp
	escape byte // 0: nginx's escape=default, 'j': json, 'n': none
}

// logOp is a literal (v == lvLiteral) or a variable.
type logOp struct {
	v    logVar
	text string // the literal, or the canonical header name of lvHeader
}

type logVar uint8

const (
	lvLiteral logVar = iota
	lvUnknown
	lvRemoteAddr
	lvRemoteUser
	lvTimeLocal
	lvTimeISO
	lvRequest
	lvStatus
	lvBodyBytes
	lvBytesSent
	lvRequestLength
	lvRequestTime
	lvUpstreamName
	lvAltUpstreamName
	lvUpstreamAddr
	lvUpstreamLength
	lvUpstreamTime
	lvUpstreamConnectTime
	lvUpstreamHeaderTime
	lvUpstreamStatus
	lvRequestID
	lvHost
	lvMethod
	lvRequestURI
	lvURI
	lvArgs
	lvProtocol
	lvScheme
	lvNamespace
	lvIngress
	lvService
	lvServicePort
	lvRemotePort
	lvServerPort
	lvMsec
	lvPipe
	lvHeader
	lvHTTPHost
	lvRealIPRemoteAddr
	lvProxyProtocolAddr
	lvProxyProtocolPort
	lvProxyAddXFF
	lvNginxRequestID
)

// logVars maps annotations.LogVariables to their values.
var logVars = map[string]logVar{
	"remote_addr": lvRemoteAddr, "the_real_ip": lvRemoteAddr, "remote_user": lvRemoteUser,
	"time_local": lvTimeLocal, "time_iso8601": lvTimeISO, "request": lvRequest, "status": lvStatus,
	"body_bytes_sent": lvBodyBytes, "bytes_sent": lvBytesSent, "request_length": lvRequestLength,
	"request_time": lvRequestTime, "proxy_upstream_name": lvUpstreamName,
	"proxy_alternative_upstream_name": lvAltUpstreamName, "upstream_addr": lvUpstreamAddr,
	"upstream_response_length": lvUpstreamLength, "upstream_response_time": lvUpstreamTime,
	"upstream_connect_time": lvUpstreamConnectTime, "upstream_header_time": lvUpstreamHeaderTime,
	"upstream_status": lvUpstreamStatus, "req_id": lvRequestID, "request_id": lvNginxRequestID, "host": lvHost,
	"request_method": lvMethod, "request_uri": lvRequestURI, "uri": lvURI, "args": lvArgs,
	"query_string": lvArgs, "server_protocol": lvProtocol, "scheme": lvScheme, "namespace": lvNamespace,
	"ingress_name": lvIngress, "service_name": lvService, "service_port": lvServicePort,
	"remote_port": lvRemotePort, "server_port": lvServerPort, "msec": lvMsec, "pipe": lvPipe,
	"realip_remote_addr": lvRealIPRemoteAddr, "proxy_protocol_addr": lvProxyProtocolAddr,
	"proxy_protocol_port": lvProxyProtocolPort, "proxy_add_x_forwarded_for": lvProxyAddXFF,
}

// compileLogFormat compiles f; nil when it sets no format (Weir's JSON
// line). Unknown variables (warned by the annotations package) log "-".
func compileLogFormat(f annotations.LogFormat) *logFormat {
	if f.Upstream == "" {
		return nil
	}
	lf := &logFormat{}
	switch f.Escape {
	case "json":
		lf.escape = 'j'
	case "none":
		lf.escape = 'n'
	}
	segs, _ := annotations.ParseLogFormat(f.Upstream)
	for _, s := range segs {
		switch v, ok := logVars[s.Var]; {
		case s.Var == "":
			lf.ops = append(lf.ops, logOp{text: s.Literal})
		case ok:
			lf.ops = append(lf.ops, logOp{v: v})
		case s.Var == "http_host":
			lf.ops = append(lf.ops, logOp{v: lvHTTPHost})
		case strings.HasPrefix(s.Var, "http_") && len(s.Var) > len("http_"):
			name := textproto.CanonicalMIMEHeaderKey(strings.ReplaceAll(s.Var[len("http_"):], "_", "-"))
			lf.ops = append(lf.ops, logOp{v: lvHeader, text: name})
		default:
			lf.ops = append(lf.ops, logOp{v: lvUnknown})
		}
	}
	lf.ops = append(lf.ops, logOp{text: "\n"})
	return lf
}

// logLine is what a format's variables read of a request.
type logLine struct {
	r      *http.Request
	ex     *exchange
	rec    *responseRecorder
	status int
	d      time.Duration
	clock  *logClock // formats $time_local and $time_iso8601; nil: in full
	// ref is the refusal of a request refused before routing (refused.go),
	// whose line takes some variables from it; nil for a request served.
	ref *refusedLine
}

// append appends the line of l to b; scratch is a reusable buffer for the
// raw values, returned grown.
func (lf *logFormat) append(b, scratch []byte, l *logLine) ([]byte, []byte) {
	for _, op := range lf.ops {
		if op.v == lvLiteral {
			b = append(b, op.text...)
			continue
		}
		var set bool
		scratch, set = l.value(scratch[:0], op)
		switch {
		case !set || len(scratch) == 0 && !alwaysSet(op.v) && !(op.v == lvRequest && l.ref != nil && !l.ref.noLine):
			// nginx logs a missing value as "-", and as nothing with
			// escape=json or escape=none.
			if lf.escape == 0 {
				b = append(b, '-')
			}
		case lf.escape == 'j':
			b = appendNginxJSON(b, scratch)
		case lf.escape == 'n':
			b = append(b, scratch...)
		default:
			b = annotations.AppendLogEscaped(b, scratch)
		}
	}
	return b, scratch
}

// alwaysSet reports whether v is set by ingress-nginx's template even when
// empty (logged "", not "-"): its set variables, and $req_id, a map's
// value (empty with generate-request-id "false" and no X-Request-ID).
func alwaysSet(v logVar) bool {
	switch v {
	case lvAltUpstreamName, lvNamespace, lvIngress, lvService, lvServicePort, lvUpstreamName, lvRequestID:
		return true
	}
	return false
}

// value appends the raw value of op to b; false when the variable is not
// found (unknown).
func (l *logLine) value(b []byte, op logOp) ([]byte, bool) {
	r, ex := l.r, l.ex
	if l.ref != nil {
		if b, ok := l.ref.value(b, l, op.v); ok {
			return b, true
		}
	}
	switch op.v {
	case lvRemoteAddr:
		return append(b, ex.fwd.remoteText...), true
	case lvRealIPRemoteAddr:
		// The connection's peer, before the realip module took a
		// forwarded address.
		if !ex.fwd.tcpPeer.IsValid() {
			return append(b, ex.fwd.remoteText...), true
		}
		return append(b, ngxAddrText(ex.fwd.tcpPeer)...), true
	case lvProxyProtocolAddr, lvProxyProtocolPort:
		pa, ok := r.Context().Value(http.LocalAddrContextKey).(*proxyproto.Addr)
		if !ok || !pa.Source.IsValid() {
			return b, false
		}
		if op.v == lvProxyProtocolPort {
			return strconv.AppendUint(b, uint64(pa.Source.Port()), 10), true
		}
		return append(b, ngxAddrText(pa.Source.Addr())...), true
	case lvProxyAddXFF:
		// nginx's proxy module: each X-Forwarded-For line and ", ", then
		// $remote_addr.
		for _, v := range r.Header["X-Forwarded-For"] {
			b = append(append(b, v...), ", "...)
		}
		return append(b, ex.fwd.remoteText...), true
	case lvRemoteUser:
		// The header looked up first, as BasicAuth's Get would (the key is
		// canonical): without one, no canonicalising per line.
		if _, ok := r.Header["Authorization"]; !ok {
			break
		}
		if u, _, ok := r.BasicAuth(); ok {
			return append(b, u...), true
		}
	case lvTimeLocal:
		return l.clock.appendLocal(b, ex.start), true
	case lvTimeISO:
		return l.clock.appendISO(b, ex.start), true
	case lvRequest:
		b = append(b, r.Method...)
		b = append(b, ' ')
		b = append(b, r.RequestURI...)
		b = append(b, ' ')
		return append(b, r.Proto...), true
	case lvStatus:
		if l.status == 0 {
			return append(b, "000"...), true // nginx's %03ui: nothing was answered
		}
		return strconv.AppendInt(b, int64(l.status), 10), true
	case lvBodyBytes:
		return strconv.AppendInt(b, bodySent(r, l.rec, l.status), 10), true
	case lvBytesSent:
		return strconv.AppendInt(b, bytesSent(r, ex, l.rec, l.status), 10), true
	case lvRequestLength:
		return strconv.AppendInt(b, nginxRequestLength(r, ex, l.rec), 10), true
	case lvRequestTime:
		return appendSeconds(b, l.d), true
	case lvMsec:
		return strconv.AppendFloat(b, float64(time.Now().UnixMilli())/1e3, 'f', 3, 64), true
	case lvUpstreamName:
		if ex.findConfig && ex.redirect == nil && !ex.intercepted {
			return append(b, '-'), true // the server's set: no location's ran
		}
		if rd := ex.redirect; rd != nil && rd.route != nil {
			// The @custom_ location's, or the location's whose Service has
			// no endpoints: the annotation's Service's upstream,
			// ingress-nginx's custom-default-backend-<namespace>-<name>.
			if rd.route.Default {
				return append(b, "upstream-default-backend"...), true
			}
			b = append(b, "custom-default-backend-"...)
			b = append(b, rd.route.Backend.Ingress.Namespace...)
			b = append(b, '-')
			return append(b, rd.route.Backend.Service...), true
		}
		// ex.intercepted without a redirect: the internal default
		// backend answered, through @custom_upstream-default-backend_<code>.
		if ex.route == nil || ex.intercepted || defaultUpstream(ex.route) {
			return append(b, "upstream-default-backend"...), true
		}
		be := ex.route.Backend
		b = append(b, be.Ingress.Namespace...)
		b = append(b, '-')
		b = append(b, be.Service...)
		b = append(b, '-')
		return append(b, be.Port...), true
	case lvAltUpstreamName:
		return append(b, ex.canary...), true
	case lvUpstreamAddr:
		for ; ex != nil; ex = ex.redirect {
			b = appendRedirect(b, ex)
			for i, u := range ex.tried {
				b = appendSep(b, i)
				b = append(b, u.Addr...)
			}
		}
	case lvUpstreamLength, lvUpstreamTime, lvUpstreamConnectTime, lvUpstreamHeaderTime, lvUpstreamStatus:
		return l.upstreamValue(b, op.v), true
	case lvRequestID:
		return append(b, ex.requestID...), true
	case lvNginxRequestID:
		// nginx's own ID, which $req_id is only when the client sent no
		// X-Request-ID and generate-request-id is on; else a new one.
		if v, _ := headerValue(r.Header, "X-Request-Id"); v == "" && ex.requestID != "" {
			return append(b, ex.requestID...), true
		}
		return append(b, newRequestID()...), true
	case lvHost:
		return appendHost(b, r.Host), true
	case lvHTTPHost:
		// The Host line, which an absolute-form target's host does not
		// replace (r.Host is the target's then): none, "-", without one.
		if r.URL.Host != "" {
			h := r.Header["Host"]
			if len(h) == 0 {
				return b, false
			}
			return append(b, h[0]...), true
		}
		return append(b, r.Host...), true
	case lvMethod:
		return append(b, r.Method...), true
	case lvRequestURI:
		return append(b, requestURI(r)...), true // of an absolute-form target, its path on
	case lvURI:
		return append(b, r.URL.Path...), true
	case lvArgs:
		return append(b, r.URL.RawQuery...), true
	case lvProtocol:
		return append(b, r.Proto...), true
	case lvScheme:
		if r.TLS != nil {
			return append(b, "https"...), true
		}
		return append(b, "http"...), true
	case lvNamespace, lvIngress, lvService, lvServicePort:
		if ex.route == nil || ingressless(ex.route) {
			return b, true
		}
		switch be := ex.route.Backend; op.v {
		case lvNamespace:
			return append(b, be.Ingress.Namespace...), true
		case lvIngress:
			return append(b, be.Ingress.Name...), true
		case lvService:
			return append(b, be.Service...), true
		}
		return append(b, ex.route.Backend.Port...), true
	case lvRemotePort:
		_, port, _ := net.SplitHostPort(r.RemoteAddr)
		return append(b, port...), true
	case lvServerPort:
		if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			if t, ok := a.(*net.TCPAddr); ok {
				return strconv.AppendInt(b, int64(t.Port), 10), true
			}
			_, port, _ := net.SplitHostPort(a.String())
			return append(b, port...), true
		}
	case lvPipe:
		return append(b, '.'), true
	case lvHeader:
		if vs := r.Header[op.text]; len(vs) > 0 {
			return append(b, vs[0]...), true
		}
	}
	return b, len(b) > 0
}

// upstreamValue appends $upstream_response_length, $upstream_response_time,
// $upstream_connect_time, $upstream_header_time or $upstream_status: one
// value per upstream tried, ", " between, those of
// the attempts passed on as ex.passed keeps them, then " : " and those of
// the exchange it was redirected to (ex.redirect), whose last attempt's
// answer is the response. Empty when no upstream was tried.
func (l *logLine) upstreamValue(b []byte, v logVar) []byte {
	for ex := l.ex; ex != nil; ex = ex.redirect {
		b = appendRedirect(b, ex)
		for i := range ex.tried {
			b = appendSep(b, i)
			if i < len(ex.passed) {
				switch a := ex.passed[i]; v {
				case lvUpstreamStatus:
					b = strconv.AppendInt(b, int64(a.status), 10)
				case lvUpstreamTime:
					b = appendSeconds(b, a.time)
				case lvUpstreamConnectTime:
					b = appendStep(b, a.connect)
				case lvUpstreamHeaderTime:
					b = appendStep(b, a.header)
				default:
					b = append(b, '0')
				}
				continue
			}
			if i < len(ex.tried)-1 { // not passed on through passOn
				b = append(b, '-')
				continue
			}
			b = l.lastAttempt(b, v, ex)
		}
	}
	return b
}

// lastAttempt appends the value of v of ex's last attempt, whose answer
// the client got.
func (l *logLine) lastAttempt(b []byte, v logVar, ex *exchange) []byte {
	ex.timing.done()
	switch {
	case v == lvUpstreamStatus && l.status == statusClientClosed && ex.timing.header < 0:
		// The client left before the upstream answered: nginx has no
		// status of it (ngx_http_upstream_status_variable's "-").
		return append(b, '-')
	case v == lvUpstreamStatus:
		return strconv.AppendInt(b, int64(l.status), 10)
	case v == lvUpstreamTime:
		return appendSeconds(b, max(ex.timing.response, 0))
	case v == lvUpstreamConnectTime:
		return appendStep(b, ex.timing.connect)
	case v == lvUpstreamHeaderTime:
		return appendStep(b, ex.timing.header)
	case ex.bodyCounted:
		return strconv.AppendInt(b, ex.upstreamBody, 10)
	case ex.timing.header >= 0: // the upstream answered (HTTP/2: the bytes relayed)
		return strconv.AppendInt(b, l.rec.bytes, 10)
	}
	return append(b, '0')
}

// appendStep appends the time d an attempt took to connect or to read the
// response header, as nginx's $upstream_connect_time and
// $upstream_header_time: "-" when the step was not reached (d < 0: the
// connection was refused, the header never came).
func appendStep(b []byte, d time.Duration) []byte {
	if d < 0 {
		return append(b, '-')
	}
	return appendSeconds(b, d)
}

// appendRedirect appends nginx's " : " between the attempts of a request
// and those of the exchange it was redirected to, ex, when both have some.
func appendRedirect(b []byte, ex *exchange) []byte {
	if len(b) > 0 && len(ex.tried) > 0 {
		return append(b, " : "...)
	}
	return b
}

// bodySent is nginx's $body_bytes_sent: the body bytes the client got,
// chunked framing included (a WebSocket's, 101, its bytes to the client);
// none for a HEAD request, a 204 or a 304, whose body written the server
// drops.
func bodySent(r *http.Request, rec *responseRecorder, status int) int64 {
	switch {
	case r.Method == http.MethodHead, status == http.StatusNoContent, status == http.StatusNotModified:
		return 0
	}
	return rec.bytes + bodyFraming(rec)
}

// nginxRequestLength is nginx's $request_length: the head and the body's
// framing as received (l7/h1server counts them) and the body bytes read;
// on a server that does not count them (net/http's, HTTP/2), requestLength's
// estimate from the parsed request. The access log's $request_length and
// the request_size histogram (monitor.lua's, from $request_length) are
// this one figure.
func nginxRequestLength(r *http.Request, ex *exchange, rec *responseRecorder) int64 {
	if f, ok := rec.ResponseWriter.(requestFramer); ok {
		return f.RequestFraming() + ex.bodyRead.Load()
	}
	return requestLength(r, ex)
}

// requestFramer is l7/h1server's response writer, which counts the bytes
// of the request's head and body framing as received.
type requestFramer interface{ RequestFraming() int64 }

// bodyFramer is l7/h1server's response writer, which counts the chunked
// framing of the body it sends.
type bodyFramer interface{ BodyFraming() int64 }

// bodyFraming returns the bytes of chunked framing the client gets in
// rec's body, which nginx's $body_bytes_sent and $bytes_sent count; 0 on a
// server that does not say (net/http's, HTTP/2).
func bodyFraming(rec *responseRecorder) int64 {
	if f, ok := rec.ResponseWriter.(bodyFramer); ok {
		return f.BodyFraming()
	}
	return 0
}

func appendSep(b []byte, i int) []byte {
	if i > 0 {
		return append(b, ", "...)
	}
	return b
}

// appendSeconds appends d in seconds with milliseconds, as nginx's times:
// strconv.AppendFloat(float64(ms)/1e3, 'f', 3), without its cost. Under
// 1e12 ms the float is within 1e-4 of ms/1e3, so rounded to three decimals
// it is ms/1e3's own digits (TestAppendSeconds compares the two).
func appendSeconds(b []byte, d time.Duration) []byte {
	ms := d.Milliseconds()
	if ms < 0 || ms >= 1e12 {
		return strconv.AppendFloat(b, float64(ms)/1e3, 'f', 3, 64)
	}
	b = strconv.AppendInt(b, ms/1e3, 10)
	return append(b, '.', byte('0'+ms/100%10), byte('0'+ms/10%10), byte('0'+ms%10))
}

// appendHost appends nginx's $host of a Host header, router.HostVar's
// without its allocation: without the port and a trailing dot,
// lower-case; the default server's name without one.
func appendHost(b []byte, host string) []byte {
	if host == "" {
		return append(b, router.DefaultServerName...)
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		host = host[:i]
	}
	host = strings.TrimSuffix(host, ".")
	for i := 0; i < len(host); i++ {
		c := host[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

const upperHex = "0123456789ABCDEF"

// appendNginxJSON appends v as nginx's escape=json: " and \ escaped by a
// backslash, control bytes as \n, \r, \t, \b, \f or \u00XX; other bytes
// unchanged.
func appendNginxJSON(b, v []byte) []byte {
	for _, c := range v {
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', upperHex[c>>4], upperHex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return b
}

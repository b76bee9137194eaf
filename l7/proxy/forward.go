package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/weir-lb/weir/l7/h1server"
	"github.com/weir-lb/weir/userspace/annotations"
)

// Every request but protocol upgrades (websocket.go) is forwarded by a
// purpose-built HTTP/1.1 client that runs entirely in the handler's
// goroutine: take an idle keep-alive
// connection of the upstream (pool.go) or dial one, write the request with
// a pooled bufio.Writer, read the response with http.ReadResponse on a
// pooled bufio.Reader and stream it to the client. net/http's Transport
// would hand each request to two more goroutines (its write and read loops
// of the connection), three cross-thread wake-ups per request that cost
// more than the proxying itself.
//
// The request and response are what httputil.ReverseProxy with rewrite
// (headers.go) would send and relay, except that the query reaches the
// upstream byte for byte and Expect is not forwarded (as nginx: net/http's
// server sends the client its 100 Continue when the body is first read,
// which is when it is sent upstream): hop-by-hop headers removed both ways,
// Te among them (nginx's proxy module sends TE ""), no default User-Agent, interim 1xx responses relayed,
// trailers passed through, a streamed response (text/event-stream or no
// Content-Length) flushed after each write. The timeouts are deadlines on
// the upstream connection with the meaning timeouts.go documents: connect
// on the dial, send before each write, read once for the response header
// and again before each read of the body. A client that goes away expires
// both deadlines at once.
//
// A connection goes back to the pool only when its response was read to
// the end, neither side asked to close it, the request body was sent
// whole and the client stayed. If a reused connection fails before any
// byte of the response, and no byte of the request body was consumed (the
// upstream closed it while it was idle), the request is retried once on a
// new connection. Requests that could not be retried (with a body, or not
// idempotent) first check with a non-blocking peek that the idle
// connection is still open. An upstream that fails before the response
// started may pass the request to the next upstream (nextupstream.go).

// The client-side timeouts, as nginx's defaults: between two successive reads
// of the request body (client_body_timeout, Options.ClientBodyTimeout) and
// between two successive writes of the response (send_timeout).
const (
	defaultClientBodyTimeout = 60 * time.Second
	clientSendTimeout        = 60 * time.Second
)

// maxInterim bounds the 1xx responses relayed before the final one.
const maxInterim = 16

// forward proxies r to ex.upstream with the pooled client, and to the next
// upstreams of its pool when that fails (nextupstream.go).
func (p *Proxy) forward(rec *responseRecorder, r *http.Request, ex *exchange) {
	direct := p.directHead(r, ex)
	out, o := outgoing(r, ex, direct)
	ex.out = o
	defer func() {
		ex.out = nil
		if !ex.outShared && o.clean() {
			ex.spareOut = o
		}
	}()
	if !direct {
		p.requestHeaders(ex, r, out) // connection-proxy-header, proxy-set-headers (respheaders.go)
	}
	var body *clientBody
	if out.Body != nil {
		body = newClientBody(out.Body, ex, rec, p.clientBodyTimeout())
		defer body.detach()
		out.Body = body
	}
	buf, ok := p.prepareBody(rec, r, out, ex, body) // buffering.go
	if !ok {
		return
	}
	if buf != nil {
		defer buf.close()
		body = nil // read whole: nothing left to consume, it can be sent again
	}
	next := newNextPolicy(r, rec, ex, body)
	for {
		if buf != nil {
			out.Body = buf.reader()
		}
		fail := p.attempt(rec, r, out, ex, body, &next)
		if fail == nil {
			return
		}
		if !p.passOn(&next, fail) {
			p.handleError(rec, r, fail.err)
			return
		}
	}
}

// attempt sends out to ex.upstream and relays the response. It returns the
// failure when nothing was sent to the client.
func (p *Proxy) attempt(rec *responseRecorder, r *http.Request, out *http.Request, ex *exchange, body *clientBody, next *nextPolicy) *attemptError {
	addr := ex.upstream.Addr
	out.URL.Host = addr
	kind, err := p.kinds.kindOf(ex.route.Backend, r.TLS != nil)
	if err != nil {
		return newAttemptError(&dialError{addr: addr, err: err}, false)
	}
	if kind.protocol.HTTP2() {
		return p.attemptH2(rec, r, out, ex, kind, next) // h2.go
	}
	key := kind.poolKey(addr)
	dial := func(ctx context.Context) (net.Conn, error) { return p.dialKind(ctx, kind, addr) }
	// Every reused connection is checked first (one non-blocking peek): an
	// upstream that closed it, or queued an unsolicited response on it, must
	// not answer this request. An idempotent request without body is also
	// retried if the upstream closes a reused connection under it. A TLS
	// connection is not peeked at (its session tickets would look like an
	// unasked response): a closed one is retried the same way.
	for try := 0; ; try++ {
		var c net.Conn
		var served int
		var probe *peeker
		var err error
		var born time.Time
		ex.timing.begin(ex.start)
		if try == 0 {
			c, served, probe, born, err = p.pool.get(r.Context(), key, kind.tls == nil, dial, ex.timing.start)
		} else {
			// The retry is on a new connection: the other idle ones may
			// be as dead (an upstream restart).
			born = time.Now()
			c, err = dial(r.Context())
		}
		if err != nil {
			return newAttemptError(err, false)
		}
		reused := served > 0
		ex.timing.connected(reused)
		uc := ex.upstreamConn(c)
		uc.key, uc.served, uc.probe, uc.born = key, served, probe, born
		uc.at, uc.fresh = ex.timing.off+max(ex.timing.connect, 0), !ex.start.IsZero()
		uc.headerLimit = ex.route.Backend.Proxy.Upstream.HeaderLimit()
		retry, fail := p.exchange(rec, r, out, ex, uc, body, reused, next)
		if !retry {
			return fail
		}
	}
}

// idempotent reports whether a request of method may be sent twice.
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// outgoing returns the request to send upstream, as httputil.ReverseProxy
// with rewrite builds it, in an outRequest to recycle once it is sent and
// its response relayed (upstreamreq.go). With direct (directHead), its
// header stays empty: writeDirect writes the same fields from r's, and
// fillHeader builds it if the request is sent another way.
func outgoing(r *http.Request, ex *exchange, direct bool) (*http.Request, *outRequest) {
	// r.Clone, its context kept, into recycled memory: the header map
	// keeps its room for what rewrite adds.
	o := ex.spareOut
	if o != nil {
		ex.spareOut = nil
	} else {
		o = outRequests.Get().(*outRequest)
	}
	o.req = *r
	out := &o.req
	o.url = *r.URL
	out.URL = &o.url
	out.Header = o.header
	out.Trailer = r.Trailer.Clone()
	if r.ContentLength == 0 {
		out.Body = nil
	}
	out.Close = false
	if direct {
		o.direct = true
		rewriteTarget(out, ex)
		return out, o
	}
	o.fillHeader(r)
	return out, o
}

// fillHeader fills the upstream request's header from in's, as rewrite
// wants it: without the request's hop-by-hop fields (requestHopHeaders),
// Expect or the client's forwarding fields, then rewritten.
func (o *outRequest) fillHeader(in *http.Request) {
	o.direct = false
	out := &o.req
	o.cloneHeader(in.Header)
	removeRequestHopHeaders(out.Header)
	delete(out.Header, "Expect")
	if ex := exchangeFrom(in.Context()); ex != nil && ex.errorPage {
		rewriteErrorPage(out, ex) // customerrors.go
	} else {
		for _, k := range forwardedHeaders {
			delete(out.Header, k)
		}
		rewrite(&httputil.ProxyRequest{In: in, Out: out})
	}
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header["User-Agent"] = o.noUA[:1:1] // "": not Go's default
	}
}

// directHead reports whether forward may leave r's upstream header to
// writeDirect: nothing but rewrite's own fields changes it (no body, no
// trailers, no connection-proxy-header, proxy-set-headers, rewrite
// annotations or forwarded-for-proxy-protocol-header, not a custom error
// page's request: rewriteErrorPage).
func (p *Proxy) directHead(r *http.Request, ex *exchange) bool {
	px := &ex.route.Backend.Proxy
	return !ex.errorPage && r.ContentLength == 0 && r.Trailer == nil && px.ConnectionHeader == "" && px.Rewrite == nil &&
		ex.fwd.ppHeader == "" && len(p.liveGlobal().UpstreamHeaders) == 0
}

// exchange sends out (whose body, if any, is body) on uc and relays the
// response to rec. It reports whether the request should be retried on a
// new connection to the same upstream: only when reused, no byte of the
// body was consumed, uc failed before any byte of the response and the
// failure is neither a timeout nor the client's. Otherwise it returns the
// failure when no response reached the client: an error, or a status next
// allows to pass to the next upstream.
func (p *Proxy) exchange(rec *responseRecorder, r *http.Request, out *http.Request, ex *exchange, uc *upstreamConn, body *clientBody, reused bool, next *nextPolicy) (retry bool, fail *attemptError) {
	canRetry := func(err error) bool {
		// Never a second time for a request that may have had its effect
		// (POST, PATCH, ...): neither nginx nor net/http does.
		return reused && idempotent(out.Method) && (body == nil || !body.read) && uc.retriable(err)
	}
	notifier, id, stop := afterClientGone(r.Context(), uc)
	reusable := false
	defer func() {
		if notifier == nil || body != nil || ex.outShared || !notifier.StopAfterDone(id) {
			// clientGone may run after this request (a goroutine), a body
			// or an HTTP/2 client may hold the exchange: it is not
			// recycled.
			ex.hold = true
			if notifier == nil {
				stop()
			}
		}
		ex.recyclable = !ex.hold
		// A client that leaves once the whole response is relayed (the
		// server may deliver it before this handler returns) leaves the
		// upstream connection intact: finish made clientGone a no-op.
		if reusable {
			uc.release(ex)
			p.pool.put(uc.key, uc.Conn, uc.served+1, uc.born, uc.probe, ex.timing.end())
			return
		}
		uc.release(ex)
		uc.Conn.Close()
	}()

	// A custom error page's request is HTTP/1.0 with Connection: close:
	// nginx.tmpl's @custom_ location sets no proxy_http_version nor
	// Connection, so nginx's defaults apply (read side by side with nginx
	// 1.22.1).
	http10 := ex.errorPage || ex.route.Backend.Proxy.Upstream != nil && ex.route.Backend.Proxy.Upstream.HTTP10
	if ex.bw == nil {
		ex.bw = writers.Get().(*bufio.Writer)
	}
	bw := ex.bw
	if p.liveGlobal().upstreamKeepalive == 0 || ex.errorPage {
		out.Close = true // upstream-keepalive-connections "0", as nginx
	}
	if http10 {
		// No Connection field of Weir's own: ingress-nginx's
		// "proxy_set_header Connection $connection_upgrade" is empty while
		// upstream-keepalive-connections is above 0, whatever the version
		// (nginx 1.22.1 sent none); the connection is not reused anyway.
		bw.Reset(&http10Writer{w: uc})
	} else {
		bw.Reset(uc)
	}
	var werr error
	o := ex.out
	ok := false
	switch {
	case o == nil:
	case o.direct:
		ok = o.writeDirect(bw, r, ex)
		if !ok {
			o.fillHeader(r)
		}
	default:
		o.fields, ok = writeRequestHead(bw, out, o.fields)
	}
	if ok {
		// A head without a body: its last write also waits for the
		// answer (sendwait.go).
		uc.waitAfter = !http10
	} else {
		keepClientPath(out.URL)
		werr = out.Write(bw)
	}
	if werr == nil {
		werr = bw.Flush()
	}
	uc.waitAfter = false
	bw.Reset(nil)

	if ex.br == nil {
		ex.br = readers.Get().(*bufio.Reader)
	}
	uc.br = ex.br
	uc.br.Reset(uc)
	early := false // a response that came before the whole request was sent
	if werr != nil {
		if uc.gone.Load() || ex.clientBodyErr() != nil || !uc.readable() {
			if canRetry(werr) {
				return true, nil
			}
			return false, newAttemptError(uc.sendError(werr), true)
		}
		early = true
	}

	uc.startHeader()
	var resp *http.Response
	for interim := 0; ; interim++ {
		var err error
		if uc.fast == nil {
			if ex.fast == nil {
				ex.fast = fastResponses.Get().(*fastResponse)
			}
			uc.fast = ex.fast
		}
		resp, err = readResponse(uc.br, out, uc.fast) // respread.go
		if err != nil {
			if !early && canRetry(err) {
				return true, nil
			}
			return false, newAttemptError(uc.readError(fmt.Errorf("read response header: %w", err)), true)
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			err := fmt.Errorf("backend tried to switch protocol %q when none was requested", resp.Header.Get("Upgrade"))
			return false, &attemptError{err: err, cond: annotations.NextInvalidHeader, sent: true}
		}
		if resp.StatusCode >= 200 {
			break
		}
		if interim == maxInterim {
			err := errors.New("read response header: too many 1xx responses")
			return false, &attemptError{err: err, cond: annotations.NextInvalidHeader, sent: true}
		}
		// As ReverseProxy: relay the interim response (100, 103).
		// Only its own headers are removed after it: Weir's (HSTS) stay
		// for the final response.
		h := rec.Header()
		own := h.Clone()
		copyHeader(h, resp.Header)
		rec.relayStatusLine(resp)
		rec.WriteHeader(resp.StatusCode)
		clear(h)
		copyHeader(h, own)
	}
	ex.timing.headerRead()
	uc.at, uc.fresh = ex.timing.off+ex.timing.header, !ex.start.IsZero() // copyBody's first deadline
	uc.startBody()
	if fail := statusFailure(resp, ex, next); fail != nil {
		return false, fail // the connection is closed, its response unread
	}
	var fast *fastResponse
	if uc.fast != nil && resp == &uc.fast.resp {
		fast = uc.fast
	}
	// What the body's reader consumes of the connection from here on is
	// the body as the upstream sent it (countBody).
	ex.bodyConn, ex.bodyMark = uc, uc.consumed()
	relayed := p.relay(rec, r, resp, ex, uc.gone.Load, fast, uc.fast.order)
	ex.countBody() // before the connection may go back to the pool
	if !relayed {
		return false, nil
	}
	// The response's end (done) is the request's: what follows until
	// finish waits for nothing (trailers are flushed to the client after
	// it; a request body's reader may be waited for at its detach).
	ex.endRead = body == nil && len(resp.Trailer) == 0
	reusable = !early && !http10 && !resp.Close && uc.br.Buffered() == 0 && uc.finish()
	return false, nil
}

// statusFailure returns the failure when resp's status is one of
// proxy-next-upstream's and next passes the request on.
func statusFailure(resp *http.Response, ex *exchange, next *nextPolicy) *attemptError {
	cond := annotations.Status(resp.StatusCode)
	if !ex.route.Backend.Proxy.NextUpstream.Has(cond) {
		return nil
	}
	if !next.allows(cond, true) {
		return nil
	}
	return &attemptError{err: fmt.Errorf("upstream answered %d", resp.StatusCode), cond: cond, sent: true, status: resp.StatusCode}
}

// relay sends resp, its header, body and trailers, to rec, unless the
// route intercepts its status (custom-http-errors). It reports whether the
// body was read to its end; when it was not and r is served by
// an http.Server, it aborts the response (panic http.ErrAbortHandler).
// gone reports whether the client went away. fast is resp's fastResponse
// when readResponse parsed it itself, nil else: every field name of such a
// response is canonical by construction (plainField), so that relayHeader
// need not check each again, and its parse noted whether it has
// hop-by-hop fields to remove (noHop) and whether its lines are its
// header (listed: relayFields walks them instead of the map, which parse
// left empty and fill fills for relayHeader, and knows which fields the
// client's header then holds, heldFields). order is
// resp's fields in the order they came and as they were spelled
// (fastResponse.order; nil for an HTTP/2 upstream's), which the client
// gets them in, as from nginx.
func (p *Proxy) relay(rec *responseRecorder, r *http.Request, resp *http.Response, ex *exchange, gone func() bool, fast *fastResponse, order []h1server.FieldName) bool {
	if p.intercept(rec, r, resp.StatusCode, ex) { // customerrors.go
		return false // the response unread: its connection is closed
	}
	if fast == nil || !fast.noHop {
		removeResponseHops(resp.Header, r.ProtoMajor >= 2) // respheaders.go
	}
	h := rec.Header()
	var ct []string
	var held heldFields
	if fast != nil && fast.listed && len(h) == 0 {
		ct, held = relayFields(h, fast.order, fast.vals)
	} else {
		if fast != nil {
			fast.fill()
		}
		ct = relayHeader(h, resp.Header, fast != nil)
	}
	// hide-headers, add-headers, custom-headers, CORS, HSTS (respheaders.go)
	absolute, held := p.responseHeaders(ex, r, h, held)
	if absolute {
		rec.absoluteLocation()
	}
	dropForbiddenTrailers(resp.Trailer)
	announced := len(resp.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		h.Add("Trailer", strings.Join(keys, ", "))
		// An HTTP/2 response may have both; an HTTP/1.1 client gets the
		// trailers only chunked.
		h.Del("Content-Length")
	}
	// Before encodeResponse, which may wrap the server's writer.
	rec.relayStatusLine(resp)
	if ex.cors != nil {
		order = p.corsOrder(order, ex.route) // cors.go
	}
	rec.relayFieldOrder(order)
	enc := p.encodeResponse(rec, r, resp, fast, held, ct) // compress.go
	rec.WriteHeader(resp.StatusCode)
	err := enc.finish(p.copyBody(r, rec, resp, ct, ex, gone))
	ex.timing.done()
	ex.countBody()
	if err != nil {
		if r.Context().Value(http.ServerContextKey) == nil {
			return false // not under an http.Server: nothing to abort
		}
		if !gone() {
			// As nginx: what was read before the upstream failed reaches
			// the client, then the connection is closed.
			rec.Flush()
		}
		panic(http.ErrAbortHandler)
	}
	dropForbiddenTrailers(resp.Trailer) // those that came unannounced
	if len(resp.Trailer) > 0 {
		// Force chunking, so that the trailers can follow.
		rec.Flush()
		if len(resp.Trailer) == announced {
			copyHeader(h, resp.Trailer)
		} else {
			for k, vv := range resp.Trailer {
				for _, v := range vv {
					h.Add(http.TrailerPrefix+k, v)
				}
			}
		}
	}
	return true
}

// copyBody streams the response body to rec (the response to r) and, once it is read to its
// end, closes it; ct is resp's Content-Type values (relayHeader's or relayFields'). A read error is recorded as the request's upstream error
// (unless the client went away); any error means the response is cut and
// the connection unusable.
func (p *Proxy) copyBody(r *http.Request, rec *responseRecorder, resp *http.Response, ct []string, ex *exchange, gone func() bool) error {
	flush := flushesEachWrite(ct, resp.ContentLength)
	// The header's reading dates the first write's deadline while nothing
	// waited since: no write to the client, no read of the upstream
	// (the body came with the header: upstreamConn.fresh).
	fromHeader := ex.bodyConn != nil && !flush
	if flush {
		rec.Flush() // the header now, even if the body is slow to come
	}
	// proxy-buffering off (the default): each read reaches the client at
	// once, as nginx's unbuffered proxying.
	flush = flush || !ex.route.Backend.Proxy.Upstream.BuffersResponse()
	if ex.copyBuf == nil {
		ex.copyBuf = copyBuffers.Get().(*[copyBufferSize]byte)
	}
	buf := ex.copyBuf
	ctl := http.NewResponseController(rec.ResponseWriter)
	bw := newBandwidth(r, ex, p.clientSend) // limit-rate (ratelimit.go); nil: none
	for {
		n, rerr := resp.Body.Read(buf[:])
		if n > 0 {
			// nginx's send_timeout: a client that takes no data for this
			// long loses the response.
			if fromHeader && ex.bodyConn.fresh {
				_ = ctl.SetWriteDeadline(ex.start.Add(ex.bodyConn.at + p.clientSend))
			} else {
				_ = ctl.SetWriteDeadline(deadlineFrom(ex.start, p.clientSend))
			}
			fromHeader = false
			if werr := bw.write(rec, ctl, buf[:n]); werr != nil {
				// No Close: it would read the rest of the body first.
				return werr
			}
			if flush {
				rec.Flush()
			}
		}
		if rerr == io.EOF {
			// Close reads the trailers into resp.Trailer.
			return resp.Body.Close()
		}
		if rerr != nil {
			switch {
			case gone():
				// The client went away; not an upstream error.
			case errors.Is(rerr, os.ErrDeadlineExceeded):
				ex.fail(fmt.Errorf("%w: read response body: %w", errReadTimeout, rerr), reasonReadTimeout)
			default:
				ex.fail(fmt.Errorf("read response body: %w", rerr), reasonUpstreamError)
			}
			// No Close: it would wait for the rest of the body, a second
			// read timeout. The connection is closed, not reused.
			return rerr
		}
	}
}

// flushesEachWrite reports whether the response whose Content-Type values
// are ct and whose ContentLength is length is streamed to the client
// write by write, as ReverseProxy does: Server-Sent Events, or a body of
// unknown length.
func flushesEachWrite(ct []string, length int64) bool {
	if len(ct) > 0 && ct[0] != "" && mayBeEventStream(ct[0]) {
		if base, _, _ := mime.ParseMediaType(ct[0]); base == "text/event-stream" {
			return true
		}
	}
	return length == -1
}

// mayBeEventStream reports whether the media type ct can parse as
// text/event-stream: it starts with it, ignoring case and leading blanks
// (mime.ParseMediaType lowercases and trims it), so that other types cost no
// parse.
func mayBeEventStream(ct string) bool {
	ct = strings.TrimSpace(ct)
	const es = "text/event-stream"
	return len(ct) >= len(es) && strings.EqualFold(ct[:len(es)], es)
}

// relayHeader is copyHeader for a response header that is not used after:
// a field dst does not have yet takes src's values slice (capped, so that
// appending to it copies) instead of a copy of it. While dst was empty
// before and only canonical names came, no name of src can be in dst:
// it is not looked up. canonical: every name of src is known canonical
// (readResponse's parse), and is not checked again (some 20 instructions
// a byte, each field of each response).
//
// The upstream's Date is not relayed: relay's encodeResponse removes Date
// from dst in any case (upstreamServerHeader: nginx's proxy_hide_header
// list), and nothing reads it before; relayed, it cost a map assignment
// of each response for the delete to undo. (A Date of src spelled
// otherwise is copied, canonicalised, and removed there as before.) Nor
// are the other fields of nginx's default proxy_hide_header list
// (nginxHidden): they are hidden from the upstream's fields only, and
// add-headers or custom-headers may set them.
//
// It returns src's Content-Type values, src["Content-Type"], met on the
// walk: copyBody asks for them (flushesEachWrite), and src is not changed
// in between; a lookup cost some 120 instructions under callgrind.
func relayHeader(dst, src http.Header, canonical bool) (contentType []string) {
	fresh := len(dst) == 0
	for k, vv := range src {
		if k == "Content-Type" {
			contentType = vv
		}
		if k == "Date" || mayBeHidden(k) && nginxHidden(k, canonical) {
			continue
		}
		share := len(vv) > 0 && (canonical || textproto.CanonicalMIMEHeaderKey(k) == k)
		if share && !fresh {
			_, had := dst[k]
			share = !had
		}
		if share {
			dst[k] = vv[:len(vv):len(vv)]
			continue
		}
		fresh = false // Add canonicalises k: a later field of src may find it
		for _, v := range vv {
			dst.Add(k, v)
		}
	}
	return contentType
}

// relayFields is relayHeader for an empty dst and a header of one value
// each of the names of order, canonical and each once, the values vals
// (fastResponse.listed): a walk of the two slices, no map iteration;
// each field dst gets has a value of vals, capped, as the header's own.
// It reports which of heldFields' fields dst then holds (heldKnown).
func relayFields(dst http.Header, order []h1server.FieldName, vals []string) (contentType []string, held heldFields) {
	held = heldKnown
	vals = vals[:len(order)]
	for i := range order {
		k, vv := order[i].Name, vals[i:i+1:i+1]
		switch k {
		case "Content-Type":
			contentType = vv
		case "Date":
			continue
		case "Server":
			held |= heldServer
		case "Location":
			held |= heldLocation
		case "Refresh":
			held |= heldRefresh
		case "Set-Cookie":
			held |= heldSetCookie
		default:
			if mayBeHidden(k) && nginxHidden(k, true) {
				continue
			}
		}
		dst[k] = vv
	}
	return contentType, held
}

// heldFields is what relay knows of the client's header h once
// relayFields filled it: with heldKnown, h holds no Date, a Server,
// Location, Refresh or Set-Cookie only when its bit is set, and its
// Content-Type values are relayFields' (relay's ct), so that the steps
// after need not look them up or remove them (a map access of a small
// map costs some 115 instructions under callgrind, a delete of an absent
// field as much). Zero knows nothing: each step looks.
type heldFields uint8

const (
	heldKnown heldFields = 1 << iota
	heldServer
	heldLocation
	heldRefresh
	heldSetCookie
)

// firstValue is h.Get(key) for a canonical key: the map indexed by it,
// without canonicalising it again.
func firstValue(h http.Header, key string) string {
	if vv := h[key]; len(vv) > 0 {
		return vv[0]
	}
	return ""
}

// dropForbiddenTrailers removes from an upstream's trailers the fields
// that may not be trailers (RFC 9110 section 6.5.1): those net/http's
// servers drop (httpguts.ValidTrailerHeader: framing, routing,
// authentication, the request's modifiers and conditions, the response's
// own controls). An upstream's "Content-Length" or "Transfer-Encoding"
// trailer so never reaches a client that might merge it into the header.
// nginx's proxy module passes no trailer at all; Weir passes the others
// (gRPC's status among them). A response without trailers (nearly every
// one, and relay asks twice) returns at once: a walk of an empty map is
// set up all the same (some 45 instructions under callgrind).
func dropForbiddenTrailers(t http.Header) {
	if len(t) == 0 {
		return
	}
	for k := range t {
		switch k {
		case "Authorization", "Cache-Control", "Connection", "Content-Encoding", "Content-Length", "Content-Range",
			"Content-Type", "Expect", "Host", "Keep-Alive", "Max-Forwards", "Pragma", "Proxy-Authenticate",
			"Proxy-Authorization", "Proxy-Connection", "Range", "Realm", "Te", "Trailer", "Transfer-Encoding",
			"Www-Authenticate":
			delete(t, k)
		default:
			if strings.HasPrefix(k, "If-") {
				delete(t, k)
			}
		}
	}
}

func copyHeader(dst, src http.Header) {
	for k, vv := range src {
		for _, v := range vv {
			dst.Add(k, v)
		}
	}
}

// Buffers of the upstream connections, taken for one request at a time: an
// idle connection holds none.
var (
	readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}
	writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}
)

// clientBody is the client's request body as it is sent upstream: it
// records whether any of it was consumed (a request that lost its body
// cannot be retried) and the client's read error. Close is the server's
// business, not the client's.
type clientBody struct {
	rc      io.ReadCloser
	ex      *exchange
	ctl     *http.ResponseController // arms the client body timeout
	timeout time.Duration            // the client body timeout
	read    bool

	// The HTTP/2 client (h2.go) reads the body in its own goroutine, which
	// may outlive the handler; the ResponseWriter, ctl's, and the server's
	// body are the handler's only until it returns. mu guards reading and
	// detached; done (whose L is &mu) wakes detach when a read ends.
	mu       sync.Mutex
	done     sync.Cond
	reading  bool // a Read is in the server's body
	detached bool // the handler is returning: Read touches nothing more
}

// newClientBody returns the client body rc of the request rec answers.
func newClientBody(rc io.ReadCloser, ex *exchange, rec *responseRecorder, timeout time.Duration) *clientBody {
	b := &clientBody{rc: rc, ex: ex, ctl: http.NewResponseController(rec.ResponseWriter), timeout: timeout}
	b.done.L = &b.mu
	return b
}

// errBodyDetached is what the body reads once the handler has returned.
var errBodyDetached = errors.New("client body read after the request ended")

func (b *clientBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.detached {
		b.mu.Unlock()
		return 0, errBodyDetached
	}
	b.read, b.reading = true, true
	// nginx's client_body_timeout: a client that sends nothing of its body
	// for this long loses the request, and the upstream connection is freed.
	_ = b.ctl.SetReadDeadline(time.Now().Add(b.timeout))
	b.mu.Unlock()
	n, err := b.rc.Read(p)
	b.ex.bodyRead.Add(int64(n))
	b.mu.Lock()
	b.reading = false
	detached := b.detached
	if err != nil && !detached {
		// The body is done: the server's own read of the connection (which
		// notices a client that leaves) must not time out on our deadline.
		_ = b.ctl.SetReadDeadline(time.Time{})
	}
	b.done.Broadcast()
	b.mu.Unlock()
	if err != nil && err != io.EOF && !detached {
		b.ex.setBodyErr(err)
	}
	return n, err
}

// detach is called before the handler returns: a Read under way in another
// goroutine is cut short (its deadline set to now) and waited for, and
// every later Read fails without touching the server's body or the
// ResponseWriter. A Read on the handler's own goroutine has ended by then,
// so that for the HTTP/1 client detach only takes the lock.
func (b *clientBody) detach() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.detached = true
	// Without read deadlines (a ResponseWriter of tests) the read is left
	// to end by itself: it then touches nothing of the handler's.
	if b.reading && b.ctl.SetReadDeadline(time.Now()) == nil {
		for b.reading {
			b.done.Wait()
		}
		_ = b.ctl.SetReadDeadline(time.Time{})
	}
}

func (b *clientBody) Close() error { return nil }

// upstreamConn is an upstream connection during one request: it arms the
// send timeout before each write, the read timeout once for the response
// header and then before each read of the body, counts the bytes read, and
// expires everything when the client goes away.
type upstreamConn struct {
	net.Conn
	br      *bufio.Reader
	fast    *fastResponse // the response, when readResponse parsed it
	to      timeouts
	perRead bool  // arm the read timeout before each read
	n       int64 // bytes read
	werr    error // the first write error, which Request.Write may hide
	gone    atomic.Bool
	// mu orders clientGone and finish: finished, once set, keeps
	// clientGone from touching a connection on its way to the pool.
	mu       sync.Mutex
	finished bool
	key      string    // of its idle connections in the pool
	served   int       // requests before this one
	born     time.Time // when it was dialled (upstream-keepalive-time)
	probe    *peeker   // its peeker in the pool; nil: none yet
	ref      time.Time // the exchange's start, for nowFrom
	// at is the offset from ref of the attempt's last clock reading (its
	// start, after a dial its connection's, then its response header's),
	// fresh until the connection is read or written another way than
	// writeAndWait's: startHeader's deadline, and copyBody's first, are
	// then at's, with no read of their own (a few microseconds early, as
	// nginx's timers from its cached time).
	at    time.Duration
	fresh bool
	// headerLimit bounds the bytes read before the response header is
	// whole (proxy-buffer-size).
	headerLimit int64
	sendWait    // writeAndWait's state (sendwait.go)
}

func newUpstreamConn(c net.Conn, to timeouts) *upstreamConn {
	return &upstreamConn{Conn: c, to: to, headerLimit: maxResponseHeaderBytes}
}

// upstreamConn returns the upstreamConn of c for an attempt of ex: the
// exchange's own for the first (no allocation), a new one for any other,
// so that no two attempts share one (a late clientGone of one attempt must
// not touch the next).
func (ex *exchange) upstreamConn(c net.Conn) *upstreamConn {
	if ex.connUsed {
		uc := newUpstreamConn(c, ex.timeouts)
		uc.ref = ex.start
		return uc
	}
	ex.connUsed = true
	uc := &ex.conn
	uc.Conn, uc.to, uc.headerLimit, uc.ref = c, ex.timeouts, maxResponseHeaderBytes, ex.start
	uc.waitAfter, uc.headerArmed = false, false
	return uc
}

// maxResponseHeaderBytes bounds the response header (interim responses
// included), as http.Transport's default does.
const maxResponseHeaderBytes = 10 << 20

var errHeaderTooLarge = errors.New("upstream sent too big header")

// errClientGone ends the upstream exchange of a client that went away.
var errClientGone = errors.New("client went away")

// aLongTimeAgo is a deadline that has already expired.
var aLongTimeAgo = time.Unix(1, 0)

// clientGone runs when the request's context ends: it aborts the exchange,
// unless finish came first.
func (c *upstreamConn) clientGone() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished {
		return
	}
	c.gone.Store(true)
	_ = c.Conn.SetDeadline(aLongTimeAgo)
}

// finish marks the exchange done, its response relayed whole, unless
// clientGone came first; it reports whether it did. After it, clientGone
// leaves the connection alone, so it can go back to the pool.
func (c *upstreamConn) finish() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone.Load() {
		return false
	}
	c.finished = true
	return true
}

func (c *upstreamConn) Write(b []byte) (int, error) {
	sent := 0
	if c.waitAfter {
		n, ok := c.writeAndWait(b) // sendwait.go
		if ok {
			return n, nil
		}
		sent, b = n, b[n:]
	}
	c.fresh = false
	_ = c.Conn.SetWriteDeadline(time.Now().Add(c.to.send))
	if c.gone.Load() {
		return sent, errClientGone
	}
	n, err := c.Conn.Write(b)
	if err != nil && c.werr == nil {
		c.werr = err
	}
	return sent + n, err
}

// consumed returns the bytes of the connection its reader consumed: read
// from the socket, less those buffered.
func (c *upstreamConn) consumed() int64 { return c.n - int64(c.br.Buffered()) }

// countBody records the bytes of the response body read from the upstream
// since bodyMark as the attempt's, once; nothing when the body is not
// relayed from an HTTP/1 connection (bodyConn nil).
func (ex *exchange) countBody() {
	if uc := ex.bodyConn; uc != nil {
		ex.upstreamBody, ex.bodyCounted = uc.consumed()-ex.bodyMark, true
		ex.bodyConn = nil
	}
}

func (c *upstreamConn) Read(b []byte) (int, error) {
	c.fresh = false
	if c.perRead {
		c.forgetReadDeadline()
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.to.read))
	} else if c.n >= c.headerLimit {
		return 0, errHeaderTooLarge
	}
	if c.gone.Load() {
		return 0, errClientGone
	}
	n, err := c.Conn.Read(b)
	c.n += int64(n)
	return n, err
}

// startHeader arms the read timeout for the whole response header, unless
// writeAndWait did as it sent the request.
func (c *upstreamConn) startHeader() {
	c.perRead = false
	if c.headerArmed {
		c.headerArmed = false
		return
	}
	var t time.Time
	if c.fresh {
		t = c.ref.Add(c.at + c.to.read)
	} else {
		t = deadlineFrom(c.ref, c.to.read)
	}
	if p := c.probe; p != nil {
		// The deadline the last request's header set stays if this one
		// is less than lazyReadDeadline after it (as h1server's write
		// deadlines; nginx keeps a timer within NGX_TIMER_LAZY_DELAY):
		// back-to-back requests on a pooled connection then re-arm the
		// poller's timer about once per lazyReadDeadline. Every other
		// change of the connection's read deadline forgets it
		// (forgetReadDeadline).
		if !p.rdl.IsZero() && !t.Before(p.rdl) && t.Sub(p.rdl) < lazyReadDeadline {
			return
		}
		p.rdl = t
	}
	_ = c.Conn.SetReadDeadline(t)
}

// lazyReadDeadline is how much later than the one set a response header's
// read deadline may be and not be set (startHeader): nginx's
// NGX_TIMER_LAZY_DELAY (ngx_event_timer.h), 300 ms, within which
// ngx_event_add_timer keeps the upstream read timer that
// ngx_http_upstream_send_request arms for each request. Read timeouts count
// in seconds.
const lazyReadDeadline = 300 * time.Millisecond

// forgetReadDeadline makes the next startHeader set its deadline: the
// connection's read deadline is about to change another way.
func (c *upstreamConn) forgetReadDeadline() {
	if c.probe != nil {
		c.probe.rdl = time.Time{}
	}
}

// startBody re-arms the read timeout before each read of the body.
func (c *upstreamConn) startBody() { c.perRead = true }

// release drops the connection's reader and response, ex's (exchange),
// which ex keeps for its next attempt or, recycled, its next request; a
// response whose header grew past maxRecycledFields is dropped instead
// (fastResponse.recycle).
func (c *upstreamConn) release(ex *exchange) {
	if c.br != nil {
		c.br.Reset(nil)
		c.br = nil
	}
	if c.fast != nil {
		if !c.fast.recyclable() {
			ex.fast = nil
		}
		c.fast.reset()
		c.fast = nil
	}
}

// readable reports whether the upstream has sent something (an early
// response) that can be read without waiting.
func (c *upstreamConn) readable() bool {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return false
	}
	// A deadline left from an earlier request must not hide the answer.
	c.forgetReadDeadline()
	_ = c.Conn.SetReadDeadline(time.Time{})
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	ready := false
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ready = err == nil && n > 0
		return true
	})
	return ready && err == nil
}

// retriable reports whether err on a reused connection is the upstream
// having closed it while idle: no byte of the response came, and it is
// neither a timeout nor the client's doing.
func (c *upstreamConn) retriable(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(c.werr, os.ErrDeadlineExceeded) {
		return false
	}
	return c.n == 0 && !c.gone.Load() && !errors.Is(err, errClientGone)
}

// sendError wraps a failure to write the request: a send timeout wraps
// errSendTimeout.
func (c *upstreamConn) sendError(err error) error {
	if c.werr != nil && !c.gone.Load() {
		// Request.Write reports a failed write of the body as a read error
		// of the body, which wraps nothing: the connection's own error says
		// what happened (an upstream that reset it is "error").
		err = c.werr
	}
	if !c.gone.Load() && errors.Is(c.werr, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w: write request: %w", errSendTimeout, err)
	}
	return fmt.Errorf("write request: %w", err)
}

// readError wraps a failure to read the response header: a read timeout
// wraps errReadTimeout.
func (c *upstreamConn) readError(err error) error {
	if !c.gone.Load() && errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w: %w", errReadTimeout, err)
	}
	return err
}

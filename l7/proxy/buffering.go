package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/weir-lb/weir/userspace/annotations"
)

// proxy-request-buffering on (the default, as ingress-nginx): forward
// reads the whole request body (within proxy-body-size, under
// client_body_timeout) before connecting to the endpoint, in memory up to
// client-body-buffer-size and in an unlinked temporary file beyond, and
// sends it with a Content-Length. A buffered body is sent again, whole, to
// the next endpoint. HTTP/2 routes (GRPC, GRPCS, H2C) always stream, as
// nginx's grpc_pass; protocol upgrades carry no body to buffer.
//
// proxy-http-version 1.0 sends the request line as HTTP/1.0, without a
// Connection field unless upstream-keepalive-connections is "0" (close)
// or connection-proxy-header sets one, as ingress-nginx's
// $connection_upgrade; its body is buffered even with request buffering
// off, HTTP/1.0 having no chunked encoding.

// bufferedBody is a request body read whole before it is sent.
type bufferedBody struct {
	mem  []byte
	file *os.File // the part past mem; nil when it all fits
	size int64
}

// bufferBody reads body (the client's, through clientBody's timeout and
// limit) whole. A read error is returned as is: the caller answers it as a
// client body error.
func bufferBody(body io.Reader, inMemory int64) (*bufferedBody, error) {
	b := &bufferedBody{}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(body, inMemory+1))
	b.mem, b.size = buf.Bytes(), n
	if err != nil || n <= inMemory {
		return b, err
	}
	f, err := os.CreateTemp("", "weir-body-")
	if err != nil {
		return nil, fmt.Errorf("buffer request body: %w", err)
	}
	// Unlinked at once: the file goes with its descriptor, however the
	// request ends.
	_ = os.Remove(f.Name())
	b.file = f
	m, err := io.Copy(f, body)
	b.size += m
	return b, err
}

// reader returns a reader of the whole body from its start.
func (b *bufferedBody) reader() io.ReadCloser {
	if b.size == 0 {
		return nil // sent as no body (prepareBody)
	}
	if b.file == nil {
		return io.NopCloser(bytes.NewReader(b.mem))
	}
	return io.NopCloser(io.MultiReader(bytes.NewReader(b.mem), io.NewSectionReader(b.file, 0, b.size-int64(len(b.mem)))))
}

// close frees the temporary file.
func (b *bufferedBody) close() {
	if b.file != nil {
		b.file.Close()
	}
}

// buffersBody reports whether a request with a body to a route of
// protocol kind and settings u is buffered before it is sent.
func buffersBody(u *annotations.Upstream, kind *upstreamKind, contentLength int64) bool {
	if kind.protocol.HTTP2() {
		return false
	}
	return u == nil || !u.NoRequestBuffering || u.HTTP10 && contentLength < 0
}

// prepareBody buffers out's body when the route asks for it, and returns
// the buffer (nil: streamed). On a client error it has answered r.
func (p *Proxy) prepareBody(rec *responseRecorder, r, out *http.Request, ex *exchange, body *clientBody) (*bufferedBody, bool) {
	kind, err := p.kinds.kindOf(ex.route.Backend, r.TLS != nil)
	u := ex.route.Backend.Proxy.Upstream
	if body == nil || err != nil || !buffersBody(u, kind, out.ContentLength) {
		return nil, true
	}
	buf, err := bufferBody(body, u.BodyBufferSize())
	if err != nil {
		if buf != nil {
			buf.close()
		}
		if ex.clientBodyErr() == nil {
			ex.setBodyErr(err)
		}
		// No endpoint was reached: as nginx, which reads the body before
		// it connects, the request has no upstream to log ($upstream_addr
		// and the other $upstream_* "-").
		ex.tried = ex.tried[:0]
		p.handleError(rec, r, err)
		return nil, false
	}
	out.ContentLength = buf.size
	out.TransferEncoding = nil
	if buf.size == 0 {
		// An empty chunked body: no body, and a head that says
		// "Content-Length: 0" (writeHead), as nginx sends the length of
		// the body it read whole, where Request.Write would send an empty
		// chunked one.
		out.Body = nil
		out.Header["Content-Length"] = zeroLength
	}
	return buf, true
}

// zeroLength is the Content-Length field of an empty body read whole.
var zeroLength = []string{"0"}

// http10Writer rewrites the request line that Request.Write writes as
// HTTP/1.1 into HTTP/1.0 (proxy-http-version 1.0).
type http10Writer struct {
	w    io.Writer
	line []byte
	done bool
}

var errNoRequestLine = errors.New("request line without HTTP/1.1")

func (h *http10Writer) Write(p []byte) (int, error) {
	if h.done {
		return h.w.Write(p)
	}
	i := bytes.IndexByte(p, '\n')
	if i < 0 {
		h.line = append(h.line, p...)
		return len(p), nil
	}
	h.line = append(h.line, p[:i+1]...)
	h.done = true
	line, ok := bytes.CutSuffix(h.line, []byte(" HTTP/1.1\r\n"))
	if !ok {
		return 0, errNoRequestLine
	}
	if _, err := h.w.Write(append(line, " HTTP/1.0\r\n"...)); err != nil {
		return 0, err
	}
	n, err := h.w.Write(p[i+1:])
	return i + 1 + n, err
}

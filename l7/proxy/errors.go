package proxy

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"

	"github.com/weir-lb/weir/l7/h1guard"
)

// Reasons of weir_upstream_errors_total.
const (
	reasonConnectTimeout = "connect_timeout"
	reasonConnectRefused = "connect_refused"
	reasonConnectError   = "connect_error"
	reasonSendTimeout    = "send_timeout"
	reasonReadTimeout    = "read_timeout"
	reasonUpstreamError  = "upstream_error"
)

var upstreamErrorReasons = []string{
	reasonConnectTimeout, reasonConnectRefused, reasonConnectError,
	reasonSendTimeout, reasonReadTimeout, reasonUpstreamError,
}

// statusClientClosed is nginx's status for a client that went away before
// the response; it is recorded, never sent.
const statusClientClosed = 499

// handleError answers a request that got no response header from its
// upstream. It answers with the status err means and records err
// as the request's upstream error.
func (p *Proxy) handleError(w http.ResponseWriter, r *http.Request, err error) {
	ex := exchangeFrom(r.Context())
	if ex == nil {
		writeError(w, http.StatusBadGateway)
		return
	}
	var tooLarge *http.MaxBytesError
	switch bodyErr := ex.clientBodyErr(); {
	case errors.As(bodyErr, &tooLarge):
		// Through custom-http-errors when it lists 413, as nginx's 413
		// of the body read goes to the location's error_page. The rest of
		// the body is not worth reading: both close an HTTP/1 connection
		// (closeAfter; an HTTP/2 one stays, as nginx's).
		if rec, ok := w.(*responseRecorder); ok && p.interceptOwn(rec, r, http.StatusRequestEntityTooLarge, ex) {
			return
		}
		writeError(w, http.StatusRequestEntityTooLarge)
		return
	case bodyErr != nil && errors.Is(bodyErr, os.ErrDeadlineExceeded):
		// The client stopped sending its body for client_body_timeout:
		// nginx logs 408 but answers nothing (ngx_http_finalize_request
		// terminates the request on 408), and resets the connection
		// (ingress-nginx's reset_timedout_connection on).
		ex.status = http.StatusRequestTimeout
		resetNow(w)
		return
	case bodyErr != nil && (r.Context().Err() != nil || clientGone(bodyErr)):
		// The client failed while sending its body: closed or reset.
		ex.status = statusClientClosed
		return
	case bodyErr != nil:
		// The client is there but its body is malformed (bad chunked
		// framing, an HTTP/2 stream shorter than its Content-Length):
		// 400, and writeError closes an HTTP/1 connection, which cannot
		// be trusted further.
		writeError(w, http.StatusBadRequest)
		return
	case r.Context().Err() != nil:
		ex.status = statusClientClosed
		return
	}
	status, reason := classify(err)
	ex.fail(err, reason)
	if rec, ok := w.(*responseRecorder); ok && p.interceptOwn(rec, r, status, ex) { // customerrors.go
		return
	}
	writeError(w, status)
}

// resetNow ends w's connection with a reset and no answer, as nginx's
// reset_timedout_connection: the unsent response and the unread request
// are dropped at once. Over HTTP/2 only the stream is reset.
func resetNow(w http.ResponseWriter) {
	c, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if t, ok := h1guard.Innermost(c).(*net.TCPConn); ok {
		_ = t.SetLinger(0) // close sends RST
	}
	_ = c.Close()
}

// clientGone reports whether err, met reading the client's body, means the
// client closed or reset its connection.
func clientGone(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// classify maps an upstream error to the status nginx answers (504 for any
// timeout, else 502) and a weir_upstream_errors_total reason.
func classify(err error) (status int, reason string) {
	var de *dialError
	switch {
	case errors.Is(err, errConnectTimeout):
		return http.StatusGatewayTimeout, reasonConnectTimeout
	case errors.Is(err, errSendTimeout):
		return http.StatusGatewayTimeout, reasonSendTimeout
	case errors.Is(err, errReadTimeout):
		return http.StatusGatewayTimeout, reasonReadTimeout
	case errors.As(err, &de) && errors.Is(err, syscall.ECONNREFUSED):
		return http.StatusBadGateway, reasonConnectRefused
	case errors.As(err, &de):
		return http.StatusBadGateway, reasonConnectError
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return http.StatusGatewayTimeout, reasonReadTimeout
	}
	return http.StatusBadGateway, reasonUpstreamError
}

// writeError answers code with nginx's page for it, as ingress-nginx
// answers its own errors ("503 Service Temporarily Unavailable", "401
// Authorization Required": clients and tests look for those texts), of
// type text/html; a status nginx has no page for gets an empty body.
// After a 400, 413, 414, 500 or 501 of its own nginx ends an HTTP/1
// keep-alive connection (ngx_http_special_response_handler): so does
// Connection: close here, and what the client pipelined behind, or the
// rest of a refused body, is not read as a request.
func writeError(w http.ResponseWriter, code int) {
	page := h1guard.ErrorPage(code)
	h := w.Header()
	closeAfter(w, code)
	if page != "" {
		h.Set("Content-Type", "text/html")
	} else {
		h.Del("Content-Type")
	}
	h.Set("Content-Length", strconv.Itoa(len(page)))
	w.WriteHeader(code)
	_, _ = io.WriteString(w, page)
}

// closeAfter sets Connection: close on w's HTTP/1 response when code is
// one after which nginx ends a keep-alive connection (400, 413, 414, 500,
// 501: ngx_http_special_response_handler), whatever answers it: nginx's
// page, or a custom error page that replaces it.
func closeAfter(w http.ResponseWriter, code int) {
	switch code {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusRequestURITooLong,
		http.StatusInternalServerError, http.StatusNotImplemented:
		if isHTTP1(w) {
			w.Header().Set("Connection", "close")
		}
	}
}

// isHTTP1 reports whether w answers an HTTP/1 request: its writer can be
// hijacked (an HTTP/2 one cannot, and net/http's takes Connection: close
// there for a GOAWAY, which nginx does not send).
func isHTTP1(w http.ResponseWriter) bool {
	if rec, ok := w.(*responseRecorder); ok {
		w = rec.ResponseWriter
	}
	_, ok := w.(http.Hijacker)
	return ok
}

// logUpstreamError logs the upstream error of one request, once, with its
// route.
func (p *Proxy) logUpstreamError(r *http.Request, ex *exchange, status int, reason string, err error) {
	attrs := []slog.Attr{
		slog.String("reason", reason),
		slog.Int("status", status),
		slog.String("method", r.Method),
		slog.String("host", r.Host),
		slog.String("path", r.URL.Path),
		slog.String("request_id", ex.requestID),
		slog.Any("error", err),
	}
	if ex.route != nil {
		be := ex.route.Backend
		attrs = append(attrs,
			slog.String("namespace", be.Ingress.Namespace),
			slog.String("ingress", be.Ingress.Name),
			slog.String("service", be.Service))
	}
	if ex.upstream != nil {
		attrs = append(attrs, slog.String("upstream", ex.upstream.Addr))
	}
	p.log.LogAttrs(r.Context(), slog.LevelWarn, "upstream error", attrs...)
}

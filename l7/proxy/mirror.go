package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-lb/weir/l7/router"
	"github.com/weir-lb/weir/userspace/annotations"
)

const (
	// mirrorInFlight bounds the mirrored copies in flight per Proxy; more
	// are dropped.
	mirrorInFlight = 64
	// mirrorMaxBody is the largest request body mirrored; a request with
	// a larger one is not.
	mirrorMaxBody = 1 << 20
	// mirrorTimeout bounds one copy, from its start to its response's end.
	mirrorTimeout = 60 * time.Second
)

// mirrors sends the copies of mirror-target: fire and forget, never
// delaying or failing the request they copy.
type mirrors struct {
	sem     chan struct{} // a token per copy in flight
	client  *http.Client
	log     *slog.Logger
	dropped prometheus.Counter // nil: no metrics
}

func newMirrors(log *slog.Logger, reg *prometheus.Registry) *mirrors {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true}, // nginx's proxy_ssl_verify off
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     60 * time.Second,
		DisableCompression:  true,
	}
	m := &mirrors{sem: make(chan struct{}, mirrorInFlight), log: log,
		client: &http.Client{Transport: tr, Timeout: mirrorTimeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	if reg != nil {
		m.dropped = prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weir_mirror_dropped_total",
			Help: "Requests of a route with mirror-target not mirrored: 64 copies were in flight, or the body was over 1 MiB or failed to arrive.",
		})
		reg.MustRegister(m.dropped)
	}
	return m
}

// start arranges the copy of r for the route's mirror-target: at once
// without a body to send, else once the request's body has been read to
// its end (r.Body is wrapped to keep a copy of it).
func (m *mirrors) start(r *http.Request, route *router.Route) {
	cfg := route.Backend.Proxy.Mirror
	if cfg == nil || isUpgrade(r) {
		return
	}
	if cfg.NoBody || r.Body == nil || r.Body == http.NoBody {
		m.send(r, cfg, nil)
		return
	}
	r.Body = &mirrorBody{rc: r.Body, m: m, r: r, cfg: cfg}
}

// drop counts a copy not sent.
func (m *mirrors) drop() {
	if m.dropped != nil {
		m.dropped.Inc()
	}
}

// send starts the copy of r with body, unless mirrorInFlight are in
// flight.
func (m *mirrors) send(r *http.Request, cfg *annotations.Mirror, body []byte) {
	// nginx's proxy_pass in ingress-nginx's mirror location: a target
	// with $request_uri is that URI; one with a path gets the request's
	// arguments after it (the location's name is replaced by the path,
	// the arguments kept).
	target := cfg.Target
	if u, err := url.Parse(target); cfg.RequestURI || err == nil && u.Path == "" {
		target += r.URL.RequestURI()
	} else if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	h := r.Header.Clone()
	removeRequestHopHeaders(h)
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = []string{""} // Go's client adds none then; nginx none either
	}
	sem := m.sem
	select {
	case sem <- struct{}{}:
	default:
		m.drop()
		return
	}
	go m.mirrorCopy(sem, r.Method, target, cfg.Host, h, body)
}

// mirrorCopy sends one copy and reads its response away, then frees its
// token of sem.
func (m *mirrors) mirrorCopy(sem chan struct{}, method, target, host string, h http.Header, body []byte) {
	defer func() { <-sem }()
	req, err := http.NewRequestWithContext(context.Background(), method, target, bytes.NewReader(body))
	if err != nil {
		m.log.Debug("mirror request not sent", "target", target, "error", err)
		return
	}
	if body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	req.Header = h
	req.Host = host
	resp, err := m.client.Do(req)
	if err != nil {
		m.log.Debug("mirror request failed", "target", target, "error", err)
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, mirrorMaxBody))
	resp.Body.Close()
}

// mirrorRead reads the body of r to its end when a mirror waits for it,
// so that its copy goes though nothing else reads it (a route without
// endpoints), as nginx reads the body before its mirror subrequests.
func mirrorRead(r *http.Request) {
	if b, ok := r.Body.(*mirrorBody); ok {
		_, _ = io.Copy(io.Discard, b)
	}
}

// mirrorBody is a request body whose bytes are kept, up to mirrorMaxBody,
// for the copy sent when it ends.
type mirrorBody struct {
	rc   io.ReadCloser
	m    *mirrors
	r    *http.Request
	cfg  *annotations.Mirror
	buf  []byte
	done bool
}

func (b *mirrorBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if b.done {
		return n, err
	}
	if len(b.buf)+n > mirrorMaxBody {
		b.done = true
		b.buf = nil
		b.m.drop()
		return n, err
	}
	b.buf = append(b.buf, p[:n]...)
	switch {
	case err == io.EOF:
		b.done = true
		b.m.send(b.r, b.cfg, b.buf)
	case err != nil:
		b.done = true
		b.buf = nil
		b.m.drop()
	}
	return n, err
}

func (b *mirrorBody) Close() error { return b.rc.Close() }

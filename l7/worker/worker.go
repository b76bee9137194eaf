// Package worker is the worker process of Weir's multi-process mode: one per
// core, started by the supervisor (userspace/supervisor) as the hidden
// `weir worker` command. A worker inherits its listening sockets (one
// SO_REUSEPORT socket per port, owned by the supervisor) and a unix socket to
// the supervisor; it runs the same l7/proxy and l7/certs as the in-process
// mode, applies every Snapshot (or Delta from its live Snapshot) the
// supervisor sends and acknowledges its version, and answers metric requests
// with its own registry.
//
// The worker accepts connections only after its first Snapshot is live: until
// then they wait in the socket's accept queue, which survives the worker
// because the supervisor keeps its copy of the socket.
package worker

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"

	"github.com/weir-lb/weir/l7/certs"
	"github.com/weir-lb/weir/l7/connlimit"
	"github.com/weir-lb/weir/l7/drain"
	"github.com/weir-lb/weir/l7/h1guard"
	"github.com/weir-lb/weir/l7/h1server"
	"github.com/weir-lb/weir/l7/passthrough"
	"github.com/weir-lb/weir/l7/proxy"
	"github.com/weir-lb/weir/l7/proxyproto"
	"github.com/weir-lb/weir/l7/tcplisten"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// The inherited file descriptors of a worker process (exec.Cmd.ExtraFiles
// start at 3).
const (
	// FDControl is the unix stream socket to the supervisor.
	FDControl = 3
	// FDHTTP is the plain HTTP listening socket.
	FDHTTP = 4
	// FDHTTPS is the HTTPS listening socket.
	FDHTTPS = 5
	// FDConnTable is the memfd of the limit-connections table, with
	// --conn-table-slot.
	FDConnTable = 6
)

// Config configures a worker.
type Config struct {
	// CPU is the core the worker is pinned to, the cpu label of
	// weir_worker_connections_total. Negative means not pinned (-1).
	CPU int
	// Control is the connection to the supervisor. Required.
	Control net.Conn
	// HTTP is the plain HTTP listener. Required.
	HTTP net.Listener
	// HTTPS is the HTTPS listener. Nil means no HTTPS.
	HTTPS net.Listener
	// HTTPSPort is written in ssl-redirect Locations; 0 and 443 write none.
	HTTPSPort int
	// ConnTable counts limit-connections for the node; ConnTableSlot is the
	// worker's slot in it. Nil means a Table of the worker's own.
	ConnTable     *connlimit.Table
	ConnTableSlot int
	// CountUndefinedHosts counts the requests for hosts no Ingress defines
	// in the request metrics (proxy.Options.CountUndefinedHosts). Default
	// false.
	CountUndefinedHosts bool
	// AccessLog receives one JSON line per request. Nil means none.
	AccessLog io.Writer
	// HTTP1Server serves HTTP/1.x on both listeners (l7/h1server.Kind). ""
	// means h1server.DefaultKind.
	HTTP1Server h1server.Kind
	// ShutdownTimeout bounds the drain when the worker stops without a
	// MsgDrain (a signal, or the supervisor gone). Default 10s.
	ShutdownTimeout time.Duration
	// Logger receives the worker's log. Nil means slog.Default().
	Logger *slog.Logger
}

// Run serves until the supervisor sends MsgDrain, ctx is done or the
// supervisor closes the control socket, then drains (l7/drain): the
// listeners accept what their queues hold and stop (the sockets stay open in
// the supervisor), requests in flight finish within the Drain's timeout
// (ShutdownTimeout without one) and WebSockets then get a close frame.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	log := cfg.Logger
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	conns := newConnMetrics(reg)
	mgr, err := certs.NewManager(certs.Options{})
	if err != nil {
		return fmt.Errorf("start tls: %w", err)
	}
	px := proxy.New(proxy.Options{Logger: log, AccessLog: cfg.AccessLog, Registry: reg, HTTPSPort: cfg.HTTPSPort,
		ConnTable: cfg.ConnTable, ConnTableWorker: cfg.ConnTableSlot, CountUndefinedHosts: cfg.CountUndefinedHosts})
	guard := h1guard.New(h1guard.Options{Logger: log, Registry: reg, Source: px, H2C: true})
	limits := connlimit.New(connlimit.Options{Source: px, Registry: reg})

	httpSrv := &http.Server{
		Handler:           guard.Handler(px),            // HTTP/2 requests of h2c checked
		Protocols:         h1guard.ClearTextProtocols(), // HTTP/1.1 and h2c, as nginx with http2 on
		ConnState:         px.ConnState,
		ReadHeaderTimeout: 60 * time.Second,     // nginx client_header_timeout
		HTTP2:             proxy.HTTP2Config(),  // nginx's http2_max_concurrent_streams
		MaxHeaderBytes:    proxy.MaxHeaderBytes, // a bound on an HTTP/2 header block
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	tlsCfg := mgr.TLSConfig()
	httpsSrv := &http.Server{
		Handler:           guard.TLSHandler(px),
		ConnContext:       h1guard.ConnContext,
		ConnState:         px.ConnState,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 60 * time.Second,
		HTTP2:             proxy.HTTP2Config(),
		MaxHeaderBytes:    proxy.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	limits.Configure(httpSrv) // keep-alive from the live configuration
	limits.Configure(httpsSrv)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 3)
	var serveOnce sync.Once
	var servers []drain.Server
	serve := func() {
		serveOnce.Do(func() {
			counted := func(ln net.Listener, policy proxyproto.Policy) net.Listener {
				return proxyproto.Wrap(limits.Listener(conns.wrap(ln, cfg.CPU)), policy)
			}
			servers = append(servers, h1server.ServePlain(cfg.HTTP1Server, "http", httpSrv, guard, cfg.HTTP, func(ln net.Listener) net.Listener {
				return counted(ln, px)
			}, errc))
			if cfg.HTTPS != nil {
				servers = append(servers, h1server.ServeTLS(cfg.HTTP1Server, "https", httpsSrv, guard, cfg.HTTPS, tlsCfg, func(ln net.Listener) net.Listener {
					return passthrough.Wrap(counted(ln, px.HTTPSPolicy()), px, log)
				}, errc))
			}
		})
	}
	drainc := make(chan Drain, 1)
	c := &control{conn: cfg.Control, r: bufio.NewReader(cfg.Control), reg: reg, px: px, certs: mgr, log: log, onLive: serve,
		frames: newFrameMetrics(reg), drain: drainc}
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		err := c.loop()
		if err != nil && !errors.Is(err, io.EOF) && ctx.Err() == nil {
			errc <- fmt.Errorf("control socket: %w", err)
			return
		}
		log.Info("supervisor closed the control socket: stopping")
		cancel()
	}()
	var runErr error
	d := Drain{Timeout: cfg.ShutdownTimeout}
	if d.Timeout <= 0 {
		d.Timeout = 10 * time.Second
	}
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	case d = <-drainc:
		log.Info("draining", "timeout", d.Timeout, "refused", d.Refused)
	}
	// serveOnce: no listener starts once the drain began, so servers is
	// final.
	serveOnce.Do(func() {})
	drain.Shutdown(servers, px, drain.Options{Refused: d.Refused, HandedOver: d.HandedOver, Timeout: d.Timeout, Logger: log})
	px.Close()
	cfg.Control.Close()
	<-loopDone
	return runErr
}

// control serves the supervisor's requests, one at a time, in order.
type control struct {
	conn   net.Conn
	r      *bufio.Reader
	reg    *prometheus.Registry
	px     *proxy.Proxy
	certs  *certs.Manager
	log    *slog.Logger
	onLive func()
	frames *prometheus.CounterVec
	// drain receives the supervisor's MsgDrain.
	drain chan<- Drain
	// live is the Snapshot whose Version the worker acks: the base of the
	// next Delta. Nil before the first.
	live *snapshot.Snapshot
}

// newFrameMetrics counts configuration frames by kind (full, delta) and
// result (live: its version went live; refused: the worker kept its live
// configuration).
func newFrameMetrics(reg prometheus.Registerer) *prometheus.CounterVec {
	m := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "weir_worker_config_frames_total",
		Help: "Configurations received from the supervisor, by kind (full: a whole Snapshot, delta: the change from the live one) and result (live, or refused: the previous configuration stays live).",
	}, []string{"kind", "result"})
	for _, kind := range []string{"full", "delta"} {
		for _, result := range []string{"live", "refused"} {
			m.WithLabelValues(kind, result)
		}
	}
	reg.MustRegister(m)
	return m
}

func (c *control) loop() error {
	for {
		t, payload, err := ReadFrame(c.r)
		if err != nil {
			return err
		}
		switch t {
		case MsgSnapshot:
			if err := WriteJSON(c.conn, MsgAck, c.applySnapshot(payload)); err != nil {
				return err
			}
		case MsgDelta:
			if err := WriteJSON(c.conn, MsgAck, c.applyDelta(payload)); err != nil {
				return err
			}
		case MsgGather:
			b, err := c.gather()
			if err != nil {
				c.log.Error("gather metrics", "error", err)
			}
			if err := WriteFrame(c.conn, MsgMetrics, b); err != nil {
				return err
			}
		case MsgTickets:
			var tk Tickets
			if err := json.Unmarshal(payload, &tk); err != nil {
				c.log.Error("decode session ticket keys", "error", err)
				continue
			}
			c.certs.Tickets().Set(tk.Current, tk.Previous)
		case MsgDrain:
			var d Drain
			if err := json.Unmarshal(payload, &d); err != nil {
				c.log.Error("decode drain: draining with the defaults", "error", err)
			}
			select {
			case c.drain <- d:
			default: // already draining
			}
		default:
			return fmt.Errorf("unexpected frame type %d", t)
		}
	}
}

// applySnapshot makes the Snapshot of a MsgSnapshot payload live. One that
// cannot be decoded keeps the live one and is acked with the live version
// and the error.
func (c *control) applySnapshot(payload []byte) Ack {
	var s snapshot.Snapshot
	if err := json.Unmarshal(payload, &s); err != nil {
		return c.refuse("full", fmt.Errorf("decode snapshot: %w", err))
	}
	return c.apply("full", &s)
}

// applyDelta makes live the Snapshot that the Delta of a MsgDelta payload
// gives from the live one; its unchanged Servers are the live Snapshot's
// own, so the router reuses them cheaply. A Delta that cannot be decoded or
// whose base is not the live Snapshot keeps the live one and is acked with
// the live version and the error.
func (c *control) applyDelta(payload []byte) Ack {
	var d snapshot.Delta
	if err := json.Unmarshal(payload, &d); err != nil {
		return c.refuse("delta", fmt.Errorf("decode snapshot delta: %w", err))
	}
	base := c.live
	if base == nil {
		base = &snapshot.Snapshot{}
	}
	s, err := d.Apply(base)
	if err != nil {
		return c.refuse("delta", err)
	}
	return c.apply("delta", s)
}

// refuse acks the live version with err, for a configuration frame of kind
// that was not applied.
func (c *control) refuse(kind string, err error) Ack {
	c.frames.WithLabelValues(kind, "refused").Inc()
	c.log.Warn("configuration refused: the live one stays", "kind", kind, "version", c.px.Version(), "error", err)
	return Ack{Version: c.px.Version(), Error: err.Error()}
}

// apply makes s live: its certificates once its routes compiled, then its
// routes (proxy.ApplyWith), so a refused Snapshot changes nothing. s becomes
// the base of the next Delta once the router took it.
func (c *control) apply(kind string, s *snapshot.Snapshot) Ack {
	var ack Ack
	if err := c.px.ApplyWith(s, c.certs.Apply); err != nil {
		ack.Error = err.Error()
	}
	ack.Version = c.px.Version()
	result := "refused"
	if c.px.Live() && ack.Version == s.Version {
		c.live = s
		result = "live"
	}
	c.frames.WithLabelValues(kind, result).Inc()
	if c.px.Live() {
		c.onLive()
	}
	return ack
}

func (c *control) gather() ([]byte, error) {
	mfs, err := c.reg.Gather()
	var buf bytesBuffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeProtoDelim))
	for _, mf := range mfs {
		if e := enc.Encode(mf); e != nil {
			return buf.b, errors.Join(err, e)
		}
	}
	return buf.b, err
}

type bytesBuffer struct{ b []byte }

func (b *bytesBuffer) Write(p []byte) (int, error) { b.b = append(b.b, p...); return len(p), nil }

// Pin makes the process run with GOMAXPROCS=1. The supervisor pins the
// process to its core before exec (the child inherits the mask); Pin reports
// whether the mask holds exactly cpu.
func Pin(cpu int) error {
	runtime.GOMAXPROCS(1)
	if cpu < 0 {
		return nil
	}
	return checkAffinity(cpu)
}

// Listener turns an inherited listening socket into a net.Listener.
func Listener(fd uintptr, name string) (net.Listener, error) {
	f := os.NewFile(fd, name)
	if f == nil {
		return nil, fmt.Errorf("inherit %s: no file descriptor %d", name, fd)
	}
	defer f.Close() // FileListener holds a dup
	ln, err := tcplisten.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("inherit %s (fd %d): %w", name, fd, err)
	}
	return ln, nil
}

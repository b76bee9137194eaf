// Package daemon assembles Weir in one process: the configuration source, the
// controller that builds Snapshots, the L7 proxy on the HTTP port and, with TLS
// termination, on the HTTPS port, and the metrics server with /metrics, /healthz, /readyz and /config. It is the
// --workers=0 mode, used for development and by most tests.
package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/weir-lb/weir/l7/certs"
	"github.com/weir-lb/weir/l7/connlimit"
	"github.com/weir-lb/weir/l7/drain"
	"github.com/weir-lb/weir/l7/h1guard"
	"github.com/weir-lb/weir/l7/h1server"
	"github.com/weir-lb/weir/l7/passthrough"
	"github.com/weir-lb/weir/l7/proxy"
	"github.com/weir-lb/weir/l7/proxyproto"
	"github.com/weir-lb/weir/l7/stream"
	"github.com/weir-lb/weir/l7/tcplisten"
	"github.com/weir-lb/weir/userspace/controller"
	"github.com/weir-lb/weir/userspace/datapath"
	"github.com/weir-lb/weir/userspace/manifest"
	"github.com/weir-lb/weir/userspace/nginxmetrics"
	"github.com/weir-lb/weir/userspace/snapshot"
	"github.com/weir-lb/weir/userspace/upgrade"
)

// Config configures a Daemon. Ports of 0 pick a free port (tests).
type Config struct {
	// BindAddress is the address the HTTP and HTTPS listeners bind. Empty
	// means all addresses. Default "".
	BindAddress string
	// HTTPPort is the plain HTTP listener port. Default 80 as root, else 8080.
	HTTPPort int
	// HTTPSPort is the HTTPS listener port (TLS 1.2 and 1.3, HTTP/2 and
	// HTTP/1.1). Default 443 as root, else 8443.
	HTTPSPort int
	// TicketRotation is how often the TLS session ticket key rotates. Zero
	// means certs.DefaultTicketRotation (1h).
	TicketRotation time.Duration
	// MetricsPort serves /metrics, /healthz, /readyz and /config. Default 10254.
	MetricsPort int
	// MetricsAddress is the address the metrics listener binds. Empty means
	// all addresses. Default "".
	MetricsAddress string
	// HealthPath is the path of the health check on the metrics port
	// (ingress-nginx's --health-check-path). Default "/healthz".
	HealthPath string
	// Profiling serves Go's profiles (net/http/pprof) under /debug/pprof/
	// on the metrics port, to loopback clients only
	// (controller.ProfilesHandler). Default false.
	Profiling bool
	// Manifests is the folder of YAML manifests to serve. Required unless
	// Source is set.
	Manifests string
	// ManifestLimit is the largest manifest file read, in bytes (a larger
	// one is skipped and reported). Zero means manifest.DefaultMaxFileSize
	// (4 MiB).
	ManifestLimit int64
	// Source, when set, replaces the folder source (the cluster source).
	// Nil means the folder source on Manifests.
	Source Source
	// Registry serves /metrics. Nil means a new registry.
	Registry *prometheus.Registry
	// RequestMetrics shapes the request metrics /metrics serves
	// (--metrics-per-host and its kin). Nil means ingress-nginx's defaults
	// (nginxmetrics.DefaultOptions).
	RequestMetrics *nginxmetrics.Options
	// Controller selects the Ingresses served.
	Controller controller.Options
	// Publishers also receive each new Snapshot, after the proxy (e.g. the
	// XDP source lists). Nil means none.
	Publishers []controller.Publisher
	// AccessLog receives one JSON line per request. Nil means none.
	AccessLog io.Writer
	// HTTP1Server serves HTTP/1.x on both listeners (l7/h1server.Kind). ""
	// means h1server.DefaultKind.
	HTTP1Server h1server.Kind
	// ShutdownGracePeriod is how long, after the stop signal, /healthz and
	// /readyz fail while serving goes on (ingress-nginx's
	// --shutdown-grace-period). Default 0.
	ShutdownGracePeriod time.Duration
	// WorkerShutdownTimeout is how long requests in flight and WebSockets
	// may go on once the proxy drains (ingress-nginx's
	// worker-shutdown-timeout); WebSockets then get a close frame (1001).
	// Zero means drain.DefaultTimeout (240s).
	WorkerShutdownTimeout time.Duration
	// PostShutdownGracePeriod is how long Run waits after the drain before
	// it returns, the metrics port still answering (ingress-nginx's
	// --post-shutdown-grace-period). Default 0 (the flag's is 10s).
	PostShutdownGracePeriod time.Duration
	// Listeners, when set, are the HTTP, HTTPS and metrics listening
	// sockets to serve on, in that order, instead of binding new ones: those
	// a running Weir handed over (userspace/upgrade), which serves them
	// until this one's configuration is live (the proxy accepts only
	// then, on any listener). Nil means bind.
	Listeners []*os.File
	// Logger receives Weir's own log. Nil means slog.Default().
	Logger *slog.Logger
}

// Source feeds objects to the daemon. Run calls sync after each change
// (sync builds and publishes a Snapshot, and returns the live one and
// whether it changed) until ctx is done.
type Source interface {
	Run(ctx context.Context, sync func(objs snapshot.Objects, problems []error) (*snapshot.Snapshot, bool)) error
}

// Daemon is one in-process Weir.
type Daemon struct {
	cfg      Config
	log      *slog.Logger
	registry *prometheus.Registry
	proxy    *proxy.Proxy
	guard    *h1guard.Guard     // strict HTTP/1.1 framing on the HTTP and HTTPS listeners
	limits   *connlimit.Limiter // keep-alive and max-worker-connections on both listeners
	certs    *certs.Manager
	ctrl     *controller.Controller
	source   *manifest.Source // nil when cfg.Source is set
	streams  *stream.Server   // the TCP and UDP services

	httpLn    net.Listener
	httpsLn   net.Listener
	metricsLn net.Listener

	// stopping is set once the stop signal came: /healthz and /readyz
	// fail.
	stopping atomic.Bool
	// live is closed once the proxy has a configuration.
	live chan struct{}
}

// New binds the listeners and prepares the parts; Run starts serving.
func New(cfg Config) (*Daemon, error) {
	if cfg.Manifests == "" && cfg.Source == nil {
		return nil, errors.New("start weir: no configuration source: pass --manifests DIR")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	d := &Daemon{cfg: cfg, log: cfg.Logger, registry: cfg.Registry}
	if d.registry == nil {
		d.registry = prometheus.NewRegistry()
	}
	d.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		nginxmetrics.NewBuildInfo(),
		nginxmetrics.NewProcessCollector(func() []int { return []int{os.Getpid()} }),
	)
	var err error
	if d.certs, err = certs.NewManager(certs.Options{}); err != nil {
		return nil, fmt.Errorf("start tls: %w", err)
	}
	if cfg.Listeners != nil {
		if err := d.adopt(cfg.Listeners); err != nil {
			return nil, err
		}
	} else if d.httpsLn, err = listenProxy(cfg.BindAddress, cfg.HTTPSPort); err != nil {
		return nil, fmt.Errorf("listen for https: %w", err)
	}
	httpsPort := d.httpsLn.Addr().(*net.TCPAddr).Port
	d.proxy = proxy.New(proxy.Options{Logger: cfg.Logger, AccessLog: cfg.AccessLog, Registry: d.registry, HTTPSPort: httpsPort,
		CountUndefinedHosts: nginxmetrics.OptionsOrDefault(cfg.RequestMetrics).CountUndefinedHosts()})
	d.guard = h1guard.New(h1guard.Options{Logger: cfg.Logger, Registry: d.registry, Source: d.proxy, H2C: true})
	d.limits = connlimit.New(connlimit.Options{Source: d.proxy, Registry: d.registry})
	ctrlOpts := cfg.Controller
	ctrlOpts.Logger = cfg.Logger
	ctrlOpts.Registry = d.registry
	// Certificates once the routes compiled, before they are live
	// (proxy.ApplyWith).
	d.live = make(chan struct{})
	var liveOnce sync.Once
	d.streams = stream.New(stream.Options{BindAddress: cfg.BindAddress, Registry: d.registry, Logger: cfg.Logger, AccessLog: cfg.AccessLog})
	d.ctrl = controller.New(ctrlOpts, append([]controller.Publisher{publisher(func(s *snapshot.Snapshot) error {
		err := d.proxy.ApplyWith(s, d.certs.Apply)
		if d.proxy.Live() {
			liveOnce.Do(func() { close(d.live) })
		}
		return err
	}), d.streams}, cfg.Publishers...)...)
	if cfg.Source == nil {
		d.source = manifest.NewSource(cfg.Manifests, manifest.Options{Logger: cfg.Logger, MaxFileSize: cfg.ManifestLimit})
	}

	if cfg.Listeners != nil {
		return d, nil
	}
	if d.httpLn, err = listenProxy(cfg.BindAddress, cfg.HTTPPort); err != nil {
		d.httpsLn.Close()
		return nil, fmt.Errorf("listen for http: %w", err)
	}
	if d.metricsLn, err = listen(cfg.MetricsAddress, cfg.MetricsPort); err != nil {
		d.httpLn.Close()
		d.httpsLn.Close()
		return nil, fmt.Errorf("listen for metrics: %w", err)
	}
	return d, nil
}

func listen(host string, port int) (net.Listener, error) {
	return net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
}

// listenProxy opens a proxy listener as a group of one SO_REUSEPORT socket,
// so that datapath.Refuse can make the kernel refuse new connections while
// the queued ones are served at shutdown. An empty host means all addresses
// (dual-stack).
func listenProxy(host string, port int) (net.Listener, error) {
	addr, err := datapath.ParseBindAddress(host)
	if err != nil {
		return nil, err
	}
	f, err := datapath.ListenReuseport(netip.AddrPortFrom(addr, uint16(port)), 4096)
	if err != nil {
		return nil, err
	}
	defer f.Close() // FileListener holds a dup
	ln, err := tcplisten.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", f.Name(), err)
	}
	return ln, nil
}

// adopt serves on the HTTP, HTTPS and metrics sockets files
// (Config.Listeners), and closes files.
func (d *Daemon) adopt(files []*os.File) error {
	if len(files) != 3 {
		return fmt.Errorf("serve on handed-over sockets: %d sockets, want 3 (http, https, metrics)", len(files))
	}
	lns := make([]net.Listener, len(files))
	for i, f := range files {
		ln, err := tcplisten.FileListener(f)
		if err != nil {
			for _, l := range lns[:i] {
				l.Close()
			}
			return fmt.Errorf("serve on handed-over socket %s: %w", f.Name(), err)
		}
		lns[i] = ln
	}
	for _, f := range files {
		f.Close() // each listener holds a copy
	}
	d.httpLn, d.httpsLn, d.metricsLn = lns[0], lns[1], lns[2]
	return nil
}

// ListenerFiles returns copies of the HTTP, HTTPS and metrics listening
// sockets and their names, in the order Config.Listeners takes them: what
// this Weir hands to the next (userspace/upgrade).
func (d *Daemon) ListenerFiles() ([]*os.File, []string, error) {
	names := []string{"http", "https", "metrics"}
	var files []*os.File
	for i, ln := range []net.Listener{d.httpLn, d.httpsLn, d.metricsLn} {
		f, err := ln.(*net.TCPListener).File()
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil, nil, fmt.Errorf("copy %s listener: %w", names[i], err)
		}
		files = append(files, f)
	}
	return files, names, nil
}

// HTTPAddr is the address of the HTTP listener.
func (d *Daemon) HTTPAddr() string { return d.httpLn.Addr().String() }

// HTTPSAddr is the address of the HTTPS listener.
func (d *Daemon) HTTPSAddr() string { return d.httpsLn.Addr().String() }

// Certificates serves the certificates of the live configuration.
func (d *Daemon) Certificates() *certs.Manager { return d.certs }

// MetricsAddr is the address of the metrics listener.
func (d *Daemon) MetricsAddr() string { return d.metricsLn.Addr().String() }

// LiveVersion is the configuration version the proxy serves (0: none yet).
func (d *Daemon) LiveVersion() uint64 { return d.proxy.Version() }

// Live returns the live Snapshot, or nil before the first.
func (d *Daemon) Live() *snapshot.Snapshot { return d.ctrl.Live() }

// Registry is the Prometheus registry served on /metrics.
func (d *Daemon) Registry() *prometheus.Registry { return d.registry }

// Run serves until ctx is done, then shuts down as ingress-nginx does:
// /healthz and /readyz fail for ShutdownGracePeriod while serving goes on;
// then the kernel refuses new connections (datapath.Refuse, where BPF is
// available) and the proxy drains (l7/drain: what the accept queues hold is
// served with Connection: close, requests in flight get
// WorkerShutdownTimeout, then WebSockets get a close frame); Run returns
// PostShutdownGracePeriod later. When ctx ends with upgrade.ErrHandedOver,
// the proxy drains at once and without refusing (a new Weir accepts from
// the same sockets) and Run returns when it drained.
func (d *Daemon) Run(ctx context.Context) error {
	d.log.Info("weir starting", "mode", "in-process", "workers", 0,
		"http", d.HTTPAddr(), "https", d.HTTPSAddr(), "metrics", d.MetricsAddr(), "manifests", d.cfg.Manifests)

	proxySrv := &http.Server{
		Handler:           d.guard.Handler(d.proxy),     // HTTP/2 requests of h2c checked
		Protocols:         h1guard.ClearTextProtocols(), // HTTP/1.1 and h2c, as nginx with http2 on
		ConnState:         d.proxy.ConnState,
		ReadHeaderTimeout: 60 * time.Second,     // nginx client_header_timeout
		HTTP2:             proxy.HTTP2Config(),  // nginx's http2_max_concurrent_streams
		MaxHeaderBytes:    proxy.MaxHeaderBytes, // a bound on an HTTP/2 header block
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelDebug),
	}
	// The listener, not ServeTLS, holds the tls.Config: ServeTLS would serve
	// a clone, which the session ticket key rotation would not reach.
	tlsCfg := d.certs.TLSConfig()
	httpsSrv := &http.Server{
		Handler:           d.guard.TLSHandler(d.proxy),
		ConnContext:       h1guard.ConnContext,
		ConnState:         d.proxy.ConnState,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 60 * time.Second,
		HTTP2:             proxy.HTTP2Config(),
		MaxHeaderBytes:    proxy.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelDebug),
	}
	d.limits.Configure(proxySrv) // keep-alive from the live configuration
	d.limits.Configure(httpsSrv)
	// Requests end with ctx: a /config?after= long poll does not hold up
	// the shutdown.
	metricsSrv := controller.MetricsServer(ctx, d.metricsHandler())

	serveCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 4)
	var wg sync.WaitGroup
	var servers []drain.Server
	serveProxy := func() {
		servers = []drain.Server{
			h1server.ServePlain(d.cfg.HTTP1Server, "http", proxySrv, d.guard, d.httpLn, func(ln net.Listener) net.Listener {
				return proxyproto.Wrap(d.limits.Listener(ln), d.proxy)
			}, errc),
			h1server.ServeTLS(d.cfg.HTTP1Server, "https", httpsSrv, d.guard, d.httpsLn, tlsCfg, func(ln net.Listener) net.Listener {
				return passthrough.Wrap(proxyproto.Wrap(d.limits.Listener(ln), d.proxy.HTTPSPolicy()), d.proxy, d.log)
			}, errc),
		}
	}
	wg.Add(3)
	go func() {
		defer wg.Done()
		d.certs.Tickets().RotateEvery(serveCtx, d.cfg.TicketRotation)
	}()
	go func() {
		defer wg.Done()
		if err := metricsSrv.Serve(d.metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("serve metrics: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		if d.cfg.Source != nil {
			if err := d.cfg.Source.Run(serveCtx, d.ctrl.Sync); err != nil && serveCtx.Err() == nil {
				errc <- fmt.Errorf("watch configuration source: %w", err)
			}
			return
		}
		if err := d.source.Run(serveCtx, d.onUpdate); err != nil && serveCtx.Err() == nil {
			errc <- fmt.Errorf("watch manifests %s: %w", d.cfg.Manifests, err)
		}
	}()

	var runErr error
	if servers == nil {
		// The proxy accepts once its first configuration is live, as a
		// worker does: until then connections wait in the listening
		// sockets' accept queues rather than meet an empty configuration
		// (503 for every request). Handed-over sockets meanwhile are served
		// by the old Weir.
		select {
		case <-ctx.Done():
		case runErr = <-errc:
		case <-d.live:
			serveProxy()
		}
	}
	if servers != nil {
		select {
		case <-ctx.Done():
		case runErr = <-errc:
		}
	}
	d.stopping.Store(true)
	// Handed over, the sockets live on in the new Weir, which serves: no
	// grace periods, no refusal, and its metrics server answers.
	handedOver := errors.Is(context.Cause(ctx), upgrade.ErrHandedOver)
	if handedOver {
		_ = metricsSrv.Close()
	}
	if runErr == nil && !handedOver && d.cfg.ShutdownGracePeriod > 0 {
		d.log.Info("shutting down: /healthz and /readyz fail, serving goes on", "shutdown-grace-period", d.cfg.ShutdownGracePeriod)
		time.Sleep(d.cfg.ShutdownGracePeriod)
	}
	refused := !handedOver && d.refuse()
	timeout := d.cfg.WorkerShutdownTimeout
	if live := d.ctrl.Live(); live != nil {
		timeout = live.Global.ShutdownTimeout(timeout)
	}
	d.log.Info("shutting down: draining", "worker-shutdown-timeout", timeout, "refused", refused, "handed-over", handedOver)
	streamsDrained := d.streams.Drain(timeout)
	drain.Shutdown(servers, d.proxy, drain.Options{Refused: refused, HandedOver: handedOver, Timeout: timeout, Logger: d.log})
	streamsDrained()
	d.proxy.Close() // the access-log lines buffered
	cancel()
	if !handedOver && d.cfg.PostShutdownGracePeriod > 0 {
		d.log.Info("drained: waiting before exit", "post-shutdown-grace-period", d.cfg.PostShutdownGracePeriod)
		time.Sleep(d.cfg.PostShutdownGracePeriod)
	}
	shutdownCtx, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	_ = metricsSrv.Shutdown(shutdownCtx)
	wg.Wait()
	d.log.Info("weir stopped")
	return runErr
}

// refuse makes the kernel refuse new connections on both proxy listeners,
// their queued connections kept for the drain (datapath.Refuse), and
// reports whether it did for both.
func (d *Daemon) refuse() bool {
	ok := true
	for _, ln := range []net.Listener{d.httpLn, d.httpsLn} {
		err := errors.New("not a socket")
		if sc, isSock := ln.(syscall.Conn); isSock {
			err = datapath.Refuse(sc)
		}
		if err != nil {
			d.log.Warn("new connections are not refused while the proxy drains: those arriving as a listener closes are reset",
				"listener", ln.Addr().String(), "error", err)
			ok = false
		}
	}
	return ok
}

func (d *Daemon) onUpdate(u manifest.Update) {
	problems := make([]error, len(u.Problems))
	for i := range u.Problems {
		problems[i] = u.Problems[i]
	}
	d.ctrl.Sync(u.Objects, problems)
}

// errShuttingDown is what /healthz and /readyz answer once the stop signal
// came, as ingress-nginx's health check says it.
const errShuttingDown = "the ingress controller is shutting down"

func (d *Daemon) metricsHandler() http.Handler {
	mux := http.NewServeMux()
	g := nginxmetrics.Gatherer(d.registry, nginxmetrics.IdentityFromEnv(d.cfg.Controller.Build.ControllerClass), nginxmetrics.OptionsOrDefault(d.cfg.RequestMetrics))
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{Registry: d.registry}))
	mux.HandleFunc(cmp.Or(d.cfg.HealthPath, "/healthz"), func(w http.ResponseWriter, _ *http.Request) {
		// 500, as ingress-nginx's health check answers a failed check
		// (its e2e gracefulshutdown/grace_period.go waits for it).
		if d.stopping.Load() {
			http.Error(w, errShuttingDown, http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok\n")
	})
	mux.Handle("/config", d.ctrl.ConfigHandler())
	if d.cfg.Profiling {
		mux.Handle("/debug/pprof/", controller.ProfilesHandler()) // to loopback clients only
	}
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if d.stopping.Load() {
			http.Error(w, errShuttingDown, http.StatusServiceUnavailable)
			return
		}
		if !d.proxy.Live() {
			http.Error(w, "no configuration live yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "ok: configuration version %d live\n", d.proxy.Version())
	})
	return mux
}

// publisher adapts a function to controller.Publisher.
type publisher func(*snapshot.Snapshot) error

func (f publisher) Apply(s *snapshot.Snapshot) error { return f(s) }

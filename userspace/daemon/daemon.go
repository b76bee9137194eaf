// Package daemon assembles Weir in one process: the configuration source, the
// controller that builds Snapshots, the L7 proxy on the HTTP port and, with TLS
// termination, on the HTTPS port, and the metrics server with /metrics, /healthz, /readyz and /config. It is the
// --workers=0 mode, used for development and by most tests.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof/ on http.DefaultServeMux, served with Profiling
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/weir-lb/weir/l7/certs"
	"github.com/weir-lb/weir/l7/h1guard"
	"github.com/weir-lb/weir/l7/proxy"
	"github.com/weir-lb/weir/userspace/controller"
	"github.com/weir-lb/weir/userspace/manifest"
	"github.com/weir-lb/weir/userspace/snapshot"
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
	// Profiling serves Go's profiles (net/http/pprof) under /debug/pprof/
	// on the metrics port. Default false.
	Profiling bool
	// Manifests is the folder of YAML manifests to serve. Required unless
	// Source is set.
	Manifests string
	// Source, when set, replaces the folder source (the cluster source).
	// Nil means the folder source on Manifests.
	Source Source
	// Registry serves /metrics. Nil means a new registry.
	Registry *prometheus.Registry
	// Controller selects the Ingresses served.
	Controller controller.Options
	// Publishers also receive each new Snapshot, after the proxy (e.g. the
	// XDP source lists). Nil means none.
	Publishers []controller.Publisher
	// AccessLog receives one JSON line per request. Nil means none.
	AccessLog io.Writer
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
	guard    *h1guard.Guard // strict HTTP/1.1 framing on the HTTP and HTTPS listeners
	certs    *certs.Manager
	ctrl     *controller.Controller
	source   *manifest.Source // nil when cfg.Source is set

	httpLn    net.Listener
	httpsLn   net.Listener
	metricsLn net.Listener
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
	)
	var err error
	if d.certs, err = certs.NewManager(certs.Options{}); err != nil {
		return nil, fmt.Errorf("start tls: %w", err)
	}
	if d.httpsLn, err = listen(cfg.BindAddress, cfg.HTTPSPort); err != nil {
		return nil, fmt.Errorf("listen for https: %w", err)
	}
	httpsPort := d.httpsLn.Addr().(*net.TCPAddr).Port
	d.proxy = proxy.New(proxy.Options{Logger: cfg.Logger, AccessLog: cfg.AccessLog, Registry: d.registry, HTTPSPort: httpsPort})
	d.guard = h1guard.New(h1guard.Options{Logger: cfg.Logger, Registry: d.registry})
	ctrlOpts := cfg.Controller
	ctrlOpts.Logger = cfg.Logger
	ctrlOpts.Registry = d.registry
	// Certificates once the routes compiled, before they are live
	// (proxy.ApplyWith).
	d.ctrl = controller.New(ctrlOpts, append([]controller.Publisher{publisher(func(s *snapshot.Snapshot) error {
		return d.proxy.ApplyWith(s, d.certs.Apply)
	})}, cfg.Publishers...)...)
	if cfg.Source == nil {
		d.source = manifest.NewSource(cfg.Manifests, cfg.Logger)
	}

	if d.httpLn, err = listen(cfg.BindAddress, cfg.HTTPPort); err != nil {
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

// Run serves until ctx is done, then drains: listeners close at once, requests
// in flight get up to 10 seconds to finish.
func (d *Daemon) Run(ctx context.Context) error {
	d.log.Info("weir starting", "mode", "in-process", "workers", 0,
		"http", d.HTTPAddr(), "https", d.HTTPSAddr(), "metrics", d.MetricsAddr(), "manifests", d.cfg.Manifests)

	proxySrv := &http.Server{
		Handler:           d.proxy,
		ReadHeaderTimeout: 60 * time.Second, // nginx client_header_timeout
		IdleTimeout:       75 * time.Second, // nginx keepalive_timeout
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelDebug),
	}
	// The listener, not ServeTLS, holds the tls.Config: ServeTLS would serve
	// a clone, which the session ticket key rotation would not reach.
	tlsCfg := d.certs.TLSConfig()
	httpsSrv := &http.Server{
		Handler:           h1guard.TLSHandler(d.proxy),
		ConnContext:       h1guard.ConnContext,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 60 * time.Second,
		IdleTimeout:       75 * time.Second,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelDebug),
	}
	// Requests end with ctx: a /config?after= long poll does not hold up
	// the shutdown.
	metricsSrv := &http.Server{Handler: d.metricsHandler(), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 4)
	var wg sync.WaitGroup
	serve := func(name string, srv *http.Server, ln net.Listener) {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("serve %s: %w", name, err)
		}
	}
	wg.Add(5)
	go serve("http", proxySrv, d.guard.Listener(d.httpLn))
	go serve("https", httpsSrv, d.guard.TLSListener(d.httpsLn, tlsCfg))
	go func() {
		defer wg.Done()
		d.certs.Tickets().RotateEvery(ctx, d.cfg.TicketRotation)
	}()
	go serve("metrics", metricsSrv, d.metricsLn)
	go func() {
		defer wg.Done()
		if d.cfg.Source != nil {
			if err := d.cfg.Source.Run(ctx, d.ctrl.Sync); err != nil && ctx.Err() == nil {
				errc <- fmt.Errorf("watch configuration source: %w", err)
			}
			return
		}
		if err := d.source.Run(ctx, d.onUpdate); err != nil && ctx.Err() == nil {
			errc <- fmt.Errorf("watch manifests %s: %w", d.cfg.Manifests, err)
		}
	}()

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		cancel()
	}
	shutdownCtx, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	_ = proxySrv.Shutdown(shutdownCtx)
	_ = httpsSrv.Shutdown(shutdownCtx)
	_ = metricsSrv.Shutdown(shutdownCtx)
	wg.Wait()
	d.log.Info("weir stopped")
	return runErr
}

func (d *Daemon) onUpdate(u manifest.Update) {
	problems := make([]error, len(u.Problems))
	for i := range u.Problems {
		problems[i] = u.Problems[i]
	}
	d.ctrl.Sync(u.Objects, problems)
}

func (d *Daemon) metricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(d.registry, promhttp.HandlerOpts{Registry: d.registry}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.Handle("/config", d.ctrl.ConfigHandler())
	if d.cfg.Profiling {
		mux.Handle("/debug/pprof/", http.DefaultServeMux) // net/http/pprof registers there
	}
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
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

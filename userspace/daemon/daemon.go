// Package daemon assembles Weir in one process: the configuration source, the
// controller that builds Snapshots, the L7 proxy on the HTTP port and the
// metrics server with /metrics, /healthz and /readyz. It is the
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
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

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
	// MetricsPort serves /metrics, /healthz and /readyz. Default 10254.
	MetricsPort int
	// MetricsAddress is the address the metrics listener binds. Empty means
	// all addresses. Default "".
	MetricsAddress string
	// Manifests is the folder of YAML manifests to serve. Required.
	Manifests string
	// Controller selects the Ingresses served.
	Controller controller.Options
	// AccessLog receives one JSON line per request. Nil means none.
	AccessLog io.Writer
	// Logger receives Weir's own log. Nil means slog.Default().
	Logger *slog.Logger
}

// Daemon is one in-process Weir.
type Daemon struct {
	cfg      Config
	log      *slog.Logger
	registry *prometheus.Registry
	proxy    *proxy.Proxy
	ctrl     *controller.Controller
	source   *manifest.Source

	httpLn    net.Listener
	metricsLn net.Listener
}

// New binds the listeners and prepares the parts; Run starts serving.
func New(cfg Config) (*Daemon, error) {
	if cfg.Manifests == "" {
		return nil, errors.New("start weir: no configuration source: pass --manifests DIR")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	d := &Daemon{cfg: cfg, log: cfg.Logger, registry: prometheus.NewRegistry()}
	d.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	d.proxy = proxy.New(proxy.Options{Logger: cfg.Logger, AccessLog: cfg.AccessLog, Registry: d.registry})
	ctrlOpts := cfg.Controller
	ctrlOpts.Logger = cfg.Logger
	ctrlOpts.Registry = d.registry
	d.ctrl = controller.New(ctrlOpts, d.proxy)
	d.source = manifest.NewSource(cfg.Manifests, cfg.Logger)

	var err error
	if d.httpLn, err = listen(cfg.BindAddress, cfg.HTTPPort); err != nil {
		return nil, fmt.Errorf("listen for http: %w", err)
	}
	if d.metricsLn, err = listen(cfg.MetricsAddress, cfg.MetricsPort); err != nil {
		d.httpLn.Close()
		return nil, fmt.Errorf("listen for metrics: %w", err)
	}
	return d, nil
}

func listen(host string, port int) (net.Listener, error) {
	return net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
}

// HTTPAddr is the address of the HTTP listener.
func (d *Daemon) HTTPAddr() string { return d.httpLn.Addr().String() }

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
		"http", d.HTTPAddr(), "metrics", d.MetricsAddr(), "manifests", d.cfg.Manifests)

	proxySrv := &http.Server{
		Handler:           d.proxy,
		ReadHeaderTimeout: 60 * time.Second, // nginx client_header_timeout
		IdleTimeout:       75 * time.Second, // nginx keepalive_timeout
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelDebug),
	}
	metricsSrv := &http.Server{Handler: d.metricsHandler(), ReadHeaderTimeout: 10 * time.Second}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 3)
	var wg sync.WaitGroup
	serve := func(name string, srv *http.Server, ln net.Listener) {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("serve %s: %w", name, err)
		}
	}
	wg.Add(3)
	go serve("http", proxySrv, d.httpLn)
	go serve("metrics", metricsSrv, d.metricsLn)
	go func() {
		defer wg.Done()
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
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !d.proxy.Live() {
			http.Error(w, "no configuration live yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "ok: configuration version %d live\n", d.proxy.Version())
	})
	return mux
}

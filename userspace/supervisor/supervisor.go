// Package supervisor runs Weir as one supervisor process and one worker
// process per core (--workers=auto|N). The supervisor owns what outlives a
// worker: the configuration source and controller, the listening sockets
// (one SO_REUSEPORT socket per worker per port, kept open here so a
// restarting worker's accept queue survives), the session ticket keys and
// the metrics server. It starts one `weir worker` per core pinned to it,
// sends every new Snapshot to every worker over a unix socket and waits for
// their acknowledgements, restarts a worker that dies, and serves the
// workers' metrics, each with a worker label, next to its own.
package supervisor

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sys/unix"

	"github.com/weir-lb/weir/l7/certs"
	"github.com/weir-lb/weir/l7/connlimit"
	"github.com/weir-lb/weir/l7/stream"
	workerpkg "github.com/weir-lb/weir/l7/worker"
	"github.com/weir-lb/weir/userspace/controller"
	"github.com/weir-lb/weir/userspace/daemon"
	"github.com/weir-lb/weir/userspace/datapath"
	"github.com/weir-lb/weir/userspace/manifest"
	"github.com/weir-lb/weir/userspace/nginxmetrics"
	"github.com/weir-lb/weir/userspace/snapshot"
	"github.com/weir-lb/weir/userspace/upgrade"
)

// Config configures a Supervisor. Ports of 0 pick a free port (tests).
type Config struct {
	// BindAddress is the address the HTTP and HTTPS listeners bind. Empty
	// means all addresses (dual-stack). Default "".
	BindAddress string
	// HTTPPort is the plain HTTP port. Default 0 (a free port).
	HTTPPort int
	// HTTPSPort is the HTTPS port. Default 0 (a free port).
	HTTPSPort int
	// MetricsAddress and MetricsPort are where /metrics, /healthz and
	// /readyz are served. Defaults "" (all addresses) and 0 (a free port).
	MetricsAddress string
	MetricsPort    int
	// HealthPath is the path of the health check on the metrics port
	// (ingress-nginx's --health-check-path). Default "/healthz".
	HealthPath string
	// Profiling serves the supervisor's Go profiles (net/http/pprof) under
	// /debug/pprof/ on the metrics port, to loopback clients only
	// (controller.ProfilesHandler). Default false.
	Profiling bool
	// Backlog is the accept queue length of each listening socket. Default
	// 4096.
	Backlog int
	// Cores are the cores to run one worker each on. Nil means every core
	// the supervisor may run on (the "auto" of --workers).
	Cores []int
	// Manifests is the folder of YAML manifests to serve. Required unless
	// Source is set.
	Manifests string
	// ManifestLimit is the largest manifest file read, in bytes (a larger
	// one is skipped and reported). Zero means manifest.DefaultMaxFileSize
	// (4 MiB).
	ManifestLimit int64
	// Source, when set, replaces the folder source. Nil means the folder
	// source on Manifests.
	Source daemon.Source
	// Registry serves /metrics next to the workers' metrics. Nil means a
	// new registry.
	Registry *prometheus.Registry
	// RequestMetrics shapes the request metrics /metrics serves
	// (--metrics-per-host and its kin). Nil means ingress-nginx's defaults
	// (nginxmetrics.DefaultOptions).
	RequestMetrics *nginxmetrics.Options
	// Controller selects the Ingresses served.
	Controller controller.Options
	// Publishers also receive each new Snapshot, after the workers
	// acknowledged it (e.g. the XDP source lists). Nil means none.
	Publishers []controller.Publisher
	// Command is the argv that starts a worker; the supervisor appends the
	// worker flags (--cpu, --https-port, --access-log, --log-format,
	// --log-level, --uid, --gid, --http1-server). Nil means this executable with "worker".
	Command []string
	// Env is added to the workers' environment (GOMAXPROCS=1 always is).
	Env []string
	// AccessLog is where workers write their access log lines, and the
	// supervisor those of the TCP and UDP services (log-format-stream).
	// Nil means none.
	AccessLog io.Writer
	// HTTP1Server is passed to the workers (--http1-server: weir or net).
	// Empty means the workers' default.
	HTTP1Server string
	// WorkerLog receives the workers' standard error (their log). Nil means
	// the supervisor's standard error.
	WorkerLog io.Writer
	// LogFormat and LogLevel are passed to the workers. Defaults "text" and
	// "info".
	LogFormat, LogLevel string
	// WorkerUID and WorkerGID are the numeric user and group every worker
	// switches to once it holds its sockets (l7/worker.SwitchUser), with no
	// supplementary group and no capability left; only a root supervisor
	// may set them (a worker that cannot switch exits). 0 and 0 keep the
	// supervisor's. Defaults 0 and 0 (cmd/weir's flags default to 65532 as
	// root).
	WorkerUID, WorkerGID int
	// ShutdownGracePeriod is how long, after the stop signal, /healthz and
	// /readyz fail while serving goes on (ingress-nginx's
	// --shutdown-grace-period), so load balancers stop sending first.
	// Default 0.
	ShutdownGracePeriod time.Duration
	// WorkerShutdownTimeout is how long requests in flight and WebSockets
	// may go on once the workers drain (ingress-nginx's
	// worker-shutdown-timeout); WebSockets then get a close frame (1001).
	// Zero means drain.DefaultTimeout (240s).
	WorkerShutdownTimeout time.Duration
	// PostShutdownGracePeriod is how long Run waits after the workers
	// exited before it returns, the metrics port still answering
	// (ingress-nginx's --post-shutdown-grace-period). Default 0 (the flag's
	// is 10s).
	PostShutdownGracePeriod time.Duration
	// AckTimeout bounds how long a worker may take to acknowledge a
	// Snapshot before it is restarted. Default 10s.
	AckTimeout time.Duration
	// TicketRotation is how often the shared TLS session ticket key
	// rotates. Zero means certs.DefaultTicketRotation (1h).
	TicketRotation time.Duration
	// Listeners, when set, are the listening sockets to serve on instead
	// of binding new ones: one HTTP socket per core, one HTTPS socket per
	// core, then the metrics socket, as a running Weir handed them over
	// (userspace/upgrade). Nil means bind.
	Listeners []*os.File
	// Logger receives the supervisor's log. Nil means slog.Default().
	Logger *slog.Logger
}

// Supervisor is Weir's multi-process mode. Create it with New, optionally
// steer connections by core with SteerByCore, then Run.
type Supervisor struct {
	cfg      Config
	log      *slog.Logger
	registry *prometheus.Registry
	ctrl     *controller.Controller
	source   *manifest.Source // nil when cfg.Source is set
	tickets  *certs.TicketKeys

	http, https *portSockets
	metricsLn   net.Listener
	workers     []*worker
	connTable   *connlimit.Table // limit-connections counts, shared with the workers; nil: none
	// streams serves the TCP and UDP services in the supervisor process,
	// not in the workers.
	streams *stream.Server

	mu      sync.Mutex
	current *published // nil before the first Snapshot

	// stopping is set once the stop signal came: /healthz and /readyz
	// fail.
	stopping atomic.Bool
	// drain is what the workers are told when they drain; set before the
	// workers' context ends.
	drain workerpkg.Drain

	mRestarts *prometheus.CounterVec
	mLive     prometheus.Gauge
}

// published is a Snapshot as the workers get it, each encoding computed
// once for all of them.
type published struct {
	version uint64
	// snap is the Snapshot without its Warnings (no worker reads them): the
	// base of the next delta.
	snap *snapshot.Snapshot
	// delta is the MsgDelta payload from the previous published Snapshot,
	// version baseVersion, to snap; nil when there is none. A worker at
	// baseVersion gets it, any other the whole Snapshot.
	baseVersion uint64
	delta       []byte

	fullOnce sync.Once
	full     []byte
	fullErr  error
}

// encodeFull returns the MsgSnapshot payload of p, encoded on first use:
// while every worker is at the previous version, none needs it.
func (p *published) encodeFull() ([]byte, error) {
	p.fullOnce.Do(func() {
		p.full, p.fullErr = json.Marshal(p.snap)
		if p.fullErr != nil {
			p.fullErr = fmt.Errorf("encode snapshot %d: %w", p.version, p.fullErr)
		}
	})
	return p.full, p.fullErr
}

// New binds the listening sockets (one per core per port) and the metrics
// listener; Run starts the workers and serves.
func New(cfg Config) (*Supervisor, error) {
	if cfg.Manifests == "" && cfg.Source == nil {
		return nil, errors.New("start weir: no configuration source: pass --manifests DIR")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Backlog <= 0 {
		cfg.Backlog = 4096
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = 10 * time.Second
	}
	if cfg.LogFormat == "" {
		cfg.LogFormat = "text"
	}
	if cfg.LogLevel == "" {
		cfg.LogLevel = "info"
	}
	if cfg.Cores == nil {
		var err error
		if cfg.Cores, err = OnlineCores(); err != nil {
			return nil, err
		}
	}
	if len(cfg.Cores) == 0 {
		return nil, errors.New("start weir: no cores to run workers on")
	}
	seen := map[int]bool{}
	for _, c := range cfg.Cores {
		if c < 0 || seen[c] {
			return nil, fmt.Errorf("start weir: cores %v: each core at most once, none negative", cfg.Cores)
		}
		seen[c] = true
	}
	s := &Supervisor{cfg: cfg, log: cfg.Logger, registry: cfg.Registry, tickets: certs.NewTicketKeys()}
	if s.registry == nil {
		s.registry = prometheus.NewRegistry()
	}
	s.mRestarts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "weir_worker_restarts_total",
		Help: "Worker processes restarted after they exited or failed to acknowledge a configuration, by worker (its core).",
	}, []string{"worker"})
	s.mLive = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "weir_workers_live",
		Help: "Worker processes running.",
	})
	s.registry.MustRegister(s.mRestarts, s.mLive,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		nginxmetrics.NewBuildInfo(),
		nginxmetrics.NewProcessCollector(s.workerPIDs))
	ctrlOpts := cfg.Controller
	ctrlOpts.Logger = cfg.Logger
	ctrlOpts.Registry = s.registry
	s.streams = stream.New(stream.Options{BindAddress: cfg.BindAddress, Registry: s.registry, Logger: cfg.Logger, AccessLog: cfg.AccessLog})
	s.ctrl = controller.New(ctrlOpts, append([]controller.Publisher{s, s.streams}, cfg.Publishers...)...)
	if cfg.Source == nil {
		s.source = manifest.NewSource(cfg.Manifests, manifest.Options{Logger: cfg.Logger, MaxFileSize: cfg.ManifestLimit})
	}

	if cfg.Listeners != nil {
		if err := s.adopt(cfg.Listeners); err != nil {
			return nil, err
		}
	} else if err := s.listen(); err != nil {
		return nil, err
	}
	for i, cpu := range cfg.Cores {
		s.workers = append(s.workers, &worker{sup: s, index: i, cpu: cpu, label: strconv.Itoa(cpu)})
	}
	// limit-connections counts for the whole node, as nginx's shared zones.
	var err error
	if s.connTable, err = connlimit.NewSharedTable(len(cfg.Cores)); err != nil {
		s.log.Warn("limit-connections counts per worker, not per node", "error", err)
	}
	return s, nil
}

// listen binds the listening sockets.
func (s *Supervisor) listen() error {
	cfg := s.cfg
	var err error
	if s.http, err = listenPort(cfg.BindAddress, cfg.HTTPPort, len(cfg.Cores), cfg.Backlog); err != nil {
		return fmt.Errorf("listen for http: %w", err)
	}
	if s.https, err = listenPort(cfg.BindAddress, cfg.HTTPSPort, len(cfg.Cores), cfg.Backlog); err != nil {
		s.http.Close()
		return fmt.Errorf("listen for https: %w", err)
	}
	if s.metricsLn, err = net.Listen("tcp", net.JoinHostPort(cfg.MetricsAddress, strconv.Itoa(cfg.MetricsPort))); err != nil {
		s.http.Close()
		s.https.Close()
		return fmt.Errorf("listen for metrics: %w", err)
	}
	return nil
}

// adopt serves on the sockets files (Config.Listeners).
func (s *Supervisor) adopt(files []*os.File) error {
	n := len(s.cfg.Cores)
	if len(files) != 2*n+1 {
		return fmt.Errorf("serve on handed-over sockets: %d sockets, want %d (%d workers: one http and one https socket each, and metrics); start this weir with the --workers of the running one",
			len(files), 2*n+1, n)
	}
	var err error
	if s.http, err = adoptPort(files[:n]); err != nil {
		return err
	}
	if s.https, err = adoptPort(files[n : 2*n]); err != nil {
		return err
	}
	if s.metricsLn, err = net.FileListener(files[2*n]); err != nil {
		return fmt.Errorf("serve on handed-over socket %s: %w", files[2*n].Name(), err)
	}
	files[2*n].Close() // the listener holds a copy
	return nil
}

// ListenerFiles returns copies of the listening sockets and their names, in
// the order Config.Listeners takes them: what this Weir hands to the next
// (userspace/upgrade).
func (s *Supervisor) ListenerFiles() ([]*os.File, []string, error) {
	var files []*os.File
	var names []string
	fail := func(err error) ([]*os.File, []string, error) {
		for _, f := range files {
			f.Close()
		}
		return nil, nil, fmt.Errorf("copy listening sockets: %w", err)
	}
	for _, ps := range []*portSockets{s.http, s.https} {
		for i, f := range ps.files {
			var fd int
			err := upgrade.Control(f, func(old int) (err error) {
				fd, err = unix.FcntlInt(uintptr(old), unix.F_DUPFD_CLOEXEC, 0)
				return err
			})
			if err != nil {
				return fail(err)
			}
			files = append(files, os.NewFile(uintptr(fd), f.Name()))
			names = append(names, fmt.Sprintf("%s#%d", ps.addr, i))
		}
	}
	f, err := s.metricsLn.(*net.TCPListener).File()
	if err != nil {
		return fail(err)
	}
	return append(files, f), append(names, "metrics"), nil
}

// OnlineCores returns the cores the calling process may run on, in order.
func OnlineCores() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("read online cores: %w", err)
	}
	var cores []int
	for c := 0; c < len(set)*64; c++ {
		if set.IsSet(c) {
			cores = append(cores, c)
		}
	}
	return cores, nil
}

// HTTPAddr is the address of the HTTP listening sockets.
func (s *Supervisor) HTTPAddr() string { return s.http.addr.String() }

// HTTPSAddr is the address of the HTTPS listening sockets.
func (s *Supervisor) HTTPSAddr() string { return s.https.addr.String() }

// MetricsAddr is the address of the metrics listener.
func (s *Supervisor) MetricsAddr() string { return s.metricsLn.Addr().String() }

// Registry is the supervisor's own registry; /metrics serves it and the
// workers' registries.
func (s *Supervisor) Registry() *prometheus.Registry { return s.registry }

// workerPIDs are the process IDs of the running workers.
func (s *Supervisor) workerPIDs() []int {
	var pids []int
	for _, st := range s.Workers() {
		if st.PID != 0 {
			pids = append(pids, st.PID)
		}
	}
	return pids
}

// Gatherer gathers what /metrics serves: the supervisor's metrics and every
// live worker's, each worker's with a label worker="<core>", with
// ingress-nginx's labels (nginxmetrics.Gatherer).
func (s *Supervisor) Gatherer() prometheus.Gatherer {
	gs := prometheus.Gatherers{s.registry}
	for _, w := range s.workers {
		gs = append(gs, w)
	}
	return nginxmetrics.Gatherer(gs, nginxmetrics.IdentityFromEnv(s.cfg.Controller.Build.ControllerClass), nginxmetrics.OptionsOrDefault(s.cfg.RequestMetrics))
}

// Live returns the Snapshot most recently published, or nil before the first.
func (s *Supervisor) Live() *snapshot.Snapshot { return s.ctrl.Live() }

// Apply sends s to every live worker and returns once each acknowledged it,
// or failed to within AckTimeout: such a worker is logged and restarted, and
// gets the latest Snapshot when it is back. A worker at the previously
// published version gets the Delta from it (snapshot.Diff), any other the
// whole Snapshot; so does one that refuses the Delta. It implements
// controller.Publisher.
func (s *Supervisor) Apply(snap *snapshot.Snapshot) error {
	t0 := time.Now()
	view := *snap
	view.Warnings = nil
	cur := &published{version: snap.Version, snap: &view}
	if prev := s.latest(); prev != nil {
		data, err := json.Marshal(snapshot.Diff(prev.snap, cur.snap))
		if err != nil {
			s.log.Warn("encode configuration delta: sending it whole", "version", snap.Version, "error", err)
		} else {
			cur.baseVersion, cur.delta = prev.version, data
		}
	}
	s.mu.Lock()
	s.current = cur
	s.mu.Unlock()
	diffed := time.Since(t0)

	errs := make([]error, len(s.workers))
	var wg sync.WaitGroup
	for i, w := range s.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = w.push()
		}()
	}
	wg.Wait()
	live := 0
	for _, w := range s.workers {
		if w.status().Version >= snap.Version {
			live++
		}
	}
	s.log.Info(fmt.Sprintf("configuration version %d live on %d workers", snap.Version, live),
		"version", snap.Version, "workers", live, "of", len(s.workers),
		"diff", diffed.Round(10*time.Microsecond), "took", time.Since(t0).Round(10*time.Microsecond))
	return errors.Join(errs...)
}

func (s *Supervisor) latest() *published {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current
}

// WorkerStatus describes one worker.
type WorkerStatus struct {
	// CPU is the worker's core.
	CPU int
	// PID is the worker process's id, 0 while it is not running.
	PID int
	// Version is the configuration version the worker acknowledged; 0
	// while it is not running or before its first.
	Version uint64
	// Restarts counts the times the worker was restarted.
	Restarts int
	// Since is when the worker's current process acknowledged its first
	// configuration (zero while it has none).
	Since time.Time
}

// Workers returns the status of every worker, in core order.
func (s *Supervisor) Workers() []WorkerStatus {
	out := make([]WorkerStatus, len(s.workers))
	for i, w := range s.workers {
		out[i] = w.status()
	}
	return out
}

// Run starts the workers, the configuration source and the metrics server,
// and serves until ctx is done; then it shuts down as ingress-nginx does:
// /healthz and /readyz fail for ShutdownGracePeriod while serving goes on;
// then the kernel refuses new connections (datapath.Refuse, where BPF is
// available) and the workers drain (l7/drain: what the accept queues hold is
// served with Connection: close, requests in flight get
// WorkerShutdownTimeout, then WebSockets get a close frame); a worker still
// running 10 seconds after that is killed. The sockets close, and Run
// returns PostShutdownGracePeriod later. When ctx ends with
// upgrade.ErrHandedOver, the workers drain at once and without refusing (a
// new Weir accepts from the same sockets) and Run returns when they exited.
func (s *Supervisor) Run(ctx context.Context) error {
	defer s.http.Close()
	defer s.https.Close()
	if s.connTable != nil {
		defer s.connTable.File().Close()
	}
	s.log.Info("weir starting", "mode", "workers", "workers", len(s.workers), "cores", s.cfg.Cores,
		"http", s.HTTPAddr(), "https", s.HTTPSAddr(), "metrics", s.MetricsAddr(), "manifests", s.cfg.Manifests)

	// Requests end with ctx: a /config?after= long poll does not hold up
	// the shutdown.
	metricsSrv := controller.MetricsServer(ctx, s.metricsHandler())
	metricsDone := make(chan struct{})
	errc := make(chan error, 2)
	go func() {
		defer close(metricsDone)
		if err := metricsSrv.Serve(s.metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("serve metrics: %w", err)
		}
	}()
	defer func() {
		shutdownCtx, done := context.WithTimeout(context.Background(), 10*time.Second)
		defer done()
		_ = metricsSrv.Shutdown(shutdownCtx)
		<-metricsDone
	}()

	serveCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for _, w := range s.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.supervise(serveCtx)
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		s.rotateTickets(serveCtx)
	}()
	go func() {
		defer wg.Done()
		var err error
		if s.cfg.Source != nil {
			err = s.cfg.Source.Run(serveCtx, s.ctrl.Sync)
		} else {
			err = s.source.Run(serveCtx, func(u manifest.Update) {
				problems := make([]error, len(u.Problems))
				for i := range u.Problems {
					problems[i] = u.Problems[i]
				}
				s.ctrl.Sync(u.Objects, problems)
			})
		}
		if err != nil && serveCtx.Err() == nil {
			errc <- fmt.Errorf("watch configuration source: %w", err)
		}
	}()

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	s.stopping.Store(true)
	// Handed over, the sockets live on in the new Weir, which serves: no
	// grace periods, no refusal, and its metrics server answers.
	handedOver := errors.Is(context.Cause(ctx), upgrade.ErrHandedOver)
	if handedOver {
		_ = metricsSrv.Close()
	}
	if runErr == nil && !handedOver && s.cfg.ShutdownGracePeriod > 0 {
		s.log.Info("shutting down: /healthz and /readyz fail, serving goes on", "shutdown-grace-period", s.cfg.ShutdownGracePeriod)
		time.Sleep(s.cfg.ShutdownGracePeriod)
	}
	// The newest configuration, even one not yet acknowledged by every
	// worker, says how long the workers drain.
	timeout := s.cfg.WorkerShutdownTimeout
	if p := s.latest(); p != nil {
		timeout = p.snap.Global.ShutdownTimeout(timeout)
	}
	s.drain = workerpkg.Drain{Timeout: timeout, Refused: !handedOver && s.refuse(), HandedOver: handedOver}
	s.log.Info("shutting down: workers drain", "worker-shutdown-timeout", s.drain.Timeout, "refused", s.drain.Refused, "handed-over", handedOver)
	streamsDrained := s.streams.Drain(timeout)
	cancel()
	if !s.drain.Refused {
		// A socket's queue then fills until the socket closes: the
		// supervisor's copies close now, so that each socket closes as its
		// worker took its queue.
		for _, ps := range []*portSockets{s.http, s.https} {
			for _, f := range ps.files {
				f.Close()
			}
		}
	}
	wg.Wait()
	streamsDrained()
	s.http.Close()
	s.https.Close()
	if !handedOver && s.cfg.PostShutdownGracePeriod > 0 {
		s.log.Info("workers stopped: waiting before exit", "post-shutdown-grace-period", s.cfg.PostShutdownGracePeriod)
		time.Sleep(s.cfg.PostShutdownGracePeriod)
	}
	s.log.Info("weir stopped")
	return runErr
}

// refuse makes the kernel refuse new connections on both ports, their
// queued connections kept for the workers to serve (datapath.Refuse), and
// reports whether it did for both.
func (s *Supervisor) refuse() bool {
	ok := true
	for _, ps := range []*portSockets{s.http, s.https} {
		if err := datapath.Refuse(ps.files[0]); err != nil {
			s.log.Warn("new connections are not refused while the workers drain: those arriving as a listener closes are reset",
				"listener", ps.addr.String(), "error", err)
			ok = false
		}
	}
	return ok
}

// rotateTickets rotates the shared session ticket keys and hands them to
// every worker, so a TLS session resumes on whichever core its next
// connection lands.
func (s *Supervisor) rotateTickets(ctx context.Context) {
	period := s.cfg.TicketRotation
	if period <= 0 {
		period = certs.DefaultTicketRotation
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.tickets.Rotate()
			for _, w := range s.workers {
				w.sendTickets()
			}
		}
	}
}

// errShuttingDown is what /healthz and /readyz answer once the stop signal
// came, as ingress-nginx's health check says it.
const errShuttingDown = "the ingress controller is shutting down"

func (s *Supervisor) metricsHandler() http.Handler {
	mux := http.NewServeMux()
	g := s.Gatherer()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.Handle("/config", s.ctrl.ConfigHandler())
	if s.cfg.Profiling {
		mux.Handle("/debug/pprof/", controller.ProfilesHandler()) // to loopback clients only
	}
	mux.HandleFunc(cmp.Or(s.cfg.HealthPath, "/healthz"), func(w http.ResponseWriter, _ *http.Request) {
		// 500, as ingress-nginx's health check answers a failed check
		// (its e2e gracefulshutdown/grace_period.go waits for it).
		if s.stopping.Load() {
			http.Error(w, errShuttingDown, http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if s.stopping.Load() {
			http.Error(w, errShuttingDown, http.StatusServiceUnavailable)
			return
		}
		cur := s.latest()
		if cur == nil {
			http.Error(w, "no configuration live yet", http.StatusServiceUnavailable)
			return
		}
		n := 0
		for _, st := range s.Workers() {
			if st.Version == cur.version {
				n++
			}
		}
		if n == 0 {
			http.Error(w, fmt.Sprintf("configuration version %d live on no worker", cur.version), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "ok: configuration version %d live on %d of %d workers\n", cur.version, n, len(s.workers))
	})
	return mux
}

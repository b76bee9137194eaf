// Command weir is a Kubernetes Ingress controller for edge nodes. This file
// holds flags and wiring only; see the README for every flag.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/klog/v2"

	"github.com/weir-lb/weir/examples/demobackend"
	"github.com/weir-lb/weir/l7/certs"
	"github.com/weir-lb/weir/l7/drain"
	"github.com/weir-lb/weir/l7/h1server"
	"github.com/weir-lb/weir/l7/worker"
	"github.com/weir-lb/weir/userspace/cmdline"
	"github.com/weir-lb/weir/userspace/controller"
	"github.com/weir-lb/weir/userspace/daemon"
	"github.com/weir-lb/weir/userspace/datapath"
	"github.com/weir-lb/weir/userspace/kube"
	"github.com/weir-lb/weir/userspace/manifest"
	"github.com/weir-lb/weir/userspace/nginxmetrics"
	"github.com/weir-lb/weir/userspace/snapshot"
	"github.com/weir-lb/weir/userspace/supervisor"
	"github.com/weir-lb/weir/userspace/upgrade"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	var usage *cmdline.UsageError
	switch {
	case errors.As(err, &usage):
		fmt.Fprintln(os.Stderr, err)
	case cmdline.ExitCode(err) != 0:
		fmt.Fprintln(os.Stderr, "weir:", err)
	}
	os.Exit(cmdline.ExitCode(err))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "demo-backends":
			return runDemoBackends(ctx, args[1:], stdout, stderr)
		case "annotations":
			return runAnnotations(args[1:], stdout)
		case "flags":
			fs := flag.NewFlagSet("weir flags", flag.ContinueOnError)
			if err := cmdline.Parse(fs, "Prints the flags of weir as a Markdown table.", args[1:], stdout); err != nil {
				return err
			}
			wfs, _ := newFlags(stderr)
			return printFlags(stdout, wfs)
		case "version":
			return runVersion(args[1:], stdout)
		case "inspect":
			return runInspect(args[1:], stdout)
		case "check":
			return runCheck(ctx, args[1:], stdout)
		case "detach":
			return runDetach(args[1:], stdout)
		case "worker": // hidden: started by the supervisor, one per core
			return worker.Main(ctx, args[1:], stdout, stderr)
		default:
			return &cmdline.UsageError{Command: "weir", Err: fmt.Errorf("unknown command %q (commands: %s)", args[0], commands)}
		}
	}
	fs, o := newFlags(stderr)
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if err := checkStatusFlags(fs, o); err != nil {
		return err
	}
	if err := checkProbeFlags(fs, o); err != nil {
		return err
	}
	if err := checkWebhookFlags(fs, o.webhook); err != nil {
		return err
	}
	if o.version {
		return printVersion(stdout)
	}
	return runWeir(ctx, o, stdout, stderr)
}

// commands are the subcommands of weir, for its usage.
const commands = "demo-backends, annotations, flags, check, inspect, detach, version"

// options are the values of the command-line flags.
type options struct {
	httpPort, httpsPort, metricsPort int
	bindAddress                      string
	workers                          string
	manifests                        string
	manifestsMaxFileSize             byteSize
	ingressClass, controllerClass    string
	watchWithoutClass, profiling     bool
	ingressClassByName               bool
	disableCatchAll                  bool
	disableSyncEvents                bool
	deepInspect                      bool
	annotationValidation             bool
	disableSvcExternalName           bool
	enableSSLPassthrough             bool
	version                          bool
	watchNamespace, configMap        string
	tcpServices, udpServices         string
	watchNamespaceSelector           string
	annotationsPrefix                string
	namespaceSelector                labels.Selector // parsed by checkStatusFlags
	defaultSSLCertificate            string
	defaultBackendService            string
	publishStatusAddress, electionID string
	publishService                   string
	updateStatusOnShutdown           bool
	updateStatus, nodeInternalIP     bool
	disableLeaderElection            bool
	electionTTL                      time.Duration
	kubeconfig, apiserverHost        string
	certificateAuthority             string
	healthzHost, healthCheckPath     string
	verbosity                        int
	accessLog                        bool
	http1Server                      string
	logFormat, logLevel              string
	iface, xdpMode                   string
	bpfPinPath                       string
	workerUID, workerGID             int
	shutdownGrace, postShutdownGrace int // seconds
	workerShutdownTimeout            time.Duration
	webhook                          webhookOptions
	// compatGiven names the compatibility flags given (compat.go).
	compatGiven   func() []string
	upgrade       bool
	upgradeSocket string
	// requestMetrics are --metrics-per-host and its kin (metricsflags.go).
	requestMetrics nginxmetrics.Options
}

func newFlags(stderr io.Writer) (*flag.FlagSet, *options) {
	o := &options{}
	fs := flag.NewFlagSet("weir", flag.ContinueOnError)
	fs.SetOutput(stderr)
	httpPort, httpsPort, upgradeSocket := 8080, 8443, ""
	if os.Geteuid() == 0 {
		httpPort, httpsPort, upgradeSocket = 80, 443, upgrade.DefaultSocket
	}
	def := snapshot.DefaultOptions()
	fs.IntVar(&o.httpPort, "http-port", httpPort, "port for plain HTTP (default 80 as root, else 8080)")
	fs.IntVar(&o.httpsPort, "https-port", httpsPort, "port for HTTPS: TLS 1.2 and 1.3, HTTP/2 and HTTP/1.1 (default 443 as root, else 8443)")
	fs.StringVar(&o.bindAddress, "bind-address", "", "address the HTTP, HTTPS and metrics listeners bind (default: all addresses)")
	fs.IntVar(&o.metricsPort, "metrics-port", 10254, "port for /metrics, /healthz, /readyz and /config, on --bind-address")
	fs.StringVar(&o.workers, "workers", "auto", "proxy worker processes: auto (one per online core, each pinned to its core; as many as the container's cgroup CPU limit allows, rounded up, on the first cores when that is fewer, as ingress-nginx's worker-processes default), N (the first N cores) or 0 (one in-process proxy, no child processes)")
	fs.IntVar(&o.workerUID, "worker-uid", 65532, "numeric user the worker processes switch to once they hold their sockets, as root (0: stay root); they keep no capability")
	fs.IntVar(&o.workerGID, "worker-gid", 65532, "numeric group the worker processes switch to once they hold their sockets, as root (0: stay root)")
	fs.IntVar(&o.shutdownGrace, "shutdown-grace-period", 0, "seconds after SIGTERM during which /healthz and /readyz fail while serving goes on, before the proxy drains")
	fs.IntVar(&o.postShutdownGrace, "post-shutdown-grace-period", 10, "seconds to wait after the proxy drained before exiting")
	fs.DurationVar(&o.workerShutdownTimeout, "worker-shutdown-timeout", drain.DefaultTimeout, "how long requests in flight and WebSockets may go on once the proxy drains; then WebSockets get a close frame (1001) and what remains is closed (ingress-nginx's ConfigMap key worker-shutdown-timeout)")
	fs.StringVar(&o.manifests, "manifests", "", "folder of YAML manifests (Ingress, IngressClass, Service, EndpointSlice, Secret, ConfigMap) to serve and watch")
	o.manifestsMaxFileSize = manifest.DefaultMaxFileSize
	fs.Var(&o.manifestsMaxFileSize, "manifests-max-file-size", "largest manifest file read from --manifests, a `size` such as 4Mi, 512Ki or a number of bytes; a larger file is skipped with a warning and keeps its last good objects")
	fs.StringVar(&o.ingressClass, "ingress-class", def.IngressClass, "value of the legacy kubernetes.io/ingress.class annotation this controller serves")
	fs.StringVar(&o.controllerClass, "controller-class", def.ControllerClass, "spec.controller of the IngressClasses this controller serves")
	fs.BoolVar(&o.watchWithoutClass, "watch-ingress-without-class", false, "also serve Ingresses that name no class")
	fs.BoolVar(&o.disableCatchAll, "disable-catch-all", false, "ignore the Ingresses that have a spec.defaultBackend, with rules or without")
	fs.BoolVar(&o.disableSyncEvents, "disable-sync-events", false, "record no Normal Sync Event (\"Scheduled for sync\") when an Ingress Weir serves is added or changed")
	fs.BoolVar(&o.disableSvcExternalName, "disable-svc-external-name", false, "refuse Services of type ExternalName on HTTP routes: their routes answer 503 (default: proxied to the external name, resolved at each connection)")
	fs.BoolVar(&o.annotationValidation, "enable-annotation-validation", true, "serve no Ingress with an annotation value ingress-nginx's validators reject where its parser keeps no default, as ingress-nginx; false serves them (the risk level and the word blocklist of the ConfigMap still refuse Ingresses)")
	fs.BoolVar(&o.deepInspect, "deep-inspect", true, "serve no Ingress whose host, path or spec.tls holds what ingress-nginx's deep inspection refuses (nginx directives, /etc/nginx, /var/run/secrets), as ingress-nginx")
	fs.BoolVar(&o.enableSSLPassthrough, "enable-ssl-passthrough", false, "honour the ssl-passthrough annotation: TLS connections whose SNI is such a host go, untouched, to the endpoints of its / path (without it the annotation is ignored with a warning)")
	fs.BoolVar(&o.ingressClassByName, "ingress-class-by-name", false, "also serve the IngressClass named --ingress-class, whatever its spec.controller")
	fs.StringVar(&o.watchNamespace, "watch-namespace", "", "serve only objects of this namespace (default: all namespaces)")
	fs.StringVar(&o.configMap, "configmap", "", "namespace/name of the ConfigMap with global settings (ingress-nginx keys)")
	fs.StringVar(&o.tcpServices, "tcp-services-configmap", "", "namespace/name of the ConfigMap of TCP ports to forward to Services, \"<port>\": \"<namespace>/<service>:<port>[:PROXY[:PROXY]]\"; served by the process that reads the configuration (the supervisor with --workers other than 0)")
	fs.StringVar(&o.udpServices, "udp-services-configmap", "", "namespace/name of the ConfigMap of UDP ports to forward to Services, \"<port>\": \"<namespace>/<service>:<port>\"")
	fs.StringVar(&o.defaultBackendService, "default-backend-service", "", "namespace/name of the Service, on its first port, that answers requests no rule matches (ingress-nginx's upstream-default-backend; for hosts no rule names, a rule-less Ingress's spec.defaultBackend goes first) (default: Weir's 404)")
	fs.StringVar(&o.defaultSSLCertificate, "default-ssl-certificate", "", "namespace/name of the Secret (tls.crt, tls.key) served when no certificate matches (default: a self-signed certificate)")
	fs.StringVar(&o.publishStatusAddress, "publish-status-address", "", "comma-separated addresses the leader writes to Ingress status (default: ExternalIP, else InternalIP, of the nodes that run Weir)")
	fs.StringVar(&o.electionID, "election-id", "weir-leader", "name of the coordination.k8s.io Lease for leader election, in $POD_NAMESPACE (default \"default\")")
	fs.BoolVar(&o.updateStatusOnShutdown, "update-status-on-shutdown", true, "clear Ingress status when the last instance stops")
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file for cluster mode (default: in-cluster config when KUBERNETES_SERVICE_HOST is set)")
	addStatusFlags(fs, o)
	addProbeFlags(fs, o)
	addMetricsFlags(fs, o)
	fs.BoolVar(&o.profiling, "profiling", false, "serve Go profiles (net/http/pprof) under /debug/pprof/ on the metrics port, to clients on a loopback address only (others get 404), as ingress-nginx keeps them on 127.0.0.1; ingress-nginx's default is true, Weir's false")
	fs.BoolVar(&o.accessLog, "access-log", true, "write one JSON line per request to standard output")
	fs.StringVar(&o.http1Server, "http1-server", string(h1server.DefaultKind), "server of HTTP/1.x, plain and over TLS: weir (Weir's own loop, each head parsed once) or net (net/http's, behind the same checks); HTTP/2 is net/http's either way")
	fs.StringVar(&o.logFormat, "log-format", "text", "format of Weir's own log on standard error: text or json")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&o.iface, "interface", "", "interface the XDP program attaches to (default: the one holding --bind-address, else the default route's)")
	fs.StringVar(&o.xdpMode, "xdp-mode", "native", "XDP data path: native (generic with a warning where the driver has none), generic or off")
	pinPathFlag(fs, &o.bpfPinPath)
	fs.BoolVar(&o.version, "version", false, "print the version, the commit and the Go version, and exit (as weir version)")
	addWebhookFlags(fs, &o.webhook)
	o.compatGiven = addCompatFlags(fs)
	fs.BoolVar(&o.upgrade, "upgrade", false, "take over the listening sockets and the XDP data path of the weir offering them on --upgrade-socket, which drains and exits once this one serves (a binary upgrade); start it with the running weir's flags")
	fs.StringVar(&o.upgradeSocket, "upgrade-socket", upgradeSocket, "unix socket on which weir offers its listening sockets to the next weir started with --upgrade; one per --bpf-pin-path (default /run/weir/upgrade.sock as root, else none)")
	return fs, o
}

// envName maps a flag name to its environment variable: http-port →
// WEIR_HTTP_PORT.
func envName(flagName string) string {
	return "WEIR_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parse applies WEIR_* environment variables, then the command line, which
// wins. --help writes the usage to stdout and returns flag.ErrHelp.
func parse(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	return parseWithEnv(fs, "Serves the Ingresses of a cluster (--kubeconfig, or in-cluster) or of a folder\nof manifests (--manifests). Commands: weir COMMAND --help, for COMMAND in\n"+commands+".", args, stdout)
}

// printFlags writes the README's flag table.
func printFlags(w io.Writer, fs *flag.FlagSet) error {
	fmt.Fprintln(w, "| flag | environment | default | meaning |")
	fmt.Fprintln(w, "|---|---|---|---|")
	fs.VisitAll(func(f *flag.Flag) {
		if isCompatFlag(f.Name) {
			return // their own table: printCompatFlags
		}
		def := f.DefValue
		switch f.Name {
		case "http-port":
			def = "80 as root, else 8080"
		case "https-port":
			def = "443 as root, else 8443"
		case "upgrade-socket":
			def = "`" + upgrade.DefaultSocket + "` as root, else none"
		}
		if def == "" {
			def = "—"
		}
		env := "`" + envName(f.Name) + "`"
		if noEnv[f.Name] {
			env = "—"
		}
		fmt.Fprintf(w, "| `--%s` | %s | %s | %s |\n", f.Name, env, def, f.Usage)
	})
	return nil
}

func newLogger(o *options, stderr io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel(o))); err != nil {
		return nil, fmt.Errorf("parse --log-level: %w", err)
	}
	hopts := &slog.HandlerOptions{Level: level}
	switch o.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(stderr, hopts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(stderr, hopts)), nil
	default:
		return nil, fmt.Errorf("parse --log-format: %q is not text or json", o.logFormat)
	}
}

func runWeir(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	log, err := newLogger(o, stderr)
	if err != nil {
		return err
	}
	if given := o.compatGiven(); len(given) > 0 {
		log.Warn("accepted for compatibility, no effect: " + strings.Join(given, ", "))
	}
	cores, err := parseWorkers(o.workers, supervisor.CgroupRoot)
	if err != nil {
		return err
	}
	if _, err := datapath.ParseMode(o.xdpMode); err != nil {
		return fmt.Errorf("parse --xdp-mode: %w", err)
	}
	cfg := daemon.Config{
		BindAddress: o.bindAddress,
		HTTPPort:    o.httpPort,
		HTTPSPort:   o.httpsPort,
		// Under hostNetwork, all addresses would include the node's public
		// one: the metrics port binds where the proxy does.
		MetricsAddress: o.bindAddress,
		MetricsPort:    o.metricsPort,
		HealthPath:     o.healthCheckPath,
		Profiling:      o.profiling,
		Manifests:      o.manifests,
		// ingress-nginx's shutdown: the grace periods are its flags'.
		ShutdownGracePeriod:     time.Duration(o.shutdownGrace) * time.Second,
		WorkerShutdownTimeout:   o.workerShutdownTimeout,
		PostShutdownGracePeriod: time.Duration(o.postShutdownGrace) * time.Second,
		Controller: controller.Options{
			Build: snapshot.Options{
				ControllerClass:            o.controllerClass,
				IngressClass:               o.ingressClass,
				WatchIngressWithoutClass:   o.watchWithoutClass,
				IngressClassByName:         o.ingressClassByName,
				DisableCatchAll:            o.disableCatchAll,
				SkipDeepInspect:            !o.deepInspect,
				SkipAnnotationValidation:   !o.annotationValidation,
				DisableServiceExternalName: o.disableSvcExternalName,
				EnableSSLPassthrough:       o.enableSSLPassthrough,
				ConfigMap:                  o.configMap,
				DefaultSSLCertificate:      o.defaultSSLCertificate,
				DefaultBackendService:      o.defaultBackendService,
				TCPServices:                o.tcpServices,
				UDPServices:                o.udpServices,
				ReservedPorts:              []int{o.httpPort, o.httpsPort, o.metricsPort},
			},
			WatchNamespace: o.watchNamespace,
		},
		Logger: log,
	}
	cfg.ManifestLimit = int64(o.manifestsMaxFileSize)
	cfg.RequestMetrics = &o.requestMetrics
	if o.healthzHost != "" {
		cfg.MetricsAddress = o.healthzHost
	}
	if o.accessLog {
		cfg.AccessLog = stdout
	}
	if cfg.HTTP1Server, err = h1server.ParseKind(o.http1Server); err != nil {
		return fmt.Errorf("parse --http1-server: %w", err)
	}
	if o.manifests == "" && (o.kubeconfig != "" || o.apiserverHost != "" || os.Getenv("KUBERNETES_SERVICE_HOST") != "") {
		stopSource, err := clusterSource(o, &cfg, log)
		if err != nil {
			return err
		}
		defer stopSource()
	} else if o.webhook.addr != "" {
		log.Warn("--validating-webhook is served in cluster mode only; not served")
	}
	feed := &datapath.SourceListPublisher{Log: log}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	cfg.Publishers = append(cfg.Publishers, feed, certs.NewExpiry(cfg.Registry))
	var take *upgrade.Takeover
	if o.upgrade {
		if take, err = takeOver(o, max(len(cores), 1)); err != nil {
			return err
		}
		defer take.Close() // before it serves: the old weir serves on
		cfg.Listeners = take.Files
	}
	if len(cores) > 0 {
		return runSupervisor(ctx, o, cfg, cores, feed, take, stderr)
	}
	// The in-process proxy runs as a worker would: with a worker's timer
	// slack (sysmon polls about once a millisecond while busy, not every
	// 20 µs after each wake from idle).
	if err := supervisor.SetProcessTimerSlack(supervisor.WorkerTimerSlack); err != nil {
		log.Info("in-process proxy: timer slack left as it is", "err", err)
	} else {
		log.Debug("in-process proxy: timer slack set", "slack", supervisor.WorkerTimerSlack)
	}
	d, err := daemon.New(cfg)
	if err != nil {
		return err
	}
	return serveNode(ctx, o, d, nodeHooks{live: func() bool { return d.LiveVersion() > 0 }}, feed, take, log)
}

// backendFlags collects repeated --backend name=address values.
type backendFlags []string

func (b *backendFlags) String() string     { return strings.Join(*b, ",") }
func (b *backendFlags) Set(v string) error { *b = append(*b, v); return nil }

func runDemoBackends(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("weir demo-backends", flag.ContinueOnError)
	var backends backendFlags
	fs.Var(&backends, "backend", "name=host:port of a demo backend to serve (repeatable)")
	if err := cmdline.Parse(fs, "Serves demo HTTP backends that echo the request they received.", args, stdout); err != nil {
		return err
	}
	if len(backends) == 0 {
		return cmdline.Usagef(fs, "give at least one --backend name=host:port")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(backends))
	for _, b := range backends {
		name, addr, ok := strings.Cut(b, "=")
		if !ok || name == "" || addr == "" {
			return cmdline.Usagef(fs, "parse --backend %q: want name=host:port", b)
		}
		fmt.Fprintf(stderr, "demo backend %s on %s\n", name, addr)
		go func() { errc <- demobackend.Serve(ctx, name, addr) }()
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	}
}

// clusterSource sets cfg.Source to the kube source: --kubeconfig, else the
// in-cluster config.
func clusterSource(o *options, cfg *daemon.Config, log *slog.Logger) (func(), error) {
	rc, err := restConfig(o)
	if err != nil {
		return nil, err
	}
	rc.QPS, rc.Burst = 50, 100
	rc.UserAgent = "weir"
	// client-go logs every failed watch through klog: Weir logs the state
	// changes itself, and passes klog on at debug level only.
	if log.Enabled(context.Background(), slog.LevelDebug) {
		klog.SetSlogLogger(log)
	} else {
		klog.SetLogger(logr.Discard())
	}
	client, err := kube.NewClient(rc, log)
	if err != nil {
		return nil, err
	}
	cfg.Registry = prometheus.NewRegistry()
	events := kube.NewEvents(client, os.Getenv("NODE_NAME"), cfg.Registry, log)
	src := kube.NewSource(client, kube.Options{
		Build:             cfg.Controller.Build,
		WatchNamespace:    o.watchNamespace,
		NamespaceSelector: o.namespaceSelector,
		AnnotationsPrefix: o.annotationsPrefix,
		Status:            statusOptions(o),
		Events:            events,
		DisableSyncEvents: o.disableSyncEvents,
		Logger:            log,
	})
	cfg.Source = src
	cfg.Registry.MustRegister(nginxmetrics.NewLeaderElection(o.electionID, src.Leading))
	stopWebhook, err := serveWebhook(o.webhook, src, cfg.Controller.Build, cfg.Registry, log)
	if err != nil {
		events.Close()
		return nil, err
	}
	return func() { stopWebhook(); events.Close() }, nil
}

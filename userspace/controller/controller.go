// Package controller turns the objects of a source into live configuration:
// it builds a Snapshot, drops it when its hash is unchanged, gives it the next
// version and hands it to every publisher (the in-process proxy today, the
// per-core workers later). It logs, once per change, which version is live and
// which objects were rejected.
package controller

import (
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-lb/weir/userspace/snapshot"
)

// Publisher receives each new Snapshot. Apply must not keep s mutable
// references: Snapshots are shared and immutable.
type Publisher interface {
	Apply(s *snapshot.Snapshot) error
}

// Controller builds and publishes Snapshots. It is safe for concurrent use;
// Sync calls are serialised.
type Controller struct {
	opts       snapshot.Options
	builder    *snapshot.Builder
	namespace  string
	publishers []Publisher
	log        *slog.Logger

	mu           sync.Mutex
	version      uint64
	hash         string
	lastWarnings map[string]bool
	lastProblems map[string]bool

	live atomic.Pointer[snapshot.Snapshot]
	// published is closed and replaced each time a new version is live. Its
	// own lock, not mu: a Wait must not wait for a publish in progress.
	pubMu     sync.Mutex
	published chan struct{}

	mVersion  prometheus.Gauge
	mBuilds   *prometheus.CounterVec
	mWarnings prometheus.Gauge
	mProblems prometheus.Gauge
	mPublish  prometheus.Counter

	// ingress-nginx's reload figures (its collectors/controller.go): a
	// reload is a publish, successful when every publisher took the
	// Snapshot.
	mHash        prometheus.Gauge
	mReloadOK    prometheus.Gauge
	mReloadTime  prometheus.Gauge
	mReloads     prometheus.Counter
	mReloadFails prometheus.Counter
	// mOrphans is ingress-nginx's orphan_ingress; orphans are its label
	// values set to 1 by the last build.
	mOrphans *prometheus.GaugeVec
	orphans  map[[3]string]bool
}

// Options configures a Controller.
type Options struct {
	// Build selects the Ingresses served; see snapshot.Options.
	Build snapshot.Options
	// WatchNamespace limits the objects used to one namespace (IngressClasses
	// are cluster-scoped and always used). Empty means all namespaces.
	WatchNamespace string
	// Logger receives the config log lines. Nil means slog.Default().
	Logger *slog.Logger
	// Registry receives the weir_config_* metrics. Nil means no metrics.
	Registry prometheus.Registerer
}

// New returns a Controller that publishes to pubs.
func New(opts Options, pubs ...Publisher) *Controller {
	c := &Controller{
		opts:       opts.Build,
		builder:    snapshot.NewBuilder(opts.Build),
		namespace:  opts.WatchNamespace,
		publishers: pubs,
		log:        opts.Logger,
		published:  make(chan struct{}),
		mVersion: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "weir_config_version",
			Help: "Version of the configuration most recently built and published (0: none yet).",
		}),
		mBuilds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_config_builds_total",
			Help: "Snapshot builds by result (changed: a new version was published; unchanged: same hash, dropped) and build (scoped: only what the named changes reach; full).",
		}, []string{"result", "build"}),
		mWarnings: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "weir_config_warnings",
			Help: "Warnings (rejected or ignored objects and annotations) in the live configuration.",
		}),
		mProblems: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "weir_source_problems",
			Help: "Inputs the configuration source could not read (malformed files or objects) at the last change.",
		}),
		mPublish: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weir_config_publish_errors_total",
			Help: "Snapshots a publisher refused.",
		}),
		mHash: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "nginx_ingress_controller_config_hash",
			Help: "Running configuration hash actually running: the first 52 bits of the live Snapshot's Hash (0 after a failed publish).",
		}),
		mReloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "nginx_ingress_controller_config_last_reload_successful",
			Help: "Whether the last configuration reload attempt was successful: every publisher (proxy, workers) took the last Snapshot.",
		}),
		mReloadTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "nginx_ingress_controller_config_last_reload_successful_timestamp_seconds",
			Help: "Timestamp of the last successful configuration reload.",
		}),
		mReloads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nginx_ingress_controller_success",
			Help: "Cumulative number of Ingress controller reload operations (Snapshots published).",
		}),
		mReloadFails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nginx_ingress_controller_errors",
			Help: "Cumulative number of Ingress controller errors during reload operations (Snapshots a publisher refused).",
		}),
		mOrphans: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "nginx_ingress_controller_orphan_ingress",
			Help: "Gauge reporting status of ingress orphanity, 1 indicates orphaned ingress: type no-service (a Service it names is missing) or no-endpoint (one has no ready endpoint); 0 once it is no longer.",
		}, []string{"namespace", "ingress", "type"}),
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if opts.Registry != nil {
		opts.Registry.MustRegister(c.mVersion, c.mBuilds, c.mWarnings, c.mProblems, c.mPublish,
			c.mHash, c.mReloadOK, c.mReloadTime, c.mReloads, c.mReloadFails, c.mOrphans)
	}
	return c
}

// Live returns the Snapshot most recently published, or nil before the first.
func (c *Controller) Live() *snapshot.Snapshot { return c.live.Load() }

// Sync builds a Snapshot from objs (only what objs.Changed affects, when the
// source names the changes) and publishes it if its hash differs from
// the live one. It returns the live Snapshot and whether it changed. The
// returned Snapshot always carries the warnings of this build: warnings are
// not part of the hash, so when only they changed, the live Snapshot is
// replaced by a copy with the new warnings (same Version and Hash, publishers
// not called). Callers that report warnings (the kube source's Events) need
// no second build. Problems
// are the source's read errors that came with objs; they are logged once each.
// A publisher's error is logged and counted; the others still receive the
// Snapshot.
func (c *Controller) Sync(objs snapshot.Objects, problems []error) (*snapshot.Snapshot, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()

	c.reportProblems(problems)
	t0 := time.Now()
	s := c.builder.Build(c.filter(objs))
	built := time.Since(t0)
	c.reportWarnings(s.Warnings)
	build := "full"
	if c.builder.Scoped() {
		build = "scoped"
	}
	if c.version > 0 && s.Hash == c.hash {
		c.mBuilds.WithLabelValues("unchanged", build).Inc()
		live := c.live.Load()
		if !slices.Equal(live.Warnings, s.Warnings) {
			cp := *live
			cp.Warnings = s.Warnings
			live = &cp
			c.live.Store(live)
		}
		return live, false
	}
	c.version++
	c.hash = s.Hash
	s.Version = c.version
	t1 := time.Now()
	ok := true
	for _, p := range c.publishers {
		if err := p.Apply(s); err != nil {
			ok = false
			c.mPublish.Inc()
			c.log.Error("publish configuration", "version", s.Version, "error", err)
		}
	}
	c.reloaded(s, ok)
	c.live.Store(s)
	c.pubMu.Lock()
	close(c.published)
	c.published = make(chan struct{})
	c.pubMu.Unlock()
	c.mBuilds.WithLabelValues("changed", build).Inc()
	c.mVersion.Set(float64(s.Version))
	c.log.Info("configuration live", "version", s.Version, "hash", short(s.Hash),
		"servers", len(s.Servers), "routes", routes(s), "warnings", len(s.Warnings),
		"build", built.Round(10*time.Microsecond), "publish", time.Since(t1).Round(10*time.Microsecond))
	return s, true
}

// reloaded sets ingress-nginx's reload figures as its ConfigSuccess does.
func (c *Controller) reloaded(s *snapshot.Snapshot, ok bool) {
	if !ok {
		c.mReloadFails.Inc()
		c.mReloadOK.Set(0)
		c.mHash.Set(0)
		return
	}
	c.mReloads.Inc()
	c.mReloadOK.Set(1)
	c.mReloadTime.Set(float64(time.Now().Unix()))
	c.mHash.Set(float64(hashNumber(s.Hash)))
}

// hashNumber is the first 13 hex digits (52 bits, exact in a float64) of a
// hex hash; 0 when it is not hex.
func hashNumber(h string) uint64 {
	if len(h) > 13 {
		h = h[:13]
	}
	n, err := strconv.ParseUint(h, 16, 64)
	if err != nil {
		return 0
	}
	return n
}

func (c *Controller) filter(objs snapshot.Objects) snapshot.Objects {
	if c.namespace == "" {
		return objs
	}
	out := snapshot.Objects{IngressClasses: objs.IngressClasses, Changed: objs.Changed}
	for _, o := range objs.Ingresses {
		if o.Namespace == c.namespace {
			out.Ingresses = append(out.Ingresses, o)
		}
	}
	for _, o := range objs.Services {
		if o.Namespace == c.namespace {
			out.Services = append(out.Services, o)
		}
	}
	for _, o := range objs.EndpointSlices {
		if o.Namespace == c.namespace {
			out.EndpointSlices = append(out.EndpointSlices, o)
		}
	}
	for _, o := range objs.Secrets {
		// The default certificate may live outside the watched namespace.
		if o.Namespace == c.namespace || o.Namespace+"/"+o.Name == c.opts.DefaultSSLCertificate {
			out.Secrets = append(out.Secrets, o)
		}
	}
	// The controller ConfigMap may live in Weir's own namespace: keep all.
	out.ConfigMaps = objs.ConfigMaps
	return out
}

// reportWarnings logs each warning the first time it appears.
func (c *Controller) reportWarnings(ws []snapshot.Warning) {
	seen := make(map[string]bool, len(ws))
	for _, w := range ws {
		key := fmt.Sprintf("%s %s/%s: %s: %s", w.Object.Kind, w.Object.Namespace, w.Object.Name, w.Reason, w.Message)
		seen[key] = true
		if !c.lastWarnings[key] {
			c.log.Warn("configuration warning", "object", w.Object.Kind+" "+w.Object.Namespace+"/"+w.Object.Name,
				"reason", w.Reason, "message", w.Message)
		}
	}
	c.lastWarnings = seen
	c.mWarnings.Set(float64(len(ws)))
	c.reportOrphans(ws)
}

// orphanTypes are ingress-nginx's orphan_ingress types by warning reason.
var orphanTypes = map[string]string{
	snapshot.ReasonServiceNotFound:  "no-service",
	snapshot.ReasonNoReadyEndpoints: "no-endpoint",
}

// reportOrphans sets orphan_ingress to 1 for the Ingresses ws reports a
// missing Service or one without endpoints for, and back to 0 for those
// it reported before and no longer does, as ingress-nginx's
// Inc/DecOrphanIngress.
func (c *Controller) reportOrphans(ws []snapshot.Warning) {
	now := map[[3]string]bool{}
	for _, w := range ws {
		if t, ok := orphanTypes[w.Reason]; ok && w.Object.Kind == "Ingress" {
			now[[3]string{w.Object.Namespace, w.Object.Name, t}] = true
		}
	}
	for k := range now {
		c.mOrphans.WithLabelValues(k[:]...).Set(1)
	}
	for k := range c.orphans {
		if !now[k] {
			c.mOrphans.WithLabelValues(k[:]...).Set(0)
		}
	}
	c.orphans = now
}

// reportProblems logs each source problem the first time it appears.
func (c *Controller) reportProblems(ps []error) {
	seen := make(map[string]bool, len(ps))
	for _, p := range ps {
		key := p.Error()
		seen[key] = true
		if !c.lastProblems[key] {
			c.log.Warn("configuration source problem; last good version kept", "error", key)
		}
	}
	c.lastProblems = seen
	c.mProblems.Set(float64(len(ps)))
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func routes(s *snapshot.Snapshot) int {
	n := 0
	for _, srv := range s.Servers {
		n += len(srv.Paths)
	}
	return n
}

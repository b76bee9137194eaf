// Package nginxmetrics makes Weir's /metrics read like ingress-nginx's, so
// that its Grafana dashboards and its chart's alerts work unchanged: the
// controller_namespace, controller_class and controller_pod labels of
// ingress-nginx's collectors (internal/ingress/metric/collectors), its
// build_info, and the nginx_process_* figures of nginx's process group, here
// those of Weir's proxy processes (the workers, or the one process of
// --workers 0), summed.
package nginxmetrics

import (
	"os"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// Prefix starts the name of every ingress-nginx family.
const Prefix = "nginx_ingress_controller_"

// Identity is what ingress-nginx labels its series with: the controller's
// namespace ($POD_NAMESPACE, default "default"), its pod ($POD_NAME, default
// "") and its class (the --controller-class: the spec.controller of the
// IngressClasses served, as ingress-nginx's is).
type Identity struct {
	Namespace, Class, Pod string
}

// IdentityFromEnv returns the Identity of this process for the controller
// class class, read from $POD_NAMESPACE and $POD_NAME as ingress-nginx does.
func IdentityFromEnv(class string) Identity {
	id := Identity{Namespace: os.Getenv("POD_NAMESPACE"), Class: class, Pod: os.Getenv("POD_NAME")}
	if id.Namespace == "" {
		id.Namespace = "default"
	}
	return id
}

// classOnly are the families ingress-nginx labels with the controller's
// namespace and class as "namespace" and "class" instead of the controller_*
// labels (its sslLabelHost and sslInfoLabels): only class is added, their
// namespace is the Secret's.
var classOnly = map[string]bool{
	Prefix + "ssl_expire_time_seconds": true,
	Prefix + "ssl_certificate_info":    true,
}

// summed are the families of ingress-nginx's nginx_status and process
// collectors: one figure per controller, so the per-worker series (label
// "worker") are added up.
const summed = Prefix + "nginx_process_"

// Options are ingress-nginx's flags that shape its request metrics (the
// socket collector's families: requests, request_duration_seconds,
// response_duration_seconds, connect_duration_seconds,
// header_duration_seconds, request_size, response_size, bytes_sent). The
// zero value is not ingress-nginx's default: start from DefaultOptions.
type Options struct {
	// PerHost labels the request series with the host (--metrics-per-host).
	// Default true.
	PerHost bool
	// PerUndefinedHost counts the requests for hosts no Ingress defines
	// too, labelled with their host (--metrics-per-undefined-host); without
	// it, and with PerHost, they are not counted, as ingress-nginx's socket
	// collector drops them. Default false.
	PerUndefinedHost bool
	// StatusClasses reports the status label as its class, "2xx" for 200
	// (--report-status-classes). Default false.
	StatusClasses bool
	// Exclude names request families not to export, with or without the
	// nginx_ingress_controller_ prefix (--exclude-socket-metrics). Default
	// none.
	Exclude []string
}

// DefaultOptions returns ingress-nginx's defaults, documented on Options.
func DefaultOptions() Options { return Options{PerHost: true} }

// CountUndefinedHosts reports whether the proxy counts the requests for
// hosts no Ingress defines (proxy.Options.CountUndefinedHosts): with
// PerUndefinedHost, or without PerHost, as ingress-nginx's socket collector
// drops them only when it labels by host and was not told to keep them.
func (o Options) CountUndefinedHosts() bool { return !o.PerHost || o.PerUndefinedHost }

// OptionsOrDefault returns *o, or DefaultOptions when o is nil.
func OptionsOrDefault(o *Options) Options {
	if o == nil {
		return DefaultOptions()
	}
	return *o
}

// socketFamilies are the request families of ingress-nginx's socket
// collector, without Prefix: those Options shape.
var socketFamilies = map[string]bool{
	"requests": true, "request_duration_seconds": true, "response_duration_seconds": true,
	"connect_duration_seconds": true, "header_duration_seconds": true, "request_size": true,
	"response_size": true, "bytes_sent": true,
}

// Gatherer returns g's families with ingress-nginx's labels: every
// nginx_ingress_controller_* metric gets controller_namespace,
// controller_class and controller_pod (where it has none of its own), the
// SSL families get class, and the nginx_process_* metrics of several
// workers are summed into one per remaining label set. The request
// families are shaped by opts.
func Gatherer(g prometheus.Gatherer, id Identity, opts Options) prometheus.Gatherer {
	ex := map[string]bool{}
	for _, n := range opts.Exclude {
		ex[strings.TrimPrefix(strings.TrimSpace(n), Prefix)] = true
	}
	return gatherer{g: g, id: id, opts: opts, exclude: ex}
}

type gatherer struct {
	g       prometheus.Gatherer
	id      Identity
	opts    Options
	exclude map[string]bool
}

func (g gatherer) Gather() ([]*dto.MetricFamily, error) {
	all, err := g.g.Gather()
	mfs := all[:0]
	for _, mf := range all {
		name := mf.GetName()
		short, ok := strings.CutPrefix(name, Prefix)
		if !ok {
			mfs = append(mfs, mf)
			continue
		}
		if socketFamilies[short] {
			if g.exclude[short] {
				continue
			}
			mf.Metric = g.shapeRequests(mf.Metric)
		}
		mfs = append(mfs, mf)
		if strings.HasPrefix(name, summed) {
			mf.Metric = sumOverWorkers(mf.Metric)
		}
		add := []*dto.LabelPair{
			{Name: proto.String("controller_namespace"), Value: proto.String(g.id.Namespace)},
			{Name: proto.String("controller_class"), Value: proto.String(g.id.Class)},
			{Name: proto.String("controller_pod"), Value: proto.String(g.id.Pod)},
		}
		if classOnly[name] {
			add = []*dto.LabelPair{{Name: proto.String("class"), Value: proto.String(g.id.Class)}}
		}
		for _, m := range mf.Metric {
			m.Label = withLabels(m.Label, add)
		}
	}
	return mfs, err
}

// withLabels adds the pairs of add that ls lacks, keeping ls sorted by name.
func withLabels(ls, add []*dto.LabelPair) []*dto.LabelPair {
	have := make(map[string]bool, len(ls))
	for _, l := range ls {
		have[l.GetName()] = true
	}
	for _, a := range add {
		if !have[a.GetName()] {
			ls = append(ls, &dto.LabelPair{Name: a.Name, Value: a.Value})
		}
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].GetName() < ls[j].GetName() })
	return ls
}

// sumOverWorkers drops the "worker" label and adds up the counters and
// gauges that then share their labels.
func sumOverWorkers(ms []*dto.Metric) []*dto.Metric {
	return relabel(ms, func(l *dto.LabelPair) (*dto.LabelPair, bool) { return l, l.GetName() != "worker" })
}

// shapeRequests applies the Options to the series of one request family:
// without PerHost the host label goes; with StatusClasses the status
// becomes its class. Series that then share their labels are added up.
func (g gatherer) shapeRequests(ms []*dto.Metric) []*dto.Metric {
	return relabel(ms, func(l *dto.LabelPair) (*dto.LabelPair, bool) {
		switch l.GetName() {
		case "host":
			return l, g.opts.PerHost
		case "status":
			if v := l.GetValue(); g.opts.StatusClasses && v != "" {
				return &dto.LabelPair{Name: l.Name, Value: proto.String(v[:1] + "xx")}, true
			}
		}
		return l, true
	})
}

// relabel maps the labels of each series through f, which returns the
// label to keep (possibly a new one) and whether to keep it, and adds up
// the series that then share their labels: counters, gauges, untyped
// values and histograms (count, sum and buckets). The series come out
// sorted by their labels.
func relabel(ms []*dto.Metric, f func(*dto.LabelPair) (*dto.LabelPair, bool)) []*dto.Metric {
	var out []*dto.Metric
	var keys []string
	byKey := map[string]*dto.Metric{}
	for _, m := range ms {
		var key strings.Builder
		kept := m.Label[:0:0]
		for _, l := range m.Label {
			l, ok := f(l)
			if !ok {
				continue
			}
			kept = append(kept, l)
			key.WriteString(l.GetName() + "\x00" + l.GetValue() + "\x00")
		}
		m.Label = kept
		prev, ok := byKey[key.String()]
		if !ok {
			byKey[key.String()] = m
			keys = append(keys, key.String())
			continue
		}
		addInto(prev, m)
	}
	// Sorted by labels, as a registry gathers them.
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, byKey[k])
	}
	return out
}

// addInto adds m's value to prev's, both of one family.
func addInto(prev, m *dto.Metric) {
	switch {
	case prev.Counter != nil && m.Counter != nil:
		prev.Counter.Value = proto.Float64(prev.Counter.GetValue() + m.Counter.GetValue())
	case prev.Gauge != nil && m.Gauge != nil:
		prev.Gauge.Value = proto.Float64(prev.Gauge.GetValue() + m.Gauge.GetValue())
	case prev.Untyped != nil && m.Untyped != nil:
		prev.Untyped.Value = proto.Float64(prev.Untyped.GetValue() + m.Untyped.GetValue())
	case prev.Histogram != nil && m.Histogram != nil:
		ph, h := prev.Histogram, m.Histogram
		ph.SampleCount = proto.Uint64(ph.GetSampleCount() + h.GetSampleCount())
		ph.SampleSum = proto.Float64(ph.GetSampleSum() + h.GetSampleSum())
		for i, b := range ph.Bucket {
			if i < len(h.Bucket) && h.Bucket[i].GetUpperBound() == b.GetUpperBound() {
				b.CumulativeCount = proto.Uint64(b.GetCumulativeCount() + h.Bucket[i].GetCumulativeCount())
			}
		}
	}
}

// Repository is the release's source, build_info's repository label.
const Repository = "https://github.com/weir-lb/weir"

// NewBuildInfo returns ingress-nginx's build_info: 1, labelled with the
// release (the main module's version, "(devel)" for a build from a
// checkout), the build (the VCS revision, "" when not built from a
// checkout) and the repository.
func NewBuildInfo() prometheus.Collector {
	release, build := "(devel)", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			release = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				build = s.Value
			}
		}
	}
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        Prefix + "build_info",
		Help:        "A metric with a constant '1' labeled with information about the build.",
		ConstLabels: prometheus.Labels{"release": release, "build": build, "repository": Repository},
	}, func() float64 { return 1 })
}

// NewLeaderElection returns ingress-nginx's leader_election_status for the
// Lease name: 1 while leading() reports this instance holds it, else 0.
func NewLeaderElection(name string, leading func() bool) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        Prefix + "leader_election_status",
		Help:        "Gauge reporting status of the leader election, 0 indicates follower, 1 indicates leader. 'name' is the string used to identify the lease.",
		ConstLabels: prometheus.Labels{"name": name},
	}, func() float64 {
		if leading() {
			return 1
		}
		return 0
	})
}

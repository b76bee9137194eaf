package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// This file holds the ingress-nginx controller flags that Weir accepts so
// that its command line (the Helm chart's, controller.extraArgs) starts
// Weir unchanged, but that have no effect: each is parsed as ingress-nginx
// parses it (a bad value is still a usage error), and Weir starts with one
// warning naming those given.

// flagKind is the type of a compatibility flag's value, as ingress-nginx
// (pflag) declares it.
type flagKind int

const (
	kindString flagKind = iota
	kindBool
	kindInt
	kindFloat
	kindFloats // comma-separated numbers
	kindDuration
	kindIP
)

// compatFlag is an ingress-nginx (or klog) flag without effect in Weir.
type compatFlag struct {
	name string
	kind flagKind
	def  string // ingress-nginx's default, "" for none
	// meaning is what the flag does in ingress-nginx; why says why it has
	// no effect in Weir.
	meaning, why string
}

const (
	whyNoNginx    = "Weir runs no nginx process: there is nothing of nginx's to configure"
	whyNoLua      = "Weir runs no nginx process and no Lua: there is no such internal port"
	whyNoGeoIP    = "Weir has no GeoIP module"
	whyKlog       = "Weir's own log is log/slog (--log-format, --log-level); klog carries client-go's messages only, at debug level (-v 3 or more, or --log-level debug)"
	whyMetrics    = "Weir's request metrics (see Metrics) have no such knob yet; the default is ingress-nginx's"
	whyNotYet     = "not implemented in Weir yet"
	whyFullTest   = "Weir's webhook always builds the whole configuration with the Ingress under review: a pure build, tens of milliseconds for 10 000 Ingresses"
	whyAlwaysSync = "Weir applies every change through its debounced rebuild, with no periodic resync"
)

// compatFlags lists every ingress-nginx controller flag, and klog's flags
// that ingress-nginx takes too, that Weir accepts without effect.
var compatFlags = []compatFlag{
	{"sync-period", kindDuration, "0s", "period of the informers' forced resync", whyAlwaysSync},
	{"sync-rate-limit", kindFloat, "0.3", "most nginx reloads per second", whyAlwaysSync + "; a change is live in milliseconds without reload"},
	{"health-check-timeout", kindInt, "10", "seconds the health check may take to reach nginx", whyNoNginx},
	{"ssl-passthrough-proxy-port", kindInt, "442", "internal port of the TLS passthrough proxy", "Weir reads the ClientHello on the HTTPS listener itself (--enable-ssl-passthrough): there is no internal port"},
	{"enable-ssl-chain-completion", kindBool, "false", "fetch missing intermediate certificates (AIA)", "Weir serves the chain a Secret holds; fetching certificates from the network at run time is not done"},
	{"enable-metrics", kindBool, "true", "collect request metrics", "Weir's metrics are always collected"},
	{"time-buckets", kindFloats, "", "buckets of the time histograms", whyMetrics},
	{"length-buckets", kindFloats, "", "buckets of the length histograms", whyMetrics},
	{"size-buckets", kindFloats, "", "buckets of the size histograms", whyMetrics},
	{"bucket-factor", kindFloat, "0", "factor of native histograms", whyMetrics},
	{"max-buckets", kindInt, "100", "most buckets of native histograms", whyMetrics},
	{"monitor-max-batch-size", kindInt, "10000", "largest batch of nginx's metrics sent over its socket", whyNoLua},
	{"default-server-port", kindInt, "8181", "internal port of nginx's default server", whyNoNginx},
	{"disable-full-test", kindBool, "false", "let the webhook test only the Ingress under review", whyFullTest},
	{"status-port", kindInt, "10246", "internal port of the Lua configuration endpoint", whyNoLua},
	{"stream-port", kindInt, "10247", "internal port of the Lua TCP/UDP configuration endpoint", whyNoLua},
	{"internal-logger-address", kindString, "127.0.0.1:11514", "syslog address of nginx's log in the chroot image", whyNoNginx},
	{"profiler-port", kindInt, "10245", "port of the Go profiler", "Weir serves its profiles (--profiling) on the metrics port, to loopback clients only"},
	{"profiler-address", kindIP, "127.0.0.1", "address of the Go profiler", "Weir serves its profiles (--profiling) on the metrics port, to loopback clients only"},
	{"status-update-interval", kindInt, "60", "seconds between Ingress status checks", "Weir writes status on every change and rewrites it every minute"},
	{"dynamic-configuration-retries", kindInt, "15", "retries of a failed Lua configuration update", whyNoLua},
	{"enable-topology-aware-routing", kindBool, "false", "prefer endpoints of the zone (EndpointSlice hints)", whyNotYet},
	{"maxmind-mirror", kindString, "", "mirror of the GeoLite2 databases", whyNoGeoIP},
	{"maxmind-license-key", kindString, "", "licence key to download GeoLite2 databases", whyNoGeoIP},
	{"maxmind-edition-ids", kindString, "GeoLite2-City,GeoLite2-ASN", "GeoLite2 databases to download", whyNoGeoIP},
	{"maxmind-retries-count", kindInt, "1", "download attempts of the GeoLite2 databases", whyNoGeoIP},
	{"maxmind-retries-timeout", kindDuration, "0s", "delay between download attempts", whyNoGeoIP},
	// klog's flags, which ingress-nginx takes on its command line too.
	{"vmodule", kindString, "", "klog: verbosity per source file", whyKlog},
	{"logtostderr", kindBool, "true", "klog: log to standard error, not files", whyKlog},
	{"alsologtostderr", kindBool, "false", "klog: log to standard error as well as files", whyKlog},
	{"log_dir", kindString, "", "klog: folder of log files", whyKlog},
	{"log_file", kindString, "", "klog: log file", whyKlog},
	{"log_file_max_size", kindInt, "1800", "klog: largest log file, in MB", whyKlog},
	{"skip_headers", kindBool, "false", "klog: no header prefix on log lines", whyKlog},
	{"skip_log_headers", kindBool, "false", "klog: no headers when opening log files", whyKlog},
	{"stderrthreshold", kindInt, "2", "klog: least severity also written to standard error", whyKlog},
	{"add_dir_header", kindBool, "false", "klog: file's folder in the header", whyKlog},
	{"one_output", kindBool, "false", "klog: write each line to its own severity's file only", whyKlog},
	{"log_backtrace_at", kindString, "", "klog: file:line that logs a stack trace", whyKlog},
	{"legacy_stderr_threshold_behavior", kindBool, "true", "klog: ignore stderrthreshold with logtostderr", whyKlog},
}

// compatValue is the flag.Value of a compatFlag: it checks the value as
// ingress-nginx would and records that the flag was given.
type compatValue struct {
	kind  flagKind
	value string
	set   bool
}

func (v *compatValue) String() string {
	if v == nil {
		return ""
	}
	return v.value
}

// IsBoolFlag lets a boolean take the --flag form, as pflag's do.
func (v *compatValue) IsBoolFlag() bool { return v.kind == kindBool }

func (v *compatValue) Set(s string) error {
	var err error
	switch v.kind {
	case kindBool:
		_, err = strconv.ParseBool(s)
	case kindInt:
		_, err = strconv.Atoi(s)
	case kindFloat:
		_, err = strconv.ParseFloat(s, 64)
	case kindFloats:
		for _, f := range strings.Split(s, ",") {
			if _, err = strconv.ParseFloat(strings.TrimSpace(f), 64); err != nil {
				break
			}
		}
	case kindDuration:
		_, err = time.ParseDuration(s)
	case kindIP:
		if net.ParseIP(s) == nil {
			err = fmt.Errorf("%q is not an IP address", s)
		}
	}
	if err != nil {
		return fmt.Errorf("parse %q: %w", s, err)
	}
	v.value, v.set = s, true
	return nil
}

// compatUsage is the usage line of a compatibility flag in --help.
const compatUsage = "ingress-nginx flag accepted for compatibility, no effect in Weir (see README)"

// addCompatFlags defines compatFlags on fs and returns a function that
// names those that were given (on the command line or in WEIR_*), in
// compatFlags' order.
func addCompatFlags(fs *flag.FlagSet) (given func() []string) {
	values := make([]*compatValue, len(compatFlags))
	for i, c := range compatFlags {
		values[i] = &compatValue{kind: c.kind, value: c.def}
		fs.Var(values[i], c.name, compatUsage)
	}
	return func() []string {
		var names []string
		for i, v := range values {
			if v.set {
				names = append(names, "--"+compatFlags[i].name)
			}
		}
		return names
	}
}

// isCompatFlag reports whether name is one of compatFlags.
func isCompatFlag(name string) bool {
	for _, c := range compatFlags {
		if c.name == name {
			return true
		}
	}
	return false
}

// printCompatFlags writes the README's table of the compatibility flags.
func printCompatFlags(w io.Writer) error {
	fmt.Fprintln(w, "| flag | in ingress-nginx | why it has no effect in Weir |")
	fmt.Fprintln(w, "|---|---|---|")
	for _, c := range compatFlags {
		if _, err := fmt.Fprintf(w, "| `--%s` | %s | %s |\n", c.name, c.meaning, c.why); err != nil {
			return err
		}
	}
	return nil
}

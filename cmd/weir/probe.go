package main

import (
	"flag"
	"strconv"
	"strings"

	"github.com/weir-lb/weir/userspace/cmdline"
)

// addProbeFlags defines ingress-nginx's flags of the health check server,
// which in Weir is the metrics server (as in ingress-nginx: one port for
// /healthz and /metrics), and its log verbosity.
func addProbeFlags(fs *flag.FlagSet, o *options) {
	fs.Var(&intAlias{&o.metricsPort}, "healthz-port", "the same as --metrics-port: ingress-nginx serves /healthz and /metrics on one port too")
	fs.StringVar(&o.healthzHost, "healthz-host", "", "address the metrics port (with the health check) binds (default: --bind-address)")
	fs.StringVar(&o.healthCheckPath, "health-check-path", "/healthz", "path of the health check on the metrics port")
	fs.IntVar(&o.verbosity, "v", 0, "klog's verbosity, as ingress-nginx takes it: 3 or more logs at debug level, whatever --log-level says; below 3, --log-level decides")
}

// checkProbeFlags refuses a health check path the metrics server cannot
// serve beside its other paths.
func checkProbeFlags(fs *flag.FlagSet, o *options) error {
	p := o.healthCheckPath
	switch {
	case !strings.HasPrefix(p, "/") || strings.ContainsFunc(p, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/-._~", r))
	}):
		return cmdline.Usagef(fs, "parse --health-check-path %q: want a path of letters, digits and /-._~ starting with /", p)
	case p == "/" || p == "/metrics" || p == "/readyz" || p == "/config" || strings.HasPrefix(p, "/debug/"):
		return cmdline.Usagef(fs, "parse --health-check-path %q: the metrics port serves that path already", p)
	}
	return nil
}

// logLevel is --log-level, or debug with -v 3 or more.
func logLevel(o *options) string {
	if o.verbosity >= 3 {
		return "debug"
	}
	return o.logLevel
}

// intAlias is an int flag that sets another flag's variable.
type intAlias struct{ p *int }

func (a *intAlias) String() string {
	if a == nil || a.p == nil {
		return "0"
	}
	return strconv.Itoa(*a.p)
}

func (a *intAlias) Set(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil {
		return err
	}
	*a.p = n
	return nil
}

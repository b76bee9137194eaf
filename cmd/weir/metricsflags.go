package main

import (
	"flag"
	"strings"
)

// addMetricsFlags adds ingress-nginx's flags that shape the request
// metrics (nginxmetrics.Options), with its defaults.
func addMetricsFlags(fs *flag.FlagSet, o *options) {
	fs.BoolVar(&o.requestMetrics.PerHost, "metrics-per-host", true, "label the request metrics with the request's host, counting only the hosts Ingresses define (false: no host label, every request counted)")
	fs.BoolVar(&o.requestMetrics.PerUndefinedHost, "metrics-per-undefined-host", false, "count the requests for hosts no Ingress defines too, labelled with their host (default: not counted, with --metrics-per-host)")
	fs.BoolVar(&o.requestMetrics.StatusClasses, "report-status-classes", false, "report the status label of the request metrics as its class (2xx, 4xx...)")
	fs.Func("exclude-socket-metrics", "comma-separated request metrics not to export, e.g. nginx_ingress_controller_success,nginx_ingress_controller_header_duration_seconds", func(v string) error {
		o.requestMetrics.Exclude = nil
		for _, n := range strings.Split(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				o.requestMetrics.Exclude = append(o.requestMetrics.Exclude, n)
			}
		}
		return nil
	})
}

package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weir-lb/weir/test/testutil"
	"github.com/weir-lb/weir/userspace/cmdline"
)

// ingressNginxFlags is every flag of ingress-nginx's controller
// (pkg/flags/flags.go) and the klog flags it takes (klog.InitFlags), with a
// value of its type; "" marks a boolean.
var ingressNginxFlags = map[string]string{
	"apiserver-host": "https://127.0.0.1:6443", "certificate-authority": "/ca.crt", "kubeconfig": "/kubeconfig",
	"default-backend-service": "ns/backend", "ingress-class": "nginx", "controller-class": "k8s.io/ingress-nginx",
	"watch-ingress-without-class": "", "ingress-class-by-name": "", "configmap": "ns/cm",
	"publish-service": "ns/svc", "tcp-services-configmap": "ns/tcp", "udp-services-configmap": "ns/udp",
	"sync-period": "30s", "watch-namespace": "ns", "watch-namespace-selector": "team=a", "profiling": "",
	"default-ssl-certificate": "ns/tls", "health-check-path": "/healthz", "health-check-timeout": "10",
	"update-status": "", "election-id": "leader", "election-ttl": "30s", "update-status-on-shutdown": "",
	"report-node-internal-ip-address": "", "version": "", "enable-ssl-passthrough": "",
	"disable-leader-election": "", "disable-svc-external-name": "", "annotations-prefix": "nginx.ingress.kubernetes.io",
	"enable-annotation-validation": "", "enable-ssl-chain-completion": "", "sync-rate-limit": "0.3",
	"publish-status-address": "192.0.2.1", "enable-metrics": "", "metrics-per-host": "",
	"metrics-per-undefined-host": "", "report-status-classes": "", "time-buckets": "0.1,1,10",
	"length-buckets": "10,20", "size-buckets": "10,100", "bucket-factor": "1.1", "max-buckets": "100",
	"exclude-socket-metrics": "nginx_ingress_controller_success", "monitor-max-batch-size": "10000",
	"http-port": "8080", "https-port": "8443", "ssl-passthrough-proxy-port": "442", "default-server-port": "8181",
	"healthz-port": "10254", "healthz-host": "127.0.0.1", "disable-catch-all": "", "validating-webhook": ":8443",
	"validating-webhook-certificate": "/cert.pem", "validating-webhook-key": "/key.pem", "disable-full-test": "",
	"status-port": "10246", "stream-port": "10247", "internal-logger-address": "127.0.0.1:11514",
	"profiler-port": "10245", "profiler-address": "127.0.0.1", "status-update-interval": "60",
	"shutdown-grace-period": "5", "post-shutdown-grace-period": "10", "deep-inspect": "",
	"dynamic-configuration-retries": "15", "disable-sync-events": "", "enable-topology-aware-routing": "",
	"maxmind-mirror": "http://geoip.local", "maxmind-license-key": "key", "maxmind-edition-ids": "GeoLite2-City",
	"maxmind-retries-count": "1", "maxmind-retries-timeout": "1s",
	// klog
	"v": "2", "vmodule": "status=3", "logtostderr": "", "alsologtostderr": "", "log_dir": "/tmp", "log_file": "/tmp/l",
	"log_file_max_size": "1800", "skip_headers": "", "skip_log_headers": "", "stderrthreshold": "2",
	"add_dir_header": "", "one_output": "", "log_backtrace_at": "main.go:1", "legacy_stderr_threshold_behavior": "",
}

// TestIngressNginxFlags parses every ingress-nginx flag in each form pflag
// takes: --flag value and --flag=value, booleans --flag and --flag=false.
func TestIngressNginxFlags(t *testing.T) {
	t.Parallel()
	if n := len(ingressNginxFlags); n < 86 {
		t.Fatalf("%d flags listed; ingress-nginx has 72 and klog 14", n)
	}
	for name, value := range ingressNginxFlags {
		forms := [][]string{{"--" + name, value}, {"--" + name + "=" + value}}
		if value == "" {
			forms = [][]string{{"--" + name}, {"--" + name + "=false"}, {"--" + name + "=true"}}
		}
		for _, args := range forms {
			fs, _ := newFlags(io.Discard)
			if err := parse(fs, args, io.Discard); err != nil {
				t.Errorf("weir %s: %v", strings.Join(args, " "), err)
			}
		}
	}
	for _, c := range compatFlags {
		if _, ok := ingressNginxFlags[c.name]; !ok {
			t.Errorf("compatibility flag --%s is not ingress-nginx's", c.name)
		}
	}
}

// TestCompatFlagValues: a compatibility flag's value is checked as
// ingress-nginx checks it, and a flag that is not ingress-nginx's stays a
// usage error.
func TestCompatFlagValues(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--sync-period", "soon"}, {"--status-port=x"}, {"--enable-ssl-passthrough=maybe"},
		{"--time-buckets", "1,two"}, {"--profiler-address", "localhost"}, {"--sync-rate-limit", "fast"},
		{"--not-a-flag-anywhere"}, {"--validating-webhook"},
	} {
		fs, _ := newFlags(io.Discard)
		err := parse(fs, args, io.Discard)
		var usage *cmdline.UsageError
		if !errors.As(err, &usage) {
			t.Errorf("weir %s: %v; want a usage error", strings.Join(args, " "), err)
		}
	}
}

// TestCompatFlagsGiven: given names the compatibility flags set on the
// command line or in the environment, and nothing when none is.
func TestCompatFlagsGiven(t *testing.T) {
	fs, o := newFlags(io.Discard)
	if err := parse(fs, nil, io.Discard); err != nil {
		t.Fatal(err)
	}
	if got := o.compatGiven(); len(got) != 0 {
		t.Errorf("given with none: %q", got)
	}
	t.Setenv("WEIR_STREAM_PORT", "1")
	fs, o = newFlags(io.Discard)
	if err := parse(fs, []string{"--disable-full-test", "--health-check-timeout=5", "--enable-ssl-passthrough", "--http-port", "1"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(o.compatGiven(), " ")
	if want := "--health-check-timeout --disable-full-test --stream-port"; got != want {
		t.Errorf("given: %q, want %q (compatFlags' order)", got, want)
	}
}

// TestCompatWarning starts weir with the flags the ingress-nginx Helm chart
// passes by default, and some of controller.extraArgs': it serves, and
// says once which of them have no effect, and that the webhook is served
// in cluster mode only.
func TestCompatWarning(t *testing.T) {
	metrics := freePort(t, "127.0.0.1")
	p := startWeir(t, nil, append(proxyPorts(t, "127.0.0.1"), "--workers", "0", "--metrics-port", strconv.Itoa(metrics),
		"--election-id=ingress-nginx-leader", "--controller-class=k8s.io/ingress-nginx", "--ingress-class=nginx",
		"--configmap=ingress-nginx/ingress-nginx-controller",
		"--validating-webhook=:8443", "--validating-webhook-certificate=/usr/local/certificates/cert",
		"--validating-webhook-key=/usr/local/certificates/key", "--enable-ssl-passthrough", "--sync-period", "1m",
		"--tcp-services-configmap", "ingress-nginx/tcp")...)
	waitHealthy(t, p, fmt.Sprintf("127.0.0.1:%d", metrics))
	want := "accepted for compatibility, no effect: --tcp-services-configmap, --sync-period\""
	testutil.WaitFor(t, 5*time.Second, "the compatibility warning", func() bool { return strings.Contains(p.logs.String(), want) })
	if !strings.Contains(p.logs.String(), "--validating-webhook is served in cluster mode only") {
		t.Errorf("no warning that the webhook is not served with --manifests:\n%s", p.logs.String())
	}
	if n := strings.Count(p.logs.String(), "accepted for compatibility"); n != 1 {
		t.Errorf("%d compatibility warnings, want 1:\n%s", n, p.logs.String())
	}
}

// TestCompatFlagsHelp: --help lists the compatibility flags too.
func TestCompatFlagsHelp(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	fs, _ := newFlags(io.Discard)
	if err := parse(fs, []string{"--help"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	if !strings.Contains(out.String(), "-sync-period value") {
		t.Errorf("--help does not list --sync-period:\n%s", out.String())
	}
}

package main

import (
	"flag"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-lb/weir/userspace/admission"
	"github.com/weir-lb/weir/userspace/cmdline"
	"github.com/weir-lb/weir/userspace/kube"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// webhookOptions are the flags of the validating admission webhook,
// ingress-nginx's.
type webhookOptions struct {
	addr, cert, key string
}

func addWebhookFlags(fs *flag.FlagSet, w *webhookOptions) {
	fs.StringVar(&w.addr, "validating-webhook", "", "address (\":8443\") of the validating admission webhook for Ingresses, in cluster mode: it refuses an Ingress Weir would refuse or only partly serve, with the reasons of its Events (default: none)")
	fs.StringVar(&w.cert, "validating-webhook-certificate", "", "PEM certificate file of the validating webhook, read again when it changes")
	fs.StringVar(&w.key, "validating-webhook-key", "", "PEM key file of the validating webhook")
}

// checkWebhookFlags refuses a webhook without its certificate and key.
func checkWebhookFlags(fs *flag.FlagSet, w webhookOptions) error {
	if w.addr != "" && (w.cert == "" || w.key == "") {
		return cmdline.Usagef(fs, "--validating-webhook needs --validating-webhook-certificate and --validating-webhook-key")
	}
	return nil
}

// serveWebhook starts the validating webhook on src's objects, when
// --validating-webhook is given, its check counters in reg; stop stops it.
func serveWebhook(w webhookOptions, src *kube.Source, opts snapshot.Options, reg prometheus.Registerer, log *slog.Logger) (stop func(), err error) {
	if w.addr == "" {
		return func() {}, nil
	}
	srv, err := admission.Listen(w.addr, w.cert, w.key, &admission.Reviewer{Objects: src.ReviewObjects, Options: opts, Checks: admission.NewCheckMetrics(reg)}, log)
	if err != nil {
		return nil, err
	}
	return srv.Close, nil
}

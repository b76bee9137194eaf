package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/weir-lb/weir/userspace/cmdline"
	"github.com/weir-lb/weir/userspace/kube"
)

// addStatusFlags defines the flags of the API server connection, the
// namespaces watched, leader election and Ingress status that ingress-nginx
// has too.
func addStatusFlags(fs *flag.FlagSet, o *options) {
	fs.StringVar(&o.annotationsPrefix, "annotations-prefix", "nginx.ingress.kubernetes.io", "prefix of the Ingress annotations read, in cluster mode; under another, those of nginx.ingress.kubernetes.io are not read (as in ingress-nginx) and warnings still name an annotation by nginx.ingress.kubernetes.io/")
	fs.StringVar(&o.watchNamespaceSelector, "watch-namespace-selector", "", "label selector of the namespaces whose Ingresses are served (and their status written), such as team=web; excludes --watch-namespace (default: all namespaces)")
	fs.StringVar(&o.apiserverHost, "apiserver-host", "", "address of the API server, protocol://address:port; overrides the kubeconfig's (default: the kubeconfig's, else in-cluster)")
	fs.StringVar(&o.certificateAuthority, "certificate-authority", "", "CA certificate file of --apiserver-host (default: the kubeconfig's, else the system's roots)")
	fs.StringVar(&o.publishService, "publish-service", "", "namespace/name of the Service in front of Weir whose addresses the leader writes to Ingress status: a LoadBalancer's status addresses and external IPs, a NodePort's external IPs (else its cluster IP), a ClusterIP's cluster IP; excludes --publish-status-address")
	fs.BoolVar(&o.updateStatus, "update-status", true, "write the load-balancer status of the served Ingresses (false: take no Lease and write none)")
	fs.BoolVar(&o.nodeInternalIP, "report-node-internal-ip-address", false, "without --publish-service or --publish-status-address, publish the nodes' InternalIP rather than their ExternalIP")
	fs.BoolVar(&o.disableLeaderElection, "disable-leader-election", false, "take no Lease: as in ingress-nginx, where only the leader writes Ingress status, no instance writes it; every instance posts Events")
	fs.DurationVar(&o.electionTTL, "election-ttl", 0, "lease duration of the leader election; the renew deadline is half of it, the retry period a quarter, as in ingress-nginx (default 0: Weir's 15s, 10s and 2s; ingress-nginx's default is 30s)")
}

// checkStatusFlags refuses the combinations ingress-nginx refuses.
func checkStatusFlags(fs *flag.FlagSet, o *options) error {
	if o.publishService != "" && o.publishStatusAddress != "" {
		return cmdline.Usagef(fs, "flags --publish-service and --publish-status-address are mutually exclusive")
	}
	for flag, v := range map[string]string{"publish-service": o.publishService, "default-backend-service": o.defaultBackendService} {
		if ns, name, ok := strings.Cut(v, "/"); v != "" && (!ok || ns == "" || name == "" || strings.Contains(name, "/")) {
			return cmdline.Usagef(fs, "parse --%s %q: want namespace/name", flag, v)
		}
	}
	if o.watchNamespaceSelector != "" {
		if o.watchNamespace != "" {
			return cmdline.Usagef(fs, "flags --watch-namespace and --watch-namespace-selector are mutually exclusive")
		}
		sel, err := labels.Parse(o.watchNamespaceSelector)
		if err != nil {
			return cmdline.Usagef(fs, "parse --watch-namespace-selector %q: %w", o.watchNamespaceSelector, err)
		}
		o.namespaceSelector = sel
	}
	if o.electionTTL < 0 {
		return cmdline.Usagef(fs, "parse --election-ttl %s: want a positive duration", o.electionTTL)
	}
	return nil
}

// restConfig is the API server connection: --kubeconfig with
// --apiserver-host over its server, else the in-cluster config.
func restConfig(o *options) (*rest.Config, error) {
	var rc *rest.Config
	var err error
	if o.kubeconfig != "" || o.apiserverHost != "" {
		rc, err = clientcmd.BuildConfigFromFlags(o.apiserverHost, o.kubeconfig)
	} else {
		rc, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("load kubernetes client config: %w", err)
	}
	if o.apiserverHost != "" && o.certificateAuthority != "" {
		if _, err := os.Stat(o.certificateAuthority); err != nil {
			return nil, fmt.Errorf("read --certificate-authority: %w", err)
		}
		rc.TLSClientConfig = rest.TLSClientConfig{CAFile: o.certificateAuthority}
	}
	return rc, nil
}

// statusOptions returns the status writer's options, nil when no status is
// written (--update-status=false, --disable-leader-election).
func statusOptions(o *options) *kube.StatusOptions {
	if !o.updateStatus || o.disableLeaderElection {
		return nil
	}
	st := &kube.StatusOptions{
		ElectionID:        o.electionID,
		PublishService:    o.publishService,
		UseNodeInternalIP: o.nodeInternalIP,
		UpdateOnShutdown:  o.updateStatusOnShutdown,
	}
	if o.publishStatusAddress != "" {
		st.PublishAddresses = strings.Split(o.publishStatusAddress, ",")
	}
	if ttl := o.electionTTL; ttl > 0 {
		st.LeaseDuration, st.RenewDeadline, st.RetryPeriod = ttl, ttl/2, ttl/4
	}
	return st
}

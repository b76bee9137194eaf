package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/weir-lb/weir/userspace/cmdline"
	"github.com/weir-lb/weir/userspace/kube"
)

// TestStatusFlags: ingress-nginx's status and leader election flags give
// the status writer's options.
func TestStatusFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want *kube.StatusOptions // nil: no status written
	}{
		{nil, &kube.StatusOptions{ElectionID: "weir-leader", UpdateOnShutdown: true}},
		{[]string{"--publish-service=ingress-nginx/ingress-nginx-controller", "--election-id", "ingress-nginx-leader"},
			&kube.StatusOptions{ElectionID: "ingress-nginx-leader", PublishService: "ingress-nginx/ingress-nginx-controller", UpdateOnShutdown: true}},
		{[]string{"--publish-status-address", "198.18.0.1,lb.example.com", "--update-status-on-shutdown=false"},
			&kube.StatusOptions{ElectionID: "weir-leader", PublishAddresses: []string{"198.18.0.1", "lb.example.com"}}},
		{[]string{"--report-node-internal-ip-address"}, &kube.StatusOptions{ElectionID: "weir-leader", UseNodeInternalIP: true, UpdateOnShutdown: true}},
		{[]string{"--election-ttl", "30s"}, &kube.StatusOptions{ElectionID: "weir-leader", UpdateOnShutdown: true,
			LeaseDuration: 30 * time.Second, RenewDeadline: 15 * time.Second, RetryPeriod: 7500 * time.Millisecond}},
		{[]string{"--disable-leader-election"}, nil},
		{[]string{"--update-status=false"}, nil},
	} {
		fs, o := newFlags(io.Discard)
		if err := parse(fs, tc.args, io.Discard); err != nil {
			t.Fatal(err)
		}
		if err := checkStatusFlags(fs, o); err != nil {
			t.Errorf("weir %s: %v", strings.Join(tc.args, " "), err)
		}
		if diff := cmp.Diff(tc.want, statusOptions(o)); diff != "" {
			t.Errorf("weir %s: status options (-want +got):\n%s", strings.Join(tc.args, " "), diff)
		}
	}
}

// TestStatusFlagsRefused: the combinations ingress-nginx refuses are usage
// errors.
func TestStatusFlagsRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--publish-service=ns/svc", "--publish-status-address=198.18.0.1"}, "mutually exclusive"},
		{[]string{"--publish-service=svc"}, "want namespace/name"},
		{[]string{"--publish-service=a/b/c"}, "want namespace/name"},
		{[]string{"--default-backend-service=backend"}, "parse --default-backend-service \"backend\": want namespace/name"},
		{[]string{"--election-ttl=-1s"}, "want a positive duration"},
		{[]string{"--watch-namespace=app", "--watch-namespace-selector=team=a"}, "mutually exclusive"},
		{[]string{"--watch-namespace-selector=team=(a"}, "parse --watch-namespace-selector"},
	} {
		fs, o := newFlags(io.Discard)
		if err := parse(fs, tc.args, io.Discard); err != nil {
			t.Fatal(err)
		}
		err := checkStatusFlags(fs, o)
		var usage *cmdline.UsageError
		if !errors.As(err, &usage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("weir %s: %v; want a usage error saying %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}

// TestAPIServerHost: --apiserver-host overrides the kubeconfig's server and
// alone selects cluster mode's connection; --certificate-authority is its CA.
func TestAPIServerHost(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	kubeconfig, ca := filepath.Join(dir, "kubeconfig"), filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {token: secret}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca, []byte("not read here"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args            []string
		host, token, ca string
	}{
		{[]string{"--kubeconfig", kubeconfig}, "https://127.0.0.1:6443", "secret", ""},
		{[]string{"--kubeconfig", kubeconfig, "--apiserver-host", "https://127.0.0.2:6443"}, "https://127.0.0.2:6443", "secret", ""},
		{[]string{"--apiserver-host", "https://127.0.0.2:6443", "--certificate-authority", ca}, "https://127.0.0.2:6443", "", ca},
	} {
		fs, o := newFlags(io.Discard)
		if err := parse(fs, tc.args, io.Discard); err != nil {
			t.Fatal(err)
		}
		rc, err := restConfig(o)
		if err != nil {
			t.Fatalf("weir %s: %v", strings.Join(tc.args, " "), err)
		}
		if rc.Host != tc.host || rc.BearerToken != tc.token || rc.TLSClientConfig.CAFile != tc.ca {
			t.Errorf("weir %s: host %q token %q CA %q; want %q %q %q", strings.Join(tc.args, " "),
				rc.Host, rc.BearerToken, rc.TLSClientConfig.CAFile, tc.host, tc.token, tc.ca)
		}
	}
}

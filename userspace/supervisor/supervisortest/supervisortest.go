// Package supervisortest lets a test binary act as Weir's worker process, so
// tests run the supervisor with real worker processes without building
// cmd/weir first.
package supervisortest

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/weir-lb/weir/l7/worker"
)

// envWorker marks a test binary started as a worker.
const envWorker = "WEIR_TEST_WORKER"

// RunWorkerIfAsked runs the worker and exits when the test binary was started
// as a worker (by a supervisor configured with Command and Env); otherwise
// it returns at once. Call it first in TestMain.
func RunWorkerIfAsked() {
	if os.Getenv(envWorker) != "1" {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := worker.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "weir worker:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Command is the supervisor's Config.Command that starts this test binary
// as a worker.
func Command() []string {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	return []string{exe}
}

// Env is the supervisor's Config.Env for Command.
func Env() []string { return []string{envWorker + "=1"} }

// Manifest renders an IngressClass, a Service with an EndpointSlice of one
// endpoint ip:port, and an Ingress routing host to it.
func Manifest(host, name, ip string, port int) string {
	return fmt.Sprintf(`apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: weir}
spec: {controller: weir-lb.dev/ingress-controller}
---
apiVersion: v1
kind: Service
metadata: {name: %[2]s, namespace: default}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: %[2]s-1
  namespace: default
  labels: {kubernetes.io/service-name: %[2]s}
addressType: IPv4
ports: [{name: http, port: %[4]d, protocol: TCP}]
endpoints:
- addresses: [%[3]s]
  conditions: {ready: true}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: app, namespace: default}
spec:
  ingressClassName: weir
  rules:
  - host: %[1]s
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: %[2]s, port: {number: 80}}}}
`, host, name, ip, port)
}

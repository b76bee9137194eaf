package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/weir-lb/weir/test/kubeapi"
	"github.com/weir-lb/weir/test/testutil"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// chartArgs is the controller's command line in ingress-nginx's chart, with
// two extraArgs.
var chartArgs = []string{
	"/nginx-ingress-controller", "--publish-service=$(POD_NAMESPACE)/ingress-nginx-controller",
	"--election-id=ingress-nginx-leader", "--controller-class=k8s.io/ingress-nginx", "--ingress-class=nginx",
	"--configmap=$(POD_NAMESPACE)/ingress-nginx-controller", "--validating-webhook=:8443",
	"--validating-webhook-certificate=/usr/local/certificates/cert", "--validating-webhook-key=/usr/local/certificates/key",
	"--enable-topology-aware-routing", "--sync-period", "1m",
}

const checkManifests = `apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: nginx
spec:
  controller: k8s.io/ingress-nginx
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: ingress-nginx-controller
  namespace: ingress-nginx
data:
  proxy-read-timeout: "30"
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: app
  annotations:
    nginx.ingress.kubernetes.io/proxy-read-timeout: "30"
spec:
  ingressClassName: nginx
  rules:
  - host: web.example
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: web
            port:
              number: 80
`

// TestCheckFolder runs weir check on a folder of manifests: all honoured
// exits 0; a snippet, a ConfigMap key Weir does not apply, or a controller
// flag without effect exit 1 and are named; flags after -- are checked.
func TestCheckFolder(t *testing.T) {
	bin := buildWeir(t)
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("all.yaml", checkManifests)
	stdout, stderr, code := testutil.RunCommand(t, bin, "check", dir)
	if code != 0 || !strings.Contains(stdout, "Ingress app/web\n  honoured  proxy-read-timeout\n") ||
		!strings.Contains(stdout, "Summary: 1 Ingresses checked; 0 of 2 sections would behave differently (0 settings or warnings).") {
		t.Errorf("weir check of honoured settings: status %d, stdout:\n%s\nstderr: %s; want 0", code, stdout, stderr)
	}
	stdout, _, code = testutil.RunCommand(t, bin, "check", dir, "--", "--ingress-class=nginx", "--sync-period", "1m", "--enable-topology-aware-routing", "--bogus-flag", "x")
	for _, want := range []string{
		"Flags (command line)\n  honoured  --ingress-class\n",
		"  differs   --enable-topology-aware-routing: accepted without effect: ",
		"  inert     --sync-period: accepted without effect: ",
		"  refused   --bogus-flag: unknown to Weir: weir would not start\n",
	} {
		if code != 1 || !strings.Contains(stdout, want) {
			t.Errorf("weir check -- flags: status %d, want 1 and %q in:\n%s", code, want, stdout)
		}
	}
	// A ConfigMap key and an annotation Weir does not apply, and the
	// chart's Deployment with its controller's flags.
	write("all.yaml", strings.Replace(strings.Replace(checkManifests, `proxy-read-timeout: "30"
---
apiVersion: networking.k8s.io/v1`, `proxy-read-timeout: "30"
  disable-ipv6-dns: "true"
---
apiVersion: networking.k8s.io/v1`, 1), `    nginx.ingress.kubernetes.io/proxy-read-timeout: "30"
`, `    nginx.ingress.kubernetes.io/proxy-read-timeout: "30"
    nginx.ingress.kubernetes.io/configuration-snippet: "return 200;"
`, 1))
	write("controller.yaml", workloadYAML(chartArgs))
	stdout, stderr, code = testutil.RunCommand(t, bin, "check", dir)
	for _, want := range []string{
		"  refused   configuration-snippet: snippets (raw nginx configuration) are never applied\n",
		"ConfigMap ingress-nginx/ingress-nginx-controller\n  honoured  proxy-read-timeout\n  refused   disable-ipv6-dns: not implemented in Weir yet\n",
		"Flags of Deployment ingress-nginx/ingress-nginx-controller\n  honoured  --publish-service\n",
		"  honoured  --validating-webhook\n",
		"  differs   --enable-topology-aware-routing: accepted without effect: ",
	} {
		if code != 1 || !strings.Contains(stdout, want) || !strings.Contains(stderr, "behaviour would change") {
			t.Errorf("weir check: status %d, want 1 and %q in:\n%s\nstderr: %s", code, want, stdout, stderr)
		}
	}
}

// ingressNginxCluster starts a test API server with what ingress-nginx's
// chart creates first: the namespaces ingress-nginx and app and the
// IngressClass nginx. must fails the test on an error.
func ingressNginxCluster(t *testing.T) (*kubeapi.Server, kubernetes.Interface, func(any, error)) {
	t.Helper()
	api := kubeapi.Start(t)
	client, ctx := api.Client(), context.Background()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, ns := range []string{"ingress-nginx", "app"} {
		must(client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}))
	}
	must(client.NetworkingV1().IngressClasses().Create(ctx, &networkingv1.IngressClass{
		ObjectMeta: metav1.ObjectMeta{Name: "nginx"}, Spec: networkingv1.IngressClassSpec{Controller: "k8s.io/ingress-nginx"},
	}, metav1.CreateOptions{}))
	return api, client, must
}

// workloadYAML is the Deployment of ingress-nginx's chart, reduced to its
// controller's command line.
func workloadYAML(args []string) string {
	var b strings.Builder
	b.WriteString(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: ingress-nginx-controller
  namespace: ingress-nginx
spec:
  selector:
    matchLabels: {app: controller}
  template:
    metadata:
      labels: {app: controller}
    spec:
      containers:
      - name: controller
        image: registry.k8s.io/ingress-nginx/controller:v1.12.0
        args:
`)
	for _, a := range args {
		b.WriteString("        - \"" + a + "\"\n")
	}
	return b.String()
}

// TestCheckCluster runs weir check --kubeconfig against a real API server
// holding ingress-nginx's chart Deployment, its ConfigMap and Ingresses.
func TestCheckCluster(t *testing.T) {
	api, client, must := ingressNginxCluster(t)
	ctx := context.Background()
	must(client.CoreV1().ConfigMaps("ingress-nginx").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "ingress-nginx-controller"},
		Data:       map[string]string{"proxy-body-size": "8m", "enable-opentelemetry": "true", "allow-snippet-annotations": "false"},
	}, metav1.CreateOptions{}))
	labels := map[string]string{"app": "controller"}
	must(client.AppsV1().Deployments("ingress-nginx").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "ingress-nginx-controller"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "controller", Image: "registry.k8s.io/ingress-nginx/controller:v1.12.0", Args: chartArgs}}},
		}},
	}, metav1.CreateOptions{}))
	web := webIngress("web", "web.example", map[string]string{
		"nginx.ingress.kubernetes.io/proxy-body-size": "1m", "nginx.ingress.kubernetes.io/enable-modsecurity": "true"})
	web.Spec.IngressClassName = ptr("nginx")
	must(client.NetworkingV1().Ingresses("app").Create(ctx, web, metav1.CreateOptions{}))
	weirs := webIngress("weirs", "weirs.example", map[string]string{"nginx.ingress.kubernetes.io/server-snippet": "x"})
	must(client.NetworkingV1().Ingresses("app").Create(ctx, weirs, metav1.CreateOptions{}))

	var out bytes.Buffer
	err := run(ctx, []string{"check", "--kubeconfig", api.Kubeconfig}, &out, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "behaviour would change") {
		t.Errorf("weir check --kubeconfig: %v; want behaviour would change", err)
	}
	for _, want := range []string{
		"Ingress app/web\n  honoured  proxy-body-size\n  refused   enable-modsecurity: Weir has no ModSecurity web application firewall\n",
		"ConfigMap ingress-nginx/ingress-nginx-controller\n  honoured  allow-snippet-annotations\n  honoured  proxy-body-size\n  refused   enable-opentelemetry: Weir exports no OpenTelemetry traces\n",
		"Flags of Deployment ingress-nginx/ingress-nginx-controller\n",
		"  differs   --enable-topology-aware-routing: ",
		"Summary: 1 Ingresses checked; 3 of 3 sections would behave differently",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "weirs") {
		t.Errorf("report names an Ingress of another class:\n%s", out.String())
	}
}

// TestConfigMapKeyWarnings runs the weir binary against a real API server
// with a controller ConfigMap holding a key Weir does not apply, a snippet
// key and allow-snippet-annotations "true": each gets an
// UnsupportedConfigMapKey Event on the ConfigMap, and weir_config_warnings
// counts them.
func TestConfigMapKeyWarnings(t *testing.T) {
	api, client, must := ingressNginxCluster(t)
	ctx := context.Background()
	must(client.CoreV1().ConfigMaps("ingress-nginx").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "ingress-nginx-controller"},
		Data: map[string]string{"disable-ipv6-dns": "true", "http-snippet": "x", "allow-snippet-annotations": "true",
			"proxy-read-timeout": "30"},
	}, metav1.CreateOptions{}))
	metrics := freePort(t, "127.0.0.1")
	p := startWeirEnv(t, []string{"POD_NAMESPACE=ingress-nginx"}, append(proxyPorts(t, "127.0.0.1"),
		"--kubeconfig", api.Kubeconfig, "--workers", "0", "--metrics-port", strconv.Itoa(metrics),
		"--configmap=ingress-nginx/ingress-nginx-controller")...)
	waitHealthy(t, p, fmt.Sprintf("127.0.0.1:%d", metrics))
	want := map[string]string{
		"disable-ipv6-dns":          "configmap key disable-ipv6-dns is not applied by Weir; ignored (not implemented in Weir yet)",
		"http-snippet":              "configmap key http-snippet is not applied by Weir; ignored (snippets (raw nginx configuration) are never applied)",
		"allow-snippet-annotations": "configmap key allow-snippet-annotations is not applied by Weir; ignored: Weir keeps it false",
	}
	testutil.WaitFor(t, 20*time.Second, "an UnsupportedConfigMapKey Event per key", func() bool {
		evs, err := client.CoreV1().Events("ingress-nginx").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		seen := 0
		for _, msg := range want {
			for _, e := range evs.Items {
				if e.InvolvedObject.Kind == "ConfigMap" && e.InvolvedObject.Name == "ingress-nginx-controller" &&
					e.Reason == "UnsupportedConfigMapKey" && strings.HasPrefix(e.Message, msg) {
					seen++
					break
				}
			}
		}
		return seen == len(want)
	})
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", metrics))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "\nweir_config_warnings 3\n") {
		t.Errorf("metrics lack weir_config_warnings 3:\n%s", grepLines(string(body), "weir_config_warnings"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestCheckControllerFlagsValidation: --enable-annotation-validation=false
// among the controller's flags makes weir check build as the controller
// would, serving Ingresses whose values ingress-nginx's validators reject.
func TestCheckControllerFlagsValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		skip bool
	}{
		{nil, false},
		{[]string{"--enable-annotation-validation=false"}, true},
		{[]string{"--enable-annotation-validation"}, false},
	} {
		var o snapshot.Options
		sec := checkControllerFlags("flags", tc.args, &o)
		if o.SkipAnnotationValidation != tc.skip || len(sec.Refused)+len(sec.Differs) != 0 {
			t.Errorf("%q: SkipAnnotationValidation %v (section %+v), want %v and the flag honoured", tc.args, o.SkipAnnotationValidation, sec, tc.skip)
		}
	}
}

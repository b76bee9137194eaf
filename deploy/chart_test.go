package deploy

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/weir-lb/weir/test/helm"
	"github.com/weir-lb/weir/test/kubeapi"
)

// renderChart runs helm template on deploy/chart as release "weir" in
// namespace "ingress" with the values files given.
func renderChart(t *testing.T, values ...string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := Decode(helm.Template(t, "chart", "weir", "ingress", values...))
	if err != nil {
		t.Fatalf("decode helm template output: %v", err)
	}
	return objs
}

// controllerArgs returns the args of the controller container of the
// workload of kind.
func controllerArgs(t *testing.T, objs []*unstructured.Unstructured, kind string) []string {
	t.Helper()
	w := find(objs, kind, "weir-controller")
	if w == nil {
		t.Fatalf("no %s weir-controller", kind)
	}
	cs, _, _ := unstructured.NestedSlice(w.Object, "spec", "template", "spec", "containers")
	args, _, _ := unstructured.NestedStringSlice(cs[0].(map[string]any), "args")
	return args
}

func TestChartLint(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(helm.Binary(t), "lint", "chart", "--strict")
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helm lint --strict: %v\n%s", err, out)
	}
}

// TestChartDefaults: the default release is Weir's shape (a privileged
// DaemonSet on the host network) with ingress-nginx's chart's flags, and
// names the image of the VERSION file.
func TestChartDefaults(t *testing.T) {
	t.Parallel()
	objs := renderChart(t)
	for _, want := range [][2]string{{"ServiceAccount", "weir"}, {"ClusterRole", "weir"}, {"ClusterRoleBinding", "weir"},
		{"Role", "weir"}, {"RoleBinding", "weir"}, {"ConfigMap", "weir-controller"}, {"IngressClass", "nginx"},
		{"DaemonSet", "weir-controller"}, {"Service", "weir-controller"}} {
		if find(objs, want[0], want[1]) == nil {
			t.Errorf("no %s %s", want[0], want[1])
		}
	}
	for _, kind := range []string{"Deployment", "ValidatingWebhookConfiguration", "ServiceMonitor"} {
		for _, o := range objs {
			if o.GetKind() == kind {
				t.Errorf("the defaults render a %s", kind)
			}
		}
	}
	args := controllerArgs(t, objs, "DaemonSet")
	for _, want := range []string{"--configmap=$(POD_NAMESPACE)/weir-controller", "--publish-service=ingress/weir-controller",
		"--controller-class=weir-lb.dev/ingress-controller", "--ingress-class=nginx", "--election-id=weir-leader", "--http-port=80"} {
		if !slices.Contains(args, want) {
			t.Errorf("args %q lack %s", args, want)
		}
	}
	ds := find(objs, "DaemonSet", "weir-controller")
	spec, _, _ := unstructured.NestedMap(ds.Object, "spec", "template", "spec")
	if spec["hostNetwork"] != true {
		t.Errorf("hostNetwork %v, want true", spec["hostNetwork"])
	}
	cs, _, _ := unstructured.NestedSlice(spec, "containers")
	image, _, _ := unstructured.NestedString(cs[0].(map[string]any), "image")
	v, err := os.ReadFile("../VERSION")
	if err != nil {
		t.Fatal(err)
	}
	if want := "ghcr.io/weir-lb/weir:v" + strings.TrimSpace(string(v)); image != want {
		t.Errorf("image %q, want %q (the VERSION file)", image, want)
	}
	base, err := Render("base")
	if err != nil {
		t.Fatal(err)
	}
	bcs, _, _ := unstructured.NestedSlice(find(base, "DaemonSet", "weir").Object, "spec", "template", "spec", "containers")
	if bimage, _, _ := unstructured.NestedString(bcs[0].(map[string]any), "image"); bimage != image {
		t.Errorf("deploy/base names image %q, the chart %q: both must be the VERSION file's", bimage, image)
	}
}

// TestChartIngressNginxValues renders the chart with an ingress-nginx
// release's values file (testdata/ingress-nginx-values.yaml) and checks
// each value took effect as in ingress-nginx's chart.
func TestChartIngressNginxValues(t *testing.T) {
	t.Parallel()
	objs := renderChart(t, "testdata/ingress-nginx-values.yaml")
	dep := find(objs, "Deployment", "weir-controller")
	if dep == nil {
		t.Fatal("controller.kind Deployment: no Deployment")
	}
	if n, _, _ := unstructured.NestedFieldNoCopy(dep.Object, "spec", "replicas"); fmt.Sprint(n) != "2" {
		t.Errorf("replicas %v, want 2", n)
	}
	spec, _, _ := unstructured.NestedMap(dep.Object, "spec", "template", "spec")
	if spec["hostNetwork"] != false {
		t.Errorf("hostNetwork %v, want false", spec["hostNetwork"])
	}
	// Helm merges the values' maps: the default kubernetes.io/os stays, as in
	// ingress-nginx's chart.
	if sel, _, _ := unstructured.NestedStringMap(spec, "nodeSelector"); len(sel) != 2 || sel["node-role.kubernetes.io/edge"] != "" {
		t.Errorf("nodeSelector %v", sel)
	}
	if tol, _, _ := unstructured.NestedSlice(spec, "tolerations"); len(tol) != 1 {
		t.Errorf("tolerations %v", tol)
	}
	args := controllerArgs(t, objs, "Deployment")
	for _, want := range []string{"--v=2", "--enable-ssl-passthrough", "--controller-class=k8s.io/ingress-nginx",
		"--election-id=ingress-nginx-leader", "--validating-webhook=:8443",
		"--validating-webhook-certificate=/usr/local/certificates/cert", "--validating-webhook-key=/usr/local/certificates/key"} {
		if !slices.Contains(args, want) {
			t.Errorf("args %q lack %s", args, want)
		}
	}
	cm := find(objs, "ConfigMap", "weir-controller")
	if data, _, _ := unstructured.NestedStringMap(cm.Object, "data"); data["use-forwarded-headers"] != "true" || data["proxy-body-size"] != "8m" {
		t.Errorf("ConfigMap data %v", data)
	}
	ic := find(objs, "IngressClass", "nginx")
	if c, _, _ := unstructured.NestedString(ic.Object, "spec", "controller"); c != "k8s.io/ingress-nginx" || ic.GetAnnotations()["ingressclass.kubernetes.io/is-default-class"] != "true" {
		t.Errorf("IngressClass: controller %q, annotations %v", c, ic.GetAnnotations())
	}
	for _, want := range [][2]string{{"ValidatingWebhookConfiguration", "weir-admission"}, {"Service", "weir-controller-admission"},
		{"Service", "weir-controller-metrics"}, {"ServiceMonitor", "weir-controller"}, {"PrometheusRule", "weir-controller"}} {
		if find(objs, want[0], want[1]) == nil {
			t.Errorf("no %s %s", want[0], want[1])
		}
	}
	if vwc := find(objs, "ValidatingWebhookConfiguration", "weir-admission"); vwc != nil {
		hooks, _, _ := unstructured.NestedSlice(vwc.Object, "webhooks")
		if len(hooks) != 1 || fmt.Sprint(hooks[0].(map[string]any)["timeoutSeconds"]) != "5" || hooks[0].(map[string]any)["failurePolicy"] != "Fail" {
			t.Errorf("webhooks %v: want one, failurePolicy Fail, timeoutSeconds 5 (admissionWebhooks.timeoutSeconds)", hooks)
		}
	}
	if sm := find(objs, "ServiceMonitor", "weir-controller"); sm != nil && sm.GetLabels()["release"] != "prometheus" {
		t.Errorf("ServiceMonitor labels %v lack release: prometheus", sm.GetLabels())
	}
}

// TestChartTCPUDP: ingress-nginx's chart's tcp and udp values
// (testdata/tcp-udp-values.yaml) give the ConfigMaps <fullname>-tcp and
// -udp, the flags that name them, and a container port and Service port
// named "<port>-<proto>" for each entry, with the node port asked for.
func TestChartTCPUDP(t *testing.T) {
	t.Parallel()
	objs := renderChart(t, "testdata/tcp-udp-values.yaml")
	for name, want := range map[string]map[string]string{
		"weir-tcp": {"9000": "default/echo:9000", "5432": "db/pg:5432:PROXY"},
		"weir-udp": {"53": "kube-system/dns:53"},
	} {
		cm := find(objs, "ConfigMap", name)
		if cm == nil {
			t.Errorf("no ConfigMap %s", name)
			continue
		}
		if data, _, _ := unstructured.NestedStringMap(cm.Object, "data"); !maps.Equal(data, want) {
			t.Errorf("ConfigMap %s data %v, want %v", name, data, want)
		}
		if cm.GetNamespace() != "ingress" {
			t.Errorf("ConfigMap %s in namespace %q, want the release's", name, cm.GetNamespace())
		}
	}
	args := controllerArgs(t, objs, "DaemonSet")
	for _, want := range []string{"--tcp-services-configmap=$(POD_NAMESPACE)/weir-tcp", "--udp-services-configmap=$(POD_NAMESPACE)/weir-udp"} {
		if !slices.Contains(args, want) {
			t.Errorf("args %q lack %s", args, want)
		}
	}
	ds := find(objs, "DaemonSet", "weir-controller")
	cs, _, _ := unstructured.NestedSlice(ds.Object, "spec", "template", "spec", "containers")
	cports, _, _ := unstructured.NestedSlice(cs[0].(map[string]any), "ports")
	got := map[string]string{}
	for _, p := range cports {
		m := p.(map[string]any)
		got[fmt.Sprint(m["name"])] = fmt.Sprintf("%v/%v host %v", m["containerPort"], m["protocol"], m["hostPort"])
	}
	for name, want := range map[string]string{"9000-tcp": "9000/TCP host 9000", "5432-tcp": "5432/TCP host 5432", "53-udp": "53/UDP host 53"} {
		if got[name] != want {
			t.Errorf("container port %s: %q, want %q (all: %v)", name, got[name], want, got)
		}
	}
	svc := find(objs, "Service", "weir-controller")
	sports, _, _ := unstructured.NestedSlice(svc.Object, "spec", "ports")
	got = map[string]string{}
	for _, p := range sports {
		m := p.(map[string]any)
		got[fmt.Sprint(m["name"])] = fmt.Sprintf("%v/%v to %v node %v", m["port"], m["protocol"], m["targetPort"], m["nodePort"])
	}
	for name, want := range map[string]string{"9000-tcp": "9000/TCP to 9000-tcp node 30900", "5432-tcp": "5432/TCP to 5432-tcp node <nil>",
		"53-udp": "53/UDP to 53-udp node <nil>"} {
		if got[name] != want {
			t.Errorf("Service port %s: %q, want %q (all: %v)", name, got[name], want, got)
		}
	}
	// Without tcp and udp values there are neither ConfigMaps nor flags.
	def := renderChart(t)
	if find(def, "ConfigMap", "weir-tcp") != nil || find(def, "ConfigMap", "weir-udp") != nil {
		t.Error("the defaults render a tcp or udp ConfigMap")
	}
	for _, a := range controllerArgs(t, def, "DaemonSet") {
		if strings.Contains(a, "services-configmap") {
			t.Errorf("the defaults pass %s", a)
		}
	}
}

// TestChartServerSideDryRun applies both renders to a real API server with
// server-side apply and dryRun=All; the kinds of CRDs the test server does
// not serve (ServiceMonitor, PrometheusRule) are only checked to render.
func TestChartServerSideDryRun(t *testing.T) {
	applyObj := applier(t, kubeapi.Start(t))
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "ingress"}}}
	if err := applyObj(ns, false); err != nil {
		t.Fatalf("create Namespace ingress: %v", err)
	}
	for _, values := range [][]string{nil, {"testdata/ingress-nginx-values.yaml"}, {"testdata/tcp-udp-values.yaml"}} {
		for _, o := range renderChart(t, values...) {
			err := applyObj(o, true)
			if meta.IsNoMatchError(err) && o.GetAPIVersion() == "monitoring.coreos.com/v1" {
				continue
			}
			if err != nil {
				t.Errorf("values %v: dry-run apply %s %s/%s: %v", values, o.GetKind(), o.GetNamespace(), o.GetName(), err)
			}
		}
	}
}

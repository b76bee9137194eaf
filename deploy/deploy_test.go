package deploy

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"

	"github.com/weir-lb/weir/test/kubeapi"
)

var overlays = []string{"base", "overlays/control-plane", "overlays/nginx"}

func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

func TestRender(t *testing.T) {
	t.Parallel()
	for _, dir := range overlays {
		objs, err := Render(dir)
		if err != nil {
			t.Fatalf("render %s: %v", dir, err)
		}
		for _, want := range [][2]string{{"Namespace", "weir"}, {"ServiceAccount", "weir"}, {"ClusterRole", "weir"},
			{"ClusterRoleBinding", "weir"}, {"Role", "weir"}, {"RoleBinding", "weir"}, {"IngressClass", "weir"},
			{"ConfigMap", "weir"}, {"DaemonSet", "weir"}} {
			if find(objs, want[0], want[1]) == nil {
				t.Errorf("%s: no %s %s", dir, want[0], want[1])
			}
		}
		ds := find(objs, "DaemonSet", "weir")
		sel, _, _ := unstructured.NestedStringMap(ds.Object, "spec", "template", "spec", "nodeSelector")
		args, _, _ := unstructured.NestedSlice(ds.Object, "spec", "template", "spec", "containers")
		argList, _, _ := unstructured.NestedStringSlice(args[0].(map[string]any), "args")
		switch dir {
		case "overlays/control-plane":
			if _, ok := sel["node-role.kubernetes.io/control-plane"]; !ok {
				t.Errorf("%s: nodeSelector %v lacks the control-plane role", dir, sel)
			}
		case "overlays/nginx":
			if !slices.Contains(argList, "--ingress-class=nginx") {
				t.Errorf("%s: args %v lack --ingress-class=nginx", dir, argList)
			}
			ic := find(objs, "IngressClass", "nginx")
			if c, _, _ := unstructured.NestedString(ic.Object, "spec", "controller"); c != "weir-lb.dev/ingress-controller" {
				t.Errorf("%s: IngressClass nginx has controller %q", dir, c)
			}
		default:
			if len(sel) != 0 || slices.Contains(argList, "--ingress-class=nginx") {
				t.Errorf("base carries an overlay's change: nodeSelector %v args %v", sel, argList)
			}
		}
	}
}

func TestRenderRejectsUnknownFields(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir+"/kustomization.yaml", "resources: []\nnamePrefix: x-\n")
	if _, err := Render(dir); err == nil {
		t.Error("Render accepted namePrefix, which it does not implement")
	}
}

// applier returns a function that applies an object to api with
// server-side apply, with dryRun=All when dryRun is set.
func applier(t *testing.T, api *kubeapi.Server) func(o *unstructured.Unstructured, dryRun bool) error {
	t.Helper()
	cfg := api.Config()
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))
	ctx := context.Background()
	return func(o *unstructured.Unstructured, dryRun bool) error {
		gvk := o.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return err
		}
		body, err := json.Marshal(o.Object)
		if err != nil {
			return err
		}
		opts := metav1.PatchOptions{FieldManager: "weir-deploy-test", Force: ptr(true)}
		if dryRun {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		r := dyn.Resource(m.Resource)
		if m.Scope.Name() == "namespace" {
			_, err = r.Namespace(o.GetNamespace()).Patch(ctx, o.GetName(), types.ApplyPatchType, body, opts)
		} else {
			_, err = r.Patch(ctx, o.GetName(), types.ApplyPatchType, body, opts)
		}
		return err
	}
}

// TestServerSideDryRun applies every object of every overlay to a real API
// server with server-side apply and dryRun=All. The weir Namespace is
// created for real first: namespaced objects need it to exist.
func TestServerSideDryRun(t *testing.T) {
	applyObj := applier(t, kubeapi.Start(t))
	for _, dir := range overlays {
		objs, err := Render(dir)
		if err != nil {
			t.Fatalf("render %s: %v", dir, err)
		}
		for _, o := range objs {
			if o.GetKind() == "Namespace" {
				if err := applyObj(o, false); err != nil {
					t.Fatalf("%s: create Namespace %s: %v", dir, o.GetName(), err)
				}
			}
		}
		for _, o := range objs {
			if err := applyObj(o, true); err != nil {
				t.Errorf("%s: dry-run apply %s %s/%s: %v", dir, o.GetKind(), o.GetNamespace(), o.GetName(), err)
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

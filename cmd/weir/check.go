package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/weir-lb/weir/userspace/check"
	"github.com/weir-lb/weir/userspace/cmdline"
	"github.com/weir-lb/weir/userspace/manifest"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// errBehaviourChanges is weir check's result when something would behave
// differently under Weir: the command exits with status 1.
var errBehaviourChanges = errors.New("behaviour would change under Weir; see above")

// controllerBinary is the first argument of ingress-nginx's controller
// container, as its chart writes it.
const controllerBinary = "/nginx-ingress-controller"

// runCheck is `weir check`: what changes when Weir serves a cluster's (or a
// folder's) Ingresses in place of ingress-nginx.
func runCheck(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("weir check", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the cluster to check (instead of DIR)")
	configMap := fs.String("configmap", "ingress-nginx/ingress-nginx-controller", "namespace/name of ingress-nginx's controller ConfigMap; the controller's --configmap wins")
	ingressClass := fs.String("ingress-class", "nginx", "ingress class checked; the controller's --ingress-class wins")
	controllerClass := fs.String("controller-class", "k8s.io/ingress-nginx", "IngressClass controller checked; the controller's --controller-class wins")
	withoutClass := fs.Bool("watch-ingress-without-class", false, "also check the Ingresses that name no class; the controller's flag wins")
	var dir string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		dir, args = args[0], args[1:]
	}
	var ctlArgs []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, ctlArgs = args[:i], args[i+1:]
		if ctlArgs == nil {
			ctlArgs = []string{}
		}
	}
	if err := cmdline.Parse(fs, "weir check DIR | --kubeconfig FILE [flags] [-- CONTROLLER-ARGS...]\n\n"+
		"Reports what changes when Weir serves the Ingresses of a folder of manifests\n"+
		"(DIR) or of a cluster in place of ingress-nginx: per Ingress the annotations\n"+
		"Weir honours, treats differently or refuses, the controller ConfigMap's keys,\n"+
		"and the controller's flags (CONTROLLER-ARGS, else those of the ingress-nginx\n"+
		"Deployment or DaemonSet found). Exits 1 when behaviour would change.", args, stdout); err != nil {
		return err
	}
	if (dir == "") == (*kubeconfig == "") {
		return cmdline.Usagef(fs, "give a folder of manifests or --kubeconfig, one of them")
	}
	if fi, err := os.Stat(dir); dir != "" && (err != nil || !fi.IsDir()) {
		return cmdline.Usagef(fs, "unexpected argument %q (not a folder of manifests)", dir)
	}
	var objs snapshot.Objects
	var found []controllerArgs
	var problems []string
	var err error
	if dir != "" {
		objs, found, problems, err = loadCheckDir(dir)
	} else {
		objs, found, problems, err = loadCheckCluster(ctx, *kubeconfig)
	}
	if err != nil {
		return err
	}
	opts := snapshot.Options{IngressClass: *ingressClass, ControllerClass: *controllerClass,
		WatchIngressWithoutClass: *withoutClass, ConfigMap: *configMap}
	var flagSec *check.Section
	switch {
	case ctlArgs != nil:
		flagSec = checkControllerFlags("Flags (command line)", ctlArgs, &opts)
	case len(found) > 0:
		flagSec = checkControllerFlags("Flags of "+found[0].owner, found[0].args, &opts)
		for _, f := range found[1:] {
			problems = append(problems, "another ingress-nginx controller, not checked: "+f.owner)
		}
	}
	report := check.Check(objs, opts)
	if flagSec != nil {
		report.Sections = append(report.Sections, *flagSec)
	}
	if err := report.Write(stdout); err != nil {
		return err
	}
	for _, p := range problems {
		fmt.Fprintln(stdout, "note:", p)
	}
	if report.Changes() > 0 {
		return errBehaviourChanges
	}
	return nil
}

// controllerArgs is the command line of one ingress-nginx controller
// container, after its binary, with $(POD_NAMESPACE) expanded.
type controllerArgs struct {
	owner string // "Deployment ns/name"
	args  []string
}

// controllerOf returns the controller arguments of a pod template, if one
// of its containers runs ingress-nginx's controller.
func controllerOf(kind, ns, name string, spec corev1.PodSpec) (controllerArgs, bool) {
	for _, c := range spec.Containers {
		line := append(slices.Clone(c.Command), c.Args...)
		i := slices.IndexFunc(line, func(a string) bool { return strings.HasSuffix(a, controllerBinary) })
		if i < 0 {
			continue
		}
		args := line[i+1:]
		for j, a := range args {
			args[j] = strings.ReplaceAll(a, "$(POD_NAMESPACE)", ns)
		}
		return controllerArgs{owner: kind + " " + ns + "/" + name, args: args}, true
	}
	return controllerArgs{}, false
}

// controllersIn returns the ingress-nginx controllers among objects.
func controllersIn(objs []runtime.Object) []controllerArgs {
	var out []controllerArgs
	for _, o := range objs {
		var c controllerArgs
		var ok bool
		switch w := o.(type) {
		case *appsv1.Deployment:
			c, ok = controllerOf("Deployment", cmpNS(w.Namespace), w.Name, w.Spec.Template.Spec)
		case *appsv1.DaemonSet:
			c, ok = controllerOf("DaemonSet", cmpNS(w.Namespace), w.Name, w.Spec.Template.Spec)
		}
		if ok {
			out = append(out, c)
		}
	}
	return out
}

func cmpNS(ns string) string {
	if ns == "" {
		return "default"
	}
	return ns
}

// loadCheckDir reads the manifests of dir as weir --manifests does, and the
// Deployments and DaemonSets among them.
func loadCheckDir(dir string) (snapshot.Objects, []controllerArgs, []string, error) {
	up := manifest.NewSource(dir, manifest.Options{}).Load()
	var problems []string
	for _, p := range up.Problems {
		if !strings.Contains(p.Error(), "kind") { // the workloads and other kinds Weir does not read
			problems = append(problems, p.Error())
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return snapshot.Objects{}, nil, nil, fmt.Errorf("list folder %s: %w", dir, err)
	}
	var workloads []runtime.Object
	for _, e := range entries {
		if e.IsDir() || !manifest.IsManifestFile(e.Name()) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return snapshot.Objects{}, nil, nil, fmt.Errorf("read %s: %w", e.Name(), err)
		}
		r := yaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for {
			doc, err := r.Read()
			if err != nil {
				break // io.EOF, or a document the manifest source reported
			}
			obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
			if err == nil {
				workloads = append(workloads, obj)
			}
		}
	}
	return up.Objects, controllersIn(workloads), problems, nil
}

// loadCheckCluster lists what Weir would watch, and the Deployments and
// DaemonSets, from the cluster of kubeconfig.
func loadCheckCluster(ctx context.Context, kubeconfig string) (snapshot.Objects, []controllerArgs, []string, error) {
	var objs snapshot.Objects
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return objs, nil, nil, fmt.Errorf("load kubeconfig %s: %w", kubeconfig, err)
	}
	rc.UserAgent = "weir-check"
	c, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return objs, nil, nil, fmt.Errorf("make kubernetes client: %w", err)
	}
	all := metav1.ListOptions{}
	ings, err := c.NetworkingV1().Ingresses("").List(ctx, all)
	if err != nil {
		return objs, nil, nil, fmt.Errorf("list ingresses: %w", err)
	}
	for i := range ings.Items {
		objs.Ingresses = append(objs.Ingresses, &ings.Items[i])
	}
	classes, err := c.NetworkingV1().IngressClasses().List(ctx, all)
	if err != nil {
		return objs, nil, nil, fmt.Errorf("list ingressclasses: %w", err)
	}
	for i := range classes.Items {
		objs.IngressClasses = append(objs.IngressClasses, &classes.Items[i])
	}
	svcs, err := c.CoreV1().Services("").List(ctx, all)
	if err != nil {
		return objs, nil, nil, fmt.Errorf("list services: %w", err)
	}
	for i := range svcs.Items {
		objs.Services = append(objs.Services, &svcs.Items[i])
	}
	cms, err := c.CoreV1().ConfigMaps("").List(ctx, all)
	if err != nil {
		return objs, nil, nil, fmt.Errorf("list configmaps: %w", err)
	}
	for i := range cms.Items {
		objs.ConfigMaps = append(objs.ConfigMaps, &cms.Items[i])
	}
	var problems []string
	var workloads []runtime.Object
	if deps, err := c.AppsV1().Deployments("").List(ctx, all); err != nil {
		problems = append(problems, fmt.Sprintf("list deployments: %v; flags not checked", err))
	} else {
		for i := range deps.Items {
			workloads = append(workloads, &deps.Items[i])
		}
	}
	if dss, err := c.AppsV1().DaemonSets("").List(ctx, all); err != nil {
		problems = append(problems, fmt.Sprintf("list daemonsets: %v; flags not checked", err))
	} else {
		for i := range dss.Items {
			workloads = append(workloads, &dss.Items[i])
		}
	}
	return objs, controllersIn(workloads), problems, nil
}

// inertWhy are the reasons of compatibility flags whose lack of effect
// changes nothing a client or an operator sees.
var inertWhy = []string{whyKlog, whyAlwaysSync, whyNoNginx, whyNoLua}

// checkControllerFlags sorts ingress-nginx controller arguments: those Weir
// honours, those it accepts without effect, and those it would not start
// with. The class and ConfigMap flags among them set opts.
func checkControllerFlags(title string, args []string, opts *snapshot.Options) *check.Section {
	sec := &check.Section{Title: title}
	fs, o := newFlags(io.Discard)
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name == "" {
			sec.Refused = append(sec.Refused, check.Item{Name: a, Note: "not a flag: weir would not start"})
			continue
		}
		f := fs.Lookup(name)
		isBool := false
		if f != nil {
			bf, ok := f.Value.(interface{ IsBoolFlag() bool })
			isBool = ok && bf.IsBoolFlag()
		}
		if !hasValue && !isBool && i+1 < len(args) && (f != nil || !strings.HasPrefix(args[i+1], "-")) {
			i++
			value, hasValue = args[i], true
		}
		if !hasValue && isBool {
			value = "true"
		}
		item := check.Item{Name: "--" + name}
		switch {
		case f == nil:
			item.Note = "unknown to Weir: weir would not start"
			sec.Refused = append(sec.Refused, item)
		case fs.Set(name, value) != nil:
			item.Note = fmt.Sprintf("invalid value %q: weir would not start", value)
			sec.Refused = append(sec.Refused, item)
		case isCompatFlag(name):
			c := compatFlags[slices.IndexFunc(compatFlags, func(c compatFlag) bool { return c.name == name })]
			item.Note = "accepted without effect: " + c.why
			if slices.Contains(inertWhy, c.why) || value == c.def {
				sec.Inert = append(sec.Inert, item)
			} else {
				sec.Differs = append(sec.Differs, item)
			}
		default:
			sec.Honoured = append(sec.Honoured, item)
		}
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "ingress-class":
			opts.IngressClass = o.ingressClass
		case "controller-class":
			opts.ControllerClass = o.controllerClass
		case "configmap":
			opts.ConfigMap = o.configMap
		case "watch-ingress-without-class":
			opts.WatchIngressWithoutClass = o.watchWithoutClass
		case "enable-annotation-validation":
			opts.SkipAnnotationValidation = !o.annotationValidation
		}
	})
	return sec
}

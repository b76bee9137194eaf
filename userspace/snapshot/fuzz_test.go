package snapshot_test

import (
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weir-lb/weir/l7/router"
	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// fuzzCase is a golden case that FuzzBuild adds its Ingress to.
type fuzzCase struct {
	objs snapshot.Objects
	opts snapshot.Options
}

// fuzzIngress returns the Ingress default/name of FuzzBuild: one rule per
// comma-separated host (at most 3), each with the newline-separated paths
// (at most 3) of pathType chosen by kind (Exact, Prefix,
// ImplementationSpecific, an unknown one, or none), to service svc on port
// (a number when it parses as one, a name otherwise); spec.tls for tlsHost
// and secret when tlsHost is not empty. The first line of key is an
// annotation (under annotations.Prefix) of value value; its other lines are
// more annotations, written k=v.
func fuzzIngress(name, hosts, paths string, kind byte, svc, port, key, value, tlsHost, secret string) *networkingv1.Ingress {
	first, more, _ := strings.Cut(key, "\n")
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name,
		Annotations: map[string]string{annotations.Prefix + first: value}}}
	for _, line := range strings.Split(more, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			ing.Annotations[annotations.Prefix+k] = v
		}
	}
	backend := networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: svc}}
	if n, ok := atoi32(port); ok {
		backend.Service.Port.Number = n
	} else {
		backend.Service.Port.Name = port
	}
	var pt *networkingv1.PathType
	if kind%5 < 4 {
		t := []networkingv1.PathType{"Exact", "Prefix", "ImplementationSpecific", "Regex"}[kind%5]
		pt = &t
	}
	hs := strings.Split(hosts, ",")
	ps := strings.Split(paths, "\n")
	for _, h := range hs[:min(len(hs), 3)] {
		rule := networkingv1.IngressRule{Host: h, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{}}}
		for _, p := range ps[:min(len(ps), 3)] {
			rule.HTTP.Paths = append(rule.HTTP.Paths, networkingv1.HTTPIngressPath{Path: p, PathType: pt, Backend: backend})
		}
		ing.Spec.Rules = append(ing.Spec.Rules, rule)
	}
	if tlsHost != "" {
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: strings.Split(tlsHost, ","), SecretName: secret}}
	}
	return ing
}

// withConfigMapKey sets key=value in the ConfigMap of opts (adding
// default/fuzz-config as opts.ConfigMap when it names none), on a copy of
// the ConfigMaps of objs, and returns the ConfigMap's reference.
func withConfigMapKey(objs *snapshot.Objects, opts *snapshot.Options, key, value string) snapshot.ObjectRef {
	if opts.ConfigMap == "" {
		opts.ConfigMap = "default/fuzz-config"
	}
	ns, name, _ := strings.Cut(opts.ConfigMap, "/")
	objs.ConfigMaps = slices.Clone(objs.ConfigMaps)
	i := slices.IndexFunc(objs.ConfigMaps, func(cm *corev1.ConfigMap) bool { return cm.Namespace == ns && cm.Name == name })
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if i >= 0 {
		cm = objs.ConfigMaps[i].DeepCopy()
	} else {
		objs.ConfigMaps = append(objs.ConfigMaps, cm)
		i = len(objs.ConfigMaps) - 1
	}
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	cm.Data[key] = value
	objs.ConfigMaps[i] = cm
	return snapshot.ObjectRef{Kind: "ConfigMap", Namespace: ns, Name: name}
}

// checkReported fails unless every error the annotations package gives for
// the annotations of ing (when served) and for the data of the ConfigMap
// is a warning of s on that object.
func checkReported(t *testing.T, s *snapshot.Snapshot, objs snapshot.Objects, opts snapshot.Options, ing *networkingv1.Ingress, cmRef snapshot.ObjectRef) {
	t.Helper()
	has := func(obj snapshot.ObjectRef, err error) bool {
		return slices.ContainsFunc(s.Warnings, func(w snapshot.Warning) bool {
			return w.Object == obj && strings.Contains(w.Message, err.Error())
		})
	}
	var errs []error
	if snapshot.NewClassSelector(objs.IngressClasses, opts).Serves(ing) {
		_, errs = annotations.Parse(ing.Annotations, annotations.DefaultProxy())
	}
	ref := snapshot.ObjectRef{Kind: "Ingress", Namespace: ing.Namespace, Name: ing.Name}
	for _, err := range errs {
		if !has(ref, err) {
			t.Errorf("%v: no warning on %v", err, ref)
		}
	}
	i := slices.IndexFunc(objs.ConfigMaps, func(cm *corev1.ConfigMap) bool {
		return cm.Namespace == cmRef.Namespace && cm.Name == cmRef.Name
	})
	_, cmErrs := annotations.ParseDefaults(objs.ConfigMaps[i].Data)
	_, _, tlsErrs := annotations.ParseTLSDefaults(objs.ConfigMaps[i].Data)
	for _, err := range append(cmErrs, tlsErrs...) {
		if !has(cmRef, err) {
			t.Errorf("%v: no warning on %v", err, cmRef)
		}
	}
}

func atoi32(s string) (int32, bool) {
	if s == "" || len(s) > 9 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n := int32(0)
	for _, c := range s {
		n = n*10 + c - '0'
	}
	return n, true
}

// FuzzBuild adds fuzzed Ingresses (hosts, paths, pathType, backend, one
// annotation, spec.tls; served by default, or by class when asked) to a
// golden case and builds it. Properties: no panic; the build is
// deterministic and independent of object order; its Hash is the reference
// one; every warning names its object and reason, and a rejected annotation
// names the annotation; the router compiles every Snapshot Build gives (a
// bad Ingress never makes a worker refuse the whole configuration); a
// Builder told that the Ingress was added, then changed, gives what Build
// gives, and so on random edits from there (compareRandomEdits).
func FuzzBuild(f *testing.F) {
	paths, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(paths) == 0 {
		f.Fatalf("no golden cases: %v", err)
	}
	var cases []fuzzCase
	for _, p := range paths {
		objs, opts := readCase(f, p)
		opts.WatchIngressWithoutClass = true
		cases = append(cases, fuzzCase{objs, opts})
	}
	f.Add(uint8(0), "foo.com,*.foo.com,", "/\n/api/", uint8(1), "web", "80", "proxy-body-size", "8m", "", "", uint64(1), "proxy-read-timeout", "5s")
	f.Add(uint8(3), "Foo.COM,bad_host", "/a(\nnoslash", uint8(2), "web", "http", "use-regex", "true", "foo.com", "a-tls", uint64(2), "hsts-max-age", "-1")
	f.Add(uint8(5), "", "", uint8(4), "", "0", "canary", "true", "*.example.com", "missing", uint64(3), "whitelist-source-range", "10.0.0.0/8")
	f.Add(uint8(7), "a.example.com", "/[a-z]+\n/", uint8(2), "gone", "99999", "whitelist-source-range", "10.0.0.0/33,x", "a.example.com,b.example.com", "tls", uint64(4), "load-balance", "ewma")
	f.Add(uint8(9), "x.io", "/", uint8(3), "web", "80", "server-snippet", "return 200;", "", "", uint64(5), "ssl-redirect", "false")
	f.Add(uint8(11), "x.io", "/", uint8(1), "web", "80", "canary-weight", "-5", "", "", uint64(6), "proxy-body-size", "1x")
	f.Add(uint8(3), "app.example.com", "/", uint8(1), "web", "80", "canary-by-header-pattern\ncanary=true\ncanary-by-header=X-Canary\ncanary-weight=30", "[", "", "", uint64(7), "proxy-body-size", "2m")
	f.Add(uint8(3), "app.example.com", "/", uint8(2), "web", "80", "canary-weight\ncanary=true\ncanary-weight-total=0\nuse-regex=true", "101", "", "", uint64(8), "ssl-redirect", "nope")
	f.Fuzz(func(t *testing.T, which uint8, hosts, paths string, kind uint8, svc, port, key, value, tlsHost, secret string, seed uint64, cmKey, cmValue string) {
		c := cases[int(which)%len(cases)]
		objs := c.objs
		opts := c.opts
		cmRef := withConfigMapKey(&objs, &opts, cmKey, cmValue)
		ing := fuzzIngress("fuzz", hosts, paths, kind, svc, port, key, value, tlsHost, secret)
		objs.Ingresses = append(slices.Clone(c.objs.Ingresses), ing)
		if seed%2 == 1 { // the same rules again, younger: conflicts
			twin := ing.DeepCopy()
			twin.Name = "fuzz-twin"
			twin.CreationTimestamp = metav1.Unix(int64(seed%1000), 0)
			objs.Ingresses = append(objs.Ingresses, twin)
		}
		want := snapshot.Build(objs, opts)

		if again := snapshot.Build(objs, opts); !cmp.Equal(want, again) {
			t.Fatalf("Build is not deterministic (-first +second):\n%s", cmp.Diff(want, again))
		}
		r := rand.New(rand.NewPCG(seed, 11))
		shuffledObjs := objs
		shuffledObjs.Ingresses = shuffled(r, objs.Ingresses)
		shuffledObjs.Services = shuffled(r, objs.Services)
		shuffledObjs.Secrets = shuffled(r, objs.Secrets)
		if got := snapshot.Build(shuffledObjs, opts); !cmp.Equal(want, got) {
			t.Fatalf("Build depends on object order (-want +got):\n%s", cmp.Diff(want, got))
		}
		if ref := snapshot.HashJSON(want); want.Hash != ref {
			t.Fatalf("Hash = %s, want the reference %s", want.Hash, ref)
		}
		for _, w := range want.Warnings {
			if w.Object.Kind == "" || w.Object.Name == "" || w.Reason == "" || w.Message == "" {
				t.Errorf("warning %+v does not name its object, reason and message", w)
			}
			if w.Reason == snapshot.ReasonInvalidAnnotation && !strings.Contains(w.Message, annotations.Prefix) {
				t.Errorf("warning %+v does not name the annotation", w)
			}
		}
		checkReported(t, want, objs, opts, ing, cmRef)
		if _, err := router.Compile(want, nil); err != nil {
			t.Fatalf("the router refuses the Snapshot Build gave: %v", err)
		}

		bl := snapshot.NewBuilder(opts)
		base := objs
		base.Ingresses = c.objs.Ingresses
		bl.Build(base)
		objs.Changed = []snapshot.ObjectRef{{Kind: "Ingress", Namespace: "default", Name: "fuzz"}, {Kind: "Ingress", Namespace: "default", Name: "fuzz-twin"}}
		if got := bl.Build(objs); !cmp.Equal(want, got) {
			t.Fatalf("Builder told of the fuzzed Ingress differs from Build (-want +got):\n%s", cmp.Diff(want, got))
		}
		objs.Changed = nil
		compareRandomEdits(t, r, objs, opts, edits, 2, seed)
	})
}

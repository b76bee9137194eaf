package snapshot_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// allCases decodes every testdata case into one set of objects, so that
// shuffling has much to reorder. Options come from the regex-free defaults.
func allCases(tb testing.TB, names ...string) snapshot.Objects {
	tb.Helper()
	var all snapshot.Objects
	for _, n := range names {
		objs, _ := readCase(tb, "testdata/"+n+".yaml")
		all.Ingresses = append(all.Ingresses, objs.Ingresses...)
		all.IngressClasses = append(all.IngressClasses, objs.IngressClasses...)
		all.Services = append(all.Services, objs.Services...)
		all.EndpointSlices = append(all.EndpointSlices, objs.EndpointSlices...)
		all.ConfigMaps = append(all.ConfigMaps, objs.ConfigMaps...)
	}
	return all
}

func shuffled[T any](r *rand.Rand, in []T) []T {
	out := slices.Clone(in)
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func TestBuildOrderIndependent(t *testing.T) {
	t.Parallel()
	objs := allCases(t, "conflict_oldest_wins", "use_regex", "port_by_name_and_number", "default_backend_oldest", "paths_exact_prefix_order")
	want := snapshot.Build(objs, snapshot.DefaultOptions())
	if len(want.Servers) == 0 || len(want.Warnings) == 0 {
		t.Fatalf("Build gave a trivial snapshot: %+v", want)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		in := snapshot.Objects{
			Ingresses:      shuffled(r, objs.Ingresses),
			IngressClasses: shuffled(r, objs.IngressClasses),
			Services:       shuffled(r, objs.Services),
			EndpointSlices: shuffled(r, objs.EndpointSlices),
			ConfigMaps:     shuffled(r, objs.ConfigMaps),
		}
		for _, es := range in.EndpointSlices {
			es.Endpoints = shuffled(r, es.Endpoints)
		}
		got := snapshot.Build(in, snapshot.DefaultOptions())
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("shuffle %d: Build differs (-want +got):\n%s", i, diff)
		}
	}
}

func TestBuildHashChangesWithEndpoint(t *testing.T) {
	t.Parallel()
	objs, opts := readCase(t, "testdata/class_by_name.yaml")
	before := snapshot.Build(objs, opts)
	if again := snapshot.Build(objs, opts); again.Hash != before.Hash {
		t.Fatalf("Build is not stable: %s then %s", before.Hash, again.Hash)
	}
	objs.EndpointSlices[0].Endpoints[0].Addresses[0] = "10.0.0.7"
	after := snapshot.Build(objs, opts)
	if after.Hash == before.Hash {
		t.Errorf("Hash %s did not change with an endpoint", after.Hash)
	}
	// Warnings are not routing content: a change to them alone keeps the hash.
	objs.Ingresses = append(objs.Ingresses, &networkingv1.Ingress{})
	if got := snapshot.Build(objs, opts); got.Hash != after.Hash {
		t.Errorf("Hash changed from %s to %s with an ignored Ingress", after.Hash, got.Hash)
	}
}

func TestBuildConfigMapNotFound(t *testing.T) {
	t.Parallel()
	opts := snapshot.DefaultOptions()
	opts.ConfigMap = "weir/missing"
	got := snapshot.Build(snapshot.Objects{}, opts)
	want := []snapshot.Warning{{
		Object:  snapshot.ObjectRef{Kind: "ConfigMap", Namespace: "weir", Name: "missing"},
		Reason:  snapshot.ReasonConfigMapNotFound,
		Message: "configmap weir/missing not found; built-in defaults used",
	}}
	if diff := cmp.Diff(want, got.Warnings); diff != "" {
		t.Errorf("Build warnings (-want +got):\n%s", diff)
	}
	if got.Servers == nil || len(got.Servers) != 0 || got.DefaultBackend != nil || got.Hash == "" {
		t.Errorf("Build of nothing = %+v, want no servers, no default backend, a hash", got)
	}
}

// TestBuildOddObjects feeds objects with nil and empty fields everywhere:
// Build must not panic and must still serve what is usable.
func TestBuildOddObjects(t *testing.T) {
	t.Parallel()
	class := "weir"
	empty := ""
	bogus := networkingv1.PathType("Bogus")
	exact := networkingv1.PathTypeExact
	port := int32(8080)
	falseV := false
	ing := func(name string, spec networkingv1.IngressSpec) *networkingv1.Ingress {
		i := &networkingv1.Ingress{Spec: spec}
		i.Name, i.Namespace = name, "default"
		return i
	}
	svcBackend := &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}
	objs := snapshot.Objects{
		IngressClasses: []*networkingv1.IngressClass{nil, {}, func() *networkingv1.IngressClass {
			ic := &networkingv1.IngressClass{Spec: networkingv1.IngressClassSpec{Controller: "weir-lb.dev/ingress-controller"}}
			ic.Name = "weir"
			return ic
		}()},
		Ingresses: []*networkingv1.Ingress{
			nil,
			{},
			ing("empty-class", networkingv1.IngressSpec{IngressClassName: &empty}),
			ing("nil-http", networkingv1.IngressSpec{IngressClassName: &class, Rules: []networkingv1.IngressRule{{Host: "a.example.com"}, {}}}),
			ing("odd-paths", networkingv1.IngressSpec{
				IngressClassName: &class,
				DefaultBackend:   &networkingv1.IngressBackend{},
				Rules: []networkingv1.IngressRule{{
					Host: "B.example.com",
					IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{
						{}, // no path type, no backend
						{Path: "/bogus", PathType: &bogus, Backend: *svcBackend},
						{Path: "/noport", PathType: &exact, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web"}}},
						{Path: "/ok", PathType: &exact, Backend: *svcBackend},
						{Path: "/nameless", PathType: &exact, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{}}},
					}}},
				}},
			}),
		},
		Services: []*corev1.Service{nil, {}, func() *corev1.Service {
			s := &corev1.Service{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
			s.Name, s.Namespace = "web", "default"
			return s
		}()},
		EndpointSlices: []*discoveryv1.EndpointSlice{nil, {}, func() *discoveryv1.EndpointSlice {
			es := &discoveryv1.EndpointSlice{
				Ports: []discoveryv1.EndpointPort{{}, {Port: &port}},
				Endpoints: []discoveryv1.Endpoint{
					{},
					{Addresses: []string{"not-an-ip", "10.0.0.1", "fd00::1"}},
					{Addresses: []string{"10.0.0.2"}, Conditions: discoveryv1.EndpointConditions{Ready: &falseV}},
				},
			}
			es.Name, es.Namespace = "web-1", "default"
			es.Labels = map[string]string{"kubernetes.io/service-name": "web"}
			return es
		}()},
		ConfigMaps: []*corev1.ConfigMap{nil, {}},
	}
	opts := snapshot.DefaultOptions()
	opts.ConfigMap = "no-slash"
	got := snapshot.Build(objs, opts)

	var paths []string
	for _, s := range got.Servers {
		for _, p := range s.Paths {
			paths = append(paths, s.Host+" "+string(p.Match)+" "+p.Path+" "+p.Backend.Unavailable)
		}
	}
	// Each host has its root location, the default backend's (the
	// spec.defaultBackend of odd-paths is unusable).
	wantPaths := []string{
		"a.example.com Prefix / ",
		"b.example.com Exact /noport no port of service default/web is named",
		"b.example.com Exact /ok ",
		"b.example.com Prefix / ",
	}
	if diff := cmp.Diff(wantPaths, paths); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
	// a.example.com, without http, comes first, with its root location only.
	if len(got.Servers) != 2 || got.Servers[0].Host != "a.example.com" || len(got.Servers[0].Paths) != 1 ||
		!got.Servers[0].Paths[0].Backend.DefaultUpstream || !got.Servers[1].Paths[2].Backend.DefaultUpstream {
		t.Fatalf("servers = %+v, want a.example.com with its root location only, then b.example.com", got.Servers)
	}
	if ok := got.Servers[1].Paths[1].Backend.Endpoints; !slices.Equal(ok, []string{"10.0.0.1:8080", "[fd00::1]:8080"}) {
		t.Errorf("endpoints = %v", ok)
	}
	var reasons []string
	for _, w := range got.Warnings {
		reasons = append(reasons, w.Object.Kind+"/"+w.Object.Name+" "+w.Reason)
	}
	wantReasons := []string{
		"ConfigMap/no-slash ConfigMapNotFound",
		"Ingress/odd-paths PortNotFound",   // /noport
		"Ingress/odd-paths InvalidBackend", // default backend
		"Ingress/odd-paths InvalidBackend", // the empty path
		"Ingress/odd-paths InvalidPath",    // /bogus
		"Ingress/odd-paths InvalidBackend", // /nameless
	}
	if diff := cmp.Diff(wantReasons, reasons); diff != "" {
		t.Errorf("warnings (-want +got):\n%s\n%+v", diff, got.Warnings)
	}
}

// TestBuildAddHeadersVariables: an add-headers or proxy-set-headers value
// naming a variable Weir does not evaluate is skipped with a warning (nginx
// would not load it); the known ones are kept for the proxy to expand.
func TestBuildAddHeadersVariables(t *testing.T) {
	t.Parallel()
	opts := snapshot.DefaultOptions()
	opts.ConfigMap = "weir/config"
	objs := snapshot.Objects{ConfigMaps: []*corev1.ConfigMap{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "weir", Name: "config"}, Data: map[string]string{"add-headers": "weir/response", "proxy-set-headers": "weir/request"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "weir", Name: "response"}, Data: map[string]string{"X-Host": "$host", "X-Time": "$upstream_response_time", "X-Dollar": "5$"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "weir", Name: "request"}, Data: map[string]string{"X-Time": "$msec", "X-Ip": "$remote_addr"}},
	}}
	got := snapshot.Build(objs, opts)
	want := []annotations.Header{{Name: "X-Host", Value: "$host"}}
	if diff := cmp.Diff(want, got.Global.ResponseHeaders); diff != "" {
		t.Errorf("ResponseHeaders (-want +got):\n%s", diff)
	}
	want = []annotations.Header{{Name: "X-Ip", Value: "$remote_addr"}}
	if diff := cmp.Diff(want, got.Global.UpstreamHeaders); diff != "" {
		t.Errorf("UpstreamHeaders (-want +got):\n%s", diff)
	}
	var reasons []string
	for _, w := range got.Warnings {
		reasons = append(reasons, w.Object.Name+" "+w.Reason+" "+w.Message)
	}
	wantReasons := []string{
		`request InvalidConfigMapValue header "X-Time" (configmap key proxy-set-headers): variable $msec is not supported; skipped`,
		`response InvalidConfigMapValue header "X-Dollar" (configmap key add-headers): variable $ is not supported; skipped`,
		`response InvalidConfigMapValue header "X-Time" (configmap key add-headers): variable $upstream_response_time is not supported; skipped`,
	}
	if diff := cmp.Diff(wantReasons, reasons); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

// TestBuildHeaderConfigMapBareName: add-headers and proxy-set-headers
// name their ConfigMaps namespace/name; a name alone finds nothing, even
// one in the controller ConfigMap's namespace, as ingress-nginx's store
// (keyed namespace/name) never finds it.
func TestBuildHeaderConfigMapBareName(t *testing.T) {
	t.Parallel()
	opts := snapshot.DefaultOptions()
	opts.ConfigMap = "weir/config"
	objs := snapshot.Objects{ConfigMaps: []*corev1.ConfigMap{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "weir", Name: "config"}, Data: map[string]string{"add-headers": "response", "proxy-set-headers": "weir/request"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "weir", Name: "response"}, Data: map[string]string{"X-Frame-Options": "DENY"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "weir", Name: "request"}, Data: map[string]string{"X-Team": "a"}},
	}}
	got := snapshot.Build(objs, opts)
	if got.Global.ResponseHeaders != nil || len(got.Global.UpstreamHeaders) != 1 {
		t.Errorf("ResponseHeaders %v, UpstreamHeaders %v; want none of the bare add-headers, weir/request's one", got.Global.ResponseHeaders, got.Global.UpstreamHeaders)
	}
	want := []snapshot.Warning{{
		Object:  snapshot.ObjectRef{Kind: "ConfigMap", Namespace: "weir", Name: "config"},
		Reason:  snapshot.ReasonConfigMapNotFound,
		Message: `configmap key add-headers: configmap "response" (no namespace: a ConfigMap is named namespace/name) not found; no header set`,
	}}
	if diff := cmp.Diff(want, got.Warnings); diff != "" {
		t.Errorf("Build warnings (-want +got):\n%s", diff)
	}
}

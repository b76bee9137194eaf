package quickstart_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/weir-lb/weir/userspace/manifest"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// load decodes every manifest file of the folder, failing on any error.
func load(tb testing.TB) snapshot.Objects {
	tb.Helper()
	names, err := filepath.Glob("*.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	var all snapshot.Objects
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		objs, errs := manifest.DecodeObjects(data)
		for _, err := range errs {
			tb.Errorf("%s: %v", name, err)
		}
		all.Ingresses = append(all.Ingresses, objs.Ingresses...)
		all.IngressClasses = append(all.IngressClasses, objs.IngressClasses...)
		all.Services = append(all.Services, objs.Services...)
		all.EndpointSlices = append(all.EndpointSlices, objs.EndpointSlices...)
		all.Secrets = append(all.Secrets, objs.Secrets...)
		all.ConfigMaps = append(all.ConfigMaps, objs.ConfigMaps...)
	}
	return all
}

func TestManifestsDecode(t *testing.T) {
	t.Parallel()
	objs := load(t)
	got := map[string]int{
		"Ingress":       len(objs.Ingresses),
		"IngressClass":  len(objs.IngressClasses),
		"Service":       len(objs.Services),
		"EndpointSlice": len(objs.EndpointSlices),
		"Secret":        len(objs.Secrets),
		"ConfigMap":     len(objs.ConfigMaps),
	}
	want := map[string]int{
		"Ingress": 5, "IngressClass": 1, "Service": 3, "EndpointSlice": 3,
		"Secret": 0, "ConfigMap": 0,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("object counts (-want +got):\n%s", diff)
	}
}

func TestFolderSourceLoadsCleanly(t *testing.T) {
	t.Parallel()
	u := manifest.NewSource(".", manifest.Options{}).Load()
	for _, p := range u.Problems {
		t.Errorf("problem: %v", p)
	}
	if got := len(u.Objects.Ingresses); got != 5 {
		t.Errorf("%d Ingresses, want 5", got)
	}
}

// TestRoutes checks that the routes the TOUR describes are the ones Build
// makes of the manifests.
func TestRoutes(t *testing.T) {
	t.Parallel()
	s := snapshot.Build(load(t), snapshot.DefaultOptions())
	for _, w := range s.Warnings {
		t.Errorf("warning: %+v", w)
	}
	var got []string
	for _, srv := range s.Servers {
		for _, p := range srv.Paths {
			got = append(got, fmt.Sprintf("%q %s %s -> %s %s", srv.Host, p.Match, p.Path,
				p.Backend.Service, strings.Join(p.Backend.Endpoints, ",")))
		}
	}
	if s.DefaultBackend == nil {
		got = append(got, "default -> none")
	} else {
		got = append(got, fmt.Sprintf("default -> %s %s", s.DefaultBackend.Service, strings.Join(s.DefaultBackend.Endpoints, ",")))
	}
	want := []string{
		`"api.localhost" Exact /healthz -> web 127.0.0.1:9101`,
		`"api.localhost" Prefix /v1 -> api 127.0.0.1:9102`,
		`"api.localhost" Prefix / -> docs 127.0.0.1:9103`,
		`"web.localhost" Prefix / -> web 127.0.0.1:9101`,
		`"*.docs.localhost" Prefix / -> docs 127.0.0.1:9103`,
		`"" Prefix /status -> api 127.0.0.1:9102`,
		`default -> docs 127.0.0.1:9103`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("routes (-want +got):\n%s", diff)
	}
}

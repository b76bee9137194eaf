package snapshot_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// TestBuildCanaryOrderIndependent: canaries are attached oldest first
// whatever the order of the input.
func TestBuildCanaryOrderIndependent(t *testing.T) {
	t.Parallel()
	objs, opts := readCase(t, "testdata/canary_multiple.yaml")
	want := snapshot.Build(objs, opts)
	if len(want.Servers) != 1 || len(want.Servers[0].Paths[0].Canaries) != 3 {
		t.Fatalf("Build did not attach 3 canaries: %+v", want.Servers)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 20 {
		in := objs
		in.Ingresses = shuffled(r, objs.Ingresses)
		if diff := cmp.Diff(want, snapshot.Build(in, opts)); diff != "" {
			t.Fatalf("shuffle %d: Build differs (-want +got):\n%s", i, diff)
		}
	}
}

// TestBuildHashCoversCanaries: a change to a canary's rule alone changes
// the hash.
func TestBuildHashCoversCanaries(t *testing.T) {
	t.Parallel()
	objs, opts := readCase(t, "testdata/canary_attach.yaml")
	before := snapshot.Build(objs, opts)
	for _, ing := range objs.Ingresses {
		if ing.Name == "main-canary" {
			ing.Annotations[annotations.Prefix+"canary-weight"] = "21"
		}
	}
	after := snapshot.Build(objs, opts)
	if after.Hash == before.Hash {
		t.Errorf("Hash %s did not change with a canary weight", after.Hash)
	}
	if got := after.Servers[0].Paths[1].Canaries[0].Weight; got != 21 {
		t.Errorf("canary weight = %d, want 21", got)
	}
}

func TestCanaryTotal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []snapshot.Canary
		want int
	}{
		{"none", nil, 100},
		{"one", []snapshot.Canary{{WeightTotal: 1000}}, 1000},
		{"largest", []snapshot.Canary{{WeightTotal: 10}, {WeightTotal: 300}, {WeightTotal: 100}}, 300},
		{"below 100 counts as 100", []snapshot.Canary{{WeightTotal: 10}, {WeightTotal: 50}}, 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := snapshot.CanaryTotal(tc.in); got != tc.want {
				t.Errorf("CanaryTotal = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestBuildCanaryDefaultBackend: a canary Ingress's spec.defaultBackend is
// a canary of the catch-all default backend of a non-canary Ingress and of
// the paths of rules without a host (ingress-nginx's
// mergeAlternativeBackends merges it into the default server's locations),
// not of the default backend's own service, and of nothing without a
// catch-all from an Ingress.
func TestBuildCanaryDefaultBackend(t *testing.T) {
	t.Parallel()
	objs, opts := readCase(t, "testdata/canary_default_backend.yaml")
	s := snapshot.Build(objs, opts)
	if len(s.DefaultCanaries) != 1 || s.DefaultCanaries[0].Backend.Service != "web-v2" || s.DefaultCanaries[0].Weight != 20 ||
		s.DefaultCanaries[0].Header != "X-Canary" {
		t.Errorf("default backend canaries = %+v, want web-v2 by header X-Canary, weight 20", s.DefaultCanaries)
	}
	var anyHost *snapshot.Server
	for i := range s.Servers {
		if s.Servers[i].Host == "" {
			anyHost = &s.Servers[i]
		}
	}
	if anyHost == nil || len(anyHost.Paths) != 1 || len(anyHost.Paths[0].Canaries) != 1 || anyHost.Paths[0].Canaries[0].Backend.Service != "web-v2" {
		t.Errorf("path /api of the rules without a host: %+v, want the canary web-v2", anyHost)
	}
	warned := false
	for _, w := range s.Warnings {
		warned = warned || w.Object.Name == "same" && w.Reason == snapshot.ReasonCanaryDefaultBackendIgnored
	}
	if !warned {
		t.Errorf("no %s warning on canary \"same\": %v", snapshot.ReasonCanaryDefaultBackendIgnored, s.Warnings)
	}

	// Without the catch-all Ingress (the default backend is Weir's 404 or
	// --default-backend-service, ingress-nginx's upstream-default-backend)
	// the canary joins only /api.
	objs.Ingresses = slices.DeleteFunc(slices.Clone(objs.Ingresses), func(i *networkingv1.Ingress) bool { return i.Name == "catch-all" })
	s = snapshot.Build(objs, opts)
	if len(s.DefaultCanaries) != 0 {
		t.Errorf("without a catch-all Ingress: default backend canaries %+v, want none", s.DefaultCanaries)
	}
}

// TestBuildLegacyCanaryAffinity: a canary with affinity-canary-behavior
// legacy has no cookie affinity, its own affinity annotations ignored, as
// ingress-nginx gives an upstream only canaries route to none
// (getBackendServers skips a NoServer upstream, mergeAlternativeBackend
// copies nothing for legacy); unless a sticky canary routes to the same
// Service port: that one upstream has the main rule's affinity the sticky
// canary's merge copied there.
func TestBuildLegacyCanaryAffinity(t *testing.T) {
	t.Parallel()
	main := func(kv ...string) *networkingv1.Ingress {
		return balanceIngress("main", "a.example.com", "app", 80, 1, kv...)
	}
	legacy := balanceIngress("legacy", "a.example.com", "v2", 80, 2, "canary", "true", "canary-weight", "50",
		"affinity-canary-behavior", "legacy", "affinity", "cookie", "session-cookie-name", "own", "upstream-hash-by", "$uri")
	for _, tc := range []struct {
		name string
		ings []*networkingv1.Ingress
		want string // the legacy canary's cookie name, "" for none
	}{
		{"main without affinity", []*networkingv1.Ingress{main(), legacy}, ""},
		{"main with affinity", []*networkingv1.Ingress{main("affinity", "cookie", "session-cookie-name", "m"), legacy}, ""},
		{"a sticky canary of v2 on another host", []*networkingv1.Ingress{
			main("affinity", "cookie", "session-cookie-name", "m"), legacy,
			balanceIngress("other", "b.example.com", "app", 80, 3, "affinity", "cookie", "session-cookie-name", "o"),
			balanceIngress("sticky", "b.example.com", "v2", 80, 4, "canary", "true", "canary-weight", "50"),
		}, "o"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := snapshot.Build(snapshot.Objects{IngressClasses: weirClasses(), Ingresses: tc.ings}, snapshot.DefaultOptions())
			if len(s.Servers) == 0 || s.Servers[0].Host != "a.example.com" || len(s.Servers[0].Paths[0].Canaries) != 1 {
				t.Fatalf("servers: %+v", s.Servers)
			}
			bal := s.Servers[0].Paths[0].Canaries[0].Backend.Proxy.Balance
			got := ""
			if bal != nil && bal.Cookie {
				got = bal.CookieName
			}
			if got != tc.want || bal == nil || !bal.CanaryLegacy || bal.HashBy != "$uri" {
				t.Errorf("legacy canary: balance %+v, want cookie %q (none if empty), CanaryLegacy, hashed by its own $uri", bal, tc.want)
			}
		})
	}
}

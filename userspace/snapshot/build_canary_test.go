package snapshot_test

import (
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"

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

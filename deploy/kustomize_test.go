package deploy

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func writeFile(t testing.TB, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPatchOps(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		op   patchOp
		want map[string]any
		err  bool
	}{
		{"add map key", patchOp{Op: "add", Path: "/spec/x", Value: "v"}, map[string]any{"spec": map[string]any{"l": []any{"a", "b"}, "x": "v"}}, false},
		{"append to list", patchOp{Op: "add", Path: "/spec/l/-", Value: "c"}, map[string]any{"spec": map[string]any{"l": []any{"a", "b", "c"}}}, false},
		{"insert in list", patchOp{Op: "add", Path: "/spec/l/0", Value: "z"}, map[string]any{"spec": map[string]any{"l": []any{"z", "a", "b"}}}, false},
		{"replace in list", patchOp{Op: "replace", Path: "/spec/l/1", Value: "y"}, map[string]any{"spec": map[string]any{"l": []any{"a", "y"}}}, false},
		{"remove from list", patchOp{Op: "remove", Path: "/spec/l/0"}, map[string]any{"spec": map[string]any{"l": []any{"b"}}}, false},
		{"replace missing", patchOp{Op: "replace", Path: "/spec/nope", Value: 1}, nil, true},
		{"missing parent", patchOp{Op: "add", Path: "/nope/x", Value: 1}, nil, true},
		{"index out of range", patchOp{Op: "replace", Path: "/spec/l/5", Value: 1}, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			obj := map[string]any{"spec": map[string]any{"l": []any{"a", "b"}}}
			err := apply(obj, tc.op)
			if tc.err {
				if err == nil {
					t.Errorf("no error, object %v", obj)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, obj); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

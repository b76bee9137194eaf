// Package deploy holds Weir's kustomize base and overlays, and Render, a
// minimal renderer for them so that tests can apply every overlay to a real
// API server without the kustomize library and its dependencies.
//
// Render understands the subset these overlays use: `resources` (files and
// folders with a kustomization.yaml) and `patches` with a target kind/name and
// an inline JSON 6902 patch (add, replace, remove). Anything else in a
// kustomization.yaml is an error, so a new feature cannot be skipped
// silently.
package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
	Patches    []struct {
		Target struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
		} `json:"target"`
		Patch string `json:"patch"`
	} `json:"patches"`
}

type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// Render returns the objects of the kustomization in dir, in resource order.
func Render(dir string) ([]*unstructured.Unstructured, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, fmt.Errorf("read kustomization: %w", err)
	}
	var k kustomization
	if err := yaml.UnmarshalStrict(raw, &k); err != nil {
		return nil, fmt.Errorf("parse %s/kustomization.yaml (only resources and patches are supported): %w", dir, err)
	}
	var objs []*unstructured.Unstructured
	for _, r := range k.Resources {
		p := filepath.Join(dir, r)
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("resource %s: %w", r, err)
		}
		var got []*unstructured.Unstructured
		if st.IsDir() {
			got, err = Render(p)
		} else {
			got, err = readObjects(p)
		}
		if err != nil {
			return nil, fmt.Errorf("resource %s: %w", r, err)
		}
		objs = append(objs, got...)
	}
	for i, p := range k.Patches {
		var ops []patchOp
		if err := yaml.UnmarshalStrict([]byte(p.Patch), &ops); err != nil {
			return nil, fmt.Errorf("%s: patch %d: %w", dir, i, err)
		}
		matched := 0
		for _, o := range objs {
			if o.GetKind() != p.Target.Kind || (p.Target.Name != "" && o.GetName() != p.Target.Name) {
				continue
			}
			matched++
			for _, op := range ops {
				if err := apply(o.Object, op); err != nil {
					return nil, fmt.Errorf("%s: patch %d on %s %s: %s %s: %w", dir, i, o.GetKind(), o.GetName(), op.Op, op.Path, err)
				}
			}
		}
		if matched == 0 {
			return nil, fmt.Errorf("%s: patch %d matches no object", dir, i)
		}
	}
	return objs, nil
}

func readObjects(path string) ([]*unstructured.Unstructured, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Decode(raw)
}

// Decode reads the objects of a stream of YAML documents (empty documents
// skipped), as kubectl apply -f reads a file or `helm template`'s output.
func Decode(raw []byte) ([]*unstructured.Unstructured, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	var out []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		m := map[string]any{}
		if err := yaml.Unmarshal(doc, &m); err != nil {
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
}

// apply runs one JSON 6902 operation on obj.
func apply(obj map[string]any, op patchOp) error {
	parts := strings.Split(strings.TrimPrefix(op.Path, "/"), "/")
	for i := range parts {
		parts[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(parts[i])
	}
	_, err := patchAt(obj, parts, op)
	return err
}

// patchAt applies op at parts below node and returns the new node (lists
// may be reallocated).
func patchAt(node any, parts []string, op patchOp) (any, error) {
	key, rest := parts[0], parts[1:]
	switch c := node.(type) {
	case map[string]any:
		if len(rest) > 0 {
			v, ok := c[key]
			if !ok {
				return nil, fmt.Errorf("no %q", key)
			}
			nv, err := patchAt(v, rest, op)
			if err != nil {
				return nil, err
			}
			c[key] = nv
			return c, nil
		}
		_, exists := c[key]
		switch {
		case op.Op == "add":
			c[key] = op.Value
		case op.Op == "replace" && exists:
			c[key] = op.Value
		case op.Op == "remove" && exists:
			delete(c, key)
		case exists:
			return nil, fmt.Errorf("unsupported op %q", op.Op)
		default:
			return nil, fmt.Errorf("no %q", key)
		}
		return c, nil
	case []any:
		if key == "-" && len(rest) == 0 && op.Op == "add" {
			return append(c, op.Value), nil
		}
		i, err := strconv.Atoi(key)
		if err != nil || i < 0 || i > len(c) || (i == len(c) && (op.Op != "add" || len(rest) > 0)) {
			return nil, fmt.Errorf("bad index %q", key)
		}
		if len(rest) > 0 {
			nv, err := patchAt(c[i], rest, op)
			if err != nil {
				return nil, err
			}
			c[i] = nv
			return c, nil
		}
		switch op.Op {
		case "add":
			return append(c[:i:i], append([]any{op.Value}, c[i:]...)...), nil
		case "replace":
			c[i] = op.Value
			return c, nil
		case "remove":
			return append(c[:i:i], c[i+1:]...), nil
		}
		return nil, fmt.Errorf("unsupported op %q", op.Op)
	default:
		return nil, fmt.Errorf("cannot patch inside %T at %q", node, key)
	}
}

package manifest

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
)

// aliasBomb returns a "billion laughs" document: n levels of anchors, each
// aliasing the previous nine times.
func aliasBomb(n int) string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n  l0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "  l%d: &a%d [", i, i)
		for j := range 9 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]\n")
	}
	return b.String()
}

// FuzzDecodeDocuments decodes fuzzed multi-document YAML; the seed corpus
// in testdata/fuzz/FuzzDecodeDocuments is the golden cases of
// userspace/snapshot and the quickstart. Properties: no panic; each
// document has an object or an error, never both; indexes increase; a
// decoded object has a name, a namespace when namespaced, and the Key of
// its kind, namespace and name. Alias bombs and deep nesting are seeds: the
// YAML decoder bounds both.
func FuzzDecodeDocuments(f *testing.F) {
	for _, s := range []string{
		"", "---\n---\n", "# only\n# comments\n", "kind: [\n",
		"apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: a}\n",
		"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n",
		"apiVersion: v1\nkind: Service\nmetadata: {name: ''}\n",
		"apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {tls.crt: '!!'}\n",
		"a: &a [*a, *a]\n",
		aliasBomb(9), strings.Repeat("[", 20000), strings.Repeat("a: {", 20000),
		"apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i, namespace: n, annotations: {x: 1}}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		last := -1
		for _, d := range DecodeDocuments(data) {
			if d.Index <= last {
				t.Fatalf("document index %d after %d", d.Index, last)
			}
			last = d.Index
			if (d.Err == nil) == (d.Object == nil) {
				t.Fatalf("document %d: Object %T and Err %v: want exactly one", d.Index, d.Object, d.Err)
			}
			if d.Err != nil {
				continue
			}
			m, err := meta.Accessor(d.Object)
			if err != nil {
				t.Fatalf("document %d: %T has no metadata: %v", d.Index, d.Object, err)
			}
			kind := d.Object.GetObjectKind().GroupVersionKind().Kind
			if !supported[kind] {
				t.Errorf("document %d: decoded kind %q is not one Weir reads", d.Index, kind)
			}
			if m.GetName() == "" || (kind != "IngressClass") == (m.GetNamespace() == "") {
				t.Errorf("document %d: %s %q/%q: want a name, and a namespace exactly when namespaced", d.Index, kind, m.GetNamespace(), m.GetName())
			}
			if want := kind + " " + m.GetNamespace() + "/" + m.GetName(); d.Key != want {
				t.Errorf("document %d: Key %q, want %q", d.Index, d.Key, want)
			}
		}
		objs, errs := DecodeObjects(data)
		n := len(objs.Ingresses) + len(objs.IngressClasses) + len(objs.Services) + len(objs.EndpointSlices) + len(objs.Secrets) + len(objs.ConfigMaps)
		for _, err := range errs {
			if err == nil || strings.TrimSpace(err.Error()) == "" {
				t.Errorf("DecodeObjects: empty error")
			}
		}
		if docs := DecodeDocuments(data); n+len(errs) != len(docs) {
			t.Errorf("DecodeObjects: %d objects and %d errors for %d documents", n, len(errs), len(docs))
		}
	})
}

package manifest

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeDocumentsKeys(t *testing.T) {
	t.Parallel()
	data := `apiVersion: v1
kind: Service
metadata: {name: ok}
---
apiVersion: v1
kind: Service
metadata: {name: broken, namespace: team}
spec: {prots: []}
---
apiVersion: v1
kind: Service
metadata: {name: broken-default}
spec: {prots: []}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: weir}
spec: {controller: weir-lb.dev/ingress-controller}
---
kind: [
`
	type doc struct {
		Index int
		Key   string
		Err   string
	}
	var got []doc
	for _, d := range DecodeDocuments([]byte(data)) {
		e := ""
		if d.Err != nil {
			e, _, _ = strings.Cut(d.Err.Error(), ":")
		}
		got = append(got, doc{d.Index, d.Key, e})
	}
	want := []doc{
		{0, "Service default/ok", ""},
		{1, "Service team/broken", "decode Service"},
		{2, "Service default/broken-default", "decode Service"},
		{3, "IngressClass /weir", ""},
		{4, "", "parse yaml document 4"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("documents (-want +got):\n%s", diff)
	}
}

// TestDecodeSecretStringData: a Secret's stringData is read as data, as the
// API server merges it (stringData's value wins for a key in both), so an
// auth Secret written with stringData works as one written with data.
func TestDecodeSecretStringData(t *testing.T) {
	t.Parallel()
	objs, errs := DecodeObjects([]byte(`apiVersion: v1
kind: Secret
metadata: {name: basic-auth}
data: {auth: b2xk, kept: a2VwdA==}
stringData: {auth: "foo:$apr1$x$y"}
`))
	if len(errs) != 0 || len(objs.Secrets) != 1 {
		t.Fatalf("errors %v, %d secrets", errs, len(objs.Secrets))
	}
	sec := objs.Secrets[0]
	got := map[string]string{}
	for k, v := range sec.Data {
		got[k] = string(v)
	}
	if diff := cmp.Diff(map[string]string{"auth": "foo:$apr1$x$y", "kept": "kept"}, got); diff != "" || sec.StringData != nil {
		t.Errorf("data (-want +got):\n%s stringData %v", diff, sec.StringData)
	}
}

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

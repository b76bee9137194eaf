package proxy

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/weir-lb/weir/userspace/manifest"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// TestRegexOrderE2E follows ingress-nginx's e2e tests of location order in
// a host that a rewrite-target or use-regex makes a regex host
// (test/e2e/annotations/rewrite.go): a plain Ingress's Prefix path there is
// "^P/" and "^P", sorted by length with the others, so "/foo" stays the
// plain Ingress's and "/foo/bar" is the longer "/foo.+"'s ("should use ~*
// location modifier if regex annotation is present"); "/foo/bar/bar" is
// "/foo/bar/[a-z]{3}"'s, the longer pattern, not the plain path's ("should
// fail to use longest match for documented warning"); a rewrite-target on
// "/" does not take "/.well-known/acme/challenge" ("should use correct
// longest path match").
func TestRegexOrderE2E(t *testing.T) {
	t.Parallel()
	up := backend(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.RequestURI) })
	port := up.Listener.Addr().String()[len("127.0.0.1:"):]
	ing := func(name, host, path, ann string, sec int) string {
		return fmt.Sprintf(`apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: %s
  creationTimestamp: "2024-01-01T00:00:%02dZ"
  annotations: {%s}
spec:
  ingressClassName: weir
  rules:
  - host: %s
    http:
      paths:
      - {path: "%s", pathType: Prefix, backend: {service: {name: %s, port: {number: 80}}}}
`, name, sec, ann, host, path, name)
	}
	var docs []string
	regex := `nginx.ingress.kubernetes.io/use-regex: "true", nginx.ingress.kubernetes.io/rewrite-target: /new/backend`
	for i, d := range [][4]string{ // name, host, path, annotations; oldest first
		{"foo", "a.test", "/foo", ""},
		{"regex", "a.test", "/foo.+", regex},
		{"foo-bar", "b.test", "/foo/bar/bar", ""},
		{"regex-bar", "b.test", "/foo/bar/[a-z]{3}", regex},
		{"kube-lego", "c.test", "/.well-known/acme/challenge", ""},
		{"rewrite-index", "c.test", "/", "nginx.ingress.kubernetes.io/rewrite-target: /new/backend"},
	} {
		docs = append(docs, ing(d[0], d[1], d[2], d[3], i), fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: %s}
spec: {ports: [{name: http, port: 80, targetPort: http}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: %s-1, labels: {kubernetes.io/service-name: %s}}
addressType: IPv4
ports: [{name: http, port: %s, protocol: TCP}]
endpoints: [{addresses: ["127.0.0.1"], conditions: {ready: true}}]
`, d[0], d[0], d[0], port))
	}
	docs = append(docs, "apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: weir}\nspec: {controller: weir-lb.dev/ingress-controller}\n")
	objs, errs := manifest.DecodeObjects([]byte(strings.Join(docs, "---\n")))
	if len(errs) > 0 {
		t.Fatalf("decode: %v", errs)
	}
	s := snapshot.Build(objs, snapshot.DefaultOptions())
	_, srv := front(t, Options{}, s)
	// The upstream answers the request target it got.
	checkGets(t, addr(srv), []getCase{
		{"a.test", "/foo", "/foo"},
		{"a.test", "/foo/bar", "/new/backend"},
		{"b.test", "/foo/bar/bar", "/new/backend"},
		{"c.test", "/.well-known/acme/challenge", "/.well-known/acme/challenge"},
		{"c.test", "/other", "/new/backend"},
	})
}

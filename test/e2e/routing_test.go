package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestRouting checks every host and path rule of the Ingress API through
// Weir with a real client.
func TestRouting(t *testing.T) {
	names := []string{"exact", "wild", "any", "pfx", "pfxlong", "ex", "deflt", "regex", "old", "named"}
	files := map[string]string{"class.yaml": ingressClass}
	var svcs strings.Builder
	for _, n := range names {
		svcs.WriteString(service(n, newBackend(t, n, nil).port))
	}
	files["services.yaml"] = svcs.String()
	files["ingresses.yaml"] = `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: hosts, namespace: default, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  ingressClassName: weir
  rules:
  - host: Foo.Example.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: exact, port: {number: 80}}}}]}
  - host: "*.example.com"
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: wild, port: {name: http}}}}]}
  - http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: any, port: {number: 80}}}}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: paths, namespace: default, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  ingressClassName: weir
  rules:
  - host: paths.test
    http:
      paths:
      - {path: /aaa/bbb/, pathType: Prefix, backend: {service: {name: pfx, port: {number: 80}}}}
      - {path: /aaa/bbb/ccc, pathType: Prefix, backend: {service: {name: pfxlong, port: {number: 80}}}}
      - {path: /aaa/bbb, pathType: Exact, backend: {service: {name: ex, port: {number: 80}}}}
      - {path: /foo, pathType: Exact, backend: {service: {name: ex, port: {number: 80}}}}
      - {path: /impl, pathType: ImplementationSpecific, backend: {service: {name: named, port: {name: http}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: fallback, namespace: default, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  ingressClassName: weir
  defaultBackend: {service: {name: deflt, port: {number: 80}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: regex
  namespace: default
  creationTimestamp: "2024-01-01T00:00:00Z"
  annotations: {nginx.ingress.kubernetes.io/use-regex: "true"}
spec:
  ingressClassName: weir
  rules:
  - host: regex.test
    http:
      paths:
      - {path: "/api/v[0-9]+/users", pathType: ImplementationSpecific, backend: {service: {name: regex, port: {number: 80}}}}
      - {path: /exact, pathType: Exact, backend: {service: {name: ex, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: a-newer, namespace: default, creationTimestamp: "2024-06-01T00:00:00Z"}
spec:
  ingressClassName: weir
  rules:
  - host: conflict.test
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: exact, port: {number: 80}}}}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: z-older, namespace: default, creationTimestamp: "2023-01-01T00:00:00Z"}
spec:
  ingressClassName: weir
  rules:
  - host: conflict.test
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: old, port: {number: 80}}}}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: other-class, namespace: default, creationTimestamp: "2020-01-01T00:00:00Z"}
spec:
  ingressClassName: nginx
  rules:
  - host: other.test
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: exact, port: {number: 80}}}}]}
`
	w := startWeir(t, files)

	cases := []struct {
		host, path string
		want       string // backend name, or "404"
	}{
		// Hosts: exact is case-insensitive and ignores the port.
		{"foo.example.com", "/", "exact"},
		{"FOO.EXAMPLE.COM:8080", "/x", "exact"},
		// Wildcards match exactly one label.
		{"bar.example.com", "/", "wild"},
		{"baz.bar.example.com", "/", "any"},
		{"example.com", "/", "any"},
		// No host: any host not matched otherwise.
		{"unknown.test", "/anything", "any"},
		// Prefix is element-wise; the rule's trailing slash is ignored.
		{"paths.test", "/aaa/bbb/", "pfx"},
		{"paths.test", "/aaa/bbb/x", "pfx"},
		{"paths.test", "/aaa/bbbxyz", "404"},
		// Longest match wins; on a tie Exact beats Prefix.
		{"paths.test", "/aaa/bbb/ccc/d", "pfxlong"},
		{"paths.test", "/aaa/bbb", "ex"},
		// Exact is literal and case-sensitive.
		{"paths.test", "/foo", "ex"},
		{"paths.test", "/foo/", "404"},
		{"paths.test", "/FOO", "404"},
		// The path is normalised before matching, as nginx does: dot
		// segments and repeated slashes cannot dodge a rule.
		{"paths.test", "/x/../aaa/bbb/ccc", "pfxlong"},
		{"paths.test", "//aaa//bbb/ccc", "pfxlong"},
		// ImplementationSpecific is Prefix; port by name.
		{"paths.test", "/impl/x", "named"},
		// No path of a named host matches: the host's root location,
		// whose backend is upstream-default-backend (no
		// --default-backend-service: Weir's 404), never the catch-all
		// Ingress's spec.defaultBackend (ingress-nginx's createServers).
		{"paths.test", "/nothing", "404"},
		// Regex: case-insensitive, anchored at the start; Exact still literal.
		{"regex.test", "/API/v2/users/7", "regex"},
		{"regex.test", "/x/api/v2/users", "404"},
		{"regex.test", "/exact", "ex"},
		// Conflict: the oldest Ingress wins.
		{"conflict.test", "/", "old"},
		// Other classes are ignored entirely: caught by the no-host rule.
		{"other.test", "/", "any"},
	}
	for _, tc := range cases {
		t.Run(tc.host+tc.path, func(t *testing.T) {
			got := w.get(tc.host, tc.path)
			if tc.want == "404" {
				if got.status != http.StatusNotFound {
					t.Fatalf("got %d %q, want 404", got.status, got.body)
				}
				return
			}
			want := fmt.Sprintf("%s %s", tc.want, strings.SplitN(tc.path, "?", 2)[0])
			if got.status != http.StatusOK || got.body != want {
				t.Fatalf("got %d %q, want 200 %q", got.status, got.body, want)
			}
		})
	}
}

// TestNoRouteIs404 checks that Weir answers 404 itself when no rule and no
// default backend match.
func TestNoRouteIs404(t *testing.T) {
	b := newBackend(t, "only", nil)
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml": service("only", b.port) + `
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: only, namespace: default}
spec:
  ingressClassName: weir
  rules:
  - host: only.test
    http: {paths: [{path: /app, pathType: Prefix, backend: {service: {name: only, port: {number: 80}}}}]}
`,
	})
	for _, tc := range []struct{ host, path string }{{"only.test", "/other"}, {"nobody.test", "/app"}} {
		if got := w.get(tc.host, tc.path); got.status != http.StatusNotFound {
			t.Errorf("%s%s: got %d %q, want 404", tc.host, tc.path, got.status, got.body)
		}
	}
	if got := w.get("only.test", "/app/x"); got.status != http.StatusOK {
		t.Errorf("only.test/app/x: got %d, want 200", got.status)
	}
}

package snapshot

import (
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
)

// TestDeepInspect checks the values ingress-nginx's deep inspection refuses
// (internal/ingress/inspector/rules_test.go and its e2e
// ingress/deep_inspection.go) and some it lets through.
func TestDeepInspect(t *testing.T) {
	t.Parallel()
	prefix := networkingv1.PathTypePrefix
	withPath := func(host, path string) *networkingv1.Ingress {
		return &networkingv1.Ingress{Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{
			Host: host,
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{Path: "/ok", PathType: &prefix}, {Path: path, PathType: &prefix}},
			}},
		}}}}
	}
	withTLS := func(secret, host string) *networkingv1.Ingress {
		return &networkingv1.Ingress{Spec: networkingv1.IngressSpec{TLS: []networkingv1.IngressTLS{{SecretName: secret, Hosts: []string{host}}}}}
	}
	for _, tc := range []struct {
		name   string
		ing    *networkingv1.Ingress
		unsafe bool
	}{
		{"plain", withPath("a.example.com", "/api/v1"), false},
		{"regex", withPath("a.example.com", "/id/[0-9]+$"), false},
		{"etc nginx", withPath("a.example.com", "/etc/nginx"), true},
		{"etc passwd deep", withPath("a.example.com", "/x/etc/passwd"), true},
		{"secrets", withPath("a.example.com", "/var/run/secrets/kubernetes.io"), true},
		{"alias directive", withPath("a.example.com", "/bla{alias /var/run/secrets/;}location ~* ^/abcd"), true},
		{"root directive", withPath("a.example.com", "/x;root /;"), true},
		{"by lua", withPath("a.example.com", "/content_by_lua_block"), true},
		{"host", withPath("a.example.com/etc/nginx", "/"), true},
		{"tls secret", withTLS("x;alias /etc/;", "a.example.com"), true},
		{"tls host", withTLS("tls", "/var/run/secrets"), true},
		{"tls fine", withTLS("tls", "a.example.com"), false},
	} {
		if got := deepInspect(tc.ing) != ""; got != tc.unsafe {
			t.Errorf("%s: unsafe %v, want %v (%q)", tc.name, got, tc.unsafe, deepInspect(tc.ing))
		}
	}
}

// TestUnsafeAsExpression: unsafe's literal check first gives the
// expression's answer for each of its branches and for values near them.
func TestUnsafeAsExpression(t *testing.T) {
	t.Parallel()
	for _, v := range []string{
		"", "/", "/api/v1", "app.example.com", "/alias", "/root", "/foo;", "alias;", " alias x;", "x\nroot /;",
		"/roots;", "/etc/nginx", "/etc/passwd", "/etc/other", "/etc/", "/var/run/secrets/x", "/var/run/secret",
		"content_by_lua_block", "_by_lu", "/a/_by_lua", "ALIAS x;", "Root /;",
	} {
		if got, want := unsafe(v), unsafeValue.MatchString(v); got != want {
			t.Errorf("unsafe(%q) = %v, the expression says %v", v, got, want)
		}
	}
}

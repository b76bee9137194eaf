package annotations

import "testing"

func TestResolveLocationVars(t *testing.T) {
	t.Parallel()
	lv := LocationVars{Namespace: "ns", IngressName: "ing", ServiceName: "echo", ServicePort: "http"}
	for _, tc := range []struct{ in, want string }{
		{"internal.example.com", "internal.example.com"},
		// Traefik's migration case: a Service's cluster name.
		{"$service_name.$namespace.svc.cluster.local", "echo.ns.svc.cluster.local"},
		{"${ingress_name}x:$service_port", "ingx:http"},
		// The request's variables are left to the proxy, braced so that
		// the text after them stays text.
		{"$host.$service_name", "${host}.echo"},
		{"$http_x_tenant$namespace", "${http_x_tenant}ns"},
		// Not parsed by parseVhost: kept as written.
		{"$location_path", "$location_path"},
	} {
		if got := ResolveLocationVars(tc.in, lv); got != tc.want {
			t.Errorf("ResolveLocationVars(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if _, err := ParseVars(ResolveLocationVars(tc.in, lv)); err != nil && tc.in != "$location_path" {
			t.Errorf("ResolveLocationVars(%q) does not parse for the proxy: %v", tc.in, err)
		}
	}
}

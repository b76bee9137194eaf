package e2e

// Ports, beyond ingress-nginx's test/e2e/annotations/canary.go "legacy
// behavior" case (TestIngressNginxCanaryAffinity, whose canary writes no
// affinity), the case of a legacy canary Ingress that writes its own
// cookie affinity: ingress-nginx's controller.go gives it none
// (getBackendServers skips the affinity of the canary's NoServer upstream,
// mergeAlternativeBackend copies the main rule's only when not legacy), so
// balancer.lua balances the canary's upstream round robin and sets no
// cookie. There is no nginx.conf line to compare with plain nginx: the
// reference is that code.

import (
	"fmt"
	"net/http"
	"testing"
)

// TestIngressNginxCanaryLegacyOwnAffinity: a canary with
// affinity-canary-behavior legacy and its own affinity cookie annotations
// sets no cookie, neither its own nor the main rule's, and a request
// carrying a cookie of that name is still shared by weight.
func TestIngressNginxCanaryLegacyOwnAffinity(t *testing.T) {
	main := newBackend(t, "httpbun", func(rw http.ResponseWriter, _ *http.Request) { fmt.Fprint(rw, "httpbun") })
	canary := newBackend(t, "canary", func(rw http.ResponseWriter, _ *http.Request) { fmt.Fprint(rw, "canary") })
	const host = "foo"
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"svc.yaml":   service("httpbun", main.port) + service("canary", canary.port),
		"ing.yaml": ingressPaths("foo", host, "httpbun", "Prefix", []string{"/info"}, "affinity", "cookie", "session-cookie-name", "aff") +
			ingressPaths("foo-canary", host, "canary", "Prefix", []string{"/info"},
				"canary", "true", "canary-by-header", "ForceCanary", "canary-by-header-value", "yes", "canary-weight", "50",
				"affinity-canary-behavior", "legacy", "affinity", "cookie", "session-cookie-name", "own"),
	})
	forced := w.get(host, "/info", "ForceCanary", "yes")
	if forced.status != http.StatusOK || forced.body != "canary" {
		t.Fatalf("forced to the canary: %d %q", forced.status, forced.body)
	}
	if sc := forced.header.Values("Set-Cookie"); len(sc) != 0 {
		t.Fatalf("legacy canary with its own affinity: Set-Cookie %q, want none (ingress-nginx gives its upstream no affinity)", sc)
	}
	seen := map[string]int{}
	for range 40 {
		res := w.get(host, "/info", "Cookie", "own=anything")
		if res.status != http.StatusOK {
			t.Fatalf("request with cookie own: %d %q", res.status, res.body)
		}
		seen[res.body]++
	}
	if seen["canary"] == 0 || seen["httpbun"] == 0 {
		t.Errorf("legacy, weight 50, cookie own set: 40 requests reached %v, want both", seen)
	}
}

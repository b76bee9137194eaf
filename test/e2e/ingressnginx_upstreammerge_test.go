package e2e

// This file checks, through Weir in folder mode, how ingress-nginx merges
// the balancing settings of the Ingresses routing to one Service port into
// the one upstream it makes of it (namespace-service-port); no e2e file of
// ingress-nginx covers it (each of its cases has its own namespace), so the
// reference is its code: internal/ingress/controller/controller.go
// createUpstreams (load-balance and upstream-hash-by*: the newest Ingress
// whose spec.defaultBackend names the upstream, else the oldest routing to
// it, with or without the annotations), getBackendServers (affinity-mode:
// the oldest Ingress that writes one, with or without affinity), over the
// Ingresses as store.sortIngressSlice orders them (creationTimestamp, then
// the greater namespace/name first); and rootfs/etc/nginx/lua/balancer/
// chash.lua, which hands the key's endpoint out again at every try. A
// manifest without creationTimestamp has the zero time, so such Ingresses
// are ordered by name alone.

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// agedIngress sets the creationTimestamp of the Ingress ing renders
// (ingressPaths's output).
func agedIngress(ts, ing string) string {
	return strings.Replace(ing, "\n  namespace: default", "\n  namespace: default\n  creationTimestamp: \""+ts+"\"", 1)
}

const (
	mergeOld   = "2024-01-01T00:00:00Z"
	mergeYoung = "2024-06-01T00:00:00Z"
)

// TestIngressNginxUpstreamBalanceMerge: two Ingresses on one Service port
// with different load-balance and upstream-hash-by; each host is balanced
// by the settings of the upstream's owner, whichever host the request is
// for.
func TestIngressNginxUpstreamBalanceMerge(t *testing.T) {
	var ports []int
	for i := range 3 {
		ports = append(ports, newBackend(t, fmt.Sprintf("pod%d", i), nil).port)
	}
	const svcs = "plain hashed tie dflt"
	hashed := []string{"upstream-hash-by", "$request_uri"}
	// plain-old has a file of its own: its edit below changes that
	// Ingress only.
	plainOld := agedIngress(mergeOld, ingress("plain-old", "plain-old.test", "plain"))
	ings := agedIngress(mergeYoung, ingress("plain-young", "plain-young.test", "plain", hashed...)) +
		agedIngress(mergeOld, ingress("hashed-old", "hashed-old.test", "hashed", hashed...)) +
		agedIngress(mergeYoung, ingress("hashed-young", "hashed-young.test", "hashed", "load-balance", "round_robin")) +
		// No creationTimestamp: the same time, so "default/b-plain",
		// the greater name, is the older.
		ingress("a-hash", "a-hash.test", "tie", hashed...) +
		ingress("b-plain", "b-plain.test", "tie") +
		agedIngress(mergeOld, ingress("rule-old", "rule-old.test", "dflt")) +
		// def-young's spec.defaultBackend names dflt: it makes that
		// upstream anew in createUpstreams, so its hashing is dflt's.
		strings.Replace(agedIngress(mergeYoung, ingress("def-young", "def-young.test", "plain", hashed...)),
			"  ingressClassName: weir\n", "  ingressClassName: weir\n  defaultBackend: {service: {name: dflt, port: {number: 80}}}\n", 1)
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"svc.yaml":   affServices(ports, strings.Fields(svcs)...),
		"old.yaml":   plainOld,
		"ing.yaml":   ings,
	})
	// endpoints sends 30 requests of one URI to host and returns how many
	// endpoints answered: 1 when hashed, 3 under round robin.
	endpoints := func(host string) int {
		t.Helper()
		got := w.countBackends(30, host)
		for name := range got {
			if !strings.HasPrefix(name, "pod") {
				t.Fatalf("%s: answers %v", host, got)
			}
		}
		return len(got)
	}
	for _, tc := range []struct {
		host string
		want int
		why  string
	}{
		{"plain-old.test", 3, "the owner sets nothing"},
		{"plain-young.test", 3, "its own upstream-hash-by is not the upstream's: plain-old, older and setting nothing, owns it"},
		{"hashed-old.test", 1, "the owner hashes"},
		{"hashed-young.test", 1, "hashed-old, older, owns the upstream: its hash, not this Ingress's round_robin"},
		{"b-plain.test", 3, "the same time: b-plain, the greater name, is older and owns it"},
		{"a-hash.test", 3, "b-plain owns the upstream: its own hash is not the upstream's"},
		{"rule-old.test", 1, "def-young's spec.defaultBackend names dflt: it owns the upstream though rule-old is older"},
	} {
		if got := endpoints(tc.host); got != tc.want {
			t.Errorf("%s: one URI reached %d endpoints, want %d (%s)", tc.host, got, tc.want, tc.why)
		}
	}

	t.Run("owner edited", func(t *testing.T) {
		// plain-old now hashes: so does plain-young's host, though
		// plain-young did not change (a scoped build must rebuild it).
		w.update("old.yaml", agedIngress(mergeOld, ingress("plain-old", "plain-old.test", "plain", hashed...)))
		if got := endpoints("plain-young.test"); got != 1 {
			t.Errorf("plain-young.test after plain-old hashes: one URI reached %d endpoints, want 1", got)
		}
		if got := endpoints("hashed-young.test"); got != 1 {
			t.Errorf("hashed-young.test: one URI reached %d endpoints, want 1 (unchanged)", got)
		}
	})
	t.Run("owner gone", func(t *testing.T) {
		// Without hashed-old, hashed-young owns its upstream: round robin.
		var kept []string
		for _, doc := range strings.Split(ings, "\n---\n") {
			if !strings.Contains(doc, "name: hashed-old\n") {
				kept = append(kept, doc)
			}
		}
		w.update("ing.yaml", strings.Join(kept, "\n---\n"))
		if got := endpoints("hashed-young.test"); got != 3 {
			t.Errorf("hashed-young.test without hashed-old: one URI reached %d endpoints, want 3", got)
		}
	})
}

// TestIngressNginxUpstreamAffinityModeMerge: affinity-mode written on an
// Ingress without affinity does nothing by itself (its host sets no
// cookie, the balancer is round robin); on a Service port that another
// Ingress gives cookie affinity, the oldest Ingress writing a mode decides
// it, with or without affinity.
func TestIngressNginxUpstreamAffinityModeMerge(t *testing.T) {
	ports := affEndpoints(t, 2)
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"svc.yaml":   affServices(ports, "alone", "shared"),
		"ing.yaml": agedIngress(mergeOld, ingress("alone", "alone.test", "alone", "affinity-mode", "persistent")) +
			agedIngress(mergeOld, ingress("mode-old", "mode-old.test", "shared", "affinity-mode", "persistent")) +
			agedIngress(mergeYoung, ingress("sticky-young", "sticky-young.test", "shared", "affinity", "cookie", "affinity-mode", "balanced")),
	})
	t.Run("mode alone", func(t *testing.T) {
		seen := map[string]bool{}
		for range 10 {
			res := w.get("alone.test", "/")
			if res.status != http.StatusOK || len(res.header.Values("Set-Cookie")) != 0 {
				t.Fatalf("alone.test: %d %q, Set-Cookie %q; want 200 and none", res.status, res.body, res.header.Values("Set-Cookie"))
			}
			seen[res.body] = true
		}
		if len(seen) != 2 {
			t.Errorf("alone.test: 10 requests reached %v, want both endpoints (round robin)", seen)
		}
	})
	t.Run("mode from the oldest, without affinity", func(t *testing.T) {
		res := w.get("sticky-young.test", "/")
		if res.status != http.StatusOK {
			t.Fatalf("sticky-young.test: %d %q", res.status, res.body)
		}
		// persistent: the key is md5(upstream .. address) of the
		// endpoint that served, not sticky_balanced's time.pid.random.
		port := ports[0]
		if res.body == "ep1" {
			port = ports[1]
		}
		up := "default-shared-80"
		want := "INGRESSCOOKIE=" + md5Hex(fmt.Sprintf("%s127.0.0.1:%d", up, port)) + "|" + affBackendKey(up) + "; Path=/; HttpOnly"
		if got := res.header.Values("Set-Cookie"); len(got) != 1 || got[0] != want {
			t.Fatalf("sticky-young.test: Set-Cookie %q, want %q (persistent, mode-old's)", got, want)
		}
		// mode-old's host sets no cookie (no affinity) but is balanced
		// by the shared one: the cookie pins it.
		pair, _, _ := strings.Cut(want, ";")
		for range 10 {
			got := w.get("mode-old.test", "/", "Cookie", pair)
			if got.status != http.StatusOK || got.body != res.body || len(got.header.Values("Set-Cookie")) != 0 {
				t.Fatalf("mode-old.test with %s: %d from %q, Set-Cookie %q; want %s and none", pair, got.status, got.body, got.header.Values("Set-Cookie"), res.body)
			}
		}
	})
}

// TestIngressNginxHashRetry: upstream-hash-by with proxy-next-upstream
// http_503 and two endpoints answering 503: chash.lua's balance returns
// the key's endpoint at every try, so all three tries
// (proxy-next-upstream-tries 3) go to one endpoint and its 503 is the
// answer; the other endpoint gets none. nginx 1.22.1 handed the same peer
// three times (one address listed thrice in an upstream, max_fails=0)
// answered so: 503, $upstream_status "503, 503, 503", three requests at
// the backend.
func TestIngressNginxHashRetry(t *testing.T) {
	var bs []*backend
	var ports []int
	for i := range 2 {
		b := newBackend(t, fmt.Sprintf("pod%d", i), func(rw http.ResponseWriter, _ *http.Request) { rw.WriteHeader(http.StatusServiceUnavailable) })
		bs, ports = append(bs, b), append(ports, b.port)
	}
	w := startWeir(t, map[string]string{
		"class.yaml": ingressClass,
		"app.yaml": endpointSlices("retry", ports...) + ingress("retry", "retry.test", "retry",
			"upstream-hash-by", "$request_uri", "proxy-next-upstream", "error timeout http_503"),
	})
	res := w.get("retry.test", "/")
	count := func(b *backend) int {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.reqs)
	}
	got := []int{count(bs[0]), count(bs[1])}
	if res.status != http.StatusServiceUnavailable || max(got[0], got[1]) != 3 || min(got[0], got[1]) != 0 {
		t.Errorf("status %d, tries per endpoint %v; want 503 and all 3 on one", res.status, got)
	}
}

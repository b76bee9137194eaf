package snapshot_test

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weir-lb/weir/userspace/snapshot"
)

// balanceIngress is an Ingress ns/name of class weir, created on day age
// of 2024-01, with the annotations kv (keys without the prefix) and one
// rule: host's "/" (Prefix) to the Service ns/svc port port.
func balanceIngress(name, host, svc string, port int32, age int, kv ...string) *networkingv1.Ingress {
	ann := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		ann["nginx.ingress.kubernetes.io/"+kv[i]] = kv[i+1]
	}
	ing := rootIngress(name, host, ann)
	be := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service
	be.Name, be.Port.Number = svc, port
	ing.CreationTimestamp = metav1.NewTime(time.Date(2024, 1, age, 0, 0, 0, 0, time.UTC))
	return ing
}

// TestBuilderBalancingOrders deletes, re-creates and edits the Ingresses
// sharing Service ports, whose balancing settings, cookie affinity and
// affinity-mode differ, in every order of a few of them, and checks after
// each change that the scoped build the Builder makes equals the full
// Build: an edit of one Ingress must not leave another Ingress of the same
// Service port with the balancing of an owner that is gone or no longer
// the oldest (shareBalancing, shareAffinity).
func TestBuilderBalancingOrders(t *testing.T) {
	t.Parallel()
	base := []*networkingv1.Ingress{
		balanceIngress("a", "a.example.com", "svc", 80, 1, "load-balance", "ewma"),
		balanceIngress("b", "b.example.com", "svc", 80, 2, "upstream-hash-by", "$request_uri", "upstream-hash-by-subset", "true"),
		balanceIngress("c", "c.example.com", "svc", 80, 3),
		balanceIngress("d", "d.example.com", "svc", 80, 4, "affinity-mode", "persistent"),
		balanceIngress("e", "e.example.com", "svc", 80, 5, "affinity", "cookie", "session-cookie-name", "E"),
		// Same age: the greater name is the older in ingress-nginx.
		balanceIngress("f", "f.example.com", "svc", 81, 6, "load-balance", "round_robin"),
		balanceIngress("g", "g.example.com", "svc", 81, 6, "upstream-hash-by", "$remote_addr"),
		// A canary on c.example.com to other, which h also routes to.
		balanceIngress("h", "h.example.com", "other", 80, 7, "load-balance", "ewma"),
		balanceIngress("k", "c.example.com", "other", 80, 8, "canary", "true", "canary-weight", "50",
			"upstream-hash-by", "$uri", "affinity", "cookie", "session-cookie-name", "K"),
	}
	// Edits of each Ingress: another set of its balancing annotations.
	edited := map[string]*networkingv1.Ingress{
		"a": balanceIngress("a", "a.example.com", "svc", 80, 1, "upstream-hash-by", "$host"),
		"b": balanceIngress("b", "b.example.com", "svc", 80, 2),
		"d": balanceIngress("d", "d.example.com", "svc", 80, 4, "affinity-mode", "balanced", "affinity", "cookie"),
		"e": balanceIngress("e", "e.example.com", "svc", 80, 5, "load-balance", "ewma"),
		"g": balanceIngress("g", "g.example.com", "svc", 81, 6),
		"h": balanceIngress("h", "h.example.com", "other", 80, 7, "upstream-hash-by", "$uri"),
		"k": balanceIngress("k", "c.example.com", "other", 80, 8, "canary", "true", "canary-weight", "50"),
	}
	objs := snapshot.Objects{
		IngressClasses: []*networkingv1.IngressClass{{ObjectMeta: metav1.ObjectMeta{Name: "weir"},
			Spec: networkingv1.IngressClassSpec{Controller: "weir-lb.dev/ingress-controller"}}},
		Services: []*corev1.Service{
			{ObjectMeta: metav1.ObjectMeta{Name: "svc", Namespace: "ns"},
				Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "p80", Port: 80}, {Name: "p81", Port: 81}}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "ns"},
				Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}},
		},
	}
	opts := snapshot.DefaultOptions()
	// The settings differ per Ingress but are shared: c.example.com is
	// balanced by a's ewma (and e's cookie), f.example.com hashed by
	// g's $remote_addr (same age as f, the greater name).
	objs.Ingresses = base
	lb := map[string]string{}
	for _, srv := range snapshot.Build(objs, opts).Servers {
		be := srv.Paths[0].Backend
		lb[srv.Host] = be.Proxy.LoadBalance
		if b := be.Proxy.Balance; b != nil {
			lb[srv.Host] += " " + b.HashBy
		}
	}
	if lb["c.example.com"] != "ewma " || lb["f.example.com"] != "round_robin $remote_addr" {
		t.Fatalf("shared balancing: %q, want c.example.com ewma and f.example.com hashed by $remote_addr", lb)
	}
	// The orders: every permutation of the Ingresses that own or shape
	// a shared upstream (a, b, d, e, g, h, k would be 5040; these five
	// and the canary's pair cover owners, modes, ties and canaries).
	perms := permutations([]string{"a", "b", "d", "e", "g"})
	perms = append(perms, []string{"h", "k"}, []string{"k", "h"})
	checkOrders(t, objs, base, edited, perms)
}

// checkOrders, for every order of perms, builds objs with base as its
// Ingresses, then edits each Ingress of the order to its edited version
// (if any), deletes each, re-creates each as it was, then deletes and
// re-creates each as the newest, and checks after every change that the
// Builder's build is scoped and equals the full Build.
func checkOrders(t *testing.T, objs snapshot.Objects, base []*networkingv1.Ingress, edited map[string]*networkingv1.Ingress, perms [][]string) {
	t.Helper()
	opts := snapshot.DefaultOptions()
	byName := func(list []*networkingv1.Ingress, name string) int {
		return slices.IndexFunc(list, func(i *networkingv1.Ingress) bool { return i.Name == name })
	}
	for _, order := range perms {
		bl := snapshot.NewBuilder(opts)
		objs.Ingresses = slices.Clone(base)
		bl.Build(objs)
		step := func(what, name string, change func()) {
			change()
			objs.Changed = []snapshot.ObjectRef{{Kind: "Ingress", Namespace: "ns", Name: name}}
			got := bl.Build(objs)
			scoped := bl.Scoped()
			objs.Changed = nil
			if diff := cmp.Diff(snapshot.Build(objs, opts), got); diff != "" {
				t.Fatalf("order %v, %s %s: the scoped build differs from Build (-want +got):\n%s", order, what, name, diff)
			}
			if !scoped {
				t.Fatalf("order %v, %s %s: the build was not scoped: the test compares full builds only", order, what, name)
			}
		}
		// Edit each, in order, then delete each, then re-create each
		// as it was (its old creationTimestamp: a restore), then
		// delete each again and re-create it as the newest.
		for _, n := range order {
			if e := edited[n]; e != nil {
				step("edit", n, func() { objs.Ingresses[byName(objs.Ingresses, n)] = e })
			}
		}
		for _, n := range order {
			step("delete", n, func() {
				objs.Ingresses = slices.Delete(objs.Ingresses, byName(objs.Ingresses, n), byName(objs.Ingresses, n)+1)
			})
		}
		for _, n := range order {
			step("re-create", n, func() { objs.Ingresses = append(objs.Ingresses, base[byName(base, n)]) })
		}
		for i, n := range order {
			step("delete", n, func() {
				objs.Ingresses = slices.Delete(objs.Ingresses, byName(objs.Ingresses, n), byName(objs.Ingresses, n)+1)
			})
			step("re-create as the newest", n, func() {
				cp := base[byName(base, n)].DeepCopy()
				cp.CreationTimestamp = metav1.NewTime(time.Date(2025, 1, 1+i, 0, 0, 0, 0, time.UTC))
				objs.Ingresses = append(objs.Ingresses, cp)
			})
		}
	}
}

// permutations returns every order of s.
func permutations(s []string) [][]string {
	if len(s) <= 1 {
		return [][]string{slices.Clone(s)}
	}
	var out [][]string
	for i := range s {
		rest := slices.Concat(s[:i:i], s[i+1:])
		for _, p := range permutations(rest) {
			out = append(out, append([]string{s[i]}, p...))
		}
	}
	return out
}

// TestBuilderLegacyCanaryOrders is TestBuilderBalancingOrders for a legacy
// canary sharing its Service port with a sticky canary of another host,
// whose main rule's cookie affinity it takes (shareCanaryAffinity): a
// change of that other host must reach the legacy canary's host.
func TestBuilderLegacyCanaryOrders(t *testing.T) {
	t.Parallel()
	legacy := func(kv ...string) *networkingv1.Ingress {
		return balanceIngress("legacy", "a.example.com", "v2", 80, 2, append([]string{"canary", "true", "canary-weight", "50"}, kv...)...)
	}
	base := []*networkingv1.Ingress{
		balanceIngress("main", "a.example.com", "app", 80, 1, "affinity", "cookie", "session-cookie-name", "m"),
		legacy("affinity-canary-behavior", "legacy", "affinity", "cookie", "session-cookie-name", "own"),
		balanceIngress("other", "b.example.com", "web", 80, 3, "affinity", "cookie", "session-cookie-name", "o"),
		balanceIngress("sticky", "b.example.com", "v2", 80, 4, "canary", "true", "canary-weight", "50"),
	}
	edited := map[string]*networkingv1.Ingress{
		"main":   balanceIngress("main", "a.example.com", "app", 80, 1),
		"legacy": legacy(),
		"other":  balanceIngress("other", "b.example.com", "web", 80, 3, "affinity", "cookie", "session-cookie-name", "o2", "affinity-mode", "persistent"),
		"sticky": balanceIngress("sticky", "b.example.com", "v2", 80, 4, "canary", "true", "canary-weight", "50", "affinity-canary-behavior", "legacy"),
	}
	objs := snapshot.Objects{IngressClasses: weirClasses(), Ingresses: base}
	// The legacy canary has the cookie of the sticky one's main rule.
	s := snapshot.Build(objs, snapshot.DefaultOptions())
	if bal := s.Servers[0].Paths[0].Canaries[0].Backend.Proxy.Balance; s.Servers[0].Host != "a.example.com" || bal == nil || bal.CookieName != "o" {
		t.Fatalf("the legacy canary of a.example.com: balance %+v, want other's cookie o", bal)
	}
	checkOrders(t, objs, base, edited, permutations([]string{"main", "legacy", "other", "sticky"}))
}

package snapshot_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/weir-lb/weir/userspace/snapshot"
)

// authEdits change what the auth annotations read: a Secret's users, a
// Secret removed or added, an Ingress pointed at another Secret, the
// auth-proxy-set-headers ConfigMap changed, removed or added.
var authEdits = []edit{
	func(r *rand.Rand, o *snapshot.Objects) (snapshot.ObjectRef, bool) { // change or delete a Secret
		if len(o.Secrets) == 0 {
			return snapshot.ObjectRef{}, false
		}
		n := r.IntN(len(o.Secrets))
		ref := snapshot.ObjectRef{Kind: "Secret", Namespace: o.Secrets[n].Namespace, Name: o.Secrets[n].Name}
		if r.IntN(4) == 0 {
			o.Secrets = slices.Delete(slices.Clone(o.Secrets), n, n+1)
			return ref, true
		}
		cp := o.Secrets[n].DeepCopy()
		user := fmt.Sprintf("u%d", r.IntN(5))
		cp.Data = map[string][]byte{"auth": []byte(user + ":{PLAIN}pw\n"), user: []byte("{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=")}
		o.Secrets = slices.Clone(o.Secrets)
		o.Secrets[n] = cp
		return ref, true
	},
	editIngress(func(r *rand.Rand, i *networkingv1.Ingress) { // another auth-secret
		if i.Annotations == nil {
			i.Annotations = map[string]string{}
		}
		i.Annotations["nginx.ingress.kubernetes.io/auth-type"] = "basic"
		i.Annotations["nginx.ingress.kubernetes.io/auth-secret"] = []string{"users-file", "users-map", "nope", "added"}[r.IntN(4)]
	}),
	func(r *rand.Rand, o *snapshot.Objects) (snapshot.ObjectRef, bool) { // change or delete a ConfigMap
		i := slices.IndexFunc(o.ConfigMaps, func(c *corev1.ConfigMap) bool { return c.Name == "auth-headers" })
		ref := snapshot.ObjectRef{Kind: "ConfigMap", Namespace: "default", Name: "auth-headers"}
		switch {
		case i < 0:
			cm := &corev1.ConfigMap{Data: map[string]string{"X-Back": "1"}}
			cm.Namespace, cm.Name = "default", "auth-headers"
			o.ConfigMaps = append(slices.Clone(o.ConfigMaps), cm)
		case r.IntN(3) == 0:
			o.ConfigMaps = slices.Delete(slices.Clone(o.ConfigMaps), i, i+1)
		default:
			cp := o.ConfigMaps[i].DeepCopy()
			cp.Data = map[string]string{fmt.Sprintf("X-H%d", r.IntN(5)): "v", "bad key": "x"}
			if r.IntN(2) == 0 {
				delete(cp.Data, "bad key")
			}
			o.ConfigMaps = slices.Clone(o.ConfigMaps)
			o.ConfigMaps[i] = cp
		}
		return ref, true
	},
	func(r *rand.Rand, o *snapshot.Objects) (snapshot.ObjectRef, bool) { // add a Secret
		s := &corev1.Secret{Data: map[string][]byte{"auth": []byte("late:{PLAIN}x")}}
		s.Namespace, s.Name = "default", "added"
		if slices.ContainsFunc(o.Secrets, func(x *corev1.Secret) bool { return x.Name == "added" }) {
			return snapshot.ObjectRef{}, false
		}
		o.Secrets = append(slices.Clone(o.Secrets), s)
		return snapshot.ObjectRef{Kind: "Secret", Namespace: "default", Name: "added"}, true
	},
}

// TestBuilderAuthSecrets checks that a Builder told of a changed Secret
// or ConfigMap rebuilds the routes whose auth annotations name it, scoped,
// and gives what Build gives.
func TestBuilderAuthSecrets(t *testing.T) {
	t.Parallel()
	base, opts := readCase(t, "testdata/auth.yaml")
	// The ConfigMap's global-auth-url is in the case; the edits touch no
	// ConfigMap, so the builds can be scoped.
	scoped := 0
	for seed := range uint64(12) {
		r := rand.New(rand.NewPCG(seed, 11))
		scoped += compareRandomEdits(t, r, base, opts, append(slices.Clone(authEdits), edits[0]), 25, seed)
	}
	if scoped == 0 {
		t.Error("no build was scoped")
	}
	// The same edits on every case: a Secret that spec.tls names, or the
	// default certificate, changes the certificates; another does not.
	cases, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range cases {
		objs, opts := readCase(t, path)
		for seed := range uint64(3) {
			compareRandomEdits(t, rand.New(rand.NewPCG(seed, 13)), objs, opts, authEdits, 10, seed)
		}
	}

	// A changed Secret is live for its users, through a scoped build.
	bl := snapshot.NewBuilder(opts)
	bl.Build(base)
	objs := base
	objs.Secrets = slices.Clone(base.Secrets)
	for i, s := range objs.Secrets {
		if s.Name == "users-map" {
			cp := s.DeepCopy()
			cp.Data = map[string][]byte{"carol": []byte("{PLAIN}pw")}
			objs.Secrets[i] = cp
		}
	}
	objs.Changed = []snapshot.ObjectRef{{Kind: "Secret", Namespace: "default", Name: "users-map"}}
	s := bl.Build(objs)
	if !bl.Scoped() {
		t.Error("a Secret change was a full build")
	}
	for _, srv := range s.Servers {
		if srv.Host == "basic-map.example.com" {
			if got := srv.Paths[0].Backend.Proxy.Auth.Basic.Users; !slices.Equal(got, []string{"carol:{PLAIN}pw"}) {
				t.Errorf("users after the Secret changed = %q", got)
			}
			return
		}
	}
	t.Error("no server basic-map.example.com")
}

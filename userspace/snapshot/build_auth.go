package snapshot

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/htpasswd"
)

// ReasonInvalidAuth: the Secret or ConfigMap an Ingress's authentication
// names is missing or unusable (the route is denied, 503), or one of its
// users is refused.
const ReasonInvalidAuth = "InvalidAuth"

// authState resolves the Secrets and ConfigMaps the auth annotations name,
// once per namespace and parsed Auth.
type authState struct {
	secrets    map[nsName]*corev1.Secret
	configMaps map[nsName]*corev1.ConfigMap
	done       map[authKey]*resolvedAuth
	// crossNamespace is allow-cross-namespace-resources.
	crossNamespace bool
}

type authKey struct {
	namespace string
	auth      *annotations.Auth
}

// resolvedAuth is an Auth with its objects read, and what went wrong.
type resolvedAuth struct {
	auth     *annotations.Auth
	warnings []string
}

// indexAuth keeps the Secrets and ConfigMaps of objs for resolveAuth.
func (b *builder) indexAuth(objs Objects) {
	b.auth = authState{secrets: make(map[nsName]*corev1.Secret, len(objs.Secrets)),
		configMaps: make(map[nsName]*corev1.ConfigMap, len(objs.ConfigMaps)), done: map[authKey]*resolvedAuth{}}
	for _, s := range objs.Secrets {
		if s != nil {
			b.auth.secrets[nsName{s.Namespace, s.Name}] = s
		}
	}
	for _, c := range objs.ConfigMaps {
		if c != nil {
			b.auth.configMaps[nsName{c.Namespace, c.Name}] = c
		}
	}
}

// resolveAuth fills the users of ing's basic authentication from its
// Secret and the headers of its auth-proxy-set-headers from their
// ConfigMap. What cannot be read denies the route (Auth.Invalid) and is
// reported on ing.
func (b *builder) resolveAuth(ing *ingress) {
	a := ing.cfg.Proxy.Auth
	if a == nil || a.Basic == nil && (a.External == nil || a.External.ProxySetHeadersFrom == "") {
		return
	}
	k := authKey{ing.obj.Namespace, a}
	r := b.auth.done[k]
	if r == nil {
		r = b.auth.resolve(ing.obj.Namespace, a)
		b.auth.done[k] = r
	}
	for _, w := range r.warnings {
		b.warn(ing.ref, ReasonInvalidAuth, "%s", w)
	}
	ing.cfg.Proxy.Auth = r.auth
}

func (s *authState) resolve(ns string, in *annotations.Auth) *resolvedAuth {
	a := *in
	r := &resolvedAuth{auth: &a}
	deny := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...) + "; the route is denied (503)"
		r.warnings = append(r.warnings, msg)
		if a.Invalid == "" {
			a.Invalid = msg
		}
	}
	if in.Basic != nil && in.Basic.Secret != "" {
		ba := *in.Basic
		a.Basic = &ba
		s.users(ns, &ba, deny, func(msg string) { r.warnings = append(r.warnings, msg) })
	}
	if in.External != nil && in.External.ProxySetHeadersFrom != "" {
		e := *in.External
		a.External = &e
		key, err := annotations.ObjectKey(e.ProxySetHeadersFrom, ns, s.crossNamespace)
		e.ProxySetHeadersFrom = key
		cmNS, cmName, _ := strings.Cut(key, "/")
		cm := s.configMaps[nsName{cmNS, cmName}]
		switch {
		case err != nil:
			deny("auth-proxy-set-headers %q: %v", in.External.ProxySetHeadersFrom, err)
		case cm == nil:
			deny("auth-proxy-set-headers configmap %s not found", key)
		default:
			for name, v := range cm.Data {
				if !annotations.ValidHeaderName(name) {
					deny("auth-proxy-set-headers configmap %s: key %q is not a header name", key, name)
					continue
				}
				if !annotations.ValidHeaderValue(v) {
					deny("auth-proxy-set-headers configmap %s: the value of %q holds a control character", key, name)
					continue
				}
				e.ProxySetHeaders = append(e.ProxySetHeaders, name+": "+v)
			}
			slices.Sort(e.ProxySetHeaders)
		}
	}
	return r
}

// users reads the users of ba's Secret into ba.Users; a Secret that cannot
// be used is reported through deny, a user whose entry is refused through
// warn.
func (s *authState) users(ns string, ba *annotations.BasicAuth, deny func(string, ...any), warn func(string)) {
	key, err := annotations.ObjectKey(ba.Secret, ns, s.crossNamespace)
	if err != nil {
		deny("auth-secret %q: %v", ba.Secret, err)
		return
	}
	ba.Secret = key
	secNS, secName, _ := strings.Cut(key, "/")
	sec := s.secrets[nsName{secNS, secName}]
	if sec == nil {
		deny("auth secret %s not found", key)
		return
	}
	var lines []string
	if ba.SecretMap {
		for user, hash := range sec.Data {
			lines = append(lines, user+":"+string(hash))
		}
		slices.Sort(lines)
	} else {
		data, ok := sec.Data["auth"]
		if !ok {
			deny("auth secret %s has no key \"auth\"", key)
			return
		}
		lines = strings.FieldsFunc(string(data), func(r rune) bool { return r == '\n' || r == '\r' })
	}
	users := []string{}
	for _, line := range lines {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if ba.Digest {
			f := strings.Split(line, ":")
			if len(f) < 3 || f[0] == "" || len(f[2]) != 32 {
				warn(fmt.Sprintf("auth secret %s: a line is not user:realm:md5 (htdigest); skipped", key))
				continue
			}
			users = append(users, strings.Join(f[:3], ":"))
			continue
		}
		es, bad := htpasswd.Parse([]byte(line))
		for _, why := range bad {
			warn(fmt.Sprintf("auth secret %s: %s; skipped", key, why))
		}
		for _, e := range es {
			if err := htpasswd.Check(e.Hash); err != nil {
				warn(fmt.Sprintf("auth secret %s: user %q: %v; that user cannot log in", key, e.User, err))
				continue
			}
			users = append(users, e.User+":"+e.Hash)
		}
	}
	ba.Users = users
}

// authObjectsOf returns the Secret and the ConfigMap the auth annotations
// of ann name in namespace ns (nil: none), for a Builder's scoped builds.
func authObjectsOf(ns string, ann map[string]string) (secrets, configMaps []nsName) {
	key := func(name string) []nsName {
		if name == "" {
			return nil
		}
		k, err := annotations.ObjectKey(name, ns, true) // a dependency whatever allow-cross-namespace-resources says
		if err != nil {
			return nil
		}
		objNS, objName, _ := strings.Cut(k, "/")
		return []nsName{{objNS, objName}}
	}
	sec, cm := annotations.AuthObjectNames(ann)
	return key(sec), key(cm)
}

package snapshot

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/weir-lb/weir/userspace/annotations"
)

// ReasonInvalidHeaders is the warning of a custom-headers ConfigMap that
// cannot be used: the Ingress's routes answer 503.
const ReasonInvalidHeaders = "InvalidHeaders"

// lookupConfigMap returns the data of the ConfigMap ref, "namespace/name",
// and its reference. A name without a namespace finds nothing (its
// reference has no namespace): ingress-nginx looks add-headers,
// proxy-set-headers and custom-headers up by their store key, which is
// namespace/name.
func (b *builder) lookupConfigMap(ref string) (map[string]string, ObjectRef, bool) {
	obj := ObjectRef{Kind: "ConfigMap", Name: ref}
	cmNS, name, ok := strings.Cut(ref, "/")
	if !ok {
		return nil, obj, false
	}
	obj.Namespace, obj.Name = cmNS, name
	cm := b.auth.configMaps[nsName{cmNS, name}] // indexed by indexAuth
	if cm == nil {
		return nil, obj, false
	}
	return cm.Data, obj, true
}

// configMapName is how a warning names obj, a ConfigMap reference of
// lookupConfigMap.
func configMapName(obj ObjectRef) string {
	if obj.Namespace == "" {
		return fmt.Sprintf("%q (no namespace: a ConfigMap is named namespace/name)", obj.Name)
	}
	return obj.Namespace + "/" + obj.Name
}

// headersOf returns data as Headers sorted by name.
func headersOf(data map[string]string) []annotations.Header {
	hs := make([]annotations.Header, 0, len(data))
	for k, v := range data {
		hs = append(hs, annotations.Header{Name: k, Value: v})
	}
	sort.Slice(hs, func(i, j int) bool { return hs[i].Name < hs[j].Name })
	return hs
}

// globalHeaders fills the ResponseHeaders and UpstreamHeaders of g from
// the ConfigMaps add-headers and proxy-set-headers name; a missing one
// gives none, with a warning on the controller ConfigMap, as ingress-nginx.
func (b *builder) globalHeaders(g *annotations.Global, controller ObjectRef) {
	for _, h := range []struct {
		key, ref string
		dst      *[]annotations.Header
	}{{"add-headers", g.AddHeaders, &g.ResponseHeaders}, {"proxy-set-headers", g.ProxySetHeaders, &g.UpstreamHeaders}} {
		if h.ref == "" {
			continue
		}
		data, obj, ok := b.lookupConfigMap(h.ref)
		if !ok {
			b.warn(controller, ReasonConfigMapNotFound, "configmap key %s: configmap %s not found; no header set", h.key, configMapName(obj))
			continue
		}
		hs := headersOf(data)
		for _, hd := range hs {
			if why := evaluatedHeaderProblem(hd); why != "" {
				b.warn(obj, ReasonInvalidConfigMapValue, "header %q (configmap key %s): %s; skipped", hd.Name, h.key, why)
			}
		}
		*h.dst = slices.DeleteFunc(hs, func(hd annotations.Header) bool { return evaluatedHeaderProblem(hd) != "" })
	}
}

// customHeaders resolves the custom-headers ConfigMap of be: its headers,
// or, when it is missing or one of its headers is invalid or not in
// global-allowed-response-headers, Invalid and Unavailable (the routes
// answer 503, as ingress-nginx denies the location) with a warning; it then
// returns false.
func (b *builder) customHeaders(ing *ingress, be *Backend) bool {
	ch := be.Proxy.CustomHeaders
	if ch == nil {
		return true
	}
	resolved := &annotations.CustomHeaders{ConfigMap: ch.ConfigMap}
	data, obj, ok := b.lookupConfigMap(ch.ConfigMap)
	switch {
	case !ok && obj.Namespace == "":
		resolved.Invalid = fmt.Sprintf("configmap %s not found", configMapName(obj))
	case obj.Namespace != ing.obj.Namespace && !b.crossNamespace:
		// As the Secrets of the auth annotations: a tenant must not
		// publish another namespace's ConfigMap in its responses.
		resolved.Invalid = fmt.Sprintf("configmap %s/%s is in another namespace, which allow-cross-namespace-resources refuses by default", obj.Namespace, obj.Name)
		data = nil
	case !ok:
		resolved.Invalid = fmt.Sprintf("configmap %s/%s not found", obj.Namespace, obj.Name)
	}
	for _, h := range headersOf(data) {
		if err := annotations.CheckHeader(h.Name, h.Value); err != nil {
			resolved.Invalid = fmt.Sprintf("configmap %s/%s: %v", obj.Namespace, obj.Name, err)
			break
		}
		if !slices.Contains(b.allowedHeaders, h.Name) {
			resolved.Invalid = fmt.Sprintf("configmap %s/%s: header %s is not in global-allowed-response-headers", obj.Namespace, obj.Name, h.Name)
			break
		}
	}
	be.Proxy.CustomHeaders = resolved
	if resolved.Invalid != "" {
		be.Unavailable = "custom-headers: " + resolved.Invalid
		b.warn(ing.ref, ReasonInvalidHeaders, "custom-headers: %s; its routes answer 503", resolved.Invalid)
		return false
	}
	resolved.Headers = headersOf(data)
	return true
}

// badHeader reports a header of add-headers or proxy-set-headers that
// cannot be sent: a name of other than letters, digits, '-' and '_', or a
// line break in the value.
func badHeader(hd annotations.Header) bool {
	return !annotations.ValidHeaderName(hd.Name) || strings.ContainsAny(hd.Value, "\r\n")
}

// evaluatedHeaderProblem says why a header of add-headers or
// proxy-set-headers cannot be sent, "" when it can: badHeader's, or a
// variable Weir does not evaluate (annotations.ParseVars) in its value,
// which nginx evaluates (more_set_headers, proxy_set_header) and would not
// load at all.
func evaluatedHeaderProblem(hd annotations.Header) string {
	if badHeader(hd) {
		return "invalid name or value"
	}
	if _, err := annotations.ParseVars(hd.Value); err != nil {
		return err.Error()
	}
	return ""
}

// objectsOf is authObjectsOf with the ConfigMap of custom-headers: the
// objects whose change rebuilds the Ingress (a Builder's scope).
func objectsOf(ns string, ann map[string]string) (secrets, configMaps []nsName) {
	secrets, configMaps = authObjectsOf(ns, ann)
	if ref := strings.TrimSpace(ann[annotations.Prefix+"custom-headers"]); ref != "" {
		if cmNS, name, ok := strings.Cut(ref, "/"); ok { // a name alone names none (lookupConfigMap)
			configMaps = append(configMaps, nsName{cmNS, name})
		}
	}
	return secrets, configMaps
}

// namesGlobalHeaders reports whether g's add-headers or proxy-set-headers
// names a ConfigMap called name (in any namespace, to be safe): its change
// changes Global, a full build.
func namesGlobalHeaders(g *annotations.Global, name string) bool {
	for _, ref := range []string{g.AddHeaders, g.ProxySetHeaders} {
		if _, n, ok := strings.Cut(ref, "/"); ok {
			ref = n
		}
		if ref != "" && ref == name {
			return true
		}
	}
	return false
}

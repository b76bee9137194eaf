package snapshot

import (
	"fmt"
	"regexp"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
)

// ReasonUnsafeIngress: an Ingress's host, path or spec.tls holds text that
// ingress-nginx's deep inspection refuses; the whole Ingress is not served.
const ReasonUnsafeIngress = "UnsafeIngress"

// unsafeValue matches what ingress-nginx's deep inspection
// (internal/ingress/inspector/rules.go) refuses in a host, a path, a TLS
// Secret name or host: nginx's alias and root directives, paths of the
// controller's files and of the service account's secrets, and *_by_lua
// directives. Weir renders no nginx configuration, so none of them could
// inject one; the Ingress is refused anyway, because ingress-nginx does not
// serve it either and a drop-in must route the same (its e2e:
// ingress/deep_inspection.go, admission/admission.go "invalid path").
var unsafeValue = regexp.MustCompile(`(?s)\s*alias\s*.*;|\s*root\s*.*;|/etc/(passwd|shadow|group|nginx|ingress-controller)|/var/run/secrets|.*_by_lua.*`)

// unsafeLiterals are the texts one of which every match of unsafeValue
// holds ("alias", "root", the paths, "_by_lua"): unsafe checks them first,
// so that a host or path without any (nearly all) costs no run of the
// expression, which Serves makes for every Ingress at every build.
var unsafeLiterals = [...]string{"alias", "root", "/etc/", "/var/run/secrets", "_by_lua"}

// unsafe reports whether unsafeValue matches v.
func unsafe(v string) bool {
	for _, lit := range unsafeLiterals {
		if strings.Contains(v, lit) {
			return unsafeValue.MatchString(v)
		}
	}
	return false
}

// deepInspect returns what is unsafe in ing, or "" when nothing is.
func deepInspect(ing *networkingv1.Ingress) string {
	for _, rule := range ing.Spec.Rules {
		if unsafe(rule.Host) {
			return fmt.Sprintf("host %q holds a refused value", rule.Host)
		}
		if rule.HTTP == nil {
			continue
		}
		for _, p := range rule.HTTP.Paths {
			if unsafe(p.Path) {
				return fmt.Sprintf("path %q holds a refused value", p.Path)
			}
		}
	}
	for _, t := range ing.Spec.TLS {
		if unsafe(t.SecretName) {
			return fmt.Sprintf("tls secretName %q holds a refused value", t.SecretName)
		}
		for _, h := range t.Hosts {
			if unsafe(h) {
				return fmt.Sprintf("tls host %q holds a refused value", h)
			}
		}
	}
	return ""
}

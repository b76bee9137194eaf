package e2e

import (
	"strings"
	"testing"

	"github.com/weir-lb/weir/userspace/snapshot"
)

// TestRefusedIngress: what ingress-nginx does not serve for its annotations
// answers 404 while the other Ingresses keep working (its e2e
// settings/validations "annotations-risk-level", settings/
// badannotationvalues.go, admission.go "invalid value in some
// annotation", annotations/proxy.go "should not set invalid proxy
// timeouts"): a snippet at the default risk level, served at Critical (and
// still never applied); a value its validator refuses whatever the level;
// a blocklisted word.
func TestRefusedIngress(t *testing.T) {
	echo := newBackend(t, "echo", nil)
	w := startWeirWith(t, map[string]string{
		"class.yaml": ingressClass,
		"svc.yaml":   service("echo", echo.port),
		"cm.yaml":    configMap(),
		"ing.yaml": ingress("snippet", "snippet.test", "echo", "configuration-snippet", "more_set_headers 'X-Snippet: yes';") +
			ingress("invalid", "invalid.test", "echo", "connection-proxy-header", "a;}") +
			ingress("timeout", "timeout.test", "echo", "proxy-connect-timeout", "50k") +
			ingress("valid", "valid.test", "echo"),
	}, configMapOptions())

	check := func(step string, want map[string]int) {
		t.Helper()
		for host, status := range want {
			got := w.get(host, "/")
			if got.status != status || status == 200 && !strings.HasPrefix(got.body, "echo ") {
				t.Errorf("%s: %s/: got %d %q, want %d", step, host, got.status, got.body, status)
			}
			if got.header.Get("X-Snippet") != "" {
				t.Errorf("%s: %s/: the snippet was applied", step, host)
			}
		}
	}
	warned := func(step, name, text string) {
		t.Helper()
		for _, wn := range w.d.Live().Warnings {
			if wn.Object.Name == name && wn.Reason == snapshot.ReasonInvalidIngress && strings.Contains(wn.Message, text) {
				return
			}
		}
		t.Errorf("%s: no InvalidIngress warning on %s holding %q: %v", step, name, text, w.d.Live().Warnings)
	}

	check("default risk level", map[string]int{"snippet.test": 404, "invalid.test": 404, "timeout.test": 200, "valid.test": 200})
	warned("default risk level", "snippet", "annotation group ConfigurationSnippet contains risky annotation based on ingress configuration; the ingress is not served")
	warned("default risk level", "invalid", "annotation nginx.ingress.kubernetes.io/connection-proxy-header contains invalid value")

	w.update("cm.yaml", configMap("annotations-risk-level", "Critical"))
	check("Critical", map[string]int{"snippet.test": 200, "invalid.test": 404, "timeout.test": 200, "valid.test": 200})

	w.update("cm.yaml", configMap("annotations-risk-level", "Critical", "annotation-value-word-blocklist", "something_forbidden,more_set_headers"))
	check("blocklist", map[string]int{"snippet.test": 404, "invalid.test": 404, "timeout.test": 200, "valid.test": 200})
	warned("blocklist", "snippet", "nginx.ingress.kubernetes.io/configuration-snippet annotation contains invalid word more_set_headers")
}

// TestAnnotationValidationOff: with --enable-annotation-validation=false an
// invalid value no longer refuses the Ingress (Weir reads it with its own
// rules: the default is kept), while a snippet still does at the default
// risk level.
func TestAnnotationValidationOff(t *testing.T) {
	echo := newBackend(t, "echo", nil)
	opts := snapshot.DefaultOptions()
	opts.SkipAnnotationValidation = true
	w := startWeirWith(t, map[string]string{
		"class.yaml": ingressClass,
		"svc.yaml":   service("echo", echo.port),
		"ing.yaml": ingress("snippet", "snippet.test", "echo", "server-snippet", "return 200;") +
			ingress("invalid", "invalid.test", "echo", "connection-proxy-header", "a;}"),
	}, opts)
	for host, status := range map[string]int{"snippet.test": 404, "invalid.test": 200} {
		if got := w.get(host, "/"); got.status != status {
			t.Errorf("%s/: got %d %q, want %d", host, got.status, got.body, status)
		}
	}
}

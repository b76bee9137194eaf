package check

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weir-lb/weir/userspace/snapshot"
)

func ingress(name, class, path string, ann map[string]string) *networkingv1.Ingress {
	pt := networkingv1.PathTypePrefix
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: name, Annotations: ann},
		Spec: networkingv1.IngressSpec{IngressClassName: &class, Rules: []networkingv1.IngressRule{{Host: name + ".example",
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path: path, PathType: &pt, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
					Name: "missing", Port: networkingv1.ServiceBackendPort{Number: 80}}},
			}}}}}}},
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	objs := snapshot.Objects{
		IngressClasses: []*networkingv1.IngressClass{{ObjectMeta: metav1.ObjectMeta{Name: "nginx"}, Spec: networkingv1.IngressClassSpec{Controller: "k8s.io/ingress-nginx"}}},
		Ingresses: []*networkingv1.Ingress{
			ingress("web", "nginx", "/", map[string]string{
				"nginx.ingress.kubernetes.io/proxy-read-timeout":   "30",
				"nginx.ingress.kubernetes.io/proxy-send-timeout":   "soon",
				"nginx.ingress.kubernetes.io/load-balance":         "round_robin",
				"nginx.ingress.kubernetes.io/server-snippet":       "x",
				"nginx.ingress.kubernetes.io/enable-opentelemetry": "true",
				"nginx.ingress.kubernetes.io/no-such":              "1",
				"kubernetes.io/description":                        "not ours",
			}),
			ingress("bad", "nginx", "api", nil),
			ingress("ok", "nginx", "/", map[string]string{"nginx.ingress.kubernetes.io/use-regex": "false"}),
			ingress("theirs", "other", "/", map[string]string{"nginx.ingress.kubernetes.io/server-snippet": "x"}),
		},
		ConfigMaps: []*corev1.ConfigMap{{ObjectMeta: metav1.ObjectMeta{Namespace: "ingress-nginx", Name: "ctl"}, Data: map[string]string{
			"proxy-body-size": "8m", "keep-alive": "never", "disable-ipv6-dns": "true", "worker-processes": "4",
			"allow-snippet-annotations": "true", "max-worker-connections": "100", "annotations-risk-level": "Critical",
		}}},
	}
	r := Check(objs, snapshot.Options{IngressClass: "nginx", ControllerClass: "k8s.io/ingress-nginx", ConfigMap: "ingress-nginx/ctl"})
	want := Report{Ingresses: 3, Sections: []Section{
		{Title: "Ingress app/bad", Warnings: []string{`InvalidPath: path "api" of host "bad.example" does not start with "/"; skipped`}},
		{Title: "Ingress app/ok", Honoured: []Item{{Name: "use-regex"}}},
		{
			Title:    "Ingress app/web",
			Honoured: []Item{{Name: "load-balance"}, {Name: "proxy-read-timeout"}},
			Refused: []Item{
				{"enable-opentelemetry", "Weir exports no OpenTelemetry traces"},
				{"no-such", "not an annotation ingress-nginx documents"},
				{"proxy-send-timeout", `annotation nginx.ingress.kubernetes.io/proxy-send-timeout: value "soon": ` + r.Sections[2].Refused[2].Note[len(`annotation nginx.ingress.kubernetes.io/proxy-send-timeout: value "soon": `):]},
				{"server-snippet", "snippets (raw nginx configuration) are never applied"},
			},
		},
		{
			Title:    "ConfigMap ingress-nginx/ctl",
			Honoured: []Item{{Name: "annotations-risk-level"}, {Name: "keep-alive"}, {Name: "proxy-body-size"}},
			Differs:  []Item{{"max-worker-connections", "counts client connections only, not upstream ones"}},
			Inert:    []Item{{"worker-processes", "tunes nginx internals; Weir has no equivalent and needs none"}},
			Refused: []Item{
				{"allow-snippet-annotations", "accepted and always false: snippets (raw nginx configuration) are never applied"},
				{"disable-ipv6-dns", "not implemented in Weir yet"},
			},
			Warnings: []string{`InvalidConfigMapValue: configmap key keep-alive: value "never": ` + strings.TrimPrefix(r.Sections[3].Warnings[0], `InvalidConfigMapValue: configmap key keep-alive: value "never": `)},
		},
	}}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("Check (-want +got):\n%s", diff)
	}
	if got := r.Changes(); got != 1+4+1+2+1 {
		t.Errorf("Changes() = %d, want 9", got)
	}
	var out bytes.Buffer
	if err := r.Write(&out); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"Ingress app/web\n  honoured  load-balance\n  honoured  proxy-read-timeout\n  refused   enable-opentelemetry: ",
		"  differs   max-worker-connections: counts client connections only",
		"  refused   server-snippet: snippets (raw nginx configuration) are never applied\n",
		"  inert     worker-processes: tunes nginx internals",
		"  warning   InvalidPath: path \"api\"",
		"Summary: 3 Ingresses checked; 3 of 4 sections would behave differently (9 settings or warnings).\n",
	} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("report lacks %q:\n%s", line, out.String())
		}
	}
}

// TestCheckRefused: an Ingress ingress-nginx does not serve for its
// annotations is reported with its InvalidIngress warning, at the default
// risk level for a snippet.
func TestCheckRefused(t *testing.T) {
	t.Parallel()
	objs := snapshot.Objects{
		IngressClasses: []*networkingv1.IngressClass{{ObjectMeta: metav1.ObjectMeta{Name: "nginx"}, Spec: networkingv1.IngressClassSpec{Controller: "k8s.io/ingress-nginx"}}},
		Ingresses:      []*networkingv1.Ingress{ingress("web", "nginx", "/", map[string]string{"nginx.ingress.kubernetes.io/server-snippet": "x"})},
	}
	r := Check(objs, snapshot.Options{IngressClass: "nginx", ControllerClass: "k8s.io/ingress-nginx"})
	want := []Section{{Title: "Ingress app/web", Refused: []Item{{"server-snippet", "snippets (raw nginx configuration) are never applied"}},
		Warnings: []string{"InvalidIngress: annotation group ServerSnippet contains risky annotation based on ingress configuration; the ingress is not served"}}}
	if diff := cmp.Diff(want, r.Sections); diff != "" || r.Ingresses != 1 {
		t.Errorf("Check (-want +got):\n%s%d Ingresses", diff, r.Ingresses)
	}
}

package annotations

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestInventoryComplete checks that every annotation ingress-nginx
// documents has a status, that the lists name documented annotations only
// and none twice, and that the Meta tables decide what is supported.
func TestInventoryComplete(t *testing.T) {
	t.Parallel()
	inv := Inventory()
	if len(inv) < 137 {
		t.Errorf("Inventory() has %d annotations, want the 137 ingress-nginx documents or reads", len(inv))
	}
	for _, e := range inv {
		if e.Status == "" {
			t.Errorf("annotation %s has no status: add it to plannedAnnotations, refusedAnnotations or a Meta table", e.Key)
		}
		if strings.HasSuffix(e.Key, "-snippet") && e.Status != StatusRefused {
			t.Errorf("annotation %s: status %s, want refused", e.Key, e.Status)
		}
	}
	documented := func(list string, key string) {
		if !slices.Contains(documentedAnnotations, key) {
			t.Errorf("%s names %s, which ingress-nginx does not document", list, key)
		}
	}
	for _, k := range plannedAnnotations {
		documented("plannedAnnotations", k)
		if refusedAnnotations[k] != "" {
			t.Errorf("%s is both planned and refused", k)
		}
	}
	for k := range refusedAnnotations {
		documented("refusedAnnotations", k)
	}
	for k := range partialAnnotations {
		documented("partialAnnotations", k)
	}
	for _, table := range tables() {
		for _, m := range table {
			if m.ConfigMapOnly {
				continue
			}
			if e := AnnotationEntry(m.Key); e.Status != StatusSupported && e.Status != StatusPartial {
				t.Errorf("annotation %s is read by a Meta table but its status is %s", m.Key, e.Status)
			}
		}
	}
	if d := slices.Clone(documentedAnnotations); !slices.IsSorted(d) || len(slices.Compact(d)) != len(documentedAnnotations) {
		t.Error("documentedAnnotations is not sorted or names a key twice")
	}
}

// TestConfigMapInventoryComplete checks that every documented ConfigMap key
// has a status and that every key a Meta table reads is applied.
func TestConfigMapInventoryComplete(t *testing.T) {
	t.Parallel()
	inv := ConfigMapInventory()
	if len(inv) < 192 {
		t.Errorf("ConfigMapInventory() has %d keys, want the 192 ingress-nginx documents", len(inv))
	}
	for _, e := range inv {
		if e.Status == "" || (e.Status != StatusApplied && e.Note == "") {
			t.Errorf("configmap key %s: status %q, note %q", e.Key, e.Status, e.Note)
		}
		if strings.HasSuffix(e.Key, "-snippet") && e.Status != StatusRefused {
			t.Errorf("configmap key %s: status %s, want refused", e.Key, e.Status)
		}
		if e.Meta != nil && e.Status != StatusApplied && e.Status != StatusPartial {
			t.Errorf("configmap key %s is read by a Meta table but its status is %s", e.Key, e.Status)
		}
	}
	for k := range inertConfigMapKeys {
		if !slices.Contains(documentedConfigMapKeys, k) {
			t.Errorf("inertConfigMapKeys names %s, which ingress-nginx does not document", k)
		}
	}
	if d := slices.Clone(documentedConfigMapKeys); !slices.IsSorted(d) || len(slices.Compact(d)) != len(documentedConfigMapKeys) {
		t.Error("documentedConfigMapKeys is not sorted or names a key twice")
	}
}

func TestCheckConfigMap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data map[string]string
		want []string
	}{
		{name: "nil", data: nil},
		{name: "applied keys", data: map[string]string{"proxy-read-timeout": "30", "hsts": "false", "allow-snippet-annotations": "false"}},
		{
			name: "ignored, refused, inert and unknown keys",
			data: map[string]string{
				"disable-ipv6-dns": "true", "http-snippet": "x", "otel-service-name": "a", "worker-processes": "4",
				"no-such-key": "1", "proxy-read-timeout": "30",
			},
			want: []string{
				"configmap key disable-ipv6-dns is not applied by Weir; ignored (not implemented in Weir yet)",
				"configmap key http-snippet is not applied by Weir; ignored (snippets (raw nginx configuration) are never applied)",
				"configmap key no-such-key is not applied by Weir; ignored (not an ingress-nginx ConfigMap key)",
				"configmap key otel-service-name is not applied by Weir; ignored (Weir exports no OpenTelemetry traces)",
				"configmap key worker-processes is not applied by Weir; ignored (tunes nginx internals; Weir has no equivalent and needs none)",
			},
		},
		{
			name: "allow-snippet-annotations true",
			data: map[string]string{"allow-snippet-annotations": "true"},
			want: []string{"configmap key allow-snippet-annotations is not applied by Weir; ignored: Weir keeps it false, snippets (raw nginx configuration) are never applied"},
		},
		{
			name: "allow-snippet-annotations invalid",
			data: map[string]string{"allow-snippet-annotations": "yes"},
			want: []string{`configmap key allow-snippet-annotations: value "yes": must be "true" or "false"`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, errStrings(t, CheckConfigMap(tc.data))); diff != "" {
				t.Errorf("CheckConfigMap (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnsupportedReason(t *testing.T) {
	t.Parallel()
	_, errs := Parse(map[string]string{
		Prefix + "enable-modsecurity": "true",
		Prefix + "no-such-thing":      "1",
	}, DefaultProxy())
	want := []string{
		"annotation nginx.ingress.kubernetes.io/enable-modsecurity is not supported by Weir; ignored (Weir has no ModSecurity web application firewall)",
		"annotation nginx.ingress.kubernetes.io/no-such-thing is not supported by Weir; ignored (not an annotation ingress-nginx documents)",
	}
	if diff := cmp.Diff(want, errStrings(t, errs)); diff != "" {
		t.Errorf("Parse errors (-want +got):\n%s", diff)
	}
}

// TestRefusedSwitchOff: a refused annotation that only switches a feature
// on, set to false, asks for what Weir does: no error, so that the
// webhook accepts it as ingress-nginx's does (its e2e
// annotations/modsecurity "should disable modsecurity" creates one). True,
// or a value that is not a boolean, is still reported.
func TestRefusedSwitchOff(t *testing.T) {
	t.Parallel()
	off := map[string]string{}
	for _, k := range []string{"enable-modsecurity", "enable-owasp-core-rules", "enable-opentelemetry",
		"opentelemetry-trust-incoming-span", "http2-push-preload", "enable-rewrite-log"} {
		off[Prefix+k] = "false"
	}
	off[Prefix+"enable-rewrite-log"] = "F"
	if _, errs := Parse(off, DefaultProxy()); len(errs) != 0 {
		t.Errorf("Parse of switches set off: %v, want no error", errStrings(t, errs))
	}
	for _, v := range []string{"true", "1", "no"} {
		if _, errs := Parse(map[string]string{Prefix + "enable-opentelemetry": v}, DefaultProxy()); len(errs) != 1 {
			t.Errorf("Parse of enable-opentelemetry %q: %v, want one error", v, errStrings(t, errs))
		}
	}
}

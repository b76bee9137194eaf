package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/weir-lb/weir/userspace/snapshot"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// ingress returns an Ingress of class weir routing host/path to Service
// web:80, created at created (zero: being created).
func ingress(name, host, path string, created time.Time, ann map[string]string) *networkingv1.Ingress {
	class := "weir"
	pt := networkingv1.PathTypePrefix
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Annotations: ann, CreationTimestamp: metav1.NewTime(created)},
		Spec: networkingv1.IngressSpec{
			IngressClassName: &class,
			Rules: []networkingv1.IngressRule{{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
				Paths: []networkingv1.HTTPIngressPath{{Path: path, PathType: &pt, Backend: networkingv1.IngressBackend{
					Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}},
				}}},
			}}}},
		},
	}
}

// objects returns Weir's IngressClass, Service web with one ready
// endpoint, and ings.
func objects(ings ...*networkingv1.Ingress) snapshot.Objects {
	ready, port := true, int32(8080)
	opts := snapshot.DefaultOptions()
	return snapshot.Objects{
		IngressClasses: []*networkingv1.IngressClass{{ObjectMeta: metav1.ObjectMeta{Name: "weir"}, Spec: networkingv1.IngressClassSpec{Controller: opts.ControllerClass}}},
		Services: []*corev1.Service{{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}},
		EndpointSlices: []*discoveryv1.EndpointSlice{{
			ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: "web-1", Labels: map[string]string{snapshot.ServiceNameLabel: "web"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"127.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
			Ports:       []discoveryv1.EndpointPort{{Port: &port}},
		}},
		Ingresses: ings,
	}
}

// TestReviewConfigMap reviews with the controller ConfigMap's
// annotations-risk-level and annotation-value-word-blocklist, as
// ingress-nginx's e2e admission.go ("invalid value in some annotation",
// "forbidden value") and settings/validations.
func TestReviewConfigMap(t *testing.T) {
	t.Parallel()
	opts := snapshot.DefaultOptions()
	opts.ConfigMap = "ingress-nginx/controller"
	withData := func(data map[string]string) snapshot.Objects {
		objs := objects()
		objs.ConfigMaps = []*corev1.ConfigMap{{ObjectMeta: metav1.ObjectMeta{Namespace: "ingress-nginx", Name: "controller"}, Data: data}}
		return objs
	}
	for _, tc := range []struct {
		name       string
		data       map[string]string
		ann        map[string]string
		skipValid  bool
		wantDenied []string
	}{
		{name: "blocklisted brace", data: map[string]string{"annotation-value-word-blocklist": "}"},
			ann:        map[string]string{"nginx.ingress.kubernetes.io/connection-proxy-header": "a;}"},
			wantDenied: []string{"InvalidIngress: nginx.ingress.kubernetes.io/connection-proxy-header annotation contains invalid word }; the ingress is not served"}},
		{name: "blocklisted lua", data: map[string]string{"annotation-value-word-blocklist": "set_by_lua"},
			ann:        map[string]string{"nginx.ingress.kubernetes.io/connection-proxy-header": "set_by_lua"},
			wantDenied: []string{"InvalidIngress: nginx.ingress.kubernetes.io/connection-proxy-header annotation contains invalid word set_by_lua; the ingress is not served"}},
		{name: "validation off", ann: map[string]string{"nginx.ingress.kubernetes.io/connection-proxy-header": "a;}"}, skipValid: true,
			wantDenied: []string{"InvalidAnnotation: "}}, // Weir's own reading of the value
		{name: "High at Medium", data: map[string]string{"annotations-risk-level": "Medium"},
			ann:        map[string]string{"nginx.ingress.kubernetes.io/server-alias": "c.example.com"},
			wantDenied: []string{"InvalidIngress: annotation group Aliases contains risky annotation based on ingress configuration; the ingress is not served"}},
		// settings/validations/validations.go: at Medium, Low and Medium
		// annotations pass (default-backend naming a Service that does not
		// exist included); adding High ones is refused.
		{name: "validations.go Low and Medium at Medium", data: map[string]string{"annotations-risk-level": "Medium"},
			ann: map[string]string{"nginx.ingress.kubernetes.io/default-backend": "bla", "nginx.ingress.kubernetes.io/denylist-source-range": "1.1.1.1/32"}},
		{name: "validations.go High at Medium", data: map[string]string{"annotations-risk-level": "Medium"},
			ann: map[string]string{"nginx.ingress.kubernetes.io/default-backend": "bla", "nginx.ingress.kubernetes.io/denylist-source-range": "1.1.1.1/32",
				"nginx.ingress.kubernetes.io/modsecurity-transaction-id": "bla123", "nginx.ingress.kubernetes.io/modsecurity-snippet": "some random stuff;"},
			wantDenied: []string{"InvalidIngress: annotation group "}},
		{name: "High at High", data: map[string]string{"annotations-risk-level": "High"},
			ann: map[string]string{"nginx.ingress.kubernetes.io/server-alias": "c.example.com"}},
		// At Critical ingress-nginx serves it; Weir still never applies a
		// snippet, and its webhook refuses one it would ignore.
		{name: "snippet at Critical", data: map[string]string{"annotations-risk-level": "Critical"},
			ann:        map[string]string{"nginx.ingress.kubernetes.io/configuration-snippet": "return 200;"},
			wantDenied: []string{"SnippetIgnored: annotation nginx.ingress.kubernetes.io/configuration-snippet"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := opts
			o.SkipAnnotationValidation = tc.skipValid
			r := Review(withData(tc.data), o, ingress("new", "b.example.com", "/", time.Time{}, tc.ann), t0.Add(time.Hour))
			if len(r.Denied) != len(tc.wantDenied) {
				t.Fatalf("denied %q, want %d reasons starting %q", r.Denied, len(tc.wantDenied), tc.wantDenied)
			}
			for i, want := range tc.wantDenied {
				if !strings.HasPrefix(r.Denied[i], want) {
					t.Errorf("reason %d is %q, want it to start %q", i, r.Denied[i], want)
				}
			}
		})
	}
}

func TestReview(t *testing.T) {
	t.Parallel()
	old := ingress("old", "a.example.com", "/", t0, nil)
	tests := []struct {
		name       string
		ing        *networkingv1.Ingress
		wantDenied []string
		wantWarn   bool
	}{
		{name: "valid", ing: ingress("new", "b.example.com", "/", time.Time{}, map[string]string{"nginx.ingress.kubernetes.io/proxy-read-timeout": "30"})},
		{name: "invalid annotation value", ing: ingress("new", "b.example.com", "/", time.Time{}, map[string]string{"nginx.ingress.kubernetes.io/proxy-read-timeout": "soon"}),
			wantDenied: []string{"InvalidAnnotation: annotation nginx.ingress.kubernetes.io/proxy-read-timeout"}},
		// At the default annotations-risk-level (High), ingress-nginx
		// refuses an Ingress with a snippet (Critical).
		{name: "snippet", ing: ingress("new", "b.example.com", "/", time.Time{}, map[string]string{"nginx.ingress.kubernetes.io/configuration-snippet": "return 200;"}),
			wantDenied: []string{"InvalidIngress: annotation group ConfigurationSnippet contains risky annotation based on ingress configuration; the ingress is not served"}},
		{name: "refused annotation", ing: ingress("new", "b.example.com", "/", time.Time{}, map[string]string{"nginx.ingress.kubernetes.io/enable-modsecurity": "true"}),
			wantDenied: []string{"UnsupportedAnnotation: annotation nginx.ingress.kubernetes.io/enable-modsecurity is not supported by Weir; ignored (Weir has no ModSecurity"}},
		// annotations/modsecurity "should disable modsecurity": off is
		// what Weir does.
		{name: "refused feature switched off", ing: ingress("new", "b.example.com", "/", time.Time{}, map[string]string{"nginx.ingress.kubernetes.io/enable-modsecurity": "false"})},
		{name: "invalid path", ing: ingress("new", "b.example.com", "api", time.Time{}, nil),
			wantDenied: []string{`InvalidPath: path "api" of host "b.example.com" does not start with "/"`}},
		{name: "lost conflict", ing: ingress("new", "a.example.com", "/", time.Time{}, nil),
			wantDenied: []string{"ConflictLost: "}},
		// ingress-nginx e2e admission.go, "overlaps of host and paths ...
		// in any rule": created in the same second as old (the API
		// server's times are whole seconds) and with a name ordered
		// before it on a tie, it still loses, as ingress-nginx reviews
		// an Ingress after the stored ones.
		{name: "lost conflict in the same second", ing: func() *networkingv1.Ingress {
			i := ingress("second", "a.example.com", "/safe-path-2", t0, nil)
			i.Spec.Rules[0].HTTP.Paths = append(i.Spec.Rules[0].HTTP.Paths, i.Spec.Rules[0].HTTP.Paths[0])
			i.Spec.Rules[0].HTTP.Paths[1].Path = "/"
			return i
		}(), wantDenied: []string{`ConflictLost: path "/" (Prefix) of host "a.example.com" is already defined by ingress default/old`}},
		// ingress-nginx e2e admission.go: "should block ingress with
		// invalid path" (deep inspection), and the overlap a canary may make.
		{name: "unsafe path", ing: ingress("new", "b.example.com", "/etc/nginx", time.Time{}, nil),
			wantDenied: []string{`UnsafeIngress: path "/etc/nginx" holds a refused value`}},
		// admission.go's annotation-value-word-blocklist values without
		// the list: ingress-nginx's validator refuses them
		// (TestReviewConfigMap: with it).
		{name: "invalid connection header", ing: ingress("new", "b.example.com", "/", time.Time{}, map[string]string{"nginx.ingress.kubernetes.io/connection-proxy-header": "a;}"}),
			wantDenied: []string{"InvalidIngress: annotation nginx.ingress.kubernetes.io/connection-proxy-header contains invalid value; the ingress is not served"}},
		{name: "lua connection header", ing: ingress("new", "b.example.com", "/", time.Time{}, map[string]string{"nginx.ingress.kubernetes.io/connection-proxy-header": "set_by_lua"}),
			wantDenied: []string{"InvalidIngress: annotation nginx.ingress.kubernetes.io/connection-proxy-header contains invalid value; the ingress is not served"}},
		{name: "canary overlap", ing: ingress("new", "a.example.com", "/", time.Time{}, map[string]string{
			"nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-by-header": "CanaryByHeader"}),
			// Its Service is the main rule's own: ignored with a warning, as
			// ingress-nginx merges no alternative backend that is the primary.
			wantWarn: true},
		{name: "update of the winner keeps it", ing: ingress("old", "a.example.com", "/", t0, map[string]string{"nginx.ingress.kubernetes.io/proxy-read-timeout": "30"})},
		{name: "missing service warns", ing: func() *networkingv1.Ingress {
			i := ingress("new", "b.example.com", "/", time.Time{}, nil)
			i.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name = "later"
			return i
		}(), wantWarn: true},
		{name: "other class", ing: func() *networkingv1.Ingress {
			i := ingress("new", "a.example.com", "api", time.Time{}, map[string]string{"nginx.ingress.kubernetes.io/configuration-snippet": "x"})
			other := "nginx"
			i.Spec.IngressClassName = &other
			return i
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := Review(objects(old), snapshot.DefaultOptions(), tc.ing, t0.Add(time.Hour))
			if len(r.Denied) != len(tc.wantDenied) {
				t.Fatalf("denied %q, want %d reasons starting %q", r.Denied, len(tc.wantDenied), tc.wantDenied)
			}
			for i, want := range tc.wantDenied {
				if !strings.HasPrefix(r.Denied[i], want) {
					t.Errorf("reason %d is %q, want it to start %q", i, r.Denied[i], want)
				}
			}
			if got := len(r.Warnings) > 0; got != tc.wantWarn {
				t.Errorf("warnings %q, want some: %v", r.Warnings, tc.wantWarn)
			}
		})
	}
}

// post sends review to rv and decodes the answer.
func post(t *testing.T, rv *Reviewer, review *admissionv1.AdmissionReview) (int, *admissionv1.AdmissionResponse) {
	t.Helper()
	body, err := json.Marshal(review)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	rv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/networking/v1/ingresses", bytes.NewReader(body)))
	if rec.Code != http.StatusOK {
		return rec.Code, nil
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("decode answer: %v\n%s", err, rec.Body)
	}
	if out.APIVersion != "admission.k8s.io/v1" || out.Kind != "AdmissionReview" || out.Response == nil {
		t.Fatalf("answer is not an AdmissionReview v1 response: %s", rec.Body)
	}
	return rec.Code, out.Response
}

func review(op admissionv1.Operation, kind string, obj runtime.Object) *admissionv1.AdmissionReview {
	raw, _ := json.Marshal(obj)
	return &admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID("uid-1"),
			Kind:      metav1.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: kind},
			Namespace: "default",
			Operation: op,
			Object:    runtime.RawExtension{Raw: raw},
		},
	}
}

func TestServeHTTP(t *testing.T) {
	t.Parallel()
	objs := objects(ingress("old", "a.example.com", "/", t0, nil))
	rv := &Reviewer{
		Options: snapshot.DefaultOptions(),
		Objects: func(ing *networkingv1.Ingress) (snapshot.Objects, *networkingv1.Ingress, error) {
			if ing.Namespace == "unwatched" {
				return snapshot.Objects{}, nil, nil
			}
			return objs, ing, nil
		},
	}
	reg := prometheus.NewRegistry()
	rv.Checks = NewCheckMetrics(reg)
	bad := ingress("new", "b.example.com", "/", time.Time{}, map[string]string{"nginx.ingress.kubernetes.io/server-snippet": "x"})
	_, resp := post(t, rv, review(admissionv1.Create, "Ingress", bad))
	if resp.UID != "uid-1" || resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, "weir refuses ingress default/new: InvalidIngress: annotation group ServerSnippet contains risky annotation") {
		t.Errorf("snippet Ingress: got %+v, want refused naming the snippet", resp)
	}
	good := ingress("new", "b.example.com", "/", time.Time{}, nil)
	good.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name = "later"
	_, resp = post(t, rv, review(admissionv1.Update, "Ingress", good))
	if !resp.Allowed || len(resp.Warnings) != 1 || !strings.HasPrefix(resp.Warnings[0], "ServiceNotFound: ") {
		t.Errorf("valid Ingress with a missing Service: got %+v, want allowed with a ServiceNotFound warning", resp)
	}
	unwatched := bad.DeepCopy()
	unwatched.Namespace = "unwatched"
	for name, rev := range map[string]*admissionv1.AdmissionReview{
		"delete":    review(admissionv1.Delete, "Ingress", bad),
		"other":     review(admissionv1.Create, "IngressClass", &networkingv1.IngressClass{}),
		"unwatched": review(admissionv1.Create, "Ingress", unwatched),
	} {
		if _, resp := post(t, rv, rev); !resp.Allowed || resp.UID != "uid-1" {
			t.Errorf("%s: got %+v, want allowed", name, resp)
		}
	}
	// ingress-nginx's CheckIngress counts check_errors for a refused
	// Ingress and check_success for an allowed one; other kinds, DELETE
	// and Ingresses of namespaces not watched are not counted.
	if got, want := counters(t, reg), map[string]float64{
		"nginx_ingress_controller_check_errors{default/new}":  1,
		"nginx_ingress_controller_check_success{default/new}": 1,
	}; !maps.Equal(got, want) {
		t.Errorf("check counters = %v, want %v", got, want)
	}
	notSynced := &Reviewer{Objects: func(*networkingv1.Ingress) (snapshot.Objects, *networkingv1.Ingress, error) {
		return snapshot.Objects{}, nil, errors.New("not synced")
	}}
	if code, _ := post(t, notSynced, review(admissionv1.Create, "Ingress", good)); code != http.StatusServiceUnavailable {
		t.Errorf("objects not known: status %d, want 503", code)
	}
	// ingress-nginx e2e admission.go, "should not allow REALLY large
	// ingresses": 9 MiB of garbage is 413.
	rec := httptest.NewRecorder()
	rv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(strings.Repeat("b", 9<<20))))
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("9 MiB review: status %d, want 413", rec.Code)
	}
	rec = httptest.NewRecorder()
	rv.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader("{")))
	if rec.Code != http.StatusBadRequest {
		t.Errorf("malformed review: status %d, want 400", rec.Code)
	}
}

// TestReviewStrictPathType follows ingress-nginx's
// strict-validate-path-type: by default a Prefix path with bytes other
// than letters, digits, '.', '_', '-' and '/' refuses the Ingress (its
// CheckIngress), an ImplementationSpecific one does not; with the key
// "false" it is a warning only (its CheckWarning).
func TestReviewStrictPathType(t *testing.T) {
	t.Parallel()
	regexPath := ingress("new", "b.example.com", "/api/(.*)", time.Time{}, map[string]string{"nginx.ingress.kubernetes.io/use-regex": "true"})
	r := Review(objects(), snapshot.DefaultOptions(), regexPath, t0)
	if want := "InvalidPathType: path /api/(.*) cannot be used with pathType Prefix"; len(r.Denied) != 1 || r.Denied[0] != want {
		t.Errorf("strict: denied %q, want [%q]", r.Denied, want)
	}

	impl := regexPath.DeepCopy()
	pt := networkingv1.PathTypeImplementationSpecific
	impl.Spec.Rules[0].HTTP.Paths[0].PathType = &pt
	if r := Review(objects(), snapshot.DefaultOptions(), impl, t0); len(r.Denied)+len(r.Warnings) != 0 {
		t.Errorf("ImplementationSpecific: denied %q, warnings %q, want none", r.Denied, r.Warnings)
	}

	objs := objects()
	objs.ConfigMaps = []*corev1.ConfigMap{{ObjectMeta: metav1.ObjectMeta{Namespace: "weir", Name: "weir"}, Data: map[string]string{"strict-validate-path-type": "false"}}}
	opts := snapshot.DefaultOptions()
	opts.ConfigMap = "weir/weir"
	r = Review(objs, opts, regexPath, t0)
	if want := "PathTypeNotStrict: path /api/(.*) cannot be used with pathType Prefix"; len(r.Denied) != 0 || len(r.Warnings) != 1 || r.Warnings[0] != want {
		t.Errorf("not strict: denied %q, warnings %q, want only the warning %q", r.Denied, r.Warnings, want)
	}
}

// TestReviewCrossNamespace follows ingress-nginx's
// allow-cross-namespace-resources: auth-secret and auth-proxy-set-headers
// naming another namespace are refused by default, and accepted (the
// objects found) with the key "true".
func TestReviewCrossNamespace(t *testing.T) {
	t.Parallel()
	ing := ingress("new", "b.example.com", "/", time.Time{}, map[string]string{
		"nginx.ingress.kubernetes.io/auth-type":              "basic",
		"nginx.ingress.kubernetes.io/auth-secret":            "shared/users",
		"nginx.ingress.kubernetes.io/auth-url":               "http://auth.example.com/check",
		"nginx.ingress.kubernetes.io/auth-proxy-set-headers": "shared/auth-headers",
	})
	objs := objects()
	objs.Secrets = []*corev1.Secret{{ObjectMeta: metav1.ObjectMeta{Namespace: "shared", Name: "users"}, Data: map[string][]byte{"auth": []byte("u:{PLAIN}p\n")}}}
	headers := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "shared", Name: "auth-headers"}, Data: map[string]string{"X-Team": "a"}}
	objs.ConfigMaps = []*corev1.ConfigMap{headers}
	r := Review(objs, snapshot.DefaultOptions(), ing, t0)
	if len(r.Denied) != 2 || !strings.Contains(r.Denied[0], "cross-namespace references are not allowed") || !strings.Contains(r.Denied[1], "cross-namespace references are not allowed") {
		t.Errorf("default: denied %q, want auth-secret and auth-proxy-set-headers refused as cross-namespace", r.Denied)
	}

	objs.ConfigMaps = []*corev1.ConfigMap{headers, {ObjectMeta: metav1.ObjectMeta{Namespace: "weir", Name: "weir"}, Data: map[string]string{"allow-cross-namespace-resources": "true"}}}
	opts := snapshot.DefaultOptions()
	opts.ConfigMap = "weir/weir"
	if r := Review(objs, opts, ing, t0); len(r.Denied) != 0 {
		t.Errorf("allow-cross-namespace-resources true: denied %q, want none", r.Denied)
	}
}

// counters returns the value of every counter series of reg, keyed
// "name{namespace/ingress}".
func counters(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			out[mf.GetName()+"{"+l["namespace"]+"/"+l["ingress"]+"}"] = m.GetCounter().GetValue()
		}
	}
	return out
}

// TestServeHTTPBoundsConcurrency: with MaxConcurrent 1 a second review
// waits until the first is done, and a review whose request ends while it
// waits is answered 503 (the webhook's failurePolicy decides) without
// being read.
func TestServeHTTPBoundsConcurrency(t *testing.T) {
	t.Parallel()
	objs := objects(ingress("old", "a.example.com", "/", t0, nil))
	entered := make(chan string, 2)
	release := make(chan struct{})
	rv := &Reviewer{
		Options:       snapshot.DefaultOptions(),
		MaxConcurrent: 1,
		Objects: func(ing *networkingv1.Ingress) (snapshot.Objects, *networkingv1.Ingress, error) {
			entered <- ing.Name
			if ing.Name == "first" {
				<-release
			}
			return objs, ing, nil
		},
	}
	done := make(chan int, 2)
	go func() {
		code, _ := post(t, rv, review(admissionv1.Create, "Ingress", ingress("first", "b.example.com", "/", time.Time{}, nil)))
		done <- code
	}()
	if got := <-entered; got != "first" {
		t.Fatalf("first review entered %q", got)
	}
	go func() {
		code, _ := post(t, rv, review(admissionv1.Create, "Ingress", ingress("second", "c.example.com", "/", time.Time{}, nil)))
		done <- code
	}()
	// A review whose request has ended while the slot is taken is refused
	// at once: the slot is still the first's.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := httptest.NewRecorder()
	rv.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodPost, "/", strings.NewReader("{")))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("review whose request ended while waiting: status %d, want 503", rec.Code)
	}
	select {
	case got := <-entered:
		t.Fatalf("review %q ran while the only slot was taken", got)
	default:
	}
	close(release)
	for range 2 {
		if code := <-done; code != http.StatusOK {
			t.Errorf("review: status %d, want 200", code)
		}
	}
	if got := <-entered; got != "second" {
		t.Errorf("second review entered %q", got)
	}
}

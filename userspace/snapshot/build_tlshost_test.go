package snapshot_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weir-lb/weir/l7/certs"
	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/l7/router"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// hostCert is what a host gets: the Secret ("namespace/name") whose
// certificate lists it, "" for none; and whether its routes redirect to
// HTTPS (ssl-redirect, on by default, follows a host that has a
// certificate, the default one included).
type hostCert struct {
	Secret   string
	Redirect bool
}

// certOf returns what s gives host; a host without a Server is "missing".
func certOf(s *snapshot.Snapshot, host string) hostCert {
	var got hostCert
	for _, c := range s.Certificates {
		if slices.Contains(c.Hosts, host) {
			got.Secret = c.Secret.Namespace + "/" + c.Secret.Name
		}
	}
	i := slices.IndexFunc(s.Servers, func(srv snapshot.Server) bool { return srv.Host == host })
	if i < 0 {
		got.Secret = "missing " + got.Secret
		return got
	}
	for _, p := range s.Servers[i].Paths {
		got.Redirect = got.Redirect || p.Backend.SSLRedirect
	}
	return got
}

// tlsSecret is the TLS Secret ns/name of a certificate ca issues for
// hosts.
func tlsSecret(tb testing.TB, ca *certstest.CA, name string, hosts ...string) *corev1.Secret {
	tb.Helper()
	crt, key := ca.Issue(tb, hosts...)
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key}}
}

// weirClasses are the IngressClass weir of Weir's default controller.
func weirClasses() []*networkingv1.IngressClass {
	return []*networkingv1.IngressClass{{ObjectMeta: metav1.ObjectMeta{Name: "weir"},
		Spec: networkingv1.IngressClassSpec{Controller: "weir-lb.dev/ingress-controller"}}}
}

// tlsSection is a spec.tls section.
func tlsSection(secretName string, hosts ...string) networkingv1.IngressTLS {
	return networkingv1.IngressTLS{Hosts: hosts, SecretName: secretName}
}

// tlsSections lists sections.
func tlsSections(s ...networkingv1.IngressTLS) []networkingv1.IngressTLS { return s }

// tlsIngress is an Ingress of class weir and of age seconds with sections
// and a rule "/" for each of hosts.
func tlsIngress(ns, name string, age int, ann map[string]string, sections []networkingv1.IngressTLS, hosts ...string) *networkingv1.Ingress {
	class := "weir"
	prefix := networkingv1.PathTypePrefix
	i := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: ann,
		CreationTimestamp: metav1.NewTime(time.Date(2026, 1, 1, 0, 0, age, 0, time.UTC))},
		Spec: networkingv1.IngressSpec{IngressClassName: &class, TLS: sections}}
	for _, h := range hosts {
		i.Spec.Rules = append(i.Spec.Rules, networkingv1.IngressRule{Host: h, IngressRuleValue: networkingv1.IngressRuleValue{
			HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &prefix,
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web-" + name,
					Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}})
	}
	return i
}

// TestBuildTLSCertificatePerHost checks which certificate each host gets,
// as ingress-nginx's createServers assigns servers[host].SSLCert: only from
// the Ingresses with a rule for the host (canaries excepted), oldest first;
// an Ingress without spec.tls is skipped, and the first with one decides:
// the section listing the host (any case), else one whose certificate is
// valid for it (extractTLSSecretName); an empty secretName, a missing
// Secret, a certificate not valid for the host or no section for it give
// the default certificate, which later Ingresses cannot change. The
// Builder, adding and removing the Ingresses one by one, agrees with Build.
func TestBuildTLSCertificatePerHost(t *testing.T) {
	t.Parallel()
	ca := certstest.NewCA(t)
	secret := func(name string, hosts ...string) *corev1.Secret { return tlsSecret(t, ca, name, hosts...) }
	secrets := []*corev1.Secret{
		secret("h", "h.example.com"), secret("h2", "h.example.com"), secret("other", "other.example.com"),
		secret("wild", "*.example.com"), secret("orphan", "orphan.example.com"),
	}
	tls, ing, sections := tlsSection, tlsIngress, tlsSections
	canary := map[string]string{"nginx.ingress.kubernetes.io/canary": "true"}
	tests := []struct {
		name      string
		ingresses []*networkingv1.Ingress
		want      map[string]hostCert
		warning   string // in the warnings, when not ""
	}{{
		name: "tls host without a rule",
		ingresses: []*networkingv1.Ingress{
			ing("ns", "a", 1, nil, sections(tls("h", "h.example.com"), tls("orphan", "orphan.example.com")), "other.example.com"),
			ing("ns", "b", 2, nil, nil, "h.example.com"),
		},
		want: map[string]hostCert{
			"h.example.com": {"", false},
			// a has spec.tls but no section for other.example.com, and
			// no certificate valid for it: the default certificate.
			"other.example.com":  {"", true},
			"orphan.example.com": {"missing ", false},
		},
	}, {
		name: "the oldest ingress decides, not the name order",
		ingresses: []*networkingv1.Ingress{
			ing("ns", "zz", 1, nil, sections(tls("h2", "h.example.com")), "h.example.com"),
			ing("ns", "aa", 2, nil, sections(tls("h", "h.example.com")), "h.example.com"),
		},
		want: map[string]hostCert{"h.example.com": {"ns/h2", true}},
	}, {
		name: "an older ingress without spec.tls is skipped",
		ingresses: []*networkingv1.Ingress{
			ing("ns", "old", 1, nil, nil, "h.example.com"),
			ing("ns", "young", 2, nil, sections(tls("h2", "h.example.com")), "h.example.com"),
		},
		want: map[string]hostCert{"h.example.com": {"ns/h2", true}},
	}, {
		name: "first with spec.tls wins",
		ingresses: []*networkingv1.Ingress{
			ing("ns", "old", 1, nil, sections(tls("h2", "h.example.com")), "h.example.com"),
			ing("ns", "young", 2, nil, sections(tls("h", "h.example.com")), "h.example.com"),
		},
		want: map[string]hostCert{"h.example.com": {"ns/h2", true}},
	}, {
		name: "an empty secretName gives the default certificate for good",
		ingresses: []*networkingv1.Ingress{
			ing("ns", "old", 1, nil, sections(tls("", "h.example.com")), "h.example.com"),
			ing("ns", "young", 2, nil, sections(tls("h", "h.example.com")), "h.example.com"),
		},
		want: map[string]hostCert{"h.example.com": {"", true}},
	}, {
		name: "a missing secret gives the default certificate for good",
		ingresses: []*networkingv1.Ingress{
			ing("ns", "old", 1, nil, sections(tls("nope", "h.example.com")), "h.example.com"),
			ing("ns", "young", 2, nil, sections(tls("h", "h.example.com")), "h.example.com"),
		},
		want:    map[string]hostCert{"h.example.com": {"", true}},
		warning: "tls secret ns/nope not found",
	}, {
		name: "a certificate not valid for the host gives the default certificate for good",
		ingresses: []*networkingv1.Ingress{
			ing("ns", "old", 1, nil, sections(tls("other", "h.example.com")), "h.example.com"),
			ing("ns", "young", 2, nil, sections(tls("h", "h.example.com")), "h.example.com"),
		},
		want:    map[string]hostCert{"h.example.com": {"", true}},
		warning: "tls secret ns/other does not cover host h.example.com",
	}, {
		name: "spec.tls for other hosts only gives the default certificate for good",
		ingresses: []*networkingv1.Ingress{
			ing("ns", "old", 1, nil, sections(tls("other", "other.example.com")), "h.example.com", "other.example.com"),
			ing("ns", "young", 2, nil, sections(tls("h", "h.example.com")), "h.example.com"),
		},
		want: map[string]hostCert{"h.example.com": {"", true}, "other.example.com": {"ns/other", true}},
	}, {
		name: "a certificate valid for the host serves it without listing it",
		ingresses: []*networkingv1.Ingress{
			ing("ns", "a", 1, nil, sections(tls("other", "other.example.com"), tls("wild", "x.example.com")), "h.example.com"),
		},
		want: map[string]hostCert{"h.example.com": {"ns/wild", true}},
	}, {
		name: "the section listing the host comes before a valid certificate",
		ingresses: []*networkingv1.Ingress{
			ing("ns", "a", 1, nil, sections(tls("wild", "x.example.com"), tls("", "h.example.com")), "h.example.com"),
		},
		want: map[string]hostCert{"h.example.com": {"", true}},
	}, {
		name: "hosts in any case",
		ingresses: []*networkingv1.Ingress{
			ing("ns", "a", 1, nil, sections(tls("h", "H.Example.COM")), "h.example.com"),
		},
		want: map[string]hostCert{"h.example.com": {"ns/h", true}},
	}, {
		name: "a canary's spec.tls is ignored",
		ingresses: []*networkingv1.Ingress{
			ing("ns", "canary", 1, canary, sections(tls("", "h.example.com")), "h.example.com"),
			ing("ns", "main", 2, nil, sections(tls("h", "h.example.com")), "h.example.com"),
		},
		want: map[string]hostCert{"h.example.com": {"ns/h", true}},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			objs := snapshot.Objects{
				IngressClasses: []*networkingv1.IngressClass{{ObjectMeta: metav1.ObjectMeta{Name: "weir"},
					Spec: networkingv1.IngressClassSpec{Controller: "weir-lb.dev/ingress-controller"}}},
				Ingresses: tc.ingresses, Secrets: secrets,
			}
			opts := snapshot.DefaultOptions()
			s := snapshot.Build(objs, opts)
			got := map[string]hostCert{}
			for h := range tc.want {
				got[h] = certOf(s, h)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("certificates (-want +got):\n%s\ncertificates: %v", diff, hostsOfCerts(s))
			}
			if tc.warning != "" && !slices.ContainsFunc(s.Warnings, func(w snapshot.Warning) bool { return strings.Contains(w.Message, tc.warning) }) {
				t.Errorf("no warning %q in %v", tc.warning, s.Warnings)
			}
			builderAgreesByIngress(t, objs, opts)
		})
	}
}

// builderAgreesByIngress checks that a Builder given the Ingresses of objs
// one at a time, then losing them one at a time, agrees with Build at each
// step.
func builderAgreesByIngress(t *testing.T, objs snapshot.Objects, opts snapshot.Options) {
	t.Helper()
	bl := snapshot.NewBuilder(opts)
	step := objs
	step.Ingresses = nil
	bl.Build(step)
	order := append(slices.Clone(objs.Ingresses), objs.Ingresses...)
	for n, i := range order {
		if n < len(objs.Ingresses) {
			step.Ingresses = append(slices.Clone(step.Ingresses), i)
		} else {
			step.Ingresses = slices.DeleteFunc(slices.Clone(step.Ingresses), func(x *networkingv1.Ingress) bool { return x == i })
		}
		step.Changed = []snapshot.ObjectRef{ingressRef(i)}
		got := bl.Build(step)
		step.Changed = nil
		if diff := cmp.Diff(snapshot.Build(step, opts), got); diff != "" {
			t.Fatalf("step %d (%s/%s): Builder differs from Build (-want +got):\n%s", n, i.Namespace, i.Name, diff)
		}
	}
}

// hostsOfCerts lists the hosts of each certificate of s, for messages.
func hostsOfCerts(s *snapshot.Snapshot) string {
	var b strings.Builder
	for _, c := range s.Certificates {
		fmt.Fprintf(&b, "%s/%s: %v; ", c.Secret.Namespace, c.Secret.Name, c.Hosts)
	}
	return b.String()
}

// TestBuildTLSDefaultCertificateByName checks that a host given the
// default certificate keeps it under a wildcard host with a certificate:
// ingress-nginx's configureCertificates maps every server with an SSLCert,
// the default one included, to that certificate's uid, and certificate.lua
// looks the exact name up before the wildcard one label up. A host whose
// Ingresses have no spec.tls has no SSLCert (its entry is deleted), so its
// handshake does get the wildcard's. The Builder agrees with Build.
func TestBuildTLSDefaultCertificateByName(t *testing.T) {
	t.Parallel()
	ca := certstest.NewCA(t)
	objs := snapshot.Objects{
		IngressClasses: weirClasses(),
		Ingresses: []*networkingv1.Ingress{
			tlsIngress("ns", "wild", 1, nil, tlsSections(tlsSection("wild", "*.example.com")), "*.example.com"),
			tlsIngress("ns", "empty", 2, nil, tlsSections(tlsSection("", "empty.example.com")), "empty.example.com"),
			tlsIngress("ns", "missing", 3, nil, tlsSections(tlsSection("nope", "missing.example.com")), "missing.example.com"),
			tlsIngress("ns", "invalid", 4, nil, tlsSections(tlsSection("other", "invalid.example.com")), "invalid.example.com"),
			tlsIngress("ns", "plain", 5, nil, nil, "plain.example.com"),
		},
		Secrets: []*corev1.Secret{tlsSecret(t, ca, "wild", "*.example.com"), tlsSecret(t, ca, "other", "other.test"),
			tlsSecret(t, ca, "def", "default.test")},
	}
	fallback, err := certs.SelfSigned(certs.FallbackCommonName)
	if err != nil {
		t.Fatal(err)
	}
	for _, def := range []string{"", "ns/def"} {
		opts := snapshot.DefaultOptions()
		opts.DefaultSSLCertificate = def
		s := snapshot.Build(objs, opts)
		st, errs := certs.NewStore(s, fallback, nil)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		defName := certs.FallbackCommonName
		if def != "" {
			defName = "default.test"
		}
		want := map[string]string{
			"empty.example.com":   defName,
			"missing.example.com": defName,
			"invalid.example.com": defName,
			"plain.example.com":   "*.example.com",
			"any.example.com":     "*.example.com",
		}
		got := map[string]string{}
		for sni := range want {
			got[sni] = st.Select(sni).Leaf.Subject.CommonName
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("default %q: certificate by SNI (-want +got):\n%s\ncertificates: %v", def, diff, hostsOfCerts(s))
		}
		builderAgreesByIngress(t, objs, opts)
	}
}

// TestBuildTLSAliasRedirect checks ssl-redirect through server-alias names:
// ingress-nginx decides it by the request's host (lua_ingress.lua
// redirect_to_https: ssl_redirect and certificate.lua
// configured_for_current_request), and configureCertificates gives an
// alias its server's certificate only when it is valid for it. So an alias
// the certificate does not cover, with no wildcard host with a certificate
// above it, is not redirected by ssl-redirect, only by force-ssl-redirect;
// the host and its other aliases are.
func TestBuildTLSAliasRedirect(t *testing.T) {
	t.Parallel()
	ca := certstest.NewCA(t)
	alias := map[string]string{"nginx.ingress.kubernetes.io/server-alias": "covered.test,other.test,x.wild.test,*.sub.test"}
	forced := map[string]string{"nginx.ingress.kubernetes.io/server-alias": "forced-alias.test",
		"nginx.ingress.kubernetes.io/force-ssl-redirect": "true"}
	objs := snapshot.Objects{
		IngressClasses: weirClasses(),
		Ingresses: []*networkingv1.Ingress{
			tlsIngress("ns", "h", 1, alias, tlsSections(tlsSection("h", "h.example.com")), "h.example.com"),
			tlsIngress("ns", "wild", 2, nil, tlsSections(tlsSection("wild", "*.wild.test")), "*.wild.test"),
			tlsIngress("ns", "forced", 3, forced, tlsSections(tlsSection("f", "forced.example.com")), "forced.example.com"),
		},
		Secrets: []*corev1.Secret{tlsSecret(t, ca, "h", "h.example.com", "covered.test"),
			tlsSecret(t, ca, "wild", "*.wild.test"), tlsSecret(t, ca, "f", "forced.example.com")},
	}
	opts := snapshot.DefaultOptions()
	s := snapshot.Build(objs, opts)
	rt, err := router.Compile(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{
		"h.example.com":     true,
		"covered.test":      true, // the certificate covers it
		"other.test":        false,
		"x.wild.test":       true, // *.wild.test has a certificate
		"a.sub.test":        false,
		"forced-alias.test": true, // force-ssl-redirect
	}
	got := map[string]bool{}
	for host := range want {
		route, ok := rt.Match(host, "/")
		if !ok || route.Host == "" {
			t.Fatalf("%s: no route", host)
		}
		got[host] = rt.SSLRedirect(host, route)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ssl-redirect by request host (-want +got):\n%s", diff)
	}
	builderAgreesByIngress(t, objs, opts)
}

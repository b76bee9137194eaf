package annotations

import (
	"crypto/tls"
	"errors"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseUpstream(t *testing.T) {
	t.Parallel()
	sslDefaults := ProxySSL{Secret: "ns/s", VerifyDepth: 1, MinVersion: tls.VersionTLS12, MaxVersion: tls.VersionTLS12}
	withSSL := func(mod func(*ProxySSL)) *ProxySSL {
		s := sslDefaults
		mod(&s)
		return &s
	}
	tests := []struct {
		name     string
		ann      map[string]string
		want     *Upstream
		wantErrs []string // annotations rejected
	}{
		{name: "none"},
		{name: "http is the default", ann: map[string]string{"backend-protocol": "HTTP"}},
		{name: "https", ann: map[string]string{"backend-protocol": "HTTPS"}, want: &Upstream{Protocol: ProtocolHTTPS}},
		{name: "case-insensitive grpc", ann: map[string]string{"backend-protocol": "grpc"}, want: &Upstream{Protocol: ProtocolGRPC}},
		{name: "grpcs", ann: map[string]string{"backend-protocol": "GRPCS"}, want: &Upstream{Protocol: ProtocolGRPCS}},
		{name: "h2c", ann: map[string]string{"backend-protocol": "H2C"}, want: &Upstream{Protocol: ProtocolH2C}},
		{name: "fcgi refused", ann: map[string]string{"backend-protocol": "FCGI"}, wantErrs: []string{"backend-protocol"}},
		{name: "auto_http", ann: map[string]string{"backend-protocol": "auto_http"}, want: &Upstream{Protocol: ProtocolAutoHTTP}},
		{name: "ajp refused", ann: map[string]string{"backend-protocol": "AJP"}, wantErrs: []string{"backend-protocol"}},
		{name: "unknown", ann: map[string]string{"backend-protocol": "SPDY"}, wantErrs: []string{"backend-protocol"}},
		{name: "ssl settings without secret are ignored", ann: map[string]string{"proxy-ssl-verify": "on"}},
		{name: "ssl settings without secret are checked", ann: map[string]string{"proxy-ssl-verify": "1"}, wantErrs: []string{"proxy-ssl-verify"}},
		{name: "secret defaults", ann: map[string]string{"proxy-ssl-secret": "ns/s"}, want: &Upstream{SSL: &sslDefaults}},
		{name: "every ssl setting", ann: map[string]string{
			"backend-protocol": "HTTPS", "proxy-ssl-secret": "ns/s", "proxy-ssl-verify": "on", "proxy-ssl-verify-depth": "2",
			"proxy-ssl-name": "backend.test", "proxy-ssl-server-name": "on", "proxy-ssl-protocols": "TLSv1.3 TLSv1.2",
			"proxy-ssl-ciphers": "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256",
		}, want: &Upstream{Protocol: ProtocolHTTPS, SSL: withSSL(func(s *ProxySSL) {
			s.Verify, s.VerifyDepth, s.Name, s.ServerNameOn, s.MaxVersion = true, 2, "backend.test", true, tls.VersionTLS13
			s.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
		})}},
		{name: "invalid ssl values keep defaults", ann: map[string]string{
			"proxy-ssl-secret": "ns/s", "proxy-ssl-verify": "yes", "proxy-ssl-verify-depth": "x", "proxy-ssl-name": "a b",
			"proxy-ssl-server-name": "true", "proxy-ssl-protocols": "TLSv1.1", "proxy-ssl-ciphers": "MEDIUM:!AES",
		}, want: &Upstream{SSL: &sslDefaults}, wantErrs: []string{"proxy-ssl-ciphers", "proxy-ssl-name", "proxy-ssl-protocols", "proxy-ssl-server-name", "proxy-ssl-verify", "proxy-ssl-verify-depth"}},
		// ingress-nginx's on/off validators ignore surrounding spaces
		// (ValidateRegex with removeSpace, ValidateOptions with trimSpace).
		{name: "on off trimmed", ann: map[string]string{"proxy-ssl-secret": "ns/s", "proxy-ssl-verify": " on", "proxy-ssl-server-name": "on "},
			want: &Upstream{SSL: withSSL(func(s *ProxySSL) { s.Verify, s.ServerNameOn = true, true })}},
		// ingress-nginx's ValidateServerName trims the value and takes
		// "_" (nginx sends "svc_a.test" as SNI).
		{name: "proxy-ssl-name trimmed with an underscore", ann: map[string]string{"proxy-ssl-secret": "ns/s", "proxy-ssl-name": " svc_a.test "},
			want: &Upstream{SSL: withSSL(func(s *ProxySSL) { s.Name = "svc_a.test" })}},
		// ingress-nginx's proxyssl parser: a depth of 0 is the default 1.
		{name: "verify depth 0 is 1", ann: map[string]string{"proxy-ssl-secret": "ns/s", "proxy-ssl-verify-depth": "0"}, want: &Upstream{SSL: &sslDefaults}},
		{name: "custom errors", ann: map[string]string{"custom-http-errors": "404, 503,404", "default-backend": "errors"},
			want: &Upstream{CustomHTTPErrors: []int{404, 503}, DefaultBackend: "errors"}},
		{name: "custom errors invalid", ann: map[string]string{"custom-http-errors": "404,200", "default-backend": "Bad_Name"}, wantErrs: []string{"custom-http-errors", "default-backend"}},
		{name: "secret without namespace", ann: map[string]string{"proxy-ssl-secret": "s"}, want: &Upstream{SSL: withSSL(func(s *ProxySSL) { s.Secret = "s" })}, wantErrs: []string{"proxy-ssl-secret"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ann := map[string]string{}
			for k, v := range tc.ann {
				ann[Prefix+k] = v
			}
			cfg, errs := Parse(ann, DefaultProxy())
			if diff := cmp.Diff(tc.want, cfg.Proxy.Upstream); diff != "" {
				t.Errorf("Upstream (-want +got):\n%s", diff)
			}
			var got []string
			for _, err := range errs {
				var e *Error
				if !errors.As(err, &e) || errors.Is(err, ErrUnsupported) {
					t.Errorf("unexpected error %v", err)
					continue
				}
				got = append(got, e.Annotation[len(Prefix):])
			}
			if diff := cmp.Diff(tc.wantErrs, got); diff != "" {
				t.Errorf("rejected (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseDefaultsCustomHTTPErrors(t *testing.T) {
	t.Parallel()
	p, errs := ParseDefaults(map[string]string{"custom-http-errors": "502,504"})
	if len(errs) != 0 || p.Upstream == nil || !slices.Equal(p.Upstream.CustomHTTPErrors, []int{502, 504}) {
		t.Fatalf("got %+v %v, want 502 and 504", p.Upstream, errs)
	}
	cfg, _ := Parse(map[string]string{Prefix + "backend-protocol": "HTTPS"}, p)
	if cfg.Proxy.Upstream.Protocol != ProtocolHTTPS || !cfg.Proxy.Upstream.Intercepts(504) {
		t.Errorf("annotation over ConfigMap: %+v, want HTTPS intercepting 504", cfg.Proxy.Upstream)
	}
	cfg, _ = Parse(map[string]string{Prefix + "custom-http-errors": "404"}, p)
	if cfg.Proxy.Upstream.Intercepts(504) || !cfg.Proxy.Upstream.Intercepts(404) {
		t.Errorf("annotation replaces the ConfigMap's list: %+v", cfg.Proxy.Upstream)
	}
	if _, errs := ParseDefaults(map[string]string{"custom-http-errors": "abc"}); len(errs) != 1 {
		t.Errorf("invalid ConfigMap value: errors %v, want 1", errs)
	}
}

// TestParseDefaultsServiceUpstream: the ConfigMap's service-upstream is the
// default of every Ingress; an Ingress's annotation overrides it either way;
// an invalid value warns and keeps false.
func TestParseDefaultsServiceUpstream(t *testing.T) {
	t.Parallel()
	p, errs := ParseDefaults(map[string]string{"service-upstream": "true"})
	if len(errs) != 0 || p.Upstream == nil || !p.Upstream.ServiceUpstream {
		t.Fatalf("got %+v %v, want ServiceUpstream", p.Upstream, errs)
	}
	if cfg, _ := Parse(nil, p); !cfg.Proxy.Upstream.ServiceUpstream {
		t.Errorf("no annotation: ServiceUpstream false, want the ConfigMap's true")
	}
	if cfg, _ := Parse(map[string]string{Prefix + "service-upstream": "false"}, p); cfg.Proxy.Upstream != nil && cfg.Proxy.Upstream.ServiceUpstream {
		t.Errorf("annotation false over ConfigMap true: ServiceUpstream true")
	}
	p, errs = ParseDefaults(map[string]string{"service-upstream": "yes"})
	if len(errs) != 1 || p.Upstream != nil && p.Upstream.ServiceUpstream {
		t.Errorf("invalid ConfigMap value: %+v, errors %v, want the default and 1 error", p.Upstream, errs)
	}
}

// TestClientBodyBufferSizeValues: the values of ingress-nginx's
// clientbodybuffersize e2e test: 1000, 1K, 1k, 1m and 1M are taken, 1b is
// refused and the default kept.
func TestClientBodyBufferSizeValues(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]int64{"1000": 1000, "1K": 1 << 10, "1k": 1 << 10, "1m": 1 << 20, "1M": 1 << 20, "1b": 0} {
		cfg, errs := parseShort(map[string]string{"client-body-buffer-size": v})
		var got int64
		if cfg.Proxy.Upstream != nil {
			got = cfg.Proxy.Upstream.ClientBodyBufferSize
		}
		if got != want || (want == 0) != (len(errs) == 1) {
			t.Errorf("client-body-buffer-size %q: %d, errors %q; want %d", v, got, errs, want)
		}
	}
}

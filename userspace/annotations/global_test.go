package annotations

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseGlobal(t *testing.T) {
	t.Parallel()
	tests := []parseGlobalCase{
		{name: "nil map: every default"},
		{
			name: "every key",
			data: map[string]string{
				"use-forwarded-headers":       "true",
				"compute-full-forwarded-for":  "True",
				"forwarded-for-header":        " x-real-client ",
				"forwarded-host-header":       "x-real-host",
				"proxy-real-ip-cidr":          "10.0.0.1/8, 2001:db8::/32,,",
				"enable-real-ip":              "1",
				"use-proxy-protocol":          "t",
				"large-client-header-buffers": " 8 16k ",
			},
			want: Global{
				UseForwardedHeaders: true, ComputeFullForwardedFor: true, ForwardedForHeader: "X-Real-Client",
				ForwardedHostHeader: "X-Real-Host", ProxyRealIPCIDR: []string{"10.0.0.0/8", "2001:db8::/32"}, EnableRealIP: true, UseProxyProtocol: true,
				HeaderBufferCount: 8, HeaderBufferSize: 16 << 10,
			},
		},
		{
			name: "defaults written out",
			data: map[string]string{"forwarded-for-header": "x-forwarded-for", "forwarded-host-header": "X-Forwarded-Host", "use-forwarded-headers": "false", "large-client-header-buffers": "4 8k"},
			want: Global{HeaderBufferCount: 4, HeaderBufferSize: 8192},
		},
		{
			name: "empty trust list trusts nobody",
			data: map[string]string{"proxy-real-ip-cidr": ""},
			want: Global{ProxyRealIPCIDR: []string{}},
		},
		{
			name: "invalid values keep defaults, an invalid trust list trusts nobody",
			data: map[string]string{
				"use-forwarded-headers":       "yes",
				"forwarded-for-header":        "X Forwarded",
				"proxy-real-ip-cidr":          "10.0.0.0/8;192.168.0.0/16",
				"large-client-header-buffers": "4",
			},
			want: Global{ProxyRealIPCIDR: []string{}},
			wantErrs: []string{
				`configmap key use-forwarded-headers: value "yes": must be "true" or "false"`,
				`configmap key forwarded-for-header: value "X Forwarded": is not a valid header or cookie name; ignored`,
				`configmap key proxy-real-ip-cidr: value "10.0.0.0/8;192.168.0.0/16": entry "10.0.0.0/8;192.168.0.0/16" is not a CIDR or an IP address; no proxy is trusted: trust fails closed`,
				`configmap key large-client-header-buffers: value "4": must be a number of buffers and a size, as "4 8k"`,
			},
		},
		{
			name: "connection limits",
			data: map[string]string{"keep-alive": "10", "keep-alive-requests": "5", "max-worker-connections": "0"},
			want: Global{KeepAlive: ptr(10), KeepAliveRequests: ptr(5), MaxWorkerConnections: ptr(0)},
		},
		{
			name: "keep-alive 0 disables keep-alive",
			data: map[string]string{"keep-alive": "0"},
			want: Global{KeepAlive: ptr(0)},
		},
		{
			name: "invalid connection limits keep their defaults",
			data: map[string]string{"keep-alive": "75s", "keep-alive-requests": "-1", "max-worker-connections": "auto"},
			wantErrs: []string{
				`configmap key keep-alive: value "75s": must be a non-negative integer`,
				`configmap key keep-alive-requests: value "-1": must be a non-negative integer`,
				`configmap key max-worker-connections: value "auto": must be a non-negative integer`,
			},
		},
		{
			name: "upstream keep-alive",
			data: map[string]string{"upstream-keepalive-connections": "0", "upstream-keepalive-timeout": "30", "upstream-keepalive-requests": "100"},
			want: Global{UpstreamKeepaliveConnections: ptr(0), UpstreamKeepaliveTimeout: 30 * time.Second, UpstreamKeepaliveRequests: ptr(100)},
		},
		{
			name: "upstream keep-alive timeout in nginx time syntax keeps the default, as ingress-nginx's integer",
			data: map[string]string{"upstream-keepalive-timeout": "2m"},
			wantErrs: []string{
				`configmap key upstream-keepalive-timeout: value "2m": must be an integer number of seconds`,
			},
		},
		{
			name: "invalid upstream keep-alive keeps the defaults",
			data: map[string]string{"upstream-keepalive-connections": "-1", "upstream-keepalive-timeout": "0", "upstream-keepalive-requests": "many"},
			wantErrs: []string{
				`configmap key upstream-keepalive-connections: value "-1": must be a non-negative integer`,
				`configmap key upstream-keepalive-timeout: value "0": must be at least 1 second`,
				`configmap key upstream-keepalive-requests: value "many": must be a non-negative integer`,
			},
		},
		{
			name: "client timeouts and disable-access-log",
			data: map[string]string{"client-header-timeout": "5", "client-body-timeout": "120", "disable-access-log": "true"},
			want: Global{ClientHeaderTimeout: 5 * time.Second, ClientBodyTimeout: 2 * time.Minute, DisableAccessLog: true},
		},
		{
			name: "disable-http-access-log and disable-stream-access-log",
			data: map[string]string{"disable-http-access-log": "true", "disable-stream-access-log": "true"},
			want: Global{DisableHTTPAccessLog: true, DisableStreamAccessLog: true},
		},
		{
			name: "invalid client timeouts keep their defaults",
			data: map[string]string{"client-header-timeout": "-1", "client-body-timeout": "soon", "disable-access-log": "yes"},
			wantErrs: []string{
				`configmap key disable-access-log: value "yes": must be "true" or "false"`,
				`configmap key client-header-timeout: value "-1": must be at least 1 second`,
				`configmap key client-body-timeout: value "soon": must be an integer number of seconds`,
			},
		},
		{
			name: "request header rules and X-Original-URI",
			data: map[string]string{"enable-underscores-in-headers": "true", "ignore-invalid-headers": "false", "proxy-add-original-uri-header": "true"},
			want: Global{EnableUnderscoresInHeaders: true, KeepInvalidHeaders: true, ProxyAddOriginalURIHeader: true},
		},
		{
			name: "request header rules written as their defaults",
			data: map[string]string{"enable-underscores-in-headers": "false", "ignore-invalid-headers": "true", "proxy-add-original-uri-header": "false"},
		},
		{
			name: "invalid request header rules keep their defaults",
			data: map[string]string{"enable-underscores-in-headers": "on", "ignore-invalid-headers": "off", "proxy-add-original-uri-header": "yes"},
			wantErrs: []string{
				`configmap key enable-underscores-in-headers: value "on": must be "true" or "false"`,
				`configmap key proxy-add-original-uri-header: value "yes": must be "true" or "false"`,
				`configmap key ignore-invalid-headers: value "off": must be "true" or "false"`,
			},
		},
		{
			name: "proxy-protocol-header-timeout",
			data: map[string]string{"proxy-protocol-header-timeout": " 500ms "},
			want: Global{ProxyProtocolHeaderTimeout: 500 * time.Millisecond},
		},
		{
			name: "proxy-protocol-header-timeout needs a unit, as Go's time.ParseDuration",
			data: map[string]string{"proxy-protocol-header-timeout": "5"},
			wantErrs: []string{
				`configmap key proxy-protocol-header-timeout: value "5": must be a positive duration with its unit, such as 5s or 500ms`,
			},
		},
		{
			name: "strict-validate-path-type",
			data: map[string]string{"strict-validate-path-type": "false"},
			want: Global{LaxPathType: true},
		},
		{
			name:     "invalid strict-validate-path-type stays strict",
			data:     map[string]string{"strict-validate-path-type": "no"},
			wantErrs: []string{`configmap key strict-validate-path-type: value "no": must be "true" or "false"`},
		},
		{
			name: "allow-cross-namespace-resources",
			data: map[string]string{"allow-cross-namespace-resources": "true"},
			want: Global{AllowCrossNamespaceResources: true},
		},
		{
			name:     "invalid allow-cross-namespace-resources keeps refusing",
			data:     map[string]string{"allow-cross-namespace-resources": "all"},
			wantErrs: []string{`configmap key allow-cross-namespace-resources: value "all": must be "true" or "false"`},
		},
		{
			name: "forwarded-for-proxy-protocol-header",
			data: map[string]string{"forwarded-for-proxy-protocol-header": " x-pp-for "},
			want: Global{ForwardedForProxyProtocolHeader: "X-Pp-For"},
		},
		{
			name:     "invalid forwarded-for-proxy-protocol-header keeps the default",
			data:     map[string]string{"forwarded-for-proxy-protocol-header": "X PP"},
			wantErrs: []string{`configmap key forwarded-for-proxy-protocol-header: value "X PP": is not a valid header or cookie name; ignored`},
		},
		{
			name: "limit-conn-zone-variable",
			data: map[string]string{"limit-conn-zone-variable": " $http_x_api_key "},
			want: Global{LimitConnZoneVariable: "$http_x_api_key"},
		},
		{
			name: "limit-conn-zone-variable written as its default",
			data: map[string]string{"limit-conn-zone-variable": "$binary_remote_addr"},
		},
		{
			name:     "limit-conn-zone-variable with a variable Weir does not compute keeps the default",
			data:     map[string]string{"limit-conn-zone-variable": "$ssl_client_s_dn"},
			wantErrs: []string{`configmap key limit-conn-zone-variable: value "$ssl_client_s_dn": variable $ssl_client_s_dn is not supported`},
		},
		{
			name:     "buffer size out of range",
			data:     map[string]string{"large-client-header-buffers": "4 0"},
			wantErrs: []string{`configmap key large-client-header-buffers: value "4 0": the buffer size must be from 1 byte to 1g, in nginx size syntax`},
		},
	}
	runParseGlobal(t, tests)
}

// parseGlobalCase is a ParseGlobal case: the ConfigMap data, the Global
// and the warnings (their text) it gives.
type parseGlobalCase struct {
	name     string
	data     map[string]string
	want     Global
	wantErrs []string
}

// runParseGlobal runs each case as a parallel subtest.
func runParseGlobal(t *testing.T, tests []parseGlobalCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g, errs := ParseGlobal(tc.data)
			if diff := cmp.Diff(tc.want, g); diff != "" {
				t.Errorf("Global (-want +got):\n%s", diff)
			}
			var got []string
			for _, err := range errs {
				got = append(got, err.Error())
			}
			if diff := cmp.Diff(tc.wantErrs, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// TestInvalidHeaderName: nginx's header name rule, a letter, a digit or
// '-', and '_' only with enable-underscores-in-headers.
func TestInvalidHeaderName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		underscores bool
		want        bool
	}{
		{"X-Forwarded-For", false, false}, {"x-0-9", false, false}, {"X_Under", false, true},
		{"X_Under", true, false}, {"X.Dot", true, true}, {"X!", false, true}, {"X~", true, true}, {"", false, false},
	} {
		if got := InvalidHeaderName(tc.name, tc.underscores); got != tc.want {
			t.Errorf("InvalidHeaderName(%q, %v) = %v, want %v", tc.name, tc.underscores, got, tc.want)
		}
	}
}

func TestGlobalEffectiveValues(t *testing.T) {
	t.Parallel()
	var zero Global
	if !zero.IsZero() || zero.RealIP() || zero.ForwardedFor() != "X-Forwarded-For" {
		t.Errorf("zero Global: IsZero %v, RealIP %v, ForwardedFor %q", zero.IsZero(), zero.RealIP(), zero.ForwardedFor())
	}
	if n, s := zero.HeaderBuffers(); n != 4 || s != 8192 {
		t.Errorf("default HeaderBuffers = %d, %d, want 4, 8192", n, s)
	}
	if diff := cmp.Diff([]string{"0.0.0.0/0"}, zero.RealIPFrom()); diff != "" {
		t.Errorf("default RealIPFrom (-want +got):\n%s", diff)
	}
	if ka, n := zero.KeepAliveSettings(); ka != 75 || n != 1000 || zero.WorkerConnections() != 16384 {
		t.Errorf("default KeepAliveSettings = %d, %d, WorkerConnections %d, want 75, 1000, 16384", ka, n, zero.WorkerConnections())
	}
	if n, d, r := zero.UpstreamKeepalive(); n != 320 || d != 60*time.Second || r != 10000 {
		t.Errorf("default UpstreamKeepalive = %d, %v, %d, want 320, 60s, 10000", n, d, r)
	}
	if n, _, r := (Global{UpstreamKeepaliveConnections: ptr(0), UpstreamKeepaliveRequests: ptr(0)}).UpstreamKeepalive(); n != 0 || r != 0 {
		t.Errorf("upstream keep-alive 0: UpstreamKeepalive = %d, _, %d, want 0 and 0", n, r)
	}
	off := Global{KeepAlive: ptr(0), MaxWorkerConnections: ptr(0)}
	if ka, _ := off.KeepAliveSettings(); ka != 0 || off.WorkerConnections() != 0 {
		t.Errorf("keep-alive 0, max-worker-connections 0: KeepAliveSettings %d, WorkerConnections %d", ka, off.WorkerConnections())
	}
	none := Global{ProxyRealIPCIDR: []string{}}
	if none.IsZero() || len(none.RealIPFrom()) != 0 {
		t.Errorf("empty trust list: IsZero %v, RealIPFrom %v", none.IsZero(), none.RealIPFrom())
	}
	for _, g := range []Global{{UseForwardedHeaders: true}, {UseProxyProtocol: true}, {EnableRealIP: true}} {
		if !g.RealIP() {
			t.Errorf("%+v: RealIP false", g)
		}
	}
	_, errs := ParseGlobal(map[string]string{"proxy-real-ip-cidr": "x"})
	if len(errs) != 1 || !errors.Is(errs[0], ErrFailsClosed) {
		t.Errorf("invalid proxy-real-ip-cidr: errors %v, want one wrapping ErrFailsClosed", errs)
	}
}

func ptr[T any](v T) *T { return &v }

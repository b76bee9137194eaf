package annotations

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseHeaders(t *testing.T) {
	t.Parallel()
	cfg, errs := parseShort(map[string]string{"custom-headers": "default/custom", "connection-proxy-header": "keep-alive", "enable-access-log": "false"})
	p := cfg.Proxy
	if len(errs) != 0 || p.CustomHeaders == nil || p.CustomHeaders.ConfigMap != "default/custom" || p.ConnectionHeader != "keep-alive" || !p.AccessLogOff {
		t.Errorf("Parse: %+v, %v", p, errs)
	}
	cfg, errs = parseShort(map[string]string{"custom-headers": "Bad/Name!", "connection-proxy-header": "a\r\nb", "enable-access-log": "no"})
	p = cfg.Proxy
	if p.CustomHeaders != nil || p.ConnectionHeader != "" || p.AccessLogOff || len(errs) != 3 {
		t.Errorf("invalid values: %+v, %v; want the defaults and three errors", p, errs)
	}

	g, gerrs := ParseGlobal(map[string]string{"add-headers": "weir/add", "proxy-set-headers": "set", "hide-headers": " Server, ,X-Powered-By ", "global-allowed-response-headers": "A,B_c, d e"})
	want := Global{AddHeaders: "weir/add", ProxySetHeaders: "set", HideHeaders: []string{"Server", "X-Powered-By"}, AllowedResponseHeaders: []string{"A", "B_c"}}
	if diff := cmp.Diff(want, g); diff != "" {
		t.Errorf("ParseGlobal (-want +got):\n%s", diff)
	}
	if len(gerrs) != 1 {
		t.Errorf("errors %v, want one of global-allowed-response-headers", gerrs)
	}
	if err := CheckHeader("X-A", "$remote_addr (ok)"); err != nil {
		t.Errorf("CheckHeader of a valid header: %v", err)
	}
	if CheckHeader("X A", "1") == nil || CheckHeader("X-A", "line\nbreak") == nil {
		t.Errorf("CheckHeader accepts a bad name or value")
	}
}

func TestParseMirror(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		ann      map[string]string
		want     *Mirror
		wantErrs int
	}{
		{name: "none", ann: map[string]string{"mirror-host": "x.test"}},
		{name: "request uri", ann: map[string]string{"mirror-target": "https://mirror.test:8443$request_uri"},
			want: &Mirror{Target: "https://mirror.test:8443", RequestURI: true, Host: "mirror.test"}},
		{name: "path, host, no body", ann: map[string]string{"mirror-target": "http://10.0.0.1:8080/copy", "mirror-host": "copy.test", "mirror-request-body": "off"},
			want: &Mirror{Target: "http://10.0.0.1:8080/copy", Host: "copy.test", NoBody: true}},
		{name: "other variable", ann: map[string]string{"mirror-target": "http://m.test$host$request_uri"}, wantErrs: 1},
		{name: "not a url", ann: map[string]string{"mirror-target": "mirror.test"}, wantErrs: 1},
		{name: "bad body value keeps it on", ann: map[string]string{"mirror-target": "http://m.test", "mirror-request-body": "no"},
			want: &Mirror{Target: "http://m.test", Host: "m.test"}, wantErrs: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, errs := parseShort(tc.ann)
			if diff := cmp.Diff(tc.want, cfg.Proxy.Mirror); diff != "" {
				t.Errorf("Mirror (-want +got):\n%s", diff)
			}
			if len(errs) != tc.wantErrs {
				t.Errorf("errors %v, want %d", errs, tc.wantErrs)
			}
		})
	}
}

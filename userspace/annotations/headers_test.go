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

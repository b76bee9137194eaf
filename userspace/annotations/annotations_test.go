package annotations

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// errStrings renders errs for comparison.
func errStrings(tb testing.TB, errs []error) []string {
	tb.Helper()
	var out []string
	for _, err := range errs {
		var e *Error
		if !errors.As(err, &e) {
			tb.Errorf("error %v is not an *Error", err)
		}
		out = append(out, err.Error())
	}
	return out
}

func withProxy(f func(*Proxy)) Proxy {
	p := DefaultProxy()
	f(&p)
	return p
}

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		ann      map[string]string
		want     Config
		wantErrs []string
	}{
		{
			name: "nil",
			want: Config{Proxy: DefaultProxy()},
		},
		{
			name: "valid proxy",
			ann: map[string]string{
				Prefix + "proxy-connect-timeout": "3",
				Prefix + "proxy-read-timeout":    "120",
				Prefix + "proxy-send-timeout":    " 30 ",
				Prefix + "proxy-body-size":       "8m",
				Prefix + "load-balance":          "round_robin",
			},
			want: Config{Proxy: Proxy{
				ConnectTimeoutSeconds: 3, ReadTimeoutSeconds: 120, SendTimeoutSeconds: 30,
				BodySizeBytes: 8 << 20, LoadBalance: "round_robin",
				NextUpstream: NextError | NextTimeout, NextUpstreamTries: 3,
			}},
		},
		{
			name: "invalid timeouts keep defaults",
			ann: map[string]string{
				Prefix + "proxy-connect-timeout": "5s",
				Prefix + "proxy-read-timeout":    "-1",
				Prefix + "proxy-send-timeout":    "abc",
			},
			want: Config{Proxy: DefaultProxy()},
			wantErrs: []string{
				`annotation nginx.ingress.kubernetes.io/proxy-connect-timeout: value "5s": must be an integer number of seconds`,
				`annotation nginx.ingress.kubernetes.io/proxy-read-timeout: value "-1": must be at least 1 second`,
				`annotation nginx.ingress.kubernetes.io/proxy-send-timeout: value "abc": must be an integer number of seconds`,
			},
		},
		{
			name: "zero and huge timeouts",
			ann: map[string]string{
				Prefix + "proxy-connect-timeout": "0",
				Prefix + "proxy-read-timeout":    "99999999999999999999",
			},
			want: Config{Proxy: DefaultProxy()},
			wantErrs: []string{
				`annotation nginx.ingress.kubernetes.io/proxy-connect-timeout: value "0": must be at least 1 second`,
				`annotation nginx.ingress.kubernetes.io/proxy-read-timeout: value "99999999999999999999": must be at most 2147483647 seconds`,
			},
		},
		{
			name: "least_conn falls back to round robin",
			ann:  map[string]string{Prefix + "load-balance": "least_conn"},
			want: Config{Proxy: DefaultProxy()},
			wantErrs: []string{
				`annotation nginx.ingress.kubernetes.io/load-balance: value "least_conn": must be "round_robin" or "ewma"`,
			},
		},
		{
			name: "ewma",
			ann:  map[string]string{Prefix + "load-balance": "ewma"},
			want: Config{Proxy: func() Proxy { p := DefaultProxy(); p.LoadBalance = EWMA; return p }()},
		},
		{
			name: "use-regex true",
			ann:  map[string]string{Prefix + "use-regex": "true"},
			want: Config{Proxy: DefaultProxy(), UseRegex: true},
		},
		{
			name: "use-regex false",
			ann:  map[string]string{Prefix + "use-regex": "false"},
			want: Config{Proxy: DefaultProxy()},
		},
		{
			name:     "use-regex invalid",
			ann:      map[string]string{Prefix + "use-regex": "yes"},
			want:     Config{Proxy: DefaultProxy()},
			wantErrs: []string{`annotation nginx.ingress.kubernetes.io/use-regex: value "yes": must be "true" or "false"`},
		},
		{
			name: "unknown, snippet, later and foreign annotations",
			ann: map[string]string{
				Prefix + "enable-owasp-core-rules": "true",
				Prefix + "configuration-snippet":   "more_set_headers x;",
				Prefix + "server-snippet":          "",
				Prefix + "ssl-redirect":            "false",
				Prefix + "force-ssl-redirect":      "true",
				Prefix + "session-cookie-hash":     "sha1",
				"kubernetes.io/ingress.class":      "weir",
				"example.com/anything":             "x",
			},
			want: Config{Proxy: DefaultProxy()},
			wantErrs: []string{
				`annotation nginx.ingress.kubernetes.io/configuration-snippet: snippet annotations are never applied`,
				`annotation nginx.ingress.kubernetes.io/enable-owasp-core-rules is not supported by Weir; ignored (Weir has no ModSecurity web application firewall)`,
				`annotation nginx.ingress.kubernetes.io/server-snippet: snippet annotations are never applied`,
				`annotation nginx.ingress.kubernetes.io/session-cookie-hash is not supported by Weir; ignored (not an annotation ingress-nginx documents)`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, errs := Parse(tc.ann, DefaultProxy())
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Parse config (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantErrs, errStrings(t, errs)); diff != "" {
				t.Errorf("Parse errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseOverridesDefaults(t *testing.T) {
	t.Parallel()
	defaults := withProxy(func(p *Proxy) { p.ReadTimeoutSeconds = 300; p.BodySizeBytes = 0 })
	got, errs := Parse(map[string]string{
		Prefix + "proxy-read-timeout": "10",
		Prefix + "proxy-send-timeout": "bad",
	}, defaults)
	want := Config{Proxy: withProxy(func(p *Proxy) { p.ReadTimeoutSeconds = 10; p.BodySizeBytes = 0 })}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
	if len(errs) != 1 {
		t.Errorf("Parse errors = %v, want one", errs)
	}
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    int64
		wantErr string
	}{
		{in: "0", want: 0},
		{in: "1024", want: 1024},
		{in: "8k", want: 8 << 10},
		{in: "8K", want: 8 << 10},
		{in: "1m", want: 1 << 20},
		{in: "100M", want: 100 << 20},
		{in: "2g", want: 2 << 30},
		{in: "2G", want: 2 << 30},
		{in: "", wantErr: "must be a size in bytes with an optional k, m or g suffix"},
		{in: "m", wantErr: "must be a size in bytes with an optional k, m or g suffix"},
		{in: "1.5m", wantErr: "must be a size in bytes with an optional k, m or g suffix"},
		{in: "1mb", wantErr: "must be a size in bytes with an optional k, m or g suffix"},
		{in: "-1", wantErr: "must be a size in bytes with an optional k, m or g suffix"},
		{in: "10t", wantErr: "must be a size in bytes with an optional k, m or g suffix"},
		{in: "99999999999g", wantErr: "is too large"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := parseSize(tc.in)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if got != tc.want || gotErr != tc.wantErr {
				t.Errorf("parseSize(%q) = %d, %q; want %d, %q", tc.in, got, gotErr, tc.want, tc.wantErr)
			}
		})
	}
}

func TestParseBodySizeAnnotation(t *testing.T) {
	t.Parallel()
	got, errs := Parse(map[string]string{Prefix + "proxy-body-size": "1.5m"}, DefaultProxy())
	if diff := cmp.Diff(Config{Proxy: DefaultProxy()}, got); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
	want := []string{`annotation nginx.ingress.kubernetes.io/proxy-body-size: value "1.5m": must be a size in bytes with an optional k, m or g suffix`}
	if diff := cmp.Diff(want, errStrings(t, errs)); diff != "" {
		t.Errorf("Parse errors (-want +got):\n%s", diff)
	}
}

// TestParseBodySizeBytesSuffix: proxy-body-size "10b" passes
// ingress-nginx's validator (parser.SizeRegex) and fails its template's
// isValidByteSize, so the location has no client_max_body_size and nginx's
// 1m applies, whatever the ConfigMap's proxy-body-size.
func TestParseBodySizeBytesSuffix(t *testing.T) {
	t.Parallel()
	def := DefaultProxy()
	def.BodySizeBytes = 8 << 20 // the ConfigMap's proxy-body-size: 8m
	for _, v := range []string{"10b", "2048B"} {
		got, errs := Parse(map[string]string{Prefix + "proxy-body-size": v}, def)
		if len(errs) > 0 || got.Proxy.BodySizeBytes != 1<<20 {
			t.Errorf("proxy-body-size %q: %d bytes (%v), want 1048576", v, got.Proxy.BodySizeBytes, errs)
		}
	}
	g, errs := ParseDefaults(map[string]string{"proxy-body-size": "10b"})
	if len(errs) > 0 || g.BodySizeBytes != 1<<20 {
		t.Errorf("configmap proxy-body-size 10b: %d bytes (%v), want 1048576", g.BodySizeBytes, errs)
	}
}

func TestParseDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		data     map[string]string
		want     Proxy
		wantErrs []string
	}{
		{name: "nil", want: DefaultProxy()},
		{
			name: "valid",
			data: map[string]string{
				"proxy-connect-timeout": "2",
				"proxy-read-timeout":    "600",
				"proxy-send-timeout":    "600",
				"proxy-body-size":       "0",
				"load-balance":          "round_robin",
				"use-forwarded-headers": "true",
				// Annotation names are not ConfigMap keys.
				Prefix + "proxy-read-timeout": "1",
			},
			want: Proxy{ConnectTimeoutSeconds: 2, ReadTimeoutSeconds: 600, SendTimeoutSeconds: 600, BodySizeBytes: 0, LoadBalance: "round_robin", NextUpstream: NextError | NextTimeout, NextUpstreamTries: 3},
		},
		{
			name: "load-balance ewma",
			data: map[string]string{"load-balance": "ewma"},
			want: func() Proxy { p := DefaultProxy(); p.LoadBalance = EWMA; return p }(),
		},
		{
			name: "invalid keeps built-in defaults",
			data: map[string]string{
				"proxy-read-timeout": "1m",
				"proxy-body-size":    "big",
				"load-balance":       "least_conn",
			},
			want: DefaultProxy(),
			wantErrs: []string{
				`configmap key proxy-read-timeout: value "1m": must be an integer number of seconds`,
				`configmap key proxy-body-size: value "big": must be a size in bytes with an optional k, m or g suffix`,
				`configmap key load-balance: value "least_conn": must be "round_robin" or "ewma"`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, errs := ParseDefaults(tc.data)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseDefaults (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantErrs, errStrings(t, errs)); diff != "" {
				t.Errorf("ParseDefaults errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestErrorWraps(t *testing.T) {
	t.Parallel()
	_, errs := Parse(map[string]string{Prefix + "x-snippet": "y", Prefix + "nope": "z"}, DefaultProxy())
	if len(errs) != 2 {
		t.Fatalf("Parse errors = %v, want 2", errs)
	}
	if !errors.Is(errs[0], ErrUnsupported) || !errors.Is(errs[1], ErrSnippet) {
		t.Errorf("errors %v do not wrap ErrUnsupported, ErrSnippet", errs)
	}
}

func TestMetaDefaultsValidate(t *testing.T) {
	t.Parallel()
	for _, table := range tables() {
		for _, m := range table {
			if err := m.Validate(m.Default); err != nil {
				t.Errorf("default %q of %s does not validate: %v", m.Default, m.Key, err)
			}
			if m.Doc == "" {
				t.Errorf("%s has no doc", m.Key)
			}
		}
	}
	// The documented defaults are the ones DefaultProxy returns.
	p, errs := ParseDefaults(map[string]string{
		"proxy-connect-timeout": proxyMeta[0].Default,
		"proxy-read-timeout":    proxyMeta[1].Default,
		"proxy-send-timeout":    proxyMeta[2].Default,
		"proxy-body-size":       proxyMeta[3].Default,
		"load-balance":          loadBalanceMeta[0].Default,
	})
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	if diff := cmp.Diff(DefaultProxy(), p); diff != "" {
		t.Errorf("documented defaults differ from DefaultProxy (-want +got):\n%s", diff)
	}
}

func TestMarkdown(t *testing.T) {
	t.Parallel()
	md := Markdown()
	lines := strings.Split(strings.TrimSpace(md), "\n")
	inv := Inventory()
	if got, want := len(lines), 2+len(inv); got != want {
		t.Errorf("Markdown() has %d lines, want %d:\n%s", got, want, md)
	}
	for i, e := range inv {
		want := fmt.Sprintf("| `%s%s` | %s |", Prefix, e.Key, e.Status)
		if 2+i < len(lines) && !strings.HasPrefix(lines[2+i], want) {
			t.Errorf("Markdown() line %d is %q, want it to start %q", 2+i, lines[2+i], want)
		}
	}
	for _, table := range tables() {
		for _, m := range table {
			if m.ConfigMapOnly && !slices.Contains(documentedAnnotations, m.Key) && strings.Contains(md, "/"+m.Key+"`") {
				t.Errorf("Markdown() lists the ConfigMap-only key %s as an annotation", m.Key)
			}
		}
	}
	cm := ConfigMapMarkdown()
	for _, table := range tables() {
		for _, m := range table {
			if m.ConfigMap && !strings.Contains(cm, "| `"+m.Key+"` | applied | "+defaultCell(Entry{Meta: &m})+" |") && !strings.Contains(cm, "| `"+m.Key+"` | partial |") {
				t.Errorf("ConfigMapMarkdown() lacks the applied row of %s", m.Key)
			}
		}
	}
}

// TestBoolSpellings: ingress-nginx reads a boolean annotation with
// strconv.ParseBool (parser.GetBoolAnnotation, parser.ValidateBool), so
// "True", "TRUE", "1", "t", "F" and "0" are booleans too; anything else
// keeps the default with a warning.
func TestBoolSpellings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value   string
		want    bool
		invalid bool
	}{
		{value: "true", want: true}, {value: "True", want: true}, {value: "TRUE", want: true},
		{value: "1", want: true}, {value: "t", want: true}, {value: "T", want: true},
		{value: "false"}, {value: "False"}, {value: "FALSE"}, {value: "0"}, {value: "f"}, {value: "F"},
		{value: "yes", invalid: true}, {value: "on", invalid: true}, {value: "tRUE", invalid: true},
	}
	for _, tc := range tests {
		cfg, errs := Parse(map[string]string{
			Prefix + "use-regex":         tc.value,
			Prefix + "ssl-passthrough":   tc.value,
			Prefix + "enable-access-log": tc.value,
		}, DefaultProxy())
		if tc.invalid {
			if len(errs) != 3 || cfg.UseRegex || cfg.SSLPassthrough || cfg.Proxy.AccessLogOff {
				t.Errorf("%q: got %+v %v %v, %v; want the defaults and 3 warnings", tc.value, cfg.UseRegex, cfg.SSLPassthrough, cfg.Proxy.AccessLogOff, errs)
			}
			continue
		}
		if len(errs) != 0 || cfg.UseRegex != tc.want || cfg.SSLPassthrough != tc.want || cfg.Proxy.AccessLogOff == tc.want {
			t.Errorf("%q: use-regex %v, ssl-passthrough %v, access log off %v, warnings %v; want %v", tc.value, cfg.UseRegex, cfg.SSLPassthrough, cfg.Proxy.AccessLogOff, errs, tc.want)
		}
	}
}

// TestTimeoutSyntax follows ingress-nginx's two readers of the proxy
// timeouts: an annotation through strconv.Atoi (a sign, decimal digits),
// the ConfigMap through mapstructure's weak typing (strconv.ParseInt,
// base 0: Go's prefixes, octal for a leading 0, underscores). A value
// either refuses keeps the ConfigMap's value (annotation) or the default
// (ConfigMap), with a warning; so does zero, which nginx would time out at
// once.
func TestTimeoutSyntax(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value          string
		annotation, cm int // 0: refused
	}{
		{value: "7", annotation: 7, cm: 7},
		{value: "+7", annotation: 7, cm: 7},
		{value: "010", annotation: 10, cm: 8},
		{value: "0x1e", cm: 30},
		{value: "0o17", cm: 15},
		{value: "0b11", cm: 3},
		{value: "1_0", cm: 10},
		{value: "50k"},
		{value: "5s"},
		{value: "0"},
		{value: "-1"},
		{value: "0x0"},
	}
	const fromConfigMap = 42
	for _, tc := range tests {
		t.Run(tc.value, func(t *testing.T) {
			t.Parallel()
			def := DefaultProxy()
			def.ReadTimeoutSeconds = fromConfigMap
			got, errs := Parse(map[string]string{Prefix + "proxy-read-timeout": tc.value}, def)
			want := tc.annotation
			if want == 0 {
				want = fromConfigMap
			}
			if got.Proxy.ReadTimeoutSeconds != want || (len(errs) > 0) != (tc.annotation == 0) {
				t.Errorf("annotation %q: %d s (%v), want %d s, refused %v", tc.value, got.Proxy.ReadTimeoutSeconds, errs, want, tc.annotation == 0)
			}
			p, errs := ParseDefaults(map[string]string{"proxy-read-timeout": tc.value, "proxy-send-timeout": "9"})
			want = tc.cm
			if want == 0 {
				want = DefaultProxy().ReadTimeoutSeconds
			}
			if p.ReadTimeoutSeconds != want || p.SendTimeoutSeconds != 9 || (len(errs) > 0) != (tc.cm == 0) {
				t.Errorf("configmap %q: read %d s, send %d s (%v), want read %d s, send 9 s, refused %v", tc.value, p.ReadTimeoutSeconds, p.SendTimeoutSeconds, errs, want, tc.cm == 0)
			}
			m := metaFor("proxy-read-timeout", true)
			if err := m.ValidateIn(tc.value, true); (err != nil) != (tc.cm == 0) {
				t.Errorf("configmap %q: validation %v, want refused %v", tc.value, err, tc.cm == 0)
			}
			if err := m.ValidateIn(tc.value, false); (err != nil) != (tc.annotation == 0) {
				t.Errorf("annotation %q: validation %v, want refused %v", tc.value, err, tc.annotation == 0)
			}
		})
	}
}

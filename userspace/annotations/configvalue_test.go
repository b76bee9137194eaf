package annotations

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// cmParsed is everything the controller ConfigMap sets, as Weir reads it.
type cmParsed struct {
	Global Global
	Proxy  Proxy
	SSL    SSL
	HSTS   HSTS
}

// parseConfigMap reads data as Weir reads the controller ConfigMap, with
// every parser of its keys.
func parseConfigMap(data map[string]string) (cmParsed, []error) {
	var p cmParsed
	var errs, e []error
	p.Global, e = ParseGlobal(data)
	errs = append(errs, e...)
	p.Proxy, e = ParseDefaults(data)
	errs = append(errs, e...)
	p.SSL, p.HSTS, e = ParseTLSDefaults(data)
	return p, append(errs, e...)
}

// intForm is a way to write an integer in the ConfigMap and what
// ingress-nginx's ReadConfig reads from it for a key decoded by
// mapstructure v1.5.0 (WeaklyTypedInput: strconv.ParseInt base 0, "" is
// 0) and for a key it reads by hand (strconv.Atoi). ok false: it fails
// to decode, and ingress-nginx keeps the key's default while the other
// keys apply. Checked against mapstructure v1.5.0 itself: "+5" 5, "0x10"
// 16, "010" 8, "1_0" 10, "" 0, "-1" -1; " 5", "5 ", "5s" failed.
type intForm struct {
	text       string
	value      int64
	ok, atoiOK bool
	atoiValue  int64
}

// intForms writes n in the forms of the brief (n of two digits or more
// gets the underscore form).
func intForms(n int64) []intForm {
	forms := []intForm{
		{text: fmt.Sprintf("+%d", n), value: n, ok: true, atoiOK: true, atoiValue: n},
		{text: fmt.Sprintf("0x%x", n), value: n, ok: true},
		{text: fmt.Sprintf("0%o", n), value: n, ok: true, atoiOK: true, atoiValue: mustAtoi(fmt.Sprintf("%o", n))},
		{text: fmt.Sprintf(" %d", n)},
		{text: fmt.Sprintf("%d ", n)},
		{text: fmt.Sprintf("%ds", n)},
		{text: "", value: 0, ok: true},
		{text: "-1", value: -1, ok: true, atoiOK: true, atoiValue: -1},
		{text: "yes"},
	}
	if s := strconv.FormatInt(n, 10); len(s) > 1 {
		forms = append(forms, intForm{text: s[:1] + "_" + s[1:], value: n, ok: true})
	}
	return forms
}

func mustAtoi(s string) int64 {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return int64(n)
}

// TestConfigMapIntegerForms checks every integer key Weir applies from the
// controller ConfigMap against ingress-nginx's reading of each form: a
// value ingress-nginx reads and Weir's range accepts applies as its
// decimal would; one ingress-nginx fails to decode, or nginx would refuse
// (outside Weir's range), keeps the default with one InvalidConfigMapValue
// warning naming the key; another key of the same ConfigMap applies all
// the same.
func TestConfigMapIntegerForms(t *testing.T) {
	t.Parallel()
	for _, k := range []struct {
		key    string
		n      int64 // a value the forms write
		lo, hi int64 // what Weir applies
		atoi   bool  // read by hand with strconv.Atoi, not mapstructure
	}{
		{key: "keep-alive", n: 10, hi: maxSeconds},
		{key: "keep-alive-requests", n: 16, hi: maxSeconds},
		{key: "max-worker-connections", n: 100, hi: maxSeconds},
		{key: "upstream-keepalive-connections", n: 10, hi: maxSeconds},
		{key: "upstream-keepalive-requests", n: 10, hi: maxSeconds},
		{key: "upstream-keepalive-timeout", n: 30, lo: 1, hi: maxSeconds},
		{key: "client-header-timeout", n: 30, lo: 1, hi: maxSeconds},
		{key: "client-body-timeout", n: 30, lo: 1, hi: maxSeconds},
		{key: "limit-conn-status-code", n: 429, lo: 400, hi: 599},
		{key: "limit-req-status-code", n: 429, lo: 400, hi: 599},
		{key: "gzip-level", n: 9, lo: 1, hi: 9},
		{key: "brotli-level", n: 10, lo: 0, hi: 11},
		{key: "gzip-min-length", n: 100, hi: maxSeconds},
		{key: "brotli-min-length", n: 100, hi: maxSeconds},
		{key: "proxy-stream-next-upstream-tries", n: 10, hi: maxSeconds},
		{key: "proxy-connect-timeout", n: 30, lo: 1, hi: maxSeconds},
		{key: "proxy-read-timeout", n: 30, lo: 1, hi: maxSeconds},
		{key: "proxy-send-timeout", n: 30, lo: 1, hi: maxSeconds},
		{key: "proxy-next-upstream-tries", n: 10, hi: maxSeconds},
		{key: "proxy-next-upstream-timeout", n: 10, hi: maxSeconds},
		{key: "limit-rate", n: 100, hi: maxSeconds},
		{key: "limit-rate-after", n: 100, hi: maxSeconds},
		{key: "http-redirect-code", n: 307, lo: 301, hi: 308, atoi: true},
		{key: "proxy-stream-responses", n: 10, hi: maxSeconds, atoi: true},
	} {
		for _, f := range intForms(k.n) {
			value, ok := f.value, f.ok
			if k.atoi {
				value, ok = f.atoiValue, f.atoiOK
			}
			if k.key == "http-redirect-code" && value != 301 && value != 302 && value != 307 && value != 308 {
				ok = false
			}
			applies := ok && value >= k.lo && value <= k.hi
			t.Run(fmt.Sprintf("%s=%q", k.key, f.text), func(t *testing.T) {
				t.Parallel()
				checkConfigMapForm(t, k.key, f.text, applies, strconv.FormatInt(value, 10))
			})
		}
	}
}

// TestConfigMapBooleanForms checks every boolean key Weir applies from
// the controller ConfigMap against ingress-nginx's reading
// (mapstructure's strconv.ParseBool, "" is false): the true and false
// spellings apply, "yes", "on" and spaces keep the default with a
// warning, the other keys still applying.
func TestConfigMapBooleanForms(t *testing.T) {
	t.Parallel()
	forms := []struct {
		text    string
		applies bool
		value   bool
	}{
		{"true", true, true}, {"True", true, true}, {"TRUE", true, true}, {"1", true, true}, {"t", true, true}, {"T", true, true},
		{"false", true, false}, {"False", true, false}, {"FALSE", true, false}, {"0", true, false}, {"f", true, false}, {"F", true, false},
		{"", true, false},
		{"yes", false, false}, {"on", false, false}, {" true", false, false}, {"false ", false, false}, {"tRUE", false, false},
	}
	for _, key := range []string{
		"use-forwarded-headers", "compute-full-forwarded-for", "enable-real-ip", "use-proxy-protocol", "server-tokens",
		"allow-backend-server-header", "disable-access-log", "disable-http-access-log", "disable-stream-access-log",
		"enable-underscores-in-headers", "ignore-invalid-headers", "proxy-add-original-uri-header",
		"strict-validate-path-type", "allow-cross-namespace-resources", "proxy-ssl-location-only",
		"use-gzip", "enable-brotli", "ssl-session-tickets", "ssl-reject-handshake", "use-http2",
		"log-format-escape-json", "log-format-escape-none", "generate-request-id",
		"enable-access-log-for-default-backend", "proxy-stream-next-upstream",
		"ssl-session-cache", "retry-non-idempotent", "preserve-trailing-slash", "use-port-in-redirects", "relative-redirects",
		"disable-proxy-intercept-errors", "service-upstream",
		"hsts", "hsts-include-subdomains", "hsts-preload", "ssl-redirect", "force-ssl-redirect",
	} {
		for _, f := range forms {
			t.Run(fmt.Sprintf("%s=%q", key, f.text), func(t *testing.T) {
				t.Parallel()
				checkConfigMapForm(t, key, f.text, f.applies, strconv.FormatBool(f.value))
			})
		}
	}
}

// checkConfigMapForm reads a ConfigMap with key set to text and another
// key set, and checks that key reads as canonical (applies) or keeps its
// default with one warning naming it (not applies), and that the other
// key applied either way.
func checkConfigMapForm(t testing.TB, key, text string, applies bool, canonical string) {
	t.Helper()
	other, otherValue := "keep-alive-requests", "7"
	if key == other {
		other = "keep-alive"
	}
	got, errs := parseConfigMap(map[string]string{key: text, other: otherValue})
	want, wantErrs := parseConfigMap(map[string]string{other: otherValue})
	switch {
	case applies:
		want, wantErrs = parseConfigMap(map[string]string{key: canonical, other: otherValue})
		if len(wantErrs) > 0 {
			t.Fatalf("the canonical value %q of %s is refused: %v", canonical, key, wantErrs)
		}
	case slices.Contains(tlsSettingsKeys, key):
		// Any TLS key present, Global.TLS holds the defaults in full.
		want.Global.TLS = DefaultTLSSettings()
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s: %q read (-want +got):\n%s", key, text, diff)
	}
	var named []string
	for _, err := range errs {
		if e, ok := err.(*Error); ok && e.Annotation == key && e.ConfigMap {
			named = append(named, e.Error())
		} else {
			t.Errorf("unexpected warning: %v", err)
		}
	}
	if wantWarn := !applies; (len(named) == 1) != wantWarn || len(named) > 1 {
		t.Errorf("%s: %q warnings %q, want one: %v", key, text, named, wantWarn)
	}
	applied := got.Global.KeepAliveRequests
	if other == "keep-alive" {
		applied = got.Global.KeepAlive
	}
	if applied == nil || *applied != 7 {
		t.Errorf("%s: %q: the other key %s did not apply", key, text, other)
	}
}

// TestConfigMapGlobalAuthAlwaysSetCookie: ReadConfig reads
// global-auth-always-set-cookie by hand with strconv.ParseBool, so unlike
// the mapstructure booleans "" is an error there too; an error is false
// with a warning.
func TestConfigMapGlobalAuthAlwaysSetCookie(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		v          string
		want, warn bool
	}{{"T", true, false}, {"1", true, false}, {"False", false, false}, {"", false, true}, {" true", false, true}, {"yes", false, true}} {
		p, errs := ParseDefaults(map[string]string{"global-auth-url": "http://auth.test/", "global-auth-always-set-cookie": tc.v})
		if p.Auth == nil || p.Auth.External == nil {
			t.Fatalf("%q: no global auth: %v", tc.v, errs)
		}
		if got := p.Auth.External.AlwaysSetCookie; got != tc.want || (len(errs) == 1) != tc.warn || len(errs) > 1 {
			t.Errorf("global-auth-always-set-cookie %q: %v, warnings %v; want %v, a warning %v", tc.v, got, errs, tc.want, tc.warn)
		}
	}
}

// TestNginxTime checks the keys ingress-nginx declares as strings and
// writes unquoted into an nginx time directive (worker-shutdown-timeout,
// upstream-keepalive-time, proxy-stream-timeout,
// proxy-stream-next-upstream-timeout: milliseconds; ssl-session-timeout:
// seconds) against nginx 1.22.1: `nginx -t` with
// "worker_shutdown_timeout X ;" took "010", "5", "5s", "1d", "500ms",
// "1h30m", "1m30", "1s500ms", "1w1d", " 5" and refused ("invalid value")
// "+5", "0x10", "1_0", "-1", "1.5s", "5us", "30m1h", "1h1h", "1y", "1M",
// "s", "1S", and "1h 30m" and "" ("invalid number of arguments"). "0" it
// took; Weir refuses it (a positive time).
func TestNginxTime(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		v    string
		msec time.Duration // 0: refused
		sec  time.Duration // for ssl_session_timeout; 0: refused
	}{
		{"010", 10 * time.Second, 10 * time.Second},
		{"5", 5 * time.Second, 5 * time.Second},
		{" 5", 5 * time.Second, 5 * time.Second},
		{"5s", 5 * time.Second, 5 * time.Second},
		{"1d", 24 * time.Hour, 24 * time.Hour},
		{"500ms", 500 * time.Millisecond, 0},
		{"1h30m", 90 * time.Minute, 90 * time.Minute},
		{"1m30", 90 * time.Second, 90 * time.Second},
		{"1s500ms", 1500 * time.Millisecond, 0},
		{"1w1d", 8 * 24 * time.Hour, 8 * 24 * time.Hour},
		{"1y", 0, 365 * 24 * time.Hour},
		{"1M", 0, 30 * 24 * time.Hour},
		{"+5", 0, 0}, {"0x10", 0, 0}, {"1_0", 0, 0}, {"-1", 0, 0}, {"1.5s", 0, 0}, {"5us", 0, 0},
		{"30m1h", 0, 0}, {"1h1h", 0, 0}, {"s", 0, 0}, {"1S", 0, 0}, {"1h 30m", 0, 0}, {"", 0, 0}, {"0", 0, 0},
		{"99999999999s", 0, 0},
	} {
		for _, c := range []struct {
			name  string
			parse func(string) (time.Duration, error)
			want  time.Duration
		}{{"msec", parseNginxTime, tc.msec}, {"sec", parseNginxSeconds, tc.sec}} {
			got, err := c.parse(tc.v)
			if got != c.want || (err != nil) != (c.want == 0) {
				t.Errorf("%s %q: %v, %v; want %v", c.name, tc.v, got, err, c.want)
			}
		}
	}
}

package annotations

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseCORS(t *testing.T) {
	t.Parallel()
	def := func(mod func(*CORS)) *CORS {
		c := &CORS{AllowOrigin: []string{"*"}, AllowMethods: DefaultCORSAllowMethods, AllowHeaders: DefaultCORSAllowHeaders, AllowCredentials: true, MaxAge: 1728000}
		if mod != nil {
			mod(c)
		}
		return c
	}
	tests := []struct {
		name     string
		ann      map[string]string
		want     *CORS
		wantErrs []string
	}{
		{name: "off", ann: map[string]string{"cors-allow-origin": "https://a.test"}},
		{name: "defaults", ann: map[string]string{"enable-cors": "true"}, want: def(nil)},
		{
			name: "all set",
			ann: map[string]string{"enable-cors": "true", "cors-allow-origin": "https://a.test, https://*.b.test:8443", "cors-allow-methods": "GET, POST",
				"cors-allow-headers": "X-A,X-B", "cors-expose-headers": "X-Total, *", "cors-allow-credentials": "false", "cors-max-age": "60"},
			want: &CORS{AllowOrigin: []string{"https://a.test", "https://*.b.test:8443"}, AllowMethods: "GET, POST", AllowHeaders: "X-A,X-B", ExposeHeaders: "X-Total, *", MaxAge: 60},
		},
		{
			name: "blank values are the defaults",
			ann:  map[string]string{"enable-cors": "true", "cors-allow-origin": "    ", "cors-allow-headers": " ", "cors-allow-methods": ""},
			want: def(nil),
		},
		{
			name:     "trailing comma, an entry without scheme skipped",
			ann:      map[string]string{"enable-cors": "true", "cors-allow-origin": "origin.cors.com:8080, https://origin-123.cors.com:8080,   ,https://*.b.test,"},
			want:     def(func(c *CORS) { c.AllowOrigin = []string{"https://origin-123.cors.com:8080", "https://*.b.test"} }),
			wantErrs: []string{`annotation nginx.ingress.kubernetes.io/cors-allow-origin: value "origin.cors.com:8080, https://origin-123.cors.com:8080,   ,https://*.b.test,": invalid origins ["origin.cors.com:8080"] skipped`},
		},
		{name: "star wins", ann: map[string]string{"enable-cors": "true", "cors-allow-origin": "https://a.test, *"}, want: def(nil)},
		{
			name:     "invalid origins skipped, none left matches nobody",
			ann:      map[string]string{"enable-cors": "true", "cors-allow-origin": "a.test/$x"},
			want:     def(func(c *CORS) { c.AllowOrigin = []string{} }),
			wantErrs: []string{`annotation nginx.ingress.kubernetes.io/cors-allow-origin: value "a.test/$x": invalid origins ["a.test/$x"] skipped`},
		},
		{
			name: "invalid values are the defaults",
			ann:  map[string]string{"enable-cors": "true", "cors-allow-methods": "GET;", "cors-allow-headers": "X-A:1", "cors-max-age": " 60"},
			want: def(nil),
			wantErrs: []string{
				`annotation nginx.ingress.kubernetes.io/cors-allow-headers: value "X-A:1": must be a comma-separated list of header names`,
				`annotation nginx.ingress.kubernetes.io/cors-allow-methods: value "GET;": must be a comma-separated list of methods`,
				`annotation nginx.ingress.kubernetes.io/cors-max-age: value " 60": must be an integer`,
			},
		},
		{
			// ingress-nginx's strconv.Atoi: a sign is allowed, and "-1"
			// is sent as written (read off its rendering side by side).
			name: "signed max-age",
			ann:  map[string]string{"enable-cors": "true", "cors-max-age": "-1"},
			want: def(func(c *CORS) { c.MaxAge = -1 }),
		},
		{
			// ingress-nginx trims the values (normalizeString) and refuses
			// a line break (MaliciousRegex), which the methods' and
			// exposed headers' \s would take into the header.
			name: "values trimmed, line breaks refused",
			ann: map[string]string{"enable-cors": "true", "cors-allow-methods": " GET, POST\t", "cors-allow-headers": " X-A, X-B ",
				"cors-expose-headers": "X-A,\r\nX-B"},
			want:     def(func(c *CORS) { c.AllowMethods, c.AllowHeaders = "GET, POST", "X-A, X-B" }),
			wantErrs: []string{"annotation nginx.ingress.kubernetes.io/cors-expose-headers: value \"X-A,\\r\\nX-B\": must be a comma-separated list of header names or \"*\""},
		},
		{name: "plus max-age", ann: map[string]string{"enable-cors": "true", "cors-max-age": "+7"}, want: def(func(c *CORS) { c.MaxAge = 7 })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, got := parseShort(tc.ann)
			if diff := cmp.Diff(tc.want, cfg.Proxy.CORS); diff != "" {
				t.Errorf("CORS (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantErrs, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

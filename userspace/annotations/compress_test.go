package annotations

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestParseCompress: the compression keys and server-tokens of the
// controller ConfigMap; a rejected value keeps its default with an
// InvalidConfigMapValue error naming the key.
func TestParseCompress(t *testing.T) {
	t.Parallel()
	zero, nine, hundred := 0, 9, 100
	for _, tc := range []struct {
		name     string
		data     map[string]string
		want     Global
		wantErrs []string
	}{
		{name: "nothing"},
		{
			name: "every key",
			data: map[string]string{
				"use-gzip": "true", "gzip-level": "9", "gzip-min-length": "100", "gzip-types": " Application/Octet-Stream  text/css ",
				"gzip-disable": "msie6", "enable-brotli": "true", "brotli-level": "0", "brotli-min-length": "0", "brotli-types": "*",
				"server-tokens": "true",
			},
			want: Global{ServerTokens: true, Compress: Compress{
				Gzip: true, GzipLevel: 9, GzipMinLength: &hundred, GzipTypes: []string{"application/octet-stream", "text/css"},
				GzipDisable: "msie6", Brotli: true, BrotliLevel: &zero, BrotliMinLength: &zero, BrotliTypes: []string{"*"},
			}},
		},
		{
			name: "regular expression",
			data: map[string]string{"gzip-disable": `^Mozilla/4\.0`, "brotli-level": "9"},
			want: Global{Compress: Compress{GzipDisable: `^Mozilla/4\.0`, BrotliLevel: &nine}},
		},
		{
			name: "invalid values keep the defaults",
			data: map[string]string{
				"use-gzip": "yes", "gzip-level": "0", "brotli-level": "12", "gzip-min-length": "-1",
				"gzip-types": "text", "gzip-disable": "(", "server-tokens": "on",
			},
			wantErrs: []string{"brotli-level", "gzip-disable", "gzip-level", "gzip-min-length", "gzip-types", "server-tokens", "use-gzip"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, errs := ParseGlobal(tc.data)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseGlobal (-want +got):\n%s", diff)
			}
			var keys []string
			for _, err := range errs {
				e, ok := err.(*Error)
				if !ok || !e.ConfigMap {
					t.Errorf("error %v is not a ConfigMap *Error", err)
					continue
				}
				keys = append(keys, e.Annotation)
			}
			slices.Sort(keys)
			if diff := cmp.Diff(tc.wantErrs, keys); diff != "" {
				t.Errorf("rejected keys (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCompressDefaults: the effective settings of the zero Compress are
// ingress-nginx's.
func TestCompressDefaults(t *testing.T) {
	t.Parallel()
	level, minLength, types := Compress{}.GzipSettings()
	if level != 1 || minLength != 256 || strings.Join(types, " ") != DefaultGzipTypes {
		t.Errorf("gzip defaults %d, %d, %q", level, minLength, types)
	}
	level, minLength, types = Compress{}.BrotliSettings()
	if level != 4 || minLength != 20 || strings.Join(types, " ") != DefaultBrotliTypes {
		t.Errorf("brotli defaults %d, %d, %q", level, minLength, types)
	}
}

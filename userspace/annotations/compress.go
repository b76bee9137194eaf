package annotations

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Compress is the controller ConfigMap's response compression: use-gzip,
// gzip-level, gzip-min-length, gzip-types, gzip-disable, enable-brotli,
// brotli-level, brotli-min-length and brotli-types, as ingress-nginx's
// http-level gzip and brotli blocks. The zero value compresses nothing.
type Compress struct {
	// Gzip is use-gzip: gzip the eligible responses of clients that accept
	// it. Default false.
	Gzip bool `json:"gzip,omitempty"`
	// GzipLevel is gzip-level, 1 to 9. 0 means the default, 1.
	GzipLevel int `json:"gzipLevel,omitempty"`
	// GzipMinLength is gzip-min-length: a response whose Content-Length is
	// below it is not gzipped. Nil means the default, 256.
	GzipMinLength *int `json:"gzipMinLength,omitempty"`
	// GzipTypes is gzip-types, lower-case media types without parameters;
	// "*" matches any. text/html is always compressed. Nil means
	// ingress-nginx's default list (DefaultGzipTypes).
	GzipTypes []string `json:"gzipTypes,omitempty"`
	// GzipDisable is gzip-disable: "msie6", or a case-insensitive regular
	// expression; a request whose User-Agent matches gets no gzip. ""
	// disables nothing.
	GzipDisable string `json:"gzipDisable,omitempty"`
	// Brotli is enable-brotli: brotli-compress the eligible responses of
	// clients that accept "br", in preference to gzip. Default false.
	Brotli bool `json:"brotli,omitempty"`
	// BrotliLevel is brotli-level, 0 to 11. Nil means the default, 4.
	BrotliLevel *int `json:"brotliLevel,omitempty"`
	// BrotliMinLength is brotli-min-length. Nil means the default, 20.
	BrotliMinLength *int `json:"brotliMinLength,omitempty"`
	// BrotliTypes is brotli-types, read as GzipTypes. Nil means
	// ingress-nginx's default list (DefaultBrotliTypes).
	BrotliTypes []string `json:"brotliTypes,omitempty"`
}

// Defaults of the compression settings, as ingress-nginx's ConfigMap.
const (
	DefaultGzipLevel       = 1
	DefaultGzipMinLength   = 256
	DefaultBrotliLevel     = 4
	DefaultBrotliMinLength = 20
	// DefaultGzipTypes is gzip-types' default.
	DefaultGzipTypes = "application/atom+xml application/javascript application/x-javascript application/json application/rss+xml application/vnd.ms-fontobject application/x-font-ttf application/x-web-app-manifest+json application/xhtml+xml application/xml font/opentype image/svg+xml image/x-icon text/css text/javascript text/plain text/x-component"
	// DefaultBrotliTypes is brotli-types' default.
	DefaultBrotliTypes = "application/xml+rss " + DefaultGzipTypes
)

// GzipSettings returns gzip-level, gzip-min-length and gzip-types with
// their defaults.
func (c Compress) GzipSettings() (level, minLength int, types []string) {
	level = c.GzipLevel
	if level == 0 {
		level = DefaultGzipLevel
	}
	types = c.GzipTypes
	if types == nil {
		types, _ = parseMediaTypes(DefaultGzipTypes)
	}
	return level, valueOr(c.GzipMinLength, DefaultGzipMinLength), types
}

// BrotliSettings returns brotli-level, brotli-min-length and brotli-types
// with their defaults.
func (c Compress) BrotliSettings() (level, minLength int, types []string) {
	types = c.BrotliTypes
	if types == nil {
		types, _ = parseMediaTypes(DefaultBrotliTypes)
	}
	return valueOr(c.BrotliLevel, DefaultBrotliLevel), valueOr(c.BrotliMinLength, DefaultBrotliMinLength), types
}

var compressMeta = []Meta{
	{
		Key: "use-gzip", Default: "false", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "`\"true\"` gzips responses as nginx's `gzip on` with ingress-nginx's settings (`gzip_proxied any`, `gzip_vary on`, `gzip_http_version 1.1`): only status 200, 403 and 404 (a `HEAD` response gets the compressed header, as with nginx), not already encoded, of a type in `gzip-types` (or `text/html`), at least `gzip-min-length` long when the length is known, to HTTP/1.1 clients whose `Accept-Encoding` accepts `gzip` as nginx reads it (see [Compression](#compression-and-the-server-header)). The response is streamed (chunked), loses `Content-Length` and `Accept-Ranges`, and a strong `ETag` becomes weak; `Vary: Accept-Encoding` is added to every eligible response, before the upstream's `Vary` lines.",
		Validate: validateConfigBool,
	},
	{
		Key: "gzip-level", Default: "1", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "gzip compression level, 1 (fastest) to 9.",
		Validate: func(v string) error { _, err := parseLevel(v, 1, 9); return err },
	},
	{
		Key: "gzip-min-length", Default: "256", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "A response with a smaller `Content-Length` is not gzipped; one of unknown length is.",
		Validate: validateConfigCount,
	},
	{
		Key: "gzip-types", Default: DefaultGzipTypes, ConfigMap: true, ConfigMapOnly: true,
		Doc:      "Space-separated media types gzipped, compared as nginx does with all of the response's `Content-Type` before its first `;`, ignoring case but not trimmed (`text/html ;charset=utf-8` is of no type listed); `*` is any type. `text/html` always is.",
		Validate: func(v string) error { _, err := parseMediaTypes(v); return err },
	},
	{
		Key: "gzip-disable", Default: "", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "Requests whose `User-Agent` matches get no gzip: `msie6` is nginx's MSIE 4 to 6 test, anything else one case-insensitive regular expression (RE2). An invalid expression is ignored with a warning.",
		Validate: func(v string) error { _, err := parseGzipDisable(v); return err },
	},
	{
		Key: "enable-brotli", Default: "false", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "`\"true\"` brotli-compresses the responses `use-gzip` would gzip (with `brotli-types` and `brotli-min-length`) for clients whose `Accept-Encoding` names `br`, in preference to gzip. As ngx_brotli, it adds `Vary: Accept-Encoding` only with `use-gzip` (`gzip_vary on`).",
		Validate: validateConfigBool,
	},
	{
		Key: "brotli-level", Default: "4", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "Brotli compression level, 0 to 11.",
		Validate: func(v string) error { _, err := parseLevel(v, 0, 11); return err },
	},
	{
		Key: "brotli-min-length", Default: "20", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "A response with a smaller `Content-Length` is not brotli-compressed.",
		Validate: validateConfigCount,
	},
	{
		Key: "brotli-types", Default: DefaultBrotliTypes, ConfigMap: true, ConfigMapOnly: true,
		Doc:      "Media types brotli-compressed, read as `gzip-types`.",
		Validate: func(v string) error { _, err := parseMediaTypes(v); return err },
	},
}

// parseCompress reads the compression keys of data into c.
func parseCompress(data map[string]string, c *Compress, wrap func(key, value string, err error)) {
	boolKey := func(key string, dst *bool) {
		globalKey(data, key, configBool, wrap, func(b bool) { *dst = b })
	}
	countKey := func(key string, dst **int) {
		globalKey(data, key, configCount, wrap, func(n int) { *dst = &n })
	}
	typesKey := func(key string, dst *[]string) {
		globalKey(data, key, parseMediaTypes, wrap, func(t []string) { *dst = t })
	}
	boolKey("use-gzip", &c.Gzip)
	boolKey("enable-brotli", &c.Brotli)
	globalKey(data, "gzip-level", func(v string) (int, error) { return parseLevel(v, 1, 9) }, wrap, func(n int) { c.GzipLevel = n })
	globalKey(data, "brotli-level", func(v string) (int, error) { return parseLevel(v, 0, 11) }, wrap, func(n int) { c.BrotliLevel = &n })
	countKey("gzip-min-length", &c.GzipMinLength)
	countKey("brotli-min-length", &c.BrotliMinLength)
	typesKey("gzip-types", &c.GzipTypes)
	typesKey("brotli-types", &c.BrotliTypes)
	globalKey(data, "gzip-disable", parseGzipDisable, wrap, func(s string) { c.GzipDisable = s })
}

// parseLevel parses a compression level from lo to hi.
func parseLevel(v string, lo, hi int64) (int, error) {
	return configRange(configInt, v, lo, hi, fmt.Sprintf("an integer from %d to %d", lo, hi))
}

// parseMediaTypes splits a space-separated list of media types (nginx's
// gzip_types), lower-cased; "*" stands for any and is returned alone.
func parseMediaTypes(v string) ([]string, error) {
	types := []string{}
	for _, t := range strings.Fields(strings.ToLower(v)) {
		if t == "*" {
			return []string{"*"}, nil
		}
		if i := strings.IndexByte(t, '/'); i <= 0 || i == len(t)-1 || strings.ContainsAny(t, ";,\"") {
			return nil, fmt.Errorf("%q is not a media type", t)
		}
		types = append(types, t)
	}
	return types, nil
}

// parseGzipDisable accepts "msie6" or a regular expression (RE2), as
// ingress-nginx's quoted gzip_disable value: one pattern.
func parseGzipDisable(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" || v == "msie6" {
		return v, nil
	}
	if _, err := regexp.Compile("(?i)" + v); err != nil {
		return "", errors.New("must be msie6 or a regular expression (RE2)")
	}
	return v, nil
}

package annotations

import (
	"errors"
	"fmt"
)

// SSLCipher is the typed configuration of the ssl-ciphers family of one
// Ingress: the TLS 1.2 cipher suites of its hosts' handshakes, as
// ingress-nginx's server-level ssl_ciphers. The first Ingress of a host
// (oldest first) that sets a value configures the host.
type SSLCipher struct {
	// Ciphers are the suites of ssl-ciphers, parsed as the ConfigMap's key
	// is. Nil means the ConfigMap's (the default).
	Ciphers []uint16 `json:"ciphers,omitempty"`
	// PreferServerCiphers is ssl-prefer-server-ciphers: "on", "off", or ""
	// when not set (the default). Go always chooses the suite by its own
	// preference order, so the value is recorded but changes nothing.
	PreferServerCiphers string `json:"preferServerCiphers,omitempty"`
}

// sslCipherMeta is the metadata table of the ssl-ciphers family; the
// ssl-ciphers row, shared with the ConfigMap key, is in tlsMeta.
var sslCipherMeta = []Meta{
	{
		Key:      "ssl-prefer-server-ciphers",
		Doc:      "`\"true\"` or `\"false\"`: nginx's `ssl_prefer_server_ciphers` for the Ingress's hosts. Accepted and validated, but Go always picks the TLS 1.2 suite by its own order of the enabled ones (server preference, adjusted for AES hardware support), whatever the value.",
		Validate: validateOptionalBool,
	},
}

// validateOptionalBool accepts "" (not set), "true" and "false".
func validateOptionalBool(v string) error {
	if v == "" {
		return nil
	}
	_, err := parseBool(v)
	return err
}

// parseSSLCipher reads the ssl-ciphers family into dst. A cipher list of
// which nothing usable remains keeps the ConfigMap's suites.
func parseSSLCipher(get lookup, dst *SSLCipher, wrap func(key, value string, err error) error) []error {
	var errs []error
	if v, ok := get("ssl-prefer-server-ciphers"); ok && v != "" {
		switch b, err := parseBool(v); {
		case err != nil:
			errs = append(errs, wrap("ssl-prefer-server-ciphers", v, err))
		case b:
			dst.PreferServerCiphers = "on"
		default:
			dst.PreferServerCiphers = "off"
		}
	}
	if v, ok := get("ssl-ciphers"); ok {
		warn := func(err error) { errs = append(errs, wrap("ssl-ciphers", v, err)) }
		cs, err := parseCiphers(v, warn)
		switch {
		case errors.Is(err, ErrNothingUsable):
			warn(fmt.Errorf("no cipher suite Go supports; the configmap's ssl-ciphers are used"))
		case err != nil:
			warn(err)
		default:
			dst.Ciphers = cs
		}
	}
	return errs
}

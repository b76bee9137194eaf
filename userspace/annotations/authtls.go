package annotations

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// AuthTLS is the typed configuration of the auth-tls family: client
// certificate verification for the hosts of an Ingress, as ingress-nginx's
// ssl_verify_client at the server level. Build resolves Secret to the CA
// bundle; the first Ingress of a host (oldest first) that sets a usable one
// configures the host.
//
// Access control fails closed: a value that ingress-nginx rejects with a
// denied location (the secret's name, the error page, pass-certificate)
// sets Invalid, and the hosts of the Ingress answer 403 to every request.
type AuthTLS struct {
	// Secret is auth-tls-secret as "namespace/name" (an empty namespace
	// written as "/name" means the Ingress's). Required.
	Secret string `json:"secret"`
	// VerifyClient is auth-tls-verify-client: "on", "off", "optional" or
	// "optional_no_ca". Default "on".
	VerifyClient string `json:"verifyClient"`
	// VerifyDepth is auth-tls-verify-depth: how many intermediate CA
	// certificates may stand between the client certificate and a CA of
	// the Secret (OpenSSL's verify depth). Default 1.
	VerifyDepth int `json:"verifyDepth"`
	// ErrorPage is auth-tls-error-page: where a request whose certificate
	// is missing or fails verification is redirected (302) instead of
	// getting 400. Empty means none. Default "".
	ErrorPage string `json:"errorPage,omitempty"`
	// PassCertificate is auth-tls-pass-certificate-to-upstream: send the
	// client certificate, URL-escaped PEM, in the ssl-client-cert header.
	// Default false.
	PassCertificate bool `json:"passCertificate,omitempty"`
	// MatchCN is auth-tls-match-cn: a regular expression, starting with
	// "CN=", that the client certificate's subject DN (RFC 2253, as nginx's
	// $ssl_client_s_dn) must match, else 403. Empty means any. Default "".
	MatchCN string `json:"matchCN,omitempty"`
	// Invalid, when not empty, is why the family's configuration was
	// rejected: the Ingress's hosts deny every request (403). Default "".
	Invalid string `json:"invalid,omitempty"`
}

// Values of auth-tls-verify-client.
const (
	VerifyOn           = "on"
	VerifyOff          = "off"
	VerifyOptional     = "optional"
	VerifyOptionalNoCA = "optional_no_ca"
)

// errorPageRegex is ingress-nginx's validation of auth-tls-error-page: a
// named location, or an optional scheme, host and port followed by a path.
var errorPageRegex = regexp.MustCompile(`^(@[A-Za-z0-9_-]+|((https?://)?[A-Za-z0-9\-.]+(:\d+)?)?(/[A-Za-z0-9\-_.]+)*/?)$`)

// authTLSMeta is the metadata table of the auth-tls family.
var authTLSMeta = []Meta{
	{
		Key:      "auth-tls-secret",
		Doc:      "`namespace/name` of the Secret (any type) whose `ca.crt` holds the CA certificates that client certificates of the Ingress's hosts are verified against, with an optional `ca.crl`; the first Ingress of a host (oldest first) that sets it configures the host. Fails closed: an invalid name, another namespace, a missing Secret, a Secret without a usable `ca.crt` (ingress-nginx then verifies nothing) or an unparsable `ca.crl` makes the host answer 403, with an InvalidAnnotation warning.",
		Validate: validateAuthTLSSecret,
	},
	{
		Key: "auth-tls-verify-client", Default: VerifyOn,
		Doc:      "`on` answers 400 (nginx's \"No required SSL certificate was sent\" or \"The SSL certificate error\" page) to a request without a valid client certificate; `optional` only to an invalid one; `optional_no_ca` passes both when the certificate's chain reaches none of the CAs (any other failure, such as expired or revoked, gets 400) and tells the upstream in `ssl-client-verify`; `off` requests none. An invalid value means `on`, with a warning.",
		Validate: func(v string) error { _, err := parseVerifyClient(v); return err },
	},
	{
		Key: "auth-tls-verify-depth", Default: "1",
		Doc:      "How many intermediate CA certificates may stand between a client certificate and a CA of the Secret (nginx's `ssl_verify_depth`). An invalid value means 1, with a warning.",
		Validate: func(v string) error { _, err := parseVerifyDepth(v); return err },
	},
	{
		Key:      "auth-tls-error-page",
		Doc:      "URL that a request without a valid client certificate is redirected to (302) instead of getting 400. A value ingress-nginx rejects denies the host (403, fails closed).",
		Validate: validateErrorPage,
	},
	{
		Key: "auth-tls-pass-certificate-to-upstream", Default: "false",
		Doc:      "`\"true\"` sends the client certificate, URL-escaped PEM (nginx's `$ssl_client_escaped_cert`), in the `ssl-client-cert` header; `ssl-client-verify`, `ssl-client-subject-dn` and `ssl-client-issuer-dn` are always sent, and what the client sent under these four names never is. An invalid value denies the host (403, fails closed).",
		Validate: func(v string) error { _, err := parseBool(v); return err },
	},
	{
		Key:      "auth-tls-match-cn",
		Doc:      "Regular expression starting with `CN=` that the client certificate's subject DN (RFC 2253, e.g. `CN=client,O=Example`) must match, unanchored as nginx's `$ssl_client_s_dn !~`; otherwise 403. An invalid value denies the host (403, fails closed).",
		Validate: validateMatchCN,
	},
}

// validateAuthTLSSecret accepts "" (not set), "namespace/name" and "/name"
// of ingress-nginx's basic characters.
func validateAuthTLSSecret(v string) error {
	if v == "" {
		return nil // not set
	}
	_, _, err := SplitAuthTLSSecret(v)
	return err
}

// SplitAuthTLSSecret splits auth-tls-secret into its namespace (empty: the
// Ingress's) and name, as ingress-nginx's ParseNameNS: exactly one "/".
func SplitAuthTLSSecret(v string) (namespace, name string, err error) {
	ns, n, ok := strings.Cut(v, "/")
	if !ok || strings.Contains(n, "/") {
		return "", "", errors.New("must be namespace/name")
	}
	if n == "" {
		return "", "", errors.New("names no secret")
	}
	for _, part := range []string{ns, n} {
		if strings.Trim(part, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") != "" {
			return "", "", errors.New("must be a namespace and a name of letters, digits, '-', '.' and '_'")
		}
	}
	return ns, n, nil
}

func parseVerifyClient(v string) (string, error) {
	switch v {
	case VerifyOn, VerifyOff, VerifyOptional, VerifyOptionalNoCA:
		return v, nil
	}
	return "", errors.New(`must be "on", "off", "optional" or "optional_no_ca"`)
}

// parseVerifyDepth accepts a non-negative integer; 0 means the default 1,
// as in ingress-nginx.
func parseVerifyDepth(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 100 {
		return 0, errors.New("must be an integer from 0 to 100")
	}
	if n == 0 {
		n = 1
	}
	return n, nil
}

func validateErrorPage(v string) error {
	if v == "" {
		return nil // none
	}
	if !errorPageRegex.MatchString(v) || strings.HasPrefix(v, "@") {
		return errors.New("must be a URL or a path")
	}
	return nil
}

func validateMatchCN(v string) error {
	if v == "" {
		return nil // any
	}
	if !strings.HasPrefix(v, "CN=") {
		return errors.New(`must start with "CN="`)
	}
	if _, err := regexp.Compile(v); err != nil {
		return fmt.Errorf("is not a valid regular expression: %w", err)
	}
	return nil
}

// ErrAuthDenied marks an auth-tls value whose rejection denies the hosts of
// the Ingress (403). It wraps ErrFailsClosed.
var ErrAuthDenied = fmt.Errorf("the hosts of the ingress deny every request (403): client certificate verification %w", ErrFailsClosed)

// parseAuthTLS reads the auth-tls family into *dst: nil when
// auth-tls-secret is not set. Every key is validated whether or not the
// secret is set.
func parseAuthTLS(get lookup, dst **AuthTLS, wrap func(key, value string, err error) error) []error {
	a := AuthTLS{VerifyClient: VerifyOn, VerifyDepth: 1}
	var errs []error
	deny := func(key, v string, err error) {
		e := wrap(key, v, fmt.Errorf("%w; %w", err, ErrAuthDenied))
		errs = append(errs, e)
		if a.Invalid == "" {
			a.Invalid = e.Error()
		}
	}
	if v, ok := get("auth-tls-verify-client"); ok {
		if mode, err := parseVerifyClient(v); err != nil {
			errs = append(errs, wrap("auth-tls-verify-client", v, fmt.Errorf("%w; %q is used", err, VerifyOn)))
		} else {
			a.VerifyClient = mode
		}
	}
	if v, ok := get("auth-tls-verify-depth"); ok {
		if n, err := parseVerifyDepth(v); err != nil {
			errs = append(errs, wrap("auth-tls-verify-depth", v, fmt.Errorf("%w; 1 is used", err)))
		} else {
			a.VerifyDepth = n
		}
	}
	if v, ok := get("auth-tls-error-page"); ok {
		if err := validateErrorPage(v); err != nil {
			deny("auth-tls-error-page", v, err)
		} else {
			a.ErrorPage = v
		}
	}
	if v, ok := get("auth-tls-pass-certificate-to-upstream"); ok {
		if b, err := parseBool(v); err != nil {
			deny("auth-tls-pass-certificate-to-upstream", v, err)
		} else {
			a.PassCertificate = b
		}
	}
	if v, ok := get("auth-tls-match-cn"); ok {
		if err := validateMatchCN(v); err != nil {
			deny("auth-tls-match-cn", v, err)
		} else {
			a.MatchCN = v
		}
	}
	v, ok := get("auth-tls-secret")
	if !ok || v == "" {
		return errs // as ingress-nginx, an empty value is no value
	}
	if err := validateAuthTLSSecret(v); err != nil {
		deny("auth-tls-secret", v, err)
	}
	a.Secret = v
	*dst = &a
	return errs
}

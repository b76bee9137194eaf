package annotations

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
)

// tlsSessionMeta is the metadata table of the TLS session keys,
// ssl-reject-handshake, use-http2 and no-tls-redirect-locations; they exist only as
// controller ConfigMap keys.
var tlsSessionMeta = []Meta{
	{
		Key: "ssl-session-tickets", Default: "false", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "`\"true\"` issues TLS session tickets (TLS 1.2 tickets, TLS 1.3 PSK identities) and resumes the sessions of valid ones; `\"false\"` issues no TLS 1.2 ticket, and TLS 1.3 sessions still resume (unless `ssl-session-cache` is `\"false\"`), as nginx's TLS 1.3 sessions resume from its session cache; Go has no session-ID cache, so TLS 1.2 sessions do not resume then. The ticket keys rotate every hour, the previous key still accepted, and are shared by every worker, unless `ssl-session-ticket-key` fixes one.",
		Validate: validateConfigBool,
	},
	{
		Key: "ssl-session-ticket-key", Default: "", ConfigMap: true, ConfigMapOnly: true,
		Doc: "Base64 of nginx's `ssl_session_ticket_key` file, 48 or 80 bytes (as ingress-nginx documents it): with `ssl-session-tickets`, the single ticket key of every worker, never rotated, so that replicas with the same ConfigMap resume each other's sessions. Go's ticket format differs from nginx's: Weir derives its 32-byte key from the file with SHA-256, so tickets nginx issued are not resumed by Weir. Empty: keys rotate every hour.",
		Validate: func(v string) error {
			if strings.TrimSpace(v) == "" {
				return nil
			}
			_, err := parseTicketKey(v)
			return err
		},
	},
	{
		Key: "ssl-session-timeout", Default: "10m", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "How long a session may be resumed from its ticket's issue (nginx time syntax: `10m`, `1h`, `600`); an older ticket gets a full handshake. Go resumes nothing older than 7 days, whatever the value, and advertises a 7-day ticket lifetime hint.",
		Validate: func(v string) error { _, err := parseNginxSeconds(v); return err },
	},
	{
		Key: "ssl-session-cache", Default: "true", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "`\"false\"`: with `ssl-session-tickets` `\"false\"` no session resumes, as nginx without a cache; with tickets, they resume for nginx's default 5m whatever `ssl-session-timeout` says, as ingress-nginx then writes no `ssl_session_timeout`. `\"true\"`: TLS 1.3 sessions resume (see `ssl-session-tickets`) within `ssl-session-timeout`.",
		Validate: validateConfigBool,
	},
	{
		Key: "ssl-reject-handshake", Default: "false", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "`\"true\"` fails a TLS handshake whose SNI names no host (nor alias, nor `from-to-www-redirect` name) of the Ingresses, or that has no SNI, with the `unrecognized_name` alert, as nginx's default server with `ssl_reject_handshake on`; `\"false\"` serves it the default certificate. Rules without a host do not make a name known.",
		Validate: validateConfigBool,
	},
	{
		Key: "use-http2", Default: "true", ConfigMap: true, ConfigMapOnly: true,
		Doc:      "`\"false\"` serves no HTTP/2 to clients, as ingress-nginx then writes no `http2` on its listeners: TLS handshakes offer no `h2` by ALPN (`http/1.1`, `http/1.0`, `http/0.9`), and the HTTP port reads the h2c preface as an HTTP/1 request (400). A change applies to new connections; established ones keep their protocol. Also decides `auth-keepalive`, applied only with `\"false\"`.",
		Validate: validateConfigBool,
	},
	{
		Key: "no-tls-redirect-locations", Default: DefaultNoTLSRedirectLocations, ConfigMap: true, ConfigMapOnly: true,
		Doc:      "Comma-separated path prefixes: a rule whose path starts with one is never redirected to HTTPS by `ssl-redirect` or `force-ssl-redirect`, as ingress-nginx's (the path of nginx's location for the rule, not the request's: cert-manager's HTTP-01 solver Ingress has the challenge's path; a Prefix rule `/a` is the locations `= /a` and `/a/`, so `/a/` lifts the redirect of `/a/` and below, not of `/a`).",
		Validate: func(string) error { return nil },
	},
}

// DefaultNoTLSRedirectLocations is no-tls-redirect-locations' default: ACME
// HTTP-01 challenges are answered over plain HTTP.
const DefaultNoTLSRedirectLocations = "/.well-known/acme-challenge"

// NoTLSRedirect reports whether a rule path is never redirected to HTTPS:
// it starts with an entry of no-tls-redirect-locations (the default when
// unset), as ingress-nginx's isLocationInLocationList.
func (g Global) NoTLSRedirect(path string) bool {
	return InLocations(path, g.NoTLSRedirectLocations, DefaultNoTLSRedirectLocations)
}

// parseTicketKey decodes ssl-session-ticket-key (standard base64 of 48 or
// 80 bytes, as ingress-nginx checks it) into the 32-byte key Weir uses: the
// SHA-256 of the decoded bytes.
func parseTicketKey(v string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
	if err != nil {
		return nil, errors.New("must be standard base64")
	}
	if len(raw) != 48 && len(raw) != 80 {
		return nil, fmt.Errorf("must decode to 48 or 80 bytes, not %d", len(raw))
	}
	sum := sha256.Sum256(raw)
	return sum[:], nil
}

// parseTLSSession reads the session keys, ssl-reject-handshake and
// use-http2 into s;
// a rejected value keeps its default and is given to wrap.
func parseTLSSession(data map[string]string, s *TLSSettings, wrap func(key, value string, err error)) {
	boolKey := func(key string, dst *bool) {
		globalKey(data, key, configBool, wrap, func(b bool) { *dst = b })
	}
	boolKey("ssl-session-tickets", &s.SessionTickets)
	boolKey("ssl-reject-handshake", &s.RejectHandshake)
	globalKey(data, "use-http2", configBool, wrap, func(b bool) { s.HTTP2Off = !b })
	if v, ok := data["ssl-session-ticket-key"]; ok && strings.TrimSpace(v) != "" {
		k, err := parseTicketKey(v)
		if err != nil {
			wrap("ssl-session-ticket-key", v, fmt.Errorf("%w; the keys rotate", err))
		} else {
			s.SessionTicketKey = k
		}
	}
	globalKey(data, "ssl-session-timeout", parseNginxSeconds, wrap, func(d time.Duration) { s.SessionTimeout = d })
	// ingress-nginx writes ssl_session_timeout only with the session
	// cache: without it nginx's own default applies.
	cache := true
	boolKey("ssl-session-cache", &cache)
	if !cache {
		s.SessionTimeout = nginxSessionTimeout
		s.SessionCacheOff = true
	}
}

// nginxSessionTimeout is nginx's default ssl_session_timeout, which
// ingress-nginx leaves in place with ssl-session-cache "false".
const nginxSessionTimeout = 5 * time.Minute

// unappliedTLSKeys maps the TLS ConfigMap keys Weir cannot apply to the
// reason and what Weir does instead.
var unappliedTLSKeys = map[string]string{
	"ssl-session-cache-size": "Go's crypto/tls server has no session-ID cache to size (see ssl-session-cache); tickets keep the session state in the client",
	"ssl-dh-param":           "Go's crypto/tls has no DHE cipher suites, so there are no DH parameters to set; Weir's key exchange is ECDHE (ssl-ecdh-curve), as ingress-nginx's default ssl-ciphers prefer",
	"enable-ocsp": "Weir staples no OCSP response: ingress-nginx fetches them from the certificate authority's responder at run time, and Weir makes no outbound request from the edge " +
		"(clients check revocation themselves; Let's Encrypt, the usual Ingress CA, ended OCSP in 2025)",
	"ssl-early-data": "Go's crypto/tls server accepts no TLS 1.3 early data (0-RTT): a client's early data is refused and sent again after the handshake, as with ingress-nginx's default `\"false\"`",
}

package annotations

import (
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// TLSSettings are the protocol versions, TLS 1.2 cipher suites and key
// exchange groups of every TLS handshake Weir serves, read from the
// controller ConfigMap's ssl-protocols, ssl-ciphers and ssl-ecdh-curve (in
// nginx syntax, as ingress-nginx passes them to nginx). The zero value is
// not useful; start from DefaultTLSSettings.
type TLSSettings struct {
	// MinVersion and MaxVersion bound the protocol versions (ssl-protocols,
	// the lowest and the highest listed). Default TLS 1.2 and TLS 1.3.
	MinVersion uint16 `json:"minVersion"`
	MaxVersion uint16 `json:"maxVersion"`
	// CipherSuites are the TLS 1.2 (and older) suites offered (ssl-ciphers).
	// Go picks among them in its own order, and TLS 1.3 suites cannot be
	// chosen: Go always enables TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384
	// and TLS_CHACHA20_POLY1305_SHA256. Default: ingress-nginx's list without
	// its two DHE suites (Go has no DHE): the ECDHE-ECDSA and ECDHE-RSA
	// suites with AES-128-GCM, AES-256-GCM and CHACHA20-POLY1305.
	CipherSuites []uint16 `json:"cipherSuites"`
	// CurvePreferences are the key exchange groups (ssl-ecdh-curve). Nil
	// ("auto", the default) means Go's defaults: X25519MLKEM768,
	// SecP256r1MLKEM768, SecP384r1MLKEM1024, X25519, P-256, P-384, P-521 as of
	// Go 1.26.
	CurvePreferences []tls.CurveID `json:"curvePreferences,omitempty"`
	// SessionTickets is ssl-session-tickets: handshakes issue session
	// tickets (TLS 1.2 tickets, TLS 1.3 PSK identities) and resume the
	// sessions of valid ones. Default false, as ingress-nginx: no TLS 1.2
	// ticket is issued; TLS 1.3 sessions still resume from tickets unless
	// SessionCacheOff, as nginx's TLS 1.3 sessions resume from its
	// ssl_session_cache (OpenSSL's stateful tickets). Go's server has no
	// session-ID cache, so a TLS 1.2 session resumes only with tickets.
	SessionTickets bool `json:"sessionTickets,omitempty"`
	// SessionCacheOff is ssl-session-cache "false": without tickets, no
	// session resumes at all, as nginx without a session cache. Default
	// false (the cache on).
	SessionCacheOff bool `json:"sessionCacheOff,omitempty"`
	// SessionTicketKey is ssl-session-ticket-key: the 32-byte ticket key
	// Weir derives (SHA-256) from the key file's 48 or 80 bytes, used
	// alone and never rotated, so every worker and every replica with the
	// same ConfigMap resumes the others' sessions. Nil (the default) means
	// the rotating keys of certs.TicketKeys.
	SessionTicketKey []byte `json:"sessionTicketKey,omitempty"`
	// SessionTimeout is ssl-session-timeout: a ticket older than it is not
	// resumed (a full handshake follows). 0 means the default, 10m; Go
	// never resumes a ticket older than 7 days whatever it is.
	SessionTimeout time.Duration `json:"sessionTimeout,omitempty"`
	// RejectHandshake is ssl-reject-handshake: a handshake whose SNI names
	// no host of the Ingresses (or that has no SNI) fails with the
	// unrecognized_name alert, as nginx's default server with
	// ssl_reject_handshake on. Default false: it gets the default
	// certificate.
	RejectHandshake bool `json:"rejectHandshake,omitempty"`
	// HTTP2Off is use-http2 "false": no listener serves HTTP/2, as
	// ingress-nginx then writes no "http2" on its listeners (nginx 1.22's
	// "listen ... ssl http2", 1.25's "http2 on"): a TLS handshake offers
	// only "http/1.1" by ALPN, and the clear-text listener reads the h2c
	// preface as an HTTP/1 request line (400). Default false: HTTP/2 over
	// TLS (ALPN "h2") and with prior knowledge in clear text. Connections
	// keep what they started with.
	HTTP2Off bool `json:"http2Off,omitempty"`
}

// Defaults of the TLS settings, as written in the ConfigMap.
const (
	DefaultSSLProtocols = "TLSv1.2 TLSv1.3"
	DefaultSSLCiphers   = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
	DefaultSSLECDHCurve = "auto"
	// DefaultSSLSessionTimeout is ssl-session-timeout's default.
	DefaultSSLSessionTimeout = 10 * time.Minute
)

// Timeout returns SessionTimeout, DefaultSSLSessionTimeout when 0.
func (s TLSSettings) Timeout() time.Duration {
	if s.SessionTimeout == 0 {
		return DefaultSSLSessionTimeout
	}
	return s.SessionTimeout
}

// DefaultTLSSettings returns the defaults documented on TLSSettings.
func DefaultTLSSettings() TLSSettings {
	return TLSSettings{
		MinVersion: tls.VersionTLS12,
		MaxVersion: tls.VersionTLS13,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
}

// ErrNothingUsable marks a TLS setting none of whose names Go supports: the
// default of the setting is kept. The other errors of ParseTLSSettings are
// warnings about single names that were left out.
var ErrNothingUsable = errors.New("nothing usable remains; the default is kept")

// tlsMeta is the metadata table of the TLS settings; they exist only as
// controller ConfigMap keys.
var tlsMeta = append([]Meta{
	{
		Key: "ssl-protocols", Default: DefaultSSLProtocols, ConfigMap: true, ConfigMapOnly: true,
		Doc:      "Space-separated TLS versions (`TLSv1`, `TLSv1.1`, `TLSv1.2`, `TLSv1.3`); Weir serves every version from the lowest to the highest listed.",
		Validate: func(v string) error { _, err := parseProtocols(v, nil); return err },
	},
	{
		Key: "ssl-ciphers", Default: DefaultSSLCiphers, ConfigMap: true,
		Doc:      "OpenSSL cipher string of the TLS 1.2 cipher suites, rules separated by `:`, expanded as nginx's `ssl_ciphers` with OpenSSL 3 expands it for the suites Go has: names, aliases (`ALL`, `HIGH`, `ECDHE`, `aRSA`, `AESGCM`, `SHA256`, ...) and their `+` combinations (`ECDHE+AESGCM`) add suites, `-rule` and `!rule` remove them; rules that select nothing Go has (DHE, CAMELLIA, `MEDIUM`) are left out with a warning, `+rule` and `@STRENGTH` change nothing. TLS 1.3 suites are not configurable. As an annotation, the suites of the Ingress's hosts (the first Ingress of a host that sets it, oldest first); a value of which nothing usable remains keeps the ConfigMap's, with a warning.",
		Validate: func(v string) error { _, err := parseCiphers(v, nil); return err },
	},
	{
		Key: "ssl-ecdh-curve", Default: DefaultSSLECDHCurve, ConfigMap: true, ConfigMapOnly: true,
		Doc:      "Key exchange groups separated by `:` (`X25519`, `prime256v1`, `secp384r1`, `secp521r1`, `X25519MLKEM768`, ...), or `auto` for Go's defaults.",
		Validate: func(v string) error { _, err := parseCurves(v, nil); return err },
	},
}, tlsSessionMeta...)

// tlsSettingsKeys are the ConfigMap keys ParseTLSSettings reads.
var tlsSettingsKeys = []string{"ssl-protocols", "ssl-ciphers", "ssl-ecdh-curve", "ssl-session-tickets",
	"ssl-session-ticket-key", "ssl-session-timeout", "ssl-session-cache", "ssl-reject-handshake", "use-http2"}

// ParseTLSSettings reads ssl-protocols, ssl-ciphers, ssl-ecdh-curve and
// the session keys (tlssession.go) from the data of the controller
// ConfigMap over DefaultTLSSettings. A nil map yields the defaults. Every
// name left out is returned as an *Error with ConfigMap set; a key of which
// nothing usable remains keeps its default and its *Error wraps
// ErrNothingUsable.
func ParseTLSSettings(data map[string]string) (TLSSettings, []error) {
	s := DefaultTLSSettings()
	var errs []error
	parseTLSSession(data, &s, func(key, value string, err error) {
		errs = append(errs, &Error{Annotation: key, Value: value, ConfigMap: true, Err: err})
	})
	for _, key := range []string{"ssl-protocols", "ssl-ciphers", "ssl-ecdh-curve"} {
		v, ok := data[key]
		if !ok {
			continue
		}
		warn := func(err error) { errs = append(errs, &Error{Annotation: key, Value: v, ConfigMap: true, Err: err}) }
		var err error
		switch key {
		case "ssl-protocols":
			var vs [2]uint16
			if vs, err = parseProtocols(v, warn); err == nil {
				s.MinVersion, s.MaxVersion = vs[0], vs[1]
			}
		case "ssl-ciphers":
			var cs []uint16
			if cs, err = parseCiphers(v, warn); err == nil {
				s.CipherSuites = cs
			}
		case "ssl-ecdh-curve":
			var cs []tls.CurveID
			if cs, err = parseCurves(v, warn); err == nil {
				s.CurvePreferences = cs
			}
		}
		if err != nil {
			warn(err)
		}
	}
	return s, errs
}

// protocols maps nginx's ssl_protocols names (compared case-insensitively)
// to Go's versions; 0 is a protocol Go does not implement.
var protocols = map[string]uint16{
	"sslv2": 0, "sslv3": 0,
	"tlsv1": tls.VersionTLS10, "tlsv1.1": tls.VersionTLS11, "tlsv1.2": tls.VersionTLS12, "tlsv1.3": tls.VersionTLS13,
}

// parseProtocols returns the lowest and highest versions of a
// space-separated list. Names left out are passed to warn, if not nil.
func parseProtocols(v string, warn func(error)) ([2]uint16, error) {
	var out [2]uint16
	var listed []uint16
	for _, name := range strings.Fields(v) {
		ver, known := protocols[strings.ToLower(name)]
		switch {
		case !known:
			warnf(warn, "unknown protocol %q; ignored", name)
		case ver == 0:
			warnf(warn, "protocol %s is not supported by Go; ignored", name)
		default:
			listed = append(listed, ver)
		}
	}
	if len(listed) == 0 {
		return out, fmt.Errorf("no TLS version Go supports: %w", ErrNothingUsable)
	}
	out = [2]uint16{slices.Min(listed), slices.Max(listed)}
	for ver := out[0] + 1; ver < out[1]; ver++ {
		if !slices.Contains(listed, ver) {
			warnf(warn, "%s is not listed but enabled: Go serves every version from %s to %s",
				tls.VersionName(ver), tls.VersionName(out[0]), tls.VersionName(out[1]))
		}
	}
	return out, nil
}

// cipherBits describe a TLS 1.2 (and older) suite as OpenSSL's cipher
// aliases see it: its key exchange, authentication, cipher, MAC and the
// oldest protocol that has it, one bit each.
type cipherBits uint32

const (
	kRSA cipherBits = 1 << iota
	kECDHE
	aRSA
	aECDSA
	encAES128
	encAES256
	encAES128GCM
	encAES256GCM
	encCHACHA20
	encLegacy // RC4 and 3DES: no alias selects them (this OpenSSL 3 build offers neither), only their names
	macSHA1
	macSHA256
	macAEAD
	minSSLv3
	minTLSv1
	minTLSv12

	// everySuite is an alias of every suite aliases select (ALL, DEFAULT,
	// HIGH), as OpenSSL 3 expands them for the suites Go has.
	everySuite cipherBits = 1 << 31
)

// cipherCategories are the groups of cipherBits: an alias selects a suite
// when, in every group where the alias has bits, the suite has one of them
// (OpenSSL's ssl_cipher_apply_rule).
var cipherCategories = []cipherBits{
	kRSA | kECDHE,
	aRSA | aECDSA,
	encAES128 | encAES256 | encAES128GCM | encAES256GCM | encCHACHA20 | encLegacy,
	macSHA1 | macSHA256 | macAEAD,
	minSSLv3 | minTLSv1 | minTLSv12,
}

// cipherSuite is one TLS 1.2 (and older) suite Go implements, by its
// OpenSSL name.
type cipherSuite struct {
	name string
	id   uint16
	bits cipherBits
}

// cipherSuites are the suites Go implements, in the order a rule adds
// them.
var cipherSuites = []cipherSuite{
	{"ECDHE-ECDSA-AES128-GCM-SHA256", tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, kECDHE | aECDSA | encAES128GCM | macAEAD | minTLSv12},
	{"ECDHE-RSA-AES128-GCM-SHA256", tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, kECDHE | aRSA | encAES128GCM | macAEAD | minTLSv12},
	{"ECDHE-ECDSA-AES256-GCM-SHA384", tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, kECDHE | aECDSA | encAES256GCM | macAEAD | minTLSv12},
	{"ECDHE-RSA-AES256-GCM-SHA384", tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, kECDHE | aRSA | encAES256GCM | macAEAD | minTLSv12},
	{"ECDHE-ECDSA-CHACHA20-POLY1305", tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, kECDHE | aECDSA | encCHACHA20 | macAEAD | minTLSv12},
	{"ECDHE-RSA-CHACHA20-POLY1305", tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, kECDHE | aRSA | encCHACHA20 | macAEAD | minTLSv12},
	{"ECDHE-ECDSA-AES128-SHA", tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, kECDHE | aECDSA | encAES128 | macSHA1 | minTLSv1},
	{"ECDHE-RSA-AES128-SHA", tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, kECDHE | aRSA | encAES128 | macSHA1 | minTLSv1},
	{"ECDHE-ECDSA-AES256-SHA", tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, kECDHE | aECDSA | encAES256 | macSHA1 | minTLSv1},
	{"ECDHE-RSA-AES256-SHA", tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, kECDHE | aRSA | encAES256 | macSHA1 | minTLSv1},
	{"ECDHE-ECDSA-AES128-SHA256", tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, kECDHE | aECDSA | encAES128 | macSHA256 | minTLSv12},
	{"ECDHE-RSA-AES128-SHA256", tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, kECDHE | aRSA | encAES128 | macSHA256 | minTLSv12},
	{"AES128-GCM-SHA256", tls.TLS_RSA_WITH_AES_128_GCM_SHA256, kRSA | aRSA | encAES128GCM | macAEAD | minTLSv12},
	{"AES256-GCM-SHA384", tls.TLS_RSA_WITH_AES_256_GCM_SHA384, kRSA | aRSA | encAES256GCM | macAEAD | minTLSv12},
	{"AES128-SHA", tls.TLS_RSA_WITH_AES_128_CBC_SHA, kRSA | aRSA | encAES128 | macSHA1 | minSSLv3},
	{"AES256-SHA", tls.TLS_RSA_WITH_AES_256_CBC_SHA, kRSA | aRSA | encAES256 | macSHA1 | minSSLv3},
	{"AES128-SHA256", tls.TLS_RSA_WITH_AES_128_CBC_SHA256, kRSA | aRSA | encAES128 | macSHA256 | minTLSv12},
	{"ECDHE-RSA-DES-CBC3-SHA", tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, kECDHE | aRSA | encLegacy | macSHA1 | minSSLv3},
	{"ECDHE-ECDSA-RC4-SHA", tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA, kECDHE | aECDSA | encLegacy | macSHA1 | minSSLv3},
	{"ECDHE-RSA-RC4-SHA", tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA, kECDHE | aRSA | encLegacy | macSHA1 | minSSLv3},
	{"DES-CBC3-SHA", tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA, kRSA | aRSA | encLegacy | macSHA1 | minSSLv3},
	{"RC4-SHA", tls.TLS_RSA_WITH_RC4_128_SHA, kRSA | aRSA | encLegacy | macSHA1 | minSSLv3},
}

// cipherAliases are OpenSSL 3's cipher-string aliases, as nginx's
// ssl_ciphers expands them, for the suites Go has; 0 is an alias that
// selects none of them (DHE, CAMELLIA, MEDIUM, ...).
var cipherAliases = map[string]cipherBits{
	"ALL": everySuite, "DEFAULT": everySuite, "HIGH": everySuite,
	"FIPS": encAES128 | encAES256 | encAES128GCM | encAES256GCM,
	"kRSA": kRSA, "RSA": kRSA,
	"kECDHE": kECDHE, "kEECDH": kECDHE, "ECDHE": kECDHE, "EECDH": kECDHE, "ECDH": kECDHE,
	"aRSA": aRSA, "aECDSA": aECDSA, "ECDSA": aECDSA,
	"AES":    encAES128 | encAES256 | encAES128GCM | encAES256GCM,
	"AES128": encAES128 | encAES128GCM, "AES256": encAES256 | encAES256GCM, "AESGCM": encAES128GCM | encAES256GCM,
	"CHACHA20": encCHACHA20,
	"SHA1":     macSHA1, "SHA": macSHA1, "SHA256": macSHA256,
	"SSLv3": minSSLv3, "TLSv1": minTLSv1, "TLSv1.0": minTLSv1, "TLSv1.2": minTLSv12,

	"COMPLEMENTOFALL": 0, "COMPLEMENTOFDEFAULT": 0, "eNULL": 0, "NULL": 0, "aNULL": 0, "MEDIUM": 0, "LOW": 0,
	"EXP": 0, "EXPORT": 0, "EXPORT40": 0, "EXPORT56": 0, "SSLv2": 0, "TLSv1.1": 0, "3DES": 0, "DES": 0, "RC4": 0,
	"RC2": 0, "IDEA": 0, "SEED": 0, "MD5": 0, "SHA384": 0, "CAMELLIA": 0, "CAMELLIA128": 0, "CAMELLIA256": 0,
	"ARIA": 0, "ARIA128": 0, "ARIA256": 0, "ARIAGCM": 0, "CCM": 0, "CCM8": 0, "AESCCM": 0, "AESCCM8": 0,
	"DH": 0, "DHE": 0, "EDH": 0, "kDHE": 0, "kEDH": 0, "ADH": 0, "AECDH": 0, "aDSS": 0, "DSS": 0,
	"PSK": 0, "kPSK": 0, "aPSK": 0, "kECDHEPSK": 0, "kDHEPSK": 0, "kRSAPSK": 0, "ECDHEPSK": 0, "DHEPSK": 0,
	"RSAPSK": 0, "SRP": 0, "kSRP": 0, "aSRP": 0, "aGOST": 0, "aGOST01": 0, "aGOST12": 0, "kGOST": 0,
	"GOST94": 0, "GOST89MAC": 0,
}

// selectedBy reports whether the alias bits a select s.
func (s cipherSuite) selectedBy(a cipherBits) bool {
	if s.bits&encLegacy != 0 || a == 0 {
		return false
	}
	if a == everySuite {
		return true
	}
	for _, cat := range cipherCategories {
		if a&cat != 0 && s.bits&a&cat == 0 {
			return false
		}
	}
	return true
}

// cipherRule returns the suites one rule of a cipher string selects: a
// suite's name, an alias, or several joined by "+", which select the
// suites all of them do; known is false when a part is neither a name
// nor an alias.
func cipherRule(rule string) (ids []uint16, known bool) {
	parts := strings.Split(rule, "+")
	for _, s := range cipherSuites {
		all := true
		for _, p := range parts {
			a, isAlias := cipherAliases[p]
			if !(p == s.name || isAlias && s.selectedBy(a)) {
				all = false
				break
			}
		}
		if all {
			ids = append(ids, s.id)
		}
	}
	for _, p := range parts {
		if _, isAlias := cipherAliases[p]; !isAlias && !slices.ContainsFunc(cipherSuites, func(s cipherSuite) bool { return s.name == p }) {
			return nil, false
		}
	}
	return ids, true
}

// OpenSSLDefaultCiphers returns the TLS 1.2 suites of OpenSSL's DEFAULT
// cipher string that Go implements (a new slice each call): what nginx
// offers an HTTPS endpoint without proxy_ssl_ciphers, RSA key exchange and
// CBC suites included, where Go's client defaults offer neither.
func OpenSSLDefaultCiphers() []uint16 {
	ids, _ := cipherRule("DEFAULT")
	return ids
}

// tls13Suites are the names of the TLS 1.3 suites, which Go does not let
// a server choose.
var tls13Suites = []string{"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256"}

// parseCiphers reads an OpenSSL cipher string as nginx's ssl_ciphers
// (OpenSSL 3) does, for the suites Go implements: rules separated by ":",
// "," or spaces, each a suite's name, an alias (ALL, HIGH, ECDHE, aRSA,
// AESGCM, SHA256, ...) or several joined by "+" (the suites all of them
// select). A rule adds the suites it selects; "-rule" removes them and
// "!rule" removes them for good; "+rule" (reordering) and "@STRENGTH" or
// "@SECLEVEL=n" (alone or after a rule) change nothing Go offers (Go picks the suite by its own
// order) and are accepted silently, as exclusions of what Go lacks are.
// Rules that add nothing Go has (DHE or CAMELLIA suites, MEDIUM, unknown
// names) are passed to warn.
func parseCiphers(v string, warn func(error)) ([]uint16, error) {
	var out []uint16
	banned := map[uint16]bool{}
	for _, rule := range strings.FieldsFunc(v, func(r rune) bool { return r == ':' || r == ',' || r == ' ' }) {
		if at := strings.IndexByte(rule, '@'); at > 0 {
			rule = rule[:at] // "RC4+RSA@STRENGTH": the rule, then a directive
		}
		switch op := rule[0]; op {
		case '!', '-':
			ids, _ := cipherRule(rule[1:])
			out = slices.DeleteFunc(out, func(c uint16) bool { return slices.Contains(ids, c) })
			for _, id := range ids {
				banned[id] = banned[id] || op == '!'
			}
			continue
		case '+', '@':
			continue
		}
		ids, known := cipherRule(rule)
		for _, id := range ids {
			if !banned[id] && !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
		switch {
		case len(ids) > 0:
		case slices.Contains(tls13Suites, rule):
			warnf(warn, "cipher %s is a TLS 1.3 suite, which Go does not let a server choose (it always enables TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384 and TLS_CHACHA20_POLY1305_SHA256); ignored", rule)
		case strings.HasPrefix(rule, "DHE-") || strings.HasPrefix(rule, "EDH-"):
			warnf(warn, "cipher %s is not supported by Go (no DHE key exchange); ignored", rule)
		case known:
			warnf(warn, "OpenSSL cipher rule %s selects no suite Go supports; ignored", rule)
		default:
			warnf(warn, "cipher %s is not supported by Go; ignored", rule)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no cipher suite Go supports: %w", ErrNothingUsable)
	}
	var insecure []string
	for _, c := range tls.InsecureCipherSuites() {
		if slices.Contains(out, c.ID) {
			insecure = append(insecure, c.Name)
		}
	}
	switch len(insecure) {
	case 0:
	case 1:
		warnf(warn, "cipher %s is insecure; enabled as listed", insecure[0])
	default:
		warnf(warn, "ciphers %s are insecure; enabled as listed", strings.Join(insecure, ", "))
	}
	return out, nil
}

// curves maps OpenSSL's group names (compared case-insensitively) to Go's.
var curves = map[string]tls.CurveID{
	"x25519": tls.X25519, "prime256v1": tls.CurveP256, "secp256r1": tls.CurveP256, "p-256": tls.CurveP256,
	"secp384r1": tls.CurveP384, "p-384": tls.CurveP384, "secp521r1": tls.CurveP521, "p-521": tls.CurveP521,
	"x25519mlkem768": tls.X25519MLKEM768, "secp256r1mlkem768": tls.SecP256r1MLKEM768, "secp384r1mlkem1024": tls.SecP384r1MLKEM1024,
}

// parseCurves reads nginx's ssl_ecdh_curve: "auto" (nil: Go's defaults) or
// group names separated by ":". Names Go lacks are passed to warn.
func parseCurves(v string, warn func(error)) ([]tls.CurveID, error) {
	if strings.TrimSpace(v) == "auto" {
		return nil, nil
	}
	var out []tls.CurveID
	for _, name := range strings.Split(v, ":") {
		name = strings.TrimSpace(name)
		id, ok := curves[strings.ToLower(name)]
		switch {
		case name == "":
		case !ok:
			warnf(warn, "curve %q is not supported by Go; ignored", name)
		case !slices.Contains(out, id):
			out = append(out, id)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no curve Go supports: %w", ErrNothingUsable)
	}
	return out, nil
}

func warnf(warn func(error), format string, args ...any) {
	if warn != nil {
		warn(fmt.Errorf(format, args...))
	}
}

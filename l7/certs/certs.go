package certs

import (
	"cmp"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// FallbackCommonName is the subject CN of the self-signed certificate Weir
// serves when nothing else matches. It is ingress-nginx's, as are the
// certificate's organization and DNS name: clients and tests that
// recognise ingress-nginx's fake certificate by them recognise Weir's.
const FallbackCommonName = "Kubernetes Ingress Controller Fake Certificate"

// fallbackOrganization is the subject O of the self-signed certificate
// (ingress-nginx's fake certificate's).
const fallbackOrganization = "Acme Co"

// Options configures a Manager. The zero value is usable.
type Options struct {
	// Tickets holds the session ticket keys of the Manager's tls.Configs.
	// Nil means new TicketKeys of the Manager's own (random, never rotated
	// unless the caller runs Tickets().RotateEvery).
	Tickets *TicketKeys
	// Fallback is served when no certificate matches and the Snapshot has no
	// default certificate. Nil means the process's fake certificate: a
	// self-signed RSA 2048 certificate with CN FallbackCommonName (SelfSigned),
	// generated once, by the first NewManager that needs it.
	Fallback *tls.Certificate
	// TLS holds the protocol versions, TLS 1.2 cipher suites and curves of
	// the handshakes until SetTLSSettings changes them. Nil means
	// annotations.DefaultTLSSettings(): TLS 1.2 and 1.3, ingress-nginx's
	// ECDHE AEAD suites, Go's default curves.
	TLS *annotations.TLSSettings
}

// Manager serves the certificates of the live Snapshot. It is a controller
// Publisher: Apply swaps its Store with one atomic store, so a new
// certificate is used from the next handshake on while established
// connections keep theirs. It is safe for concurrent use.
type Manager struct {
	store    atomic.Pointer[Store]
	applyMu  sync.Mutex // serialises Apply so each Store reuses its predecessor's parses
	fallback *tls.Certificate
	tickets  *TicketKeys
	settings atomic.Pointer[annotations.TLSSettings]
	hosts    atomic.Pointer[hostTLS]     // of the live Snapshot; nil: no host has its own (servertls.go)
	names    atomic.Pointer[serverNames] // of the live Snapshot with ssl-reject-handshake; nil: none
	now      func() time.Time            // the clock of session tickets; nil: time.Now (tests set it)
}

// NewManager returns a Manager serving only the fallback certificate until
// the first Apply.
func NewManager(opts Options) (*Manager, error) {
	m := &Manager{fallback: opts.Fallback, tickets: opts.Tickets}
	if m.fallback == nil {
		cert, err := fakeCertificate()
		if err != nil {
			return nil, err
		}
		m.fallback = cert
	}
	if m.tickets == nil {
		m.tickets = NewTicketKeys()
	}
	var settings annotations.TLSSettings
	if opts.TLS != nil {
		settings = *opts.TLS
	}
	m.SetTLSSettings(settings)
	st, _ := NewStore(nil, m.fallback, nil)
	m.store.Store(st)
	return m, nil
}

// Apply makes the certificates of s live. A certificate that fails to load
// is left out (its hosts get the default certificate) and reported in the
// returned error; the others are live regardless.
func (m *Manager) Apply(s *snapshot.Snapshot) error {
	m.applyMu.Lock()
	defer m.applyMu.Unlock()
	// The server names of ssl-reject-handshake, indexed only when it is on
	// (a 10 000-host Apply pays nothing otherwise), go live before the
	// setting turns on and are dropped after it turns off: no handshake of
	// a known name sees the setting without them.
	if s.Global.TLS.RejectHandshake {
		m.names.Store(newServerNames(s))
	}
	m.SetTLSSettings(s.Global.TLS)
	if !s.Global.TLS.RejectHandshake {
		m.names.Store(nil)
	}
	st, errs := NewStore(s, m.fallback, m.store.Load())
	m.store.Store(st)
	m.hosts.Store(newHostTLS(s))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("apply certificates of snapshot %d: %w", s.Version, err)
	}
	return nil
}

// Store returns the live Store.
func (m *Manager) Store() *Store { return m.store.Load() }

// Tickets returns the session ticket keys of the Manager's tls.Configs.
func (m *Manager) Tickets() *TicketKeys { return m.tickets }

// Fallback returns the certificate served when nothing else matches and no
// default certificate is configured.
func (m *Manager) Fallback() *tls.Certificate { return m.fallback }

// GetCertificate selects the certificate of a handshake from the live Store
// (see Store.Select). It never fails, but has none for a server name with
// a NUL byte, which crypto/tls then refuses with the unrecognized_name
// alert, as OpenSSL refuses it under nginx (nginx 1.22.1 answered SNI
// "h2\x00tes" so, and served the names with a space, a slash, "..", 0xFF
// or upper case).
func (m *Manager) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if strings.IndexByte(hello.ServerName, 0) >= 0 {
		return nil, nil
	}
	return m.store.Load().Select(hello.ServerName), nil
}

// SetTLSSettings makes s the protocol versions, cipher suites, curves and
// session settings of every handshake from the next one on, through every
// tls.Config TLSConfig returned; established connections keep what they
// negotiated. It is safe to call while serving. A zero MinVersion,
// MaxVersion or CipherSuites takes its value from
// annotations.DefaultTLSSettings, so the zero TLSSettings means the
// defaults. A SessionTicketKey replaces the keys of Tickets until a call
// without one (see TicketKeys.SetFixed).
func (m *Manager) SetTLSSettings(s annotations.TLSSettings) {
	def := annotations.DefaultTLSSettings()
	s.MinVersion = cmp.Or(s.MinVersion, def.MinVersion)
	s.MaxVersion = cmp.Or(s.MaxVersion, def.MaxVersion)
	if len(s.CipherSuites) == 0 {
		s.CipherSuites = def.CipherSuites
	}
	s.CipherSuites = slices.Clone(s.CipherSuites)
	s.CurvePreferences = slices.Clone(s.CurvePreferences)
	s.SessionTicketKey = slices.Clone(s.SessionTicketKey)
	m.tickets.SetFixed(s.SessionTicketKey)
	m.settings.Store(&s)
}

// TLSSettings returns the settings of the next handshake.
func (m *Manager) TLSSettings() annotations.TLSSettings {
	s := *m.settings.Load()
	s.CipherSuites = slices.Clone(s.CipherSuites)
	s.CurvePreferences = slices.Clone(s.CurvePreferences)
	s.SessionTicketKey = slices.Clone(s.SessionTicketKey)
	return s
}

// TLSConfig returns a new server configuration: the versions, TLS 1.2
// cipher suites and curves of TLSSettings at each handshake, ALPN
// alpnProtocols (without "h2" with TLSSettings.HTTP2Off), certificates from the live Store per handshake, session
// tickets from Tickets when TLSSettings.SessionTickets (resumed within its
// Timeout), and with RejectHandshake the unrecognized_name alert for an SNI
// that names no Server of the live Snapshot. Each call returns a distinct *tls.Config; its
// GetConfigForClient serves each handshake with the NextProtos and
// GetCertificate of the returned config under the current settings, so
// changing any other field of it has no effect. A handshake whose SNI
// selects a host with its own server-level TLS (snapshot.ServerTLS: a
// client certificate to verify, ssl-ciphers) gets that host's variant: a
// client certificate requested, not verified (the proxy does, per
// request), and the host's suites.
func (m *Manager) TLSConfig() *tls.Config {
	cfg := configOf(m.settings.Load(), alpnProtocols, m.GetCertificate)
	// Each handshake gets its suites from GetConfigForClient; cfg lists
	// none, as net/http's HTTP/2 setup refuses to serve with a list that
	// lacks an ECDHE AES-128-GCM suite (ssl-ciphers ECDHE+CHACHA20), which
	// nginx serves.
	cfg.CipherSuites = nil
	m.tickets.Attach(cfg)
	// The configuration of the settings last seen, built once per change.
	// It carries no session ticket keys, so crypto/tls takes cfg's: their
	// rotation reaches it.
	type built struct {
		settings *annotations.TLSSettings
		cfg      *tls.Config
	}
	var last atomic.Pointer[built]
	var hostVariants atomic.Pointer[variants]
	build := func(s *annotations.TLSSettings) *tls.Config {
		c := configOf(s, offered(cfg.NextProtos, s), cfg.GetCertificate)
		withSessions(c, s, cfg, m.now)
		return c
	}
	pick := func(s *annotations.TLSSettings, hello *tls.ClientHelloInfo) *tls.Config {
		hosts := m.hosts.Load()
		if t := hosts.lookup(hello.ServerName); t != nil {
			v := hostVariants.Load()
			if v == nil || v.hosts != hosts || v.settings != s {
				v = &variants{hosts: hosts, settings: s, byTLS: map[*snapshot.ServerTLS]*tls.Config{}}
				hostVariants.Store(v)
			}
			return v.get(t, func() *tls.Config { return build(s) })
		}
		if b := last.Load(); b != nil && b.settings == s {
			return b.cfg
		}
		b := &built{settings: s, cfg: build(s)}
		last.Store(b)
		return b.cfg
	}
	// The ticketless twins of the configurations of one settings, for the
	// TLS 1.2 handshakes of the default session settings (noTLS12Tickets).
	type ticketless struct {
		settings *annotations.TLSSettings
		twins    sync.Map // *tls.Config -> *tls.Config
	}
	var twins atomic.Pointer[ticketless]
	cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		s := m.settings.Load()
		if s.RejectHandshake && !m.names.Load().known(hello.ServerName) {
			return rejectConfig, nil
		}
		c := pick(s, hello)
		if !noTLS12Tickets(s, c, hello) {
			return c, nil
		}
		tw := twins.Load()
		if tw == nil || tw.settings != s {
			tw = &ticketless{settings: s}
			twins.Store(tw)
		}
		if t, ok := tw.twins.Load(c); ok {
			return t.(*tls.Config), nil
		}
		t := c.Clone()
		t.SessionTicketsDisabled = true
		actual, _ := tw.twins.LoadOrStore(c, t)
		return actual.(*tls.Config), nil
	}
	return cfg
}

// alpnProtocols are the ALPN protocols of the HTTPS listener, the server's
// preference first: nginx 1.22's with http2 on (ngx_http_ssl_alpn_select:
// NGX_HTTP_V2_ALPN_PROTO then NGX_HTTP_ALPN_PROTOS), so a client offering
// only http/1.0 is served, where a client offering none of them gets the
// no_application_protocol alert. Every protocol but h2 is served as
// HTTP/1.x, as nginx reads whatever request comes.
var alpnProtocols = []string{"h2", "http/1.1", "http/1.0", "http/0.9"}

// offered returns the ALPN protocols of a handshake under s: protos
// without "h2" when s.HTTP2Off (use-http2 "false"), else protos.
func offered(protos []string, s *annotations.TLSSettings) []string {
	if !s.HTTP2Off || !slices.Contains(protos, "h2") {
		return protos
	}
	return slices.DeleteFunc(slices.Clone(protos), func(p string) bool { return p == "h2" })
}

// configOf returns a server configuration of the versions, suites and
// curves of s with nextProtos and getCertificate.
func configOf(s *annotations.TLSSettings, nextProtos []string, getCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		MinVersion:       s.MinVersion,
		MaxVersion:       s.MaxVersion,
		CipherSuites:     s.CipherSuites,
		CurvePreferences: s.CurvePreferences,
		NextProtos:       nextProtos,
		GetCertificate:   getCertificate,
	}
}

// fakeCertificate returns the process's fake certificate, generated by its
// first call: an RSA key takes a while to generate, and ingress-nginx too
// makes one fake certificate at start.
var fakeCertificate = sync.OnceValues(func() (*tls.Certificate, error) {
	return SelfSigned(FallbackCommonName)
})

// SelfSigned generates a self-signed RSA 2048 server certificate with
// subject CN cn and organization "Acme Co", for the DNS name ingress.local,
// valid for a year from an hour ago, for digital signatures and key
// encipherment: ingress-nginx's fake certificate (internal/net/ssl
// getFakeHostSSLCert), so a client that offers only RSA signatures or
// ECDHE-RSA suites gets it as from ingress-nginx.
func SelfSigned(cn string) (*tls.Certificate, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate self-signed certificate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generate self-signed certificate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{fallbackOrganization}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"ingress.local"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create self-signed certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse self-signed certificate: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

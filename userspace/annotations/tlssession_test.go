package annotations

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// defaultTLSWith returns DefaultTLSSettings changed by f.
func defaultTLSWith(f func(*TLSSettings)) TLSSettings {
	s := DefaultTLSSettings()
	f(&s)
	return s
}

// nginxE2EKey is the ssl-session-ticket-key of ingress-nginx's
// test/e2e/settings/ssl_session_tickets.go (80 bytes).
const nginxE2EKey = "WW9gcPHgfcrw6DNqY5VE2NjM6gtgUhJ4Vn6ZwRGi/7+A9TNFa4Fvfe1cmlPec9bxDoenN70aMBeZBlcrKshnKT4WJxFNLCuTHhfn4loTOEo="

// sumOf returns the SHA-256 of the base64 key b64.
func sumOf(b64 string) []byte {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) != 80 {
		panic("bad test key")
	}
	sum := sha256.Sum256(raw)
	return sum[:]
}

func TestParseTLSSession(t *testing.T) {
	t.Parallel()
	key48 := strings.Repeat("k", 48)
	sum48 := sha256.Sum256([]byte(key48))
	key80 := strings.Repeat("K", 80)
	sum80 := sha256.Sum256([]byte(key80))
	b64 := base64.StdEncoding.EncodeToString
	with := defaultTLSWith
	tests := []struct {
		name     string
		data     map[string]string
		want     TLSSettings
		wantErrs []string
	}{
		{name: "defaults: no tickets, 10m, no rejection", data: map[string]string{"ssl-session-tickets": "false"}, want: DefaultTLSSettings()},
		{
			name: "all set",
			data: map[string]string{"ssl-session-tickets": "true", "ssl-session-ticket-key": b64([]byte(key48)), "ssl-session-timeout": "1h", "ssl-reject-handshake": "True"},
			want: with(func(s *TLSSettings) {
				s.SessionTickets, s.SessionTicketKey, s.SessionTimeout, s.RejectHandshake = true, sum48[:], time.Hour, true
			}),
		},
		{name: "ingress-nginx e2e's key", data: map[string]string{"ssl-session-ticket-key": nginxE2EKey}, want: with(func(s *TLSSettings) { s.SessionTicketKey = sumOf(nginxE2EKey) })},
		{name: "80-byte key", data: map[string]string{"ssl-session-ticket-key": b64([]byte(key80))}, want: with(func(s *TLSSettings) { s.SessionTicketKey = sum80[:] })},
		{name: "empty key means rotation", data: map[string]string{"ssl-session-ticket-key": ""}, want: DefaultTLSSettings()},
		{
			name: "without the session cache, nginx's default timeout",
			data: map[string]string{"ssl-session-cache": "false", "ssl-session-timeout": "1h"},
			want: with(func(s *TLSSettings) { s.SessionTimeout, s.SessionCacheOff = 5*time.Minute, true }),
		},
		{name: "with the session cache, ssl-session-timeout", data: map[string]string{"ssl-session-cache": "true", "ssl-session-timeout": "1h"}, want: with(func(s *TLSSettings) { s.SessionTimeout = time.Hour })},
		{
			name:     "invalid ssl-session-cache keeps the cache",
			data:     map[string]string{"ssl-session-cache": "shared"},
			want:     DefaultTLSSettings(),
			wantErrs: []string{`configmap key ssl-session-cache: value "shared": must be "true" or "false"`},
		},
		{name: "seconds", data: map[string]string{"ssl-session-timeout": "600"}, want: with(func(s *TLSSettings) { s.SessionTimeout = 10 * time.Minute })},
		{
			name: "invalid values keep the defaults",
			data: map[string]string{"ssl-session-tickets": "yes", "ssl-session-ticket-key": b64([]byte("short")), "ssl-session-timeout": "-1", "ssl-reject-handshake": "on"},
			want: DefaultTLSSettings(),
			wantErrs: []string{
				`configmap key ssl-session-tickets: value "yes": must be "true" or "false"`,
				`configmap key ssl-reject-handshake: value "on": must be "true" or "false"`,
				`configmap key ssl-session-ticket-key: value "c2hvcnQ=": must decode to 48 or 80 bytes, not 5; the keys rotate`,
				`configmap key ssl-session-timeout: value "-1": must be a positive time such as 240s, 4m or 30`,
			},
		},
		{name: "use-http2 false", data: map[string]string{"use-http2": "false"}, want: with(func(s *TLSSettings) { s.HTTP2Off = true })},
		{name: "use-http2 true", data: map[string]string{"use-http2": "true"}, want: DefaultTLSSettings()},
		{
			name:     "invalid use-http2 keeps HTTP/2",
			data:     map[string]string{"use-http2": "off"},
			want:     DefaultTLSSettings(),
			wantErrs: []string{`configmap key use-http2: value "off": must be "true" or "false"`},
		},
		{
			name:     "key not base64",
			data:     map[string]string{"ssl-session-ticket-key": "not base64!"},
			want:     DefaultTLSSettings(),
			wantErrs: []string{`configmap key ssl-session-ticket-key: value "not base64!": must be standard base64; the keys rotate`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, errs := ParseTLSSettings(tc.data)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("settings (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantErrs, errStrings(t, errs)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			for _, err := range errs {
				var e *Error
				if !errors.As(err, &e) || !e.ConfigMap {
					t.Errorf("%v is not a ConfigMap *Error", err)
				}
			}
			// ParseGlobal carries them in Global.TLS.
			g, _ := ParseGlobal(tc.data)
			if diff := cmp.Diff(tc.want, g.TLS); diff != "" {
				t.Errorf("ParseGlobal's TLS (-want +got):\n%s", diff)
			}
		})
	}
	if got := (TLSSettings{}).Timeout(); got != DefaultSSLSessionTimeout {
		t.Errorf("zero Timeout() = %v, want %v", got, DefaultSSLSessionTimeout)
	}
}

func TestNoTLSRedirect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data map[string]string
		path string
		want bool
	}{
		{"default exempts acme", nil, "/.well-known/acme-challenge/tok", true},
		{"default redirects others", nil, "/", false},
		{"list", map[string]string{"no-tls-redirect-locations": " /public, ,/health"}, "/health/z", true},
		{"list replaces the default", map[string]string{"no-tls-redirect-locations": "/public"}, "/.well-known/acme-challenge/tok", false},
		{"empty list exempts nothing", map[string]string{"no-tls-redirect-locations": ""}, "/.well-known/acme-challenge/tok", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g, errs := ParseGlobal(tc.data)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if got := g.NoTLSRedirect(tc.path); got != tc.want {
				t.Errorf("NoTLSRedirect(%q) = %v, want %v", tc.path, got, tc.want)
			}
		})
	}
}

func TestUnappliedTLSKeysHaveReasons(t *testing.T) {
	t.Parallel()
	for key := range unappliedTLSKeys {
		e := ConfigMapEntry(key)
		if e.Status != StatusIgnored || e.Note == "" || e.Note == whyNotYet || e.Inert {
			t.Errorf("%s: %+v, want ignored with its reason", key, e)
		}
	}
	if e := ConfigMapEntry("ssl-session-cache"); e.Status != StatusPartial || !strings.Contains(e.Note, "no session-ID cache") {
		t.Errorf("ssl-session-cache: %+v, want partial with the reason", e)
	}
	for _, key := range []string{"ssl-session-tickets", "ssl-session-ticket-key", "ssl-session-timeout", "ssl-reject-handshake", "use-http2", "no-tls-redirect-locations"} {
		if e := ConfigMapEntry(key); e.Status != StatusApplied {
			t.Errorf("%s: status %s, want applied", key, e.Status)
		}
	}
}

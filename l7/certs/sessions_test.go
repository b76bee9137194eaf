package certs

import (
	"crypto/tls"
	"encoding/base64"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// countingCache is a client session cache that counts the tickets the
// server issued (Put with a session).
type countingCache struct {
	tls.ClientSessionCache
	puts atomic.Int32
}

func (c *countingCache) Put(key string, cs *tls.ClientSessionState) {
	if cs != nil {
		c.puts.Add(1)
	}
	c.ClientSessionCache.Put(key, cs)
}

// sessionManager returns a Manager serving a certificate of a.example.com
// with the ConfigMap data's TLS settings, and a client configuration for
// version with a counting session cache.
func sessionManager(t *testing.T, data map[string]string, version uint16) (*Manager, *tls.Config, *countingCache) {
	t.Helper()
	ca := certstest.NewCA(t)
	snap := &snapshot.Snapshot{Version: 1, Certificates: []snapshot.Certificate{cert(t, ca, "a", []string{"a.example.com"}, "a.example.com")}}
	snap.Global.TLS = *settingsOf(t, data)
	m, err := NewManager(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(snap); err != nil {
		t.Fatal(err)
	}
	cache := &countingCache{ClientSessionCache: tls.NewLRUClientSessionCache(8)}
	return m, &tls.Config{RootCAs: ca.Pool(), ServerName: "a.example.com", MinVersion: version, MaxVersion: version,
		ClientSessionCache: cache}, cache
}

// TestSessionTickets checks ssl-session-tickets and ssl-session-cache with
// real clients. By default (ingress-nginx's tickets "false", cache on) a
// TLS 1.3 session resumes, as nginx's from its session cache, and a TLS 1.2
// handshake gets no ticket and resumes nothing (nginx would resume it by
// session ID, which Go has not); with tickets "true" both resume; with the
// cache "false" and no tickets, nothing does.
func TestSessionTickets(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		data    map[string]string
		version uint16
		resumes bool
	}{
		{"TLS 1.3 default", nil, tls.VersionTLS13, true},
		{"TLS 1.2 default", nil, tls.VersionTLS12, false},
		{"TLS 1.3 tickets", map[string]string{"ssl-session-tickets": "true"}, tls.VersionTLS13, true},
		{"TLS 1.2 tickets", map[string]string{"ssl-session-tickets": "true"}, tls.VersionTLS12, true},
		{"TLS 1.3 no cache", map[string]string{"ssl-session-cache": "false"}, tls.VersionTLS13, false},
		{"TLS 1.2 no cache", map[string]string{"ssl-session-cache": "false"}, tls.VersionTLS12, false},
		{"TLS 1.2 server, default", map[string]string{"ssl-protocols": "TLSv1.2"}, tls.VersionTLS12, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m, client, cache := sessionManager(t, c.data, c.version)
			if c.version == tls.VersionTLS12 {
				client.MaxVersion = tls.VersionTLS13 // the server's ssl-protocols decide, or the client's MinVersion
				if c.data["ssl-protocols"] == "" {
					client.MaxVersion = tls.VersionTLS12
				}
			}
			addr := serveTLS(t, m.TLSConfig())
			if resumed(t, addr, client) {
				t.Fatal("first connection resumed a session")
			}
			if got := resumed(t, addr, client); got != c.resumes {
				t.Errorf("second connection resumed = %v, want %v", got, c.resumes)
			}
			if n := cache.puts.Load(); (n > 0) != c.resumes {
				t.Errorf("the client got %d tickets; want tickets = %v", n, c.resumes)
			}
		})
	}
}

// TestSessionTimeout checks ssl-session-timeout on a test clock: a ticket
// resumes within the timeout, not past it (measured from the session the
// ticket was issued for).
func TestSessionTimeout(t *testing.T) {
	t.Parallel()
	for _, version := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			t.Parallel()
			m, client, _ := sessionManager(t, map[string]string{"ssl-session-tickets": "true", "ssl-session-timeout": "10m"}, version)
			var mu sync.Mutex
			now := time.Now()
			m.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
			addr := serveTLS(t, m.TLSConfig())
			if resumed(t, addr, client) {
				t.Fatal("first connection resumed a session")
			}
			advance(9 * time.Minute)
			if !resumed(t, addr, client) {
				t.Fatal("not resumed 9 minutes after, within ssl-session-timeout 10m")
			}
			// TLS 1.3 issued a new ticket on the resumed connection, TLS 1.2
			// re-sealed the first session: 11 more minutes are past the
			// timeout of either.
			advance(11 * time.Minute)
			if resumed(t, addr, client) {
				t.Error("resumed 11 minutes after its ticket, past ssl-session-timeout 10m")
			}
			if !resumed(t, addr, client) {
				t.Error("the ticket of the full handshake after expiry does not resume")
			}
		})
	}
}

// TestSessionTicketKey checks ssl-session-ticket-key: two Managers with the
// same key (two replicas) resume each other's sessions, whatever their
// rotating keys do; one with another key does not; and removing the key
// goes back to the rotating keys.
func TestSessionTicketKey(t *testing.T) {
	t.Parallel()
	for _, version := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			t.Parallel()
			key := func(c string) string { return base64.StdEncoding.EncodeToString([]byte(strings.Repeat(c, 80))) }
			ca := certstest.NewCA(t)
			snapOf := func(data map[string]string) *snapshot.Snapshot {
				s := &snapshot.Snapshot{Version: 1, Certificates: []snapshot.Certificate{cert(t, ca, "a", []string{"a.example.com"}, "a.example.com")}}
				s.Global.TLS = *settingsOf(t, data)
				return s
			}
			fixed := map[string]string{"ssl-session-tickets": "true", "ssl-session-ticket-key": key("a")}
			other := map[string]string{"ssl-session-tickets": "true", "ssl-session-ticket-key": key("b")}
			var ms []*Manager
			var addrs []string
			for _, data := range []map[string]string{fixed, fixed, other} {
				m, err := NewManager(Options{})
				if err != nil {
					t.Fatal(err)
				}
				if err := m.Apply(snapOf(data)); err != nil {
					t.Fatal(err)
				}
				ms, addrs = append(ms, m), append(addrs, serveTLS(t, m.TLSConfig()))
			}
			client := &tls.Config{RootCAs: ca.Pool(), ServerName: "a.example.com", MinVersion: version, MaxVersion: version,
				ClientSessionCache: tls.NewLRUClientSessionCache(8)}
			if resumed(t, addrs[0], client) {
				t.Fatal("first connection resumed a session")
			}
			ms[0].Tickets().Rotate()
			ms[0].Tickets().Rotate()
			if !resumed(t, addrs[0], client) {
				t.Error("two rotations dropped the fixed key")
			}
			if !resumed(t, addrs[1], client) {
				t.Error("a replica with the same ssl-session-ticket-key did not resume the session")
			}
			if resumed(t, addrs[2], client) {
				t.Error("a replica with another ssl-session-ticket-key resumed the session")
			}
			// The client now holds a ticket of key "b"; the third Manager
			// taking key "a" cannot open it, and resumes the next one.
			if err := ms[2].Apply(snapOf(fixed)); err != nil {
				t.Fatal(err)
			}
			if resumed(t, addrs[2], client) {
				t.Error("a ticket of the key replaced resumed")
			}
			if !resumed(t, addrs[2], client) {
				t.Error("after taking the shared key, the third Manager does not resume its own ticket")
			}
			// Without the key, the first Manager goes back to its rotating
			// keys and cannot open a ticket of key "a".
			if err := ms[0].Apply(snapOf(map[string]string{"ssl-session-tickets": "true"})); err != nil {
				t.Fatal(err)
			}
			if resumed(t, addrs[0], client) {
				t.Error("a Manager without the key resumed a ticket of the shared key")
			}
		})
	}
}

// TestRejectHandshake checks ssl-reject-handshake with real clients: an SNI
// naming no Server (or none) gets the unrecognized_name alert; hosts,
// wildcard hosts (one label: ingress-nginx's buildServerName renders them
// as a regular expression of one label), aliases (a wildcard alias at any
// depth, nginx's wildcard server_name) and from-to-www-redirect names are
// served; off, an unknown SNI gets the default certificate.
func TestRejectHandshake(t *testing.T) {
	t.Parallel()
	ca := certstest.NewCA(t)
	snap := &snapshot.Snapshot{Version: 1,
		Certificates: []snapshot.Certificate{cert(t, ca, "a", []string{"a.example.com"}, "a.example.com")},
		Servers: []snapshot.Server{
			{Host: "a.example.com", Aliases: []string{"alias.example.net", "*.feral.example.net"}, RedirectFrom: "www.a.example.com"},
			{Host: "*.wild.example.com"},
			{Host: ""}, // rules without a host: nginx's default server, which names nothing
		}}
	snap.Global.TLS = *settingsOf(t, map[string]string{"ssl-reject-handshake": "true"})
	m, err := NewManager(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(snap); err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, m.TLSConfig())
	dial := func(sni string) error {
		conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
		if err == nil {
			conn.Close()
		}
		return err
	}
	for _, sni := range []string{"a.example.com", "A.Example.com.", "alias.example.net", "www.a.example.com", "x.wild.example.com", "x.feral.example.net", "x.y.feral.example.net"} {
		if err := dial(sni); err != nil {
			t.Errorf("SNI %q: %v, want a handshake", sni, err)
		}
	}
	for _, sni := range []string{"unknown.example.com", "wild.example.com", "x.y.wild.example.com", "feral.example.net", "example.com", ""} {
		if err := dial(sni); err == nil || !strings.Contains(err.Error(), "unrecognized name") {
			t.Errorf("SNI %q: %v, want the unrecognized_name alert", sni, err)
		}
	}

	snap.Global.TLS = annotations.TLSSettings{}
	if err := m.Apply(snap); err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "unknown.example.com", InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("ssl-reject-handshake off: %v", err)
	}
	defer conn.Close()
	if got := conn.ConnectionState().PeerCertificates[0].Subject.CommonName; got != FallbackCommonName {
		t.Errorf("ssl-reject-handshake off: certificate %q, want the default %q", got, FallbackCommonName)
	}
}

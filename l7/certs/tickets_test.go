package certs

import (
	"crypto/tls"
	"io"
	"testing"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// serveTLS accepts TLS connections on 127.0.0.1 with cfg, writes one byte
// after each handshake (so that TLS 1.3 clients read their session ticket)
// and closes them. It returns the address.
func serveTLS(tb testing.TB, cfg *tls.Config) string {
	tb.Helper()
	return serveTLSWith(tb, cfg, func(c *tls.Conn) {
		if c.Handshake() == nil {
			_, _ = c.Write([]byte("x"))
		}
	})
}

// serveTLSWith accepts TLS connections on 127.0.0.1 with cfg until the test
// ends, runs handle on each and then closes it. It returns the address.
func serveTLSWith(tb testing.TB, cfg *tls.Config, handle func(*tls.Conn)) string {
	tb.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c.(*tls.Conn))
			}()
		}
	}()
	return ln.Addr().String()
}

// resumed dials addr with the client session cache and reports whether the
// session was resumed.
func resumed(tb testing.TB, addr string, cfg *tls.Config) bool {
	tb.Helper()
	conn, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		tb.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	var b [1]byte
	if _, err := io.ReadFull(conn, b[:]); err != nil {
		tb.Fatalf("read from %s: %v", addr, err)
	}
	return conn.ConnectionState().DidResume
}

// TestTicketKeysRotation checks that a session resumes across one rotation
// (the previous key still decrypts), not across two, and that a second
// server given the same keys with Set resumes the first one's sessions, as
// workers sharing keys from a supervisor do.
func TestTicketKeysRotation(t *testing.T) {
	t.Parallel()
	ca := certstest.NewCA(t)
	c := cert(t, ca, "a", []string{"a.example.com"}, "a.example.com")
	snap := &snapshot.Snapshot{Version: 1, Certificates: []snapshot.Certificate{c}}
	snap.Global.TLS.SessionTickets = true // ssl-session-tickets; off by default
	for _, version := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			t.Parallel()
			m1, err := NewManager(Options{})
			if err != nil {
				t.Fatal(err)
			}
			shared := NewTicketKeys()
			cur, prev := m1.Tickets().Keys()
			shared.Set(cur, prev)
			m2, err := NewManager(Options{Tickets: shared})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range []*Manager{m1, m2} {
				if err := m.Apply(snap); err != nil {
					t.Fatal(err)
				}
			}
			addr1, addr2 := serveTLS(t, m1.TLSConfig()), serveTLS(t, m2.TLSConfig())
			client := &tls.Config{
				RootCAs: ca.Pool(), ServerName: "a.example.com",
				MinVersion: version, MaxVersion: version,
				ClientSessionCache: tls.NewLRUClientSessionCache(8),
			}
			if resumed(t, addr1, client) {
				t.Fatal("first connection resumed a session")
			}
			if !resumed(t, addr2, client) {
				t.Error("a server sharing the keys did not resume the session")
			}
			m1.Tickets().Rotate()
			if !resumed(t, addr1, client) {
				t.Error("session not resumed after one rotation")
			}
			m1.Tickets().Rotate()
			m1.Tickets().Rotate()
			if resumed(t, addr1, client) {
				t.Error("session resumed after two more rotations: its key should be gone")
			}
		})
	}
}

package certs

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/weir-lb/weir/userspace/annotations"
)

// settingsOf parses ConfigMap data that must leave no name out.
func settingsOf(tb testing.TB, data map[string]string) *annotations.TLSSettings {
	tb.Helper()
	s, errs := annotations.ParseTLSSettings(data)
	if len(errs) > 0 {
		tb.Fatalf("ParseTLSSettings(%v): %v", data, errs)
	}
	return &s
}

// handshake dials addr with a client limited to version (0: TLS 1.0 to 1.3),
// suites and curves (nil: Go's) and returns the negotiated state.
func handshake(tb testing.TB, addr string, version uint16, suites []uint16, curves []tls.CurveID) (tls.ConnectionState, error) {
	tb.Helper()
	cfg := &tls.Config{
		InsecureSkipVerify: true, // the self-signed fallback; only the parameters matter here
		MinVersion:         tls.VersionTLS10, MaxVersion: tls.VersionTLS13,
		CipherSuites: suites, CurvePreferences: curves,
	}
	if version != 0 {
		cfg.MinVersion, cfg.MaxVersion = version, version
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer conn.Close()
	var b [1]byte
	if _, err := io.ReadFull(conn, b[:]); err != nil {
		return tls.ConnectionState{}, err
	}
	return conn.ConnectionState(), nil
}

// TestTLSSettingsHandshakes runs real handshakes against a Manager with the
// default settings and with ssl-protocols, ssl-ciphers and ssl-ecdh-curve
// set, from clients restricted to one version, some suites or some curves.
func TestTLSSettingsHandshakes(t *testing.T) {
	t.Parallel()
	const (
		rsaAES128 = tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
		rsaAES256 = tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
		rsaCBC    = tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA
	)
	type client struct {
		name      string
		version   uint16
		suites    []uint16
		curves    []tls.CurveID
		wantErr   bool
		wantSuite uint16
		wantCurve tls.CurveID
	}
	tests := []struct {
		name    string
		data    map[string]string // nil: the default settings
		clients []client
	}{
		{
			name: "defaults",
			clients: []client{
				{name: "tls1.3", version: tls.VersionTLS13},
				{name: "tls1.2 ecdhe aes128-gcm", version: tls.VersionTLS12, suites: []uint16{rsaAES128}, wantSuite: rsaAES128},
				{name: "tls1.2 cbc-sha only (Go offers it by default, ingress-nginx does not)", version: tls.VersionTLS12, suites: []uint16{rsaCBC}, wantErr: true},
				{name: "tls1.1", version: tls.VersionTLS11, wantErr: true},
				{name: "p-521 only (Go's default curves)", version: tls.VersionTLS13, curves: []tls.CurveID{tls.CurveP521}, wantCurve: tls.CurveP521},
			},
		},
		{
			name: "ssl-protocols TLSv1.3",
			data: map[string]string{"ssl-protocols": "TLSv1.3"},
			clients: []client{
				{name: "tls1.3", version: tls.VersionTLS13},
				{name: "tls1.2", version: tls.VersionTLS12, wantErr: true},
			},
		},
		{
			name: "ssl-protocols TLSv1 to TLSv1.2 with a CBC suite",
			data: map[string]string{"ssl-protocols": "TLSv1 TLSv1.1 TLSv1.2", "ssl-ciphers": "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256"},
			clients: []client{
				{name: "tls1.0", version: tls.VersionTLS10, wantSuite: rsaCBC},
				{name: "tls1.2", version: tls.VersionTLS12, suites: []uint16{rsaCBC}, wantSuite: rsaCBC},
				{name: "tls1.3", version: tls.VersionTLS13, wantErr: true},
			},
		},
		{
			name: "ssl-ciphers one suite",
			data: map[string]string{"ssl-ciphers": "ECDHE-RSA-AES256-GCM-SHA384"},
			clients: []client{
				{name: "aes128 only", version: tls.VersionTLS12, suites: []uint16{rsaAES128}, wantErr: true},
				{name: "aes128 or aes256", version: tls.VersionTLS12, suites: []uint16{rsaAES128, rsaAES256}, wantSuite: rsaAES256},
				{name: "tls1.3 suites are not configurable", version: tls.VersionTLS13, wantSuite: tls.TLS_AES_128_GCM_SHA256},
			},
		},
		{
			name: "ssl-ecdh-curve secp384r1",
			data: map[string]string{"ssl-ecdh-curve": "secp384r1"},
			clients: []client{
				{name: "tls1.3 x25519 only", version: tls.VersionTLS13, curves: []tls.CurveID{tls.X25519}, wantErr: true},
				{name: "tls1.2 x25519 only", version: tls.VersionTLS12, curves: []tls.CurveID{tls.X25519}, wantErr: true},
				{name: "tls1.3 x25519 or p-384", version: tls.VersionTLS13, curves: []tls.CurveID{tls.X25519, tls.CurveP384}, wantCurve: tls.CurveP384},
				{name: "tls1.2 p-384", version: tls.VersionTLS12, curves: []tls.CurveID{tls.CurveP384}, wantCurve: tls.CurveP384},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var opts Options
			if tc.data != nil {
				opts.TLS = settingsOf(t, tc.data)
			}
			m, err := NewManager(opts)
			if err != nil {
				t.Fatal(err)
			}
			addr := serveTLS(t, m.TLSConfig())
			for _, c := range tc.clients {
				st, err := handshake(t, addr, c.version, c.suites, c.curves)
				switch {
				case c.wantErr && err == nil:
					t.Errorf("%s: handshake succeeded (%s, %s), want refused", c.name, tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
				case c.wantErr:
				case err != nil:
					t.Errorf("%s: %v", c.name, err)
				case c.wantSuite != 0 && st.CipherSuite != c.wantSuite:
					t.Errorf("%s: suite %s, want %s", c.name, tls.CipherSuiteName(st.CipherSuite), tls.CipherSuiteName(c.wantSuite))
				case c.wantCurve != 0 && st.CurveID != c.wantCurve:
					t.Errorf("%s: curve %v, want %v", c.name, st.CurveID, c.wantCurve)
				case c.version != 0 && st.Version != c.version:
					t.Errorf("%s: version %s", c.name, tls.VersionName(st.Version))
				}
			}
		})
	}
}

// TestSetTLSSettingsKeepsConnections changes the settings while a TLS 1.2
// connection is open: it keeps working, new TLS 1.2 handshakes are
// refused, and a TLS 1.3 session issued before the change still resumes
// (the ticket keys reach the per-settings configuration).
func TestSetTLSSettingsKeepsConnections(t *testing.T) {
	t.Parallel()
	withTickets := annotations.DefaultTLSSettings()
	withTickets.SessionTickets = true // ssl-session-tickets; off by default
	m, err := NewManager(Options{TLS: &withTickets})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLSWith(t, m.TLSConfig(), func(c *tls.Conn) { _, _ = io.Copy(c, c) })
	echo := func(tb testing.TB, conn *tls.Conn, line string) {
		tb.Helper()
		if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
			tb.Fatal(err)
		}
		if _, err := conn.Write([]byte(line + "\n")); err != nil {
			tb.Fatalf("write %q: %v", line, err)
		}
		got, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil || got != line+"\n" {
			tb.Fatalf("echo of %q: %q, %v", line, got, err)
		}
	}
	client := func(version uint16) *tls.Config {
		return &tls.Config{InsecureSkipVerify: true, MinVersion: version, MaxVersion: version,
			ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	}
	old, err := tls.Dial("tcp", addr, client(tls.VersionTLS12))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	echo(t, old, "before")

	tls13 := client(tls.VersionTLS13)
	first, err := tls.Dial("tcp", addr, tls13)
	if err != nil {
		t.Fatal(err)
	}
	echo(t, first, "ticket") // reads the session ticket
	first.Close()

	if diff := cmp.Diff(withTickets, m.TLSSettings()); diff != "" {
		t.Fatalf("TLSSettings() of a new Manager (-want +got):\n%s", diff)
	}
	m.SetTLSSettings(*settingsOf(t, map[string]string{"ssl-protocols": "TLSv1.3", "ssl-ecdh-curve": "X25519:prime256v1", "ssl-session-tickets": "true"}))
	if got := m.TLSSettings(); got.MinVersion != tls.VersionTLS13 {
		t.Fatalf("TLSSettings().MinVersion = %s after SetTLSSettings", tls.VersionName(got.MinVersion))
	}
	echo(t, old, "after")
	if conn, err := tls.Dial("tcp", addr, client(tls.VersionTLS12)); err == nil {
		conn.Close()
		t.Error("a new TLS 1.2 handshake succeeded after ssl-protocols TLSv1.3")
	}
	again, err := tls.Dial("tcp", addr, tls13)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	echo(t, again, "resumed?")
	if !again.ConnectionState().DidResume {
		t.Error("a TLS 1.3 session from before the change did not resume")
	}

	m.SetTLSSettings(annotations.TLSSettings{}) // e.g. a Snapshot without TLS settings
	if diff := cmp.Diff(annotations.DefaultTLSSettings(), m.TLSSettings()); diff != "" {
		t.Errorf("TLSSettings() after SetTLSSettings of the zero value (-want +got):\n%s", diff)
	}
	tls12, err := tls.Dial("tcp", addr, client(tls.VersionTLS12))
	if err != nil {
		t.Fatalf("TLS 1.2 after going back to the defaults: %v", err)
	}
	tls12.Close()
}

// TestTLSSettingsCurl checks the settings against curl (OpenSSL) clients
// restricted to one suite or one curve, over HTTPS.
func TestTLSSettingsCurl(t *testing.T) {
	t.Parallel()
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed")
	}
	m, err := NewManager(Options{TLS: settingsOf(t, map[string]string{"ssl-ciphers": "ECDHE-RSA-AES256-GCM-SHA384", "ssl-ecdh-curve": "secp384r1"})})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", m.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}), ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0)} // refused handshakes are expected
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	for _, tc := range []struct {
		name string
		args []string
		want string // the status, or "refused"
	}{
		{"tls1.2 aes256-gcm", []string{"--tlsv1.2", "--tls-max", "1.2", "--ciphers", "ECDHE-RSA-AES256-GCM-SHA384"}, "200"},
		{"tls1.2 aes128-gcm", []string{"--tlsv1.2", "--tls-max", "1.2", "--ciphers", "ECDHE-RSA-AES128-GCM-SHA256"}, "refused"},
		{"curve secp384r1", []string{"--curves", "secp384r1"}, "200"},
		{"curve x25519", []string{"--curves", "X25519"}, "refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			args := append([]string{"-sk", "-o", "/dev/null", "-w", "%{http_code}", "https://" + ln.Addr().String() + "/"}, tc.args...)
			out, err := exec.CommandContext(ctx, curl, args...).Output()
			got := string(out)
			var exit *exec.ExitError
			if errors.As(err, &exit) && exit.ExitCode() == 35 { // CURLE_SSL_CONNECT_ERROR: the handshake failed
				got = "refused"
			} else if err != nil {
				t.Fatalf("curl %v: %v", args, err)
			}
			if got != tc.want {
				t.Errorf("curl %v: %s, want %s", tc.args, got, tc.want)
			}
		})
	}
}

package e2e

import (
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/certs/certstest"
)

// TestTLSSessionsFromConfigMap follows ingress-nginx's
// test/e2e/settings/ssl_session_tickets and ssl_reject_handshake with real
// TLS clients: by default a TLS 1.3 session resumes (nginx's session
// cache), and nothing does with ssl-session-cache "false"; ssl-session-tickets "true" resumes (live, from the next
// handshake), also with a fixed ssl-session-ticket-key; ssl-reject-handshake
// "true" fails a handshake for a name no Ingress has (or without SNI) with
// unrecognized_name, while the Ingress's host is served.
func TestTLSSessionsFromConfigMap(t *testing.T) {
	ca := certstest.NewCA(t)
	b := newBackend(t, "sessweb", nil)
	crt, key := ca.Issue(t, "tls.session.test")
	files := map[string]string{
		"class.yaml":     ingressClass,
		"svc.yaml":       service("web", b.port),
		"secrets.yaml":   certstest.SecretYAML("default", "server-tls", crt, key),
		"ingresses.yaml": authIngress("sess", "tls.session.test", "web"),
		"cm.yaml":        configMap(),
	}
	w := startWeirWith(t, files, configMapOptions())

	// get makes one HTTPS request on a new connection with SNI sni and
	// reports whether the session resumed.
	get := func(t *testing.T, sni string, cache tls.ClientSessionCache) (resumed bool, err error) {
		t.Helper()
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", w.d.HTTPSAddr(), &tls.Config{
			ServerName: sni, RootCAs: ca.Pool(), InsecureSkipVerify: sni != "tls.session.test",
			ClientSessionCache: cache, NextProtos: []string{"http/1.1"},
		})
		if err != nil {
			return false, err
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: tls.session.test\r\nConnection: close\r\n\r\n")
		resp, _ := io.ReadAll(conn) // reads the TLS 1.3 ticket too
		if !strings.HasPrefix(string(resp), "HTTP/1.1 200") {
			t.Fatalf("SNI %q: %q, want 200", sni, resp)
		}
		return conn.ConnectionState().DidResume, nil
	}
	resumes := func(t *testing.T) bool {
		t.Helper()
		cache := tls.NewLRUClientSessionCache(4)
		for i := range 2 {
			r, err := get(t, "tls.session.test", cache)
			if err != nil {
				t.Fatal(err)
			}
			if i == 1 {
				return r
			}
		}
		return false
	}

	// The defaults (tickets "false", the session cache on): a TLS 1.3
	// session resumes, as nginx's from its cache; without the cache it
	// does not.
	if !resumes(t) {
		t.Error("ssl-session-tickets unset (false), ssl-session-cache on: the TLS 1.3 session did not resume")
	}
	w.update("cm.yaml", configMap("ssl-session-cache", "false"))
	if resumes(t) {
		t.Error(`ssl-session-tickets unset, ssl-session-cache "false": a session resumed`)
	}
	w.update("cm.yaml", configMap("ssl-session-tickets", "true"))
	if !resumes(t) {
		t.Error(`ssl-session-tickets "true": the session did not resume`)
	}
	ticketKey := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 48)))
	w.update("cm.yaml", configMap("ssl-session-tickets", "true", "ssl-session-ticket-key", ticketKey))
	if !resumes(t) {
		t.Error("ssl-session-ticket-key: the session did not resume")
	}

	if _, err := get(t, "unknown.session.test", nil); err != nil {
		t.Fatalf("ssl-reject-handshake unset: unknown SNI: %v, want the default certificate", err)
	}
	w.update("cm.yaml", configMap("ssl-reject-handshake", "true"))
	for _, sni := range []string{"unknown.session.test", ""} {
		if _, err := get(t, sni, nil); err == nil || !strings.Contains(err.Error(), "unrecognized name") {
			t.Errorf("ssl-reject-handshake: SNI %q: %v, want the unrecognized_name alert", sni, err)
		}
	}
	if _, err := get(t, "tls.session.test", nil); err != nil {
		t.Errorf("ssl-reject-handshake: the Ingress's host: %v", err)
	}
}

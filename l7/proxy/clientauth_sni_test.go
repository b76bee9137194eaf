package proxy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// TestClientCertSNIHost: a host that verifies client certificates answers
// 421 to a request whose Host is not the SNI of its connection, as nginx
// (ngx_http_set_virtual_server compares the two names, then asks the
// Host's server whether it verifies), even when both names select the same
// server: a wildcard's two hosts, a server-alias; an SNI no server is
// named by is taken as none. Each case's answer is nginx 1.22's with the
// same servers; over a real TLS connection to 127.0.0.1.
func TestClientCertSNIHost(t *testing.T) {
	t.Parallel()
	ca := certstest.NewCA(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "verify=%s", r.Header.Get("ssl-client-verify"))
	}))
	t.Cleanup(up.Close)
	be := backendOf("web", []string{addr(up)})
	auth := func() *snapshot.ServerTLS {
		return &snapshot.ServerTLS{ClientAuth: &snapshot.ClientAuth{CAPEM: ca.CertPEM(),
			Settings: annotations.AuthTLS{VerifyClient: annotations.VerifyOptional, VerifyDepth: 1}}}
	}
	root := []snapshot.Path{{Path: "/", Match: snapshot.MatchPrefix, Backend: be}}
	s := &snapshot.Snapshot{Version: 1, Servers: []snapshot.Server{
		{Host: "*.wild.test", Paths: root, TLS: auth()},
		{Host: "a.test", Aliases: []string{"alias.test"}, Paths: root, TLS: auth()},
		{Host: "plain.test", Paths: root},
	}}
	at := serveClientAuth(t, s.Servers...)
	for _, tc := range []struct {
		sni, host string
		want      int
	}{
		{"x.wild.test", "x.wild.test", 200},
		{"X.Wild.Test", "x.wild.test:443", 200},
		{"x.wild.test", "y.wild.test", 421},
		{"a.test", "a.test", 200},
		{"a.test", "alias.test", 421},
		{"alias.test", "alias.test", 200},
		{"plain.test", "a.test", 421},
		{"a.test", "plain.test", 200}, // the Host's server does not verify
		{"", "a.test", 200},           // no SNI: the Host's server, optional
		{"zzz.test", "a.test", 200},   // an SNI no server has is as none
		{"zzz.wild.test", "a.test", 421},
	} {
		b := clientAuthGet(t, at, tc.sni, tc.host, nil)
		if want := fmt.Sprintf("HTTP/1.1 %d ", tc.want); !strings.HasPrefix(string(b), want) {
			t.Errorf("SNI %q, Host %q: %.40q, want %d", tc.sni, tc.host, b, tc.want)
		}
	}
}

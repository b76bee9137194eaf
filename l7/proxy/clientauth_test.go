package proxy

import (
	"testing"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

func TestEscapeComponent(t *testing.T) {
	t.Parallel()
	// nginx's ngx_escape_uri(NGX_ESCAPE_URI_COMPONENT) leaves only letters,
	// digits and "-._~".
	in := "-----BEGIN CERTIFICATE-----\nAb+/9=~._!*'()\x00\xff"
	want := "-----BEGIN%20CERTIFICATE-----%0AAb%2B%2F9%3D~._%21%2A%27%28%29%00%FF"
	if got := escapeComponent([]byte(in)); got != want {
		t.Errorf("escapeComponent = %q, want %q", got, want)
	}
}

// TestClientCertUpstreamName: a request the client certificate check
// answers logs $proxy_upstream_name "-", as nginx.tmpl's server, whose
// `set $proxy_upstream_name "-"` runs before the auth-tls-match-cn `if`
// (nginx 1.22.1 so configured: `403 31 ... [-]`), not the location's
// upstream; the 400s and their error-page redirects, answered before any
// phase, log it too.
func TestClientCertUpstreamName(t *testing.T) {
	t.Parallel()
	up := named(t, "a")
	var buf syncBuffer
	s := withLogFormat(t, snap(1, "foo.com", backendOf("a", []string{addr(up)})),
		map[string]string{"log-format-upstream": "$status [$proxy_upstream_name]"})
	s.Servers[0].TLS = &snapshot.ServerTLS{ClientAuth: &snapshot.ClientAuth{CAPEM: certstest.NewCA(t).CertPEM(),
		Settings: annotations.AuthTLS{VerifyClient: annotations.VerifyOn, VerifyDepth: 1, MatchCN: "CN=x"}}}
	_, srv := front(t, Options{AccessLog: &buf}, s)
	if got, want := logRequest(t, client(t), srv.URL+"/", "foo.com", &buf, nil), "403 [-]"; got != want {
		t.Errorf("line %q, want %q", got, want)
	}
}

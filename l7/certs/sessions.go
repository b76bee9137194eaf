package certs

import (
	"crypto/tls"
	"encoding/binary"
	"slices"
	"strings"
	"time"

	"github.com/weir-lb/weir/l7/router"
	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// withSessions applies the session settings of s to c, a configuration
// GetConfigForClient returns: no tickets unless ssl-session-tickets, and
// tickets sealed with the keys of keys (the tls.Config TicketKeys is
// attached to) that are resumed only within ssl-session-timeout. now is the
// clock of the tickets (nil: time.Now).
func withSessions(c *tls.Config, s *annotations.TLSSettings, keys *tls.Config, now func() time.Time) {
	c.Time = now
	if !s.SessionTickets && s.SessionCacheOff {
		c.SessionTicketsDisabled = true
		return
	}
	timeout := s.Timeout()
	// c has no keys of its own: crypto/tls would seal tickets with keys
	// generated for c, which neither rotate with TicketKeys nor are shared
	// by the other workers.
	c.WrapSession = keys.EncryptTicket
	c.UnwrapSession = func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
		ss, err := keys.DecryptTicket(identity, cs)
		if ss == nil || err != nil {
			return nil, err // not one of ours, or sealed with a key now gone: a full handshake
		}
		if !s.SessionTickets && cs.Version != tls.VersionTLS13 {
			return nil, nil // the session cache resumes TLS 1.3 sessions only
		}
		created, ok := sessionCreated(ss)
		if t := clock(now); !ok || t.Sub(created) > timeout || created.Sub(t) > time.Minute {
			return nil, nil // expired (ssl-session-timeout): a full handshake
		}
		return ss, nil
	}
}

func clock(now func() time.Time) time.Time {
	if now == nil {
		return time.Now()
	}
	return now()
}

// sessionCreated returns when the session of ss was established, read from
// its serialisation (crypto/tls's SessionState.Bytes: uint16 version, uint8
// type, uint16 cipher_suite, uint64 created_at in Unix seconds, ...); the
// field is not exported otherwise.
func sessionCreated(ss *tls.SessionState) (time.Time, bool) {
	b, err := ss.Bytes()
	if err != nil || len(b) < 13 {
		return time.Time{}, false
	}
	return time.Unix(int64(binary.BigEndian.Uint64(b[5:13])), 0), true
}

// noTLS12Tickets reports whether the handshake of hello gets no session
// ticket although c issues them: without ssl-session-tickets only TLS 1.3
// sessions resume (withSessions), so a handshake that will negotiate TLS
// 1.2 (the client or c offers no TLS 1.3) is not sent a ticket, as nginx
// with ssl_session_tickets off sends none.
func noTLS12Tickets(s *annotations.TLSSettings, c *tls.Config, hello *tls.ClientHelloInfo) bool {
	if s.SessionTickets || c.SessionTicketsDisabled {
		return false
	}
	return c.MaxVersion != 0 && c.MaxVersion < tls.VersionTLS13 || !slices.Contains(hello.SupportedVersions, tls.VersionTLS13)
}

// rejectConfig serves the handshakes ssl-reject-handshake refuses: it has no
// certificate, so crypto/tls ends them with the unrecognized_name alert, as
// nginx's ssl_reject_handshake does.
var rejectConfig = &tls.Config{}

// serverNames are the names of one Snapshot's Servers with nginx's
// server_name matching of ingress-nginx's rendering, for
// ssl-reject-handshake: exact names; wildcard hosts, which
// ingress-nginx's buildServerName writes as the regular expression
// "~^(?<subdomain>[\w-]+)\.example\.com$" (one label); and wildcard
// aliases, written as they are, which nginx's wildcard matching lets end
// a name at any depth. It is immutable.
type serverNames struct {
	exact     map[string]bool
	wildHosts map[string]bool // by the suffix after "*.": one label
	wildNames map[string]bool // by the suffix after "*.": any depth (aliases)
}

// newServerNames indexes the hosts, aliases and from-to-www-redirect names
// of the Servers of s; a Server without a host (nginx's default server)
// names nothing.
func newServerNames(s *snapshot.Snapshot) *serverNames {
	n := &serverNames{exact: map[string]bool{}, wildHosts: map[string]bool{}, wildNames: map[string]bool{}}
	wild := n.wildHosts
	add := func(host string) {
		host = strings.ToLower(host)
		switch {
		case host == "":
		case strings.HasPrefix(host, "*."):
			wild[host[2:]] = true
		default:
			n.exact[host] = true
		}
	}
	for i := range s.Servers {
		srv := &s.Servers[i]
		wild = n.wildHosts
		add(srv.Host)
		add(srv.RedirectFrom)
		wild = n.wildNames
		for _, a := range srv.Aliases {
			add(a)
		}
	}
	return n
}

// known reports whether a handshake with SNI serverName selects a server
// of its own rather than nginx's default server; nil knows no name.
func (n *serverNames) known(serverName string) bool {
	if n == nil {
		return false
	}
	name := strings.TrimSuffix(strings.ToLower(serverName), ".")
	if name == "" {
		return false
	}
	if n.exact[name] {
		return true
	}
	if i := strings.IndexByte(name, '.'); i > 0 && n.wildHosts[name[i+1:]] {
		return true
	}
	_, _, ok := router.NginxWildcard(n.wildNames, name)
	return ok
}

package h1server

import (
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
)

// TestPeerAddr: PeerAddr parses a connection's address once, for its first
// request, and gives the results to the next ones; another address
// (RemoteAddr changed by the handler) is parsed each time, and does not
// replace the connection's.
func TestPeerAddr(t *testing.T) {
	t.Parallel()
	var parses atomic.Int32
	parse := func(remote string) (string, netip.Addr) {
		parses.Add(1)
		ap, err := netip.ParseAddrPort(remote)
		if err != nil {
			return remote, netip.Addr{}
		}
		return ap.Addr().String(), ap.Addr()
	}
	type memo interface {
		PeerAddr(remote string, parse func(string) (string, netip.Addr)) (string, netip.Addr)
	}
	addr, _ := start(t, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m, ok := w.(memo)
		if !ok {
			t.Error("the ResponseWriter has no PeerAddr")
			return
		}
		remote := r.RemoteAddr
		if r.URL.Path == "/other" {
			remote = "192.0.2.7:1234"
		}
		text, a := m.PeerAddr(remote, parse)
		_, _ = io.WriteString(w, text+" "+a.String()+" "+strconv.Itoa(int(parses.Load())))
	}))
	c, br := dial(t, addr)
	for i, want := range []string{
		"127.0.0.1 127.0.0.1 1", // parsed
		"127.0.0.1 127.0.0.1 1", // kept
		"192.0.2.7 192.0.2.7 2", // another address: parsed, not kept
		"127.0.0.1 127.0.0.1 2", // the connection's: kept
		"127.0.0.1 127.0.0.1 2",
	} {
		path := "/"
		if i == 2 {
			path = "/other"
		}
		if got := getOn(t, c, br, path); got != want {
			t.Errorf("request %d: %q, want %q", i, got, want)
		}
	}
}

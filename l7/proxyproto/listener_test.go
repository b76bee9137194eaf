package proxyproto

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/h1server/h1servertest"
)

// policy is a Policy whose answers the test sets.
type policy struct {
	on      atomic.Bool
	trusted netip.Prefix
	timeout atomic.Int64 // HeaderTimeout, 0: the default
}

func (p *policy) UseProxyProtocol() bool           { return p.on.Load() }
func (p *policy) TrustsProxy(peer netip.Addr) bool { return p.trusted.Contains(peer) }
func (p *policy) HeaderTimeout() time.Duration     { return time.Duration(p.timeout.Load()) }

// serve starts an HTTP server on 127.0.0.1 behind a Listener with pol,
// answering each request with its RemoteAddr and local address: Weir's
// HTTP/1 server, or net/http's with WEIR_TEST_HTTP1_SERVER=net
// (h1servertest).
func serve(tb testing.TB, pol *policy, timeout time.Duration) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			local := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
			io.WriteString(w, r.RemoteAddr+" "+local.String())
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	h1servertest.Serve(tb, srv, ln, func(ln net.Listener) net.Listener {
		return &Listener{Listener: ln, Policy: pol, HeaderTimeout: timeout}
	})
	return ln.Addr().String()
}

// exchange writes raw on a new connection and returns the body of the
// response, or the error reading it.
func exchange(tb testing.TB, addr, raw string) (string, error) {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// remoteHost is the host of the RemoteAddr a serve answer starts with.
func remoteHost(answer string) string {
	remote, _, _ := strings.Cut(answer, " ")
	host, _, _ := net.SplitHostPort(remote)
	return host
}

const get = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"

func TestListener(t *testing.T) {
	t.Parallel()
	pol := &policy{trusted: netip.MustParsePrefix("127.0.0.0/8")}
	pol.on.Store(true)
	addr := serve(t, pol, 0)
	v2h := string(v2(1, 0x11, v2Addrs(src4, dst4)))
	for _, tc := range []struct {
		name, raw, want string
	}{
		{"v1", "PROXY TCP4 203.0.113.7 198.18.0.1 5555 443\r\n" + get, "203.0.113.7:5555 198.18.0.1:443"},
		{"v1 tcp6", "PROXY TCP6 2001:db8::7 2001:db8::1 5555 80\r\n" + get, "[2001:db8::7]:5555 [2001:db8::1]:80"},
		{"v2", v2h + get, "203.0.113.7:5555 198.18.0.1:443"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := exchange(t, addr, tc.raw)
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	t.Run("unknown keeps the connection's addresses", func(t *testing.T) {
		t.Parallel()
		got, err := exchange(t, addr, "PROXY UNKNOWN\r\n"+get)
		if host := remoteHost(got); err != nil || host != "127.0.0.1" {
			t.Errorf("got %q, %v; want the connection's 127.0.0.1", got, err)
		}
	})
	for _, raw := range []string{get, "PROXY TCP4 203.0.113.7\r\n" + get, "\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x01x" + get} {
		t.Run("no valid header: closed without an answer", func(t *testing.T) {
			t.Parallel()
			if got, err := exchange(t, addr, raw); err == nil {
				t.Errorf("%q: answered %q, want the connection closed", raw, got)
			}
		})
	}
}

func TestListenerUntrustedPeer(t *testing.T) {
	t.Parallel()
	pol := &policy{trusted: netip.MustParsePrefix("10.0.0.0/8")}
	pol.on.Store(true)
	addr := serve(t, pol, 0)
	got, err := exchange(t, addr, "PROXY TCP4 203.0.113.7 198.18.0.1 5555 443\r\n"+get)
	if err != nil {
		t.Fatal(err)
	}
	if host := remoteHost(got); host != "127.0.0.1" {
		t.Errorf("got %q: an untrusted peer's PROXY source was used", got)
	}
}

// TestListenerHeaderTimeout: a client that sends no header is closed
// after HeaderTimeout, and the accept loop serves others meanwhile.
func TestListenerHeaderTimeout(t *testing.T) {
	t.Parallel()
	pol := &policy{trusted: netip.MustParsePrefix("127.0.0.0/8")}
	pol.on.Store(true)
	addr := serve(t, pol, 300*time.Millisecond)
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	if got, err := exchange(t, addr, "PROXY TCP4 203.0.113.7 198.18.0.1 5555 443\r\n"+get); err != nil || got == "" {
		t.Errorf("a second client while one is silent: %q, %v", got, err)
	}
	start := time.Now()
	_ = silent.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = silent.Read(make([]byte, 1))
	if !errors.Is(err, io.EOF) {
		t.Errorf("silent client: read %v, want EOF (closed by the server)", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("silent client closed after %v, want about 300ms", d)
	}
}

// TestListenerHeaderTimeoutFromPolicy: without a Listener HeaderTimeout,
// the live policy's (client-header-timeout) bounds the header of each new
// connection.
func TestListenerHeaderTimeoutFromPolicy(t *testing.T) {
	t.Parallel()
	pol := &policy{trusted: netip.MustParsePrefix("127.0.0.0/8")}
	pol.on.Store(true)
	addr := serve(t, pol, 0) // the server's own head timeout: 10 s
	pol.timeout.Store(int64(300 * time.Millisecond))
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	start := time.Now()
	_ = silent.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err = silent.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("silent client: read %v, want EOF (closed by the server)", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("silent client closed after %v, want about the policy's 300ms", d)
	}
}

// TestListenerSwitchedByPolicy: with the policy off, connections are not
// wrapped and need no header; turning it on takes effect for the next
// connection.
func TestListenerSwitchedByPolicy(t *testing.T) {
	t.Parallel()
	pol := &policy{trusted: netip.MustParsePrefix("127.0.0.0/8")}
	addr := serve(t, pol, 0)
	if got, err := exchange(t, addr, get); err != nil || got == "" {
		t.Fatalf("policy off: %q, %v", got, err)
	}
	pol.on.Store(true)
	if _, err := exchange(t, addr, get); err == nil {
		t.Errorf("policy on: a request without a header was answered")
	}
	if got, err := exchange(t, addr, "PROXY TCP4 203.0.113.7 198.18.0.1 5555 443\r\n"+get); err != nil || got != "203.0.113.7:5555 198.18.0.1:443" {
		t.Errorf("policy on: %q, %v", got, err)
	}
}

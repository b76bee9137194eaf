package h1server

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weir-lb/weir/l7/certs/certstest"
	"github.com/weir-lb/weir/l7/connlimit"
	"github.com/weir-lb/weir/l7/h1guard"
	"github.com/weir-lb/weir/l7/proxyproto"
	"github.com/weir-lb/weir/test/testutil"
)

// connEvents is what the connections of one server did, in order: their
// ConnState changes and their waits for readability ("wait" on the serving
// goroutine, "waiter" on the waiter, "+buffer" added when a buffer is
// held).
type connEvents struct {
	mu     sync.Mutex
	events []string
}

func (e *connEvents) add(ev string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events = append(e.events, ev)
}

// last returns the last event and how many times ev happened.
func (e *connEvents) last(ev string) (string, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, x := range e.events {
		if x == ev {
			n++
		}
	}
	if len(e.events) == 0 {
		return "", n
	}
	return e.events[len(e.events)-1], n
}

// waitedAfter reports whether a wait with no buffer ("wait" or "waiter")
// came after the n-th idle, whatever came next.
func (e *connEvents) waitedAfter(n int) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	idles := 0
	for _, x := range e.events {
		switch {
		case x == "idle":
			idles++
		case idles == n && (x == "wait" || x == "waiter"):
			return true
		}
	}
	return false
}

// moved returns how many idle waits moved to a waiter.
func (e *connEvents) moved() int {
	_, n := e.last("waiter")
	return n
}

// idleEvents maps each test server's *http.Server to its connEvents.
var idleEvents sync.Map

// pollerMaking maps a test server's *http.Server to a function run as its
// Server makes its poller (testHookNoPoller), on Serve's goroutine.
var pollerMaking sync.Map

func init() {
	testHookNoPoller = func(cfg *http.Server) bool {
		if f, ok := pollerMaking.Load(cfg); ok {
			f.(func())()
		}
		v, ok := idleSettings.Load(cfg)
		return ok && v.(waits).alone
	}
	testHookIdleSettings = func(cfg *http.Server, sweepEvery, busyGap time.Duration) (time.Duration, time.Duration) {
		if v, ok := idleSettings.Load(cfg); ok {
			w := v.(waits)
			return w.sweepEvery, w.busyGap
		}
		return sweepEvery, busyGap
	}
	testHookIdleWait = func(c *conn, where string) {
		if e, ok := idleEvents.Load(c.srv.cfg); ok {
			ev := where
			if c.Buf != nil {
				ev += "+buffer"
			}
			e.(*connEvents).add(ev)
		}
	}
}

// watch records cfg's connection events.
func watch(t testing.TB, cfg *http.Server) *connEvents {
	e := &connEvents{}
	idleEvents.Store(cfg, e)
	t.Cleanup(func() { idleEvents.Delete(cfg) })
	prev := cfg.ConnState
	cfg.ConnState = func(c net.Conn, st http.ConnState) {
		e.add(st.String())
		if prev != nil {
			prev(c, st)
		}
	}
	return e
}

// waitIdle waits until the server's connection answered its n-th request
// and waits for the next one holding no buffer, where: on its serving
// goroutine ("wait") or on its waiter ("waiter").
func (e *connEvents) waitIdle(t *testing.T, n int, where string) {
	t.Helper()
	testutil.WaitFor(t, 5*time.Second, "the connection waiting idle with no buffer ("+where+")", func() bool {
		last, idles := e.last("idle")
		return idles == n && last == where
	})
}

// TestIdleWakeUp: a connection that waits idle with no buffer is served
// correctly when it wakes up: pipelined requests sent while it was idle, a
// request split across the wake-up, a head that fills the whole buffer
// with the next request behind it (in the socket; over TLS in crypto/tls's
// buffers). Plain, over TLS, and under connlimit's and the PROXY protocol's
// connections.
func TestIdleWakeUp(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	})
	// A head of exactly the initial read buffer (4096 bytes).
	pad := "GET /full HTTP/1.1\r\nHost: a\r\nX-Pad: \r\n\r\n"
	full := strings.Replace(pad, "X-Pad: ", "X-Pad: "+strings.Repeat("p", 4096-len(pad)), 1)
	for _, tc := range []struct {
		name string
		dial func(t *testing.T, cfg *http.Server, w waits) net.Conn
	}{
		{"plain", func(t *testing.T, cfg *http.Server, w waits) net.Conn {
			waitsOf(t, cfg, w)
			addr, _ := startWith(t, nil, cfg)
			c, _ := dial(t, addr)
			return c
		}},
		{"tls", func(t *testing.T, cfg *http.Server, w waits) net.Conn {
			addr, ccfg := startTLSWaits(t, cfg, w)
			return dialTLS(t, addr, ccfg)
		}},
		{"connlimit+proxyproto", func(t *testing.T, cfg *http.Server, w waits) net.Conn {
			addr, _, _ := startLimited(t, cfg, time.Minute, w, func(ln net.Listener) net.Listener { return proxyproto.Wrap(ln, proxyOn{}) })
			c, _ := dial(t, addr)
			io.WriteString(c, "PROXY TCP4 192.0.2.1 127.0.0.1 1234 80\r\n")
			return c
		}},
	} {
		for _, w := range waitVariants {
			t.Run(tc.name+"/"+w.name, func(t *testing.T) {
				t.Parallel()
				cfg := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
				ev := watch(t, cfg)
				c := tc.dial(t, cfg, w)
				br := bufio.NewReader(c)
				exchange := func(raw string, paths ...string) {
					t.Helper()
					if raw != "" {
						if _, err := io.WriteString(c, raw); err != nil {
							t.Fatalf("write: %v", err)
						}
					}
					for _, p := range paths {
						resp, err := http.ReadResponse(br, nil)
						if err != nil {
							t.Fatalf("response for %s: %v", p, err)
						}
						b, _ := io.ReadAll(resp.Body)
						if resp.StatusCode != 200 || string(b) != p {
							t.Fatalf("response for %s: %d %q", p, resp.StatusCode, b)
						}
					}
				}
				exchange("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n", "/1")
				ev.waitIdle(t, 1, w.first)
				// Two requests at once while idle.
				exchange("GET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n", "/2", "/3")
				ev.waitIdle(t, 3, w.later)
				// A request split across the wake-up: its first bytes wake the
				// connection up, the rest arrives once it is active.
				exchange("GET /4 HTTP/1.1\r\nHo")
				testutil.WaitFor(t, 5*time.Second, "the connection active", func() bool {
					last, _ := ev.last("")
					return last == "active"
				})
				exchange("st: a\r\n\r\n", "/4")
				ev.waitIdle(t, 4, w.later)
				// The buffer is full at the end of a head: the next request is
				// still in the socket or in crypto/tls's buffers.
				exchange(full+"GET /6 HTTP/1.1\r\nHost: a\r\n\r\n", "/full", "/6")
				ev.waitIdle(t, 6, w.later)
			})
		}
	}
}

// waits are the idle settings of a test server: how it chooses where an
// idle connection waits.
type waits struct {
	name                string
	sweepEvery, busyGap time.Duration
	first, later        string // where the first idle wait ends up, and the later ones
	alone               bool   // no poller: a goroutine waits for each idle connection
}

// waitVariants: every idle wait handed to the waiter at once (never busy);
// busy connections waiting on their serving goroutine; those waits moved by
// the sweeper within 2 ms; and every idle wait handed over at once to a
// Server without a poller (its epoll set could not be made).
var waitVariants = []waits{
	{"parked", time.Hour, 0, "waiter", "waiter", false},
	{"serving", time.Hour, time.Hour, "waiter", "wait", false},
	{"moved", time.Millisecond, time.Hour, "waiter", "waiter", false},
	{"alone", time.Hour, 0, "waiter", "waiter", true},
}

// idleSettings maps each test server's *http.Server to its waits.
var idleSettings sync.Map

// waitsOf gives the server configured by cfg the settings of w.
func waitsOf(tb testing.TB, cfg *http.Server, w waits) {
	idleSettings.Store(cfg, w)
	tb.Cleanup(func() { idleSettings.Delete(cfg) })
}

// startTLS serves cfg's Handler over TLS with ServeTLS (HTTP/1.1 only, for
// tls.test) on 127.0.0.1; it returns the address and a client
// configuration. The test closes the server.
func startTLS(tb testing.TB, cfg *http.Server) (string, *tls.Config) {
	tb.Helper()
	return startTLSWaits(tb, cfg, waits{sweepEvery: sweepEvery, busyGap: busyGap})
}

// startTLSWaits is startTLS with the idle settings w.
func startTLSWaits(tb testing.TB, cfg *http.Server, w waits) (string, *tls.Config) {
	tb.Helper()
	addr, ca := startTLSCA(tb, cfg, w)
	return addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "tls.test", NextProtos: []string{"http/1.1"}}
}

// startTLSCA is startTLSWaits returning the CA that issued the server's
// certificate (for "tls.test").
func startTLSCA(tb testing.TB, cfg *http.Server, w waits) (string, *certstest.CA) {
	tb.Helper()
	waitsOf(tb, cfg, w)
	ca := certstest.NewCA(tb)
	tcfg := ca.ServerConfig(tb, "tls.test", "http/1.1")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	g := h1guard.New(h1guard.Options{})
	cfg.Handler = g.TLSHandler(cfg.Handler)
	cfg.TLSConfig = tcfg
	s := ServeTLS(KindWeir, "https", cfg, g, ln, tcfg, nil, make(chan error, 1))
	tb.Cleanup(func() {
		_ = s.Srv.Close()
		<-s.Served
	})
	return ln.Addr().String(), ca
}

// startLimited serves cfg's Handler with a Server, with the idle settings
// w, on 127.0.0.1 behind a connlimit Limiter keeping connections alive for
// keepAlive, its listener wrapped by wrap (nil: none); it returns the
// address, the Server and the Limiter. The test closes the server.
func startLimited(t *testing.T, cfg *http.Server, keepAlive time.Duration, w waits, wrap func(net.Listener) net.Listener) (string, *Server, *connlimit.Limiter) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lim := connlimit.New(connlimit.Options{Source: limits{connlimit.Settings{KeepAlive: keepAlive, KeepAliveRequests: 100}}})
	lim.Configure(cfg)
	waitsOf(t, cfg, w)
	s := New(cfg, h1guard.New(h1guard.Options{}))
	var sl net.Listener = lim.Listener(ln)
	if wrap != nil {
		sl = wrap(sl)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(sl)
	}()
	t.Cleanup(func() {
		_ = s.Close()
		<-done
	})
	return ln.Addr().String(), s, lim
}

// limits is a connlimit.Source with fixed settings.
type limits struct{ s connlimit.Settings }

func (l limits) ConnLimits() connlimit.Settings { return l.s }

// TestIdleKeepAliveTimeout: a connection waiting idle with no buffer, on
// its waiter or on its serving goroutine, is closed at the end of
// connlimit's keep-alive timeout, and the Server reports it closed and
// forgets it.
func TestIdleKeepAliveTimeout(t *testing.T) {
	t.Parallel()
	for _, w := range waitVariants {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			cfg := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }), ReadHeaderTimeout: 10 * time.Second}
			ev := watch(t, cfg)
			addr, s, lim := startLimited(t, cfg, 300*time.Millisecond, w, nil)
			c, br := dial(t, addr)
			for i := 1; i <= 2; i++ { // the second idle wait is a later one
				io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
				if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
					t.Fatalf("request %d: %v %v", i, resp, err)
				} else {
					io.ReadAll(resp.Body)
				}
			}
			// Where the wait is when the timer fires depends on timing
			// (TestIdleWakeUp checks where it goes).
			testutil.WaitFor(t, 5*time.Second, "an idle wait with no buffer", func() bool { return ev.waitedAfter(2) })
			if _, err := br.ReadByte(); err != io.EOF {
				t.Errorf("idle connection after the keep-alive timeout: read %v, want EOF", err)
			}
			testutil.WaitFor(t, 5*time.Second, "the connection closed and forgotten", func() bool {
				last, _ := ev.last("")
				s.mu.Lock()
				n := len(s.conns)
				s.mu.Unlock()
				return last == "closed" && n == 0 && lim.Open() == 0
			})
		})
	}
}

// TestIdleSessionsAcrossConns: connections that wait on their waiters give
// back their session (Request, header maps, request context, TLS state)
// and take one, another connection's, when they wake up: each request still
// sees its own connection's remote address, ConnContext value and TLS
// state.
func TestIdleSessionsAcrossConns(t *testing.T) {
	t.Parallel()
	type ctxKey struct{}
	for _, useTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", useTLS), func(t *testing.T) {
			t.Parallel()
			cfg := &http.Server{
				Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					fmt.Fprintf(w, "%s %v", r.RemoteAddr, r.Context().Value(ctxKey{}))
					if r.TLS != nil {
						ekm, err := r.TLS.ExportKeyingMaterial("weir test", nil, 8)
						fmt.Fprintf(w, " %x %v", ekm, err)
					}
				}),
				ConnContext: func(ctx context.Context, c net.Conn) context.Context {
					return context.WithValue(ctx, ctxKey{}, "conn "+c.RemoteAddr().String())
				},
			}
			ev := watch(t, cfg)
			parked := waitVariants[0]
			var conns []net.Conn
			var wants []string
			if useTLS {
				addr, ccfg := startTLSWaits(t, cfg, parked)
				for range 3 {
					c, err := tls.Dial("tcp", addr, ccfg)
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { c.Close() })
					st := c.ConnectionState()
					ekm, err := st.ExportKeyingMaterial("weir test", nil, 8)
					conns = append(conns, c)
					wants = append(wants, fmt.Sprintf("%s conn %[1]s %x %v", c.LocalAddr(), ekm, err))
				}
			} else {
				waitsOf(t, cfg, parked)
				addr, _ := startWith(t, nil, cfg)
				for range 3 {
					c, _ := dial(t, addr)
					conns = append(conns, c)
					wants = append(wants, fmt.Sprintf("%s conn %[1]s", c.LocalAddr()))
				}
			}
			brs := make([]*bufio.Reader, len(conns))
			for round := range 3 {
				for i, c := range conns {
					_ = c.SetDeadline(time.Now().Add(10 * time.Second))
					io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
					if brs[i] == nil {
						brs[i] = bufio.NewReader(c)
					}
					resp, err := http.ReadResponse(brs[i], nil)
					if err != nil {
						t.Fatalf("round %d, connection %d: %v", round, i, err)
					}
					b, _ := io.ReadAll(resp.Body)
					if string(b) != wants[i] {
						t.Errorf("round %d, connection %d: got %q, want %q", round, i, b, wants[i])
					}
					// Parked before the next connection's request: that one
					// takes this one's session.
					n := round*len(conns) + i + 1
					testutil.WaitFor(t, 5*time.Second, "the connection on its waiter", func() bool { return ev.moved() == n })
				}
			}
		})
	}
}

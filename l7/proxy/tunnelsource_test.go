package proxy

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/weir-lb/weir/test/testutil"
)

// tcpPair returns the two ends of a TCP connection on 127.0.0.1: the
// accepted one (a *net.TCPConn) and the dialled one. The test closes them.
func tcpPair(tb testing.TB) (server, client net.Conn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	tb.Cleanup(func() { client.Close() })
	server, err = ln.Accept()
	if err != nil {
		tb.Fatalf("accept: %v", err)
	}
	tb.Cleanup(func() { server.Close() })
	return server, client
}

// bufferedWrapper is a connection wrapper that reports holding n bytes
// it read (as proxyproto's, with bytes after the PROXY header).
type bufferedWrapper struct {
	net.Conn
	n int
}

func (w bufferedWrapper) Unwrap() net.Conn { return w.Conn }
func (w bufferedWrapper) Buffered() int    { return w.n }

// collector is a tunnelSource's sink that keeps what it is given and
// signals each call on got.
type collector struct {
	got chan string
	// stop, when set, is returned to refuse bytes.
	stop string
}

func newCollector() *collector { return &collector{got: make(chan string, 1024)} }

func (c *collector) sink(b []byte) string {
	c.got <- string(b)
	return c.stop
}

// want waits (up to 10 s) until the sink was given exactly want, in order,
// failing on more or other bytes.
func (c *collector) want(tb testing.TB, want string) {
	tb.Helper()
	var got []byte
	deadline := time.After(10 * time.Second)
	for len(got) < len(want) {
		select {
		case b := <-c.got:
			got = append(got, b...)
		case <-deadline:
			tb.Fatalf("after 10 s the sink has %d of %d bytes", len(got), len(want))
		}
		if !strings.HasPrefix(want, string(got)) {
			tb.Fatalf("the sink got %d bytes that are not a prefix of the %d wanted", len(got), len(want))
		}
	}
}

// relayed runs s.relay on its own goroutine; its result comes on the
// channel.
func relayed(s *tunnelSource, rearm time.Time) <-chan relayResult {
	done := make(chan relayResult, 1)
	go func() {
		stop, err := s.relay(rearm)
		done <- relayResult{stop, err}
	}()
	return done
}

type relayResult struct {
	stop string
	err  error
}

// relayEnd waits (up to 10 s) for relay to return.
func relayEnd(tb testing.TB, done <-chan relayResult) relayResult {
	tb.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(10 * time.Second):
		tb.Fatalf("relay has not returned after 10 s")
		return relayResult{}
	}
}

// TestTunnelSource reads the handshake's buffered bytes (in its
// bufio.Reader and in the server's buffer under it) first, then the
// socket's, directly when only layers that report holding nothing are
// above it; the tunnel's read deadline is back once the socket is read
// (a read waits for bytes instead of timing out), and a close is io.EOF.
func TestTunnelSource(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		wrap    func(net.Conn) net.Conn
		wantRaw bool
	}{
		{"tcp", func(c net.Conn) net.Conn { return c }, true},
		{"under a wrapper holding nothing", func(c net.Conn) net.Conn { return bufferedWrapper{c, 0} }, true},
		{"under a wrapper holding bytes", func(c net.Conn) net.Conn { return bufferedWrapper{c, 3} }, false},
		{"under a wrapper that does not say", func(c net.Conn) net.Conn { return plainWrapper{c} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			server, client := tcpPair(t)
			conn := tc.wrap(server)
			if _, err := io.WriteString(client, "socket1"); err != nil {
				t.Fatal(err)
			}
			// As h1server's hijack: its leftover bytes under a bufio.Reader.
			hs := bufio.NewReader(io.MultiReader(strings.NewReader("early"), conn))
			c := newCollector()
			var s tunnelSource
			s.init(conn, hs, c.sink)
			rearm := time.Now().Add(time.Minute)
			done := relayed(&s, rearm)
			c.want(t, "early")
			if r := relayEnd(t, done); r.stop != "" || r.err != nil {
				t.Fatalf("relay of the handshake's bytes: %+v", r)
			}
			// The rest of the socket's bytes, then one written while relay
			// waits: a socket read directly keeps relaying in one call.
			done = relayed(&s, rearm)
			c.want(t, "socket1")
			if s.raw == nil {
				if r := relayEnd(t, done); r.stop != "" || r.err != nil {
					t.Fatalf("relay of the socket's bytes: %+v", r)
				}
				done = relayed(&s, rearm)
			}
			if s.hs != nil {
				t.Fatalf("the handshake's reader is still read after the socket's bytes")
			}
			if got := s.raw != nil; got != tc.wantRaw {
				t.Errorf("socket read directly = %v, want %v", got, tc.wantRaw)
			}
			if _, err := io.WriteString(client, "late"); err != nil {
				t.Fatal(err)
			}
			c.want(t, "late")
			client.Close()
			if s.raw == nil {
				if r := relayEnd(t, done); r.stop != "" || r.err != nil {
					t.Fatalf("relay of the late bytes: %+v", r)
				}
				done = relayed(&s, rearm)
			}
			if r := relayEnd(t, done); r.stop != "" || !errors.Is(r.err, io.EOF) {
				t.Errorf("relay after the peer closed: %+v; want io.EOF", r)
			}
			if len(c.got) != 0 {
				t.Errorf("the sink was given more: %q", <-c.got)
			}
		})
	}
}

// TestTunnelSourceDeadline: a source with nothing to read returns the
// tunnel's read deadline error (the idle timeout's signal), and a closed
// connection an error; the sink is not called.
func TestTunnelSourceDeadline(t *testing.T) {
	t.Parallel()
	server, _ := tcpPair(t)
	c := newCollector()
	var s tunnelSource
	s.init(server, bufio.NewReader(server), c.sink)
	stop, err := s.relay(time.Now().Add(50 * time.Millisecond))
	if stop != "" || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("idle relay: %q, %v; want %v", stop, err, os.ErrDeadlineExceeded)
	}
	server.Close()
	if stop, err := s.relay(time.Now().Add(time.Minute)); stop != "" || err == nil {
		t.Errorf("relay of a closed connection: %q, %v; want an error", stop, err)
	}
	if len(c.got) != 0 {
		t.Errorf("the sink was called: %q", <-c.got)
	}
}

// rawSource returns a tunnelSource reading server's socket directly into
// c's sink, and checks that the kernel reports the bytes left (TCP_INQ).
func rawSource(tb testing.TB, server net.Conn, c *collector) *tunnelSource {
	tb.Helper()
	s := &tunnelSource{}
	s.init(server, nil, c.sink)
	if s.raw == nil || !s.sock.INQ {
		tb.Fatalf("socket read directly = %v, with TCP_INQ = %v; want both", s.raw != nil, s.sock.INQ)
	}
	return s
}

// pattern returns n bytes that differ from any shift of themselves by a
// few bytes, so that a lost, doubled or reordered chunk shows.
func pattern(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return string(b)
}

// TestTunnelSourceBursts: bytes that arrive while the sink is busy (a
// burst of many small frames, several times the read buffer, written in
// one go while the source is inside its RawConn.Read, in the middle of a
// call of the sink), back to back or after a pause, all reach the sink in
// order, and the source then waits for the next bytes instead of missing
// them: nothing is lost, doubled, reordered or stalled.
func TestTunnelSourceBursts(t *testing.T) {
	t.Parallel()
	server, client := tcpPair(t)
	c := newCollector()
	entered := make(chan struct{})
	release := make(chan struct{})
	first := true
	s := rawSource(t, server, &collector{})
	s.sink = func(b []byte) string {
		if first {
			first = false
			close(entered)
			<-release // the burst is written meanwhile
		}
		return c.sink(b)
	}
	done := relayed(s, time.Now().Add(time.Minute))

	all := pattern(4*copyBufferSize + 1000)
	if _, err := io.WriteString(client, all[:10]); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the sink was not called within 10 s")
	}
	// Frames of 2+100 bytes in one write, larger than the buffer: the
	// socket holds them all while the sink is still busy with the first.
	burst := all[10 : 10+3*copyBufferSize]
	var frames []byte
	for f := range slices.Chunk([]byte(burst), 100) {
		frames = append(frames, 0x82, byte(len(f)))
		frames = append(frames, f...)
	}
	w := make(chan error, 1)
	go func() { _, err := client.Write(frames); w <- err }()
	close(release)
	if err := <-w; err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	want.WriteString(all[:10])
	want.Write(frames)
	c.want(t, want.String())

	// Back to back: many small writes, no pause between them.
	rest := all[10+3*copyBufferSize:]
	for chunk := range slices.Chunk([]byte(rest), 37) {
		if _, err := client.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	c.want(t, rest)
	// After a pause (the source waits in the poller): one more byte.
	if _, err := io.WriteString(client, "!"); err != nil {
		t.Fatal(err)
	}
	c.want(t, "!")
	select {
	case r := <-done:
		t.Fatalf("relay returned while the connection was open and in its deadline: %+v", r)
	default:
	}
	client.Close()
	if r := relayEnd(t, done); r.stop != "" || !errors.Is(r.err, io.EOF) {
		t.Errorf("relay after the peer closed: %+v; want io.EOF", r)
	}
}

// TestTunnelSourceQueuedEnd: what the kernel had queued before a read, with
// its events already taken by the poller (the wake-up that starts the
// read), is found without a wait: the end of the stream right behind the
// last bytes (the source sees io.EOF at once, not at the read deadline),
// and the bytes after an urgent mark, where a TCP read stops short. (A
// read shorter than its buffer taken as "the socket is empty" fails both.)
// A sink that refuses bytes ends relay with its reason.
func TestTunnelSourceQueuedEnd(t *testing.T) {
	t.Parallel()
	rearm := time.Now().Add(time.Minute) // no deadline: a wait would fail the test
	for _, tc := range []struct {
		name string
		send func(*net.TCPConn) // then the FIN
		// queued is what SIOCINQ shows once all is there: it counts up
		// to an urgent mark.
		queued int
		want   string
	}{
		{"fin", func(c *net.TCPConn) { io.WriteString(c, "bye") }, 3, "bye"},
		{"urgent", func(c *net.TCPConn) {
			io.WriteString(c, "abc")
			raw, _ := c.SyscallConn()
			raw.Write(func(fd uintptr) bool {
				if err := unix.Send(int(fd), []byte("X"), unix.MSG_OOB); err != nil {
					t.Errorf("send urgent byte: %v", err)
				}
				return true
			})
			io.WriteString(c, "def")
		}, 3, "abcdef"}, // the urgent byte is out of band, as for any read
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			server, client := tcpPair(t)
			tc.send(client.(*net.TCPConn))
			client.(*net.TCPConn).CloseWrite()
			waitQueued(t, server, tc.queued, true)
			takeEvents(t, server)
			c := newCollector()
			s := rawSource(t, server, c)
			r := relayEnd(t, relayed(s, rearm))
			c.want(t, tc.want)
			if r.stop != "" || !errors.Is(r.err, io.EOF) {
				t.Errorf("relay: %+v; want io.EOF", r)
			}
		})
	}
	t.Run("sink refuses", func(t *testing.T) {
		t.Parallel()
		server, client := tcpPair(t)
		io.WriteString(client, "no")
		c := newCollector()
		c.stop = closeBackend
		s := rawSource(t, server, c)
		r := relayEnd(t, relayed(s, rearm))
		c.want(t, "no")
		if r.stop != closeBackend || r.err != nil {
			t.Errorf("relay: %+v; want stop %q", r, closeBackend)
		}
	})
}

// TestTunnelSourceResetAfterBytes pins the one condition TCP_INQ does not
// report: a reset queued right behind the last bytes. The bytes reach the
// sink at once; the reset is found, at the latest, by the relay after the
// read deadline (the tunnel's idle timeout re-arms and reads again), never
// lost.
func TestTunnelSourceResetAfterBytes(t *testing.T) {
	t.Parallel()
	server, client := tcpPair(t)
	io.WriteString(client, "hello")
	client.(*net.TCPConn).SetLinger(0)
	client.Close() // a reset
	waitQueued(t, server, 5, false)
	takeEvents(t, server)
	c := newCollector()
	s := rawSource(t, server, c)
	server.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	r := relayEnd(t, relayed(s, time.Time{}))
	c.want(t, "hello")
	if errors.Is(r.err, os.ErrDeadlineExceeded) {
		server.SetReadDeadline(time.Now().Add(time.Minute)) // as the pump re-arms
		r = relayEnd(t, relayed(s, time.Time{}))
	}
	if r.stop != "" || !errors.Is(r.err, unix.ECONNRESET) {
		t.Errorf("relay: %+v; want %v", r, unix.ECONNRESET)
	}
}

// takeEvents makes the runtime's poller take c's pending readiness without
// reading: a RawConn.Read that never reads waits until the poller has
// reported c or for 50 ms, whichever comes first. Whatever c had queued is
// then in the state of bytes that came with the wake-up of a read: no event
// will signal them again.
func takeEvents(tb testing.TB, c net.Conn) {
	tb.Helper()
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		tb.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	calls := 0
	raw.Read(func(uintptr) bool { calls++; return calls > 1 })
	c.SetReadDeadline(time.Time{})
}

// waitQueued waits (up to 10 s) until c's socket has n bytes queued and
// the peer's FIN (fin) or reset (!fin) was received.
func waitQueued(tb testing.TB, c net.Conn, n int, fin bool) {
	tb.Helper()
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		tb.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		var queued int
		var state uint8
		raw.Control(func(fd uintptr) {
			queued, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ)
			if info, err := unix.GetsockoptTCPInfo(int(fd), unix.SOL_TCP, unix.TCP_INFO); err == nil {
				state = info.State
			}
		})
		want := uint8(unix.BPF_TCP_CLOSE_WAIT)
		if !fin {
			want = unix.BPF_TCP_CLOSE
		}
		if queued >= n && state == want {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after 10 s: %d bytes queued, TCP state %d; want %d and state %d", queued, state, n, want)
		}
		time.Sleep(time.Millisecond) // polls the kernel's state, bounded by the deadline
	}
}

// TestRawSocketTLS: a TLS connection is never read under its records.
func TestRawSocketTLS(t *testing.T) {
	t.Parallel()
	server, _ := tcpPair(t)
	if rawSocket(tls.Server(server, &tls.Config{})) != nil {
		t.Errorf("a TLS connection's socket is read directly")
	}
	if rawSocket(bufferedWrapper{tls.Server(server, &tls.Config{}), 0}) != nil {
		t.Errorf("a TLS connection's socket under a wrapper is read directly")
	}
}

// BenchmarkIdleWebSocket opens b.N WebSocket tunnels through the proxy,
// each relaying one frame each way, and reports the memory grown per
// tunnel once all are idle (B/idle-tunnel, of which goroutine stacks:
// stack-B/idle-tunnel). Its client (a raw connection) and its backend (a
// raw connection and a goroutine with a 512-byte buffer per tunnel) are in
// the same process and counted in.
//
//	go test ./l7/proxy -run '^$' -bench IdleWebSocket -benchtime 1000x
func BenchmarkIdleWebSocket(b *testing.B) {
	up := rawBackend(b, func(c net.Conn) {
		buf := make([]byte, 512)
		if _, _, err := readHead(c, buf); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		if _, err := c.Read(buf); err != nil { // the client's frame
			return
		}
		c.Write([]byte{0x81, 2, 'o', 'k'})
		c.Read(buf) // idle until the benchmark closes the tunnel
	})
	_, srv := front(b, Options{}, snap(1, "bench.local", backendOf("ws", []string{up})))
	req := "GET /ws HTTP/1.1\r\nHost: bench.local\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
	frame := clientFrame("hi")
	conns := make([]net.Conn, 0, b.N)
	b.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	before, stackBefore := testutil.InUse()
	b.ReportAllocs()
	buf := make([]byte, 1024)
	for range b.N {
		c, err := net.Dial("tcp", addr(srv))
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, req); err != nil {
			b.Fatal(err)
		}
		n, end, err := readHead(c, buf)
		if err != nil {
			b.Fatalf("read 101: %v", err)
		}
		if !bytes.HasPrefix(buf, []byte("HTTP/1.1 101 ")) {
			b.Fatalf("handshake: got %q", buf[:end])
		}
		if _, err := c.Write(frame); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf[:4-(n-end-4)]); err != nil {
			b.Fatalf("read the backend's frame: %v", err)
		}
	}
	b.StopTimer()
	after, stackAfter := testutil.InUse()
	b.ReportMetric(float64(after-before)/float64(b.N), "B/idle-tunnel")
	b.ReportMetric(float64(stackAfter-stackBefore)/float64(b.N), "stack-B/idle-tunnel")
}

// BenchmarkWebSocketEcho relays b.N 1 KiB messages each way through one
// WebSocket tunnel, one at a time: its client (a raw connection writing a
// fixed masked frame and reading the echo into a fixed buffer) and its
// backend (a raw connection echoing what it reads through a fixed buffer)
// allocate nothing per message, so allocs/op and mallocs/msg are the
// tunnel's.
//
//	go test ./l7/proxy -run '^$' -bench WebSocketEcho -benchmem -benchtime 20000x
func BenchmarkWebSocketEcho(b *testing.B) {
	up := rawBackend(b, func(c net.Conn) {
		_ = c.SetDeadline(time.Time{})
		buf := make([]byte, 32<<10)
		if _, _, err := readHead(c, buf); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		for {
			m, err := c.Read(buf)
			if err != nil {
				return
			}
			if _, err := c.Write(buf[:m]); err != nil {
				return
			}
		}
	})
	_, srv := front(b, Options{}, snap(1, "bench.local", backendOf("ws", []string{up})))
	c := dialUpgraded(b, srv, "bench.local", "/ws")
	buf := make([]byte, 4096)
	// A masked binary frame of 1 KiB (2-byte extended length), echoed
	// unchanged by the backend.
	frame := append([]byte{0x82, 0x80 | 126, 0x04, 0x00, 1, 2, 3, 4}, make([]byte, 1024)...)
	roundTrip := func() {
		if _, err := c.Write(frame); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf[:len(frame)]); err != nil {
			b.Fatal(err)
		}
	}
	for range 100 {
		roundTrip()
	}
	b.ReportAllocs()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for range b.N {
		roundTrip()
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N), "mallocs/msg")
}

// dialUpgraded dials srv and upgrades the connection to a WebSocket for
// host and path, the raw way: it returns once the 101's head is read (the
// backend sends nothing after it). The test closes it.
func dialUpgraded(tb testing.TB, srv *httptest.Server, host, path string) net.Conn {
	tb.Helper()
	c, err := net.Dial("tcp", addr(srv))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", path, host)
	buf := make([]byte, 1024)
	if _, _, err := readHead(c, buf); err != nil {
		tb.Fatalf("read 101: %v", err)
	}
	return c
}

// readHead reads c into buf until it holds a whole HTTP head: n bytes, the
// head ending at end (its blank line excluded).
func readHead(c net.Conn, buf []byte) (n, end int, err error) {
	for end = -1; end < 0; end = bytes.Index(buf[:n], []byte("\r\n\r\n")) {
		if n == len(buf) {
			return n, -1, errors.New("head too large")
		}
		m, err := c.Read(buf[n:])
		if err != nil {
			return n, -1, err
		}
		n += m
	}
	return n, end, nil
}

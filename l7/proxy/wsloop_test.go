package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

// loopTunnel is a tunnel of two TCP connections run by the relay loop, and
// the peers at their other ends: what a client and a backend hold.
type loopTunnel struct {
	t             *tunnel
	client, bknd  net.Conn // the peers
	clientR       *bufio.Reader
	reason        chan string // run's result
	proxyC, proxB net.Conn    // the tunnel's own ends
}

const loopHead = "HTTP/1.1 101 Switching Protocols\r\n\r\n"

// newLoopTunnel runs a tunnel with timeouts to on the relay loop; before,
// if not nil, runs first (to edit the connections, or send early bytes).
// It returns once the client has read the 101.
func newLoopTunnel(tb testing.TB, to timeouts, before func(*loopTunnel)) *loopTunnel {
	tb.Helper()
	loop := relayLoopOf()
	if loop == nil {
		tb.Fatalf("no relay loop: %v", theRelay.err)
	}
	pc, client := tcpPair(tb)
	pb, bknd := tcpPair(tb)
	lt := &loopTunnel{client: client, bknd: bknd, clientR: bufio.NewReader(client), reason: make(chan string, 1), proxyC: pc, proxB: pb}
	if before != nil {
		before(lt)
	}
	lt.t = newTunnel(pc, pb, pc, pb, to, loop)
	if lt.t.loop == nil {
		tb.Fatal("a tunnel of two TCP connections is not the loop's")
	}
	lt.t.head = loopHead
	go func() { lt.reason <- lt.t.run() }()
	head := make([]byte, len(loopHead))
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(lt.clientR, head); err != nil || string(head) != loopHead {
		tb.Fatalf("101: %q, %v", head, err)
	}
	return lt
}

// end waits for the tunnel to end and returns why.
func (lt *loopTunnel) end(tb testing.TB) string {
	tb.Helper()
	select {
	case r := <-lt.reason:
		return r
	case <-time.After(10 * time.Second):
		tb.Fatal("the tunnel did not end within 10s")
		return ""
	}
}

// readFull reads len(want) bytes of r within 5 s and compares them.
func readFull(tb testing.TB, c net.Conn, r io.Reader, want string) {
	tb.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len(want))
	if _, err := io.ReadFull(r, got); err != nil {
		tb.Fatalf("read %d bytes: %v (got %d)", len(want), err, len(got))
	}
	if string(got) != want {
		tb.Fatalf("read %q, want %q", got[:min(len(got), 64)], want[:min(len(want), 64)])
	}
}

var longTimeouts = timeouts{read: 30 * time.Second, send: 30 * time.Second}

// TestRelayLoopRelaysBothWays: bytes go both ways, as often as asked; the
// counts are the body bytes each way.
func TestRelayLoopRelaysBothWays(t *testing.T) {
	t.Parallel()
	lt := newLoopTunnel(t, longTimeouts, nil)
	up, down := 0, 0
	for i := range 50 {
		msg := pattern(1 + i*97)
		if _, err := io.WriteString(lt.client, msg); err != nil {
			t.Fatal(err)
		}
		readFull(t, lt.bknd, lt.bknd, msg)
		if _, err := io.WriteString(lt.bknd, msg+"!"); err != nil {
			t.Fatal(err)
		}
		readFull(t, lt.client, lt.clientR, msg+"!")
		up, down = up+len(msg), down+len(msg)+1
	}
	lt.bknd.Close()
	if r := lt.end(t); r != closeBackend {
		t.Errorf("reason %q after the backend's close, want %q", r, closeBackend)
	}
	if got := lt.t.toBackend.Load(); got != int64(up) {
		t.Errorf("bytes to the backend %d, want %d", got, up)
	}
	if got := lt.t.toClient.Load(); got != int64(down) {
		t.Errorf("bytes to the client %d, want %d (the 101 not counted)", got, down)
	}
}

// TestRelayLoopEnds: a FIN or a reset on either side ends the tunnel with
// that side's reason and closes the other side.
func TestRelayLoopEnds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		reset  bool
		client bool
		want   string
	}{
		{"client fin", false, true, closeClient},
		{"backend fin", false, false, closeBackend},
		{"client reset", true, true, closeClient},
		{"backend reset", true, false, closeBackend},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lt := newLoopTunnel(t, longTimeouts, nil)
			// Bytes first: the end comes after traffic, as usual.
			io.WriteString(lt.client, "hello")
			readFull(t, lt.bknd, lt.bknd, "hello")
			closing, other, otherR := lt.client, lt.bknd, io.Reader(lt.bknd)
			if !tc.client {
				closing, other, otherR = lt.bknd, lt.client, lt.clientR
			}
			if tc.reset {
				_ = closing.(*net.TCPConn).SetLinger(0)
			}
			closing.Close()
			if r := lt.end(t); r != tc.want {
				t.Errorf("reason %q, want %q", r, tc.want)
			}
			_ = other.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := otherR.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("the other side read %d, %v; want it closed", n, err)
			}
		})
	}
}

// TestRelayLoopIdleTimeout: no byte either way for the read timeout ends
// the tunnel; traffic one way keeps it open past it.
func TestRelayLoopIdleTimeout(t *testing.T) {
	t.Parallel()
	const read = 400 * time.Millisecond
	lt := newLoopTunnel(t, timeouts{read: read, send: 30 * time.Second}, nil)
	start := time.Now()
	// Backend pushes alone, every read/4, for 3 read timeouts.
	var idle time.Time
	for {
		io.WriteString(lt.bknd, "tick")
		readFull(t, lt.client, lt.clientR, "tick")
		idle = time.Now()
		if idle.Sub(start) > 3*read {
			break
		}
		select {
		case r := <-lt.reason:
			t.Fatalf("ended (%q) after %v of traffic", r, time.Since(start))
		case <-time.After(read / 4): // the traffic's pace, not a wait for the tunnel
		}
	}
	if r := lt.end(t); r != closeReadTimeout {
		t.Errorf("reason %q, want %q", r, closeReadTimeout)
	}
	if d := time.Since(idle); d < read-50*time.Millisecond || d > read+2*time.Second {
		t.Errorf("ended after %v idle, want about %v", d, read)
	}
}

// TestRelayLoopShortWrites: a backend that reads slowly, behind small
// socket buffers, makes the loop's writes short: every byte still arrives,
// in order, and the client's bytes wait meanwhile.
func TestRelayLoopShortWrites(t *testing.T) {
	t.Parallel()
	lt := newLoopTunnel(t, longTimeouts, func(lt *loopTunnel) {
		_ = lt.proxB.(*net.TCPConn).SetWriteBuffer(4 << 10)
	})
	const size = 8 << 20
	msg := pattern(size)
	werr := make(chan error, 1)
	go func() {
		_ = lt.client.SetWriteDeadline(time.Now().Add(20 * time.Second))
		_, err := io.WriteString(lt.client, msg)
		werr <- err
	}()
	// Small reads, so that the proxy's small socket buffer fills.
	_ = lt.bknd.SetReadDeadline(time.Now().Add(20 * time.Second))
	got := make([]byte, 0, size)
	buf := make([]byte, 4<<10)
	for len(got) < size {
		n, err := lt.bknd.Read(buf[:min(len(buf), size-len(got))])
		if err != nil {
			t.Fatalf("backend read after %d bytes: %v", len(got), err)
		}
		got = append(got, buf[:n]...)
	}
	if string(got) != msg {
		t.Fatal("the backend read other bytes than the client wrote")
	}
	if err := <-werr; err != nil {
		t.Fatalf("client write: %v", err)
	}
	// Then the other way still works.
	io.WriteString(lt.bknd, "back")
	readFull(t, lt.client, lt.clientR, "back")
	lt.client.Close()
	if r := lt.end(t); r != closeClient {
		t.Errorf("reason %q, want %q", r, closeClient)
	}
	if got := lt.t.toBackend.Load(); got != size {
		t.Errorf("bytes to the backend %d, want %d", got, size)
	}
	if lt.t.lp.shortWrites == 0 {
		t.Error("no write to the backend was short")
	}
}

// TestRelayLoopSendTimeout: a side that never reads while the other keeps
// writing ends the tunnel after its send timeout (the writer's writes stay
// blocked: the loop does not read it while bytes are pending). To the
// backend it is proxy-send-timeout; to the client nginx's send_timeout
// (timeouts.client), not proxy-send-timeout nor proxy-read-timeout:
// ngx_http_upstream_process_upgraded bounds the write to the client by
// send_timeout and arms no read timer while the upstream's bytes wait.
func TestRelayLoopSendTimeout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		to       timeouts
		toClient bool          // the client is the side that does not read
		want     time.Duration // the least time before the end
	}{
		{"backend", timeouts{read: 30 * time.Second, send: 400 * time.Millisecond}, false, 400 * time.Millisecond},
		// read < client, so that a read timer wrongly running while the
		// client write is blocked ends it first; read is still long
		// enough for the setup under -race on a loaded machine.
		{"client", timeouts{read: 2 * time.Second, send: 300 * time.Millisecond, client: 4 * time.Second}, true, 4 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lt := newLoopTunnel(t, tc.to, func(lt *loopTunnel) {
				own := lt.proxB
				if tc.toClient {
					own = lt.proxyC
				}
				_ = own.(*net.TCPConn).SetWriteBuffer(4 << 10)
			})
			deaf, writer := lt.bknd, lt.client
			if tc.toClient {
				deaf, writer = lt.client, lt.bknd
			}
			_ = deaf.(*net.TCPConn).SetReadBuffer(4 << 10)
			// The first 64 KiB are written before the clock starts, so
			// that a loaded machine slow to run the writer goroutine
			// does not leave the tunnel idle past its read timeout.
			data := pattern(16 << 20)
			_ = writer.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(writer, data[:64<<10]); err != nil {
				t.Fatal(err)
			}
			go func() { _, _ = io.WriteString(writer, data[64<<10:]) }()
			start := time.Now()
			if r := lt.end(t); r != closeSendTimeout {
				t.Errorf("reason %q, want %q", r, closeSendTimeout)
			}
			if d := time.Since(start); d < tc.want-50*time.Millisecond {
				t.Errorf("ended after %v, want the send timeout (%v) at least", d, tc.want)
			}
		})
	}
}

// TestRelayLoopGoAwayAfterPending: GoAway of a loop tunnel with bytes of
// the backend's whole frames pending to a client that was not reading
// sends them, then the close frame, once the client reads.
func TestRelayLoopGoAwayAfterPending(t *testing.T) {
	t.Parallel()
	lt := newLoopTunnel(t, longTimeouts, func(lt *loopTunnel) {
		_ = lt.proxyC.(*net.TCPConn).SetWriteBuffer(4 << 10)
	})
	// Binary frames of 60 KiB, each written once the loop has read the
	// last (one read of its 64 KiB buffer each, so that what is pending
	// ends a frame), until the client, which does not read, takes no more.
	frame := append([]byte{0x82, 126, 0xf0, 0x00}, pattern(60<<10)...)
	var stream []byte
	for range 1000 {
		if _, err := lt.bknd.Write(frame); err != nil {
			t.Fatal(err)
		}
		stream = append(stream, frame...)
		waitFor(t, "the frame read from the backend", func() bool { return queuedBytes(t, lt.proxB) == 0 })
		if lt.t.toClient.Load() < int64(len(loopHead)+len(stream)) {
			break // pending, or about to be written
		}
	}
	done := make(chan struct{})
	go func() {
		lt.t.goAway()
		close(done)
	}()
	readFull(t, lt.client, lt.clientR, string(stream)+string(goAwayFrame[:]))
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("goAway did not return")
	}
	if r := lt.end(t); r != closeShutdown {
		t.Errorf("reason %q, want %q", r, closeShutdown)
	}
	if lt.t.lp.shortWrites == 0 {
		t.Error("no write to the client was short: nothing was pending")
	}
}

// queuedBytes returns how many bytes c's socket holds unread.
func queuedBytes(tb testing.TB, c net.Conn) int {
	tb.Helper()
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		tb.Fatal(err)
	}
	n := -1
	_ = raw.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ) })
	return n
}

// TestRelayLoopOwnsPlainTunnels: a WebSocket over plain TCP both sides is
// the loop's; one over TLS on the client's side keeps goroutine pumps;
// both echo.
func TestRelayLoopOwnsPlainTunnels(t *testing.T) {
	t.Parallel()
	for _, overTLS := range []bool{false, true} {
		be := newWSEcho(t, "")
		s := snap(1, "foo.com", backendOf("ws", []string{addr(be.srv)}))
		var p *Proxy
		var c *websocket.Conn
		if overTLS {
			p = New(Options{Registry: prometheus.NewRegistry()})
			if err := p.Apply(s); err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewTLSServer(p)
			t.Cleanup(func() {
				srv.Close()
				p.Close()
			})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var err error
			c, _, err = websocket.Dial(ctx, "wss://"+addr(srv)+"/", &websocket.DialOptions{HTTPClient: srv.Client(), Host: "foo.com"})
			if err != nil {
				t.Fatalf("dial over TLS: %v", err)
			}
			t.Cleanup(func() { c.CloseNow() })
		} else {
			var srv *httptest.Server
			p, srv = front(t, Options{Registry: prometheus.NewRegistry()}, s)
			c = dialWS(t, srv, "foo.com", "/")
		}
		echo(t, c, "one")
		waitFor(t, "one tunnel", func() bool { return p.Tunnels() == 1 })
		tn := p.tunnels.all()[0]
		tn.toClientMu.Lock()
		onLoop := tn.onLoop
		tn.toClientMu.Unlock()
		if want := !overTLS && wsLoopOn; onLoop != want {
			t.Errorf("TLS %v, %s=%q: tunnel on the loop = %v, want %v", overTLS, wsLoopEnv, os.Getenv(wsLoopEnv), onLoop, want)
		}
		echo(t, c, strings.Repeat("two", 1000))
	}
}

// TestRelayLoopTLSKeepsPumps: a tunnel with a TLS side is never the loop's.
func TestRelayLoopTLSKeepsPumps(t *testing.T) {
	t.Parallel()
	pc, _ := tcpPair(t)
	pb, _ := tcpPair(t)
	tc := tls.Client(pc, &tls.Config{InsecureSkipVerify: true})
	if tn := newTunnel(tc, pb, tc, pb, longTimeouts, relayLoopOf()); tn.loop != nil {
		t.Error("a tunnel with a TLS client side is the loop's")
	}
	tb := tls.Client(pb, &tls.Config{InsecureSkipVerify: true})
	if tn := newTunnel(pc, tb, pc, tb, longTimeouts, relayLoopOf()); tn.loop != nil {
		t.Error("a tunnel with a TLS backend side is the loop's")
	}
}

// TestRelayLoopBulk: 16 MiB each way at once through one tunnel arrive
// whole and in order, while a second tunnel's small messages keep going
// through the same loop; the first 3 MiB from the client wait in its
// socket before the tunnel starts, so that the loop reads full buffers on
// end and lets the other sockets go between (again).
func TestRelayLoopBulk(t *testing.T) {
	t.Parallel()
	const size, early = 16 << 20, 3 << 20
	msg := pattern(size)
	bulk := newLoopTunnel(t, longTimeouts, func(lt *loopTunnel) {
		_ = lt.proxyC.(*net.TCPConn).SetReadBuffer(4 << 20)
		_ = lt.proxB.(*net.TCPConn).SetWriteBuffer(4 << 20)
		_ = lt.client.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(lt.client, msg[:early]); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the early bytes queued", func() bool { return queuedBytes(t, lt.proxyC) == early })
	})
	small := newLoopTunnel(t, longTimeouts, nil)
	errs := make(chan error, 4)
	send := func(c net.Conn, b string) {
		_ = c.SetWriteDeadline(time.Now().Add(20 * time.Second))
		_, err := io.WriteString(c, b)
		errs <- err
	}
	recv := func(c net.Conn, r io.Reader) {
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		got := make([]byte, size)
		_, err := io.ReadFull(r, got)
		if err == nil && string(got) != msg {
			err = errors.New("other bytes than were sent")
		}
		errs <- err
	}
	go recv(bulk.bknd, bulk.bknd)
	go recv(bulk.client, bulk.clientR)
	go send(bulk.client, msg[early:])
	go send(bulk.bknd, msg)
	for i := range 20 {
		m := pattern(10 + i)
		io.WriteString(small.client, m)
		readFull(t, small.bknd, small.bknd, m)
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "16 MiB counted to the backend", func() bool { return bulk.t.toBackend.Load() == size })
}

// TestRelayLoopGoAwayMidFrame: GoAway of a loop tunnel in the middle of a
// backend frame closes it without a close frame (the frame cannot be
// completed).
func TestRelayLoopGoAwayMidFrame(t *testing.T) {
	t.Parallel()
	lt := newLoopTunnel(t, longTimeouts, nil)
	part := string([]byte{0x82, 100}) + pattern(10) // 10 of the frame's 100 bytes
	io.WriteString(lt.bknd, part)
	readFull(t, lt.client, lt.clientR, part)
	lt.t.goAway()
	if r := lt.end(t); r != closeShutdown {
		t.Errorf("reason %q, want %q", r, closeShutdown)
	}
	_ = lt.client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(lt.clientR); len(b) != 0 || err != nil {
		t.Errorf("after GoAway the client read %q, %v; want the end of the stream and nothing before", b, err)
	}
}

package proxy

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

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

// readSource reads s until it has want bytes, failing on an error.
func readSource(tb testing.TB, s *tunnelSource, rearm time.Time, want int) string {
	tb.Helper()
	var got []byte
	for len(got) < want {
		b, n, err := s.read(rearm)
		if n > 0 {
			got = append(got, b[:n]...)
			copyBuffers.Put(b)
		} else if b != nil {
			tb.Fatalf("read returned a buffer with no bytes")
		}
		if err != nil {
			tb.Fatalf("read after %q: %v", got, err)
		}
	}
	return string(got)
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
			var s tunnelSource
			s.init(conn, hs)
			rearm := time.Now().Add(time.Minute)
			if got := readSource(t, &s, rearm, len("earlysocket1")); got != "earlysocket1" {
				t.Fatalf("read %q, want %q", got, "earlysocket1")
			}
			if s.hs != nil {
				t.Fatalf("the handshake's reader is still read after the socket's bytes")
			}
			if got := s.raw != nil; got != tc.wantRaw {
				t.Errorf("socket read directly = %v, want %v", got, tc.wantRaw)
			}
			done := make(chan string, 1)
			go func() {
				b, n, err := s.read(rearm)
				if err != nil {
					done <- "error: " + err.Error()
					return
				}
				done <- string(b[:n])
				copyBuffers.Put(b)
			}()
			if _, err := io.WriteString(client, "late"); err != nil {
				t.Fatal(err)
			}
			if got := <-done; got != "late" {
				t.Fatalf("read after the handshake's bytes: %s, want %q", got, "late")
			}
			client.Close()
			b, n, err := s.read(rearm)
			if n != 0 || b != nil || !errors.Is(err, io.EOF) {
				t.Errorf("read after the peer closed: %d bytes, buffer %v, %v; want io.EOF", n, b != nil, err)
			}
		})
	}
}

// TestTunnelSourceDeadline: a source with nothing to read returns the
// tunnel's read deadline error (the idle timeout's signal), and a closed
// connection an error, both without a buffer.
func TestTunnelSourceDeadline(t *testing.T) {
	t.Parallel()
	server, _ := tcpPair(t)
	var s tunnelSource
	s.init(server, bufio.NewReader(server))
	b, n, err := s.read(time.Now().Add(50 * time.Millisecond))
	if n != 0 || b != nil || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("idle read: %d bytes, buffer %v, %v; want %v", n, b != nil, err, os.ErrDeadlineExceeded)
	}
	server.Close()
	if b, n, err := s.read(time.Now().Add(time.Minute)); n != 0 || b != nil || err == nil {
		t.Errorf("read of a closed connection: %d bytes, buffer %v, %v; want an error", n, b != nil, err)
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
	c, err := net.Dial("tcp", addr(srv))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: bench.local\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	buf := make([]byte, 4096)
	if _, _, err := readHead(c, buf); err != nil {
		b.Fatalf("read 101: %v", err)
	}
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

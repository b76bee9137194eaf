package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
)

// GoAway sends every open tunnel's client a close frame with status 1001
// after the backend's last whole frame, and closes the tunnel.
func TestGoAwayClosesWebSockets(t *testing.T) {
	t.Parallel()
	be := newWSEcho(t, "")
	p, srv := front(t, Options{Registry: prometheus.NewRegistry()}, snap(1, "foo.com", backendOf("ws", []string{addr(be.srv)})))
	c := dialWS(t, srv, "foo.com", "/")
	c.SetReadLimit(1 << 20)
	echo(t, c, strings.Repeat("x", 200<<10)) // a frame with a 64-bit length
	echo(t, c, "short")
	waitFor(t, "one tunnel", func() bool { return p.Tunnels() == 1 })
	p.GoAway()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, err := c.Read(ctx)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusGoingAway {
		t.Fatalf("read after GoAway: %v, want a close frame 1001", err)
	}
	waitFor(t, "the tunnel counted as closed by the shutdown", func() bool {
		return p.Tunnels() == 0 && closes(p, closeShutdown) == 1
	})
}

func TestFrameCursor(t *testing.T) {
	t.Parallel()
	frame := func(payload int, masked bool) []byte {
		b := []byte{0x82}
		m := byte(0)
		if masked {
			m = 0x80
		}
		switch {
		case payload < 126:
			b = append(b, m|byte(payload))
		case payload < 1<<16:
			b = append(b, m|126, byte(payload>>8), byte(payload))
		default:
			b = append(b, m|127, 0, 0, 0, 0, byte(payload>>24), byte(payload>>16), byte(payload>>8), byte(payload))
		}
		if masked {
			b = append(b, 1, 2, 3, 4)
		}
		return append(b, make([]byte, payload)...)
	}
	var stream []byte
	var ends []int // offsets where a frame ends
	for _, f := range [][]byte{frame(0, false), frame(5, false), frame(300, true), frame(70000, false), frame(125, true)} {
		stream = append(stream, f...)
		ends = append(ends, len(stream))
	}
	isEnd := map[int]bool{0: true}
	for _, e := range ends {
		isEnd[e] = true
	}
	for _, chunk := range []int{1, 2, 3, 7, 4096, len(stream)} {
		t.Run(fmt.Sprint("chunk=", chunk), func(t *testing.T) {
			var c frameCursor
			for off := 0; off < len(stream); off += chunk {
				end := min(off+chunk, len(stream))
				c.advance(stream[off:end])
				// At a chunk's end, atBoundary must say whether a frame ends there.
				if got := c.atBoundary(); got != isEnd[end] {
					t.Fatalf("after %d bytes: atBoundary %v, want %v", end, got, isEnd[end])
				}
			}
		})
	}
}

// TestGoAwayWhileWriteBlocked: GoAway ends, at once, a tunnel whose pump
// is blocked writing to a backend that does not read, from inside its
// read of the client's socket (tunnelsource.go), which a Close of the
// client waits for; the write is broken by end's deadline, not left to
// proxy-send-timeout (60 s here).
func TestGoAwayWhileWriteBlocked(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	up := rawBackend(t, func(c net.Conn) {
		buf := make([]byte, 1024)
		if _, _, err := readHead(c, buf); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		<-release // never reads
	})
	t.Cleanup(func() { close(release) }) // before rawBackend's cleanup waits for this
	p, srv := front(t, Options{Registry: prometheus.NewRegistry()},
		snap(1, "foo.com", backendOf("ws", []string{up}, readTimeout(60), sendTimeout(60))))
	c := dialUpgraded(t, srv, "foo.com", "/")
	// Write until the socket buffers on the way are full: the proxy's
	// write to the backend is then blocked (at most 256 MiB).
	frame := clientFrame(strings.Repeat("z", 100))
	full := false
	for range (256 << 20) / len(frame) {
		_ = c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := c.Write(frame); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("write: %v", err)
			}
			full = true
			break
		}
	}
	if !full {
		t.Fatal("256 MiB written to a backend that does not read")
	}
	done := make(chan struct{})
	go func() {
		p.GoAway()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("GoAway has not returned after 10 s")
	}
	waitFor(t, "the tunnel counted as closed by the shutdown", func() bool {
		return p.Tunnels() == 0 && closes(p, closeShutdown) == 1
	})
}

package proxy

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"
)

// goAwayWrite bounds the wait for the stream to the client and the write of
// the close frame, for a client that does not read.
const goAwayWrite = time.Second

// tunnelSet holds the open WebSocket tunnels, for GoAway.
type tunnelSet struct {
	mu sync.Mutex
	m  map[*tunnel]struct{}
}

func (s *tunnelSet) add(t *tunnel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[*tunnel]struct{}{}
	}
	s.m[t] = struct{}{}
}

func (s *tunnelSet) remove(t *tunnel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, t)
}

func (s *tunnelSet) all() []*tunnel {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*tunnel, 0, len(s.m))
	for t := range s.m {
		out = append(out, t)
	}
	return out
}

// Tunnels is the number of open WebSocket tunnels.
func (p *Proxy) Tunnels() int {
	p.tunnels.mu.Lock()
	defer p.tunnels.mu.Unlock()
	return len(p.tunnels.m)
}

// GoAway ends every open WebSocket tunnel as a shutdown does, at the end of
// worker-shutdown-timeout: the client gets a close frame with status 1001
// (going away) between two of the backend's frames, then both connections
// close. A tunnel cut in the middle of a backend frame closes without one
// (the frame cannot be completed). It returns once every tunnel is closed.
func (p *Proxy) GoAway() {
	var wg sync.WaitGroup
	for _, t := range p.tunnels.all() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.goAway()
		}()
	}
	wg.Wait()
}

// goAway sends the client a 1001 close frame, if the stream to it is at a
// frame boundary, and ends the tunnel.
func (t *tunnel) goAway() {
	_ = t.backend.SetReadDeadline(time.Now()) // the backend pump stops reading
	// A write to a client that does not read holds the lock up to
	// proxy-send-timeout: such a client gets no close frame.
	deadline := time.Now().Add(goAwayWrite)
	for !t.toClientMu.TryLock() {
		if time.Now().After(deadline) {
			t.end(closeShutdown)
			return
		}
		time.Sleep(10 * time.Millisecond) // polls the lock, bounded by goAwayWrite
	}
	if t.onLoop {
		// The loop owns the tunnel: it sends the frame and ends it
		// (wsloop.go), within goAwayWrite.
		t.loop.post(relayCmd{t: t, goAway: true})
		t.toClientMu.Unlock()
		<-t.ended
		return
	}
	t.goneAway = true
	if t.headSent && t.frames.atBoundary() {
		_ = t.client.SetWriteDeadline(time.Now().Add(goAwayWrite))
		frame := goAwayFrame
		if n, err := t.client.Write(frame[:]); err == nil {
			t.toClient.Add(int64(n))
			closeWrite(t.client)
		}
	}
	t.toClientMu.Unlock()
	t.end(closeShutdown)
}

// writeClient writes b, bytes of the backend's stream, to the client and
// moves the frame cursor over it; it returns "" once all of b is written,
// else why the tunnel must close (as write). After goAway nothing more is
// written.
func (t *tunnel) writeClient(b []byte, count *atomic.Int64) string {
	t.toClientMu.Lock()
	defer t.toClientMu.Unlock()
	if t.goneAway {
		return closeShutdown // goAway sent the close frame and ends the tunnel
	}
	if stop := t.write(t.client, b, closeClient, count); stop != "" {
		return stop
	}
	t.frames.advance(b)
	return ""
}

// frameCursor follows the WebSocket frames of one direction of a tunnel
// (RFC 6455 5.2) without buffering them: how much of the current frame's
// header has been seen and how much of its payload is still to come.
type frameCursor struct {
	hdr     [14]byte
	got     int    // header bytes seen; 0 between frames
	inBody  bool   // the header is complete and payload bytes are to come
	payload uint64 // payload bytes still to come
}

// atBoundary reports whether the bytes so far end a frame.
func (c *frameCursor) atBoundary() bool { return c.got == 0 && !c.inBody }

// headerLen is the length of a header whose second byte is b1.
func headerLen(b1 byte) int {
	n := 2
	switch b1 & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&0x80 != 0 {
		n += 4 // masking key
	}
	return n
}

// payloadLen is the payload length a whole frame header h gives.
func payloadLen(h []byte) uint64 {
	switch l := h[1] & 0x7f; l {
	case 126:
		return uint64(binary.BigEndian.Uint16(h[2:4]))
	case 127:
		return binary.BigEndian.Uint64(h[2:10])
	default:
		return uint64(l)
	}
}

// advance moves the cursor over b.
func (c *frameCursor) advance(b []byte) {
	for len(b) > 0 {
		if c.inBody {
			k := min(uint64(len(b)), c.payload)
			c.payload -= k
			b = b[k:]
			if c.payload == 0 {
				c.inBody, c.got = false, 0
			}
			continue
		}
		if c.got == 0 && len(b) >= 2 {
			// A whole header at hand (a message's first bytes, as a
			// backend writes them): read in place.
			if n := headerLen(b[1]); len(b) >= n {
				c.payload = payloadLen(b[:n])
				c.inBody = c.payload != 0
				b = b[n:]
				continue
			}
		}
		need := 2
		if c.got >= 2 {
			need = headerLen(c.hdr[1])
		}
		k := copy(c.hdr[c.got:need], b)
		c.got += k
		b = b[k:]
		if c.got < need || c.got < headerLen(c.hdr[1]) {
			continue // more header to come
		}
		c.payload = payloadLen(c.hdr[:c.got])
		if c.payload == 0 {
			c.got = 0
		} else {
			c.inBody = true
		}
	}
}

package h1guard

import (
	"io"
	"net"
)

// helloConn is the connection a server-side TLS handshake reads through:
// it hands crypto/tls the client's first record (its ClientHello) cut into
// smaller records of the same type and version, then the connection's
// bytes unchanged. It holds no bytes once the handshake has read the
// ClientHello.
//
// crypto/tls reads each record whole into a buffer that it keeps for the
// connection's life, grows to the largest record read plus 512 bytes and
// never shrinks (Conn.rawInput), and gathers each handshake message in a
// second one (Conn.hand), likewise kept. A ClientHello with an
// X25519MLKEM768 key share, Go's, Chrome's and Firefox's default, is a
// record of about 1.5 KB: it left a 2 KiB record buffer on every idle
// connection beside the 1.5 KiB message buffer. A record that one Read
// returns whole and that fits the 576-byte buffer crypto/tls starts with
// does not grow it, and helloFragment picks sizes with which the message
// buffer, doubling as the fragments arrive, ends where one whole record
// would have left it.
// Fragmenting a handshake message over records is TLS's own (RFC 8446
// section 5.1, RFC 5246 section 6.2.1): the transcript covers messages,
// not records.
type helloConn struct {
	net.Conn
	started bool
	pending []byte        // what Read returns before reading the connection again
	left    int           // bytes of the record pending starts with still to return; 0: all
	err     error         // returned once pending is empty: reading the first record failed
	armed   *SocketReader // reads the socket instead of Conn when set (armed.go)
	before  func()        // called before each Write (BeforeWrite); nil: none
}

// TLS record header fields.
const (
	recordHeaderLen     = 5
	recordTypeHandshake = 22
	maxPlaintext        = 16384
)

// maxHelloFragment is the largest fragment that leaves crypto/tls's record
// buffer at its first size, 576 bytes: a record read whole by the buffer's
// first read. One that is not grows the buffer to the record's size plus
// 512 bytes.
const maxHelloFragment = 576 - recordHeaderLen

// newHelloConn returns c with its first record cut into fragments.
func newHelloConn(c net.Conn) *helloConn { return &helloConn{Conn: c} }

// Unwrap returns the connection under the handshake's.
func (c *helloConn) Unwrap() net.Conn { return c.Conn }

// Buffered returns the bytes of the first record not read yet.
func (c *helloConn) Buffered() int { return len(c.pending) }

// Read returns the first record's fragments, one record (or the part of
// one that fits p) a call, then reads the connection.
func (c *helloConn) Read(p []byte) (int, error) {
	if !c.started {
		c.started = true
		c.readFirst()
	}
	if len(c.pending) == 0 {
		if err := c.err; err != nil {
			c.err = nil
			return 0, err
		}
		if c.armed != nil {
			return c.armed.Read(p)
		}
		return c.Conn.Read(p)
	}
	if c.left == 0 && c.err == nil {
		c.left = recordHeaderLen + (int(c.pending[3])<<8 | int(c.pending[4]))
	} else if c.left == 0 {
		c.left = len(c.pending) // what was read of a record that failed, as it came
	}
	n := copy(p, c.pending[:c.left])
	c.pending, c.left = c.pending[n:], c.left-n
	if len(c.pending) == 0 {
		c.pending = nil
	}
	return n, nil
}

// readFirst reads the first record and makes pending its fragments; a
// record that is not a handshake one, or small enough, or too large to be
// valid, is left as it is (crypto/tls judges it), and a read that fails
// leaves what it read in pending and its error in err.
func (c *helloConn) readFirst() {
	var hdr [recordHeaderLen]byte
	if n, err := io.ReadFull(c.Conn, hdr[:]); err != nil {
		c.pending, c.err = append([]byte(nil), hdr[:n]...), err
		return
	}
	size := int(hdr[3])<<8 | int(hdr[4])
	if hdr[0] != recordTypeHandshake || size <= maxHelloFragment || size > maxPlaintext {
		c.pending = append([]byte(nil), hdr[:]...)
		c.left = len(c.pending)
		return
	}
	body := make([]byte, size)
	if n, err := io.ReadFull(c.Conn, body); err != nil {
		c.pending, c.err = append(hdr[:], body[:n]...), err
		return
	}
	f := helloFragment(size)
	out := make([]byte, 0, size+(size+f-1)/f*recordHeaderLen)
	for rest := body; len(rest) > 0; {
		k := min(f, len(rest))
		out = append(out, hdr[0], hdr[1], hdr[2], byte(k>>8), byte(k))
		out = append(out, rest[:k]...)
		rest = rest[k:]
	}
	c.pending = out
}

// helloFragment returns the size of the fragments of a first record of
// size bytes: crypto/tls's message buffer takes the size class of the first
// fragment, then doubles (384, 768, 1536; 448, 896, 1792; ...), so the
// sizes are those whose doubling ends at the size class of the whole
// message, for the usual ClientHellos (up to 2 KiB).
func helloFragment(size int) int {
	switch {
	case size <= 1536:
		return 384
	case size <= 1792:
		return 448
	case size <= 2048:
		return 512
	default:
		return maxHelloFragment
	}
}

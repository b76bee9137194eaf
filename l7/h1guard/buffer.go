package h1guard

import (
	"errors"
	"io"
	"sync"
)

// initialBuffer is the buffer a connection starts with; it grows, up to
// the head limit, only for a head that needs it.
const initialBuffer = 4096

// buffers holds the initial buffers of connections between requests.
var buffers = sync.Pool{New: func() any { return new([initialBuffer]byte) }}

// ErrBufferFull is Fill's error when the buffer holds need bytes already:
// the parsers refuse what reaches need first, so it is not reached.
var ErrBufferFull = errors.New("h1guard: buffer full")

// Buffer is a connection's read buffer: Buf[R:W] is read from the client
// and not consumed yet. A nil Buf is none: it comes from a pool when bytes
// are read.
type Buffer struct {
	Buf  []byte
	R, W int
}

// Fill reads from rd after Buf[W], first making room for at least need
// bytes from Buf[R] (moving them to the start, or growing the buffer).
func (b *Buffer) Fill(rd io.Reader, need int) error {
	if b.R == b.W {
		b.R, b.W = 0, 0
	}
	if b.Buf == nil {
		b.Buf = buffers.Get().(*[initialBuffer]byte)[:]
	}
	if b.W == len(b.Buf) {
		switch {
		case b.R > 0:
			b.W = copy(b.Buf, b.Buf[b.R:b.W])
			b.R = 0
		case len(b.Buf) < need:
			nb := make([]byte, min(2*len(b.Buf), need))
			w := copy(nb, b.Buf[b.R:b.W])
			b.Release()
			b.Buf, b.W = nb, w
		}
	}
	if b.W == len(b.Buf) {
		return ErrBufferFull
	}
	n, err := rd.Read(b.Buf[b.W:])
	b.W += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// Release drops the buffer (it holds nothing pending), to the pool if it
// has the initial size.
func (b *Buffer) Release() {
	if len(b.Buf) == initialBuffer {
		buffers.Put((*[initialBuffer]byte)(b.Buf))
	}
	b.Buf, b.R, b.W = nil, 0, 0
}

// Append appends one byte to the bytes buffered.
func (b *Buffer) Append(c byte) {
	if b.Buf == nil || b.W == len(b.Buf) {
		if err := b.Fill(eofReader{}, b.W-b.R+1); err != nil && err != io.EOF {
			return
		}
	}
	b.Buf[b.W] = c
	b.W++
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

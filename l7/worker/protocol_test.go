package worker

import (
	"bufio"
	"bytes"
	"net"
	"strings"
	"testing"
)

func TestFrames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		t       MsgType
		payload []byte
	}{
		{"empty", MsgGather, nil},
		{"json", MsgAck, []byte(`{"version":7}`)},
		{"binary", MsgMetrics, bytes.Repeat([]byte{0, 1, 2, 255}, 10000)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			if err := WriteFrame(&buf, tc.t, tc.payload); err != nil {
				t.Fatal(err)
			}
			typ, got, err := ReadFrame(bufio.NewReader(&buf))
			if err != nil {
				t.Fatal(err)
			}
			if typ != tc.t || !bytes.Equal(got, tc.payload) {
				t.Errorf("frame %d of %d bytes, want %d of %d", typ, len(got), tc.t, len(tc.payload))
			}
		})
	}
}

func TestFrameTooLarge(t *testing.T) {
	t.Parallel()
	hdr := []byte{byte(MsgSnapshot), 0xff, 0xff, 0xff, 0xff}
	if _, _, err := ReadFrame(bufio.NewReader(bytes.NewReader(hdr))); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("err = %v, want a size error", err)
	}
}

func TestIncomingCPU(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if cpu := IncomingCPU(s); cpu < 0 {
		t.Errorf("IncomingCPU = %d, want a core", cpu)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if cpu := IncomingCPU(a); cpu != -1 {
		t.Errorf("IncomingCPU of a pipe = %d, want -1", cpu)
	}
}

package worker

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/weir-lb/weir/userspace/snapshot"
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

// TestSnapshotJSONRoundTrip: every golden Snapshot survives the trip to a
// worker unchanged, so workers route exactly as the in-process proxy does.
func TestSnapshotJSONRoundTrip(t *testing.T) {
	t.Parallel()
	goldens, err := filepath.Glob("../../userspace/snapshot/testdata/*.golden.json")
	if err != nil || len(goldens) == 0 {
		t.Fatalf("no golden snapshots: %v", err)
	}
	for _, path := range goldens {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var want snapshot.Snapshot
			if err := json.Unmarshal(b, &want); err != nil {
				t.Skipf("not a Snapshot: %v", err)
			}
			enc, err := json.Marshal(&want)
			if err != nil {
				t.Fatal(err)
			}
			var got snapshot.Snapshot
			if err := json.Unmarshal(enc, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
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

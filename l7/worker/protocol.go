package worker

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/weir-lb/weir/l7/certs"
)

// MsgType is the type of one frame on the control socket between the
// supervisor and a worker.
type MsgType byte

// The frames. The supervisor sends MsgSnapshot, MsgDelta, MsgGather,
// MsgTickets and MsgDrain; the worker answers MsgSnapshot and MsgDelta with
// MsgAck and MsgGather with MsgMetrics, in order, and answers nothing to
// MsgTickets and MsgDrain.
const (
	// MsgSnapshot carries a snapshot.Snapshot as JSON.
	MsgSnapshot MsgType = 1
	// MsgAck carries an Ack as JSON.
	MsgAck MsgType = 2
	// MsgGather asks for the worker's metrics; its payload is empty.
	MsgGather MsgType = 3
	// MsgMetrics carries the worker's metric families, length-delimited
	// protobuf (expfmt's delimited format).
	MsgMetrics MsgType = 4
	// MsgTickets carries Tickets as JSON: the TLS session ticket keys every
	// worker shares, so a session resumes on any core.
	MsgTickets MsgType = 5
	// MsgDelta carries a snapshot.Delta as JSON: the change from the
	// worker's live Snapshot to the next. A worker whose live Snapshot is
	// not the Delta's base keeps it and acks its version with Error set;
	// the supervisor then sends the whole Snapshot.
	MsgDelta MsgType = 6
	// MsgDrain carries Drain as JSON: the worker drains (l7/drain) and
	// exits. It still answers MsgGather meanwhile.
	MsgDrain MsgType = 7
)

// Drain tells a worker how to drain.
type Drain struct {
	// Timeout is worker-shutdown-timeout: how long requests in flight and
	// WebSockets may go on. Zero means drain.DefaultTimeout (240 s).
	Timeout time.Duration `json:"timeout"`
	// Refused says the supervisor made the kernel refuse new connections
	// (datapath.Refuse), so the worker may keep accepting for drain.Settle.
	Refused bool `json:"refused,omitempty"`
	// HandedOver says a new Weir serves the same listening sockets
	// (drain.Options.HandedOver): the worker leaves their queues to it.
	HandedOver bool `json:"handedOver,omitempty"`
}

// MaxFrame bounds a frame's payload: 256 MiB.
const MaxFrame = 256 << 20

// Ack is a worker's answer to a Snapshot or a Delta: the Version now live,
// and the error of Apply, if any (empty: none). A Snapshot whose certificates
// partly failed to load is still live and acked, with Error set. A Snapshot
// or Delta that was refused (undecodable, not fitting the live Snapshot, not
// compiling) is acked with the Version still live and Error set.
type Ack struct {
	Version uint64 `json:"version"`
	Error   string `json:"error,omitempty"`
}

// Tickets are the session ticket keys; Previous nil means none.
type Tickets struct {
	Current  certs.TicketKey  `json:"current"`
	Previous *certs.TicketKey `json:"previous,omitempty"`
}

// WriteFrame writes one frame: a type byte, a 4-byte big-endian length and
// the payload.
func WriteFrame(w io.Writer, t MsgType, payload []byte) error {
	if len(payload) > MaxFrame {
		return fmt.Errorf("write frame %d: payload of %d bytes exceeds %d", t, len(payload), MaxFrame)
	}
	buf := make([]byte, 5+len(payload))
	buf[0] = byte(t)
	binary.BigEndian.PutUint32(buf[1:5], uint32(len(payload)))
	copy(buf[5:], payload)
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("write frame %d: %w", t, err)
	}
	return nil
}

// ReadFrame reads one frame written by WriteFrame.
func ReadFrame(r *bufio.Reader) (MsgType, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:5])
	if n > MaxFrame {
		return 0, nil, fmt.Errorf("read frame %d: payload of %d bytes exceeds %d", hdr[0], n, MaxFrame)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, fmt.Errorf("read frame %d: %w", hdr[0], err)
	}
	return MsgType(hdr[0]), payload, nil
}

// WriteJSON writes v as the JSON payload of a frame of type t.
func WriteJSON(w io.Writer, t MsgType, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode frame %d: %w", t, err)
	}
	return WriteFrame(w, t, b)
}

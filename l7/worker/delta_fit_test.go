package worker_test

import (
	"bufio"
	"testing"

	"github.com/weir-lb/weir/l7/worker"
	"github.com/weir-lb/weir/l7/worker/workertest"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// A Delta that does not fit the live Snapshot (Servers out of order, a
// removed host the base lacks) is refused with the live version acked, and
// leaves the live Snapshot the base of the next Delta.
func TestDeltaNotFittingIsRefused(t *testing.T) {
	t.Parallel()
	conn, _ := workertest.Start(t)
	sup := &supervisorEnd{t: t, conn: conn, r: bufio.NewReader(conn)}
	const up = "127.0.0.1:1"
	v1 := testSnapshot(1, up, "a.test", "b.test")
	if ack := sup.send(worker.MsgSnapshot, v1); ack.Version != 1 || ack.Error != "" {
		t.Fatalf("snapshot 1: ack %+v", ack)
	}
	v2 := testSnapshot(2, up, "c.test", "d.test")
	v2.Hash = "hash-2"
	d := snapshot.Diff(v1, v2)
	d.Servers[0], d.Servers[1] = d.Servers[1], d.Servers[0]
	if ack := sup.send(worker.MsgDelta, d); ack.Version != 1 || ack.Error == "" {
		t.Fatalf("delta with Servers out of order: ack %+v, want version 1 refused", ack)
	}
	d = snapshot.Diff(v1, v2)
	d.Removed = append(d.Removed, "z.test")
	if ack := sup.send(worker.MsgDelta, d); ack.Version != 1 || ack.Error == "" {
		t.Fatalf("delta removing a host the base lacks: ack %+v, want version 1 refused", ack)
	}
	if ack := sup.send(worker.MsgDelta, snapshot.Diff(v1, v2)); ack.Version != 2 || ack.Error != "" {
		t.Fatalf("delta 1->2 after the refusals: ack %+v", ack)
	}
	want := map[string]float64{"full/live": 1, "full/refused": 0, "delta/live": 1, "delta/refused": 2}
	got := sup.frames()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("weir_worker_config_frames_total %s = %v, want %v", k, got[k], v)
		}
	}
}

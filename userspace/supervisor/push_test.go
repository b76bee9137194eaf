package supervisor

import (
	"bufio"
	"encoding/json"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/weir-lb/weir/l7/certs"
	workerpkg "github.com/weir-lb/weir/l7/worker"
	"github.com/weir-lb/weir/l7/worker/workertest"
	"github.com/weir-lb/weir/test/testutil"
	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// pushSnapshot routes host to endpoint.
func pushSnapshot(version uint64, hash, host, endpoint string) *snapshot.Snapshot {
	return &snapshot.Snapshot{Version: version, Hash: hash, Servers: []snapshot.Server{{Host: host, Paths: []snapshot.Path{{
		Path: "/", Match: snapshot.MatchPrefix,
		Backend: snapshot.Backend{Service: "svc", Port: "80", Endpoints: []string{endpoint}, Proxy: annotations.DefaultProxy()},
	}}}}, Warnings: []snapshot.Warning{{Reason: "Test", Message: "not sent to workers"}}}
}

// TestPushDeltaRefusedSendsFull: Apply sends a worker at the previous
// version a delta; a worker whose live Snapshot is not the delta's base
// refuses it and gets the whole Snapshot in the same push.
func TestPushDeltaRefusedSendsFull(t *testing.T) {
	t.Parallel()
	logs := &testutil.SyncBuffer{}
	s := &Supervisor{cfg: Config{AckTimeout: 10 * time.Second}, log: slog.New(slog.NewTextHandler(logs, nil))}
	defer func() {
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	}()
	sup, _ := workertest.Start(t)
	w := &worker{sup: s, cpu: 0, label: "0", conn: sup, r: bufio.NewReader(sup)}
	s.workers = []*worker{w}

	apply := func(snap *snapshot.Snapshot) {
		t.Helper()
		if err := s.Apply(snap); err != nil {
			t.Fatalf("Apply(%d): %v", snap.Version, err)
		}
		if st := w.status(); st.Version != snap.Version {
			t.Fatalf("worker at version %d after Apply(%d)", st.Version, snap.Version)
		}
	}
	apply(pushSnapshot(1, "h1", "app.test", "198.18.0.1:80"))
	if cur := s.latest(); cur.snap.Warnings != nil || cur.delta != nil {
		t.Errorf("first published: warnings %v, delta %q; want neither", cur.snap.Warnings, cur.delta)
	}
	apply(pushSnapshot(2, "h2", "app.test", "198.18.0.2:80"))
	if cur := s.latest(); cur.delta == nil || cur.full != nil {
		t.Errorf("second published: delta %q, full encoded %v; want a delta and no full encoding", cur.delta, cur.full != nil)
	}

	// The supervisor's idea of the worker's base differs from the worker's.
	wrong := *s.latest().snap
	wrong.Hash = "not-h2"
	s.current = &published{version: 2, snap: &wrong}
	apply(pushSnapshot(3, "h3", "app.test", "198.18.0.3:80"))
	if !strings.Contains(logs.String(), "worker refused the configuration delta: sending the whole configuration") {
		t.Errorf("no log of the refused delta")
	}

	got := map[string]float64{}
	mfs, err := w.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "weir_worker_config_frames_total" {
			continue
		}
		for _, m := range mf.Metric {
			var key []string
			for _, l := range m.Label {
				key = append(key, l.GetValue())
			}
			got[strings.Join(key, "/")] = m.GetCounter().GetValue()
		}
	}
	want := map[string]float64{ // kind/result/worker
		"full/live/0": 2, "full/refused/0": 0,
		"delta/live/0": 1, "delta/refused/0": 1,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("weir_worker_config_frames_total (-want +got):\n%s", diff)
	}
}

// TestTicketsSentInOrder: a send of the session ticket keys (a worker's
// start) held up by another exchange with the worker sends the keys current
// when it gets its turn: a rotation's send may come first, and the worker
// keeps the last keys it got (sent before the rotation, it had no current
// key until the next one, an hour by default).
func TestTicketsSentInOrder(t *testing.T) {
	t.Parallel()
	s := &Supervisor{cfg: Config{AckTimeout: 10 * time.Second}, log: slog.New(slog.DiscardHandler), tickets: certs.NewTicketKeys()}
	sup, ctl := net.Pipe()
	t.Cleanup(func() { sup.Close(); ctl.Close() })
	w := &worker{sup: s, cpu: 0, label: "0", conn: sup}
	got := make(chan workerpkg.Tickets, 1)
	go func() {
		typ, payload, err := workerpkg.ReadFrame(bufio.NewReader(ctl))
		var tk workerpkg.Tickets
		if err != nil || typ != workerpkg.MsgTickets || json.Unmarshal(payload, &tk) != nil {
			t.Errorf("frame type %d %q %v, want tickets", typ, payload, err)
		}
		got <- tk
	}()
	w.mu.Lock() // an exchange with the worker under way
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		w.sendTickets()
	}()
	testutil.WaitFor(t, 10*time.Second, "the send waiting for its turn", func() bool {
		buf := make([]byte, 1<<20)
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if strings.Contains(g, "(*worker).sendTickets") && strings.Contains(g, "sync.(*Mutex).Lock") {
				return true
			}
		}
		return false
	})
	s.tickets.Rotate() // and the rotation's own send, which takes its turn after
	w.mu.Unlock()
	<-sent
	if cur, _ := s.tickets.Keys(); (<-got).Current != cur {
		t.Error("the worker got the keys of before a rotation that came while its send waited")
	}
}

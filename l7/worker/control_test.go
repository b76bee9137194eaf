package worker_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/weir-lb/weir/l7/worker"
	"github.com/weir-lb/weir/l7/worker/workertest"
	"github.com/weir-lb/weir/userspace/annotations"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// supervisorEnd is the supervisor's side of a worker's control connection.
type supervisorEnd struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

// exchange writes a frame of type typ and returns the payload of the
// worker's answer, which must be of type want.
func (e *supervisorEnd) exchange(typ worker.MsgType, payload []byte, want worker.MsgType) []byte {
	e.t.Helper()
	e.conn.SetDeadline(time.Now().Add(10 * time.Second))
	defer e.conn.SetDeadline(time.Time{})
	if err := worker.WriteFrame(e.conn, typ, payload); err != nil {
		e.t.Fatal(err)
	}
	got, resp, err := worker.ReadFrame(e.r)
	if err != nil || got != want {
		e.t.Fatalf("answer to frame %d: frame %d, %v; want frame %d", typ, got, err, want)
	}
	return resp
}

// send sends v as a frame of type typ and returns the worker's Ack.
func (e *supervisorEnd) send(typ worker.MsgType, v any) worker.Ack {
	e.t.Helper()
	payload, err := json.Marshal(v)
	if err != nil {
		e.t.Fatal(err)
	}
	var ack worker.Ack
	if err := json.Unmarshal(e.exchange(typ, payload, worker.MsgAck), &ack); err != nil {
		e.t.Fatal(err)
	}
	return ack
}

// frames returns the worker's weir_worker_config_frames_total by
// "kind/result".
func (e *supervisorEnd) frames() map[string]float64 {
	e.t.Helper()
	dec := expfmt.NewDecoder(bytes.NewReader(e.exchange(worker.MsgGather, nil, worker.MsgMetrics)),
		expfmt.NewFormat(expfmt.TypeProtoDelim))
	out := map[string]float64{}
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); err != nil {
			if !errors.Is(err, io.EOF) {
				e.t.Fatal(err)
			}
			return out
		}
		if mf.GetName() != "weir_worker_config_frames_total" {
			continue
		}
		for _, m := range mf.Metric {
			var key []string
			for _, l := range m.Label { // sorted: kind, result
				key = append(key, l.GetValue())
			}
			out[strings.Join(key, "/")] = m.GetCounter().GetValue()
		}
	}
}

// testSnapshot routes every host to the backend at addr.
func testSnapshot(version uint64, addr string, hosts ...string) *snapshot.Snapshot {
	s := &snapshot.Snapshot{Version: version, Hash: "hash-" + addr, Servers: []snapshot.Server{}}
	for _, h := range hosts {
		s.Servers = append(s.Servers, snapshot.Server{Host: h, Paths: []snapshot.Path{{
			Path: "/", Match: snapshot.MatchPrefix,
			Backend: snapshot.Backend{Service: "svc", Port: "80", Endpoints: []string{addr}, Proxy: annotations.DefaultProxy()},
		}}})
	}
	return s
}

func getBody(t *testing.T, addr, host string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Host = host
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestControlDelta: a worker applies a Delta to its live Snapshot and routes
// by the result; a Delta from another base is refused with the live version
// acked, and the whole Snapshot sent after it goes live and is the base of
// the next Delta.
func TestControlDelta(t *testing.T) {
	t.Parallel()
	backend := func(body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, body) }))
		t.Cleanup(srv.Close)
		return srv.Listener.Addr().String()
	}
	a, b := backend("a"), backend("b")
	conn, addr := workertest.Start(t)
	sup := &supervisorEnd{t: t, conn: conn, r: bufio.NewReader(conn)}

	v1 := testSnapshot(1, a, "one.test", "two.test")
	if ack := sup.send(worker.MsgSnapshot, v1); ack.Version != 1 || ack.Error != "" {
		t.Fatalf("snapshot 1: ack %+v", ack)
	}
	v2 := testSnapshot(2, a, "one.test", "two.test")
	v2.Servers[1] = testSnapshot(2, b, "two.test").Servers[0]
	d := snapshot.Diff(v1, v2)
	if len(d.Servers) != 1 {
		t.Fatalf("delta carries %d servers, want 1", len(d.Servers))
	}
	if ack := sup.send(worker.MsgDelta, d); ack.Version != 2 || ack.Error != "" {
		t.Fatalf("delta 1->2: ack %+v", ack)
	}
	if got := getBody(t, addr, "two.test"); got != "b" {
		t.Errorf("two.test after the delta: %q, want b", got)
	}
	if got := getBody(t, addr, "one.test"); got != "a" {
		t.Errorf("one.test after the delta: %q, want a (unchanged)", got)
	}

	// A delta from version 1 to a worker at version 2: refused, 2 stays.
	v3 := testSnapshot(3, b, "one.test", "two.test")
	ack := sup.send(worker.MsgDelta, snapshot.Diff(v1, v3))
	if ack.Version != 2 || !strings.Contains(ack.Error, snapshot.ErrBaseMismatch.Error()) {
		t.Fatalf("delta 1->3 to a worker at 2: ack %+v, want version 2 and a base mismatch", ack)
	}
	if got := getBody(t, addr, "one.test"); got != "a" {
		t.Errorf("one.test after a refused delta: %q, want a", got)
	}
	if ack := sup.send(worker.MsgSnapshot, v3); ack.Version != 3 || ack.Error != "" {
		t.Fatalf("snapshot 3: ack %+v", ack)
	}
	if got := getBody(t, addr, "one.test"); got != "b" {
		t.Errorf("one.test after snapshot 3: %q, want b", got)
	}

	v4 := testSnapshot(4, b, "two.test")
	if ack := sup.send(worker.MsgDelta, snapshot.Diff(v3, v4)); ack.Version != 4 || ack.Error != "" {
		t.Fatalf("delta 3->4: ack %+v", ack)
	}
	if got := getBody(t, addr, "one.test"); got == "b" {
		t.Errorf("one.test after its removal: still routed to b")
	}
	want := map[string]float64{"full/live": 2, "full/refused": 0, "delta/live": 2, "delta/refused": 1}
	if diff := cmp.Diff(want, sup.frames()); diff != "" {
		t.Errorf("weir_worker_config_frames_total (-want +got):\n%s", diff)
	}
}

package proxy

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-lb/weir/l7/connlimit"
)

// TestConnStates follows one keep-alive connection through its states in
// the nginx_process_* figures: waiting once accepted, waiting between its
// requests, gone once closed; accepted, handled and requests count up.
// Run twice: ConnState keeping the states in its map, and in the slot of
// l7/connlimit's connections.
func TestConnStates(t *testing.T) {
	t.Parallel()
	t.Run("map", func(t *testing.T) { testConnStates(t, false) })
	t.Run("slot", func(t *testing.T) { testConnStates(t, true) })
}

func testConnStates(t *testing.T, slots bool) {
	up := named(t, "a")
	reg := prometheus.NewRegistry()
	p := New(Options{Registry: reg})
	if err := p.Apply(snap(1, "foo.com", backendOf("a", []string{addr(up)}))); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(p)
	var slotted atomic.Int32
	srv.Config.ConnState = func(c net.Conn, st http.ConnState) {
		if connlimit.StateSlot(c) != nil {
			slotted.Add(1)
		}
		p.ConnState(c, st)
	}
	if slots {
		srv.Listener = connlimit.New(connlimit.Options{Source: p}).Listener(srv.Listener)
	}
	srv.Start()
	t.Cleanup(func() { srv.Close(); p.Close() })

	const conns = "nginx_ingress_controller_nginx_process_connections"
	figures := func() string {
		return fmt.Sprintf("active=%v waiting=%v writing=%v accepted=%v requests=%v",
			valueOf(t, reg, conns, "active"), valueOf(t, reg, conns, "waiting"), valueOf(t, reg, conns, "writing"),
			valueOf(t, reg, conns+"_total", "accepted"), valueOf(t, reg, "nginx_ingress_controller_nginx_process_requests_total", ""))
	}
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, "one new connection", func() bool { return figures() == "active=1 waiting=1 writing=0 accepted=1 requests=0" })
	br := bufio.NewReader(c)
	for i := 0; i < 2; i++ {
		if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: foo.com\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	want := "active=1 waiting=1 writing=0 accepted=1 requests=2"
	waitFor(t, want, func() bool { return figures() == want })
	c.Close()
	want = "active=0 waiting=0 writing=0 accepted=1 requests=2"
	waitFor(t, want, func() bool { return figures() == want })
	if n := slotted.Load(); slots != (n > 0) || slots && n != 6 {
		t.Fatalf("%d state changes seen through a slot; want 6 (New, 2 x Active and Idle, Closed) with slots, 0 without", n)
	}
}

// valueOf is the value of the metric name with label state (any state
// when "").
func valueOf(tb testing.TB, reg *prometheus.Registry, name, state string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			ok := state == ""
			for _, l := range m.Label {
				ok = ok || (l.GetName() == "state" && l.GetValue() == state)
			}
			if ok {
				if m.Gauge != nil {
					return m.Gauge.GetValue()
				}
				return m.Counter.GetValue()
			}
		}
	}
	tb.Fatalf("no %s{state=%q}", name, state)
	return 0
}

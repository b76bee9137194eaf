package datapath

import (
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestCollector exports counters as the program left them (no BPF needed):
// per reason and receiving CPU, per target core, zeros left out.
func TestCollector(t *testing.T) {
	t.Parallel()
	s := &Stats{Reasons: map[Reason][]uint64{}}
	for _, r := range Reasons() {
		s.Reasons[r] = make([]uint64, 2)
	}
	s.Reasons[xdpWeirReasonWEIR_REASON_REDIRECT] = []uint64{5, 7}
	s.Reasons[xdpWeirReasonWEIR_REASON_DROP_DENIED] = []uint64{0, 3}
	s.Chosen[0], s.Chosen[1] = 6, 6
	c := NewCollector(func() (*Stats, error) { return s, nil })
	want := `
# HELP weir_xdp_packets_total Packets the XDP program gave a verdict, by reason, by the verdict (XDP action) it implies and by receiving CPU.
# TYPE weir_xdp_packets_total counter
weir_xdp_packets_total{cpu="0",reason="redirect",verdict="redirect"} 5
weir_xdp_packets_total{cpu="1",reason="redirect",verdict="redirect"} 7
weir_xdp_packets_total{cpu="1",reason="drop_denied",verdict="drop"} 3
# HELP weir_xdp_redirected_total Packets the XDP program redirected to a core (CPUMAP), by core.
# TYPE weir_xdp_redirected_total counter
weir_xdp_redirected_total{core="0"} 6
weir_xdp_redirected_total{core="1"} 6
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(func() (*Stats, error) { return nil, errors.New("map gone") }))
	if _, err := reg.Gather(); err == nil || !strings.Contains(err.Error(), "map gone") {
		t.Errorf("gather with a failing read: err = %v, want map gone", err)
	}
}

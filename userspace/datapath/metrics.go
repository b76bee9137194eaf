package datapath

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// collector exports the XDP program's counters (Stats) as Prometheus series.
type collector struct {
	stats             func() (*Stats, error)
	packets, redirect *prometheus.Desc
}

// NewCollector returns the Prometheus collector of the XDP counters read by
// stats (Datapath.Stats): weir_xdp_packets_total{reason, verdict, cpu}, the
// packets per reason (the names `weir inspect` prints) and the XDP action it
// implies, on the CPU that received them; and
// weir_xdp_redirected_total{core}, the packets redirected to each core. Only
// counters above zero are exported: the series of a CPU or core appear with
// its first packet. A failed read is reported as the scrape's error.
// Register it only while the program is attached.
func NewCollector(stats func() (*Stats, error)) prometheus.Collector {
	return &collector{
		stats: stats,
		packets: prometheus.NewDesc("weir_xdp_packets_total",
			"Packets the XDP program gave a verdict, by reason, by the verdict (XDP action) it implies and by receiving CPU.",
			[]string{"reason", "verdict", "cpu"}, nil),
		redirect: prometheus.NewDesc("weir_xdp_redirected_total",
			"Packets the XDP program redirected to a core (CPUMAP), by core.",
			[]string{"core"}, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.packets
	ch <- c.redirect
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s, err := c.stats()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.packets, err)
		return
	}
	for _, r := range Reasons() {
		name, verdict := ReasonName(r), VerdictName(verdictOf(r))
		for cpu, n := range s.Reasons[r] {
			if n > 0 {
				ch <- prometheus.MustNewConstMetric(c.packets, prometheus.CounterValue, float64(n), name, verdict, strconv.Itoa(cpu))
			}
		}
	}
	for core, n := range s.Chosen {
		if n > 0 {
			ch <- prometheus.MustNewConstMetric(c.redirect, prometheus.CounterValue, float64(n), strconv.Itoa(core))
		}
	}
}

package nginxmetrics

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// userHZ is the unit of the CPU times in /proc/PID/stat (USER_HZ, 100 on
// every Linux architecture Weir builds for).
const userHZ = 100

// processCollector is ingress-nginx's process collector (process.go) over
// Weir's proxy processes instead of nginx's.
type processCollector struct {
	pids                                               func() []int
	numProcs, cpu, read, write, resident, virtual, old *prometheus.Desc
}

// NewProcessCollector returns the nginx_process_* figures of ingress-nginx's
// process collector for the processes pids returns (Weir's workers; the
// process itself with --workers 0), summed: num_procs, cpu_seconds_total
// (user and system time; ingress-nginx's counts system time only),
// read_bytes_total and write_bytes_total (storage I/O, /proc/PID/io: 0
// where it cannot be read), resident_memory_bytes, virtual_memory_bytes and
// oldest_start_time_seconds. A process that exits meanwhile is left out.
func NewProcessCollector(pids func() []int) prometheus.Collector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(summed+name, help, nil, nil)
	}
	return &processCollector{
		pids:     pids,
		numProcs: d("num_procs", "number of processes"),
		cpu:      d("cpu_seconds_total", "Cpu usage in seconds"),
		read:     d("read_bytes_total", "number of bytes read"),
		write:    d("write_bytes_total", "number of bytes written"),
		resident: d("resident_memory_bytes", "number of bytes of memory in use"),
		virtual:  d("virtual_memory_bytes", "number of bytes of memory in use"),
		old:      d("oldest_start_time_seconds", "start time in seconds since 1970/01/01"),
	}
}

func (c *processCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.numProcs, c.cpu, c.read, c.write, c.resident, c.virtual, c.old} {
		ch <- d
	}
}

func (c *processCollector) Collect(ch chan<- prometheus.Metric) {
	var sum procStat
	n := 0
	boot, _ := bootTime()
	for _, pid := range c.pids() {
		st, err := readProc(pid)
		if err != nil {
			continue
		}
		n++
		sum.cpu += st.cpu
		sum.read += st.read
		sum.write += st.write
		sum.resident += st.resident
		sum.virtual += st.virtual
		if start := boot + st.start; sum.start == 0 || start < sum.start {
			sum.start = start
		}
	}
	ch <- prometheus.MustNewConstMetric(c.numProcs, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(c.cpu, prometheus.CounterValue, sum.cpu)
	ch <- prometheus.MustNewConstMetric(c.read, prometheus.CounterValue, sum.read)
	ch <- prometheus.MustNewConstMetric(c.write, prometheus.CounterValue, sum.write)
	ch <- prometheus.MustNewConstMetric(c.resident, prometheus.GaugeValue, sum.resident)
	ch <- prometheus.MustNewConstMetric(c.virtual, prometheus.GaugeValue, sum.virtual)
	ch <- prometheus.MustNewConstMetric(c.old, prometheus.GaugeValue, sum.start)
}

// procStat is what the collector reads of one process.
type procStat struct {
	cpu, read, write, resident, virtual float64
	start                               float64 // seconds since boot, then since 1970
}

// readProc reads /proc/PID/stat and, where allowed, /proc/PID/io.
func readProc(pid int) (procStat, error) {
	var st procStat
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, fmt.Errorf("read stat of process %d: %w", pid, err)
	}
	// The command name may hold spaces and parentheses: fields start after
	// the last ')'. f[0] is then field 3 (state).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return st, fmt.Errorf("read stat of process %d: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 22 {
		return st, fmt.Errorf("read stat of process %d: %d fields", pid, len(f)+2)
	}
	num := func(k int) float64 { v, _ := strconv.ParseFloat(f[k-3], 64); return v }
	st.cpu = (num(14) + num(15)) / userHZ
	st.start = num(22) / userHZ
	st.virtual = num(23)
	st.resident = num(24) * float64(os.Getpagesize())
	if io, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid)); err == nil {
		for _, line := range strings.Split(string(io), "\n") {
			k, v, _ := strings.Cut(line, ": ")
			switch k {
			case "read_bytes":
				st.read, _ = strconv.ParseFloat(v, 64)
			case "write_bytes":
				st.write, _ = strconv.ParseFloat(v, 64)
			}
		}
	}
	return st, nil
}

// bootTime is the btime of /proc/stat: the boot, in seconds since 1970.
func bootTime() (float64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("read boot time: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("read boot time: no btime in /proc/stat")
}

package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// run is one measured run: a target loaded once in one scenario and setup
// (row) in one round, with its figures by key (see metrics).
type run struct {
	Scenario, Row, Target string
	Round                 int
	Values                map[string]float64
}

// metric is a column of the report.
type metric struct {
	key    string
	header string  // "%s" is replaced by the scenario's unit (request, message)
	scale  float64 // shown value = value * scale
	ratio  bool    // a "× nginx" column follows
	sum    bool    // the rounds' sum, not their median
}

// metrics are the report's columns, in order; a scenario shows those its
// runs have.
var metrics = []metric{
	{key: "rps", header: "%ss/s", scale: 1, ratio: true},
	{key: "p50_us", header: "p50 µs", scale: 1},
	{key: "p99_us", header: "p99 µs", scale: 1, ratio: true},
	{key: "cpu_us", header: "CPU µs/%s", scale: 1, ratio: true},
	{key: "usr_us", header: "of which user µs", scale: 1, ratio: true},
	{key: "rss_kb", header: "RSS MiB", scale: 1.0 / 1024},
	{key: "strace_calls", header: "syscalls/%s (strace)", scale: 1, ratio: true},
	{key: "perf_calls", header: "syscalls/%s (perf)", scale: 1, ratio: true},
	{key: "perf_cs", header: "context switches/%s (perf)", scale: 1, ratio: true},
	{key: "conns", header: "idle conns", scale: 1},
	{key: "rss_before_kb", header: "RSS before MiB", scale: 1.0 / 1024},
	{key: "rss_after_kb", header: "RSS after MiB", scale: 1.0 / 1024},
	{key: "bytes_per_conn", header: "bytes/conn", scale: 1, ratio: true},
	{key: "errors", header: "errors", scale: 1, sum: true},
}

// scenarios name each scenario bench.sh runs: its title and unit of work.
var scenarios = map[string]struct{ title, unit string }{
	"keepalive": {"HTTP/1.1 keep-alive, 13-byte response (wrk)", "request"},
	"close":     {"HTTP/1.1, a new connection per request (wrk, Connection: close)", "request"},
	"tls":       {"HTTPS keep-alive, TLS 1.3, ECDSA P-256, 13-byte response (wrk)", "request"},
	"ws":        {"WebSocket, 1 KiB binary message echoed (wsload)", "message"},
	"100k":      {"HTTP/1.1 keep-alive, 100 000-byte response (wrk)", "request"},
	"idle":      {"idle keep-alive HTTP/1.1 connections: memory per connection", "request"},
	"idle-tls":  {"idle keep-alive TLS 1.3 connections: memory per connection", "request"},
}

// rows name each setup a scenario runs in.
var rows = map[string]string{
	"1core":     "One core each, access logs off (Weir --workers 0 GOMAXPROCS=1, nginx 1 worker, haproxy nbthread 1; pinned)",
	"1core-log": "One core each, access logs on (Weir's JSON log, nginx upstreaminfo buffered, haproxy httplog; to a file)",
	"allcores":  "All cores, access logs off (Weir --workers auto, nginx and haproxy one worker/thread per core)",
}

// baseline is the target every ratio is to.
const baseline = "nginx"

func runReport(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("benchtool report", flag.ContinueOnError)
	var (
		in    = fs.String("in", "", "the runs, one per line: scenario, row, target, round, key=value figures (tab separated)")
		out   = fs.String("out", "", "folder for <date>-<scenario>.md and <date>-summary.md (none: stdout only)")
		date  = fs.String("date", "", "the date in the file names and titles")
		about = fs.String("about", "", "a paragraph on the machine and settings, put under each title")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	f, err := os.Open(*in)
	if err != nil {
		return fmt.Errorf("open runs: %w", err)
	}
	defer f.Close()
	runs, err := parseRuns(f)
	if err != nil {
		return err
	}
	var summary strings.Builder
	fmt.Fprintf(&summary, "# Weir benchmark summary, %s\n\n%s\n\nMedians over the rounds (min–max); ×nginx is the median's ratio to nginx's.\n", *date, *about)
	for _, sc := range uniq(runs, func(r run) string { return r.Scenario }) {
		var b strings.Builder
		fmt.Fprintf(&b, "# %s, %s\n\n%s\n", scenarioTitle(sc), *date, *about)
		writeScenario(&b, runs, sc, "##")
		fmt.Fprintf(&summary, "\n## %s\n", scenarioTitle(sc))
		writeScenario(&summary, runs, sc, "###")
		if *out != "" {
			name := filepath.Join(*out, *date+"-"+sc+".md")
			if err := os.WriteFile(name, []byte(b.String()), 0o644); err != nil {
				return fmt.Errorf("write report: %w", err)
			}
		}
	}
	if *out != "" {
		if err := os.WriteFile(filepath.Join(*out, *date+"-summary.md"), []byte(summary.String()), 0o644); err != nil {
			return fmt.Errorf("write summary: %w", err)
		}
	}
	_, err = io.WriteString(stdout, summary.String())
	return err
}

// parseRuns reads the runs bench.sh recorded: tab-separated scenario, row,
// target, round and space-separated key=value figures. Blank lines and
// lines starting with # are skipped.
func parseRuns(in io.Reader) ([]run, error) {
	var runs []run
	sc := bufio.NewScanner(in)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 5 {
			return nil, fmt.Errorf("parse runs line %d: want 5 tab-separated fields, got %d", n, len(f))
		}
		round, err := strconv.Atoi(f[3])
		if err != nil {
			return nil, fmt.Errorf("parse runs line %d: round: %w", n, err)
		}
		r := run{Scenario: f[0], Row: f[1], Target: f[2], Round: round, Values: map[string]float64{}}
		for _, kv := range strings.Fields(f[4]) {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, fmt.Errorf("parse runs line %d: %q is not key=value", n, kv)
			}
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return nil, fmt.Errorf("parse runs line %d: %s: %w", n, k, err)
			}
			r.Values[k] = x
		}
		runs = append(runs, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read runs: %w", err)
	}
	return runs, nil
}

// stat is the median and range of a metric's values over the rounds.
type stat struct {
	Median, Min, Max float64
	N                int
}

// summarize returns the median (the mean of the two middle values for an
// even count), minimum and maximum of vs; the zero stat for none.
func summarize(vs []float64) stat {
	if len(vs) == 0 {
		return stat{}
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stat{Median: m, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// writeScenario writes one Markdown table per row of scenario sc under
// heading, a line per target: each metric's median and, over more than one
// round, its min–max; for ratio metrics the median's ratio to the
// baseline's.
func writeScenario(w io.Writer, runs []run, sc string, heading string) {
	unit := scenarios[sc].unit
	if unit == "" {
		unit = "request"
	}
	in := filterRuns(runs, func(r run) bool { return r.Scenario == sc })
	var cols []metric
	for _, m := range metrics {
		if slices.ContainsFunc(in, func(r run) bool { _, ok := r.Values[m.key]; return ok }) {
			cols = append(cols, m)
		}
	}
	for _, row := range uniq(in, func(r run) string { return r.Row }) {
		rr := filterRuns(in, func(r run) bool { return r.Row == row })
		title := rows[row]
		if title == "" {
			title = row
		}
		fmt.Fprintf(w, "\n%s %s\n\n| target | rounds |", heading, title)
		align := "|---|---:|"
		for _, m := range cols {
			h := m.header
			if strings.Contains(h, "%s") {
				h = fmt.Sprintf(h, unit)
			}
			fmt.Fprintf(w, " %s |", h)
			align += "---:|"
			if m.ratio {
				fmt.Fprintf(w, " ×%s |", baseline)
				align += "---:|"
			}
		}
		fmt.Fprintf(w, "\n%s\n", align)
		base := filterRuns(rr, func(r run) bool { return r.Target == baseline })
		for _, target := range uniq(rr, func(r run) string { return r.Target }) {
			tr := filterRuns(rr, func(r run) bool { return r.Target == target })
			fmt.Fprintf(w, "| %s | %d |", target, len(tr))
			for _, m := range cols {
				st := summarize(values(tr, m.key))
				switch {
				case st.N == 0:
					fmt.Fprint(w, " – |")
				case m.sum:
					fmt.Fprintf(w, " %.0f |", st.Median*float64(st.N)*m.scale)
				case st.N > 1:
					fmt.Fprintf(w, " %s (%s–%s) |", formatNum(st.Median*m.scale), formatNum(st.Min*m.scale), formatNum(st.Max*m.scale))
				default:
					fmt.Fprintf(w, " %s |", formatNum(st.Median*m.scale))
				}
				if m.ratio {
					fmt.Fprintf(w, " %s |", ratio(st, summarize(values(base, m.key))))
				}
			}
			fmt.Fprintln(w)
		}
	}
}

// ratio formats a's median over b's, or a dash when either is missing or
// b's is zero.
func ratio(a, b stat) string {
	if a.N == 0 || b.N == 0 || b.Median == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", a.Median/b.Median)
}

// formatNum prints v with about three significant digits, never in
// exponent form: 45671, 812, 13.6, 1.42, 0.05.
func formatNum(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func scenarioTitle(sc string) string {
	if t := scenarios[sc].title; t != "" {
		return t
	}
	return sc
}

func values(runs []run, key string) []float64 {
	var vs []float64
	for _, r := range runs {
		if v, ok := r.Values[key]; ok {
			vs = append(vs, v)
		}
	}
	return vs
}

func filterRuns(runs []run, keep func(run) bool) []run {
	var out []run
	for _, r := range runs {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// uniq returns key(r) for the runs, each once, in order of first appearance.
func uniq(runs []run, key func(run) string) []string {
	var out []string
	for _, r := range runs {
		if k := key(r); !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

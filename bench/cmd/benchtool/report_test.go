package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSummarize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   []float64
		want stat
	}{
		{"none", nil, stat{}},
		{"one", []float64{7}, stat{Median: 7, Min: 7, Max: 7, N: 1}},
		{"odd", []float64{9, 1, 5}, stat{Median: 5, Min: 1, Max: 9, N: 3}},
		{"even", []float64{4, 1, 10, 2}, stat{Median: 3, Min: 1, Max: 10, N: 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, summarize(tc.in)); diff != "" {
				t.Errorf("summarize(%v) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestFormatNum(t *testing.T) {
	t.Parallel()
	for v, want := range map[float64]string{45671.25: "45671", 812.4: "812", 13.64: "13.6", 1.424: "1.42", 0: "0.00"} {
		if got := formatNum(v); got != want {
			t.Errorf("formatNum(%v) = %q, want %q", v, got, want)
		}
	}
}

const runsSample = `# scenario	row	target	round	figures
keepalive	1core	weir	1	requests=100 rps=40000 p50_us=1000 p99_us=3000 cpu_us=20 rss_kb=20480 errors=0
keepalive	1core	nginx	1	requests=100 rps=50000 p50_us=900 p99_us=2000 cpu_us=10 rss_kb=10240 errors=1

keepalive	1core	weir	2	requests=100 rps=44000 p50_us=1100 p99_us=3300 cpu_us=22 rss_kb=20480 errors=2
keepalive	1core	nginx	2	requests=100 rps=50000 p50_us=900 p99_us=2000 cpu_us=10 rss_kb=10240 errors=0
keepalive	1core	haproxy	2	requests=100 rps=48000 p50_us=950 p99_us=2100 cpu_us=11 rss_kb=8192 errors=0
idle	1core	weir	1	conns=500 rss_before_kb=10000 rss_after_kb=14000 bytes_per_conn=8192
`

func TestReport(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := filepath.Join(dir, "runs.tsv")
	if err := os.WriteFile(in, []byte(runsSample), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	if err := runReport([]string{"-in", in, "-out", dir, "-date", "2026-12-05", "-about", "2 CPUs."}, &stdout); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "2026-12-05-keepalive.md"))
	if err != nil {
		t.Fatal(err)
	}
	want := `# HTTP/1.1 keep-alive, 13-byte response (wrk), 2026-12-05

2 CPUs.

## One core each, access logs off (Weir --workers 0 GOMAXPROCS=1, nginx 1 worker, haproxy nbthread 1; pinned)

| target | rounds | requests/s | ×nginx | p50 µs | p99 µs | ×nginx | CPU µs/request | ×nginx | RSS MiB | errors |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
| weir | 2 | 42000 (40000–44000) | 0.84 | 1050 (1000–1100) | 3150 (3000–3300) | 1.57 | 21.0 (20.0–22.0) | 2.10 | 20.0 (20.0–20.0) | 2 |
| nginx | 2 | 50000 (50000–50000) | 1.00 | 900 (900–900) | 2000 (2000–2000) | 1.00 | 10.0 (10.0–10.0) | 1.00 | 10.0 (10.0–10.0) | 1 |
| haproxy | 1 | 48000 | 0.96 | 950 | 2100 | 1.05 | 11.0 | 1.10 | 8.00 | 0 |
`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("keepalive report (-want +got):\n%s", diff)
	}
	idle, err := os.ReadFile(filepath.Join(dir, "2026-12-05-idle.md"))
	if err != nil {
		t.Fatal(err)
	}
	wantIdle := "| target | rounds | idle conns | RSS before MiB | RSS after MiB | bytes/conn | ×nginx |\n" +
		"|---|---:|---:|---:|---:|---:|---:|\n| weir | 1 | 500 | 9.77 | 13.7 | 8192 | – |\n"
	if !strings.HasSuffix(string(idle), wantIdle) {
		t.Errorf("idle report:\n%s\nwant it to end with:\n%s", idle, wantIdle)
	}
	summary, err := os.ReadFile(filepath.Join(dir, "2026-12-05-summary.md"))
	if err != nil {
		t.Fatal(err)
	}
	if stdout.String() != string(summary) {
		t.Errorf("stdout is not the summary file:\n%s", stdout.String())
	}
	if want := strings.SplitN(string(got), "\n\n## ", 2)[1]; !strings.Contains(string(summary), "\n### "+want) {
		t.Errorf("summary does not have the keepalive report's table %q:\n%s", want, summary)
	}
}

func TestParseRunsErrors(t *testing.T) {
	t.Parallel()
	for name, in := range map[string]string{
		"fields": "keepalive\t1core\tweir\t1\n",
		"round":  "keepalive\t1core\tweir\tx\trps=1\n",
		"figure": "keepalive\t1core\tweir\t1\trps\n",
		"number": "keepalive\t1core\tweir\t1\trps=fast\n",
	} {
		if _, err := parseRuns(strings.NewReader(in)); err == nil {
			t.Errorf("%s: parseRuns succeeded, want an error", name)
		}
	}
}

// TestReportFloorsAndSyscalls: the floor targets get their lines and ratios
// like any proxy, the system call counts of BENCH_SYSCALLS get their columns,
// and the per-call figures (strace_<call>) stay in the runs file only.
func TestReportFloorsAndSyscalls(t *testing.T) {
	t.Parallel()
	const runs = "keepalive\t1core\tnginx\t1\trequests=100 rps=50000 cpu_us=10 strace_calls=4.5 strace_read=1.5 perf_calls=5\n" +
		"keepalive\t1core\tfloor-epoll\t1\trequests=100 rps=60000 cpu_us=7 strace_calls=4.0 strace_read=2.0 perf_calls=4.5\n" +
		"keepalive\t1core\tfloor-goroutine\t1\trequests=100 rps=45000 cpu_us=11 strace_calls=7 strace_read=3\n"
	in := filepath.Join(t.TempDir(), "runs.tsv")
	if err := os.WriteFile(in, []byte(runs), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	if err := runReport([]string{"-in", in}, &stdout); err != nil {
		t.Fatal(err)
	}
	want := "| target | rounds | requests/s | ×nginx | CPU µs/request | ×nginx | syscalls/request (strace) | ×nginx | syscalls/request (perf) | ×nginx |\n" +
		"|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n" +
		"| nginx | 1 | 50000 | 1.00 | 10.0 | 1.00 | 4.50 | 1.00 | 5.00 | 1.00 |\n" +
		"| floor-epoll | 1 | 60000 | 1.20 | 7.00 | 0.70 | 4.00 | 0.89 | 4.50 | 0.90 |\n" +
		"| floor-goroutine | 1 | 45000 | 0.90 | 11.0 | 1.10 | 7.00 | 1.56 | – | – |\n"
	if !strings.HasSuffix(stdout.String(), want) {
		t.Errorf("report:\n%s\nwant it to end with:\n%s", stdout.String(), want)
	}
}

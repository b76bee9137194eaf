package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const wrkSample = `Running 2s test @ http://127.0.0.1:20001/bench
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.40ms  310.12us   9.87ms   91.20%
    Req/Sec    45.91k     2.01k   48.10k    80.00%
  Latency Distribution
     50%    1.35ms
     75%    1.49ms
     90%    1.70ms
     99%  850.00us
  91342 requests in 2.00s, 12.08MB read
  Socket errors: connect 0, read 12, write 1, timeout 2
  Non-2xx or 3xx responses: 5
Requests/sec:  45671.25
Transfer/sec:      6.04MB
`

func TestParseWrk(t *testing.T) {
	t.Parallel()
	got, err := parseWrk(strings.NewReader(wrkSample))
	if err != nil {
		t.Fatal(err)
	}
	want := wrkResult{Requests: 91342, RPS: 45671.25, P50: 1350, P99: 850, Errors: 20}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseWrk (-want +got):\n%s", diff)
	}
	if s := got.String(); s != "requests=91342 rps=45671.25 p50_us=1350 p99_us=850 errors=20" {
		t.Errorf("String() = %q", s)
	}
}

func TestParseWrkClean(t *testing.T) {
	t.Parallel()
	in := strings.NewReplacer("  Socket errors: connect 0, read 12, write 1, timeout 2\n", "",
		"  Non-2xx or 3xx responses: 5\n", "", "1.35ms", "1.02s").Replace(wrkSample)
	got, err := parseWrk(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if got.Errors != 0 || got.P50 != 1.02e6 {
		t.Errorf("got errors %d p50 %v, want 0 and 1020000", got.Errors, got.P50)
	}
}

func TestParseWrkIncomplete(t *testing.T) {
	t.Parallel()
	for name, in := range map[string]string{
		"no latency distribution": strings.Replace(wrkSample, "  Latency Distribution\n", "", 1),
		"no requests/sec":         strings.Replace(wrkSample, "Requests/sec:  45671.25\n", "", 1),
		"empty":                   "",
		"bad unit":                strings.Replace(wrkSample, "1.35ms", "1.35xs", 1),
	} {
		if _, err := parseWrk(strings.NewReader(in)); err == nil {
			t.Errorf("%s: parseWrk succeeded, want an error", name)
		}
	}
}

func TestWrkDuration(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]float64{"850.00us": 850, "1.23ms": 1230, "1.50s": 1.5e6, "2.00m": 120e6, "1.00h": 3600e6} {
		got, err := wrkDuration(in)
		if err != nil || got != want {
			t.Errorf("wrkDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

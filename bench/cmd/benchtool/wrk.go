package main

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// wrkResult is what the harness takes from one `wrk --latency` run.
type wrkResult struct {
	Requests int64   // "N requests in ..."
	RPS      float64 // "Requests/sec:"
	P50, P99 float64 // latency percentiles, µs
	Errors   int64   // socket errors plus non-2xx/3xx responses
}

// String is the key=value line bench.sh reads.
func (r wrkResult) String() string {
	return fmt.Sprintf("requests=%d rps=%.2f p50_us=%.0f p99_us=%.0f errors=%d", r.Requests, r.RPS, r.P50, r.P99, r.Errors)
}

func runWrk(in io.Reader, out io.Writer) error {
	r, err := parseWrk(in)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, r)
	return err
}

// parseWrk reads wrk's report (run with --latency). It fails when the
// request count, requests/s or the 50% and 99% latencies are missing.
func parseWrk(in io.Reader) (wrkResult, error) {
	var (
		r                       wrkResult
		haveReq, haveRPS        bool
		haveP50, haveP99, inLat bool
	)
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch {
		case f[0] == "Latency" && len(f) > 1 && f[1] == "Distribution":
			inLat = true
		case inLat && len(f) == 2 && strings.HasSuffix(f[0], "%"):
			us, err := wrkDuration(f[1])
			if err != nil {
				return r, fmt.Errorf("parse wrk latency %q: %w", sc.Text(), err)
			}
			switch f[0] {
			case "50%", "50.000%":
				r.P50, haveP50 = us, true
			case "99%", "99.000%":
				r.P99, haveP99 = us, true
			}
		case len(f) >= 3 && f[1] == "requests" && f[2] == "in":
			inLat = false
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return r, fmt.Errorf("parse wrk request count %q: %w", sc.Text(), err)
			}
			r.Requests, haveReq = n, true
		case f[0] == "Socket" && len(f) > 1 && f[1] == "errors:":
			// Socket errors: connect 0, read 12, write 0, timeout 0
			for i := 3; i < len(f); i += 2 {
				n, err := strconv.ParseInt(strings.TrimSuffix(f[i], ","), 10, 64)
				if err != nil {
					return r, fmt.Errorf("parse wrk socket errors %q: %w", sc.Text(), err)
				}
				r.Errors += n
			}
		case strings.HasPrefix(sc.Text(), "  Non-2xx or 3xx responses:") || f[0] == "Non-2xx":
			n, err := strconv.ParseInt(f[len(f)-1], 10, 64)
			if err != nil {
				return r, fmt.Errorf("parse wrk non-2xx count %q: %w", sc.Text(), err)
			}
			r.Errors += n
		case f[0] == "Requests/sec:" && len(f) == 2:
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return r, fmt.Errorf("parse wrk requests/sec %q: %w", sc.Text(), err)
			}
			r.RPS, haveRPS = v, true
		}
	}
	if err := sc.Err(); err != nil {
		return r, fmt.Errorf("read wrk output: %w", err)
	}
	if !haveReq || !haveRPS || !haveP50 || !haveP99 {
		return r, fmt.Errorf("parse wrk output: missing request count, requests/sec or the 50%%/99%% latency (run wrk with --latency)")
	}
	return r, nil
}

// wrkDuration converts wrk's latency ("850.00us", "1.23ms", "1.02s",
// "2.00m", "1.00h") to microseconds.
func wrkDuration(s string) (float64, error) {
	units := []struct {
		suffix string
		us     float64
	}{{"us", 1}, {"ms", 1e3}, {"s", 1e6}, {"m", 60e6}, {"h", 3600e6}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("duration %q: %w", s, err)
			}
			return v * u.us, nil
		}
	}
	return 0, fmt.Errorf("duration %q: unknown unit", s)
}

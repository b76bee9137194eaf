package proxy

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/weir-lb/weir/l7/h1guard"
	"github.com/weir-lb/weir/l7/router"
	"github.com/weir-lb/weir/userspace/snapshot"
)

// entries decodes the access log, one JSON object per line.
func entries(tb testing.TB, log string) []accessEntry {
	tb.Helper()
	var out []accessEntry
	for _, line := range strings.Split(strings.TrimSuffix(log, "\n"), "\n") {
		if line == "" {
			continue
		}
		var e accessEntry
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			tb.Fatalf("access log line %q: %v", line, err)
		}
		out = append(out, e)
	}
	return out
}

func TestAccessLog(t *testing.T) {
	t.Parallel()
	up := named(t, "a")
	var buf syncBuffer
	s := snap(1, "foo.com", backendOf("a", []string{addr(up)}))
	s.Global.Logs.DefaultBackend = true // the 404 of nope.com is logged
	_, srv := front(t, Options{AccessLog: &buf}, s)
	c := client(t)
	before := time.Now()
	get(t, c, srv, "foo.com:80", "/x?secret=1")
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/missing", nil)
	req.Host = "nope.com"
	req.Header.Set("X-Request-ID", "given")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	var got []accessEntry
	waitFor(t, "two access-log lines", func() bool {
		got = entries(t, buf.String())
		return len(got) == 2
	})
	want := []accessEntry{
		{Client: "127.0.0.1", Method: "GET", Host: "foo.com:80", Path: "/x", Status: 200, Bytes: int64(len("a /x?secret=1")),
			Upstream: addr(up), Namespace: "ns", Ingress: "ing-a", Service: "a"},
		{Client: "127.0.0.1", Method: "POST", Host: "nope.com", Path: "/missing", Status: 404, Bytes: int64(len(h1guard.ErrorPage(404))),
			RequestID: "given"},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(accessEntry{}, "Time", "DurationMS"), cmp.FilterPath(func(p cmp.Path) bool {
		return p.Last().String() == ".RequestID" && p.Index(-2).(cmp.SliceIndex).Key() == 0
	}, cmp.Ignore())); diff != "" {
		t.Errorf("access log (-want +got):\n%s", diff)
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(got[0].RequestID) {
		t.Errorf("request_id = %q, want 32 hex digits", got[0].RequestID)
	}
	for _, e := range got {
		ts, err := time.Parse(time.RFC3339Nano, e.Time)
		if err != nil || ts.Before(before.Add(-time.Second)) || ts.After(time.Now()) {
			t.Errorf("time %q: %v, not within the test", e.Time, err)
		}
		if e.DurationMS <= 0 || e.DurationMS > 5000 {
			t.Errorf("duration_ms = %v", e.DurationMS)
		}
	}
	if !strings.Contains(buf.String(), `"duration_ms":`) || !strings.Contains(buf.String(), `"request_id":"given"`) {
		t.Errorf("field names differ from the contract:\n%s", buf.String())
	}
}

func TestAccessLogClientClosed(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{})
	up := stalling(t, func(http.ResponseWriter) { close(entered) })
	var buf, logs syncBuffer
	_, srv := front(t, Options{AccessLog: &buf, Logger: testLogger(&logs)}, snap(1, "foo.com", backendOf("a", []string{addr(up)})))
	leaveWhenClosed(t, srv, entered)
	var got []accessEntry
	waitFor(t, "one access-log line", func() bool {
		got = entries(t, buf.String())
		return len(got) == 1
	})
	if got[0].Status != statusClientClosed || got[0].Upstream != addr(up) {
		t.Errorf("status %d upstream %q, want 499 %q", got[0].Status, got[0].Upstream, addr(up))
	}
	if strings.Contains(logs.String(), "upstream error") {
		t.Errorf("a client that went away was logged as an upstream error:\n%s", logs.String())
	}
}

// leaveWhenClosed sends a request for foo.com to srv and leaves, its
// context canceled, once entered is closed.
func leaveWhenClosed(tb testing.TB, srv *httptest.Server, entered <-chan struct{}) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/", nil)
	req.Host = "foo.com"
	go cancelWhenClosed(entered, cancel)
	if _, err := client(tb).Do(req); err == nil {
		tb.Fatal("canceled request succeeded")
	}
}

// cancelWhenClosed calls cancel once ch is closed.
func cancelWhenClosed(ch <-chan struct{}, cancel context.CancelFunc) {
	<-ch
	cancel()
}

// TestAccessLineAsEncodingJSON: a line appended without allocation is the
// bytes encoding/json writes for the same entry, escapes and floats
// included, and appending it allocates nothing.
func TestAccessLineAsEncodingJSON(t *testing.T) {
	texts := []string{"", "plain", `q"uote\back`, "ctl\x00\x01\x1f\n\r\t", "<html>&amp;", "é日本\u2028\u2029", "bad\xff\xfeutf8", "\x7f"}
	floats := []time.Duration{0, 1, 999, time.Millisecond, 1234567 * time.Nanosecond, 3 * time.Hour}
	for i, s := range texts {
		d := floats[i%len(floats)]
		ex := &exchange{start: time.Date(2026, 12, 5, 1, 2, 3, 4050, time.FixedZone("x", 3600)), requestID: s,
			fwd: forwarding{remoteText: s}}
		ex.tried = []*router.Upstream{{Addr: "10.0.0.1:80"}, {Addr: s}}[:i%3]
		if i%2 == 0 {
			ex.route = &router.Route{Backend: &snapshot.Backend{Ingress: snapshot.ObjectRef{Namespace: s, Name: "ing"}, Service: s}}
		}
		r := &http.Request{Method: s, Host: s, URL: &url.URL{Path: s}}
		e := accessEntry{Time: ex.start.UTC().Format(time.RFC3339Nano), Client: s, Method: s, Host: s, Path: s,
			Status: 200 + i, Bytes: int64(i), DurationMS: float64(d.Nanoseconds()) / 1e6, RequestID: s}
		var addrs []string
		for _, u := range ex.tried {
			addrs = append(addrs, u.Addr)
		}
		e.Upstream = strings.Join(addrs, ", ")
		if ex.route != nil {
			e.Namespace, e.Ingress, e.Service = s, "ing", s
		}
		want, err := json.Marshal(&e)
		if err != nil {
			t.Fatal(err)
		}
		got := appendEntry(nil, nil, r, ex, 200+i, int64(i), d)
		if string(got) != string(want)+"\n" {
			t.Errorf("%q:\ngot  %s\nwant %s", s, got, want)
		}
		var clock logClock
		if got := appendEntry(nil, &clock, r, ex, 200+i, int64(i), d); string(got) != string(want)+"\n" {
			t.Errorf("%q through a logClock:\ngot  %s\nwant %s", s, got, want)
		}
		buf := make([]byte, 0, 4096)
		if n := testing.AllocsPerRun(10, func() { buf = appendEntry(buf[:0], &clock, r, ex, 200, 1, d) }); n != 0 {
			t.Errorf("%q: %v allocations per line, want 0", s, n)
		}
	}
}

// TestAccessLogBuffered: under load the lines are written together; a line
// held while another request is in flight is written within accessFlush,
// and the line of the last request in flight at once.
func TestAccessLogBuffered(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	a := &accessLog{w: &buf}
	r := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/"}}
	lines := func() int { return strings.Count(buf.String(), "\n") }
	for range 4 {
		a.begin()
	}
	a.write(r, &exchange{}, &responseRecorder{}, 200, 0, nil, false)
	if lines() != 1 {
		t.Fatalf("%d lines after the first write, want it written at once", lines())
	}
	a.write(r, &exchange{}, &responseRecorder{}, 200, 0, nil, false)
	a.write(r, &exchange{}, &responseRecorder{}, 200, 0, nil, false)
	if lines() != 1 {
		t.Errorf("%d lines, want the two with requests in flight held", lines())
	}
	a.write(r, &exchange{}, &responseRecorder{}, 200, 0, nil, false)
	if lines() != 4 {
		t.Errorf("%d lines once none is in flight, want 4", lines())
	}

	a.begin()
	a.begin()
	a.write(r, &exchange{}, &responseRecorder{}, 200, 0, nil, false) // written at once or held: not the last
	waitFor(t, "the held line written by the timer", func() bool { return lines() == 5 })
	a.write(r, &exchange{}, &responseRecorder{}, 200, 0, nil, false)
	if lines() != 6 {
		t.Errorf("%d lines, want the last request's line written at once", lines())
	}
}

// durationSamples are durations to compare fast number formatting with
// strconv's on: every value up to a bound, the edges of the fast path, and
// a pseudo-random spread over it.
func durationSamples(exhaustive, limit int64) []int64 {
	var out []int64
	for n := range exhaustive {
		out = append(out, n)
	}
	for p := int64(1); p > 0 && p <= 4*limit; p *= 10 {
		for _, n := range []int64{p - 1, p, p + 1, 2*p - 1, 2 * p, 5*p - 1, 5 * p, 5*p + 1} {
			out = append(out, n, -n)
		}
	}
	for p := int64(1); p > 0 && p <= 4*limit; p *= 2 {
		out = append(out, p-1, p, p+1)
	}
	out = append(out, limit-1, limit, limit+1, math.MaxInt64, math.MinInt64)
	x := uint64(0x9e3779b97f4a7c15)
	for range 200000 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		out = append(out, int64(x%uint64(limit)), int64(x%uint64(limit))/1000*1000, int64(x%1e9))
	}
	return out
}

// TestAppendMillis: duration_ms is written as encoding/json writes
// float64(ns)/1e6, on the fast path and off it.
func TestAppendMillis(t *testing.T) {
	t.Parallel()
	var got, want []byte
	for _, n := range durationSamples(3_000_000, 1e14) {
		got = appendMillis(got[:0], time.Duration(n))
		want = appendJSONFloat(want[:0], float64(n)/1e6)
		if string(got) != string(want) {
			t.Fatalf("%d ns: %s, want %s", n, got, want)
		}
	}
}

// TestAppendSeconds: nginx's times are strconv's three decimals of the
// milliseconds, on the fast path and off it.
func TestAppendSeconds(t *testing.T) {
	t.Parallel()
	var got, want []byte
	for _, n := range durationSamples(2_000_000, 1e12) {
		d := time.Duration(n) * time.Millisecond
		if n > math.MaxInt64/int64(time.Millisecond) || n < math.MinInt64/int64(time.Millisecond) {
			d = time.Duration(n)
		}
		got = appendSeconds(got[:0], d)
		want = strconv.AppendFloat(want[:0], float64(d.Milliseconds())/1e3, 'f', 3, 64)
		if string(got) != string(want) {
			t.Fatalf("%v: %s, want %s", d, got, want)
		}
	}
}

// TestLogClock: the times of a line formatted through the kept text of
// their second are the bytes time.AppendFormat writes, across seconds,
// nanoseconds, zones, the years' edges, and a second seen again after
// another.
func TestLogClock(t *testing.T) {
	t.Parallel()
	zones := []*time.Location{time.UTC, time.Local, time.FixedZone("east", 5*3600+1800), time.FixedZone("west", -7*3600)}
	if ny, err := time.LoadLocation("America/New_York"); err == nil {
		zones = append(zones, ny) // a DST change: 2026-03-08 07:00 UTC
	}
	base := []time.Time{
		time.Date(2026, 12, 6, 4, 38, 56, 0, time.UTC),
		time.Date(2026, 3, 8, 6, 59, 59, 999999999, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 500, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 10, time.UTC),
		time.Date(12345, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 6, 1, 0, 0, 0, 100000000, time.UTC),
	}
	steps := []time.Duration{0, 1, 10, 999, 123456789, 500 * time.Millisecond, 999999999, time.Second, -1, -time.Second}
	var clock logClock
	var got, want []byte
	for _, b := range base {
		for _, z := range zones {
			for _, s := range steps {
				tm := b.Add(s).In(z)
				for _, f := range []struct {
					name   string
					layout string
					fast   func([]byte, time.Time) []byte
				}{
					{"json", "", clock.appendRFC3339Nano},
					{"time_local", "02/Jan/2006:15:04:05 -0700", clock.appendLocal},
					{"time_iso8601", "2006-01-02T15:04:05-07:00", clock.appendISO},
				} {
					if f.layout == "" {
						want = tm.UTC().AppendFormat(want[:0], time.RFC3339Nano)
					} else {
						want = tm.AppendFormat(want[:0], f.layout)
					}
					got = f.fast(got[:0], tm)
					if string(got) != string(want) {
						t.Errorf("%s of %v (%s): %s, want %s", f.name, tm, z, got, want)
					}
				}
			}
		}
	}
}

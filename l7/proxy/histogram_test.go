package proxy

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"
)

// TestHistVecExposition feeds the same observations to prometheus'
// HistogramVec (as the request metrics were before histVec: seconds and
// bytes as floats) and to histVec (nanoseconds and bytes as integers), for
// each of the request families, a CounterVec's Inc with each duration
// (the requests counter, countVec), and compares the text exposition gathered
// from each registry: byte for byte, but for a duration's _sum, which
// prometheus adds up in float seconds and histVec in integer nanoseconds
// divided once: those must agree to 1e-12 of the sum. The observations
// include every value within 2 units of each bucket bound, so that a
// value's bucket is checked at each edge.
func TestHistVecExposition(t *testing.T) {
	t.Parallel()
	ref, got := prometheus.NewRegistry(), prometheus.NewRegistry()
	mine := newMetrics(got)
	families := []struct {
		vec     *histVec
		buckets []float64
	}{
		{mine.duration, timeBuckets}, {mine.upResponse, timeBuckets}, {mine.upConnect, timeBuckets}, {mine.upHeader, timeBuckets},
		{mine.requestSize, lengthBuckets}, {mine.responseSize, lengthBuckets}, {mine.bytesSent, sizeBuckets},
	}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nginx_ingress_controller_requests", Help: "The total number of client requests."}, requestLabels)
	ref.MustRegister(requests)
	rng := rand.New(rand.NewPCG(9, 9))
	values := make(map[*histVec][]int64)
	for _, f := range families {
		for _, b := range f.vec.bounds {
			for n := b - 2; n <= b+2; n++ {
				values[f.vec] = append(values[f.vec], max(n, 0))
			}
		}
		for range 300 {
			values[f.vec] = append(values[f.vec], rng.Int64N(2*f.vec.bounds[len(f.vec.bounds)-1]))
		}
	}
	// response_size and bytes_sent observe the same values ($bytes_sent),
	// bytes_sent with place (its sum response_size's), as metrics.observe.
	sent := append(values[mine.responseSize], values[mine.bytesSent]...)
	values[mine.responseSize], values[mine.bytesSent] = sent, sent
	for _, f := range families {
		pv := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: f.vec.name, Help: f.vec.help, Buckets: f.buckets}, requestLabels)
		ref.MustRegister(pv)
		for i, lv := range [][]string{
			{"200", "GET", "/", "ns", "ing", "svc", "", "foo.com"},
			{"503", "OTHER", "/api", "ns", "ing", "svc", "ns-canary-80", "bar.com"},
			{"404", "GET", "", "", "", "", "", "_"}, // a child never observed
		} {
			po, ho := pv.WithLabelValues(lv...), f.vec.WithLabelValues(lv...)
			var pc prometheus.Counter
			if f.vec == mine.duration {
				pc = requests.WithLabelValues(lv...) // mine.requests: the duration's count
			}
			if i == 2 {
				continue
			}
			for _, n := range values[f.vec][i:] {
				po.Observe(float64(n) / f.vec.scale)
				if f.vec.sumOf != nil {
					ho.place(n)
				} else {
					ho.observe(n)
				}
				if pc != nil {
					pc.Inc()
				}
			}
		}
	}
	want, have := exposition(t, ref), exposition(t, got)
	wl, hl := strings.Split(want, "\n"), strings.Split(have, "\n")
	if len(wl) != len(hl) {
		t.Fatalf("%d lines, want %d:\n%s\nwant:\n%s", len(hl), len(wl), have, want)
	}
	sums := 0
	for i := range wl {
		if wl[i] == hl[i] {
			continue
		}
		wk, wv, _ := strings.Cut(wl[i], "} ")
		hk, hv, _ := strings.Cut(hl[i], "} ")
		if wk != hk || !strings.Contains(wk, "_seconds_sum{") {
			t.Errorf("line %d: %s\nwant %s", i+1, hl[i], wl[i])
			continue
		}
		w, err1 := strconv.ParseFloat(wv, 64)
		h, err2 := strconv.ParseFloat(hv, 64)
		if err1 != nil || err2 != nil || math.Abs(w-h) > 1e-12*math.Abs(w) {
			t.Errorf("line %d: %s\nwant %s", i+1, hl[i], wl[i])
		}
		sums++
	}
	if !strings.Contains(have, `nginx_ingress_controller_requests{canary="",host="_",ingress="",method="GET",namespace="",path="",service="",status="404"} 0`) || strings.Count(have, "# HELP") != 8 {
		t.Errorf("exposition lacks the families:\n%s", have)
	}
	t.Logf("%d lines, %d duration sums differing in their last digits", len(wl), sums)

	// The protobuf exposition (served to a scraper that asks for it): the
	// same, but for each child's created timestamp (when it was made, set
	// on both sides) and the durations' sums.
	wf, hf := gather(t, ref), gather(t, got)
	if len(wf) != len(hf) {
		t.Fatalf("%d families, want %d", len(hf), len(wf))
	}
	for i := range wf {
		for _, mf := range []*dto.MetricFamily{wf[i], hf[i]} {
			for _, m := range mf.GetMetric() {
				if h := m.GetHistogram(); h != nil {
					if h.CreatedTimestamp == nil {
						t.Errorf("%s: no created timestamp", mf.GetName())
					}
					h.CreatedTimestamp = nil
					if strings.HasSuffix(mf.GetName(), "_seconds") {
						h.SampleSum = nil
					}
				}
				if c := m.GetCounter(); c != nil {
					if c.CreatedTimestamp == nil {
						t.Errorf("%s: no created timestamp", mf.GetName())
					}
					c.CreatedTimestamp = nil
				}
			}
		}
		if !proto.Equal(wf[i], hf[i]) {
			t.Errorf("protobuf %v\nwant %v", hf[i], wf[i])
		}
	}
}

// gather returns reg's request families.
func gather(t *testing.T, reg *prometheus.Registry) []*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []*dto.MetricFamily
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "nginx_ingress_controller_") {
			out = append(out, mf)
		}
	}
	return out
}

// exposition is reg's text exposition.
func exposition(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range gather(t, reg) {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// TestHistVecCreated: a child's created timestamp is when it was made, as
// a HistogramVec child's is (the protobuf exposition carries it).
func TestHistVecCreated(t *testing.T) {
	t.Parallel()
	before := time.Now()
	v := newHistVec("h_seconds", "h.", []string{"l"}, timeBuckets, 1e9)
	h := v.WithLabelValues("x")
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		t.Fatal(err)
	}
	if ct := m.GetHistogram().GetCreatedTimestamp().AsTime(); ct.Before(before.Truncate(time.Microsecond)) || ct.After(time.Now()) {
		t.Errorf("created %v, want between %v and now", ct, before)
	}
	if v.WithLabelValues("x") != h {
		t.Error("a second WithLabelValues made another child")
	}
}

// BenchmarkRequestObservations: a request's observations (seven histograms
// and the requests counter) by prometheus' HistogramVec and CounterVec
// children, as before histVec, and by histVec's.
func BenchmarkRequestObservations(b *testing.B) {
	lv := []string{"200", "GET", "/", "ns", "ing", "svc", "", "foo.com"}
	durations := []time.Duration{3 * time.Millisecond, 2 * time.Millisecond, 0, time.Millisecond}
	b.Run("prometheus", func(b *testing.B) {
		var hs []prometheus.Observer
		for _, buckets := range [][]float64{timeBuckets, timeBuckets, timeBuckets, timeBuckets, lengthBuckets, lengthBuckets, sizeBuckets} {
			hs = append(hs, prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "h", Buckets: buckets}, requestLabels).WithLabelValues(lv...))
		}
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c"}, requestLabels).WithLabelValues(lv...)
		for b.Loop() {
			c.Inc()
			for i, d := range durations {
				hs[i].Observe(d.Seconds())
			}
			hs[4].Observe(float64(75))
			hs[5].Observe(float64(190))
			hs[6].Observe(float64(190))
		}
	})
	b.Run("histVec", func(b *testing.B) {
		m := newMetrics(prometheus.NewRegistry())
		var hs []*histogram
		for _, v := range []*histVec{m.duration, m.upResponse, m.upConnect, m.upHeader, m.requestSize, m.responseSize, m.bytesSent} {
			hs = append(hs, v.WithLabelValues(lv...))
		}
		for b.Loop() {
			for i, d := range durations {
				hs[i].observe(int64(d))
			}
			hs[4].observe(75)
			hs[5].observe(190)
			hs[6].place(190)
		}
	})
}

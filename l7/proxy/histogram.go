package proxy

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// histVec is a labelled family of histograms of integer observations
// (nanoseconds, bytes), exposed as prometheus' HistogramVec exposes the
// same observations of their float value (seconds, bytes): the same name,
// help, label sets, bucket bounds, _sum and _count, and the child's creation
// time as its created timestamp. An observation costs two atomic adds
// (its bucket, the sum) where prometheus' Observe takes three to four and a
// CAS loop on a float sum; the count is the sum of the buckets, read at
// scrape.
//
// A duration's _sum is the integer sum of nanoseconds divided by 1e9 once,
// where prometheus adds each observation's seconds as a float: the two can
// differ in the last digits (TestHistVecExposition bounds it); the sizes'
// sums are equal while below 2^53.
type histVec struct {
	desc       *prometheus.Desc
	name, help string    // desc's
	bounds     []int64   // the bucket's upper bounds in units, ascending
	upper      []float64 // the same as exposed
	scale      float64   // units per exposed unit: 1e9 for seconds counted in nanoseconds, 1 for bytes
	nLabel     int
	// sumOf, when set, is a family observed with the same values as this
	// one, with the same labels: a child's sum is its child's, and the
	// child is observed with place, not observe.
	sumOf *histVec

	mu       sync.Mutex
	children map[string]*histogram // by label values joined with 0xff
}

// newHistVec returns a family named name with help, labels and the exposed
// upper bounds upper (each a whole number of units once multiplied by
// scale).
func newHistVec(name, help string, labels []string, upper []float64, scale float64) *histVec {
	v := &histVec{
		desc:     prometheus.NewDesc(name, help, labels, nil),
		name:     name,
		help:     help,
		upper:    upper,
		scale:    scale,
		nLabel:   len(labels),
		children: make(map[string]*histogram),
	}
	for _, u := range upper {
		v.bounds = append(v.bounds, int64(math.Round(u*scale)))
	}
	return v
}

// histogram is one child of a histVec.
type histogram struct {
	vec     *histVec
	bounds  []int64
	labels  []string
	created time.Time
	// sum, with sumHigh its carries, is the sum of the observations;
	// sumFrom's instead when set (histVec.sumOf's child).
	sum, sumHigh atomic.Uint64
	sumFrom      *histogram
	counts       []atomic.Uint64 // by bucket; the last is +Inf's
}

// WithLabelValues returns the child of the label values lvs, made the first
// time; it panics, as prometheus' does, on a wrong number of values or one
// that is not UTF-8.
func (v *histVec) WithLabelValues(lvs ...string) *histogram {
	if len(lvs) != v.nLabel {
		panic(fmt.Errorf("inconsistent label cardinality: expected %d label values but got %d in %q", v.nLabel, len(lvs), lvs))
	}
	for _, s := range lvs {
		if !utf8.ValidString(s) {
			panic(fmt.Errorf("label value %q is not valid UTF-8", s))
		}
	}
	key := strings.Join(lvs, "\xff")
	v.mu.Lock()
	defer v.mu.Unlock()
	h := v.children[key]
	if h == nil {
		h = &histogram{
			vec: v, bounds: v.bounds, labels: append([]string(nil), lvs...),
			created: time.Now(), counts: make([]atomic.Uint64, len(v.bounds)+1),
		}
		if v.sumOf != nil {
			h.sumFrom = v.sumOf.WithLabelValues(lvs...)
		}
		v.children[key] = h
	}
	return h
}

// observe counts n, which must not be negative: in the first bucket whose
// upper bound is at least n, as prometheus' Observe places float64(n)/scale,
// and in the sum.
func (h *histogram) observe(n int64) {
	h.place(n)
	if s := h.sum.Add(uint64(n)); s < uint64(n) {
		h.sumHigh.Add(1)
	}
}

// place counts n in its bucket only: the observation of a histogram whose
// sum is another's (histVec.sumOf), that other observing n too.
func (h *histogram) place(n int64) {
	i := 0
	for i < len(h.bounds) && n > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
}

// metric returns h's state as a constant histogram.
func (h *histogram) metric() prometheus.Metric {
	v := h.vec
	buckets := make(map[float64]uint64, len(v.upper))
	var count uint64
	for i := range h.counts {
		count += h.counts[i].Load()
		if i < len(v.upper) {
			buckets[v.upper[i]] = count
		}
	}
	s := h
	if h.sumFrom != nil {
		s = h.sumFrom
	}
	sum := (float64(s.sumHigh.Load())*(1<<64) + float64(s.sum.Load())) / v.scale
	m, err := prometheus.NewConstHistogramWithCreatedTimestamp(v.desc, count, sum, buckets, h.created, h.labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(v.desc, err)
	}
	return m
}

// Desc and Write make a child a prometheus.Metric, as a HistogramVec's are.
func (h *histogram) Desc() *prometheus.Desc    { return h.vec.desc }
func (h *histogram) Write(m *dto.Metric) error { return h.metric().Write(m) }

// Describe and Collect make the family a prometheus.Collector.
func (v *histVec) Describe(ch chan<- *prometheus.Desc) { ch <- v.desc }
func (v *histVec) Collect(ch chan<- prometheus.Metric) {
	for _, h := range v.all() {
		ch <- h.metric()
	}
}

// all returns the family's children.
func (v *histVec) all() []*histogram {
	v.mu.Lock()
	defer v.mu.Unlock()
	hs := make([]*histogram, 0, len(v.children))
	for _, h := range v.children {
		hs = append(hs, h)
	}
	return hs
}

// count returns the number of h's observations.
func (h *histogram) count() uint64 {
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
	}
	return n
}

// countVec is a counter family that counts the observations of a histVec:
// the requests counter, incremented where the duration is observed, with
// the same labels, is the duration histogram's count, exposed as a
// CounterVec's child would be (its created timestamp the histogram's).
type countVec struct {
	desc *prometheus.Desc
	of   *histVec
}

// counted is the counter of one histogram.
type counted struct {
	vec *countVec
	h   *histogram
}

// WithLabelValues returns the counter of the histogram of lvs (made, as
// histVec.WithLabelValues makes it, the first time).
func (c *countVec) WithLabelValues(lvs ...string) *counted {
	return &counted{c, c.of.WithLabelValues(lvs...)}
}

func (c *counted) metric() prometheus.Metric {
	m, err := prometheus.NewConstMetricWithCreatedTimestamp(c.vec.desc, prometheus.CounterValue, float64(c.h.count()), c.h.created, c.h.labels...)
	if err != nil {
		return prometheus.NewInvalidMetric(c.vec.desc, err)
	}
	return m
}

// Desc, Write, Describe and Collect make a counter a prometheus.Metric and
// a prometheus.Collector, as a CounterVec's child is.
func (c *counted) Desc() *prometheus.Desc               { return c.vec.desc }
func (c *counted) Write(m *dto.Metric) error            { return c.metric().Write(m) }
func (c *counted) Describe(ch chan<- *prometheus.Desc)  { ch <- c.vec.desc }
func (c *counted) Collect(ch chan<- prometheus.Metric)  { ch <- c.metric() }
func (c *countVec) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }
func (c *countVec) Collect(ch chan<- prometheus.Metric) {
	for _, h := range c.of.all() {
		ch <- (&counted{c, h}).metric()
	}
}

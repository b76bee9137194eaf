package router

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// ewmaDecay is ingress-nginx's DECAY_TIME: the time constant of the decay
// of an endpoint's response-time average.
const ewmaDecay = 10 * time.Second

// ewma is the peak EWMA of an upstream's response time, ingress-nginx's
// balancer_ewma and balancer_ewma_last_touched_at entries for the address.
type ewma struct {
	mu    sync.Mutex
	value float64 // seconds
	at    int64   // Unix nanoseconds of the last update; 0: never
}

// decayed is ingress-nginx's decay_ewma: value decayed from at to now,
// then moved toward rtt (seconds) by the weight the decay left.
func decayed(value float64, at int64, rtt float64, now int64) float64 {
	td := max(float64(now-at)/float64(time.Second), 0)
	w := math.Exp(-td / ewmaDecay.Seconds())
	return value*w + rtt*(1-w)
}

// score is the average decayed to now, without a new sample.
func (e *ewma) score(now int64) float64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return decayed(e.value, e.at, 0, now)
}

// observe folds a response time into the average.
func (e *ewma) observe(rtt time.Duration, now int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.value = decayed(e.value, e.at, rtt.Seconds(), now)
	e.at = now
}

// get returns the stored average and whether there is one.
func (e *ewma) get() (float64, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.value, e.at != 0
}

func (e *ewma) set(v float64, now int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.value, e.at = v, now
}

// nextEWMA is ingress-nginx's ewma balancer: of the upstreams not tried
// yet (all when every one was), two distinct ones at random, and the one
// with the lower decayed average; a tie goes to the first drawn.
func (p *Pool) nextEWMA(tried []*Upstream) (*Upstream, bool) {
	ups := p.upstreams
	switch len(ups) {
	case 0:
		return nil, false
	case 1:
		return ups[0], true
	}
	var buf [16]*Upstream
	cand := buf[:0]
	for _, u := range ups {
		if !slices.Contains(tried, u) {
			cand = append(cand, u)
		}
	}
	switch len(cand) {
	case 0:
		cand = ups
	case 1:
		return cand[0], true
	}
	i := rand.IntN(len(cand))
	j := rand.IntN(len(cand) - 1)
	if j >= i {
		j++
	}
	a, b := cand[i], cand[j]
	now := time.Now().UnixNano()
	if b.ewma.score(now) < a.ewma.score(now) {
		return b, true
	}
	return a, true
}

// seedEWMA is ingress-nginx's slow start: the upstreams fresh, new to a
// Pool that replaces one, start at the average of the stored averages of
// the Pool's other upstreams, if any has one, so that they are not flooded
// for having no history.
func seedEWMA(ups []*Upstream, fresh map[*Upstream]bool) {
	sum, n := 0.0, 0
	for _, u := range ups {
		if fresh[u] {
			continue
		}
		if v, ok := u.ewma.get(); ok {
			sum += v
			n++
		}
	}
	if n == 0 {
		return
	}
	now := time.Now().UnixNano()
	for u := range fresh {
		u.ewma.set(sum/float64(n), now)
	}
}

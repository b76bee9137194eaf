package connlimit

import (
	"slices"
	"sync/atomic"
)

// The request-rate part of a Table: nginx's limit_req states, a leaky
// bucket per key (a limit-rps or limit-rpm zone and a client address).
// Buckets of two cache lines: a lock word and five states of three words,
// the key (0: free), the time of the last request counted (Unix
// milliseconds) and the excess in thousandths of a request (low 32 bits)
// with the zone's rate in thousandths of a request per second (high 32
// bits, for expiry).
const (
	// RateBuckets is the request-rate buckets of a Table: 32768, 4 MiB,
	// 163840 states.
	RateBuckets     = 1 << 15
	rateBucketWords = 16
	rateStateWords  = 3
	ratesInBucket   = (rateBucketWords - 1) / rateStateWords
	// rateExpire is nginx's: a state idle this long whose excess has
	// leaked away may be reused for another key.
	rateExpire = 60000
	maxMilli   = 1<<32 - 1
)

// RateZone is one limit_req zone a request is checked against.
type RateZone struct {
	// Key is Table.Key of the zone and the client address.
	Key uint64
	// Rate is the zone's rate in thousandths of a request per second
	// (nginx's: 1000 × r/s, 1000 × r/m / 60). At least 1.
	Rate uint64
	// Burst is the requests past the rate served at once (burst=, with
	// nodelay).
	Burst uint64
}

// Admit counts one request at now (Unix milliseconds) in every zone (at
// most four), as nginx's limit_req with nodelay: the request is let in
// when each zone's excess, leaked at its rate since the key's last
// request, plus one request, stays within its burst; then every zone
// counts it, else none does. A key seen for the first time is let in with
// an excess of zero. ok is false when a zone refuses, or when a key's
// bucket has no free state (ErrTableFull is then err: it fails closed, as
// nginx when its zone cannot allocate a node).
func (t *Table) Admit(now int64, zones []RateZone) (ok bool, err error) {
	if len(zones) > 4 {
		panic("connlimit: Admit of more than four zones")
	}
	var buckets, sorted [4]uint64
	var states [4]uint64 // word index of each zone's state
	var fresh [4]bool
	for i, z := range zones {
		buckets[i] = t.rateBucket(z.Key)
	}
	// The buckets are locked in one order in every process.
	order := sorted[:copy(sorted[:], buckets[:len(zones)])]
	slices.Sort(order)
	order = slices.Compact(order)
	for _, b := range order {
		t.lockWord(&t.words[b])
	}
	defer func() {
		for _, b := range order {
			atomic.StoreUint64(&t.words[b], 0)
		}
	}()
	for i, z := range zones {
		s, isNew := t.rateState(buckets[i], z.Key, now, states[:i])
		if s == 0 {
			return false, ErrTableFull
		}
		states[i], fresh[i] = s, isNew
	}
	var excess [4]uint64
	for i, z := range zones {
		if fresh[i] {
			// A new node counts no excess: nginx creates the last zone's
			// so, and the others with a last request at time 0, which the
			// accounting leaks to 0. A state a refusal leaves unwritten is
			// the same as such a node.
			continue
		}
		s := states[i]
		e := max(leak(t.words[s+1:s+3], z.Rate, now)+1000, 0)
		if uint64(e) > min(z.Burst*1000, maxMilli) {
			return false, nil
		}
		excess[i] = uint64(e)
	}
	for i, z := range zones {
		s := states[i]
		if fresh[i] {
			atomic.StoreUint64(&t.words[s], z.Key|1)
			atomic.StoreUint64(&t.words[s+1], uint64(now))
		} else if now != int64(atomic.LoadUint64(&t.words[s+1])) {
			atomic.StoreUint64(&t.words[s+1], uint64(now))
		}
		atomic.StoreUint64(&t.words[s+2], min(z.Rate, maxMilli)<<32|min(excess[i], maxMilli))
	}
	return true, nil
}

// leak returns the excess of the state whose last and excess words are w,
// leaked at rate until now (nginx's, with its clamp of a clock that went
// back); negative when more leaked than there was.
func leak(w []uint64, rate uint64, now int64) int64 {
	ms := now - int64(atomic.LoadUint64(&w[0]))
	switch {
	case ms < -60000:
		ms = 1
	case ms < 0:
		ms = 0
	}
	return int64(atomic.LoadUint64(&w[1])&maxMilli) - int64(rate)*ms/1000
}

// rateBucket returns the word index of key's request-rate bucket.
func (t *Table) rateBucket(key uint64) uint64 {
	b := (key * 0x9e3779b97f4a7c15 >> 32) % RateBuckets
	return headerWords + t.buckets*bucketWords + b*rateBucketWords
}

// rateState returns the word index of key's state in bucket b (locked),
// and whether it is new: a free state, or one idle for rateExpire whose
// excess leaked away, not among taken (the states of the request's other
// zones). 0 means the bucket has no room.
func (t *Table) rateState(b, key uint64, now int64, taken []uint64) (uint64, bool) {
	var reuse uint64
	for i := range uint64(ratesInBucket) {
		s := b + 1 + i*rateStateWords
		k := atomic.LoadUint64(&t.words[s])
		if k == key|1 {
			return s, false
		}
		if reuse != 0 || slices.Contains(taken, s) {
			continue
		}
		if k == 0 {
			reuse = s
			continue
		}
		w := t.words[s+1 : s+3]
		idle := now - int64(atomic.LoadUint64(&w[0]))
		if (idle >= rateExpire || idle <= -rateExpire) && leak(w, atomic.LoadUint64(&w[1])>>32, now) <= 0 {
			reuse = s
		}
	}
	return reuse, reuse != 0
}
